#!/usr/bin/env python3
"""bench/san.py: what sampled guarded allocations cost (opt.san_guard).

Every workload of bench/run.py runs under hmalloc in three variants:

  default  the library as built: guarding on, one guarded block per
           2^24 bytes allocated on average (lg_san_guard_sample:24)
  off      MALLOC_CONF=san_guard:false
  san16    MALLOC_CONF=lg_san_guard_sample:16: 256 times as many

in --runs rounds (5) each, in an order that rotates (bench/variants.py).
The cost of guarding is a variant's median over off's - 1, per workload and
as the geometric mean over the workloads: of wall time, of the same ratio
within a round (paired), of user + system time, and of callgrind's
instructions for the whole workload at --instr-scale (0.1), the one figure
the machine's load does not move (sqlite3, which takes no scale, is left
out).  Peak RSS likewise.

Usage: san.py --bin DIR --lib LIBHMALLOC [--runs N] [--only a,b]
              [--scale X] [--instr-scale X] [--no-instr] [--results DIR]
              [--timeout S]
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (workloads, geomean)
import variants as vr  # noqa: E402  (the rounds, callgrind, the tables)

OFF = {"san_guard": "true", "lg_san_guard_sample": "24"}
VARIANTS = [
    ("default", "", {}),
    ("off", "san_guard:false", {"san_guard": "false"}),
    ("san16", "lg_san_guard_sample:16", {"lg_san_guard_sample": "16"}),
]

pct, fmt_t = vr.pct, vr.fmt_t


def cost_lines(meta, names, med, suite):
    L = ["| workload | off (s) | default (s) | wall | paired | CPU | "
         "instr. | peak RSS | san16 (s) | wall | paired | instr. |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
         "---: | ---: | ---: |"]
    cols = {v: [[], [], [], [], []] for v in ("default", "san16")}
    for w in names:
        cells = [fmt_t(med.get((w, "off"), {}).get("wall"))]
        for v in ("default", "san16"):
            rw = vr.ratio(med, w, v, "wall", "off")
            rp = vr.paired_ratio(med, w, v, "off")
            rc = vr.ratio(med, w, v, "cpu", "off")
            rr = vr.ratio(med, w, v, "rss_kb", "off")
            ri = None
            if w in suite and suite[w].get("off"):
                ri = suite[w][v] / suite[w]["off"]
            for lst, x in zip(cols[v], (rw, rp, rc, ri, rr)):
                if x:
                    lst.append(x)
            cells.append(fmt_t(med.get((w, v), {}).get("wall")))
            if v == "default":
                cells += [pct(x) for x in (rw, rp, rc, ri, rr)]
            else:
                cells += [pct(x) for x in (rw, rp, ri)]
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    g = {v: [run.geomean(x) for x in cols[v]] for v in cols}
    L.append("| **geomean** | | | %s | | %s |" % (
        " | ".join("**%s**" % pct(x) for x in g["default"]),
        " | ".join("**%s**" % pct(x) for x in
                   (g["san16"][0], g["san16"][1], g["san16"][3]))))
    L.append("")
    return L, g


def markdown_lines(meta, res):
    names, med, suite = res["names"], res["med"], res["suite"]
    L = ["# hmalloc: what sampled guarded allocations cost", "",
         "Written by `make bench-san` (bench/san.py) on %s." % meta["date"],
         "", vr.machine_line(meta),
         "- hmalloc %s, git %s; library %s (sha256 %s)" % (
             meta["hm_version"], meta["git"], meta["lib_path"],
             meta["lib_sha"]),
         vr.rounds_line(meta, "every variant", "none"),
         "- variants: " + "; ".join(
             "%s = `MALLOC_CONF=%s`" % (v, c) if c else
             "%s = no MALLOC_CONF (the default: on, 2^24)" % v
             for v, c, _ in VARIANTS) +
         "; each one's options were read back from hmalloc's statistics "
         "report (`opt.*`) before the runs", ""]
    cl, g = cost_lines(meta, names, med, suite)
    L += ["## Summary", "",
          "Cost of the default (guarding on, 2^24) over `san_guard:false`, "
          "geometric mean over the workloads: wall %s, paired %s, CPU %s, "
          "instructions %s, peak RSS %s; of `lg_san_guard_sample:16`: wall "
          "%s, paired %s, instructions %s." % tuple(
              pct(x) for x in g["default"] + [g["san16"][0], g["san16"][1],
                                              g["san16"][3]]), "",
          "## Per workload", "",
          "Cost = the variant's median over off's - 1; *paired*: the "
          "median over rounds of the same ratio within one round; *CPU*: "
          "user + system time; *instr.*: callgrind's count for the whole "
          "workload at scale %g." % meta["instr_scale"], ""]
    L += cl
    return L + vr.appendix_lines(res, [v for v, _, _ in VARIANTS],
                                 "A guarded block holds whole pages.")


def run_study(args, libs, facts):
    builds = [(v, libs["default"], c) for v, c, _ in VARIANTS]
    return vr.study(
        args, "san.py",
        [(v, libs["default"], c, want, True) for v, c, want in VARIANTS],
        OFF, {"pairs": [], "suite": builds}, markdown_lines,
        dict(facts, variants={v: c for v, c, _ in VARIANTS}))


def main():
    return vr.script(__doc__, "san.py", [], (5, 5), run_study)


if __name__ == "__main__":
    sys.exit(main())
