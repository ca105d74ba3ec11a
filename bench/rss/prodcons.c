/*
 * prodcons: objects allocated in one thread, freed in another, in waves.
 * Two producer/consumer pairs (4 threads).  A producer mallocs messages
 * (70 % 64 B - 1 KiB, 25 % 1 - 16 KiB, 5 % 16 - 64 KiB), fills them and
 * passes them through a bounded queue (mutex and condition variables, in
 * batches of 32) to its consumer, which checks each one and keeps it in a
 * window of 20,000 (a random one leaves, freed, for each that comes), so
 * about 130 MiB are live across the two consumers at the end of a wave.
 * At the end of a wave the consumers free their whole window (every free
 * is remote) and the process idles, all threads waiting on a barrier.
 * 3 waves; the last idle is the longer one, and the threads exit only
 * after it.
 * Usage: prodcons [SCALE [IDLE_S [FINAL_IDLE_S]]] (defaults 1, 3, 6).
 */
#include <pthread.h>

#include "rss.h"

#define PAIRS 2
#define WAVES 3
#define QCAP 1024
#define BATCH 32

typedef struct {
	uint32_t size;
	uint32_t seq;
	uint64_t wave;
	uint64_t payload[]; /* stamp(wave << 32 | seq, k), per page */
} msg_t;

typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	msg_t *q[QCAP];
	unsigned long head, tail; /* head: next to fill */
} queue_t;

typedef struct {
	int id;
	queue_t queue;
	pthread_t prod, cons;
	uint64_t h;
} pair_t;

static pair_t pairs[PAIRS];
static long nmsgs, window;
static pthread_barrier_t start_bar, done_bar;

static size_t
msg_size(rng_t *r) {
	uint64_t p = rng_below(r, 100);
	if (p < 70)
		return rng_log_size(r, 64, 1024);
	if (p < 95)
		return rng_log_size(r, 1024, 16 << 10);
	return rng_log_size(r, 16 << 10, 64 << 10);
}

static void
push(queue_t *q, msg_t **m, int n) {
	pthread_mutex_lock(&q->mu);
	while (q->head - q->tail > QCAP - (unsigned long)n)
		pthread_cond_wait(&q->not_full, &q->mu);
	for (int i = 0; i < n; i++)
		q->q[(q->head + (unsigned long)i) % QCAP] = m[i];
	q->head += (unsigned long)n;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->mu);
}

static int
pop(queue_t *q, msg_t **m) {
	pthread_mutex_lock(&q->mu);
	while (q->head == q->tail)
		pthread_cond_wait(&q->not_empty, &q->mu);
	int n = 0;
	while (q->tail != q->head && n < BATCH)
		m[n++] = q->q[q->tail++ % QCAP];
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->mu);
	return n;
}

static void
fill(msg_t *m, size_t size, uint64_t wave, uint32_t seq) {
	m->size = (uint32_t)size;
	m->seq = seq;
	m->wave = wave;
	unsigned char *c = (unsigned char *)m;
	uint64_t key = wave << 32 | seq;
	for (size_t off = sizeof(msg_t); off + 8 <= size; off += 4096) {
		uint64_t v = stamp(key, off);
		memcpy(c + off, &v, 8);
	}
	uint64_t v = stamp(key, size);
	memcpy(c + size - 8, &v, 8);
}

static uint64_t
read_msg(const msg_t *m) {
	const unsigned char *c = (const unsigned char *)m;
	uint64_t h = mix(m->size, m->seq), v;
	for (size_t off = sizeof(msg_t); off + 8 <= m->size; off += 4096) {
		memcpy(&v, c + off, 8);
		h = mix(h, v);
	}
	memcpy(&v, c + m->size - 8, 8);
	return mix(h, v);
}

static void *
producer(void *arg) {
	pair_t *p = arg;
	for (uint64_t w = 0; w < WAVES; w++) {
		pthread_barrier_wait(&start_bar);
		rng_t r = rng_seed(500 + 10 * w + (uint64_t)p->id);
		msg_t *batch[BATCH];
		int n = 0;
		for (long i = 0; i < nmsgs; i++) {
			size_t size = msg_size(&r);
			batch[n] = xmalloc(size);
			fill(batch[n], size, w, (uint32_t)i);
			if (++n == BATCH) {
				push(&p->queue, batch, n);
				n = 0;
			}
		}
		batch[n++] = NULL; /* end of the wave */
		push(&p->queue, batch, n);
		pthread_barrier_wait(&done_bar);
	}
	/* Exit only after the last idle: a thread's exit flushes its cache. */
	pthread_barrier_wait(&start_bar);
	return NULL;
}

static void *
consumer(void *arg) {
	pair_t *p = arg;
	msg_t **win = xmalloc((size_t)window * sizeof(msg_t *));
	uint64_t h = 0;
	for (uint64_t w = 0; w < WAVES; w++) {
		pthread_barrier_wait(&start_bar);
		rng_t r = rng_seed(700 + 10 * w + (uint64_t)p->id);
		long filled = 0;
		bool end = false;
		while (!end) {
			msg_t *got[BATCH];
			int n = pop(&p->queue, got);
			for (int i = 0; i < n; i++) {
				msg_t *m = got[i];
				if (m == NULL) {
					end = true;
					break;
				}
				h = mix(h, read_msg(m));
				if (filled < window) {
					win[filled++] = m;
					continue;
				}
				long slot = (long)rng_below(&r,
				    (uint64_t)window);
				h = mix(h, win[slot]->seq);
				free(win[slot]);
				win[slot] = m;
			}
		}
		for (long i = 0; i < filled; i++) {
			h = mix(h, read_msg(win[i]));
			free(win[i]);
			win[i] = NULL;
		}
		pthread_barrier_wait(&done_bar);
	}
	pthread_barrier_wait(&start_bar); /* after the last idle */
	free(win);
	p->h = h;
	return NULL;
}

int
main(int argc, char **argv) {
	double scale = bench_scale(argc, argv);
	double idle_s = arg_double(argc, argv, 2, 3);
	double final_s = arg_double(argc, argv, 3, 6);
	nmsgs = (long)(400000 * scale);
	window = (long)(20000 * scale) + 1;
	pthread_barrier_init(&start_bar, NULL, 2 * PAIRS + 1);
	pthread_barrier_init(&done_bar, NULL, 2 * PAIRS + 1);
	for (int i = 0; i < PAIRS; i++) {
		pair_t *p = &pairs[i];
		p->id = i;
		pthread_mutex_init(&p->queue.mu, NULL);
		pthread_cond_init(&p->queue.not_empty, NULL);
		pthread_cond_init(&p->queue.not_full, NULL);
		pthread_create(&p->cons, NULL, consumer, p);
		pthread_create(&p->prod, NULL, producer, p);
	}
	for (int w = 0; w < WAVES; w++) {
		mark("wave");
		pthread_barrier_wait(&start_bar);
		pthread_barrier_wait(&done_bar);
		idle(w == WAVES - 1 ? final_s : idle_s, 0);
	}
	pthread_barrier_wait(&start_bar); /* the threads may exit now */
	uint64_t sum = 0;
	for (int i = 0; i < PAIRS; i++) {
		pthread_join(pairs[i].prod, NULL);
		pthread_join(pairs[i].cons, NULL);
		sum += fin(pairs[i].h);
	}
	out_checksum(sum);
	return 0;
}
