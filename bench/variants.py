"""bench/variants.py: runs variants of hmalloc over the benchmark suite.

A variant is a library (a build) and a MALLOC_CONF string.  What costs a
feature (bench/safety.py: the safety checks and options; bench/prof.py:
the heap profiler) is measured the same way: every workload of bench/run.py
under every variant, in rounds whose order rotates from round to round and
from workload to workload, so a noisy moment of a shared machine does not
land on one variant; medians; a feature's cost as a variant's median over a
base variant's; and beside the times, callgrind's instruction counts, which
do not depend on the machine's load.  This module holds those parts; the
scripts hold their variants and write their own reports.

A run is a dict as run.run_once returns it, plus workload, variant and
round (from 1); run.mark_valid adds valid.
"""

import argparse
import contextlib
import hashlib
import json
import os
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
import instr  # noqa: E402  (collected, per_pair: callgrind)

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


def add_arguments(ap, runs, runs_other):
    """The options every variant script takes; runs: the default of --runs
    (rounds of the variants compared most closely), runs_other: of
    --runs-options (the other variants)."""
    ap.add_argument("--bin", required=True, help="built bench programs")
    ap.add_argument("--lib", required=True, help="libhmalloc.so, default")
    ap.add_argument("--runs", type=int, default=runs,
                    help="rounds of the main variants (medians)")
    ap.add_argument("--runs-options", type=int, default=runs_other,
                    help="runs of each other variant")
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""))
    ap.add_argument("--scale", type=float,
                    default=float(os.environ.get("BENCH_SCALE") or 1))
    ap.add_argument("--instr-scale", type=float, default=0.1,
                    help="scale of the workloads counted under callgrind")
    ap.add_argument("--no-instr", action="store_true",
                    help="skip the callgrind instruction counts")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=float, default=300)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


@contextlib.contextmanager
def private_copies(paths, tool, distinct):
    """Copies of the libraries {key: path} for the block's duration, as in
    run.py: a rebuild during the runs must not mix two versions.  Yields
    ({key: copy}, {key: sha256 prefix}); exits when a library is missing
    or one of the keys distinct names the same file as "default" (a
    comparison with itself)."""
    shas = {}
    for k, p in paths.items():
        if not os.path.exists(p):
            sys.exit("%s: %s: no such library" % (tool, p))
        shas[k] = sha(p)
    for k in distinct:
        if shas[k] == shas["default"]:
            sys.exit("%s: %s and %s are the same library" % (
                tool, paths["default"], paths[k]))
    snapdir = tempfile.mkdtemp(prefix="hmvariants-lib.")
    try:
        libs = {}
        for k, p in paths.items():
            d = os.path.join(snapdir, k)
            os.mkdir(d)
            libs[k] = os.path.join(d, os.path.basename(p))
            shutil.copy2(p, libs[k])
        yield libs, shas
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)


def check_options(bindir, checks, off, tool):
    """Reads each variant's opt.* back from hmalloc's statistics report;
    exits on a mismatch (or an option hmalloc rejects: abort_conf).
    checks: [(name, library, MALLOC_CONF, {option: value})]; off: the
    values every variant must show unless its own dict says otherwise."""
    prog = [os.path.join(bindir, "pair"), "64", "1000"]
    for name, lib, conf, want in checks:
        env = {k: v for k, v in os.environ.items()
               if k not in CONF_VARS and k != "LD_PRELOAD"}
        env["LD_PRELOAD"] = lib
        env["MALLOC_CONF"] = ",".join(
            x for x in (conf, "stats_print:true,abort_conf:true") if x)
        p = subprocess.run(prog, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=env)
        got = dict(re.findall(r"^\s*opt\.(\w+): (\S+)", p.stdout, re.M))
        expect = dict(off, **want)
        bad = {k: got.get(k) for k, v in expect.items() if got.get(k) != v}
        if p.returncode != 0 or bad:
            sys.exit("%s: variant %s (MALLOC_CONF=%s): exit %d, "
                     "opt.* %s, expected %s" % (
                         tool, name, conf or "(none)", p.returncode, bad,
                         {k: expect[k] for k in bad}))


def count_pairs(bindir, builds):
    """bench/instr.py's figures for each of builds [(label, library,
    MALLOC_CONF)]: [(label, [16 B, 64 B, 256 B, random])]."""
    pair = os.path.join(bindir, "pair")
    rnd = os.path.join(bindir, "instr_random")
    with malloc_conf(""):
        loop = instr.per_pair("", lambda n: [rnd, str(n), "none"])
    rows = []
    for label, lib, conf in builds:
        with malloc_conf(conf):
            row = [instr.per_pair(lib, lambda n, s=s: [pair, str(s), str(n)])
                   for s in instr.SIZES]
            row.append(instr.per_pair(lib, lambda n: [rnd, str(n)]) - loop)
        rows.append((label, row))
        print("instructions per pair, %-9s " % label +
              " ".join("%7.1f" % x for x in row), flush=True)
    return rows


def count_suite(bindir, scale, names, builds):
    """Callgrind's instruction count of each workload at scale under each
    of builds [(label, library, MALLOC_CONF)]: {workload: {label: count}}.
    A workload that takes no scale is left out."""
    small = run.workloads(os.path.abspath(bindir), scale)
    other = run.workloads(os.path.abspath(bindir), scale / 2)
    out = {}
    # As run.run_once: python3's string hashes, hence its work, depend on
    # the seed (half a percent of its instructions).
    saved = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        for (name, argv, _), (_, argv2, _) in zip(small, other):
            if name not in names or argv is None or argv == argv2:
                continue
            out[name] = {}
            for label, lib, conf in builds:
                with malloc_conf(conf):
                    out[name][label] = instr.collected(lib, argv)
            base = out[name][builds[0][0]]
            print("instructions, %-15s " % name + ", ".join(
                "%s %d (%s)" % (label, n, pct(n / base))
                for label, n in out[name].items()), flush=True)
    finally:
        if saved is None:
            os.environ.pop("PYTHONHASHSEED", None)
        else:
            os.environ["PYTHONHASHSEED"] = saved
    return out


def run_rounds(runone, wl, variants, rounds, due, timeout):
    """run.run_rounds for variants {name: (library, MALLOC_CONF)}."""
    def run_one(v, argv):
        lib, conf = variants[v]
        with malloc_conf(conf):
            return run.run_once(runone, lib, argv, timeout)
    return run.run_rounds(wl, rounds, due, run_one, "variant")


def script(doc, tool, others, runs, study_of, more_arguments=None):
    """The main function of a variant script (doc: its docstring): parses
    the options of add_arguments (runs: the defaults of --runs and
    --runs-options), --lib-NAME for each of others [(NAME, help, distinct:
    whether it must differ from --lib)], the libraries compared with
    --lib, and those more_arguments(parser) adds; checks the programs are
    built; returns study_of(args, libs, facts) on private copies of the
    libraries, libs {"default": ..., NAME: ...}, facts what the report
    says of them (their paths and sha256: lib_path, NAME_path, ...)."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    add_arguments(ap, *runs)
    for name, text, _ in others:
        ap.add_argument("--lib-" + name, required=True, help=text)
    if more_arguments:
        more_arguments(ap)
    args = ap.parse_args()
    runone = os.path.join(args.bin, "runone")
    if not os.access(runone, os.X_OK):
        sys.exit("%s: %s not built (make bench-progs)" % (tool, runone))
    paths = {name: os.path.realpath(getattr(args, "lib_" + name))
             for name, _, _ in others}
    paths["default"] = os.path.realpath(args.lib)
    with private_copies(paths, tool, [o[0] for o in others if o[2]]) \
            as (libs, shas):
        facts = {}
        for k in paths:
            key = "lib" if k == "default" else k
            facts.update({key + "_path": paths[k], key + "_sha": shas[k]})
        return study_of(args, libs, facts)


def study(args, tool, checks, off, counted, report, facts):
    """The whole measurement and its report, for the variants checks
    [(name, library, MALLOC_CONF, {option: value}, main)]: check_options
    reads their options back first (off: what every variant must show
    unless its dict says otherwise); the main variants run in --runs
    rounds, the others in --runs-options of them.  Before the runs, unless
    --no-instr, callgrind counts the instructions per pair of the builds
    counted["pairs"] [(label, library, MALLOC_CONF)], and of every
    workload under the builds counted["suite"].  report(meta, res) returns
    the lines of the report, --results/STEM.md (STEM: tool without .py),
    on res: names, descr, runs (marked valid or not), med (summarize),
    pairs (count_pairs), suite (count_suite); meta is facts and the run's
    own (machine, rounds, times, loads, counts), which go to STEM.json with
    every run.  Returns the exit status."""
    check_options(args.bin, [c[:4] for c in checks], off, tool)
    wl, names, descr = run.select_workloads(args.bin, args.scale, args.only,
                                            tool)
    load_start = loadavg()
    t0 = time.time()
    pairs, suite = [], {}
    if args.no_instr:
        pass
    elif not shutil.which("valgrind"):
        print("%s: valgrind not installed, no instruction counts "
              "(apt-get install valgrind)" % tool, file=sys.stderr)
    else:
        pairs = count_pairs(args.bin, counted["pairs"])
        suite = count_suite(args.bin, args.instr_scale, names,
                            counted["suite"])

    rounds = max(args.runs, args.runs_options)
    opt_rounds = option_rounds(args.runs, args.runs_options)
    runs = run_rounds(
        os.path.join(args.bin, "runone"), wl,
        {c[0]: (c[1], c[2]) for c in checks}, rounds,
        lambda rnd: [c[0] for c in checks
                     if (rnd < args.runs if c[4] else rnd + 1 in opt_rounds)],
        args.timeout)
    run.mark_valid(runs, names, "variant", tool)
    meta = dict(run.machine_meta(), **facts)
    meta.update({
        "runs": args.runs, "runs_options": args.runs_options,
        "option_rounds": opt_rounds, "scale": args.scale,
        "elapsed": time.time() - t0, "load_start": load_start,
        "load_end": loadavg(), "instr": {k: row for k, row in pairs},
        "instr_scale": args.instr_scale, "suite_instr": suite})
    res = {"names": names, "descr": descr, "runs": runs, "pairs": pairs,
           "suite": suite,
           "med": summarize(names, [c[0] for c in checks], runs)}

    os.makedirs(args.results, exist_ok=True)
    stem = os.path.join(args.results, tool[:-3])
    with open(stem + ".md", "w") as f:
        f.write("\n".join(report(meta, res)))
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    return run.done(tool, runs, meta["elapsed"], stem + ".md")


def option_rounds(runs, runs_options):
    """The rounds (from 1) the other variants run in: spread over the main
    variants' rounds when there are fewer of them."""
    if runs_options >= runs:
        return list(range(1, runs_options + 1))
    if runs_options <= 1:
        return [1][:runs_options]
    return sorted({1 + round(i * (runs - 1) / (runs_options - 1))
                   for i in range(runs_options)})


def spread(xs):
    return (min(xs), max(xs)) if xs else (None, None)


def pct(r):
    return "—" if r is None else "%+.1f %%" % ((r - 1) * 100)


fmt_t = run.fmt_t


def fmt_range(lo, hi):
    return "—" if lo is None else "%s–%s" % (fmt_t(lo), fmt_t(hi))


def summarize(names, vnames, runs):
    """Per (workload, variant): the valid runs' medians, spreads and
    figures by round."""
    out = {}
    for w, v, rs in run.grouped(runs, names, vnames, "variant"):
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
                                      "cpu": r["utime"] + r["stime"],
                                      "rss_kb": r["maxrss_kb"]}
                         for r in rs}}
    return out


def ratio(med, w, v, key, base="default"):
    if (w, v) in med and (w, base) in med and med[(w, base)][key]:
        return med[(w, v)][key] / med[(w, base)][key]
    return None


def paired_ratio(med, w, v, base, key="wall"):
    """Median over the rounds of v / base within one round: the two ran
    minutes apart at most, so slow drifts of the machine's load cancel."""
    a = med.get((w, v), {}).get("by_round", {})
    b = med.get((w, base), {}).get("by_round", {})
    rs = [a[k][key] / b[k][key] for k in a if k in b and b[k][key] > 0]
    return statistics.median(rs) if rs else None


def option_ratio(med, w, v, key, base="default"):
    """v's median over base's median in the rounds v ran in: the load of a
    shared machine changes over the minutes of a run, and the base may run
    in more rounds."""
    if (w, v) not in med or (w, base) not in med:
        return None
    by = med[(w, base)]["by_round"]
    xs = [by[k][key] for k in med[(w, v)]["by_round"] if k in by]
    b = statistics.median(xs) if xs else None
    return med[(w, v)][key] / b if b else None


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def machine_line(meta):
    return ("- machine: %s, %d CPUs, Linux %s; load average %s at the "
            "start, %s at the end" % (meta["cpu"], meta["ncpus"],
                                      meta["kernel"], meta["load_start"],
                                      meta["load_end"]))


def rounds_line(meta, main, other):
    """How the runs went: main and other name the variants that ran in
    --runs rounds and those that ran in --runs-options."""
    return ("- workloads of `make bench` at scale %g, hmalloc only; %d runs "
            "(rounds) of %s, %d of %s (in rounds %s); variants interleaved "
            "within a round (order rotated per round and workload); "
            "figures are medians, spreads min–max of the runs; total "
            "%.0f s" % (meta["scale"], meta["runs"], main,
                        meta["runs_options"], other,
                        ", ".join(str(x) for x in meta["option_rounds"]),
                        meta["elapsed"]))


def table_lines(head, names, vnames, cell):
    """head, then a table of a row per workload and a column per variant;
    cell(workload, variant) is the text of a cell."""
    L = head + ["| workload | " + " | ".join(vnames) + " |",
                "| --- | " + " | ".join("---:" for _ in vnames) + " |"]
    for w in names:
        L.append("| %s | %s |" % (w, " | ".join(cell(w, v) for v in vnames)))
    return L


def per_run_lines(names, vnames, med):
    """The wall time table: median and spread of every variant."""
    def cell(w, v):
        d = med.get((w, v))
        return "—" if d is None else "%s (%s)" % (
            fmt_t(d["wall"]), fmt_range(*d["wall_range"]))
    return table_lines(["### Wall time per run (s): median and min–max",
                        ""], names, vnames, cell) + [""]


def rss_lines(names, vnames, med, note):
    """Peak RSS per variant, and each one's geomean over the default's."""
    L = table_lines(
        ["## Peak RSS (MiB)", "",
         "Median peak resident set (ru_maxrss) per variant; the geomean "
         "row is each variant's over the default build's." +
         (" " + note if note else ""), ""], names, vnames,
        lambda w, v: run.fmt_mib(med.get((w, v), {}).get("rss_kb")))
    L.append("| *geomean vs default* | %s |" % " | ".join(
        run.fmt_r(run.geomean([ratio(med, w, v, "rss_kb") for w in names]))
        for v in vnames))
    return L + [""]


def kernel_lines(names, vnames, med):
    def cell(w, v):
        d = med.get((w, v))
        return "—" if d is None else "%.2f / %.0f" % (
            d["stime"], d["minflt"] / 1000.0)
    return table_lines(["## Kernel time and page faults", "",
                        "Median system seconds / minor page faults "
                        "(thousands) per variant.", ""],
                       names, vnames, cell) + [""]


def appendix_lines(res, vnames, rss_note):
    """The end of a report on measure's result res: every variant's wall
    times, peak RSS, kernel time, the invalid runs and the workloads."""
    names, med, runs = res["names"], res["med"], res["runs"]
    return (per_run_lines(names, vnames, med) +
            rss_lines(names, vnames, med, rss_note) +
            kernel_lines(names, vnames, med) +
            run.closing_lines(names, res["descr"], runs, "variant", ", "))
