#!/usr/bin/python3
"""The jemalloc heap backend's cost (issue 7).

Runs bench/malloc_churn_je (bench/malloc_churn.c linked against Debian's libjemalloc.so.2: per
thread a window of live blocks, each operation frees a random block and mallocs one of 16 B to
2 KiB) under:

  jemalloc            no profiling
  ppagent-jemalloc    the agent's jemalloc backend: LD_PRELOAD=libppagent.so
                      PPROF_HEAP_BACKEND=jemalloc PPROF_CPU_HZ=0 and the MALLOC_CONF `ppagent run
                      --heap-backend jemalloc` sets (prof:true,prof_active:true,prof_accum:true,
                      lg_prof_sample:19): jemalloc samples, the agent's unwinder walks
  ppagent-interpose   the agent's interposing backend (default), forwarding to jemalloc
  jemalloc-prof       jemalloc's own profiling, MALLOC_CONF=prof:true,prof_accum:true,
                      lg_prof_sample:19 (libgcc's unwinder)

all at the default rate (512 KiB = 2^19), each writing its profile at exit (the agent's heap and
allocs; jemalloc-prof a final jeprof dump, prof_final:true), in interleaved rounds (every round
runs every configuration once, the first one rotating).  Wall time is time.monotonic() around
the child, CPU time user+system from os.wait4.  Ratios are each configuration's median over
jemalloc's median; then each configuration's fixed cost (the same runs with no operations:
start-up and the profile at exit) and the CPU per pair without it.  The agent's heap profile is read with `go tool pprof -raw` for its estimate
of the bytes allocated (a check that the backend really profiled).

A benchmark, not a test: it prints figures and never fails on them.  Standard library only; run
with /usr/bin/python3.
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (REPO, PprofReader, clean_env, loadavg, machine_facts,  # noqa: E402
                      print_header, read_text, rotations, run_child, spread_pct)

CONFIGS = ["jemalloc", "ppagent-jemalloc", "ppagent-interpose", "jemalloc-prof"]
LG_SAMPLE = 19
BACKEND_CONF = "prof:true,prof_active:true,prof_accum:true,lg_prof_sample:%d" % LG_SAMPLE


def run_once(args, name, threads, scratch):
    env = clean_env()
    outdir = tempfile.mkdtemp(prefix="run-", dir=scratch)
    if name.startswith("ppagent"):
        env["LD_PRELOAD"] = args.agent
        env["PPROF_CPU_HZ"] = "0"
        env["PPROF_OUTPUT_DIR"] = outdir
        if name == "ppagent-jemalloc":
            env["PPROF_HEAP_BACKEND"] = "jemalloc"
            env["MALLOC_CONF"] = BACKEND_CONF
    elif name == "jemalloc-prof":
        env["MALLOC_CONF"] = "prof:true,prof_accum:true,lg_prof_sample:%d,prof_final:true," \
                             "prof_prefix:%s" % (LG_SAMPLE, os.path.join(outdir, "jeprof"))
    argv = [args.workload, str(threads), str(args.ops), str(args.window)]
    out_path, err_path = os.path.join(outdir, "stdout"), os.path.join(outdir, "stderr")
    rc, wall, ru, _ = run_child(argv, env, outdir, out_path, err_path, timeout=args.timeout)
    stderr = read_text(err_path)
    if rc != 0:
        raise RuntimeError("%s: exit %s, stderr: %s" % (name, rc, stderr[-500:]))
    agent_lines = [l for l in stderr.splitlines() if l.startswith("ppagent:")]
    if agent_lines:
        raise RuntimeError("%s: the agent said: %s" % (name, agent_lines))
    result = {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "outdir": outdir}
    heap = [f for f in os.listdir(outdir) if f.endswith(".allocs.pb.gz")]
    if heap:
        result["profile"] = os.path.join(outdir, heap[0])
    elif name == "jemalloc-prof":
        result["profile"] = None
        if not [f for f in os.listdir(outdir) if f.startswith("jeprof")]:
            raise RuntimeError("jemalloc-prof wrote no jeprof dump")
    else:
        if name != "jemalloc":
            raise RuntimeError("%s wrote no allocs profile" % name)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--workload", help="default: BUILD_DIR/bench/malloc_churn_je")
    ap.add_argument("--agent", help="default: BUILD_DIR/agent/libppagent.so")
    ap.add_argument("--go", default=shutil.which("go") or "go")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ops", type=int, default=10000000, help="malloc/free pairs per thread")
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--fixed", type=int, default=1,
                    help="1: also measure each configuration's fixed cost (0 operations)")
    args = ap.parse_args()
    args.workload = args.workload or os.path.join(args.build_dir, "bench", "malloc_churn_je")
    args.agent = args.agent or os.path.join(args.build_dir, "agent", "libppagent.so")
    for p in (args.workload, args.agent):
        if not os.path.isfile(p):
            sys.exit("missing %s (run ninja -C %s)" % (p, args.build_dir))

    facts = machine_facts()
    print_header(facts)
    print("workload: %s THREADS %d %d (malloc/free pairs per thread, window)" % (
        args.workload, args.ops, args.window))
    scratch = tempfile.mkdtemp(prefix="ppagent-jebench-")
    reader = PprofReader(args.go, scratch)
    threads_list = [int(t) for t in args.threads.split(",")]
    results = {}
    for threads in threads_list:
        for rnd, order in rotations(CONFIGS, args.rounds):
            for name in order:
                r = run_once(args, name, threads, scratch)
                results.setdefault((threads, name), []).append(r)
                print("  threads=%d round=%d %-18s wall %7.3fs cpu %7.3fs" % (
                    threads, rnd + 1, name, r["wall"], r["cpu"]), flush=True)

    # The fixed cost (start-up, the profile at exit): the same runs with no operations.
    fixed = {}
    if args.fixed:
        ops, args.ops = args.ops, 0
        for rnd, order in rotations(CONFIGS, args.rounds):
            for name in order:
                fixed.setdefault(name, []).append(run_once(args, name, 1, scratch)["cpu"])
        args.ops = ops

    print()
    print("load average at end: %s" % loadavg())
    print("%-8s %-18s %9s %9s %8s %10s %10s %14s" % ("threads", "configuration", "wall s",
                                                      "cpu s", "ns/pair", "wall/base",
                                                      "cpu/base", "alloc estimate"))
    for threads in threads_list:
        base = results[(threads, "jemalloc")]
        bw = statistics.median(r["wall"] for r in base)
        bc = statistics.median(r["cpu"] for r in base)
        for name in CONFIGS:
            rs = results[(threads, name)]
            w = statistics.median(r["wall"] for r in rs)
            c = statistics.median(r["cpu"] for r in rs)
            est = "-"
            profile = rs[-1].get("profile")
            if profile:
                est = "%.2f GiB" % (reader.raw(profile).total_prefix("alloc_space/") / 2.0 ** 30)
            print("%-8d %-18s %9.3f %9.3f %8.1f %9.3fx %9.3fx %14s   (wall spread %.0f%%)" % (
                threads, name, w, c, 1e9 * c / max(1, args.ops * threads), w / bw, c / bc, est,
                spread_pct([r["wall"] for r in rs])))
    if fixed:
        print()
        print("fixed cost (1 thread, 0 operations, median CPU s), and CPU per pair without it:")
        base_fixed = statistics.median(fixed["jemalloc"])
        for threads in threads_list:
            bc = statistics.median(r["cpu"] for r in results[(threads, "jemalloc")]) - base_fixed
            for name in CONFIGS:
                f = statistics.median(fixed[name])
                c = statistics.median(r["cpu"] for r in results[(threads, name)]) - f
                print("  threads=%d %-18s fixed %6.3fs   net %6.1f ns/pair   net cpu/base %.3fx" % (
                    threads, name, f, 1e9 * c / max(1, args.ops * threads), c / bc))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print("kept %s" % scratch)


if __name__ == "__main__":
    main()
