/*
 * xmalloc_test: the shape of Lever and Boreham's xmalloc-test.  Producer
 * threads only allocate and consumer threads only free: a producer fills
 * a batch with 4096 blocks, each of a size picked at random from 17
 * classes between 8 B and 2 KiB (8, 12, 16, 24, 32, 48, ... 1536, 2048),
 * writes their first 128 bytes, and puts the batch on a shared queue
 * (mutex and condition variables, at most 64 batches waiting); a consumer
 * takes batches off it, reads and frees every block and the batch itself.
 * So every free is remote, in bulk, and the allocator must move memory
 * back from the consumers to the producers.  The consumers add up their
 * batches' hashes, so the checksum does not depend on which consumer took
 * which batch.  NTHREADS (default 2) splits into NTHREADS/2 producers
 * (at least 1) and the rest consumers.  Usage: xmalloc_test [NTHREADS]
 * [SCALE].
 */
#include <pthread.h>

#include "bench.h"

#define PER_BATCH 4096
#define QUEUE_LIMIT 64
#define FILL 128

typedef struct batch {
	struct batch *next;
	uint32_t producer;
	uint32_t seq;
	void *obj[PER_BATCH];
	uint16_t size[PER_BATCH];
} batch_t;

static const uint16_t sizes[] = {8, 12, 16, 24, 32, 48, 64, 96, 128, 192,
	256, 384, 512, 768, 1024, 1536, 2048};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* First in, first out: a batch waits no longer than it must, which keeps
 * the number of blocks in flight bounded by QUEUE_LIMIT batches. */
static batch_t *queue_head, *queue_tail;
static int queued;
static int producers_left;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;

static long batches_per_producer;
static uint64_t sums[1024];

static void
enqueue(batch_t *b) {
	pthread_mutex_lock(&lock);
	while (queued >= QUEUE_LIMIT)
		pthread_cond_wait(&not_full, &lock);
	b->next = NULL;
	if (queue_tail != NULL)
		queue_tail->next = b;
	else
		queue_head = b;
	queue_tail = b;
	queued++;
	pthread_cond_signal(&not_empty);
	pthread_mutex_unlock(&lock);
}

/* NULL once the queue is empty and no producer is left. */
static batch_t *
dequeue(void) {
	pthread_mutex_lock(&lock);
	while (queue_head == NULL && producers_left > 0)
		pthread_cond_wait(&not_empty, &lock);
	batch_t *b = queue_head;
	if (b != NULL) {
		queue_head = b->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		queued--;
		pthread_cond_signal(&not_full);
	}
	pthread_mutex_unlock(&lock);
	return b;
}

static void *
producer(void *arg) {
	int id = (int)(intptr_t)arg;
	rng_t r = rng_seed(0x3a110c + (uint64_t)id);
	for (long n = 0; n < batches_per_producer; n++) {
		batch_t *b = xmalloc(sizeof(*b));
		b->producer = (uint32_t)id;
		b->seq = (uint32_t)n;
		for (int i = 0; i < PER_BATCH; i++) {
			size_t size = sizes[rng_below(&r, NSIZES)];
			unsigned char *p = xmalloc(size);
			memset(p, (int)(i & 0xff), size < FILL ? size : FILL);
			touch(p, size, stamp((uint64_t)id << 32 | (uint64_t)n,
			    (uint64_t)i));
			b->obj[i] = p;
			b->size[i] = (uint16_t)size;
		}
		enqueue(b);
	}
	pthread_mutex_lock(&lock);
	if (--producers_left == 0)
		pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *
consumer(void *arg) {
	int id = (int)(intptr_t)arg;
	uint64_t sum = 0;
	batch_t *b;
	while ((b = dequeue()) != NULL) {
		uint64_t h = mix(b->producer, b->seq);
		for (int i = 0; i < PER_BATCH; i++) {
			size_t size = b->size[i];
			const unsigned char *p = b->obj[i];
			h = mix(h, check(p, size));
			h = mix(h, p[(size < FILL ? size : FILL) / 2]);
			free(b->obj[i]);
		}
		free(b);
		sum += fin(h);
	}
	sums[id] = sum;
	return NULL;
}

static int nprod;

/* Threads [0, nprod) produce, the others consume. */
static void *
thread_main(void *arg) {
	int t = (int)(intptr_t)arg;
	if (t < nprod)
		return producer(arg);
	return consumer((void *)(intptr_t)(t - nprod));
}

int
main(int argc, char **argv) {
	int nthreads = bench_nthreads(argc, argv, 2, 2);
	double scale = bench_scale(argc - 1, argv + 1);
	nprod = nthreads / 2;
	int ncons = nthreads - nprod;
	batches_per_producer = (long)(scale * 280 / nprod);
	if (batches_per_producer < 1)
		batches_per_producer = 1;
	producers_left = nprod;
	bench_run_threads(nthreads, thread_main);
	uint64_t sum = 0;
	for (int c = 0; c < ncons; c++)
		sum += sums[c];
	print_checksum(mix(sum, (uint64_t)nprod * batches_per_producer));
	return 0;
}
