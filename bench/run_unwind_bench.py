#!/usr/bin/python3
"""The unwinder's costs (rules evaluated on demand, agent/unwind/).

1. Start-up of short programs under the agent: `clang++ --version` (libLLVM-14 and
   libclang-cpp loaded: the largest unwind tables on this system) and `/usr/bin/python3 -c
   pass`, in interleaved rounds, under:

     none               no agent
     ppagent-idle       LD_PRELOAD=BUILD/agent/libppagent.so PPROF_CPU_HZ=1 PPROF_MEM_RATE=0
                        PPROF_OUTPUT_DIR=<tmp>: CPU profiling on but at 1 Hz and heap profiling
                        off, so the run (almost always) takes no sample: what every short
                        process of a build or CI job pays
     ppagent-default    the same library with the defaults (CPU 100 Hz, heap 512 KiB)

   and, with --baseline-agent PATH (a libppagent.so built from another commit, e.g. before
   this change), baseline-idle and baseline-default with that library.  CPU time is user +
   system from os.wait4, peak RSS its ru_maxrss.  The samples each run took are read from its
   CPU profile with `go tool pprof -raw` when go is on PATH.

2. BUILD/bench/unwind_bench: refresh, walks cold and warm, rule evaluation and cache memory,
   in process (see bench/unwind_bench.cc).

3. With --callgrind (valgrind installed): instructions per 30-frame walk, warm and cold, and
   the instructions of ModuleTables::refresh in `clang++ --version` under each agent.

A benchmark, not a test: it prints figures and never fails on them.  Standard library only; run
with /usr/bin/python3.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (REPO, PprofReader, clean_env, loadavg, machine_facts,  # noqa: E402
                      print_header, rotations, run_child, spread_pct)

PROGRAMS = {
    "clang++ --version": ["clang++", "--version"],
    "python3 -c pass": ["/usr/bin/python3", "-c", "pass"],
}
IDLE = {"PPROF_CPU_HZ": "1", "PPROF_MEM_RATE": "0"}


def configurations(args):
    configs = [("none", None, {})]
    configs += [("ppagent-idle", args.agent, IDLE), ("ppagent-default", args.agent, {})]
    if args.baseline_agent:
        configs += [("baseline-idle", args.baseline_agent, IDLE),
                    ("baseline-default", args.baseline_agent, {})]
    return configs


def run_once(program, config, scratch, reader):
    name, agent, extra = config
    env = clean_env()
    outdir = tempfile.mkdtemp(prefix="run-", dir=scratch)
    if agent:
        env["LD_PRELOAD"] = agent
        env["PPROF_OUTPUT_DIR"] = outdir
        env.update(extra)
    rc, wall, ru, _ = run_child(PROGRAMS[program], env, outdir, os.path.join(outdir, "stdout"),
                                os.path.join(outdir, "stderr"), timeout=120)
    samples = None
    if agent and reader:
        cpu = [f for f in os.listdir(outdir) if f.endswith(".cpu.pb.gz")]
        if cpu:
            samples = reader.raw(os.path.join(outdir, cpu[0])).total_prefix("samples/")
    shutil.rmtree(outdir, ignore_errors=True)
    return {"program": program, "config": name, "rc": rc, "wall_s": wall,
            "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000.0, "maxrss_mib": ru.ru_maxrss / 1024.0,
            "samples": samples}


def startup(args, scratch, reader):
    configs = configurations(args)
    results = []
    for program in PROGRAMS:
        for rnd, order in rotations(configs, args.rounds):
            for config in order:
                r = run_once(program, config, scratch, reader)
                r["round"] = rnd
                results.append(r)
                print("  %-18s %-17s round %d: %.1f ms CPU, %.1f MiB, samples %s, rc %s" % (
                    program, config[0], rnd, r["cpu_ms"], r["maxrss_mib"], r["samples"], r["rc"]),
                    file=sys.stderr)
    print()
    print("Start-up (medians of %d interleaved rounds; +: over none)" % args.rounds)
    print()
    print("| program | configuration | CPU ms | +CPU ms | CPU spread | peak RSS MiB | +RSS MiB | samples |")
    print("|---|---|---|---|---|---|---|---|")
    for program in PROGRAMS:
        base_cpu = base_rss = None
        for name, _, _ in configs:
            rs = [r for r in results if r["program"] == program and r["config"] == name]
            cpu = statistics.median(r["cpu_ms"] for r in rs)
            rss = statistics.median(r["maxrss_mib"] for r in rs)
            if name == "none":
                base_cpu, base_rss = cpu, rss
            samples = [r["samples"] for r in rs if r["samples"] is not None]
            print("| %s | %s | %.1f | %s | %.0f%% | %.1f | %s | %s |" % (
                program, name, cpu, "–" if name == "none" else "%+.1f" % (cpu - base_cpu),
                spread_pct([r["cpu_ms"] for r in rs]), rss,
                "–" if name == "none" else "%+.1f" % (rss - base_rss),
                "–" if not samples else "%g" % statistics.median(samples)))
    return results


def callgrind_run(argv, env, toggle=None):
    """Runs argv under callgrind; returns (instructions collected, callgrind_annotate's
    inclusive listing) or (None, "")."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "callgrind.out")
        cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
        if toggle:
            cmd.append("--toggle-collect=" + toggle)
        p = subprocess.run(cmd + argv, env=env, cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=1800)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if not m:
            return None, ""
        listing = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 universal_newlines=True).stdout
        return int(m.group(1)), listing


def inclusive(listing, function):
    """The inclusive instruction count callgrind_annotate gives `function` (e.g.
    "ppagent::ModuleTables::refresh("), or None.  Lines are sorted by cost: the first line
    naming it is the function itself, before its lambdas."""
    for line in listing.splitlines():
        m = re.match(r"\s*([\d,]+) \(", line)
        if m and (":" + function) in line:
            return int(m.group(1).replace(",", ""))
    return None


def callgrind(args):
    print()
    print("Instructions (callgrind, repeatable)")
    bench = os.path.join(args.build_dir, "bench", "unwind_bench")
    walk = "ppagent::ModuleTables::walk_registers*"
    for mode in ("warm", "cold"):
        # One priming walk is counted with the others: the difference of two runs is per walk.
        n1, _ = callgrind_run([bench, "--callgrind-walk", mode, "100"], clean_env(), walk)
        n2, _ = callgrind_run([bench, "--callgrind-walk", mode, "200"], clean_env(), walk)
        if n1 and n2:
            per = (n2 - n1) / 100.0
            print("- walk of a 30-frame stack, %s: %.0f instructions (%.0f per frame)" % (
                mode, per, per / 30))
    agents = [("ppagent", args.agent)]
    if args.baseline_agent:
        agents.append(("baseline", args.baseline_agent))
    for name, agent in agents:
        env = clean_env()
        env.update({"LD_PRELOAD": agent, "PPROF_OUTPUT_DIR": tempfile.mkdtemp(), **IDLE})
        # The whole run, inclusive costs read back (--toggle-collect misses the call from the
        # preload constructor).
        total, listing = callgrind_run(PROGRAMS["clang++ --version"], env)
        shutil.rmtree(env["PPROF_OUTPUT_DIR"], ignore_errors=True)
        n = inclusive(listing, "ppagent::ModuleTables::refresh(")
        print("- %s, `clang++ --version` (idle): %s instructions in ModuleTables::refresh" % (
            name, "?" if n is None else "{:,}".format(n)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--agent", help="default: BUILD/agent/libppagent.so")
    ap.add_argument("--baseline-agent", help="another libppagent.so to compare with")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", type=int, default=9, help="unwind_bench's batches")
    ap.add_argument("--callgrind", action="store_true", help="also count instructions")
    ap.add_argument("--go", default=shutil.which("go"))
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    args.agent = os.path.abspath(args.agent or os.path.join(args.build_dir, "agent", "libppagent.so"))
    if args.baseline_agent:
        args.baseline_agent = os.path.abspath(args.baseline_agent)

    facts = machine_facts()
    print_header(facts)
    print("agent: %s%s" % (args.agent, ("; baseline: %s" % args.baseline_agent)
                           if args.baseline_agent else ""))
    scratch = tempfile.mkdtemp(prefix="unwind-bench-")
    reader = PprofReader(args.go, scratch) if args.go else None
    startup(args, scratch, reader)
    print()
    print("In process (bench/unwind_bench, medians of %d batches)" % args.batches)
    print()
    p = subprocess.run([os.path.join(args.build_dir, "bench", "unwind_bench"), "--batches",
                        str(args.batches)], stdout=subprocess.PIPE, universal_newlines=True)
    print(p.stdout.rstrip())
    if args.callgrind:
        if shutil.which("valgrind"):
            callgrind(args)
        else:
            print("NOTE: valgrind not found; no instruction counts")
    print()
    print("load average at end: %s" % loadavg())
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
