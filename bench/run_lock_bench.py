#!/usr/bin/python3
"""Mutex/block-profiling overhead benchmark for ppagent (issue 4).

Runs bench/lock_bench (pthread_mutex_lock/unlock pairs) in these workloads:

  uncontended     PAIRS pairs in a process that never created a thread (glibc's
                  single-threaded paths)
  uncontended-mt  PAIRS pairs after one thread was created and joined (glibc's atomic paths)
  contended/T     T threads on one mutex, short critical sections (see bench/lock_bench.c)
  paired          in one process that never created a thread: glibc's own pthread_mutex_lock/
                  unlock against the functions the program's calls reach (see below)
  paired-mt       the same after one thread was created and joined

each under three configurations, side by side in one run:

  none   no agent
  off    LD_PRELOAD=libppagent.so with mutex and block profiling off (the defaults)
  on     LD_PRELOAD=libppagent.so, PPROF_MUTEX_FRACTION=1, PPROF_BLOCK_RATE=1 (every event)

The agent always runs with PPROF_CPU_HZ=0 and PPROF_MEM_RATE=0, so only the lock profiler (and
the cost of being preloaded at all) is measured.  Rounds are interleaved: every round runs every
(workload, configuration) once, the configuration order rotating from round to round, so slow
drifts of a shared machine spread over all configurations.  The program times its own measured
loop (not start-up or exit) and prints ns per pair: for the uncontended workloads the thread's
CPU time (CLOCK_THREAD_CPUTIME_ID, so time spent preempted on a busy machine does not count),
for the contended ones wall time.  The table shows medians over the rounds, the minimum, the
difference to "none" in ns per pair, the ratio, and "rnd-none": the median over rounds of the
configuration's figure minus "none"'s figure in the same round (the runs are close together in
time, so slow drifts in machine load cancel).  For the contended
workloads it also shows how many pairs really found the lock taken (the worker tries
pthread_mutex_trylock first, which the agent does not interpose), and, for "on", the extra cost
per contended pair ((on - off) x pairs / contended, with "on"'s own count of contended pairs;
n/a when "on" was not slower).

Two tables measure different things:

"ns per lock/unlock pair" (the first table, uncontended and contended workloads) compares
separate processes: the whole cost of running under the agent, including effects outside the
wrapper, such as the agent's own thread (started when profiling is on) making glibc take its
multi-threaded, atomic paths in a program that never created a thread.  Between processes the
machine's noise (25-45 % spread between runs on a shared VM) is far larger than differences of
1 ns, so its "-none" columns cannot resolve the wrapper's cost.

"in-process: interposed minus glibc's own function" (the paired workloads) measures the
wrapper's cost precisely: inside ONE process, lock_bench times blocks of BLOCK_PAIRS pairs
(default 1000, about 10 us) through glibc's pthread_mutex_lock/unlock (found with dlvsym in
libc.so.6) and through the functions the program's own calls reach (read from its PLT slots: the
agent's wrappers while it records mutex or block events, glibc's own functions where the agent,
having nothing to record, pointed the slots at them), adjacent in time, alternating which goes first, both through the same loop code;
it reports the median over blocks of the per-block difference (interposed - direct) in ns per
pair, with its 25th and 75th percentiles, and the median of each side.  Load changes slower
than a block hit both sides alike and cancel.  Both sides run in the same process state (the
same threads, so the same glibc paths), so the agent's other effects are left out: the
difference is what the call through the agent costs over calling glibc.  Without the agent the
two are the same function: the "none" row is the sanity row, its difference must be ~0 (its
p25..p75 is the method's resolution).  The table shows medians over rounds of the per-run
figures, and the lowest and highest per-run difference.

Targets from the issue (uncontended pairs): "off" within 1 ns of no agent, "on" within 3 ns.
This is a benchmark, not a test: it reports figures and never fails on them.  It does check
that "on" wrote a mutex and a block profile and that "off" wrote none (a configuration that does
not profile would make the figures meaningless), and that the paired runs really compared
one function with itself under "none" and two different functions under "off" and "on".

Only the Python standard library is used.  Run with /usr/bin/python3.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (REPO, clean_env, loadavg, machine_facts, print_header,  # noqa: E402
                      read_text, rotations, run_child, spread_pct)

WORKLOAD_NAME = "lock_bench"
TARGET_OFF_NS = 1.0
TARGET_ON_NS = 3.0

CONFIGS = ["none", "off", "on"]
LINE = re.compile(r"mode=(\S+) threads=(\d+) pairs=(\d+) ns_per_pair=([0-9.]+) "
                  r"threads_in_process=(-?\d+)(?: contended=(\d+))?(?: (wall_ns_per_pair)=([0-9.]+))?")
NUM = r"(-?[0-9.]+)"
PAIRED_LINE = re.compile(r"mode=(\S+) blocks=(\d+) block_pairs=(\d+) diff_ns_per_pair=%s "
                         r"diff_p25=%s diff_p75=%s interposed_ns_per_pair=%s "
                         r"direct_ns_per_pair=%s same_function=([01]) threads_in_process=(-?\d+)"
                         % (NUM, NUM, NUM, NUM, NUM))


class Workload:
    def __init__(self, name, argv, paired=False):
        self.name = name
        self.argv = argv  # arguments after the program
        self.paired = paired  # prints the in-process paired line (PAIRED_LINE)


def parse_paired(cfg, stdout):
    """The figures of a paired run, and a problem if it did not compare what it should."""
    m = PAIRED_LINE.search(stdout)
    if not m:
        return None, None
    r = {
        "diff": float(m.group(4)), "diff_p25": float(m.group(5)), "diff_p75": float(m.group(6)),
        "interposed": float(m.group(7)), "direct": float(m.group(8)),
        "same_function": m.group(9) == "1", "threads_in_process": int(m.group(10)),
        "blocks": int(m.group(2)), "block_pairs": int(m.group(3)),
    }
    problem = None
    if cfg == "none" and not r["same_function"]:
        problem = "'none' paired run called two different functions (something is preloaded?)"
    # With nothing to record the agent points the program's calls at glibc.
    if cfg == "off" and not r["same_function"]:
        problem = "'off' paired run: the program's calls still reach the agent (not rebound to glibc)"
    if cfg == "on" and r["same_function"]:
        problem = "'on' paired run called glibc's function on both sides (agent not reached)"
    return r, problem


def run_once(cfg, workload, wl, agent, scratch):
    env = clean_env()
    outdir = tempfile.mkdtemp(prefix="run-", dir=scratch)
    if cfg != "none":
        env["LD_PRELOAD"] = agent
        env["PPROF_CPU_HZ"] = "0"
        env["PPROF_MEM_RATE"] = "0"
        env["PPROF_OUTPUT_DIR"] = outdir
        if cfg == "on":
            env["PPROF_MUTEX_FRACTION"] = "1"
            env["PPROF_BLOCK_RATE"] = "1"
    out_path = os.path.join(outdir, "stdout")
    err_path = os.path.join(outdir, "stderr")
    argv = [workload] + wl.argv
    rc, wall, ru, pid = run_child(argv, env, outdir, out_path, err_path, timeout=600)
    stdout, stderr = read_text(out_path), read_text(err_path)
    if rc != 0:
        raise RuntimeError("%s exited with %s under %s; stderr: %s"
                           % (" ".join(argv), rc, cfg, stderr))
    paired, paired_problem = parse_paired(cfg, stdout) if wl.paired else (None, None)
    m = None if wl.paired else LINE.search(stdout)
    if not (m or paired):
        raise RuntimeError("cannot parse the output of %s: %r" % (" ".join(argv), stdout))
    files = sorted(f for f in os.listdir(outdir) if f.endswith(".pb.gz"))
    kinds = sorted(set(f.split(".")[-3] for f in files))
    problem = paired_problem
    if cfg == "on" and not {"mutex", "block"} <= set(kinds):
        problem = "'on' wrote %s, not a mutex and a block profile" % (files or "nothing")
    if cfg == "off" and kinds:
        problem = "'off' wrote profiles: %s" % files
    shutil.rmtree(outdir, ignore_errors=True)
    if paired:
        paired.update({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "stderr": stderr,
                       "problem": problem})
        return paired
    return {
        "wall_ns": float(m.group(8)) if m.group(8) else float(m.group(4)),
        "ns": float(m.group(4)),
        "pairs": int(m.group(3)),
        "threads_in_process": int(m.group(5)),
        "contended": int(m.group(6)) if m.group(6) is not None else None,
        "wall": wall,
        "cpu": ru.ru_utime + ru.ru_stime,
        "stderr": stderr,
        "problem": problem,
    }


def print_paired_table(paired_workloads, runs, args):
    """The in-process table: per configuration, medians over rounds of each run's figures."""
    print("in-process: interposed minus glibc's own function; ns per lock/unlock pair, medians "
          "over %d rounds" % args.rounds)
    print("(each run: %d blocks of %d pairs timed through both, adjacent; per run the median, "
          "25th and 75th percentile over blocks)" % (args.paired_blocks, args.block_pairs))
    hdr = ("%-15s %-5s %9s %9s %9s %9s %9s %11s %9s %8s"
           % ("workload", "cfg", "diff", "p25", "p75", "min run", "max run", "interposed",
              "direct", "threads"))
    print(hdr)
    print("-" * len(hdr))
    diffs = {}
    for wl in paired_workloads:
        for cfg in CONFIGS:
            rs = runs[wl.name][cfg]
            med = lambda key: statistics.median(r[key] for r in rs)  # noqa: E731
            diffs[(wl.name, cfg)] = med("diff")
            print("%-15s %-5s %+9.3f %+9.3f %+9.3f %+9.3f %+9.3f %11.3f %9.3f %8g%s" % (
                wl.name, cfg, med("diff"), med("diff_p25"), med("diff_p75"),
                min(r["diff"] for r in rs), max(r["diff"] for r in rs), med("interposed"),
                med("direct"), med("threads_in_process"),
                "   <- sanity row: the same function on both sides, must be ~0" if cfg == "none"
                else ""))
        print()
    print("targets (issue) applied to the wrapper's own cost: off <= %.0f ns, on <= %.0f ns"
          % (TARGET_OFF_NS, TARGET_ON_NS))
    for wl in paired_workloads:
        off, on = diffs[(wl.name, "off")], diffs[(wl.name, "on")]
        print("  %-15s off: %+.2f ns (%s)   on: %+.2f ns (%s)" % (
            wl.name, off, "met" if off <= TARGET_OFF_NS else "MISSED",
            on, "met" if on <= TARGET_ON_NS else "MISSED"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                    help="meson build directory (default: %(default)s)")
    ap.add_argument("--workload", help="workload binary (default: BUILD_DIR/bench/lock_bench)")
    ap.add_argument("--agent", help="ppagent library (default: BUILD_DIR/agent/libppagent.so)")
    ap.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default: %(default)s)")
    ap.add_argument("--pairs", type=int, default=50,
                    help="uncontended pairs per run, in millions (default: %(default)s)")
    ap.add_argument("--contended-pairs", type=int, default=2,
                    help="contended pairs per thread per run, in millions (default: %(default)s)")
    ap.add_argument("--threads", default="2,4",
                    help="comma-separated thread counts for the contended workload "
                         "(default: %(default)s; empty: none)")
    ap.add_argument("--work", type=int, default=16,
                    help="multiply-adds in (and outside) each contended critical section "
                         "(default: %(default)s)")
    ap.add_argument("--paired-blocks", type=int, default=4000,
                    help="blocks per paired run, each timed through both functions "
                         "(default: %(default)s; 0: no paired workloads)")
    ap.add_argument("--block-pairs", type=int, default=1000,
                    help="lock/unlock pairs per paired block (default: %(default)s)")
    ap.add_argument("--json", help="also write all per-run figures to this JSON file")
    args = ap.parse_args()
    if args.rounds < 1 or args.pairs < 1 or args.contended_pairs < 1 or args.work < 0:
        ap.error("--rounds, --pairs and --contended-pairs must be positive, --work not negative")
    if args.paired_blocks == 1 or args.paired_blocks < 0 or args.block_pairs < 1:
        ap.error("--paired-blocks must be 0 or at least 2, --block-pairs positive")
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        ap.error("--threads takes comma-separated integers")

    build_dir = os.path.abspath(args.build_dir)
    workload = os.path.abspath(args.workload or os.path.join(build_dir, "bench", WORKLOAD_NAME))
    agent = os.path.abspath(args.agent or os.path.join(build_dir, "agent", "libppagent.so"))
    if not os.access(workload, os.X_OK):
        sys.exit("run_lock_bench: workload %s not found; build it with `ninja -C %s`"
                 % (workload, build_dir))
    if not os.path.exists(agent):
        sys.exit("run_lock_bench: agent %s not found; build it with `ninja -C %s`"
                 % (agent, build_dir))

    workloads = [
        Workload("uncontended", ["uncontended", str(args.pairs * 1000000)]),
        Workload("uncontended-mt", ["uncontended-mt", str(args.pairs * 1000000)]),
    ]
    for t in thread_counts:
        workloads.append(Workload("contended/%d" % t, ["contended", str(args.contended_pairs * 1000000),
                                                       str(t), str(args.work)]))
    if args.paired_blocks:
        for mode in ("paired", "paired-mt"):
            workloads.append(Workload(mode, [mode, str(args.paired_blocks * args.block_pairs),
                                             str(args.block_pairs)], paired=True))

    facts = machine_facts()
    print_header(facts)
    print("workload: %s" % workload)
    for wl in workloads:
        print("  %-15s lock_bench %s" % (wl.name, " ".join(wl.argv)))
    print("agent:    %s  (PPROF_CPU_HZ=0 PPROF_MEM_RATE=0; 'on' adds PPROF_MUTEX_FRACTION=1 "
          "PPROF_BLOCK_RATE=1)" % agent)
    print("rounds: %d, interleaved, configuration order rotated each round" % args.rounds)
    print(flush=True)

    scratch = tempfile.mkdtemp(prefix="ppagent-lock-bench-")
    notes = []
    # Warm-up (page cache, loader): not counted.
    for cfg in CONFIGS:
        run_once(cfg, workload, Workload("warm-up", ["uncontended", "1000000"]), agent, scratch)

    runs = {wl.name: {c: [] for c in CONFIGS} for wl in workloads}
    started = time.monotonic()
    for rnd, order in rotations(CONFIGS, args.rounds):
        for wl in workloads:
            for cfg in order:
                r = run_once(cfg, workload, wl, agent, scratch)
                runs[wl.name][cfg].append(r)
                if r["problem"]:
                    notes.append("%s round %d: %s" % (wl.name, rnd + 1, r["problem"]))
                if r["stderr"]:
                    notes.append("%s/%s round %d stderr: %s" % (wl.name, cfg, rnd + 1,
                                                               r["stderr"][:300]))
                if wl.paired:
                    print("  round=%d %-15s %-4s %+8.3f ns/pair interposed - direct (p25 %+.3f, "
                          "p75 %+.3f)  threads_in_process=%d" % (
                              rnd + 1, wl.name, cfg, r["diff"], r["diff_p25"], r["diff_p75"],
                              r["threads_in_process"]), file=sys.stderr, flush=True)
                    continue
                print("  round=%d %-15s %-4s %8.3f ns/pair  threads_in_process=%d%s" % (
                    rnd + 1, wl.name, cfg, r["ns"], r["threads_in_process"],
                    ("  contended=%d" % r["contended"]) if r["contended"] is not None else ""),
                    file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    shutil.rmtree(scratch, ignore_errors=True)

    print("medians over %d rounds; ns per lock/unlock pair (the program's own timing of its loop)"
          % args.rounds)
    hdr = ("%-15s %-5s %9s %9s %8s %9s %9s %8s %8s %10s %11s"
           % ("workload", "cfg", "ns/pair", "min", "spread", "-none ns", "rnd-none", "x none",
              "threads", "contended", "ns/contend"))
    print(hdr)
    print("-" * len(hdr))
    summary = {}
    for wl in workloads:
        if wl.paired:
            continue
        base = statistics.median(r["ns"] for r in runs[wl.name]["none"])
        off = statistics.median(r["ns"] for r in runs[wl.name]["off"])
        for cfg in CONFIGS:
            rs = runs[wl.name][cfg]
            ns = statistics.median(r["ns"] for r in rs)
            thr = statistics.median(r["threads_in_process"] for r in rs)
            cont = [r["contended"] for r in rs if r["contended"] is not None]
            cont_med = statistics.median(cont) if cont else None
            per_contended = "-"
            if cfg == "on" and cont_med:
                pairs = rs[0]["pairs"]
                per_contended = ("%.0f" % ((ns - off) * pairs / cont_med)) if ns > off else "n/a"
            rnd = statistics.median(a["ns"] - b["ns"]
                                    for a, b in zip(rs, runs[wl.name]["none"]))
            print("%-15s %-5s %9.3f %9.3f %7.1f%% %+9.3f %+9.3f %8.3f %8g %10s %11s" % (
                wl.name, cfg, ns, min(r["ns"] for r in rs), spread_pct([r["ns"] for r in rs]),
                ns - base, rnd, ns / base, thr, "-" if cont_med is None else "%d" % cont_med,
                per_contended))
            summary.setdefault(wl.name, {})[cfg] = ns
        print()
    print("targets (issue), uncontended: off - none <= %.0f ns, on - none <= %.0f ns"
          % (TARGET_OFF_NS, TARGET_ON_NS))
    for name in ("uncontended", "uncontended-mt"):
        s = summary[name]
        print("  %-15s off - none = %+.2f ns (%s)   on - none = %+.2f ns (%s)" % (
            name, s["off"] - s["none"], "met" if s["off"] - s["none"] <= TARGET_OFF_NS else "MISSED",
            s["on"] - s["none"], "met" if s["on"] - s["none"] <= TARGET_ON_NS else "MISSED"))
    print("threads = threads in the process during the loop (/proc/self/status); an 'uncontended' "
          "row with more than 1 means glibc ran its multi-threaded paths there")
    paired_workloads = [wl for wl in workloads if wl.paired]
    if paired_workloads:
        print()
        print_paired_table(paired_workloads, runs, args)
    print("load average at end: %s; benchmark took %.0f s" % (loadavg(), elapsed))
    for n in notes:
        print("NOTE: " + n)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": [sys.executable] + sys.argv, "machine": facts,
                       "rounds": args.rounds, "results": runs}, f, indent=1)
        print("per-run figures written to %s" % args.json)


if __name__ == "__main__":
    main()
