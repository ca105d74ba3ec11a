#!/usr/bin/env python3
"""bench/trace.py: what recording an allocation trace costs (opt.trace).

Every workload of bench/run.py runs under hmalloc as built (off) and with
MALLOC_CONF=trace:true (trace), in --runs rounds (5) whose order rotates
(run.run_rounds).  Each traced run writes into a directory of its own;
its files are checked and measured (bytes, and calls, by `hmreplay
--check`) and
removed.  The cost is trace's median over off's - 1, per workload and as
the geometric mean over the workloads, of wall time, of the same ratio
within a round (paired) and of user + system time; and the trace's bytes
per call.  A program that starts others (python3's interpreter does not,
sqlite3 does not) leaves a file per process: all are counted.

Usage: trace.py --bin DIR --lib LIBHMALLOC [--runs N] [--only a,b]
                [--scale X] [--replay BIN/hmreplay] [--results DIR]
                [--timeout S] [--report-only]
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (workloads, run_once, run_rounds, geomean)
import variants as vr  # noqa: E402  (MALLOC_CONF, medians, the table)

pct, fmt_t = vr.pct, vr.fmt_t


def trace_calls(replay, path):
    """The calls hmreplay --check counts in one trace file (which it
    checks whole)."""
    p = subprocess.run([replay, "--check", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    m = re.search(r"^\s*calls\s+(\d+)\s*$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError("hmreplay --check %s: %s" % (
            path, (p.stderr or p.stdout).strip()[-300:]))
    return int(m.group(1))


def run_traced(runone, lib, argv, timeout, replay):
    """One traced run: its record, with the trace's bytes and calls."""
    d = tempfile.mkdtemp(prefix="hmtrace.")
    try:
        with vr.malloc_conf("trace:true,trace_prefix:%s/t" % d):
            rec = run.run_once(runone, lib, argv, timeout)
        files = glob.glob(os.path.join(d, "*.trace"))
        rec["trace_bytes"] = sum(os.path.getsize(f) for f in files)
        rec["trace_files"] = len(files)
        try:
            rec["trace_calls"] = sum(trace_calls(replay, f) for f in files)
        except RuntimeError as e:
            rec.setdefault("error", str(e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return rec


def report_lines(meta, names, med, runs):
    L = ["# hmalloc: what recording an allocation trace costs", "",
         "Written by `make bench-trace` (bench/trace.py) on %s." %
         meta["date"], "", vr.machine_line(meta),
         "- hmalloc %s, git %s; library %s (sha256 %s)" % (
             meta["hm_version"], meta["git"], meta["lib_path"],
             meta["lib_sha"]),
         "- %d rounds, each workload under off (no MALLOC_CONF) and trace "
         "(`MALLOC_CONF=trace:true`, a directory of its own per run), in "
         "an order that rotates; medians of the valid runs; scale %g" % (
             meta["runs"], meta["scale"]), ""]
    rows = ["| workload | off (s) | trace (s) | wall | paired | CPU | "
            "peak RSS | calls | trace MiB | bytes/call |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
            "---: |"]
    cols = [[], [], [], []]
    per_call = []
    for w in names:
        rw = vr.ratio(med, w, "trace", "wall", "off")
        rp = vr.paired_ratio(med, w, "trace", "off")
        rc = vr.ratio(med, w, "trace", "cpu", "off")
        rr = vr.ratio(med, w, "trace", "rss_kb", "off")
        for lst, x in zip(cols, (rw, rp, rc, rr)):
            if x:
                lst.append(x)
        tr = [r for r in runs if r["workload"] == w and r.get("valid")
              and r["variant"] == "trace" and r.get("trace_calls")]
        calls = bytes_ = None
        if tr:
            calls = sorted(r["trace_calls"] for r in tr)[len(tr) // 2]
            bytes_ = sorted(r["trace_bytes"] for r in tr)[len(tr) // 2]
            per_call.append(bytes_ / calls)
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            w, fmt_t(med.get((w, "off"), {}).get("wall")),
            fmt_t(med.get((w, "trace"), {}).get("wall")),
            pct(rw), pct(rp), pct(rc), pct(rr),
            "—" if calls is None else "{:,}".format(calls),
            "—" if bytes_ is None else "%.1f" % (bytes_ / 2**20),
            "—" if calls is None else "%.2f" % (bytes_ / calls)))
    g = [run.geomean(c) for c in cols]
    rows.append("| **geomean** | | | **%s** | **%s** | **%s** | **%s** | | "
                "| **%s** |" % (tuple(pct(x) for x in g) + (
                    "—" if not per_call else
                    "%.2f" % (sum(per_call) / len(per_call)),)))
    L += ["## Summary", "",
          "Recording costs, as the geometric mean over the workloads: wall "
          "%s, paired %s, CPU %s, peak RSS %s; the traces take %s bytes a "
          "call on average over the workloads." % (
              tuple(pct(x) for x in g) + (
                  "—" if not per_call else
                  "%.2f" % (sum(per_call) / len(per_call)),)), "",
          "## Per workload", "",
          "Cost = trace's median over off's - 1; *paired*: the median over "
          "rounds of the same ratio within one round; *CPU*: user + system "
          "time; *calls*: the calls the trace holds (`hmreplay --check`), "
          "of every process the workload ran.", ""]
    L += rows + [""]
    bad = [r for r in runs if not r.get("valid")]
    if bad:
        L += ["## Invalid runs", ""] + [
            "- %s, %s, round %d: %s" % (r["workload"], r["variant"],
                                        r["round"], r.get("error", "?"))
            for r in bad] + [""]
    return L


def study(args, libs, facts):
    replay = args.replay or os.path.join(HERE, "..", "bin", "hmreplay")
    if not os.access(replay, os.X_OK):
        sys.exit("trace.py: %s not built (make)" % replay)
    runone = os.path.join(args.bin, "runone")
    wl, names, _ = run.select_workloads(args.bin, args.scale, args.only,
                                        "trace.py")
    stem = os.path.join(args.results, "trace")
    if args.report_only:
        with open(stem + ".json") as f:
            saved = json.load(f)
        return write_report(stem, saved["meta"], names, saved["runs"])
    load_start = vr.loadavg()
    t0 = time.time()

    def run_one(v, argv):
        if v == "trace":
            return run_traced(runone, libs["default"], argv, args.timeout,
                              replay)
        with vr.malloc_conf(""):
            return run.run_once(runone, libs["default"], argv, args.timeout)

    runs = run.run_rounds(wl, args.runs, lambda rnd: ["off", "trace"],
                          run_one, "variant")
    run.mark_valid(runs, names, "variant", "trace.py")
    meta = dict(run.machine_meta(), **facts)
    meta.update({"runs": args.runs, "scale": args.scale,
                 "elapsed": time.time() - t0, "load_start": load_start,
                 "load_end": vr.loadavg()})
    os.makedirs(args.results, exist_ok=True)
    # The runs first: the report can be written again from them
    # (--report-only).
    with open(stem + ".json", "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    return write_report(stem, meta, names, runs)


def write_report(stem, meta, names, runs):
    med = vr.summarize(names, ["off", "trace"], runs)
    with open(stem + ".md", "w") as f:
        f.write("\n".join(report_lines(meta, names, med, runs)))
    return run.done("trace.py", runs, meta["elapsed"], stem + ".md")


def more_arguments(ap):
    ap.add_argument("--replay", help="hmreplay (default bin/hmreplay)")
    ap.add_argument("--report-only", action="store_true",
                    help="write the report again from --results/trace.json")


def main():
    return vr.script(__doc__, "trace.py", [], (5, 5), study, more_arguments)


if __name__ == "__main__":
    sys.exit(main())
