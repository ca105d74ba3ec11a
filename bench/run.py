#!/usr/bin/env python3
"""bench/run.py: run the benchmark suite under every allocator.

Each workload runs under hmalloc, glibc, jemalloc, mimalloc and tcmalloc
(by LD_PRELOAD, through bench/runone, which measures wall time and peak
RSS), BENCH_RUNS times each.  A round runs every workload once under every
allocator, in an order that rotates from round to round, so the noise of a
shared machine spreads over all of them.  Every workload prints
"checksum=<hex>"; a run whose checksum differs from the one most runs agree
on, or that fails, is invalid: it is left out of the figures and listed.

Writes, in --results:
  latest.md    medians per workload and allocator, hmalloc's ratio to the
               best peer (time and peak RSS), geometric means
  latest.json  every run, raw
  latest.svg   chart: hmalloc / best-peer time ratio per workload
  latest.png   the same chart, when gnuplot is installed

Usage: run.py --bin DIR --lib LIBHMALLOC [--runs N] [--only a,b]
              [--scale X] [--results DIR] [--timeout S]
Environment: BENCH_RUNS, BENCH_ONLY, BENCH_SCALE are the defaults of the
options of the same meaning.
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SYSLIB = "/usr/lib/x86_64-linux-gnu"

# name -> (library to preload or "" for none, Debian package for the version)
PEERS = [
    ("glibc", "", "libc6"),
    ("jemalloc", SYSLIB + "/libjemalloc.so.2", "libjemalloc2"),
    ("mimalloc", SYSLIB + "/libmimalloc.so.2", "libmimalloc2.0"),
    ("tcmalloc", SYSLIB + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"),
]


def workloads(bindir, scale):
    """(name, argv, what it measures); argv None when a tool is missing."""
    s = "%g" % scale
    b = lambda prog: os.path.join(bindir, prog)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else shutil.which("python3")
    sqlite = shutil.which("sqlite3")
    return [
        ("st_fixed", [b("st_fixed"), s],
         "1 thread, malloc/free of 64 B (and 16, 256 B): pairs and batches"),
        ("st_random", [b("st_random"), s],
         "1 thread, random 8 B-1 KiB, window of 4096 live objects"),
        ("espresso", [b("espresso_like"), s],
         "1 thread, espresso-like cubes, lists and covers, 8-200 B, realloc"),
        ("larson1", [b("larson"), "1", s],
         "larson-style server, 1 thread: the 2-thread runs' baseline"),
        ("larson2", [b("larson"), "2", s],
         "larson-style server, 2 threads, blocks freed by other threads"),
        ("larson32", [b("larson"), "32", s],
         "the same, 32 threads (oversubscribed)"),
        ("thread_random", [b("thread_random"), "2", s],
         "2 threads, 1024 blocks each, 16 B-32 KiB over many classes"),
        ("glibc_thread", [b("glibc_thread"), "2", s],
         "2 threads, 4096 slots each, 8 B-4 KiB inverse-square, all written"),
        ("rptest", [b("rptest"), "2", s],
         "2 threads, rounds of 16 B-32 KiB, batches freed by the other"),
        ("prodcons", [b("prodcons"), s],
         "producer mallocs, consumer frees, lock-free ring, 2 threads"),
        ("xmalloc_test", [b("xmalloc_test"), "2", s],
         "1 thread mallocs 8 B-2 KiB in batches of 4096, 1 frees (queue)"),
        ("threads_churn", [b("threads_churn"), s],
         "5000 short-lived threads, a few hundred objects each"),
        ("false_sharing", [b("false_sharing"), "2", s],
         "2 threads hammering writes into small objects (active+passive)"),
        ("mixed", [b("mixed"), s],
         "1 thread, 8 B-1 MiB heavy-tailed sizes, random lifetimes"),
        ("realloc_growth", [b("realloc_growth"), s],
         "strings and vectors grown by realloc, 8 at a time"),
        ("large_churn", [b("large_churn"), s],
         "free/reallocate 64 KiB-8 MiB blocks, every page touched"),
        ("malloc_large", [b("malloc_large"), s],
         "20 blocks of 64 KiB-5 MiB replaced in turn, part of each written"),
        ("huge_churn", [b("huge_churn"), s],
         "20 buffers of 5-25 MiB, a random one replaced each step"),
        ("fragmentation", [b("fragmentation"), s],
         "many sizes, 95 % freed, then larger sizes (RSS is the point)"),
        ("python3", [python, os.path.join(HERE, "workload.py"), s]
         if python else None,
         "python3: dicts, json, sorting, strings (bench/workload.py)"),
        ("sqlite3", [sqlite, ":memory:",
                     ".read " + os.path.join(HERE, "workload.sql")]
         if sqlite else None,
         "sqlite3: 200k rows with indexes, then queries (workload.sql)"),
        ("cxx_map", [b("cxx_map"), s],
         "C++ std::map<std::string, vector>, strings, unordered_map"),
    ]


def select_workloads(bindir, scale, only, tool):
    """The workloads named in only ("a,b"; all when empty) whose programs
    exist: (workloads' tuples, names, {name: description}).  An unknown
    name ends the program; a missing program is skipped with a message."""
    wl = workloads(os.path.abspath(bindir), scale)
    only = [x for x in re.split(r"[,\s]+", only or "") if x]
    if only:
        known = {w[0] for w in wl}
        for x in only:
            if x not in known:
                sys.exit("%s: unknown workload %s (known: %s)" %
                         (tool, x, ", ".join(sorted(known))))
        wl = [w for w in wl if w[0] in only]
    for name, argv, _ in wl:
        if argv is None:
            print("%s: %s: program missing, skipped" % (tool, name),
                  file=sys.stderr)
    wl = [w for w in wl if w[1] is not None]
    return wl, [w[0] for w in wl], {w[0]: w[2] for w in wl}


def parse_runone(line):
    out = {}
    for m in re.finditer(r"(\w+)=(\S+)", line):
        k, v = m.group(1), m.group(2)
        if k == "status":
            out[k] = v
        else:
            out[k] = float(v)
    return out


def run_once(runone, lib, argv, timeout):
    fd, outfile = tempfile.mkstemp(prefix="hmbench.")
    os.close(fd)
    try:
        cmd = [runone, "-p", lib, "-o", outfile, "-t", str(timeout), "--"] \
            + argv
        env = dict(os.environ)
        env["PYTHONHASHSEED"] = "0"
        env.pop("LD_PRELOAD", None)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, text=True)
        with open(outfile, errors="replace") as f:
            output = f.read()
    finally:
        os.unlink(outfile)
    rec = parse_runone(p.stdout.strip().splitlines()[-1] if p.stdout else "")
    m = re.search(r"^checksum=([0-9a-fA-F]+)\s*$", output, re.M)
    rec["checksum"] = m.group(1).lower() if m else None
    # Extra figures a workload prints, e.g. rss_final_kb=123.
    rec["extra"] = {k: float(v) for k, v in
                    re.findall(r"\b(\w+_kb)=(\d+)", output)}
    if rec.get("status") != "exit:0" or rec["checksum"] is None:
        rec["error"] = (p.stderr.strip()[-300:] or
                        "status %s, no checksum" % rec.get("status"))
    return rec


def run_rounds(wl, rounds, due, run_one, key):
    """Runs the workloads wl [(name, argv, _)] in rounds: due(rnd) lists
    what runs in round rnd (from 0), allocators or variants, in a base
    order that rotates from round to round and from workload to workload,
    so that a noisy moment of a shared machine does not land on one of
    them.  run_one(who, argv) runs one and returns its record, to which
    workload, round (from 1) and key (who) are added.  Prints a line a
    run; returns the runs, not yet marked valid."""
    total = sum(len(due(r)) for r in range(rounds)) * len(wl)
    runs = []
    for rnd in range(rounds):
        whos = due(rnd)
        for wi, (name, argv, _) in enumerate(wl):
            shift = (rnd + wi) % len(whos)
            for who in whos[shift:] + whos[:shift]:
                rec = run_one(who, argv)
                rec.update({"workload": name, key: who, "round": rnd + 1})
                runs.append(rec)
                print("[%3d/%d] %-15s %-11s %7.3f s %8.1f MiB %s" % (
                    len(runs), total, name, who, rec.get("wall", 0),
                    rec.get("maxrss_kb", 0) / 1024.0,
                    rec.get("error", "") or rec["checksum"]), flush=True)
    return runs


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def fmt_t(x):
    return "—" if x is None else ("%.3f" % x if x < 10 else "%.2f" % x)


def fmt_mib(kb):
    return "—" if kb is None else "%.1f" % (kb / 1024.0)


def fmt_r(x):
    return "—" if x is None else "%.2f" % x


def pkg_version(pkg):
    try:
        p = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        return p.stdout.strip() or "?"
    except OSError:
        return "?"


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", HERE, "rev-parse", "--short",
                              "HEAD"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain",
                                "--untracked-files=no", "--", ":/src"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout
        return rev.strip() + (" (src modified)" if dirty.strip() else "")
    except OSError:
        return "?"


def hmalloc_version():
    """The version include/hmalloc.h declares ("?" if unreadable)."""
    try:
        with open(os.path.join(HERE, "..", "include", "hmalloc.h")) as f:
            m = re.search(r'#define HMALLOC_VERSION "([^"]+)"', f.read())
            return m.group(1) if m else "?"
    except OSError:
        return "?"


def mark_valid(runs, names, who, tool):
    """Marks each run valid or not: the checksum most runs of a workload
    agree on is the expected one.  who: the key naming what ran (an
    allocator, a variant); tool: the script, for the message."""
    for name in names:
        sums = [r["checksum"] for r in runs
                if r["workload"] == name and "error" not in r]
        expected = max(set(sums), key=sums.count) if sums else None
        for r in runs:
            if r["workload"] != name:
                continue
            r["expected"] = expected
            r["valid"] = "error" not in r and r["checksum"] == expected
            if not r["valid"] and "error" not in r:
                print("%s: %s under %s: checksum %s, expected %s: "
                      "INVALID" % (tool, name, r[who], r["checksum"],
                                   expected), file=sys.stderr)


def done(tool, runs, elapsed, wrote):
    """The last message of a suite; returns the exit status: 1 when some
    runs were invalid (the report, the first file of wrote, lists them)."""
    print("%s: %d runs in %.0f s; wrote %s" % (tool, len(runs), elapsed,
                                               wrote))
    if any(not r.get("valid") for r in runs):
        print("%s: some runs were invalid: see %s" % (
            tool, wrote.split(",")[0]), file=sys.stderr)
        return 1
    return 0


def machine_meta():
    """What every report says about where and when it ran."""
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "cpu": cpu_model(), "ncpus": os.cpu_count() or 0,
            "kernel": platform.release(), "git": git_rev(),
            "hm_version": hmalloc_version()}


def grouped(runs, names, whos, key):
    """(workload, who, its valid runs) for every workload of names and
    every who (an allocator, a variant: the value of the key key) that has
    valid runs."""
    for w in names:
        for a in whos:
            rs = [r for r in runs if r["workload"] == w and r[key] == a
                  and r.get("valid")]
            if rs:
                yield w, a, rs


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def summarize(names, allocs, runs):
    """Medians per (workload, allocator) over the valid runs."""
    med = {}
    for w, a, rs in grouped(runs, names, allocs, "alloc"):
        d = {"n": len(rs)}
        for k in ("wall", "maxrss_kb", "utime", "stime", "minflt"):
            d[k] = statistics.median(r[k] for r in rs)
        extra = {}
        for k in rs[0]["extra"]:
            vals = [r["extra"][k] for r in rs if k in r["extra"]]
            extra[k] = statistics.median(vals)
        d["extra"] = extra
        med[(w, a)] = d
    return med


def best_peer(med, w, peers, key):
    vals = [(med[(w, a)][key], a) for a in peers if (w, a) in med]
    return min(vals) if vals else (None, None)


def header_rows(first, allocs):
    """A table's header and alignment rows: one column per allocator."""
    return ["| %s | " % first + " | ".join(allocs) + " |",
            "| --- | " + " | ".join("---:" for _ in allocs) + " |"]


def scaling_lines(L, allocs, med):
    """larson1 and larson2 do the same total work: their time ratio is the
    speedup two threads give (at most 2 on this machine's 2 CPUs)."""
    if not all((w, a) in med for w in ("larson1", "larson2")
               for a in allocs):
        return
    L.append("## Two threads")
    L.append("")
    L.append("Speedup of larson with 2 threads over 1 thread, the same "
             "total work (median larson1 time / median larson2 time):")
    L.append("")
    L += header_rows("", allocs)
    L.append("| speedup | " + " | ".join(
        "%.2f" % (med[("larson1", a)]["wall"] / med[("larson2", a)]["wall"])
        for a in allocs) + " |")
    L.append("")


def write_markdown(path, meta, names, descr, allocs, med, runs, chart_files):
    peers = [a for a in allocs if a != "hmalloc"]
    L = []
    L.append("# hmalloc benchmarks")
    L.append("")
    L.append("Written by `make bench` (bench/run.py) on %s." % meta["date"])
    L.append("")
    L.append("- machine: %s, %d CPUs, Linux %s" %
             (meta["cpu"], meta["ncpus"], meta["kernel"]))
    L.append("- hmalloc %s, git %s, %s (sha256 %s)" % (
        meta["hm_version"], meta["git"], meta["lib_path"], meta["lib_sha"]))
    L.append("- peers: " + ", ".join("%s %s" % (a, v) for a, v in
                                     meta["versions"].items()))
    if meta["skipped"]:
        L.append("- skipped (library missing): " + ", ".join(meta["skipped"]))
    L.append("- %d runs of each workload under each allocator (scale %g), "
             "allocators interleaved within a round; figures are medians; "
             "total %.0f s" % (meta["runs"], meta["scale"], meta["elapsed"]))
    L.append("- ratio = hmalloc / best peer (below 1: hmalloc is better); "
             "geomean vs glibc = geometric mean over the workloads of each "
             "allocator's figure divided by glibc's")
    L.append("")

    def table(title, key, fmt, unit):
        L.append("## %s" % title)
        L.append("")
        L.append("| workload | " + " | ".join(allocs) +
                 " | best peer | ratio |")
        L.append("| --- | " + " | ".join("---:" for _ in allocs) +
                 " | --- | ---: |")
        ratios = []
        per_alloc = {a: [] for a in allocs}
        for w in names:
            cells = []
            for a in allocs:
                cells.append(fmt(med[(w, a)][key]) if (w, a) in med else "—")
                if (w, a) in med and (w, "glibc") in med \
                        and med[(w, "glibc")][key]:
                    per_alloc[a].append(med[(w, a)][key] /
                                        med[(w, "glibc")][key])
            bv, ba = best_peer(med, w, peers, key)
            r = None
            if bv and (w, "hmalloc") in med:
                r = med[(w, "hmalloc")][key] / bv
                ratios.append(r)
            mark = " **" if r is not None and r > 1.25 else ""
            L.append("| %s | %s | %s | %s%s%s |" % (
                w, " | ".join(cells), ba or "—", mark.strip(), fmt_r(r),
                mark[::-1].strip()))
        gm = [geomean(per_alloc[a]) for a in allocs]
        L.append("| *geomean vs glibc* | " +
                 " | ".join(fmt_r(g) for g in gm) + " | | %s |" %
                 fmt_r(geomean(ratios)))
        L.append("")
        L.append("%s. Ratios above 1.25 are in bold." % unit)
        L.append("")
        return ratios

    table("Wall time (s)", "wall", fmt_t, "Median wall-clock seconds")
    table("Peak RSS (MiB)", "maxrss_kb", fmt_mib,
          "Median peak resident set (ru_maxrss of the process)")

    scaling_lines(L, allocs, med)

    extra_keys = sorted({k for d in med.values() for k in d["extra"]})
    if extra_keys:
        L.append("## Figures the workloads report (MiB)")
        L.append("")
        L.append("| workload: figure | " + " | ".join(allocs) +
                 " | best peer | ratio |")
        L.append("| --- | " + " | ".join("---:" for _ in allocs) +
                 " | --- | ---: |")
        for w in names:
            for k in extra_keys:
                if not any((w, a) in med and k in med[(w, a)]["extra"]
                           for a in allocs):
                    continue
                vals = {a: med[(w, a)]["extra"].get(k) for a in allocs
                        if (w, a) in med}
                pv = [(vals[a], a) for a in peers if vals.get(a) is not None]
                bv, ba = min(pv) if pv else (None, None)
                r = vals["hmalloc"] / bv if bv and vals.get("hmalloc") \
                    is not None else None
                L.append("| %s: %s | %s | %s | %s |" % (
                    w, k[:-3], " | ".join(fmt_mib(vals.get(a))
                                          for a in allocs), ba or "—",
                    fmt_r(r)))
        L.append("")

    L.append("## Kernel time and page faults")
    L.append("")
    L.append("Median system seconds / minor page faults (thousands): where "
             "an allocator returns memory too eagerly, both grow.")
    L.append("")
    L += header_rows("workload", allocs)
    for w in names:
        cells = []
        for a in allocs:
            d = med.get((w, a))
            cells.append("—" if d is None else "%.2f / %.0f" %
                         (d["stime"], d["minflt"] / 1000.0))
        L.append("| %s | %s |" % (w, " | ".join(cells)))
    L.append("")

    L += closing_lines(names, descr, runs, "alloc", " under ")
    if chart_files:
        L.append("## Chart")
        L.append("")
        L.append("hmalloc / best-peer median wall time per workload "
                 "(log scale; left of 1 is faster):")
        L.append("")
        for c in chart_files:
            L.append("![hmalloc / best peer](%s)" % c)
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def closing_lines(names, descr, runs, key, sep):
    """A report's last sections: the invalid runs, each named by its
    workload, sep and its key (allocator, variant), and the workloads."""
    bad = [r for r in runs if not r.get("valid")]
    L = ["## Invalid runs", ""]
    if not bad:
        L.append("None: every run exited 0 and printed the agreed checksum.")
    for r in bad:
        L.append("- %s%s%s, round %d: %s" % (
            r["workload"], sep, r[key], r["round"], r.get("error") or
            "checksum %s, expected %s" % (r["checksum"], r["expected"])))
    L += ["", "## Workloads", ""]
    for w in names:
        L.append("- **%s**: %s" % (w, descr[w]))
    return L + [""]


def ratios_for_chart(names, allocs, med):
    peers = [a for a in allocs if a != "hmalloc"]
    out = []
    for w in names:
        bv, ba = best_peer(med, w, peers, "wall")
        if bv and (w, "hmalloc") in med:
            out.append((w, med[(w, "hmalloc")]["wall"] / bv, ba))
    return out


def write_svg(path, rows):
    """A horizontal bar chart on a log2 axis, written by hand (no deps)."""
    if not rows:
        return False
    lo = min(0.25, min(r for _, r, _ in rows) / 1.2)
    hi = max(4.0, max(r for _, r, _ in rows) * 1.2)
    lg_lo, lg_hi = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    left, right, top, bar_h, gap = 150, 40, 50, 22, 8
    width = 760
    plot_w = width - left - right
    height = top + len(rows) * (bar_h + gap) + 50

    def x(v):
        return left + (math.log2(v) - lg_lo) / (lg_hi - lg_lo) * plot_w

    s = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="12">' % (width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15" font-weight="bold">hmalloc / '
         'best peer, median wall time (log scale)</text>' % left]
    for e in range(lg_lo, lg_hi + 1):
        v = 2.0 ** e
        xv = x(v)
        s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (
            xv, top - 5, xv, height - 40, "#333" if e == 0 else "#ddd"))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%g</text>' % (
            xv, height - 25, v))
    for i, (w, r, ba) in enumerate(rows):
        y = top + i * (bar_h + gap)
        x0, x1 = x(1.0), x(r)
        color = "#3a8f3a" if r <= 1.0 else ("#d08020" if r <= 1.25
                                             else "#c03030")
        s.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (
            left - 8, y + bar_h * 0.7, w))
        s.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" '
                 'fill="%s"/>' % (min(x0, x1), y, max(abs(x1 - x0), 1),
                                  bar_h, color))
        tx = max(x0, x1) + 4
        s.append('<text x="%.1f" y="%d">%.2f (vs %s)</text>' % (
            tx, y + bar_h * 0.7, r, ba))
    s.append('<text x="%d" y="%d" fill="#555">left of 1: hmalloc faster '
             'than every peer; right: slower than the best</text>' % (
                 left, height - 8))
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")
    return True


def write_png(path, rows):
    gp = shutil.which("gnuplot")
    if not gp or not rows:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        for i, (w, r, ba) in enumerate(rows):
            f.write('%d %g "%s"\n' % (i, r, w))
        data = f.name
    lo = min(0.25, min(r for _, r, _ in rows) / 1.3)
    hi = max(4, max(r for _, r, _ in rows) * 1.3)
    # Bars grow from 1 (up: slower than the best peer, down: faster), on a
    # log scale; green = faster, orange = within 25 %, red = slower.
    script = """
set terminal png size 900,520
set output '%s'
set termoption noenhanced
set title 'hmalloc / best peer, median wall time (below 1: hmalloc faster)'
set logscale y 2
set yrange [%g:%g]
set xrange [-0.6:%g]
set style fill solid 0.85 noborder
set xtics rotate by -40 scale 0
set grid ytics
unset key
set linetype 11 lc rgb '#3a8f3a'
set linetype 12 lc rgb '#d08020'
set linetype 13 lc rgb '#c03030'
plot '%s' using 1:(1):($1-0.35):($1+0.35):($2<1?$2:1):($2<1?1:$2):\\
     ($2<=1?11:($2<=1.25?12:13)):xtic(3) with boxxyerror lc variable, \\
     1 with lines lc rgb 'black'
""" % (path, lo, hi, len(rows) - 0.4, data)
    try:
        p = subprocess.run([gp], input=script, text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return p.returncode == 0 and os.path.exists(path)
    finally:
        os.unlink(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="built bench programs")
    ap.add_argument("--lib", required=True, help="libhmalloc.so to test")
    ap.add_argument("--runs", type=int,
                    default=int(os.environ.get("BENCH_RUNS") or 3))
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", ""))
    ap.add_argument("--scale", type=float,
                    default=float(os.environ.get("BENCH_SCALE") or 1))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    if not os.access(os.path.join(args.bin, "runone"), os.X_OK):
        sys.exit("run.py: %s/runone not built (make bench-progs)" % args.bin)
    lib = os.path.abspath(args.lib)
    if not os.path.exists(lib):
        sys.exit("run.py: %s: no such library (make lib)" % lib)
    # Runs use a private copy: a rebuild of the library during the suite
    # (another make in the same tree) must not mix two versions.
    with open(lib, "rb") as f:
        lib_sha = hashlib.sha256(f.read()).hexdigest()[:12]
    snapdir = tempfile.mkdtemp(prefix="hmbench-lib.")
    snap = os.path.join(snapdir, os.path.basename(lib))
    shutil.copy2(lib, snap)
    try:
        return run_suite(args, lib, snap, lib_sha)
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)


def run_suite(args, lib_path, lib, lib_sha):
    runone = os.path.join(args.bin, "runone")

    allocs, libs, versions, skipped = ["hmalloc"], {"hmalloc": lib}, {}, []
    for name, path, pkg in PEERS:
        if path and not os.path.exists(path):
            print("run.py: %s: %s missing, skipped (apt-get install %s)" %
                  (name, path, pkg), file=sys.stderr)
            skipped.append(name)
            continue
        allocs.append(name)
        libs[name] = path
        versions[name] = pkg_version(pkg)

    wl, names, descr = select_workloads(args.bin, args.scale, args.only,
                                        "run.py")

    os.makedirs(args.results, exist_ok=True)
    t0 = time.time()
    runs = run_rounds(wl, args.runs, lambda rnd: allocs,
                      lambda a, argv: run_once(runone, libs[a], argv,
                                               args.timeout), "alloc")

    mark_valid(runs, names, "alloc", "run.py")
    elapsed = time.time() - t0

    med = summarize(names, allocs, runs)
    rows = ratios_for_chart(names, allocs, med)
    charts = []
    if write_svg(os.path.join(args.results, "latest.svg"), rows):
        charts.append("latest.svg")
    if write_png(os.path.join(args.results, "latest.png"), rows):
        charts.append("latest.png")
    meta = dict(machine_meta(), **{
        "versions": versions, "skipped": skipped,
        "runs": args.runs, "scale": args.scale, "elapsed": elapsed,
        "libs": libs, "lib_path": lib_path, "lib_sha": lib_sha,
    })
    md = os.path.join(args.results, "latest.md")
    write_markdown(md, meta, names, descr, allocs, med, runs, charts)
    with open(os.path.join(args.results, "latest.json"), "w") as f:
        json.dump({"meta": meta, "runs": runs}, f, indent=1)
    return done("run.py", runs, elapsed,
                md + "".join(", " + c for c in charts))


if __name__ == "__main__":
    sys.exit(main())
