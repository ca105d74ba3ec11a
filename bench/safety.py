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

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (workloads, run_once, geomean, machine, git)
import instr  # noqa: E402  (per_pair: callgrind instructions per pair)

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

# Variables that would change hmalloc's settings under a variant.
CONF_VARS = ("MALLOC_CONF", "HMALLOC_CONF")


@contextlib.contextmanager
def malloc_conf(conf):
    """MALLOC_CONF set to conf (unset when empty) while the block runs:
    run.run_once and instr.collected hand their children this process's
    environment, and this process does not run on hmalloc, so setting it
    here is harmless."""
    saved = {k: os.environ.pop(k) for k in CONF_VARS if k in os.environ}
    try:
        if conf:
            os.environ["MALLOC_CONF"] = conf
        yield
    finally:
        for k in CONF_VARS:
            os.environ.pop(k, None)
        os.environ.update(saved)


def run_variant(runone, lib, conf, argv, timeout):
    with malloc_conf(conf):
        return run.run_once(runone, lib, argv, timeout)


def check_options(bindir, libs):
    """Reads every variant's opt.* back from hmalloc's statistics report;
    exits on a mismatch (or an option hmalloc rejects: abort_conf)."""
    prog = [os.path.join(bindir, "pair"), "64", "1000"]
    for name, which, conf, want in VARIANTS:
        env = {k: v for k, v in os.environ.items()
               if k not in CONF_VARS and k != "LD_PRELOAD"}
        env["LD_PRELOAD"] = libs[which]
        env["MALLOC_CONF"] = ",".join(
            x for x in (conf, "stats_print:true,abort_conf:true") if x)
        p = subprocess.run(prog, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env)
        got = dict(re.findall(r"^\s*opt\.(\w+): (\S+)", p.stdout, re.M))
        expect = dict(OFF, **want)
        bad = {k: got.get(k) for k, v in expect.items() if got.get(k) != v}
        if p.returncode != 0 or bad:
            sys.exit("safety.py: variant %s (MALLOC_CONF=%s): exit %d, "
                     "opt.* %s, expected %s" % (
                         name, conf or "(none)", p.returncode, bad,
                         {k: expect[k] for k in bad}))


def count_pairs(args, libs):
    """instr.py's figures for both builds: [(build, [16 B, 64 B, 256 B,
    random])]."""
    pair = os.path.join(args.bin, "pair")
    rnd = os.path.join(args.bin, "instr_random")
    loop = instr.per_pair("", lambda n: [rnd, str(n), "none"])
    rows = []
    for k in PAIR:
        row = [instr.per_pair(libs[k], lambda n, s=s: [pair, str(s), str(n)])
               for s in instr.SIZES]
        row.append(instr.per_pair(libs[k], lambda n: [rnd, str(n)]) - loop)
        rows.append((k, row))
        print("instructions per pair, %-9s " % k +
              " ".join("%7.1f" % x for x in row), flush=True)
    return rows


def count_suite(args, names, libs):
    """Callgrind's instruction count of each workload at --instr-scale
    under both builds; a workload that takes no scale is left out."""
    small = run.workloads(os.path.abspath(args.bin), args.instr_scale)
    other = run.workloads(os.path.abspath(args.bin), args.instr_scale / 2)
    out = {}
    # As run.run_once: python3's string hashes, hence its work, depend on
    # the seed (half a percent of its instructions).
    saved = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        for (name, argv, _), (_, argv2, _) in zip(small, other):
            if name not in names or argv is None or argv == argv2:
                continue
            out[name] = {k: instr.collected(libs[k], argv) for k in PAIR}
            print("instructions, %-15s default %d unchecked %d: %s" % (
                name, out[name]["default"], out[name]["unchecked"],
                pct(out[name]["default"] / out[name]["unchecked"])),
                flush=True)
    finally:
        if saved is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = saved
    return out


def spread(xs):
    return (min(xs), max(xs)) if xs else (None, None)


def pct(r):
    return "—" if r is None else "%+.1f %%" % ((r - 1) * 100)


fmt_t = run.fmt_t


def fmt_range(lo, hi):
    return "—" if lo is None else "%s–%s" % (fmt_t(lo), fmt_t(hi))


def summarize(names, runs):
    """Per (workload, variant): the valid runs' wall, cpu and RSS lists."""
    out = {}
    for w in names:
        for v, _, _, _ in VARIANTS:
            rs = [r for r in runs if r["workload"] == w and r["variant"] == v
                  and r.get("valid")]
            if not rs:
                continue
            wall = [r["wall"] for r in rs]
            cpu = [r["utime"] + r["stime"] for r in rs]
            rss = [r["maxrss_kb"] for r in rs]
            out[(w, v)] = {
                "stime": statistics.median(r["stime"] for r in rs),
                "minflt": statistics.median(r["minflt"] for r in rs),
                "n": len(rs), "wall": statistics.median(wall),
                "wall_range": spread(wall), "cpu": statistics.median(cpu),
                "rss_kb": statistics.median(rss), "rss_range": spread(rss),
                "by_round": {r["round"]: {"wall": r["wall"],
                                          "rss_kb": r["maxrss_kb"]}
                             for r in rs}}
    return out


def paired_ratio(med, w):
    """Median over the rounds of default / unchecked within one round:
    the two ran minutes apart at most, so slow drifts of the machine's
    load cancel."""
    a = med.get((w, "default"), {}).get("by_round", {})
    b = med.get((w, "unchecked"), {}).get("by_round", {})
    rs = [a[k]["wall"] / b[k]["wall"] for k in a
          if k in b and b[k]["wall"] > 0]
    return statistics.median(rs) if rs else None


def ratio(med, w, v, key, base="default"):
    if (w, v) in med and (w, base) in med and med[(w, base)][key]:
        return med[(w, v)][key] / med[(w, base)][key]
    return None


def option_ratio(med, w, v, key):
    """An option's median over the default build's in the rounds the
    option ran in: the load of a shared machine changes over the minutes
    of a run, and the default build runs in more rounds."""
    if (w, v) not in med or (w, "default") not in med:
        return None
    base = med[(w, "default")]["by_round"]
    xs = [base[k][key] for k in med[(w, v)]["by_round"] if k in base]
    b = statistics.median(xs) if xs else None
    return med[(w, v)][key] / b if b else None


def option_rounds(runs, runs_options):
    """The rounds (from 1) the options run in: spread over the default
    build's rounds when there are fewer of them."""
    if runs_options >= runs:
        return list(range(1, runs_options + 1))
    if runs_options <= 1:
        return [1][:runs_options]
    return sorted({1 + round(i * (runs - 1) / (runs_options - 1))
                   for i in range(runs_options)})


def write_markdown(path, meta, names, descr, med, runs, instr_rows,
                   suite_instr):
    opts = [v for v, _, _, _ in VARIANTS if v not in PAIR]
    confs = {v: c for v, _, c, _ in VARIANTS}
    L = ["# hmalloc: what the safety features cost", "",
         "Written by `make bench-safety` (bench/safety.py) on %s." %
         meta["date"], "",
         "- machine: %s, %d CPUs, Linux %s; load average %s at the start, "
         "%s at the end" % (meta["cpu"], meta["ncpus"], meta["kernel"],
                            meta["load_start"], meta["load_end"]),
         "- hmalloc %s, git %s; default build %s (sha256 %s), unchecked "
         "build (`-DHM_UNCHECKED`) %s (sha256 %s)" % (
             meta["hm_version"], meta["git"], meta["lib_path"],
             meta["lib_sha"], meta["unchecked_path"],
             meta["unchecked_sha"]),
         "- workloads of `make bench` at scale %g, hmalloc only; %d runs "
         "(rounds) of default and unchecked, %d of each option (in rounds "
         "%s); variants interleaved within a round (order rotated per "
         "round and workload); figures are medians, spreads min–max of "
         "the runs; total %.0f s" % (
             meta["scale"], meta["runs"], meta["runs_options"],
             ", ".join(str(x) for x in meta["option_rounds"]),
             meta["elapsed"]),
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
        rp = paired_ratio(med, w)
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
            r = option_ratio(med, w, v, "wall")
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

    L += ["### Wall time per run (s): median and min–max", "",
          "| workload | " + " | ".join(v for v, _, _, _ in VARIANTS) + " |",
          "| --- | " + " | ".join("---:" for _ in VARIANTS) + " |"]
    for w in names:
        cells = []
        for v, _, _, _ in VARIANTS:
            d = med.get((w, v))
            cells.append("—" if d is None else "%s (%s)" % (
                fmt_t(d["wall"]), fmt_range(*d["wall_range"])))
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    L.append("")

    L += ["## Peak RSS (MiB)", "",
          "Median peak resident set (ru_maxrss) per variant; the geomean "
          "row is each variant's over the default build's. The quarantine "
          "holds up to 1 MiB of freed blocks.", "",
          "| workload | " + " | ".join(v for v, _, _, _ in VARIANTS) + " |",
          "| --- | " + " | ".join("---:" for _ in VARIANTS) + " |"]
    rss_r = {v: [] for v, _, _, _ in VARIANTS}
    for w in names:
        cells = []
        for v, _, _, _ in VARIANTS:
            d = med.get((w, v))
            cells.append(run.fmt_mib(d and d["rss_kb"]))
            r = ratio(med, w, v, "rss_kb")
            if r:
                rss_r[v].append(r)
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    L.append("| *geomean vs default* | %s |" % " | ".join(
        run.fmt_r(run.geomean(rss_r[v])) for v, _, _, _ in VARIANTS))
    L.append("")

    L += ["## Kernel time and page faults", "",
          "Median system seconds / minor page faults (thousands) per "
          "variant.", "",
          "| workload | " + " | ".join(v for v, _, _, _ in VARIANTS) + " |",
          "| --- | " + " | ".join("---:" for _ in VARIANTS) + " |"]
    for w in names:
        cells = []
        for v, _, _, _ in VARIANTS:
            d = med.get((w, v))
            cells.append("—" if d is None else "%.2f / %.0f" % (
                d["stime"], d["minflt"] / 1000.0))
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    L.append("")

    bad = [r for r in runs if not r.get("valid")]
    L += ["## Invalid runs", ""]
    if not bad:
        L.append("None: every run exited 0 and printed the agreed checksum.")
    for r in bad:
        L.append("- %s, %s, round %d: %s" % (
            r["workload"], r["variant"], r["round"], r.get("error") or
            "checksum %s, expected %s" % (r["checksum"], r["expected"])))
    L += ["", "## Workloads", ""]
    for w in names:
        L.append("- **%s**: %s" % (w, descr[w]))
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="built bench programs")
    ap.add_argument("--lib", required=True, help="libhmalloc.so, default")
    ap.add_argument("--lib-unchecked", required=True,
                    help="libhmalloc.so built with -DHM_UNCHECKED")
    ap.add_argument("--runs", type=int, default=7,
                    help="runs of default and unchecked (medians)")
    ap.add_argument("--runs-options", type=int, default=3,
                    help="runs of each option")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""))
    ap.add_argument("--scale", type=float,
                    default=float(os.environ.get("BENCH_SCALE") or 1))
    ap.add_argument("--instr-scale", type=float, default=0.1,
                    help="scale of the workloads counted under callgrind")
    ap.add_argument("--no-instr", action="store_true",
                    help="skip the callgrind instruction counts")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    runone = os.path.join(args.bin, "runone")
    if not os.access(runone, os.X_OK):
        sys.exit("safety.py: %s not built (make bench-progs)" % runone)
    paths = {"default": os.path.abspath(args.lib),
             "unchecked": os.path.abspath(args.lib_unchecked)}
    shas = {}
    for k, p in paths.items():
        if not os.path.exists(p):
            sys.exit("safety.py: %s: no such library" % p)
        with open(p, "rb") as f:
            shas[k] = hashlib.sha256(f.read()).hexdigest()[:12]
    if shas["default"] == shas["unchecked"]:
        sys.exit("safety.py: the two libraries are the same file")
    # Private copies, as in run.py: a rebuild during the runs must not mix
    # two versions.
    snapdir = tempfile.mkdtemp(prefix="hmsafety-lib.")
    try:
        libs = {}
        for k, p in paths.items():
            d = os.path.join(snapdir, k)
            os.mkdir(d)
            libs[k] = os.path.join(d, os.path.basename(p))
            shutil.copy2(p, libs[k])
        return run_suite(args, paths, libs, shas)
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)


def run_suite(args, paths, libs, shas):
    runone = os.path.join(args.bin, "runone")
    check_options(args.bin, libs)

    wl = run.workloads(os.path.abspath(args.bin), args.scale)
    only = [x for x in re.split(r"[,\s]+", args.only or "") if x]
    if only:
        known = {w[0] for w in wl}
        for x in only:
            if x not in known:
                sys.exit("safety.py: unknown workload %s (known: %s)" %
                         (x, ", ".join(sorted(known))))
        wl = [w for w in wl if w[0] in only]
    for name, argv, _ in wl:
        if argv is None:
            print("safety.py: %s: program missing, skipped" % name,
                  file=sys.stderr)
    wl = [w for w in wl if w[1] is not None]
    names = [w[0] for w in wl]
    descr = {w[0]: w[2] for w in wl}

    load_start = loadavg()
    t0 = time.time()
    instr_rows, suite_instr = [], {}
    if args.no_instr:
        pass
    elif not shutil.which("valgrind"):
        print("safety.py: valgrind not installed, no instruction counts "
              "(apt-get install valgrind)", file=sys.stderr)
    else:
        with malloc_conf(""):
            instr_rows = count_pairs(args, libs)
            suite_instr = count_suite(args, names, libs)

    rounds = max(args.runs, args.runs_options)
    opt_rounds = option_rounds(args.runs, args.runs_options)
    total = len(wl) * (len(PAIR) * args.runs +
                       (len(VARIANTS) - len(PAIR)) * len(opt_rounds))
    conf = {v: (w, c) for v, w, c, _ in VARIANTS}
    runs, k = [], 0
    for rnd in range(rounds):
        due = [v for v, _, _, _ in VARIANTS
               if (rnd < args.runs if v in PAIR else rnd + 1 in opt_rounds)]
        for wi, (name, argv, _) in enumerate(wl):
            shift = (rnd + wi) % len(due)
            for v in due[shift:] + due[:shift]:
                k += 1
                which, c = conf[v]
                rec = run_variant(runone, libs[which], c, argv, args.timeout)
                rec.update(workload=name, variant=v, round=rnd + 1)
                runs.append(rec)
                print("[%3d/%d] %-15s %-11s %7.3f s %8.1f MiB %s" % (
                    k, total, name, v, rec.get("wall", 0),
                    rec.get("maxrss_kb", 0) / 1024.0,
                    rec.get("error", "") or rec["checksum"]), flush=True)

    run.mark_valid(runs, names, "variant", "safety.py")
    elapsed = time.time() - t0

    meta = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": run.cpu_model(), "ncpus": os.cpu_count() or 0,
        "kernel": platform.release(), "git": run.git_rev(),
        "hm_version": run.hmalloc_version(), "runs": args.runs,
        "runs_options": args.runs_options, "option_rounds": opt_rounds,
        "scale": args.scale,
        "elapsed": elapsed, "load_start": load_start,
        "load_end": loadavg(), "lib_path": paths["default"],
        "lib_sha": shas["default"], "unchecked_path": paths["unchecked"],
        "unchecked_sha": shas["unchecked"],
        "variants": {v: {"lib": w, "malloc_conf": c}
                     for v, w, c, _ in VARIANTS},
        "instr": {k: row for k, row in instr_rows},
        "instr_scale": args.instr_scale, "suite_instr": suite_instr,
    }
    med = summarize(names, runs)
    os.makedirs(args.results, exist_ok=True)
    md = os.path.join(args.results, "safety.md")
    write_markdown(md, meta, names, descr, med, runs, instr_rows,
                   suite_instr)
    with open(os.path.join(args.results, "safety.json"), "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    print("safety.py: %d runs in %.0f s; wrote %s" % (len(runs), elapsed, md))
    if any(not r.get("valid") for r in runs):
        print("safety.py: some runs were invalid: see %s" % md,
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
