/*
 * Pointers hmalloc never handed out, given to free, realloc, free_sized
 * and sdallocx: memory glibc mapped (its own data, a thread stack it
 * mmap'd), a page the program mmap'd (its start, inside it, and a
 * chunk-aligned address inside a larger mapping, which looks like where a
 * Huge block would start), the vDSO.  Each aborts naming the pointer;
 * invalid_free.c has the stack, static data and wild addresses.
 */
#include "corrupt.h"

#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>

static void
misuse_free_sized(void *p) {
	hm_free_sized(p, 64);
}

static void
misuse_sdallocx(void *p) {
	hm_sdallocx(p, 4096, 0);
}

/* Every entry point that takes a block, on one foreign pointer. */
static void
check_foreign(void *p) {
	expect_abort(misuse_free, p, p, "invalid free");
	expect_abort(misuse_free_sized, p, p, "invalid free");
	expect_abort(misuse_sdallocx, p, p, "invalid free");
	expect_abort(misuse_realloc, p, p, "realloc of invalid pointer");
}

TEST_BEGIN(test_glibc_data)
	/* stdout's FILE lives in libc's own data. */
	check_foreign(stdout);
	check_foreign((char *)stderr + 8);
TEST_END

static void *
stack_of_thread(void *arg) {
	pthread_attr_t attr;
	void *addr = NULL;
	size_t size = 0;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstack(&attr, &addr, &size);
		pthread_attr_destroy(&attr);
	}
	*(void **)arg = addr;
	return NULL;
}

TEST_BEGIN(test_glibc_thread_stack)
	/* glibc mmaps thread stacks itself and keeps them cached (mapped)
	 * after the join. */
	void *stack = NULL;
	pthread_t th;
	assert_d_eq(pthread_create(&th, NULL, stack_of_thread, &stack), 0,
	    "pthread_create");
	pthread_join(th, NULL);
	assert_ptr_not_null(stack, "pthread_attr_getstack");
	check_foreign(stack);
	check_foreign((char *)stack + 4096 + 48);
TEST_END

TEST_BEGIN(test_mmap_page)
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_ne(page, MAP_FAILED, "mmap");
	check_foreign(page);
	check_foreign(page + 16);
	munmap(page, 4096);
TEST_END

TEST_BEGIN(test_mmap_chunk_aligned)
	/* A chunk-aligned address in a mapping of the program's: what a Huge
	 * block's start looks like, but not one. */
	size_t chunk = 0, len = sizeof(chunk);
	assert_d_eq(hm_mallctl("arenas.chunksize", &chunk, &len, NULL, 0), 0,
	    "arenas.chunksize");
	size_t maplen = 3 * chunk;
	char *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_ptr_ne(m, MAP_FAILED, "mmap");
	char *aligned = (char *)(((uintptr_t)m + chunk - 1) & ~(chunk - 1));
	check_foreign(aligned);
	munmap(m, maplen);
TEST_END

TEST_BEGIN(test_vdso)
	void *vdso = (void *)getauxval(AT_SYSINFO_EHDR);
	if (vdso == NULL)
		test_skip("no vDSO");
	expect_abort(misuse_free, vdso, vdso, "invalid free");
	expect_abort(misuse_realloc, vdso, vdso, "realloc of invalid pointer");
TEST_END

int
main(void) {
	return test(test_glibc_data, test_glibc_thread_stack, test_mmap_page,
	    test_mmap_chunk_aligned, test_vdso);
}
