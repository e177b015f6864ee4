#!/usr/bin/python3
"""Wall-clock profiling cost benchmark for ppagent (issue 14).

Runs bench/wall_threads (THREADS mostly idle threads, each waking every WAKE seconds -- 1 by
default, 0: never --, and a main thread doing a little work every 10 ms on a fixed schedule) for
SECONDS under two configurations, interleaved over ROUNDS rounds:

  off   LD_PRELOAD=libppagent.so with wall-clock profiling off
  on    the same with PPROF_WALL_HZ=HZ

The agent runs with PPROF_CPU_HZ=0 and PPROF_MEM_RATE=0 in both, so the difference is the wall
sampler's.  For each thread count it reports, as medians over the rounds: the process's CPU time
(user + system, from wait4) per second of elapsed time for "off" and "on", their difference as a
share of one core, the wall sampler thread's own CPU time per second (from its
/proc/PID/task/TID/schedstat, read every 0.2 s while the program runs and taken over the middle of
the run, after the first second: the sampler's cost without the machine's noise in the other
threads; the issue's target is at most 1 % of one core at 100 Hz with 100 mostly idle threads), the main thread's worst lateness (the program keeps working: its 10 ms
steps are never late by much), how many steps it did, and from the wall profile the share of the
ticks' thread samples left for later ticks ("skipped", the profile's comment
"wall: N thread samples skipped: ticks over budget": the sampler degrades by sampling fewer
threads per tick, never by stalling) and the profile's total wall time per thread as a share of
the elapsed time (close to 1: skipped threads are caught up on later ticks).

This is a benchmark, not a test: it reports figures and never fails on them.
"""

import argparse
import gzip
import os
import re
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("--threads", default="100,1000", help="thread counts, comma separated")
    ap.add_argument("--hz", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--wake", type=int, default=1,
                    help="seconds between the idle threads' wake-ups; 0: never")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--json", help="write per-run figures here")
    return ap.parse_args()


def profile_figures(path, elapsed, threads):
    """(skipped share, total wall per thread / elapsed) from a wall profile, read with the
    standard library only: the comment's count and the wall values summed by go tool pprof."""
    import subprocess
    r = subprocess.run(["go", "tool", "pprof", "-raw", "-symbolize=none", path],
                       capture_output=True, text=True,
                       env=dict(benchlib.clean_env(), PPROF_TMPDIR=os.path.dirname(path)))
    m = re.search(r"wall: (\d+) thread samples skipped", r.stdout)
    skipped = int(m.group(1)) if m else None
    total_ns, samples = 0, 0
    in_samples = False
    for line in r.stdout.splitlines():
        if line.startswith("samples/count wall/nanoseconds"):
            in_samples = True
            continue
        if in_samples:
            mm = re.match(r"^\s+(\d+)\s+(\d+):", line)
            if mm:
                samples += int(mm.group(1))
                total_ns += int(mm.group(2))
            elif line and not line.startswith(" "):
                in_samples = False
    per_thread = total_ns / 1e9 / elapsed / (threads + 1)
    return skipped, samples, per_thread


def sampler_cpu(argv, env, cwd, out_path, err_path, timeout):
    """Runs argv like benchlib.run_child, meanwhile reading the wall sampler thread's CPU time
    (schedstat, ns) every 0.2 s. Returns run_child's figures and the sampler's CPU seconds per
    second between its first reading after 1 s and its last reading."""
    import subprocess
    import time
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd)
        readings = []
        while time.monotonic() - t0 < timeout:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            try:
                for tid in os.listdir("/proc/%d/task" % proc.pid):
                    base = "/proc/%d/task/%s/" % (proc.pid, tid)
                    with open(base + "comm") as f:
                        if f.read().strip() != "ppagent-wall":
                            continue
                    with open(base + "schedstat") as f:
                        readings.append((time.monotonic(), int(f.read().split()[0])))
            except OSError:
                pass
            time.sleep(0.2)
        else:
            proc.kill()
            _, status, ru = os.wait4(proc.pid, 0)
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    later = [r for r in readings if r[0] - t0 >= 1.0]
    share = None
    if len(later) >= 2 and later[-1][0] > later[0][0]:
        share = (later[-1][1] - later[0][1]) / 1e9 / (later[-1][0] - later[0][0])
    return proc.returncode, wall, ru, proc.pid, share


def main():
    args = parse_args()
    build = os.path.abspath(args.build_dir)
    agent = os.path.join(build, "agent", "libppagent.so")
    program = os.path.join(build, "bench", "wall_threads")
    for p in (agent, program):
        if not os.path.exists(p):
            sys.exit("missing %s: build first (ninja -C %s)" % (p, args.build_dir))
    facts = benchlib.machine_facts()
    benchlib.print_header(facts)
    scratch = tempfile.mkdtemp(prefix="ppagent-wall-bench.")
    counts = [int(c) for c in args.threads.split(",")]
    configs = ["off", "on"]
    results = []
    for rnd, order in benchlib.rotations([(n, c) for n in counts for c in configs], args.rounds):
        for n, config in order:
            out = os.path.join(scratch, "r%d-%d-%s" % (rnd, n, config))
            os.makedirs(out)
            env = benchlib.clean_env()
            env.update(LD_PRELOAD=agent, PPROF_OUTPUT_DIR=out, PPROF_CPU_HZ="0",
                       PPROF_MEM_RATE="0")
            if config == "on":
                env["PPROF_WALL_HZ"] = str(args.hz)
            rc, wall, ru, pid, own = sampler_cpu(
                [program, str(n), str(args.seconds), str(args.wake)], env, out,
                os.path.join(out, "stdout"), os.path.join(out, "stderr"),
                timeout=args.seconds * 10 + 60)
            text = benchlib.read_text(os.path.join(out, "stdout"))
            m = re.search(r"steps=(\d+) worst_late_ms=([0-9.]+)", text)
            row = {"round": rnd, "threads": n, "config": config, "rc": rc, "wall": wall,
                   "cpu": ru.ru_utime + ru.ru_stime,
                   "steps": int(m.group(1)) if m else None,
                   "worst_late_ms": float(m.group(2)) if m else None, "sampler_cpu": own}
            if config == "on":
                path = os.path.join(out, "wall_threads.%d.wall.pb.gz" % pid)
                if os.path.exists(path):
                    skipped, samples, per_thread = profile_figures(path, wall, n)
                    row.update(skipped=skipped, samples=samples, wall_per_thread=per_thread)
            results.append(row)
            print("round %d threads %4d %-3s rc=%s wall %.2f s cpu %.3f s late %.1f ms%s" % (
                rnd, n, config, rc, wall, row["cpu"], row["worst_late_ms"] or -1,
                "" if config == "off" else
                " sampler %.2f%% skipped %s of %s samples, wall/thread %.3f" % (
                    (own or 0) * 100, row.get("skipped"), row.get("samples"),
                    row.get("wall_per_thread") or 0)))
            sys.stdout.flush()

    print()
    print("wall sampler at %d Hz, %.0f s runs, idle threads waking every %s, medians over %d "
          "rounds" % (args.hz, args.seconds, "%d s" % args.wake if args.wake else "never",
                      args.rounds))
    print("%8s %10s %10s %9s %12s %10s %10s %9s %12s" % (
        "threads", "off cpu/s", "on cpu/s", "on-off", "sampler thr", "late off", "late on",
        "skipped", "wall/thread"))
    for n in counts:
        def med(config, key):
            vals = [r[key] / (r["wall"] if key == "cpu" else 1) for r in results
                    if r["threads"] == n and r["config"] == config and r.get(key) is not None]
            return statistics.median(vals) if vals else float("nan")
        off, on = med("off", "cpu"), med("on", "cpu")
        on_rows = [r for r in results if r["threads"] == n and r["config"] == "on"]
        skipped = [r["skipped"] / max(1, r["samples"] + r["skipped"]) for r in on_rows
                   if r.get("skipped") is not None]
        print("%8d %9.2f%% %9.2f%% %8.2f%% %11.2f%% %9.1fms %9.1fms %8.1f%% %12.3f" % (
            n, off * 100, on * 100, (on - off) * 100, med("on", "sampler_cpu") * 100,
            med("off", "worst_late_ms"),
            med("on", "worst_late_ms"), statistics.median(skipped) * 100 if skipped else -1,
            med("on", "wall_per_thread")))
    benchlib.finish(args, [], scratch, facts, results)


if __name__ == "__main__":
    main()
