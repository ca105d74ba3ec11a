#!/usr/bin/env python3
"""bench/instr.py: instructions per malloc+free pair, under callgrind.

For every allocator (hmalloc, glibc, jemalloc, mimalloc, tcmalloc, by
LD_PRELOAD) counts the instructions valgrind's callgrind collects for

  pair SIZE N          N malloc+free pairs of one size (bench/pair.c), for
                       16, 64 and 256 B
  instr_random N       N pairs of random sizes 8 B - 1 KiB with a window of
                       64 live objects (bench/instr_random.c)
  instr_pool N         N pairs in a steady pool of 4096 live blocks of
                       random sizes 16 - 271 B (bench/instr_pool.c)
  instr_pool N usable  N calls of malloc_usable_size on that pool's blocks

at two counts N1 < N2; (I(N2) - I(N1)) / (N2 - N1) removes start-up and
exit.  For instr_random and instr_pool the loop's own instructions,
measured with their "none" mode (no malloc/free), are subtracted too; pair's loop (a store, a
load and an add, about 5 instructions) is left in, as the project's earlier
figures have it.  Instruction counts are exact and do not depend on the
machine's load, so one run of each is enough.

Writes --results/instr.md.  Usage: instr.py --bin DIR --lib LIBHMALLOC
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the allocator table and helpers)

N1, N2 = 200000, 1200000
SIZES = [16, 64, 256]


def collected(lib, argv):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if lib:
        env["LD_PRELOAD"] = lib
    p = subprocess.run(["valgrind", "--tool=callgrind",
                        "--callgrind-out-file=/dev/null"] + argv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True, env=env)
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    if p.returncode != 0 or not m:
        raise RuntimeError("%s under %s: %s" % (
            " ".join(argv), lib or "glibc", p.stderr.strip()[-400:]))
    return int(m.group(1))


def per_pair(lib, argv_of):
    return (collected(lib, argv_of(N2)) - collected(lib, argv_of(N1))) \
        / float(N2 - N1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--results", default=os.path.join(run.HERE, "results"))
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("instr.py: valgrind not installed (apt-get install valgrind)")
    pair = os.path.join(args.bin, "pair")
    rnd = os.path.join(args.bin, "instr_random")
    pool = os.path.join(args.bin, "instr_pool")
    allocs = [("hmalloc", os.path.abspath(args.lib))]
    versions = {}
    for name, path, pkg in run.PEERS:
        if path and not os.path.exists(path):
            print("instr.py: %s: %s missing, skipped" % (name, path),
                  file=sys.stderr)
            continue
        allocs.append((name, path))
        versions[name] = run.pkg_version(pkg)

    loop = per_pair("", lambda n: [rnd, str(n), "none"])
    pool_loop = per_pair("", lambda n: [pool, str(n), "none"])
    rows = []
    for name, lib in allocs:
        row = [name]
        for size in SIZES:
            row.append(per_pair(lib, lambda n: [pair, str(size), str(n)]))
        row.append(per_pair(lib, lambda n: [rnd, str(n)]) - loop)
        row.append(per_pair(lib, lambda n: [pool, str(n)]) - pool_loop)
        row.append(per_pair(lib, lambda n: [pool, str(n), "usable"])
                   - pool_loop)
        rows.append(row)
        print("%-9s " % name + " ".join("%8.1f" % x for x in row[1:]),
              flush=True)

    cols = ["%d B" % s for s in SIZES] + ["random 8 B-1 KiB",
                                          "pool 16-271 B",
                                          "malloc_usable_size"]
    L = ["# Instructions per malloc+free pair (callgrind)", "",
         "Written by `make bench-instr` (bench/instr.py) on %s; hmalloc git "
         "%s; peers: %s." % (
             datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
             run.git_rev(), ", ".join("%s %s" % kv for kv in
                                      versions.items())), "",
         "Instructions counted by valgrind's callgrind between runs of "
         "%d and %d pairs (start-up and exit cancel out). Fixed sizes: "
         "bench/pair.c, its loop (about 5 instructions) included. Random: "
         "bench/instr_random.c, sizes 8 B-1 KiB log-uniform, 64 live "
         "objects, its loop (%.1f instructions, measured without "
         "malloc/free) subtracted. Pool: bench/instr_pool.c, 4096 live "
         "blocks of 16-271 B (uniform), a random one freed and replaced "
         "each step, its loop (%.1f instructions) subtracted; "
         "malloc_usable_size: one call a step on that pool's blocks "
         "instead (the same loop subtracted). Lower is better; the last "
         "row is hmalloc's count over the lowest peer's."
         % (N1, N2, loop, pool_loop), "",
         "| allocator | " + " | ".join(cols) + " |",
         "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for row in rows:
        L.append("| %s | %s |" % (row[0], " | ".join("%.1f" % x
                                                      for x in row[1:])))
    peers = [r for r in rows if r[0] != "hmalloc"]
    if peers and rows[0][0] == "hmalloc":
        best = [min(r[i] for r in peers) for i in range(1, len(cols) + 1)]
        L.append("| *hmalloc / best peer* | %s |" % " | ".join(
            "%.2f" % (rows[0][i + 1] / best[i]) for i in range(len(cols))))
    L.append("")
    os.makedirs(args.results, exist_ok=True)
    out = os.path.join(args.results, "instr.md")
    with open(out, "w") as f:
        f.write("\n".join(L))
    print("instr.py: wrote %s" % out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
