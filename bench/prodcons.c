/*
 * prodcons: a producer thread mallocs messages of random size 16-512 B,
 * fills them and passes the pointers through a bounded lock-free ring
 * (one producer, one consumer); the consumer reads and frees them.  Every
 * free is remote: the allocator must move memory back to the producer.
 * Waiting spins briefly, then yields (the machine may have few cores).
 * Usage: prodcons [SCALE].
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench.h"

#define RING 1024 /* power of two */

typedef struct {
	uint32_t size;
	uint32_t seq;
	uint64_t payload[]; /* stamp(seq, k) */
} msg_t;

static msg_t *ring[RING];
static _Alignas(64) _Atomic unsigned long head; /* next slot to fill */
static _Alignas(64) _Atomic unsigned long tail; /* next slot to drain */
static long nmsgs;
static uint64_t consumer_sum;

static void
backoff(unsigned *spins) {
	if (++*spins < 64)
		__builtin_ia32_pause();
	else {
		sched_yield();
		*spins = 0;
	}
}

static void *
producer(void *arg) {
	(void)arg;
	rng_t r = rng_seed(7);
	for (long i = 0; i < nmsgs; i++) {
		size_t size = rng_log_size(&r, 16, 512);
		msg_t *m = xmalloc(size);
		m->size = (uint32_t)size;
		m->seq = (uint32_t)i;
		size_t nw = (size - sizeof(msg_t)) / 8;
		for (size_t k = 0; k < nw; k++)
			m->payload[k] = stamp((uint64_t)i, k);
		unsigned long h = atomic_load_explicit(&head, memory_order_relaxed);
		unsigned spins = 0;
		while (h - atomic_load_explicit(&tail, memory_order_acquire) >= RING)
			backoff(&spins);
		ring[h % RING] = m;
		atomic_store_explicit(&head, h + 1, memory_order_release);
	}
	return NULL;
}

static void *
consumer(void *arg) {
	(void)arg;
	uint64_t sum = 0;
	for (long i = 0; i < nmsgs; i++) {
		unsigned long t = atomic_load_explicit(&tail, memory_order_relaxed);
		unsigned spins = 0;
		while (atomic_load_explicit(&head, memory_order_acquire) == t)
			backoff(&spins);
		msg_t *m = ring[t % RING];
		atomic_store_explicit(&tail, t + 1, memory_order_release);
		uint64_t h = mix(m->size, m->seq);
		size_t nw = (m->size - sizeof(msg_t)) / 8;
		for (size_t k = 0; k < nw; k++)
			h = mix(h, m->payload[k]);
		sum = mix(sum, h);
		free(m);
	}
	consumer_sum = sum;
	return NULL;
}

int
main(int argc, char **argv) {
	nmsgs = (long)(bench_scale(argc, argv) * 4e6);
	pthread_t p, c;
	pthread_create(&c, NULL, consumer, NULL);
	pthread_create(&p, NULL, producer, NULL);
	pthread_join(p, NULL);
	pthread_join(c, NULL);
	print_checksum(consumer_sum);
	return 0;
}
