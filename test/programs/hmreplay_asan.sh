#!/usr/bin/env bash
# hmreplay built with AddressSanitizer replays the three-thread trace of
# test/trace/mktrace.py (cross-thread frees and resizes, addresses freed
# by one thread and allocated again by another) on glibc: a use after
# free or an overflow in the replay's ordering shows as ASan's report.
# So is a trace hmalloc records of a program whose four threads trade
# blocks through shared slots (every other free is of another thread's
# block).  (Leak checking is off: the traces leave blocks live at their
# end.)
. "$(dirname "$0")/progtest.bash"

pt_need python3 cc

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$pt_tmp" || pt_fail "cd $pt_tmp"
echo 'int main(void) { return 0; }' >probe.c
cc -fsanitize=address probe.c -o probe 2>/dev/null && ./probe ||
	pt_skip "a compiler with AddressSanitizer (libasan) is not installed"
cc -std=c11 -O1 -g -D_GNU_SOURCE -fsanitize=address -fno-omit-frame-pointer \
	-Wall -Wextra -o hmreplay-asan "$root"/tools/hmreplay/*.c -lpthread -ldl ||
	pt_fail "cannot build hmreplay with -fsanitize=address"
python3 "$root/test/trace/mktrace.py" mt mt.trace >mt.facts || pt_fail "mktrace mt"
python3 "$root/test/trace/mktrace.py" random r.trace 30000 4 5 >r.facts ||
	pt_fail "mktrace random"
cat >trade.c <<'EOF'
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
static _Atomic(void *) slots[256];
static void *run(void *arg) {
	uint32_t s = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
	for (int i = 0; i < 20000; i++) {
		s = s * 1103515245 + 12345;
		void *o = atomic_exchange(&slots[(s >> 8) % 256],
		    malloc(16 + (s >> 20) % 2000));
		if ((s & 7) == 5 && o != NULL)
			o = realloc(o, 32 + (s >> 22) % 4000);
		free(o);
	}
	return NULL;
}
int main(void) {
	pthread_t t[4];
	for (uintptr_t i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return 0;
}
EOF
cc -O1 -o trade trade.c -lpthread || pt_fail "cannot build trade.c"
if [ -n "$pt_lib" ]; then
	MALLOC_CONF=trace:true,trace_prefix:$pt_tmp/trade pt_run hmalloc trade ./trade
	mv "$pt_tmp"/trade.*.trace real.trace || pt_fail "trade: no trace"
	"$root/bin/hmreplay" --summary real.trace >real.summary ||
		pt_fail "--summary real.trace"
	cross=$(sed -n 's/^  cross-thread frees *\([0-9]*\) of.*/\1/p' real.summary)
	[ "${cross:-0}" -gt 1000 ] ||
		pt_fail "real.trace: ${cross:-no} cross-thread frees"
	sed -n 's/^  calls *\([0-9]*\)$/calls=\1/p' real.summary >real.facts
fi
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99
for t in mt r ${pt_lib:+real}; do
	pt_run glibc asan-$t ./hmreplay-asan --result $t.res $t.trace
	grep -q 'AddressSanitizer' "$pt_tmp/asan-$t.err" &&
		{ cat "$pt_tmp/asan-$t.err" >&2; pt_fail "ASan report replaying $t.trace"; }
	want=$(sed -n 's/^calls=//p' $t.facts)
	got=$(sed -n 's/^calls //p' $t.res)
	[ "$got" = "$want" ] || pt_fail "$t.trace: replayed $got of $want calls"
	pt_log "ok: $t.trace ($want calls) under ASan"
done
exit 0
