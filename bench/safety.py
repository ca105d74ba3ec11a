#!/usr/bin/env python3
"""bench/safety.py: what hmalloc's safety features cost on the suite.

Runs every workload of bench/run.py under hmalloc only, in these variants:

  default      the library as built (misuse checks on free's fast path on)
  unchecked    a build with -DHM_UNCHECKED: the same library without those
               checks, which exists only for this measurement
  slab_random  default build, MALLOC_CONF=slab_random:true
  zero_free    default build, MALLOC_CONF=zero_free:true
  canary       default build, MALLOC_CONF=canary:true
  guard        default build, MALLOC_CONF=guard:true
  quarantine   default build, MALLOC_CONF=quarantine:1048576
  secure       default build, MALLOC_CONF=secure:true (the five above)
  junk         default build, MALLOC_CONF=junk:true (for reference)

A round runs every workload once in every variant due, in an order that
rotates from round to round and from workload to workload, so a noisy
moment of a shared machine does not land on one variant.  default and
unchecked run in --runs rounds (7), the options in --runs-options (3) of
them, spread out (rounds 1, 4 and 7), and an option is compared with the
default build's runs of the same rounds: the load of a shared machine
drifts over a run.  As in run.py, every run prints a checksum; a run whose
checksum differs from the one most runs of its workload agree on, or that
fails, is invalid, left out and listed.  Before the runs, each variant's
options are read back from hmalloc's own statistics report (opt.*), so a
misspelt option cannot pass for a cheap one.

The cost of the always-on checks is default / unchecked - 1: per workload
from the medians of wall time (and of user + system time), and as the
geometric mean over the workloads; beside it, callgrind's instructions per
malloc+free pair of both builds (bench/instr.py's per_pair: pair 16, 64,
256 B and instr_random), and the instructions of each whole workload at
--instr-scale (0.1), which do not depend on the machine's load (a workload
that takes no scale, sqlite3, is left out: too slow under callgrind).
Every option's cost is its median over the default build's, per workload
and as a geometric mean; the spread (min-max of the runs) is given so a
reader can judge the noise.  Peak RSS, kernel time and page faults
likewise.

Writes, in --results: safety.md (the tables) and safety.json (every run).

Usage: safety.py --bin DIR --lib LIBHMALLOC --lib-unchecked LIB
                 [--runs N] [--runs-options N] [--only a,b] [--scale X]
                 [--instr-scale X] [--no-instr] [--results DIR]
                 [--timeout S]
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (workloads, geomean, formats)
import variants as vr  # noqa: E402  (the rounds, callgrind, the tables)

# name -> (library: "default" or "unchecked", MALLOC_CONF or "",
#          the opt.* values the statistics report must show)
OFF = {"secure": "false", "slab_random": "false", "zero_free": "false",
       "canary": "false", "guard": "false", "quarantine": "0",
       "junk": '"false"'}
VARIANTS = [
    ("default", "default", "", {}),
    ("unchecked", "unchecked", "", {}),
    ("slab_random", "default", "slab_random:true", {"slab_random": "true"}),
    ("zero_free", "default", "zero_free:true", {"zero_free": "true"}),
    ("canary", "default", "canary:true", {"canary": "true"}),
    ("guard", "default", "guard:true", {"guard": "true"}),
    ("quarantine", "default", "quarantine:1048576",
     {"quarantine": "1048576"}),
    ("secure", "default", "secure:true",
     {"secure": "true", "slab_random": "true", "zero_free": "true",
      "canary": "true", "guard": "true", "quarantine": "1048576"}),
    ("junk", "default", "junk:true", {"junk": '"true"'}),
]
PAIR = ("default", "unchecked")

pct, fmt_t, fmt_range, ratio = vr.pct, vr.fmt_t, vr.fmt_range, vr.ratio


def markdown_lines(meta, res):
    names, med = res["names"], res["med"]
    instr_rows, suite_instr = res["pairs"], res["suite"]
    opts = [v for v, _, _, _ in VARIANTS if v not in PAIR]
    confs = {v: c for v, _, c, _ in VARIANTS}
    L = ["# hmalloc: what the safety features cost", "",
         "Written by `make bench-safety` (bench/safety.py) on %s." %
         meta["date"], "",
         vr.machine_line(meta),
         "- hmalloc %s, git %s; default build %s (sha256 %s), unchecked "
         "build (`-DHM_UNCHECKED`) %s (sha256 %s)" % (
             meta["hm_version"], meta["git"], meta["lib_path"],
             meta["lib_sha"], meta["unchecked_path"],
             meta["unchecked_sha"]),
         vr.rounds_line(meta, "default and unchecked", "each option"),
         "- each variant's options were read back from hmalloc's "
         "statistics report (`opt.*`) before the runs", ""]

    L += ["## Cost of the always-on checks", "",
          "The checks on free's fast path (the block starts a region; it "
          "does not carry the thread-cache tag, i.e. is not already "
          "cached): default build against the unchecked build. "
          "Cost = default / unchecked - 1, from the medians; *paired* is "
          "the median over rounds of the same ratio within one round; "
          "*CPU* is from user + system time; *instructions* is callgrind's "
          "count for the whole workload at scale %g (exact: the one figure "
          "here the machine's load does not move; but instructions, not "
          "time)." % meta["instr_scale"], "",
          "| workload | default (s) | spread | unchecked (s) | spread | "
          "cost, wall | paired | cost, CPU | cost, instructions |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    wall_r, pair_r, cpu_r, ins_r = [], [], [], []
    for w in names:
        d, u = med.get((w, "default")), med.get((w, "unchecked"))
        rw = ratio(med, w, "default", "wall", "unchecked")
        rc = ratio(med, w, "default", "cpu", "unchecked")
        rp = vr.paired_ratio(med, w, "default", "unchecked")
        ri = None
        if w in suite_instr:
            ri = suite_instr[w]["default"] / suite_instr[w]["unchecked"]
        for lst, x in ((wall_r, rw), (pair_r, rp), (cpu_r, rc),
                       (ins_r, ri)):
            if x:
                lst.append(x)
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            w, fmt_t(d and d["wall"]), fmt_range(*(d or {}).get(
                "wall_range", (None, None))),
            fmt_t(u and u["wall"]), fmt_range(*(u or {}).get(
                "wall_range", (None, None))), pct(rw), pct(rp), pct(rc),
            pct(ri)))
    g = (run.geomean(wall_r), run.geomean(pair_r), run.geomean(cpu_r),
         run.geomean(ins_r))
    L.append("| **geomean: cost of the always-on checks** | | | | | "
             "**%s** | %s | %s | **%s** |" % tuple(pct(x) for x in g))
    L.append("")
    if instr_rows:
        L += ["Instructions per malloc+free pair (callgrind, as "
              "`make bench-instr`: exact, independent of the load):", "",
              "| build | 16 B | 64 B | 256 B | random 8 B-1 KiB |",
              "| --- | ---: | ---: | ---: | ---: |"]
        for label, row in instr_rows:
            L.append("| %s | %s |" % (label, " | ".join(
                "%.1f" % x for x in row)))
        c, u = instr_rows[0][1], instr_rows[1][1]
        L.append("| checks | %s |" % " | ".join(
            "%+.1f (%s)" % (a - b, pct(a / b)) for a, b in zip(c, u)))
        L.append("")

    L += ["## Cost of each secure-mode option", "",
          "Median wall time of the default build, and each option's median "
          "over the default build's median in the rounds the option ran in "
          "(1.00: no cost; 2.00: twice the time).", "",
          "| workload | default (s) | " + " | ".join(opts) + " |",
          "| --- | ---: | " + " | ".join("---:" for _ in opts) + " |"]
    per = {v: [] for v in opts}
    for w in names:
        cells = []
        for v in opts:
            r = vr.option_ratio(med, w, v, "wall")
            if r:
                per[v].append(r)
            cells.append(run.fmt_r(r))
        d = med.get((w, "default"))
        L.append("| %s | %s | %s |" % (w, fmt_t(d and d["wall"]),
                                       " | ".join(cells)))
    L.append("| **geomean** | | %s |" % " | ".join(
        "**%s**" % run.fmt_r(run.geomean(per[v])) for v in opts))
    L.append("")
    L.append("Options: " + "; ".join("%s = `MALLOC_CONF=%s`" % (v, confs[v])
                                     for v in opts) +
             ". zero_free, canary and quarantine (so secure) send every "
             "free through the slow path, without the thread caches.")
    L.append("")

    return L + vr.appendix_lines(
        res, [v for v, _, _, _ in VARIANTS],
        "The quarantine holds up to 1 MiB of freed blocks.")


def run_study(args, libs, facts):
    return vr.study(
        args, "safety.py",
        [(v, libs[w], c, want, v in PAIR) for v, w, c, want in VARIANTS],
        OFF, {"pairs": [(k, libs[k], "") for k in PAIR],
              "suite": [(k, libs[k], "") for k in PAIR]},
        markdown_lines, dict(facts, variants={
            v: {"lib": w, "malloc_conf": c} for v, w, c, _ in VARIANTS}))


def main():
    return vr.script(__doc__, "safety.py",
                     [("unchecked", "libhmalloc.so built with "
                       "-DHM_UNCHECKED", True)], (7, 3), run_study)


if __name__ == "__main__":
    sys.exit(main())
