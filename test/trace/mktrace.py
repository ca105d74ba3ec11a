#!/usr/bin/env python3
"""mktrace: synthetic hmalloc traces (docs/trace.md, format version 1).

Writes a trace for one of the scenarios below and prints facts about it
as key=value lines, which the tests of hmreplay check its output against:

  mktrace.py basic OUT       one thread, every opcode, a failed malloc,
                             free(NULL); exact counts and live bytes
  mktrace.py mt OUT          three threads: cross-thread frees and resizes,
                             an address freed by one thread and allocated
                             again by another, chunks interleaved, a shared
                             chunk with THREAD records
  mktrace.py tolerate OUT    a free of an unknown address, an allocation at
                             a live address, a realloc of an unknown block
  mktrace.py random OUT [CALLS [THREADS [SEED]]]
                             a random workload (producers, consumers,
                             growing buffers)
  mktrace.py unknownop OUT   opcode 16 in a chunk with a good checksum
  mktrace.py badflag OUT     MALLOC with flag 0x40
  mktrace.py pastchunk OUT   a record cut by its chunk's end
  mktrace.py badmagic OUT    the basic trace with a wrong magic
  mktrace.py badversion OUT  the basic trace with version 2

The calls of a scenario happen in the order the script makes them; order
numbers come from one counter per 2 MiB region of addresses, as the
recorder takes them (an allocation's after it has its block, a free's
before, a realloc's one of each); each call advances the coarse clock by
1 ms, so that the order of calls is also the clock's.
"""

import random
import struct
import sys

MUL = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1

MALLOC, CALLOC, MEMALIGN, ALIGNED_ALLOC, POSIX_MEMALIGN, VALLOC, PVALLOC, \
    REALLOC, FREE, FREE_SIZED, MALLOCX, RALLOCX, XALLOCX, DALLOCX, \
    SDALLOCX = range(1, 16)
TIME, THREAD = 24, 25
NULL = 0x80
NAMES = {1: "malloc", 2: "calloc", 3: "memalign", 4: "aligned_alloc",
         5: "posix_memalign", 6: "valloc", 7: "pvalloc", 8: "realloc",
         9: "free", 10: "free_sized", 11: "mallocx", 12: "rallocx",
         13: "xallocx", 14: "dallocx", 15: "sdallocx"}


def varint(v):
    v &= MASK
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def svarint(v):
    v &= MASK
    signed = v - (1 << 64) if v >> 63 else v
    return varint(((signed << 1) ^ (signed >> 63)) & MASK)


def checksum(data):
    h = len(data)
    padded = data + bytes(-len(data) % 8)
    for i in range(0, len(padded), 8):
        (w,) = struct.unpack_from("<Q", padded, i)
        h = ((h ^ w) * MUL) & MASK
    return h


def chunk(records, thread, tid, seq_base, ms_base, sum_override=None):
    s = checksum(records) if sum_override is None else sum_override
    return struct.pack("<4sIIIQQQ", b"HMCK", len(records), thread, tid,
                       seq_base & MASK, ms_base, s) + records


def header(pid=4242, ppid=1, flags=0, magic=b"HMTRACE\0", version=1):
    return struct.pack("<8sIIIIQQII16s", magic, version, 64, pid, ppid,
                       1_700_000_000_000_000_000, 1000, 4096, flags,
                       bytes(16))


class Buffer:
    """A buffer of records: a thread's own, or the shared one."""

    def __init__(self, trace, shared=False):
        self.trace = trace
        self.shared = shared
        self.rec = bytearray()
        self.cur = None     # (thread, tid) of the records being written

    def begin(self, thread, op, seq):
        if not self.rec:
            self.thread, self.tid = thread.number, thread.tid
            self.seq = self.seq_base = seq
            self.ms = self.ms_base = self.trace.ms
            self.addr = 0
            self.cur = (thread.number, thread.tid)
        else:
            if self.trace.ms > self.ms:
                self.rec += bytes([TIME]) + varint(self.trace.ms - self.ms)
                self.ms = self.trace.ms
            if self.shared and self.cur != (thread.number, thread.tid):
                self.rec += bytes([THREAD]) + varint(thread.number) + \
                    varint(thread.tid)
                self.cur = (thread.number, thread.tid)
        self.rec.append(op)
        if seq is None:         # no address: no number of its own
            seq = self.seq
        self.rec += svarint(seq - self.seq)
        self.seq = seq

    def addr_field(self, a):
        self.rec += svarint(a - self.addr)
        self.addr = a

    def flush(self):
        if self.rec:
            self.trace.chunks.append(chunk(bytes(self.rec), self.thread,
                                           self.tid, self.seq_base,
                                           self.ms_base))
            self.rec = bytearray()


class Thread:
    def __init__(self, trace, number):
        self.trace = trace
        self.number = number
        self.tid = 1000 + number
        self.own = Buffer(trace)
        self.shared = False     # writing to the shared buffer

    def buf(self):
        return self.trace.shared_buf if self.shared else self.own

    def call(self, op, fields, null=False):
        """fields: (kind, value) in the record's order; kinds 'V', 'A',
        'Q' (value: the result address), '|'."""
        t = self.trace
        t.tick()
        t.counts[op] = t.counts.get(op, 0) + 1
        first_addr = None
        for k, v in fields:
            if k == '|' and null:
                break
            if k == 'A':
                first_addr = v
                break
        seq = t.number(first_addr) if first_addr is not None else None
        b = self.buf()
        b.begin(self, op | (NULL if null else 0), seq)
        for k, v in fields:
            if k == '|':
                if null:
                    break
                continue
            if k == 'V':
                b.rec += varint(v)
            elif k == 'A':
                b.addr_field(v)
            elif k == 'Q':
                b.rec += svarint(t.number(v) - seq)
        if len(b.rec) > t.chunk_limit:
            b.flush()

    # The calls.  Allocations return their address for convenience.
    def alloc(self, op, size, addr, arg=None):
        f = ([] if arg is None else [('V', arg)]) + [('V', size), ('|', 0),
                                                      ('A', addr)]
        self.call(op, f, null=addr is None)
        if addr is not None:
            real = arg * size if op == CALLOC else size
            self.trace.live_add(addr, real, self.number)
        return addr

    def malloc(self, size, addr):
        return self.alloc(MALLOC, size, addr)

    def realloc(self, old, size, new, op=REALLOC, flags=0):
        f = ([('V', flags)] if op == RALLOCX else []) + \
            [('A', old), ('V', size), ('|', 0), ('Q', new), ('A', new)]
        self.trace.resizes(old, self.number)
        self.call(op, f, null=new is None)
        if new is not None:
            self.trace.live_move(old, new, size, self.number)
        return new

    def free(self, addr, op=FREE, extra=()):
        if addr is None:
            self.trace.tick()
            self.trace.counts[FREE] = self.trace.counts.get(FREE, 0) + 1
            b = self.buf()
            b.begin(self, FREE | NULL, None)
            return
        head = [('V', extra[0])] if op in (DALLOCX, SDALLOCX) else []
        tail = []
        if op == FREE_SIZED:
            tail = [('V', extra[0]), ('V', extra[1])]
        elif op == SDALLOCX:
            tail = [('V', extra[1])]
        self.trace.frees(addr, self.number)
        self.call(op, head + [('A', addr)] + tail)
        self.trace.live_sub(addr)

    def flush(self):
        self.own.flush()


class Trace:
    def __init__(self, chunk_limit=60000):
        self.chunk_limit = chunk_limit
        self.counters = {}
        self.chunks = []
        self.threads = {}
        self.shared_buf = Buffer(self, shared=True)
        self.ms = 1000
        self.counts = {}
        self.live = {}          # addr -> (size, thread)
        self.live_bytes = self.peak = 0
        self.cross_frees = self.nfrees = 0
        self.unknown_frees = self.dropped = self.unknown_resizes = 0

    def thread(self, number):
        if number not in self.threads:
            self.threads[number] = Thread(self, number)
        return self.threads[number]

    def tick(self):
        self.ms += 1

    def number(self, addr):
        region = ((addr >> 21) * MUL & MASK) >> 54
        self.counters[region] = self.counters.get(region, 0) + 1
        return self.counters[region]

    # What a replay should find.
    def live_add(self, addr, size, thread):
        if addr in self.live:
            self.dropped += 1
            self.live_bytes -= self.live[addr][0]
        self.live[addr] = (size, thread)
        self.live_bytes += size
        self.peak = max(self.peak, self.live_bytes)

    def live_sub(self, addr):
        if addr in self.live:
            self.live_bytes -= self.live.pop(addr)[0]

    def frees(self, addr, thread):
        if addr not in self.live:
            self.unknown_frees += 1
            return
        self.nfrees += 1
        if self.live[addr][1] != thread:
            self.cross_frees += 1

    def resizes(self, old, thread):
        if old not in self.live:
            self.unknown_resizes += 1

    def live_move(self, old, new, size, thread):
        self.live_sub(old)
        self.live_add(new, size, thread)

    def ncalls(self):
        return sum(self.counts.values())

    def write(self, path, head=None):
        for t in self.threads.values():
            t.flush()
        self.shared_buf.flush()
        data = (head or header()) + b"".join(self.chunks)
        with open(path, "wb") as f:
            f.write(data)
        offs, o = [], 64
        for c in self.chunks:
            offs.append(o)
            o += len(c)
        return data, offs

    def facts(self, offs):
        out = {"calls": self.ncalls(), "threads": len(self.threads),
               "peak_live_bytes": self.peak,
               "final_live_bytes": self.live_bytes,
               "final_live_blocks": len(self.live),
               "cross_frees": self.cross_frees, "frees": self.nfrees,
               "unknown_frees": self.unknown_frees,
               "dropped": self.dropped,
               "unknown_resizes": self.unknown_resizes,
               "chunks": len(offs),
               "chunk_offsets": ",".join(map(str, offs))}
        for op, n in sorted(self.counts.items()):
            out["calls_" + NAMES[op]] = n
        return out


def basic(path):
    t = Trace()
    a = t.thread(1)
    b = 0x7f0000100000
    a1 = a.malloc(100, b + 0x10)
    a2 = a.alloc(CALLOC, 25, b + 0x100, arg=4)
    a3 = a.alloc(MEMALIGN, 200, b + 0x200, arg=64)
    a4 = a.alloc(ALIGNED_ALLOC, 256, b + 0x400, arg=128)
    a5 = a.alloc(POSIX_MEMALIGN, 48, b + 0x600, arg=32)
    a6 = a.alloc(VALLOC, 5000, b + 0x2000)
    a7 = a.alloc(PVALLOC, 100, b + 0x4000)
    a8 = a.realloc(a1, 300, b + 0x800)
    a9 = a.alloc(MALLOCX, 64, b + 0x900, arg=0x44)   # align 16, zero
    a9 = a.realloc(a9, 128, a9, op=RALLOCX, flags=0)
    # xallocx(a9, 256, 0, 0) -> usable 256: in place, 128 -> 256 bytes.
    t.resizes(a9, 1)
    a.call(XALLOCX, [('V', 0), ('A', a9), ('V', 256), ('V', 0),
                     ('V', 256)])
    t.live_move(a9, a9, 256, 1)
    a.free(a9, DALLOCX, (0,))
    a.free(a3, SDALLOCX, (0, 200))
    a.free(a4, FREE_SIZED, (256, 128))
    a.free(a2)
    a.free(a5, FREE_SIZED, (48, 0))
    t.ms += 3
    a.alloc(MALLOC, 1 << 62, None)
    a.free(None)
    a.free(a6)
    a.free(a7)
    assert a8
    return t


def mt(path):
    t = Trace(chunk_limit=400)
    t1, t2, t3 = t.thread(1), t.thread(2), t.thread(3)
    b = 0x7f0000200000
    x1 = t1.malloc(64, b + 0x40)
    x2 = t1.malloc(1000, b + 0x1000)
    t2.free(x1)                                 # cross
    t3.malloc(48, x1)                           # x1 again, in thread 3
    x3 = t1.realloc(x2, 2000, b + 0x3000)       # x2 released
    t2.alloc(CALLOC, 32, x2, arg=2)             # x2 again, in thread 2
    t3.free(x3)                                 # cross (t1's realloc)
    t1.free(x2)                                 # cross (t2's calloc)
    t3.free(x1)                                 # own
    # A producer and two consumers over a pool of addresses, each
    # address reused over and over by whichever thread comes next.
    pool = [0x7f0000400000 + 0x100 * i for i in range(40)]
    queue = []
    rng = random.Random(7)
    for i in range(1500):
        if queue and (len(queue) > 30 or rng.random() < 0.45):
            addr = queue.pop(rng.randrange(len(queue)))
            consumer = t2 if rng.random() < 0.6 else t3
            if rng.random() < 0.2:
                # Grown in place by the consumer, then freed by it.
                consumer.realloc(addr, 200, addr)
            consumer.free(addr)
            pool.append(addr)
        else:
            addr = pool.pop(rng.randrange(len(pool)))
            producer = t1 if rng.random() < 0.8 else t3
            producer.malloc(16 + rng.randrange(200), addr)
            queue.append(addr)
    # A thread past its exit: its last calls go to the shared buffer.
    t2.flush()
    t2.shared = True
    t3.shared = True
    for addr in queue[:4]:
        (t2 if addr % 0x200 else t3).free(addr)
    return t


def tolerate(path):
    t = Trace()
    a = t.thread(1)
    a.free(0x7f00dead0000)                      # unknown
    x = a.malloc(32, 0x7f0000500000)
    a.malloc(64, x)                             # x still live: dropped
    a.free(x)
    y = a.realloc(0x7f00beef0000, 100, 0x7f0000501000)   # unknown
    a.free(y)
    a.malloc(10, 0x7f0000502000)
    return t


def rand_workload(path, calls=20000, nthreads=4, seed=1):
    t = Trace()
    rng = random.Random(seed)
    ths = [t.thread(i + 1) for i in range(nthreads)]
    free_addrs = {}
    live = []
    nxt = [0x7f1000000000]

    def fresh(size):
        cls = 16
        while cls < size:
            cls *= 2
        lst = free_addrs.setdefault(cls, [])
        if lst and rng.random() < 0.9:
            return lst.pop(), cls
        a = nxt[0]
        nxt[0] += max(cls, 16)
        return a, cls

    n = 0
    while n < calls:
        th = rng.choice(ths)
        r = rng.random()
        if live and (r < 0.45 or len(live) > 3000):
            i = rng.randrange(len(live))
            addr, cls, owner = live[i]
            live[i] = live[-1]
            live.pop()
            th.free(addr)
            free_addrs.setdefault(cls, []).append(addr)
        elif live and r < 0.52:
            i = rng.randrange(len(live))
            addr, cls, owner = live[i]
            size = min(cls * 2 + rng.randrange(cls), 1 << 22)
            new, ncls = fresh(size)
            th.realloc(addr, size, new)
            free_addrs.setdefault(cls, []).append(addr)
            live[i] = (new, ncls, th.number)
        else:
            size = int(rng.paretovariate(1.2) * 24)
            size = min(size, 1 << 20)
            addr, cls = fresh(size)
            th.malloc(size, addr)
            live.append((addr, cls, th.number))
        n += 1
    return t


def corrupt_chunk(path, records, what):
    data = header() + chunk(records, 1, 1001, 0, 1000)
    with open(path, "wb") as f:
        f.write(data)
    return data


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    what, path = argv[1], argv[2]
    if what in ("basic", "mt", "tolerate", "random", "badmagic",
                "badversion"):
        if what == "random":
            args = [int(x) for x in argv[3:6]]
            t = rand_workload(path, *args)
        elif what in ("basic", "badmagic", "badversion"):
            t = basic(path)
        else:
            t = {"mt": mt, "tolerate": tolerate}[what](path)
        head = None
        if what == "badmagic":
            head = header(magic=b"HMTRACX\0")
        elif what == "badversion":
            head = header(version=2)
        data, offs = t.write(path, head)
        facts = t.facts(offs)
        facts["size"] = len(data)
        if what == "badmagic":
            facts["offset"] = 0
        elif what == "badversion":
            facts["offset"] = 8
    elif what == "unknownop":
        # A good MALLOC, then opcode 16.
        rec = bytes([MALLOC]) + svarint(1) + varint(8) + svarint(0x1000)
        bad = len(rec)
        rec += bytes([16]) + svarint(1) + varint(8)
        corrupt_chunk(path, rec, what)
        facts = {"offset": 64 + 40 + bad}
    elif what == "badflag":
        rec = bytes([MALLOC | 0x40]) + svarint(1) + varint(8) + \
            svarint(0x1000)
        corrupt_chunk(path, rec, what)
        facts = {"offset": 64 + 40}
    elif what == "pastchunk":
        # A good FREE of nothing known, then a MALLOC whose size varint
        # is cut after a byte with the continuation bit.
        rec = bytes([FREE]) + svarint(1) + svarint(0x1000)
        bad = len(rec)
        rec += bytes([MALLOC]) + svarint(1) + bytes([0x81])
        corrupt_chunk(path, rec, what)
        facts = {"offset": 64 + 40 + bad, "chunk_end": 64 + 40 + len(rec)}
    else:
        sys.exit("mktrace: unknown scenario " + what)
    for k, v in facts.items():
        print("%s=%s" % (k, v))


if __name__ == "__main__":
    main(sys.argv)
