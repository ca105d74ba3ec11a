#!/usr/bin/env python3
"""bench/rss.py: resident memory over time, hmalloc against its peers.

Runs each RSS workload (bench/rss/: server, frag, prodcons, and python3
running bench/rss/burst.py) under hmalloc, glibc, jemalloc, jemalloc with
MALLOC_CONF=background_thread:true ("jemalloc+bg"), mimalloc and tcmalloc,
each preloaded by LD_PRELOAD on its default settings (the allocators'
environment variables are removed).  While a run lasts, a sampler reads
/proc/PID/smaps_rollup every --interval seconds (50 ms): Rss, and LazyFree
(pages given back with MADV_FREE, which stay in Rss until the kernel needs
them).  The figure that counts is Rss - LazyFree; plain Rss is kept too.

The workloads alternate bursts of allocation with idle periods in which no
thread calls the allocator (the threads wait on a barrier, the main thread
sleeps); they print marks (@idle_begin/@idle_end, see bench/rss/rss.h) on
the CLOCK_MONOTONIC clock the sampler uses, so the samples taken while a
program idles are known, and a checksum of the data they wrote and read
back: a run whose checksum differs from the one most runs agree on, or that
fails, is invalid, left out and listed.

Writes, in --results:
  rss.md                 per workload and allocator: peak, mean, RSS at the
                         end of the idle periods, how much came back during
                         the last idle and how fast, wall time; hmalloc's
                         ratios to jemalloc
  rss/<workload>.json    every run: marks and samples
                         ([seconds, Rss KiB, LazyFree KiB])
  rss/<workload>.png     chart: every allocator's curve; under it, each
  rss/<workload>.svg     allocator's idle periods (when gnuplot is there)

Usage: rss.py --bin DIR --lib LIBHMALLOC [--runs N] [--only a,b]
              [--scale X] [--idle S] [--final-idle S] [--interval S]
              [--results DIR] [--timeout S]
       rss.py --replot [--results DIR]
With --runs N the figures are medians of N runs, and the chart shows the
run whose RSS after the last idle is the median.  --replot runs nothing:
it writes rss.md and the charts again from the JSON files.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402  (bench/run.py: versions, machine, git)

SYSLIB = run.SYSLIB
JEMALLOC = SYSLIB + "/libjemalloc.so.2"

# name -> (library to preload or "" for none, extra environment, package)
PEERS = [
    ("glibc", "", {}, "libc6"),
    ("jemalloc", JEMALLOC, {}, "libjemalloc2"),
    ("jemalloc+bg", JEMALLOC, {"MALLOC_CONF": "background_thread:true"},
     "libjemalloc2"),
    ("mimalloc", SYSLIB + "/libmimalloc.so.2", {}, "libmimalloc2.0"),
    ("tcmalloc", SYSLIB + "/libtcmalloc_minimal.so.4", {},
     "libtcmalloc-minimal4"),
]

# Line colours and styles of the chart, one per allocator.
STYLE = {
    "hmalloc": ("#d62728", 3.0, 1),
    "glibc": ("#7f7f7f", 2.0, 1),
    "jemalloc": ("#1f77b4", 2.0, 1),
    "jemalloc+bg": ("#17becf", 2.0, 2),
    "mimalloc": ("#2ca02c", 2.0, 1),
    "tcmalloc": ("#9467bd", 2.0, 1),
}

# Environment variables that would change an allocator's settings.
ENV_DROP = re.compile(r"^(LD_PRELOAD|MALLOC_.*|HMALLOC_.*|JE_MALLOC_CONF|"
                      r"MIMALLOC_.*|TCMALLOC_.*|GLIBC_TUNABLES|PYTHONMALLOC)$")


def workloads(bindir, scale, idle, final):
    """(name, argv, description); argv None when a program is missing."""
    tail = ["%g" % scale, "%g" % idle, "%g" % final]
    b = lambda prog: os.path.join(bindir, "rss", prog)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
        else shutil.which("python3")
    return [
        ("server", [b("server")] + tail,
         "2 worker threads serve requests (buffers of 16 B - 256 KiB freed "
         "when the request ends; responses kept in a session cache that "
         "grows to about 200 MiB); then the cache is dropped but for 1 "
         "entry in 50 and the process idles; 3 cycles"),
        ("frag", [b("frag")] + tail,
         "1 thread: about 300 MiB of mostly small objects (16 B - 64 KiB), "
         "90 % freed in random order, idle; then 150 MiB of larger ones "
         "(1 - 256 KiB), 90 % freed, idle"),
        ("prodcons", [b("prodcons")] + tail,
         "2 producer/consumer pairs: messages of 64 B - 64 KiB malloc'd by "
         "the producer, freed by the consumer, which keeps a window of "
         "20,000 (about 130 MiB in all); the window is freed at the end of "
         "each of 3 waves, then the process idles"),
        ("python3", [python, os.path.join(HERE, "rss", "burst.py")] + tail
         if python else None,
         "python3 (bench/rss/burst.py): strings, dicts, lists and "
         "bytearrays, about 200 MiB per burst, dropped but for a 1 % "
         "remnant, then time.sleep; 3 cycles"),
    ]


def read_rollup(pid):
    """(Rss KiB, LazyFree KiB) of pid, or None once it is gone."""
    try:
        fd = os.open("/proc/%d/smaps_rollup" % pid, os.O_RDONLY)
    except OSError:
        return None
    try:
        data = b""
        while True:
            chunk = os.read(fd, 8192)
            if not chunk:
                break
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    rss = lazy = None
    for line in data.split(b"\n"):
        if line.startswith(b"Rss:"):
            rss = int(line.split()[1])
        elif line.startswith(b"LazyFree:"):
            lazy = int(line.split()[1])
    if rss is None:
        return None
    return rss, lazy or 0


def child_env(lib, extra):
    env = {k: v for k, v in os.environ.items() if not ENV_DROP.match(k)}
    env["PYTHONHASHSEED"] = "0"
    if lib:
        env["LD_PRELOAD"] = lib
    env.update(extra)
    return env


def run_once(argv, lib, extra_env, interval, timeout):
    """Runs argv, sampling its memory; returns the raw record."""
    lines, errs = [], []
    done = threading.Event()
    res = {}
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=child_env(lib, extra_env), start_new_session=True)

    def read_out():
        for line in p.stdout:
            lines.append(line.decode(errors="replace").rstrip("\n"))

    def read_err():
        for line in p.stderr:
            errs.append(line.decode(errors="replace").rstrip("\n"))

    def wait():
        _, status, ru = os.wait4(p.pid, 0)
        res["t_end"] = time.monotonic()
        res["status"] = status
        res["ru"] = ru
        done.set()

    threads = [threading.Thread(target=f, daemon=True)
               for f in (read_out, read_err, wait)]
    for t in threads:
        t.start()
    samples = []
    timed_out = False
    next_t = t0
    while not done.is_set():
        now = time.monotonic()
        r = read_rollup(p.pid)
        if r is not None and not done.is_set():
            samples.append([round(now - t0, 4), r[0], r[1]])
        if now - t0 > timeout and not timed_out:
            timed_out = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        next_t += interval
        if next_t < time.monotonic():
            next_t = time.monotonic() + interval / 2
        done.wait(max(0.0, next_t - time.monotonic()))
    for t in threads:
        t.join(5)
    status = res["status"]
    p.returncode = os.waitstatus_to_exitcode(status)
    try:
        os.killpg(p.pid, signal.SIGKILL)  # anything it left behind
    except OSError:
        pass
    p.stdout.close()
    p.stderr.close()

    rec = {"wall": res["t_end"] - t0, "maxrss_kb": res["ru"].ru_maxrss,
           "utime": res["ru"].ru_utime, "stime": res["ru"].ru_stime,
           "minflt": res["ru"].ru_minflt, "samples": samples}
    if timed_out:
        rec["status"] = "timeout"
    elif os.WIFEXITED(status):
        rec["status"] = "exit:%d" % os.WEXITSTATUS(status)
    else:
        rec["status"] = "signal:%d" % os.WTERMSIG(status)
    marks, idles, checksum, other = [], [], None, []
    open_idle = None
    for line in lines:
        f = line.split()
        try:
            if f and f[0] == "@mark" and len(f) == 3:
                marks.append([f[1], float(f[2]) - t0])
            elif f and f[0] == "@idle_begin" and len(f) == 4:
                open_idle = {"begin": float(f[1]) - t0,
                             "seconds": float(f[2]), "live": int(f[3])}
            elif f and f[0] == "@idle_end" and open_idle is not None:
                open_idle["end"] = float(f[1]) - t0
                idles.append(open_idle)
                open_idle = None
            elif line.startswith("checksum="):
                checksum = line.split("=", 1)[1].strip().lower()
            else:
                other.append(line)
        except ValueError:
            other.append(line)
    rec.update(marks=marks, idles=idles, checksum=checksum, output=other)
    if rec["status"] != "exit:0" or checksum is None or not idles:
        rec["error"] = ("; ".join(errs)[-300:] or
                        "status %s, checksum %s, %d idle periods" % (
                            rec["status"], checksum, len(idles)))
    return rec


def eff(s):
    """Rss - LazyFree of a sample, KiB."""
    return s[1] - s[2]


def idle_figures(samples, idle):
    """RSS at the start and the end of an idle period, and when 90 % of
    what came back during it had come back."""
    inside = [s for s in samples if idle["begin"] <= s[0] <= idle["end"]]
    if not inside:
        return None
    start, end = eff(inside[0]), eff(inside[-1])
    d = {"start_kb": start, "end_kb": end, "end_rss_kb": inside[-1][1],
         "returned_kb": max(0, start - end), "t90": None}
    # Still coming back in the last second: the figure is not settled.
    last_s = [x for x in inside if x[0] >= inside[-1][0] - 1.0]
    d["falling"] = eff(last_s[0]) - end >= max(1024, 0.02 * start)
    # Only a drop worth the name (1 MiB and 5 % of the start) gets a time.
    if start - end >= max(1024, 0.05 * start):
        goal = end + 0.1 * (start - end)
        for s in inside:
            if eff(s) <= goal:
                d["t90"] = s[0] - idle["begin"]
                break
    return d


def figures(rec):
    """The figures of the report, from one valid run."""
    s = rec["samples"]
    d = {"wall": rec["wall"], "maxrss_kb": rec["maxrss_kb"],
         "peak_kb": max(x[1] for x in s), "mean_kb":
         sum(eff(x) for x in s) / len(s),
         "max_lazy_kb": max(x[2] for x in s)}
    last = idle_figures(s, rec["idles"][-1])
    d.update({"final_" + k: v for k, v in (last or {}).items()})
    d["final_live_kb"] = rec["idles"][-1]["live"] / 1024.0
    d["final_seconds"] = rec["idles"][-1]["seconds"]
    if len(rec["idles"]) > 1:
        prev = idle_figures(s, rec["idles"][-2])
        if prev:
            d["short_end_kb"] = prev["end_kb"]
            d["short_seconds"] = rec["idles"][-2]["seconds"]
    return d


def median_figures(recs):
    figs = [r["figures"] for r in recs]
    out = {"n": len(figs)}
    for k in figs[0]:
        vals = [f[k] for f in figs if f.get(k) is not None]
        if vals and all(isinstance(v, (int, float)) for v in vals):
            out[k] = statistics.median(vals)
    # The run charted: the one whose RSS after the last idle is closest to
    # the median.
    m = out.get("final_end_kb")
    rep = min(recs, key=lambda r: abs((r["figures"].get("final_end_kb") or 0)
                                      - (m or 0)))
    return out, rep


def mib(kb):
    return "—" if kb is None else "%.1f" % (kb / 1024.0)


def ratio(a, b):
    return "—" if a is None or not b else "%.2f" % (a / b)


def gp_quote(s):
    return "'" + s.replace("'", "''") + "'"


def write_chart(path_base, name, descr, allocs, reps, med, interval):
    """rss/<name>.png and .svg by gnuplot; returns the files written."""
    gp = shutil.which("gnuplot")
    if not gp:
        return []
    shown = [a for a in allocs if a in reps]
    if not shown:
        return []
    tmp = tempfile.mkdtemp(prefix="hmrss.")
    try:
        data = os.path.join(tmp, "rss.dat")
        idl = os.path.join(tmp, "idle.dat")
        with open(data, "w") as f:
            for a in shown:
                f.write("# %s\n" % a)
                for s in reps[a]["samples"]:
                    f.write("%.3f %.2f %.2f\n" % (s[0], eff(s) / 1024.0,
                                                 s[1] / 1024.0))
                f.write("\n\n")
        with open(idl, "w") as f:
            for i, a in enumerate(shown):
                colour = int(STYLE.get(a, ("#000000",))[0][1:], 16)
                for it in reps[a]["idles"]:
                    f.write("%.3f %.3f %d %d\n" % (it["begin"], it["end"], i,
                                                  colour))
        xmax = max(reps[a]["samples"][-1][0] for a in shown)
        xmax = max(xmax, max(reps[a]["wall"] for a in shown)) * 1.01
        ymax = max(max(s[1] for s in reps[a]["samples"]) for a in shown)
        ymax = ymax / 1024.0 * 1.08
        live = [med[a].get("final_live_kb") for a in shown
                if med[a].get("final_live_kb")]
        live = max(live) / 1024.0 if live else 0
        plots = []
        for i, a in enumerate(shown):
            c, lw, dt = STYLE.get(a, ("#000000", 2.0, 1))
            plots.append("%s index %d using 1:2 with lines lw %g dt %d "
                         "lc rgb '%s' title %s" % (gp_quote(data), i, lw, dt,
                                                   c, gp_quote(a)))
        # Plain Rss, where MADV_FREE'd pages make it differ.
        for i, a in enumerate(shown):
            if med[a].get("max_lazy_kb", 0) >= 1024:
                c = STYLE.get(a, ("#000000",))[0]
                plots.append("%s index %d using 1:3 with lines lw 1 dt 3 "
                             "lc rgb '%s' title %s" % (
                                 gp_quote(data), i, c,
                                 gp_quote(a + ": Rss incl. LazyFree")))
        if live >= 1:
            plots.append("%g with lines lw 1 dt 4 lc rgb '#000000' title %s"
                         % (live, gp_quote("live data, last idle "
                                           "(%.0f MiB)" % live)))
        files = []
        for term, ext in (("pngcairo size 1280,760 font 'Sans,11'", "png"),
                          ("svg size 1280,760 font 'Sans,11' "
                           "background rgb 'white'", "svg")):
            out = "%s.%s" % (path_base, ext)
            ytics = ", ".join("%s %d" % (gp_quote(a), i)
                              for i, a in enumerate(shown))
            script = """
set terminal %(term)s noenhanced
set output %(out)s
set multiplot
set lmargin at screen 0.09
set rmargin at screen 0.73
set tmargin at screen 0.91
set bmargin at screen 0.34
set title %(title)s
set ylabel 'RSS - LazyFree (MiB)'
set xrange [0:%(xmax)g]
set yrange [0:%(ymax)g]
set format x ''
set grid xtics ytics
set key at screen 0.745, screen 0.91 left top vertical Left reverse box spacing 1.2 width -2
plot %(plots)s
unset title
set tmargin at screen 0.31
set bmargin at screen 0.09
set xlabel 'time since start (s)'
set ylabel 'idle periods'
set yrange [-0.6:%(nrow)g] reverse
set ytics (%(ytics)s)
set format x '%%g'
set grid xtics noytics
unset key
set style fill solid 0.7 noborder
plot %(idl)s using (($1+$2)/2):3:(($2-$1)/2):(0.32):4 with boxxyerror lc rgb variable notitle
unset multiplot
""" % {"term": term, "out": gp_quote(out),
                "title": gp_quote("%s: resident memory over time (Rss - "
                                  "LazyFree, sampled every %g ms)" % (
                                      name, interval * 1000)),
                "xmax": xmax, "ymax": ymax, "plots": ", \\\n  ".join(plots),
                "nrow": len(shown) - 0.4, "ytics": ytics,
                "idl": gp_quote(idl)}
            p = subprocess.run([gp], input=script, text=True,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
            if p.returncode == 0 and os.path.exists(out):
                files.append(out)
            else:
                print("rss.py: gnuplot failed for %s: %s" % (
                    out, p.stderr.strip()[-500:]), file=sys.stderr)
        return files
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_markdown(path, meta, wl, allocs, med, runs, charts):
    L = []
    L.append("# hmalloc: resident memory over time")
    L.append("")
    L.append("Written by `make bench-rss` (bench/rss.py) on %s." %
             meta["date"])
    L.append("")
    L.append("- machine: %s, %d CPUs, Linux %s" %
             (meta["cpu"], meta["ncpus"], meta["kernel"]))
    L.append("- hmalloc %s, git %s, %s (sha256 %s), default settings" % (
                 meta["hm_version"], meta["git"], meta["lib_path"],
                 meta["lib_sha"]))
    L.append("- peers, each on its defaults: " + ", ".join(
        "%s %s" % (a, v) for a, v in meta["versions"].items()) +
        "; jemalloc+bg is jemalloc with "
        "`MALLOC_CONF=background_thread:true`")
    if meta["skipped"]:
        L.append("- skipped (library missing): " + ", ".join(meta["skipped"]))
    L.append("- %d run(s) of each workload under each allocator (scale %g); "
             "%s; total %.0f s" % (
                 meta["runs"], meta["scale"],
                 "figures are medians, the charts show the median run"
                 if meta["runs"] > 1 else "one run each",
                 meta["elapsed"]))
    L.append("- RSS is Rss - LazyFree from /proc/PID/smaps_rollup, sampled "
             "every %g ms (pages freed with MADV_FREE count as given back; "
             "plain Rss is in the JSON, and in the tables where it differs)"
             % (meta["interval"] * 1000))
    L.append("- idle: no thread calls the allocator (workers wait on a "
             "barrier, the main thread sleeps); the idle periods last %g s, "
             "the last one %g s" % (meta["idle"], meta["final_idle"]))
    L.append("")
    L.append("## hmalloc / jemalloc")
    L.append("")
    L.append("| workload | peak: hmalloc | jemalloc | ratio | "
             "after last idle: hmalloc | jemalloc | ratio | jemalloc+bg | "
             "ratio |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _, _ in wl:
        h = med.get((name, "hmalloc"), {})
        j = med.get((name, "jemalloc"), {})
        jb = med.get((name, "jemalloc+bg"), {})
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, mib(h.get("peak_kb")), mib(j.get("peak_kb")),
            ratio(h.get("peak_kb"), j.get("peak_kb")),
            mib(h.get("final_end_kb")), mib(j.get("final_end_kb")),
            ratio(h.get("final_end_kb"), j.get("final_end_kb")),
            mib(jb.get("final_end_kb")),
            ratio(h.get("final_end_kb"), jb.get("final_end_kb"))))
    L.append("")
    L.append("MiB; ratio = hmalloc / jemalloc (below 1: hmalloc holds less). "
             "Peak is the highest sampled Rss; after last idle is "
             "Rss - LazyFree at the last sample of the last idle period.")
    L.append("")

    for name, _, descr in wl:
        L.append("## %s" % name)
        L.append("")
        L.append(descr + ".")
        live = [med[(name, a)].get("final_live_kb") for a in allocs
                if (name, a) in med]
        if live and live[0] is not None:
            L.append("The program holds %.1f MiB (requested bytes) during "
                     "the last idle." % (live[0] / 1024.0))
        L.append("")
        L.append("| allocator | peak | mean | end of a %g s idle | "
                 "last idle (%g s): start | end | Rss at end | came back | "
                 "90 %% of it by | wall (s) |" % (
                     meta["idle"], meta["final_idle"]))
        L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                 "---: | ---: |")
        for a in allocs:
            d = med.get((name, a))
            if d is None:
                L.append("| %s | invalid | | | | | | | | |" % a)
                continue
            t90 = d.get("final_t90")
            back = d.get("final_returned_kb")
            falling = d.get("final_falling", 0) >= 0.5
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %.2f |"
                     % ("**%s**" % a if a == "hmalloc" else a,
                        mib(d.get("peak_kb")), mib(d.get("mean_kb")),
                        mib(d.get("short_end_kb")),
                        mib(d.get("final_start_kb")),
                        mib(d.get("final_end_kb")) +
                        (" ↓" if falling else ""),
                        mib(d.get("final_end_rss_kb")),
                        mib(back),
                        "—" if t90 is None else "%.1f s" % t90,
                        d["wall"]))
        L.append("")
        if name in charts:
            for c in charts[name]:
                if c.endswith(".png"):
                    L.append("![%s](%s)" % (name, c))
            L.append("")
    L.append("Columns: MiB unless marked. *peak*: highest sampled Rss. "
             "*mean*: mean Rss - LazyFree over the run. *end of a %g s "
             "idle*: at the end of the idle period before the last. *last "
             "idle*: Rss - LazyFree at its first and last samples; *Rss at "
             "end*: plain Rss there (MADV_FREE'd pages included). *came "
             "back*: start - end; *90 %% of it by*: seconds into the idle "
             "period when 90 %% of that had come back (— when less than "
             "1 MiB and 5 %% came back). ↓: still falling in the last "
             "second of the idle period (by 1 MiB and 2 %% or more), so "
             "more would have come back in a longer one." % meta["idle"])
    L.append("")
    bad = [r for r in runs if not r.get("valid")]
    L.append("## Invalid runs")
    L.append("")
    if not bad:
        L.append("None: every run exited 0, idled as planned and printed "
                 "the agreed checksum.")
    for r in bad:
        L.append("- %s under %s, round %d: %s" % (
            r["workload"], r["alloc"], r["round"], r.get("error") or
            "checksum %s, expected %s" % (r["checksum"], r["expected"])))
    L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", help="built bench programs")
    ap.add_argument("--lib", help="libhmalloc.so to test")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--idle", type=float, default=3.0,
                    help="seconds of each idle period but the last")
    ap.add_argument("--final-idle", type=float, default=6.0,
                    help="seconds of the last idle period")
    ap.add_argument("--interval", type=float, default=0.05,
                    help="sampling period, seconds")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--replot", action="store_true",
                    help="run nothing: rewrite rss.md and the charts from "
                    "the JSON files of the last run")
    args = ap.parse_args()
    if args.replot:
        return replot(args.results)
    if not args.bin or not args.lib:
        ap.error("--bin and --lib are required (or --replot)")

    lib = os.path.abspath(args.lib)
    if not os.path.exists(lib):
        sys.exit("rss.py: %s: no such library (make lib)" % lib)
    # A private copy, as in run.py: a rebuild during the runs must not mix
    # two versions.
    with open(lib, "rb") as f:
        lib_sha = hashlib.sha256(f.read()).hexdigest()[:12]
    snapdir = tempfile.mkdtemp(prefix="hmrss-lib.")
    snap = os.path.join(snapdir, os.path.basename(lib))
    shutil.copy2(lib, snap)
    try:
        return run_suite(args, lib, snap, lib_sha)
    finally:
        shutil.rmtree(snapdir, ignore_errors=True)


def run_suite(args, lib_path, lib, lib_sha):
    allocs = ["hmalloc"]
    libs = {"hmalloc": (lib, {})}
    versions, skipped = {}, []
    for name, path, env, pkg in PEERS:
        if path and not os.path.exists(path):
            print("rss.py: %s: %s missing, skipped (apt-get install %s)" %
                  (name, path, pkg), file=sys.stderr)
            skipped.append(name)
            continue
        allocs.append(name)
        libs[name] = (path, env)
        if name != "jemalloc+bg":
            versions[name] = run.pkg_version(pkg)

    wl = workloads(os.path.abspath(args.bin), args.scale, args.idle,
                   args.final_idle)
    only = [x for x in re.split(r"[,\s]+", args.only or "") if x]
    if only:
        known = {w[0] for w in wl}
        for x in only:
            if x not in known:
                sys.exit("rss.py: unknown workload %s (known: %s)" %
                         (x, ", ".join(sorted(known))))
        wl = [w for w in wl if w[0] in only]
    for name, argv, _ in wl:
        if argv is None:
            print("rss.py: %s: program missing, skipped" % name,
                  file=sys.stderr)
        elif not os.access(argv[0], os.X_OK):
            sys.exit("rss.py: %s not built (make bench-rss builds it)" %
                     argv[0])
    wl = [w for w in wl if w[1] is not None]

    t0 = time.time()
    runs = []
    total = args.runs * len(wl) * len(allocs)
    k = 0
    for rnd in range(args.runs):
        for wi, (name, argv, _) in enumerate(wl):
            shift = (rnd + wi) % len(allocs)
            for a in allocs[shift:] + allocs[:shift]:
                k += 1
                path, env = libs[a]
                rec = run_once(argv, path, env, args.interval, args.timeout)
                rec.update(workload=name, alloc=a, round=rnd + 1)
                runs.append(rec)
                fin = idle_figures(rec["samples"], rec["idles"][-1]) \
                    if rec["idles"] else None
                print("[%3d/%d] %-9s %-12s %6.2f s  peak %7.1f MiB  "
                      "after idle %7.1f MiB  %s" % (
                          k, total, name, a, rec["wall"],
                          max([s[1] for s in rec["samples"]] or [0]) / 1024.,
                          (fin or {}).get("end_kb", 0) / 1024.,
                          rec.get("error", "") or rec["checksum"]),
                      flush=True)

    validate(wl, runs)
    elapsed = time.time() - t0

    meta = dict(run.machine_meta(), **{
        "versions": versions, "skipped": skipped,
        "runs": args.runs, "scale": args.scale, "elapsed": elapsed,
        "interval": args.interval, "idle": args.idle,
        "final_idle": args.final_idle, "lib_path": lib_path,
        "lib_sha": lib_sha,
        "libs": {a: {"preload": libs[a][0] if a != "hmalloc" else lib_path,
                     "env": libs[a][1]} for a in allocs},
    })

    return render(args.results, meta, wl, allocs, runs)


def replot(results):
    """Renders again from rss/<workload>.json."""
    meta, wl, allocs, runs = None, [], [], []
    names = [w[0] for w in workloads("", 1, 1, 1)]
    found = [os.path.splitext(f)[0] for f in
             os.listdir(os.path.join(results, "rss")) if f.endswith(".json")]
    for name in names + sorted(set(found) - set(names)):
        path = os.path.join(results, "rss", name + ".json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            d = json.load(f)
        meta = meta or d["meta"]
        wl.append((d["workload"], d["argv"], d["description"]))
        runs.extend(d["runs"])
        for r in d["runs"]:
            if r["alloc"] not in allocs:
                allocs.append(r["alloc"])
    if meta is None:
        sys.exit("rss.py: no %s/rss/*.json to plot" % results)
    order = list(meta.get("libs", {}))
    allocs.sort(key=lambda a: order.index(a) if a in order else len(order))
    for r in runs:
        r.pop("figures", None)
    validate(wl, runs)
    return render(results, meta, wl, allocs, runs)


def validate(wl, runs):
    """The checksum most runs of a workload agree on is the expected one;
    the figures of the valid runs (those with samples)."""
    run.mark_valid(runs, [name for name, _, _ in wl], "alloc", "rss.py")
    for r in runs:
        if r["valid"] and len(r["samples"]) == 0:
            r["valid"] = False
            print("rss.py: %s under %s: no samples: INVALID" % (
                r["workload"], r["alloc"]), file=sys.stderr)
        if r["valid"]:
            r["figures"] = figures(r)


def render(results, meta, wl, allocs, runs):
    """rss.md, rss/<workload>.json and the charts, from the runs."""
    outdir = os.path.join(results, "rss")
    os.makedirs(outdir, exist_ok=True)
    med, reps = {}, {}
    for name, _, _ in wl:
        for a in allocs:
            rs = [r for r in runs if r["workload"] == name
                  and r["alloc"] == a and r.get("valid")]
            if rs:
                med[(name, a)], reps[(name, a)] = median_figures(rs)

    charts = {}
    for name, argv, descr in wl:
        rp = {a: reps[(name, a)] for a in allocs if (name, a) in reps}
        md = {a: med[(name, a)] for a in allocs if (name, a) in med}
        files = write_chart(os.path.join(outdir, name), name, descr, allocs,
                            rp, md, meta["interval"])
        charts[name] = [os.path.relpath(f, results) for f in files]
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump({"meta": meta, "workload": name, "argv": argv,
                       "description": descr,
                       "sample_fields": ["seconds", "rss_kb", "lazyfree_kb"],
                       "medians": md,
                       "runs": [r for r in runs if r["workload"] == name]},
                      f, separators=(",", ":"))
    md_path = os.path.join(results, "rss.md")
    write_markdown(md_path, meta, wl, allocs, med, runs, charts)
    return run.done("rss.py", runs, meta["elapsed"], "%s, %s/*.json%s" % (
        md_path, outdir, ", *.png, *.svg" if any(charts.values()) else ""))


if __name__ == "__main__":
    sys.exit(main())
