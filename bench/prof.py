#!/usr/bin/env python3
"""bench/prof.py: what hmalloc's heap profiler costs, off and on.

Off, the profiler leaves one compare on malloc's fast path (the thread's
allocated bytes against its next sample threshold, src/prof.h).  Its cost
is counted with callgrind, as bench/instr.py counts it: instructions per
malloc+free pair (pair 16, 64, 256 B and instr_random) of a library built
from the commit that added the profiler (--lib-profiler) against one built
from the commit before it (--lib-before); `make bench-prof` builds both
from git (PROF_COMMIT and PROF_BASE).  The library as built (--lib) is
counted too: the tree may have moved on since.

On, every workload of bench/run.py runs under hmalloc in three variants:

  default   the library as built, profiling off
  prof      MALLOC_CONF=prof:true: one sample per 2^19 bytes on average
  prof16    MALLOC_CONF=prof:true,lg_prof_sample:16: 8 times as many

default and prof run in --runs rounds (7), prof16 in --runs-options (4) of
them, spread out; a round runs every workload once in every variant due,
in an order that rotates (bench/variants.py).  The cost of profiling is a
variant's median over the default's, per workload and as the geometric
mean over the workloads: of wall time, of the same ratio within a round
(paired: slow drifts of a shared machine's load cancel), of user + system
time, and of callgrind's instructions for the whole workload at
--instr-scale (0.1), the one figure the load does not move (sqlite3, which
takes no scale, is left out).  The instructions per pair under prof and
prof16 give the cost of a sample: the difference from the default times
the mean bytes between samples over the block's size.

Before the runs each variant's options are read back from hmalloc's own
statistics report (opt.*), so a misspelt option cannot pass for a cheap
one; as in run.py, a run whose checksum differs from the one most runs of
its workload agree on, or that fails, is invalid, left out and listed.

Writes, in --results: prof.md (the tables) and prof.json (every run).

Usage: prof.py --bin DIR --lib LIBHMALLOC --lib-before LIB
               --lib-profiler LIB [--before REV] [--profiler REV]
               [--runs N] [--runs-options N] [--only a,b] [--scale X]
               [--instr-scale X] [--no-instr] [--results DIR] [--timeout S]
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (workloads, geomean, formats)
import instr  # noqa: E402  (SIZES)
import variants as vr  # noqa: E402  (the rounds, callgrind, the tables)

# name, MALLOC_CONF, the opt.* values the statistics report must show.
OFF = {"prof": "false", "prof_active": "true", "lg_prof_sample": "19",
       "lg_prof_interval": "-1", "prof_gdump": "false",
       "prof_final": "false", "prof_leak": "false"}
VARIANTS = [
    ("default", "", {}),
    ("prof", "prof:true", {"prof": "true"}),
    ("prof16", "prof:true,lg_prof_sample:16",
     {"prof": "true", "lg_prof_sample": "16"}),
]
LG_SAMPLE = {"default": None, "prof": 19, "prof16": 16}
MAIN = ("default", "prof")

pct, fmt_t = vr.pct, vr.fmt_t


def cost_cells(med, suite, w, v):
    """Cost of variant v on workload w: wall (medians), paired, CPU,
    instructions; None where unknown."""
    if v in MAIN:
        rw = vr.ratio(med, w, v, "wall")
        rc = vr.ratio(med, w, v, "cpu")
    else:
        rw = vr.option_ratio(med, w, v, "wall")
        rc = vr.option_ratio(med, w, v, "cpu")
    rp = vr.paired_ratio(med, w, v, "default")
    ri = None
    if w in suite and suite[w].get("default"):
        ri = suite[w][v] / suite[w]["default"]
    return [rw, rp, rc, ri]


def time_lines(meta, names, med, suite):
    L = ["## Profiling on: time", "",
         "Median wall time of each variant, and its cost: the variant's "
         "median over the default's - 1 (for prof16, over the default's "
         "in the rounds prof16 ran in); *paired*: the median over rounds "
         "of the same ratio within one round; *CPU*: from user + system "
         "time; *instr.*: callgrind's count for the whole workload at "
         "scale %g, which the machine's load does not move, but which "
         "leaves out the kernel's work (page faults above all) and cache "
         "misses: it overstates the cost where the kernel's time "
         "dominates." % meta["instr_scale"], "",
         "| workload | default (s) | prof (s) | cost, wall | paired | CPU | "
         "instr. | prof16 (s) | cost, wall | paired | CPU | instr. |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
         "---: | ---: | ---: |"]
    cols = {v: [[], [], [], []] for v in MAIN[1:] + ("prof16",)}
    over = {"instructions": [], "CPU time": []}
    for w in names:
        cells = [fmt_t(med.get((w, "default"), {}).get("wall"))]
        for v in cols:
            cs = cost_cells(med, suite, w, v)
            for lst, x in zip(cols[v], cs):
                if x:
                    lst.append(x)
            cells.append(fmt_t(med.get((w, v), {}).get("wall")))
            cells += [pct(x) for x in cs]
            for k, x in (("CPU time", cs[2]), ("instructions", cs[3])):
                if v == "prof" and x and x > 1.02:
                    over[k].append(w)
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    g = {v: [run.geomean(x) for x in cols[v]] for v in cols}
    L.append("| **geomean** | | | %s | | %s |" % tuple(
        " | ".join("**%s**" % pct(x) for x in g[v]) for v in cols))
    L.append("")
    L.append("Over 2 % at the default rate: " + "; ".join(
        "in %s, %s" % (k, ", ".join(ws) if ws else "none")
        for k, ws in over.items()) + ".")
    L.append("")
    return L, g


def rev_label(text):
    """"REF = SHORT" as the make target gives it, or SHORT alone when the
    reference is the short commit already."""
    ref, _, short = text.partition(" = ")
    return short if ref == short else text


def pair_lines(meta, rows):
    """The instructions per malloc+free pair, before the profiler and
    with it off and on."""
    by = dict(rows)
    cols = ["%d B" % s for s in instr.SIZES] + ["random 8 B-1 KiB"]
    label = {"before": "before the profiler: %s" % rev_label(meta["before"]),
             "profiler": "the profiler's commit: %s" % rev_label(
                 meta["profiler"]),
             "default": "this build, profiling off",
             "prof": "this build, `prof:true`",
             "prof16": "this build, `prof:true,lg_prof_sample:16`"}
    L = ["| build | " + " | ".join(cols) + " |",
         "| --- | " + " | ".join("---:" for _ in cols) + " |"]
    for k, row in rows:
        L.append("| %s | %s |" % (label[k], " | ".join("%.1f" % x
                                                       for x in row)))

    def diff(a, b, name):
        if a in by and b in by:
            L.append("| *%s* | %s |" % (name, " | ".join(
                "%+.1f (%s)" % (x - y, pct(x / y))
                for x, y in zip(by[a], by[b]))))

    diff("profiler", "before", "the profiler, off: its commit - before")
    diff("default", "profiler", "since: this build - the profiler's commit")
    diff("prof", "default", "sampling at 2^19: prof - off")
    diff("prof16", "default", "sampling at 2^16: prof16 - off")
    L.append("")
    per = []
    for v in ("prof", "prof16"):
        if v in by and "default" in by:
            per.append("%s %s" % (v, ", ".join(
                "%d B: %.0f" % (s, (x - y) * 2 ** LG_SAMPLE[v] / s)
                for s, x, y in zip(instr.SIZES, by[v], by["default"]))))
    if per:
        L.append("Instructions per sample, derived (difference from the "
                 "default × 2^lg_prof_sample / size: the pair's sample "
                 "rate is size / 2^lg_prof_sample): " + "; ".join(per) +
                 ". The unwinder steps through every frame from "
                 "hmalloc's own up to the program's entry: a program "
                 "that allocates from deeper stacks pays more per sample.")
        L.append("")
    return L


def markdown_lines(meta, res):
    names, med, pairs, suite = (res["names"], res["med"], res["pairs"],
                                res["suite"])
    L = ["# hmalloc: what the heap profiler costs", "",
         "Written by `make bench-prof` (bench/prof.py) on %s." %
         meta["date"], "",
         vr.machine_line(meta),
         "- hmalloc %s, git %s; library %s (sha256 %s); the profiler's "
         "commit: %s, %s (sha256 %s); before it: %s, %s (sha256 %s)" % (
             meta["hm_version"], meta["git"], meta["lib_path"],
             meta["lib_sha"], rev_label(meta["profiler"]),
             meta["profiler_path"], meta["profiler_sha"],
             rev_label(meta["before"]), meta["before_path"],
             meta["before_sha"]),
         vr.rounds_line(meta, "default and prof", "prof16"),
         "- variants: " + "; ".join(
             "%s = `MALLOC_CONF=%s`" % (v, c) if c else
             "%s = no MALLOC_CONF" % v for v, c, _ in VARIANTS) +
         "; each one's options were read back from hmalloc's statistics "
         "report (`opt.*`) before the runs", ""]
    tl, g = time_lines(meta, names, med, suite)
    if pairs:
        L += ["## Instructions per malloc+free pair", "",
              "Callgrind, as `make bench-instr` (exact: independent of the "
              "machine's load). The first difference row is what the "
              "profiler costs when it is off: the compare of the thread's "
              "allocated bytes with its next sample threshold on malloc's "
              "fast path (and, in free, the test of a sampled block's "
              "record); the second, what other changes cost since.", ""]
        L += pair_lines(meta, pairs)
    L += ["## Summary", "",
          "Cost of `prof:true` (one sample per 512 KiB on average) over "
          "the default, geometric mean over the workloads: wall %s, paired "
          "%s, CPU %s, instructions %s; of `lg_prof_sample:16`: wall %s, "
          "paired %s, CPU %s, instructions %s." % tuple(
              pct(x) for x in g["prof"] + g["prof16"]), ""]
    L += tl
    return L + vr.appendix_lines(
        res, [v for v, _, _ in VARIANTS],
        "A sampled Small block is served as a block of the smallest Large "
        "class (SC_LARGE_MINCLASS, src/sc.h), whose pages stay dirty "
        "after its free until decay purges them.")


def run_study(args, libs, facts):
    builds = [(v, libs["default"], c) for v, c, _ in VARIANTS]
    return vr.study(
        args, "prof.py",
        [(v, libs["default"], c, want, v in MAIN)
         for v, c, want in VARIANTS], OFF,
        {"pairs": [(k, libs[k], "") for k in ("before", "profiler")] +
         builds, "suite": builds},
        markdown_lines, dict(facts, before=args.before,
                             profiler=args.profiler,
                             variants={v: c for v, c, _ in VARIANTS}))


def more_arguments(ap):
    ap.add_argument("--before", default="?",
                    help="what --lib-before was built from (a commit)")
    ap.add_argument("--profiler", default="?",
                    help="what --lib-profiler was built from (a commit)")


def main():
    return vr.script(
        __doc__, "prof.py",
        [("before", "libhmalloc.so built from the commit before the "
          "profiler", True),
         ("profiler", "libhmalloc.so built from the profiler's commit",
          False)], (7, 4), run_study, more_arguments)


if __name__ == "__main__":
    sys.exit(main())
