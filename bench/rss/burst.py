# bench/rss/burst.py: a long-running python3 that works in bursts, for
# bench/rss.py (run under each allocator by LD_PRELOAD like the C
# workloads).  3 cycles: build big lists, dicts, strings and bytearrays
# (most of the bytes in objects over 512 B, which CPython takes from
# malloc rather than from its own small-object arenas), read them back
# into a digest, drop all but a 1 % remnant, sleep.  The last sleep is the
# longer one.  Prints the same marks as the C workloads (bench/rss/rss.h)
# and checksum=<hex>.
# Usage: burst.py [SCALE [IDLE_S [FINAL_IDLE_S]]] (defaults 1, 3, 6).
import hashlib
import random
import sys
import time


def arg(i, default):
    return float(sys.argv[i]) if len(sys.argv) > i else default


scale, idle_s, final_s = arg(1, 1.0), arg(2, 3.0), arg(3, 6.0)
out = sys.stdout


def mark(name):
    out.write("@mark %s %.6f\n" % (name, time.monotonic()))
    out.flush()


def idle(seconds, live):
    out.write("@idle_begin %.6f %.3f %d\n" % (time.monotonic(), seconds,
                                              live))
    out.flush()
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        time.sleep(left)
    out.write("@idle_end %.6f\n" % time.monotonic())
    out.flush()


digest = hashlib.sha256()
rng = random.Random(20240601)
alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
# Building blocks for the strings: 64 random 64-character chunks.
chunks = ["".join(rng.choice(alphabet) for _ in range(64)) for _ in range(64)]
remnant = []
remnant_bytes = 0
cycles = 3

for cycle in range(cycles):
    mark("burst")
    n = int(scale * 12000)
    # Documents: strings of 0.5 - 32 KiB (log-uniform), about 90 MiB.
    docs = []
    for i in range(n):
        size = int(2 ** rng.uniform(9, 15))
        k = rng.randrange(64)
        s = (chunks[k] * (size // 64 + 1))[:size] + str(i)
        docs.append(s)
    # An index: dict of 150,000 keys to lists of small ints and a string.
    index = {}
    for i in range(int(scale * 150000)):
        index["key%d-%d" % (cycle, i)] = [i, i * 7, chunks[i % 64][: i % 48]]
    # Buffers grown by appends (realloc), 32 - 256 KiB each.
    bufs = []
    for i in range(int(scale * 300)):
        b = bytearray()
        target = rng.randrange(32 << 10, 256 << 10)
        piece = chunks[i % 64].encode()
        while len(b) < target:
            b += piece
        bufs.append(b)
    # A report: one big string joined from slices of the documents.
    report = "\n".join(d[:200] for d in docs)
    # Read it all back.
    for s in docs[:: max(1, n // 2000)]:
        digest.update(s[-64:].encode())
    digest.update(str(sum(len(s) for s in docs)).encode())
    digest.update(str(sum(v[1] for v in index.values())).encode())
    digest.update(str(sum(len(b) for b in bufs)).encode())
    digest.update(hashlib.sha256(report.encode()).digest())
    # Drop all but a 1 % remnant.
    keep = docs[::100]
    remnant.extend(keep)
    remnant_bytes += sum(len(s) for s in keep)
    del docs, index, bufs, report, keep
    idle(final_s if cycle == cycles - 1 else idle_s, remnant_bytes)

for s in remnant:
    digest.update(s[:16].encode())
out.write("checksum=%s\n" % digest.hexdigest()[:16])
