#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus: one file per family of operations, a
few regression inputs and seeded random ones.  Deterministic: the same
files on every run.  The encoding mirrors test/fuzz/interp.c (op_table,
decode_size, decode_xflags, decode_dflags); keep them in step.

usage: gen_corpus.py DIR
"""
import os
import random
import sys

KIND = {"malloc": 0, "calloc": 4, "realloc": 5, "free": 7, "sdallocx": 11,
        "aligned": 13, "usable": 15, "mallocx": 16, "rallocx": 19,
        "xallocx": 21, "mallctl": 23, "thread": 25, "arena": 27,
        "tcache": 28, "fail": 30, "check": 31}
KiB = 1 << 10
MiB = 1 << 20


def decode_size(a, b):
    hi = a >> 3
    r = a & 7
    if r <= 1:
        return b
    if r == 2:
        return hi << 8 | b
    if r == 3:
        return 8 * KiB + (hi << 9) + b
    if r == 4:
        return (hi << 14) + (b << 6)
    if r == 5:
        return (hi << 16) + (b << 8)
    if r == 6:
        return MiB + (hi << 17) + (b << 9)
    return None


# Every size the ranges can express, and the pair of bytes for it.
SIZES = {}
for a in range(256):
    for b in range(256):
        s = decode_size(a, b)
        if s is not None and s not in SIZES:
            SIZES[s] = (a, b)
SORTED = sorted(SIZES)


def size(n):
    """The two bytes for the expressible size nearest n."""
    lo, hi = 0, len(SORTED)
    while lo < hi:
        mid = (lo + hi) // 2
        if SORTED[mid] < n:
            lo = mid + 1
        else:
            hi = mid
    best = min(SORTED[max(lo - 1, 0):lo + 1], key=lambda s: abs(s - n))
    return list(SIZES[best])


def boundary(k, delta):
    """Size class k (bins, then lextents up to 6 MiB) plus delta (-1..1)."""
    return [((delta + 1) << 3) | 7, k]


def xflags(lg=0, zero=False, tcache=None, arena=None):
    """mallocx/rallocx flags: tcache None, "none" or an explicit cache's
    position; arena None, ("manual", i) or ("auto", i)."""
    for f in range(256):
        for g in range(256):
            if lg == 0 and f & 1:
                continue
            if lg and not f & 1:
                continue
            if lg:
                got = 17 + g % 6 if (f & 0xc0) == 0xc0 else g % 17
                if got != lg:
                    continue
            if bool(f & 2) != zero:
                continue
            sel = (f >> 2) & 3
            if tcache is None and sel in (1, 2):
                continue
            if tcache == "none" and sel != 1:
                continue
            if isinstance(tcache, int) and (sel != 2 or (g >> 4) != tcache):
                continue
            asel = (f >> 4) & 3
            if arena is None and asel in (2, 3):
                continue
            if arena is not None:
                kind, i = arena
                if asel != (2 if kind == "manual" else 3) or (g >> 3) != i:
                    continue
            return [f, g]
    raise ValueError("no flags for %r" % ((lg, zero, tcache, arena),))


class Input:
    def __init__(self):
        self.b = []

    def op(self, kind, *args):
        self.b.append(KIND[kind])
        for a in args:
            self.b.extend(a if isinstance(a, list) else [a])
        return self

    def malloc(self, slot, n):
        return self.op("malloc", slot, size(n))

    def calloc(self, slot, count, n):
        return self.op("calloc", slot, (count - 1) % 8, size(n * count))

    def realloc(self, slot, n, array=0):
        return self.op("realloc", slot, array, size(n))

    def free(self, slot, variant=0, pick=0, flags=0):
        return self.op("free", slot, variant, pick & 255, pick >> 8, flags)

    def sdallocx(self, slot, pick=0, flags=0):
        return self.op("sdallocx", slot, pick & 255, pick >> 8, flags)

    def aligned(self, slot, variant, lg, n):
        return self.op("aligned", slot, variant, lg, size(n))

    def mallocx(self, slot, n, **kw):
        return self.op("mallocx", slot, size(n), xflags(**kw))

    def rallocx(self, slot, n, **kw):
        return self.op("rallocx", slot, size(n), xflags(**kw))

    def xallocx(self, slot, n, extra=0, zero=False, lg=None):
        f = (1 if zero else 0) | ((2 | (lg << 2)) if lg is not None else 0)
        return self.op("xallocx", slot, size(n), extra, f)

    def mallctl(self, what, arg=0):
        return self.op("mallctl", what, arg)

    def thread(self, k):
        return self.op("thread", k)

    def arena(self, what, arg=0):
        return self.op("arena", what, arg)

    def tcache(self, what, arg=0):
        return self.op("tcache", what, arg)

    def fail(self, what, arg=0, slot=0):
        return self.op("fail", what, arg, slot)

    def check(self):
        return self.op("check")

    def bytes(self):
        return bytes(self.b)


# xallocx's extra byte: 0, 4 KiB steps (96..223) or 256 KiB steps (224..).
def extra_kib(k):
    return 96 + k // 4


def extra_256k(k):
    return 223 + k


def seeds():
    out = {}

    i = Input()
    for s, n in enumerate([0, 1, 8, 16, 17, 48, 100, 255, 1000, 4096,
                           8191, 14336, 14337, 16 * KiB, 20000, 32 * KiB,
                           100 * KiB, 512 * KiB, 1536 * KiB, 1792 * KiB,
                           2 * MiB, 3 * MiB, 5 * MiB]):
        i.malloc(s, n)
    for s in range(23):
        i.free(s, s % 4, pick=s * 37)
    out["sizes"] = i

    i = Input()
    for k in range(0, 60, 3):
        i.op("malloc", k % 64, boundary(k, (k % 3) - 1))
    for k in range(0, 60, 3):
        i.sdallocx(k % 64, pick=k * 11)
    out["class-boundaries"] = i

    i = Input()
    for s, n in enumerate([24, 600, 5000, 40 * KiB, 300 * KiB, 3 * MiB]):
        i.malloc(s, n).free(s).calloc(s, 1 + s % 4, n // (1 + s % 4))
    i.check()
    out["calloc-reuse"] = i

    i = Input()
    for n in [1, 40, 400, 4000, 15000, 70 * KiB, 900 * KiB, 1800 * KiB,
              2 * MiB + 1, 4 * MiB, 2500 * KiB, 700 * KiB, 20 * KiB, 300,
              10]:
        i.realloc(1, n)
    i.realloc(2, 1000, array=3).realloc(2, 50000, array=5)
    i.realloc(1, 0).realloc(2, 0)
    out["realloc-chain"] = i

    i = Input()
    s = 0
    for variant in range(6):
        for lg, n in [(3, 10), (6, 100), (12, 5000), (14, 20 * KiB),
                      (16, 70 * KiB), (16, 3 * MiB)]:
            i.aligned(s % 64, variant, lg, n)
            s += 1
    for k in range(s):
        i.sdallocx(k, pick=k)
    out["aligned-family"] = i

    i = Input()
    i.mallocx(0, 100, zero=True).mallocx(1, 5000, lg=8)
    i.mallocx(2, 30 * KiB, lg=16, zero=True).mallocx(3, 1700 * KiB, lg=21)
    i.mallocx(4, 3 * MiB, lg=22, zero=True).mallocx(5, 64, tcache="none")
    i.mallocx(6, 200 * KiB, lg=13, tcache="none")
    i.mallocx(7, 17, arena=("auto", 0))
    for s in range(8):
        i.free(s, 1, flags=s)
    out["mallocx-flags"] = i

    i = Input()
    i.malloc(0, 100).rallocx(0, 5000, zero=True).rallocx(0, 40 * KiB, lg=15)
    i.rallocx(0, 2 * MiB, zero=True).rallocx(0, 3 * MiB, zero=True)
    i.rallocx(0, 1 * MiB).rallocx(0, 64, lg=6).rallocx(0, 1, zero=True)
    i.arena(0).mallocx(1, 1000, arena=("manual", 0))
    i.rallocx(1, 9000, arena=("manual", 0), zero=True)
    i.rallocx(1, 90 * KiB, arena=("auto", 1))
    out["rallocx"] = i

    i = Input()
    i.malloc(0, 20 * KiB).xallocx(0, 24 * KiB).xallocx(0, 16 * KiB)
    i.xallocx(0, 20 * KiB, extra_kib(60), zero=True)
    i.xallocx(0, 100).xallocx(0, 1 * MiB, extra_kib(400), zero=True)
    i.malloc(1, 3 * MiB).xallocx(1, 4 * MiB, zero=True)
    i.xallocx(1, 2 * MiB + 1, extra_256k(8)).xallocx(1, 2 * MiB)
    i.xallocx(1, 2 * MiB, lg=16).malloc(2, 100).xallocx(2, 112)
    i.xallocx(2, 400).xallocx(2, 20, lg=12)
    i.sdallocx(0, pick=3).sdallocx(1, pick=5).sdallocx(2, pick=7)
    out["xallocx"] = i

    i = Input()
    for s, n in enumerate([0, 10, 100, 3000, 14000, 20 * KiB, 1 * MiB,
                           3 * MiB]):
        i.malloc(s, n).aligned(s + 8, s % 3, 6 + s, n)
    for s in range(16):
        i.free(s, 2 + s % 2, pick=s * 101, flags=s * 3)
    out["sized-free"] = i

    i = Input()
    for s in range(12):
        i.malloc(s, 16 << s)
    for t in (1, 2, 3):
        i.thread(t)
        for s in range(t - 1, 12, 3):
            i.realloc(s, (16 << s) + 100)
    i.thread(2)
    for s in range(0, 12, 2):
        i.free(s, 0)
    i.thread(3).check()
    for s in range(1, 12, 2):
        i.free(s, 1)
    i.thread(0)
    out["threads"] = i

    i = Input()
    i.thread(1)
    for s in range(40):
        i.malloc(s, 48)
    i.thread(2)
    for s in range(40):
        i.free(s)
    i.thread(1)
    for s in range(40):
        i.malloc(s, 48)
    i.thread(3).mallctl(0).thread(2).mallctl(0)
    out["remote-frees"] = i

    i = Input()
    i.arena(0).arena(1)
    i.mallocx(0, 100, arena=("manual", 0)).mallocx(1, 30 * KiB,
                                                    arena=("manual", 0))
    i.mallocx(2, 3 * MiB, arena=("manual", 1)).malloc(3, 100)
    i.thread(1).free(0).thread(0)
    i.mallctl(3, 0).arena(2, 0).mallctl(3, 0).check()
    i.mallocx(4, 200, arena=("manual", 0)).arena(3, 0)
    i.arena(0).mallocx(5, 5000, arena=("manual", 1)).arena(3, 1)
    out["arena-lifecycle"] = i

    i = Input()
    i.arena(0).mallctl(7, 1).malloc(0, 100).malloc(1, 40 * KiB)
    i.tcache(0).mallocx(2, 64, tcache=0)
    i.arena(3, 0).mallctl(7, 0).arena(3, 0).arena(0)
    out["arena-bound"] = i

    i = Input()
    i.tcache(0).tcache(0).mallocx(0, 32, tcache=0).mallocx(1, 20 * KiB,
                                                           tcache=1)
    i.free(0, 1, flags=(2 << 1) | (1 << 3)).free(1, 1, flags=2 << 1)
    i.tcache(1, 0).mallocx(2, 64, tcache=1).tcache(2, 0).tcache(3)
    i.malloc(3, 100).free(3).tcache(3).malloc(4, 30 * KiB).tcache(5, 7)
    i.thread(1).tcache(4).malloc(5, 10).thread(0)
    out["tcaches"] = i

    i = Input()
    i.malloc(0, 100).malloc(1, 3 * MiB).arena(0)
    for what, arg in [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3), (2, 1),
                      (2, 2), (2, 3), (3, 1), (3, 2), (4, 0), (5, 0),
                      (6, 0), (6, 0x15), (6, 0x0a), (7, 2), (7, 1), (8, 0),
                      (8, 1), (9, 5), (9, 200), (3, 0)]:
        i.mallctl(what, arg)
    out["mallctl"] = i

    i = Input()
    i.malloc(0, 1000)
    for what in range(12):
        for arg in (0, 0x84, 0x4b, 0xf5):
            i.fail(what, arg, 0)
    out["fail"] = i

    i = Input()
    for s in range(64):
        i.malloc(s, (s * 997) % 30000)
    i.check()
    for s in range(0, 64, 2):
        i.free(s)
    i.check()
    out["full-table"] = i

    i = Input()
    for k in range(6):
        i.malloc(0, 3 * MiB + k * 256 * KiB).free(0)
        i.calloc(1, 1, 3 * MiB).malloc(2, 2 * MiB + 1).free(1).free(2)
    out["huge-reuse"] = i

    # Regression: a Large-class block that alignment sends to the Huge
    # allocator counted in stats.allocated but not in stats.active.
    i = Input().mallocx(0, 1700 * KiB, lg=21).mallctl(3, 2)
    out["regress-stats-active-aligned-large"] = i

    for k in range(12):
        r = random.Random(k)
        out["random-%02d" % k] = bytes(r.randrange(256)
                                       for _ in range(r.randrange(100, 700)))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, i in sorted(seeds().items()):
        data = i if isinstance(i, bytes) else i.bytes()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
