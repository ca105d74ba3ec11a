/*
 * espresso_like: the allocation mix of the espresso logic minimizer, one
 * thread.  A cube is a bit vector of 2 bits per binary variable (01, 10,
 * 11 for x', x, don't care); a cover is a growable array of cubes
 * (header, and data that grows by realloc to 1.5 times its capacity plus
 * one).  Each step takes one of a problem's long-lived covers and
 * complements it by the unate recursive paradigm: split on a variable,
 * build the cofactor lists (pointer arrays of the cubes that survive,
 * with a fresh cube recording the variables split on), recurse, and merge
 * the two halves through temporary cubes into a new cover; at a leaf the
 * few cubes left are complemented directly.  The result, thinned out,
 * replaces one of the long-lived covers.  So 97 % of the blocks are 8 -
 * 256 B, most of them cubes of a problem's one size, lists and cover
 * headers, freed within a few calls; the covers live for many steps and
 * some arrays grow by realloc to tens of KiB.  Four problems run in turn,
 * with cubes of 8, 12, 20 and 32 bytes.  Every block is written and read;
 * what a cube or a cover holds goes into the checksum when it is freed
 * (a list holds addresses, so only its length does).
 * Usage: espresso_like [SCALE].
 */
#include "bench.h"

#define NCOVERS 12    /* long-lived covers per problem */
#define MAX_DEPTH 11  /* a deeper node is a leaf whatever its size */
#define LEAF_CUBES 3  /* a leaf complements at most this many cubes */

typedef uint32_t word_t;

typedef struct {
	uint32_t count;
	uint32_t capacity;
	word_t *data;
} cover_t;

/* The problem in hand: espresso keeps the same in a global "cube". */
static uint32_t wsize;   /* words per cube */
static uint32_t nvars;   /* binary variables: 16 per word */
static word_t *fullset;  /* every variable don't care */
static word_t **literal; /* literal[2 * v + side]: var v set to one side */
static rng_t rng;
static uint64_t sum;     /* what the freed blocks held */

static inline unsigned
var_get(const word_t *c, uint32_t v) {
	return (c[v / 16] >> (2 * (v % 16))) & 3;
}

static inline void
var_set(word_t *c, uint32_t v, unsigned bits) {
	word_t m = (word_t)3 << (2 * (v % 16));
	c[v / 16] = (c[v / 16] & ~m) | ((word_t)bits << (2 * (v % 16)));
}

static word_t *
new_cube(void) {
	return xmalloc(wsize * sizeof(word_t));
}

static void
free_cube(word_t *c) {
	uint64_t h = c[0];
	for (uint32_t w = 1; w < wsize; w++)
		h = h * 0x100000001b3ULL ^ c[w];
	sum = mix(sum, h);
	free(c);
}

static cover_t *
cover_new(uint32_t capacity) {
	cover_t *a = xmalloc(sizeof(*a));
	a->count = 0;
	a->capacity = capacity > 0 ? capacity : 1;
	a->data = xmalloc((size_t)a->capacity * wsize * sizeof(word_t));
	return a;
}

static void
cover_add(cover_t *a, const word_t *c) {
	if (a->count == a->capacity) {
		a->capacity += a->capacity / 2 + 1;
		word_t *d = realloc(a->data,
		    (size_t)a->capacity * wsize * sizeof(word_t));
		if (d == NULL) {
			fprintf(stderr, "out of memory (realloc)\n");
			exit(2);
		}
		a->data = d;
	}
	memcpy(a->data + (size_t)a->count * wsize, c, wsize * sizeof(word_t));
	a->count++;
}

static inline word_t *
cover_cube(const cover_t *a, uint32_t i) {
	return a->data + (size_t)i * wsize;
}

static void
cover_free(cover_t *a) {
	uint64_t h = a->count;
	if (a->count > 0) {
		const word_t *first = a->data;
		const word_t *last = cover_cube(a, a->count - 1);
		for (uint32_t w = 0; w < wsize; w++)
			h = (h * 0x100000001b3ULL ^ first[w]) *
			    0x100000001b3ULL ^ last[w];
	}
	sum = mix(sum, h);
	free(a->data);
	free(a);
}

/* A cube list as espresso builds it: [0] the variables split on so far,
 * [1] unused here, then the cubes, then NULL. */
static word_t **
list_new(uint32_t n) {
	return xmalloc((n + 3) * sizeof(word_t *));
}

static void
list_free(word_t **list, uint32_t n) {
	sum = mix(sum, n);
	free_cube(list[0]);
	free(list);
}

static cover_t *
complement(word_t **list, uint32_t n, unsigned depth);

/* The complement of a few cubes: for each, the negation of up to two of
 * its literals on variables not split on yet, each a cube of its own. */
static cover_t *
leaf(word_t **list, uint32_t n) {
	const word_t *split = list[0];
	uint32_t used = n < LEAF_CUBES ? n : LEAF_CUBES;
	cover_t *r = cover_new(n == 0 ? 1 : 2 * used);
	if (n == 0) {
		cover_add(r, fullset);
		return r;
	}
	for (uint32_t i = 0; i < used; i++) {
		const word_t *c = list[2 + i];
		unsigned made = 0;
		uint32_t start = (uint32_t)rng_below(&rng, nvars);
		for (uint32_t k = 0; k < nvars && made < 2; k++) {
			uint32_t v = (start + k) % nvars;
			unsigned bits = var_get(c, v);
			if (var_get(split, v) == 3 || bits == 3)
				continue;
			word_t *t = new_cube();
			memcpy(t, fullset, wsize * sizeof(word_t));
			var_set(t, v, bits ^ 3);
			cover_add(r, t);
			free_cube(t);
			made++;
		}
	}
	return r;
}

static cover_t *
complement(word_t **list, uint32_t n, unsigned depth) {
	const word_t *split = list[0];
	uint32_t v = nvars, start = (uint32_t)rng_below(&rng, nvars);
	if (n > 2 && depth < MAX_DEPTH) {
		for (uint32_t k = 0; k < nvars; k++) {
			if (var_get(split, (start + k) % nvars) != 3) {
				v = (start + k) % nvars;
				break;
			}
		}
	}
	if (v == nvars)
		return leaf(list, n);
	cover_t *half[2];
	for (unsigned side = 0; side < 2; side++) {
		/* A cube survives the cofactor unless its literal on v is the
		 * other side's; the variable is marked as split on. */
		unsigned keep = side == 0 ? 1 : 2;
		word_t **sub = list_new(n);
		sub[0] = new_cube();
		memcpy(sub[0], split, wsize * sizeof(word_t));
		var_set(sub[0], v, 3);
		uint32_t m = 0;
		for (uint32_t i = 0; i < n; i++)
			if (var_get(list[2 + i], v) & keep)
				sub[2 + m++] = list[2 + i];
		sub[2 + m] = NULL;
		sub[1] = (word_t *)&sub[2 + m];
		half[side] = complement(sub, m, depth + 1);
		list_free(sub, m);
	}
	/* Merge: each half's cubes get v's literal back; a cube both halves
	 * share at the same place is kept once, with v don't care. */
	uint32_t n0 = half[0]->count, n1 = half[1]->count;
	cover_t *r = cover_new(n0 > n1 ? n0 : n1);
	for (uint32_t i = 0; i < n0 || i < n1; i++) {
		const word_t *a = i < n0 ? cover_cube(half[0], i) : NULL;
		const word_t *b = i < n1 ? cover_cube(half[1], i) : NULL;
		word_t *t = new_cube();
		if (a != NULL && b != NULL &&
		    memcmp(a, b, wsize * sizeof(word_t)) == 0) {
			memcpy(t, a, wsize * sizeof(word_t));
			cover_add(r, t);
		} else {
			for (unsigned side = 0; side < 2; side++) {
				const word_t *c = side == 0 ? a : b;
				if (c == NULL)
					continue;
				const word_t *lit = literal[2 * v + side];
				for (uint32_t w = 0; w < wsize; w++)
					t[w] = c[w] & lit[w];
				cover_add(r, t);
			}
		}
		free_cube(t);
	}
	cover_free(half[0]);
	cover_free(half[1]);
	return r;
}

/* A random cover: each literal x' or x four times in ten, don't care
 * twice in ten. */
static cover_t *
random_cover(uint32_t n) {
	cover_t *a = cover_new(n);
	word_t *t = new_cube();
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t v = 0; v < nvars; v++) {
			uint64_t x = rng_below(&rng, 10);
			var_set(t, v, x < 4 ? 1 : x < 8 ? 2 : 3);
		}
		cover_add(a, t);
	}
	free_cube(t);
	return a;
}

static void
problem(uint32_t words, long steps) {
	wsize = words;
	nvars = 16 * words;
	fullset = new_cube();
	memset(fullset, 0xff, wsize * sizeof(word_t));
	literal = xmalloc(2 * nvars * sizeof(*literal));
	for (uint32_t v = 0; v < nvars; v++) {
		for (unsigned side = 0; side < 2; side++) {
			word_t *c = new_cube();
			memcpy(c, fullset, wsize * sizeof(word_t));
			var_set(c, v, side + 1);
			literal[2 * v + side] = c;
		}
	}
	cover_t *f[NCOVERS];
	for (int i = 0; i < NCOVERS; i++)
		f[i] = random_cover((uint32_t)rng_range(&rng, 20, 120));
	for (long s = 0; s < steps; s++) {
		cover_t *a = f[rng_below(&rng, NCOVERS)];
		word_t **list = list_new(a->count);
		list[0] = new_cube();
		memset(list[0], 0, wsize * sizeof(word_t));
		for (uint32_t i = 0; i < a->count; i++)
			list[2 + i] = cover_cube(a, i);
		list[2 + a->count] = NULL;
		list[1] = (word_t *)&list[2 + a->count];
		cover_t *r = complement(list, a->count, 0);
		list_free(list, a->count);
		/* Keep an evenly spread subset, the size of a typical cover. */
		uint32_t want = (uint32_t)rng_range(&rng, 20, 120);
		cover_t *kept = cover_new(want);
		for (uint32_t i = 0; i < want && r->count > 0; i++)
			cover_add(kept, cover_cube(r,
			    (uint32_t)((uint64_t)i * r->count / want)));
		cover_free(r);
		int j = (int)rng_below(&rng, NCOVERS);
		cover_free(f[j]);
		f[j] = kept;
	}
	for (int i = 0; i < NCOVERS; i++)
		cover_free(f[i]);
	for (uint32_t v = 0; v < 2 * nvars; v++)
		free_cube(literal[v]);
	free(literal);
	free_cube(fullset);
}

int
main(int argc, char **argv) {
	long steps = (long)(bench_scale(argc, argv) * 72);
	static const uint32_t words[] = {2, 3, 5, 8};
	rng = rng_seed(0xe59e);
	for (int p = 0; p < 4; p++)
		problem(words[p], steps);
	print_checksum(sum);
	return 0;
}
