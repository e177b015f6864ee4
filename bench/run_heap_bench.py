#!/usr/bin/python3
"""Heap-profiling overhead and memory benchmark for ppagent (issue 3).

Runs bench/malloc_churn (per thread: a window of live blocks; each operation frees a random
block and mallocs a new one of a random size from 16 B to 2 KiB) under heap profilers, each
compared with the same allocator without profiling:

  glibc             no profiler (glibc malloc)
  ppagent           LD_PRELOAD=libppagent.so, default PPROF_MEM_RATE (512 KiB), PPROF_CPU_HZ=0
  tcmalloc          LD_PRELOAD=libtcmalloc.so.4
  ppagent+tcmalloc  LD_PRELOAD=libppagent.so:libtcmalloc.so.4  (the agent forwards to tcmalloc)
  jemalloc          LD_PRELOAD=libjemalloc.so.2
  jemalloc-prof     same with MALLOC_CONF=prof:true,prof_final:true,prof_prefix:<tmp>/jeprof
  ppagent+jemalloc  LD_PRELOAD=libppagent.so:libjemalloc.so.2  (the agent forwards to jemalloc)
and, with fewer operations (--slow-ops) because they record every allocation:
  glibc-short       no profiler, the same operations as heaptrack
  heaptrack         heaptrack -o <tmp>/heaptrack PROGRAM ...          (vs glibc-short)
  tcmalloc-short    LD_PRELOAD=libtcmalloc.so.4
  gperftools-heap   LD_PRELOAD=libtcmalloc.so.4 HEAPPROFILE=<tmp>/gperf (vs tcmalloc-short)

for each thread count, in interleaved rounds (every round runs every configuration once, the
starting configuration rotating from round to round).  Each run's wall time is time.monotonic()
around the child, its CPU time is user+system from os.wait4 (which includes descendants the child
waited for: heaptrack's heaptrack_interpret process).  ppagent's heap profile is read with
`go tool pprof -raw` for its sample count and its estimate of the bytes allocated.

Then a memory table: one thread, a window of --rss-window live blocks (default 10^5) with every
allocation sampled (PPROF_MEM_RATE=1, jemalloc lg_prof_sample:0; gperftools records every
allocation anyway), the resident set measured by the workload itself while the window is full,
and the peak (ru_maxrss, which includes writing the profile at exit).  The difference to the same
allocator without profiling is the profiler's own memory for that many live samples.

This is a benchmark, not a test: it reports figures and never fails on them.  Target from the
issue: ppagent at the default rate <= 5% over the host's allocator, one thread and two.
Only the Python standard library is used.  Run with /usr/bin/python3.
"""

import argparse
import glob
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (LIBDIR, REPO, finish, PprofReader, clean_env, loadavg, machine_facts,  # noqa: E402
                      print_header, read_text, rotations, run_child, spread_pct)

WORKLOAD_NAME = "malloc_churn"
DEFAULT_TCMALLOC = os.path.join(LIBDIR, "libtcmalloc.so.4")
DEFAULT_JEMALLOC = os.path.join(LIBDIR, "libjemalloc.so.2")
TARGET_PCT = 5.0
SPEC_DEFAULT_RATE = 524288


class Config:
    def __init__(self, name, alloc, profiler=None, slow=False, mem_rate=None, every=False):
        self.name = name
        self.alloc = alloc          # "glibc", "tcmalloc", "jemalloc"
        self.profiler = profiler    # None, "ppagent", "heaptrack", "gperftools", "jemalloc"
        self.slow = slow            # runs --slow-ops operations (with its own baseline)
        self.mem_rate = mem_rate    # PPROF_MEM_RATE / jemalloc lg_prof_sample; None = default
        self.every = every          # records every allocation (memory table)


def base_of(cfg, configs):
    """The configuration with the same allocator, no profiler and the same operation count."""
    for c in configs:
        if c.profiler is None and c.alloc == cfg.alloc and c.slow == cfg.slow:
            return c
    raise KeyError("no baseline for %s" % cfg.name)


def speed_configs(have):
    cs = [Config("glibc", "glibc")]
    if have["ppagent"]:
        cs.append(Config("ppagent", "glibc", "ppagent"))
    if have["tcmalloc"]:
        cs.append(Config("tcmalloc", "tcmalloc"))
        if have["ppagent"]:
            cs.append(Config("ppagent+tcmalloc", "tcmalloc", "ppagent"))
    if have["jemalloc"]:
        cs.append(Config("jemalloc", "jemalloc"))
        if have["jemalloc-prof"]:
            cs.append(Config("jemalloc-prof", "jemalloc", "jemalloc"))
        if have["ppagent"]:
            cs.append(Config("ppagent+jemalloc", "jemalloc", "ppagent"))
    if have["heaptrack"]:
        cs.append(Config("glibc-short", "glibc", slow=True))
        cs.append(Config("heaptrack", "glibc", "heaptrack", slow=True))
    if have["gperftools"]:
        cs.append(Config("tcmalloc-short", "tcmalloc", slow=True))
        cs.append(Config("gperftools-heap", "tcmalloc", "gperftools", slow=True))
    return cs


def fixed_configs(speed):
    """Every configuration at the same (small) operation count: no separate short baselines."""
    out = []
    for c in speed:
        if c.slow and c.profiler is None:
            continue
        out.append(Config(c.name, c.alloc, c.profiler, False, c.mem_rate, c.every))
    return out


def rss_configs(have):
    cs = [Config("glibc", "glibc")]
    if have["ppagent"]:
        cs.append(Config("ppagent@1", "glibc", "ppagent", mem_rate=1, every=True))
        cs.append(Config("ppagent", "glibc", "ppagent"))
    if have["jemalloc"]:
        cs.append(Config("jemalloc", "jemalloc"))
        if have["jemalloc-prof"]:
            cs.append(Config("jemalloc-prof@1", "jemalloc", "jemalloc", mem_rate=1, every=True))
        if have["ppagent"]:
            cs.append(Config("ppagent@1+jemalloc", "jemalloc", "ppagent", mem_rate=1, every=True))
    if have["tcmalloc"]:
        cs.append(Config("tcmalloc", "tcmalloc"))
        if have["gperftools"]:
            cs.append(Config("gperftools-heap", "tcmalloc", "gperftools", every=True))
    return cs


def sampled_allocations(prof):
    """Undoes Go's unbiasing to estimate how many allocations were really sampled: a record with
    scaled count n and bytes b (average size a = b/n) was scaled by 1/(1-exp(-a/R))."""
    R = prof.period
    try:
        io = prof.types.index("alloc_objects/count")
        ib = prof.types.index("alloc_space/bytes")
    except ValueError:
        return None
    total = 0.0
    for rec in prof.records:
        n, b = rec[io], rec[ib]
        if n <= 0:
            continue
        total += n if not R or R <= 1 else n * -math.expm1(-(b / float(n)) / R)
    return int(round(total))


class RunFailed(Exception):
    """A configuration failed (crash, hang, no profile): reported, and not run again."""


class Bench:
    def __init__(self, args, paths, scratch, reader):
        self.args = args
        self.paths = paths
        self.scratch = scratch
        self.reader = reader
        self.failed = {}  # configuration name -> why (per series)

    def run_once(self, cfg, threads, ops, window):
        """Runs the workload once under cfg.  Returns a dict of figures."""
        p = self.paths
        env = clean_env()
        outdir = tempfile.mkdtemp(prefix="run-", dir=self.scratch)
        argv = [p["workload"], str(threads), str(ops), str(window)]
        preload = []
        if cfg.profiler == "ppagent":
            preload.append(p["agent"])
            env["PPROF_CPU_HZ"] = "0"
            env["PPROF_OUTPUT_DIR"] = outdir
            if cfg.mem_rate is not None:
                env["PPROF_MEM_RATE"] = str(cfg.mem_rate)
        if cfg.alloc == "tcmalloc":
            preload.append(p["tcmalloc"])
        elif cfg.alloc == "jemalloc":
            preload.append(p["jemalloc"])
        if preload:
            # The agent first: its malloc is the one the program binds to, and dlsym(RTLD_NEXT)
            # from the agent finds the allocator that follows it.
            env["LD_PRELOAD"] = ":".join(preload)
        if cfg.profiler == "gperftools":
            env["HEAPPROFILE"] = os.path.join(outdir, "gperf")
        elif cfg.profiler == "jemalloc":
            conf = "prof:true,prof_final:true,prof_prefix:%s" % os.path.join(outdir, "jeprof")
            if cfg.mem_rate == 1:
                conf += ",lg_prof_sample:0"
            env["MALLOC_CONF"] = conf
        elif cfg.profiler == "heaptrack":
            argv = [p["heaptrack"], "-o", os.path.join(outdir, "heaptrack")] + argv
        out_path = os.path.join(outdir, "stdout")
        err_path = os.path.join(outdir, "stderr")
        rc, wall, ru, pid = run_child(argv, env, outdir, out_path, err_path,
                                      timeout=self.args.timeout)
        stdout = read_text(out_path)
        stderr = read_text(err_path)
        if rc is None:
            raise RunFailed("still running after %.0f s (killed)" % self.args.timeout)
        if rc != 0:
            raise RunFailed("exited with %d; stderr: %s" % (rc, stderr[-500:]))
        m = re.search(r"^(threads=\S+ ops=\S+ window=\S+ allocs=(\d+) bytes=(\d+) checksum=\S+)$",
                      stdout, re.M)
        m2 = re.search(r"^rss_full_kib=(-?\d+)$", stdout, re.M)
        if not m or not m2:
            raise RunFailed("unexpected output: %r" % stdout[-500:])
        r = {
            "wall": wall,
            "cpu": ru.ru_utime + ru.ru_stime,
            "utime": ru.ru_utime,
            "stime": ru.ru_stime,
            "maxrss_kib": ru.ru_maxrss,
            "rss_full_kib": int(m2.group(1)),
            "result": m.group(1),
            "allocs": int(m.group(2)),
            "bytes": int(m.group(3)),
            "stderr": stderr[-2000:],
        }
        if cfg.profiler:
            try:
                r.update(self.profile_facts(cfg, outdir, pid, r))
            except RuntimeError as e:  # pprof could not read the profile
                if isinstance(e, RunFailed):
                    raise
                raise RunFailed(str(e))
        if self.args.keep:
            r["outdir"] = outdir
        else:
            shutil.rmtree(outdir, ignore_errors=True)
        return r

    def profile_facts(self, cfg, outdir, pid, r):
        """Checks that the profiler wrote its profile; for ppagent reads it with pprof."""
        if cfg.profiler == "ppagent":
            heap = os.path.join(outdir, "%s.%d.heap.pb.gz" % (WORKLOAD_NAME, pid))
            allocs = os.path.join(outdir, "%s.%d.allocs.pb.gz" % (WORKLOAD_NAME, pid))
            missing = [f for f in (heap, allocs) if not os.path.exists(f)]
            if missing:
                raise RunFailed("wrote no %s (files: %s); stderr: %s"
                                % (", ".join(os.path.basename(f) for f in missing),
                                   " ".join(sorted(os.listdir(outdir))), r["stderr"][-500:]))
            prof = self.reader.raw(heap)
            alloc_objects = prof.total("alloc_objects/count")
            alloc_space = prof.total("alloc_space/bytes")
            if alloc_space is None:
                raise RunFailed("no alloc_space/bytes in %s (types: %s)"
                                % (os.path.basename(heap), " ".join(prof.types)))
            return {"profile_bytes": os.path.getsize(heap) + os.path.getsize(allocs),
                    "samples": prof.samples, "period": prof.period,
                    "sampled": sampled_allocations(prof),
                    "alloc_objects": alloc_objects, "alloc_space": alloc_space}
        pattern = {"heaptrack": "heaptrack*", "gperftools": "gperf*.heap",
                   "jemalloc": "jeprof*.heap"}[cfg.profiler]
        files = glob.glob(os.path.join(outdir, pattern))
        if not files:
            raise RunFailed("wrote no %s (files: %s); stderr: %s"
                            % (pattern, " ".join(sorted(os.listdir(outdir))), r["stderr"][-500:]))
        return {"profile_bytes": sum(os.path.getsize(f) for f in files), "profile_files": len(files)}

    def series(self, label, configs, threads, ops_of, window, rounds, notes):
        """Runs every configuration `rounds` times, interleaved; returns {name: [run]}."""
        runs = {c.name: [] for c in configs}
        results = {}
        self.failed = {}
        for rnd, order in rotations(configs, rounds):
            for cfg in order:
                if cfg.name in self.failed:
                    continue
                ops = ops_of(cfg)
                try:
                    r = self.run_once(cfg, threads, ops, window)
                except RunFailed as e:
                    why = "%s threads=%d ops=%d window=%d: %s" % (cfg.name, threads, ops, window, e)
                    self.failed[cfg.name] = str(e)
                    notes.append("FAILED " + why)
                    print("  %s round=%d %-18s FAILED: %s" % (label, rnd + 1, cfg.name, e),
                          file=sys.stderr, flush=True)
                    continue
                r["ops"] = ops
                r["round"] = rnd
                results.setdefault(ops, set()).add(r["result"])
                runs[cfg.name].append(r)
                extra = ""
                if "samples" in r:
                    extra = "  %d records, ~%d sampled, alloc_space %.1f%% of real" % (
                        r["samples"], r["sampled"], 100.0 * r["alloc_space"] / r["bytes"])
                if label.startswith("rss"):
                    extra = "  rss %6.1f MiB  maxrss %6.1f MiB%s" % (
                        r["rss_full_kib"] / 1024.0, r["maxrss_kib"] / 1024.0, extra)
                print("  %s round=%d %-18s ops=%-9d wall %7.3fs  cpu %7.3fs%s" % (
                    label, rnd + 1, cfg.name, ops, r["wall"], r["cpu"], extra),
                    file=sys.stderr, flush=True)
        for ops, outs in results.items():
            if len(outs) != 1:
                notes.append("%s ops=%d: outputs differ between runs: %s" % (label, ops, sorted(outs)))
        return runs, dict(self.failed)


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def fixed_extras(configs, runs):
    """{name: median CPU seconds over the baseline} for the profiled configurations of the
    fixed-cost series: the profiler's per-process cost."""
    out = {}
    for cfg in configs:
        base = base_of(cfg, configs)
        if base is not cfg and runs[cfg.name] and runs[base.name]:
            out[cfg.name] = med(runs[cfg.name], "cpu") - med(runs[base.name], "cpu")
    return out


def print_speed_table(title, configs, runs, failed, threads, fixed=None):
    print("%s; %d runs per configuration, medians" % (title, max(len(v) for v in runs.values())))
    hdr = ("%-18s %-16s %9s %8s %8s %7s %9s %8s %8s %8s %7s %8s  %s"
           % ("configuration", "vs", "ops/thr", "wall s", "cpu s", "ns/op", "wall/base",
              "cpu/base", "rnd/base", "net/base", "+ns/op", "cpu sprd", "profile"))
    print(hdr)
    print("-" * len(hdr))
    for cfg in configs:
        rs = runs[cfg.name]
        base = base_of(cfg, configs)
        brs = runs[base.name]
        if not rs or not brs:
            print("%-18s FAILED: %s" % (cfg.name, failed.get(cfg.name) or
                                        "baseline %s failed" % base.name))
            continue
        ops = rs[0]["ops"]
        pairs = float(ops * threads) or 1.0
        wall, cpu = med(rs, "wall"), med(rs, "cpu")
        bwall, bcpu = med(brs, "wall"), med(brs, "cpu")
        line = "%-18s %-16s %9d %8.3f %8.3f %7.1f" % (
            cfg.name, "-" if base is cfg else base.name, ops, wall, cpu, 1e9 * cpu / pairs)
        if base is cfg:
            line += " %9s %8s %8s %8s %7s" % ("-", "-", "-", "-", "-")
        else:
            net = "-"
            if fixed and cfg.name in fixed:
                net = "%8.4f" % ((cpu - fixed[cfg.name]) / bcpu)
            line += " %9.4f %8.4f %8s %8s %7.1f" % (wall / bwall, cpu / bcpu,
                                                    round_ratio(rs, brs), net,
                                                    1e9 * (cpu - bcpu) / pairs)
        line += " %7.1f%%" % spread_pct([r["cpu"] for r in rs])
        if cfg.profiler == "ppagent":
            line += "  ~%d sampled, alloc_space %.1f%% of real, period %s" % (
                med(rs, "sampled"), statistics.median(100.0 * r["alloc_space"] / r["bytes"]
                                                      for r in rs), rs[0]["period"])
        elif cfg.profiler:
            line += "  %d file(s), %.0f KiB" % (rs[0]["profile_files"],
                                               med(rs, "profile_bytes") / 1024.0)
        if cfg.name in failed:
            line += "  (only %d runs: FAILED later, see NOTE)" % len(rs)
        print(line)
    print(flush=True)


def round_ratio(rs, brs):
    """Median over rounds of this round's CPU over the baseline's CPU in the same round (the two
    ran close together in time, so slow drifts in machine load cancel)."""
    by_round = {r["round"]: r["cpu"] for r in brs}
    ratios = [r["cpu"] / by_round[r["round"]] for r in rs
              if r["round"] in by_round and by_round[r["round"]] > 0]
    return ("%8.4f" % statistics.median(ratios)) if ratios else "-"


def print_rss_table(title, configs, runs, failed, live_blocks):
    print("%s; %d runs per configuration, medians" % (title, max(len(v) for v in runs.values())))
    hdr = ("%-20s %-10s %11s %9s %11s %11s %9s  %s"
           % ("configuration", "vs", "rss full MiB", "+MiB", "B/live blk", "maxrss MiB", "+MiB",
              "profile"))
    print(hdr)
    print("-" * len(hdr))
    for cfg in configs:
        rs = runs[cfg.name]
        base = base_of(cfg, configs)
        brs = runs[base.name]
        if not rs or not brs:
            print("%-20s FAILED: %s" % (cfg.name, failed.get(cfg.name) or
                                        "baseline %s failed" % base.name))
            continue
        rss, maxrss = med(rs, "rss_full_kib"), med(rs, "maxrss_kib")
        line = "%-20s %-10s %11.1f" % (cfg.name, "-" if base is cfg else base.name, rss / 1024.0)
        if base is cfg:
            line += " %9s %11s %11.1f %9s" % ("-", "-", maxrss / 1024.0, "-")
        else:
            d = rss - med(brs, "rss_full_kib")
            line += " %+9.1f %11s %11.1f %+9.1f" % (
                d / 1024.0, ("%.0f" % (d * 1024.0 / live_blocks)) if cfg.every else "-",
                maxrss / 1024.0, (maxrss - med(brs, "maxrss_kib")) / 1024.0)
        if cfg.profiler == "ppagent":
            line += "  ~%d sampled allocations%s" % (
                med(rs, "sampled"), " (all)" if cfg.mem_rate == 1 else "")
        elif cfg.profiler:
            line += "  %d file(s), %.0f KiB" % (rs[0]["profile_files"],
                                               med(rs, "profile_bytes") / 1024.0)
        if cfg.name in failed:
            line += "  (only %d runs: FAILED later, see NOTE)" % len(rs)
        print(line)
    print(flush=True)


def millions(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of millions, e.g. 10 or 0.5")
    if v < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return int(round(v * 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                    help="meson build directory (default: %(default)s)")
    ap.add_argument("--workload", help="workload binary (default: BUILD_DIR/bench/malloc_churn)")
    ap.add_argument("--agent", help="ppagent library (default: BUILD_DIR/agent/libppagent.so)")
    ap.add_argument("--tcmalloc", default=DEFAULT_TCMALLOC, help="(default: %(default)s)")
    ap.add_argument("--jemalloc", default=DEFAULT_JEMALLOC, help="(default: %(default)s)")
    ap.add_argument("--heaptrack", default=shutil.which("heaptrack") or "/usr/bin/heaptrack",
                    help="(default: %(default)s)")
    ap.add_argument("--go", default=shutil.which("go") or "go", help="go command for `go tool pprof`")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default: %(default)s)")
    ap.add_argument("--ops", type=millions, default=10000000,
                    help="malloc/free pairs per thread, in millions (default: 10)")
    ap.add_argument("--slow-ops", type=millions, default=1000000,
                    help="pairs per thread, in millions, for heaptrack and gperftools-heap and "
                         "their baselines (default: 1)")
    ap.add_argument("--window", type=int, default=1000,
                    help="live blocks per thread in the speed runs (default: %(default)s)")
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated thread counts (default: %(default)s)")
    ap.add_argument("--fixed-ops", type=millions, default=10000,
                    help="also run every configuration with 1 thread and this few pairs, in "
                         "millions, to show the fixed (start-up and exit) cost; 0 to skip "
                         "(default: 0.01)")
    ap.add_argument("--rss-window", type=int, default=100000,
                    help="live blocks in the memory table; 0 to skip it (default: %(default)s)")
    ap.add_argument("--rss-rounds", type=int, default=3, help="(default: %(default)s)")
    ap.add_argument("--only", default="",
                    help="comma-separated profilers besides the baselines "
                         "(ppagent,heaptrack,gperftools,jemalloc; default: all)")
    ap.add_argument("--timeout", type=float, default=120,
                    help="seconds before a run is killed and its configuration reported as "
                         "FAILED (default: %(default)s)")
    ap.add_argument("--json", help="also write all per-run figures to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the profiles (prints the directory)")
    args = ap.parse_args()

    if args.rounds < 1 or args.rss_rounds < 1 or args.ops < 1 or args.slow_ops < 1 \
            or args.window < 1 or args.rss_window < 0:
        ap.error("--rounds, --rss-rounds, --ops, --slow-ops and --window must be positive")
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        ap.error("--threads takes comma-separated integers")
    all_profilers = {"ppagent", "heaptrack", "gperftools", "jemalloc"}
    only = set(x.strip() for x in args.only.split(",") if x.strip()) or all_profilers
    if only - all_profilers:
        ap.error("--only: unknown profiler(s): %s" % ", ".join(sorted(only - all_profilers)))

    build_dir = os.path.abspath(args.build_dir)
    paths = {
        "workload": os.path.abspath(args.workload or os.path.join(build_dir, "bench", WORKLOAD_NAME)),
        "agent": os.path.abspath(args.agent or os.path.join(build_dir, "agent", "libppagent.so")),
        "tcmalloc": args.tcmalloc, "jemalloc": args.jemalloc, "heaptrack": args.heaptrack,
    }
    if not os.access(paths["workload"], os.X_OK):
        sys.exit("run_heap_bench: workload %s not found; build it with `ninja -C %s`"
                 % (paths["workload"], build_dir))

    notes = []
    have = {}
    # Allocators are needed for their baselines even when their profiler is left out.
    for key, needed_by in (("tcmalloc", "tcmalloc rows"), ("jemalloc", "jemalloc rows")):
        have[key] = os.path.exists(paths[key])
        if not have[key]:
            notes.append("%s SKIPPED: %s does not exist (Debian: %s)" % (
                needed_by, paths[key],
                "libgoogle-perftools-dev" if key == "tcmalloc" else "libjemalloc2"))
    have["ppagent"] = "ppagent" in only and os.path.exists(paths["agent"])
    if "ppagent" in only and not have["ppagent"]:
        notes.append("ppagent rows SKIPPED: %s does not exist" % paths["agent"])
    have["heaptrack"] = "heaptrack" in only and os.access(paths["heaptrack"], os.X_OK)
    if "heaptrack" in only and not have["heaptrack"]:
        notes.append("heaptrack rows SKIPPED: %s not found (Debian: heaptrack)" % paths["heaptrack"])
    have["gperftools"] = "gperftools" in only and have["tcmalloc"]
    have["jemalloc-prof"] = "jemalloc" in only and have["jemalloc"]

    speed = speed_configs(have)
    rss = rss_configs(have)

    scratch = tempfile.mkdtemp(prefix="ppagent-heap-bench-")
    reader = PprofReader(args.go, scratch)
    bench = Bench(args, paths, scratch, reader)

    facts = machine_facts()
    print_header(facts)
    print("workload: %s THREADS OPS WINDOW: threads {%s}, %d pairs/thread (%d for heaptrack and "
          "gperftools-heap), window %d live blocks/thread, sizes 16..2048 B uniform"
          % (paths["workload"], ",".join(map(str, thread_counts)), args.ops, args.slow_ops,
             args.window))
    for key in ("agent", "tcmalloc", "jemalloc", "heaptrack"):
        used = have.get(key if key != "agent" else "ppagent")
        print("%-9s %s" % (key + ":", paths[key] if used else "(not used)"))
    print("ppagent runs with PPROF_CPU_HZ=0 and PPROF_MEM_RATE unset (default, %d bytes by the "
          "spec) except where a row says @1 (PPROF_MEM_RATE=1)" % SPEC_DEFAULT_RATE)
    print("rounds: %d, interleaved, starting configuration rotated each round" % args.rounds)
    for n in notes:
        print("NOTE: " + n)
    print(flush=True)

    # Warm-up (page cache, dynamic loader, go tool): not counted.
    bench.run_once(Config("glibc", "glibc"), 1, 10000, 100)

    all_results = {}
    started = time.monotonic()
    fixed = None
    if args.fixed_ops > 0:
        # First, so that the tables for the long runs can subtract the per-process cost.
        fconfigs = fixed_configs(speed)
        label = "fixed threads=1"
        runs, failed = bench.series(label, fconfigs, 1, lambda c: args.fixed_ops, args.window,
                                    args.rounds, notes)
        all_results[label] = runs
        print_speed_table("fixed cost: threads=1, %d pairs (a short run: start-up and writing the "
                          "profile at exit dominate)" % args.fixed_ops, fconfigs, runs, failed, 1)
        fixed = fixed_extras(fconfigs, runs)
    for threads in thread_counts:
        label = "threads=%d" % threads
        runs, failed = bench.series(label, speed, threads,
                                    lambda c: args.slow_ops if c.slow else args.ops,
                                    args.window, args.rounds, notes)
        all_results[label] = runs
        print_speed_table("threads=%d, window %d live blocks/thread" % (threads, args.window),
                          speed, runs, failed, threads, fixed)
    if args.rss_window > 0:
        label = "rss window=%d" % args.rss_window
        runs, failed = bench.series(label, rss, 1, lambda c: args.rss_window, args.rss_window,
                                    args.rss_rounds, notes)
        all_results[label] = runs
        print_rss_table("memory: threads=1, %d live blocks (every allocation recorded in the @1 "
                        "rows and by gperftools), %d pairs after the fill; rss full = resident set "
                        "with the window full, maxrss = peak incl. exit" % (args.rss_window,
                                                                            args.rss_window),
                        rss, runs, failed, args.rss_window)
        for every, default in (("ppagent@1", "ppagent"),):
            if runs.get(every) and runs.get(default):
                d = med(runs[every], "rss_full_kib") - med(runs[default], "rss_full_kib")
                print("%s over %s (default rate): %+.1f MiB, %.0f B per "
                      "live sample beyond the agent's fixed memory" % (
                          every, default, d / 1024.0, d * 1024.0 / args.rss_window))
        print()
    elapsed = time.monotonic() - started

    print("load average at end: %s; benchmark took %.0f s" % (loadavg(), elapsed))
    print("target (issue): ppagent at the default rate <= %.0f%% over the host's allocator "
          "(cpu/base and wall/base <= %.2f), one thread and two" % (TARGET_PCT,
                                                                     1 + TARGET_PCT / 100))
    finish(args, notes, scratch, facts,
           all_results)


if __name__ == "__main__":
    main()
