#!/usr/bin/python3
"""Symbolizer benchmark: what naming the sampled addresses costs.

Two parts:
1. symbolize_bench (bench/symbolize_bench.cc, linked against ppagent_core): index build time
   of a large library, microseconds per distinct address once the index exists, the second
   profile build (cache hits), and one libc address with libc6-dbg's DWARF, each in a fresh
   process (CPU ms and peak RSS).
2. Fixed cost per process: `/bin/true` and `/usr/bin/python3 -c pass` without the agent and
   under LD_PRELOAD=<agent> (defaults: CPU 100 Hz and heap profiling on), interleaved rounds,
   medians of user+system CPU (os.wait4, GNU time's included) and peak RSS (GNU time's %M). --agent compares another build of the
   agent (for example a copy of the library from before a change).

Figures are printed, never judged: nothing here fails on timing."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

FIXED_COST_PROGRAMS = {
    "true": ["/bin/true"],
    "python3": ["/usr/bin/python3", "-c", "pass"],
}


def fixed_cost(agents, rounds, scratch):
    """{(program, config): [(cpu_ms, maxrss_kib), ...]} for config "none" and each name in
    agents ({name: library path})."""
    configs = ["none"] + list(agents)
    results = {}
    items = [(p, c) for p in FIXED_COST_PROGRAMS for c in configs]
    for _, order in benchlib.rotations(items, rounds):
        for program, config in order:
            env = benchlib.clean_env()
            if config != "none":
                env["LD_PRELOAD"] = agents[config]
                env["PPROF_OUTPUT_DIR"] = scratch
            # The peak RSS comes from GNU time, a small process: a child forked from this
            # Python process would inherit its peak. The CPU time is time's and the child's.
            rss_path = os.path.join(scratch, "maxrss")
            argv = ["/usr/bin/time", "-f", "%M", "-o", rss_path] + FIXED_COST_PROGRAMS[program]
            rc, _, ru, _ = benchlib.run_child(argv, env, scratch, os.path.join(scratch, "out"),
                                              os.path.join(scratch, "err"))
            if rc != 0:
                raise RuntimeError("%s under %s failed (%s): %s" % (
                    program, config, rc, benchlib.read_text(os.path.join(scratch, "err"))))
            cpu_ms = (ru.ru_utime + ru.ru_stime) * 1e3
            maxrss = int(benchlib.read_text(rss_path).split()[-1])
            results.setdefault((program, config), []).append((cpu_ms, maxrss))
            for name in os.listdir(scratch):
                if name.endswith(".pb.gz"):
                    os.unlink(os.path.join(scratch, name))
    return results


def print_fixed_cost(results, configs):
    print()
    print("%-10s %-8s %10s %14s %12s %14s" % ("program", "config", "cpu ms", "+cpu ms", "peak KiB",
                                               "+peak KiB"))
    for program in FIXED_COST_PROGRAMS:
        base_cpu = statistics.median(c for c, _ in results[(program, "none")])
        base_rss = statistics.median(r for _, r in results[(program, "none")])
        for config in ["none"] + configs:
            runs = results[(program, config)]
            cpu = statistics.median(c for c, _ in runs)
            rss = statistics.median(r for _, r in runs)
            print("%-10s %-8s %10.1f %14.1f %12d %14d" % (program, config, cpu, cpu - base_cpu,
                                                           rss, rss - base_rss))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(benchlib.REPO, "build"))
    ap.add_argument("--agent", help="the agent library (default BUILD/agent/libppagent.so)")
    ap.add_argument("--compare-agent", metavar="PATH",
                    help="another build of the agent, run as config 'compared' in the same rounds")
    ap.add_argument("--rounds", type=int, default=9, help="rounds of the fixed-cost runs")
    ap.add_argument("--repeat", type=int, default=5,
                    help="fresh processes per symbolize_bench figure (medians)")
    ap.add_argument("--only", choices=["symbolizer", "fixed"], help="run one part only")
    args = ap.parse_args()
    agent = os.path.abspath(args.agent or os.path.join(args.build_dir, "agent", "libppagent.so"))
    facts = benchlib.machine_facts()
    benchlib.print_header(facts)
    if args.only != "fixed":
        bench = os.path.join(args.build_dir, "bench", "symbolize_bench")
        print()
        sys.stdout.flush()
        subprocess.run([bench, "--repeat", str(args.repeat)], check=True)
    if args.only != "symbolizer":
        print()
        agents = {"agent": agent}
        print("fixed cost per process, %d rounds (medians); agent: %s" % (args.rounds, agent))
        if args.compare_agent:
            agents["compared"] = os.path.abspath(args.compare_agent)
            print("compared: %s" % agents["compared"])
        with tempfile.TemporaryDirectory(prefix="symbolize-bench-") as scratch:
            print_fixed_cost(fixed_cost(agents, args.rounds, scratch), list(agents))
    print()
    print("load average at end: %s" % benchlib.loadavg())


if __name__ == "__main__":
    main()
