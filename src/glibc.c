/*
 * glibc.c: glibc's own extensions, with hmalloc's figures: malloc_trim,
 * mallinfo and mallinfo2, malloc_stats, malloc_info and mallopt.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hmalloc.h>

#include "alloc.h"
#include "arena.h"
#include "init.h"
#include "log.h"
#include "stats.h"

HM_EXPORT int
HM_PUBLIC(malloc_trim)(size_t pad) {
	(void)pad; /* nothing is kept at the top of a heap */
	vg_awake();
	if (!malloc_init())
		return 0;
	return hm_alloc_purge_all() > 0;
}

/* glibc's introspection, with hmalloc's figures. */

static void
stats_now(stats_t *st) {
	vg_awake();
	if (!malloc_init()) {
		memset(st, 0, sizeof(*st));
		return;
	}
	hm_stats_read(st);
}

HM_EXPORT struct mallinfo2
HM_PUBLIC(mallinfo2)(void) {
	stats_t st;
	stats_now(&st);
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof(mi));
	size_t huge = st.huge;
	mi.arena = st.mapped - huge;       /* non-mmapped space: chunks */
	mi.hblks = 0;
	mi.hblkhd = huge;                  /* space in huge mappings */
	mi.uordblks = st.allocated;        /* bytes in use */
	mi.fordblks = st.mapped > st.allocated ? st.mapped - st.allocated : 0;
	mi.keepcost = 0;
	return mi;
}

HM_EXPORT struct mallinfo
HM_PUBLIC(mallinfo)(void) {
	struct mallinfo2 m2 = HM_PUBLIC(mallinfo2)();
	struct mallinfo mi;
	memset(&mi, 0, sizeof(mi));
	/* The old interface has int fields: values saturate. */
#define HM_MI_CLAMP(x) ((int)((x) > (size_t)__INT_MAX__ ? (size_t)__INT_MAX__ : (x)))
	mi.arena = HM_MI_CLAMP(m2.arena);
	mi.hblkhd = HM_MI_CLAMP(m2.hblkhd);
	mi.uordblks = HM_MI_CLAMP(m2.uordblks);
	mi.fordblks = HM_MI_CLAMP(m2.fordblks);
#undef HM_MI_CLAMP
	return mi;
}

HM_EXPORT void
HM_PUBLIC(malloc_stats)(void) {
	stats_t st;
	stats_now(&st);
	char buf[512];
	hm_snprintf(buf, sizeof(buf),
	    "Arenas: %u\nsystem bytes     = %zu\nin use bytes     = %zu\n"
	    "Total (incl. mmap):\nsystem bytes     = %zu\n"
	    "in use bytes     = %zu\nmax mmap regions = 0\n"
	    "max mmap bytes   = 0\n", hm_narenas, st.mapped, st.allocated,
	    st.mapped, st.allocated);
	/* write(2) is a cancellation point; glibc's malloc_stats is not
	 * one, and a thread cancelled half-way would leave half a report. */
	int state;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
	hm_write(buf);
	pthread_setcancelstate(state, NULL);
}

HM_EXPORT int
HM_PUBLIC(malloc_info)(int options, FILE *stream) {
	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	stats_t st;
	stats_now(&st);
	size_t huge = st.huge;
	fprintf(stream, "<malloc version=\"1\">\n");
	fprintf(stream, "<heap nr=\"0\">\n<sizes>\n</sizes>\n"
	    "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</heap>\n",
	    st.mapped - st.allocated, st.mapped - huge, st.mapped - huge,
	    st.mapped - huge, st.mapped - huge);
	fprintf(stream, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
	    "<total type=\"rest\" count=\"0\" size=\"%zu\"/>\n"
	    "<total type=\"mmap\" count=\"0\" size=\"%zu\"/>\n"
	    "<system type=\"current\" size=\"%zu\"/>\n"
	    "<system type=\"max\" size=\"%zu\"/>\n"
	    "<aspace type=\"total\" size=\"%zu\"/>\n"
	    "<aspace type=\"mprotect\" size=\"%zu\"/>\n</malloc>\n",
	    st.mapped - st.allocated, huge, st.mapped, st.mapped, st.mapped,
	    st.mapped);
	return 0;
}
HM_EXPORT int
HM_PUBLIC(mallopt)(int param, int value) {
	/* glibc's tunables (arena count, trim and mmap thresholds, ...) have
	 * no meaning after hmalloc's start-up: accepted and ignored, as
	 * glibc accepts parameters it does not know. */
	(void)param;
	(void)value;
	return 1;
}

#ifndef HM_PREFIXED
/* glibc's internal names, as api.c's. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct mallinfo __libc_mallinfo(void) HM_ALIAS(mallinfo);
#pragma GCC diagnostic pop
int __libc_mallopt(int param, int value) HM_ALIAS(mallopt);
#endif
