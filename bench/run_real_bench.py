#!/usr/bin/python3
"""Real-programs benchmark for ppagent: Debian's own programs, each run without a profiler and
under ppagent, side by side with gperftools' CPU profiler and heaptrack, in one run.

Sections (each in interleaved rounds: every round runs every configuration once, the starting
configuration rotating from round to round; figures are medians over the rounds, quoted as
differences and ratios to the same command without a profiler):

  fixed    the cost per process of short programs: `clang++ --version`,
           `/usr/bin/python3 -c pass`, `/bin/true` under `ppagent run` (defaults), plain
           LD_PRELOAD with the agent's variables (defaults), and gperftools (CPUPROFILE, 100 Hz).
           /bin/true takes no sample; under the defaults clang++ --version takes 0-2 and
           python3 -c pass 3-6 (CPU and heap), which the exit write symbolizes
  clang    `clang++ -std=c++17 -O1 -c bench/template_heavy.cc` under ppagent defaults, CPU only
           (--mem-rate 0), heap only (--cpu-hz 0), gperftools CPUPROFILE at 100 Hz, heaptrack
  gxx      `g++` on the same file (three processes: driver, cc1plus, as): ppagent defaults,
           CPU only, gperftools
  pgbench  postgres (fsync=off) under `ppagent run` (defaults; the postmaster and every process
           it forks), driven by pgbench (not profiled) with fixed clients and seconds: throughput
           and peak RSS; with a debug-section cache of the server's user, warmed by a session
           before the rounds, and with the cache off (every process inflates what it reads)

CPU is user+system of the whole process tree: os.wait4's rusage of the child started, which
includes every descendant it waited for (the launcher waits for the program, g++'s driver for
cc1plus and as, heaptrack's script for its interpreter, the postmaster for its children). Peak RSS
is wait4's ru_maxrss for the same child: the peak of the largest single process in the tree (not
a sum over processes). Both are taken by bench/rusage_exec, which forks the command from a small
process: forked from Python, a small program's peak RSS would be Python's own (~14 MiB). ppagent always runs through `ppagent run` except in the LD_PRELOAD row.

A benchmark, not a test: it prints figures and the targets next to them and never fails on them.
Only the Python standard library is used.  Run with /usr/bin/python3.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (REPO, clean_env, finish, loadavg, machine_facts, print_header,  # noqa: E402
                      read_text, rotations, run_child, spread_pct)

GPERF = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
TEMPLATE = os.path.join(REPO, "bench", "template_heavy.cc")
PGBIN = "/usr/lib/postgresql/15/bin"
CXXFLAGS = ["-std=c++17", "-O1", "-c"]

# Targets (from the brief), printed next to the figures.
FIXED_CPU_MS, FIXED_RSS_MIB = 10.0, 8.0
COMPILE_RATIO, COMPILE_RSS_MIB = 1.05, 16.0
PGBENCH_RATIO = 0.97


class Config:
    """How to run a command: `kind` is none, ppagent (through `ppagent run` with `flags`),
    preload (LD_PRELOAD with the agent's variables), gperftools or heaptrack."""

    def __init__(self, name, kind, flags=(), cache=None):
        self.name, self.kind, self.flags = name, kind, list(flags)
        # PPROF_CACHE_DIR for ppagent: None = the benchmark's own cache, warmed before
        # anything is timed; "fresh" = an empty one in each run (a machine's first process);
        # otherwise the value as is ("off").
        self.cache = cache


def command(cfg, argv, outdir, tools):
    """(argv, env) that run argv under cfg, writing profiles to outdir."""
    env = clean_env()
    if cfg.kind in ("ppagent", "preload"):
        cache = cfg.cache or tools["cache"]
        env["PPROF_CACHE_DIR"] = os.path.join(outdir, "cache") if cache == "fresh" else cache
    if cfg.kind == "ppagent":
        return [tools["launcher"], "run", *cfg.flags, "-o", outdir, "--", *argv], env
    if cfg.kind == "preload":
        env.update(LD_PRELOAD=tools["agent"], PPROF_OUTPUT_DIR=outdir)
        return argv, env
    if cfg.kind == "gperftools":
        env.update(LD_PRELOAD=GPERF, CPUPROFILE=os.path.join(outdir, "gperftools.prof"),
                   CPUPROFILE_FREQUENCY="100")
        return argv, env
    if cfg.kind == "heaptrack":
        return [tools["heaptrack"], "-o", os.path.join(outdir, "heaptrack"), *argv], env
    return argv, env


def profiles_in(outdir):
    return sorted(f for f in os.listdir(outdir) if f.endswith((".pb.gz", ".prof", ".zst", ".gz")))


class Usage:
    """The figures of wait4's rusage that the benchmark reads."""

    def __init__(self, utime, stime, maxrss):
        self.ru_utime, self.ru_stime, self.ru_maxrss = utime, stime, maxrss


def run(cfg, argv, tools, scratch, timeout=1800):
    """Runs argv once under cfg in a fresh directory. Returns a dict of figures; raises when the
    command fails or a profiler wrote nothing."""
    outdir = tempfile.mkdtemp(prefix="run-", dir=scratch)
    full, env = command(cfg, argv, outdir, tools)
    out_path, err_path = os.path.join(outdir, ".stdout"), os.path.join(outdir, ".stderr")
    # rusage_exec forks the command from a small process and reports its own wait4: the
    # variables the command adds to a clean environment are set in its child only.
    usage_path = os.path.join(outdir, ".rusage")
    base_env = clean_env()
    added = ["%s=%s" % (k, v) for k, v in env.items() if base_env.get(k) != v]
    wrapped = [tools["rusage_exec"], usage_path, *added, "--", *[str(a) for a in full]]
    rc, wall, _, _ = run_child(wrapped, base_env, outdir, out_path, err_path, timeout=timeout)
    stdout, stderr = read_text(out_path), read_text(err_path)
    if rc != 0:
        raise RuntimeError("%s: %s exited with %s\nstderr: %s"
                           % (cfg.name, " ".join(map(str, full)), rc, stderr[-3000:]))
    status, user_us, sys_us, maxrss_kib = (int(x) for x in read_text(usage_path).split())
    ru = Usage(user_us / 1e6, sys_us / 1e6, maxrss_kib)
    files = profiles_in(outdir)
    if cfg.kind != "none" and not files:
        raise RuntimeError("%s: %s wrote no profile in %s\nstderr: %s"
                           % (cfg.name, " ".join(map(str, full)), outdir, stderr[-3000:]))
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kib": ru.ru_maxrss,
            "stdout": stdout, "stderr": stderr, "files": len(files), "outdir": outdir}


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def paired(rs, base, key, op):
    """Median over the rounds of op(this run's figure, the figure of the run without a profiler
    in the same round): the rounds are paired, so a round slowed by other work on the machine
    slows both sides."""
    return statistics.median(op(r[key], b[key]) for r, b in zip(rs, base))


def ratio(a, b):
    return a / b if b else float("nan")


def diff(a, b):
    return a - b


def verdict(criteria):
    """criteria: [(description, met)]. "ok", or what was missed."""
    missed = [d for d, met in criteria if not met]
    return "ok" if not missed else "MISSED " + "; ".join(missed)


# ---------------------------------------------------------------------------
# Sections


def series(configs, rounds, one, label, results):
    """Runs one(cfg) for every configuration, interleaved; returns {name: [figures]}."""
    runs = {c.name: [] for c in configs}
    for rnd, order in rotations(configs, rounds):
        for cfg in order:
            r = one(cfg)
            runs[cfg.name].append(r)
            print("  %s round %d %-22s wall %7.3fs cpu %7.3fs maxrss %7.1f MiB%s"
                  % (label, rnd + 1, cfg.name, r["wall"], r["cpu"], r["maxrss_kib"] / 1024.0,
                     ("  tps %.0f" % r["tps"]) if "tps" in r else ""),
                  file=sys.stderr, flush=True)
    results[label] = {name: [{k: v for k, v in r.items() if k not in ("stdout", "stderr", "outdir")}
                             for r in rs] for name, rs in runs.items()}
    return runs


def fixed_section(args, tools, scratch, results, notes):
    configs = [Config("none", "none"), Config("ppagent run", "ppagent"),
               Config("ppagent LD_PRELOAD", "preload"),
               Config("LD_PRELOAD, 1st use", "preload", cache="fresh"),
               Config("LD_PRELOAD, no cache", "preload", cache="off")]
    if tools["gperftools"]:
        configs.append(Config("gperftools", "gperftools"))
    programs = [("clang++ --version", [tools["clang++"], "--version"]),
                ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"]),
                ("/bin/true", ["/bin/true"])]
    for _, argv in programs:  # the benchmark's cache warmed: not timed
        run(Config("warm-up", "preload"), argv, tools, scratch)
    print("== fixed cost per process (short programs: /bin/true takes no sample, clang++ --version "
          "0-2, python3 -c pass 3-6); %d rounds; load average %s"
          % (args.fixed_rounds, loadavg()))
    print("   cpu ms, rss MiB: medians; +cpu ms, cpu/none, +rss MiB: medians over the rounds of the "
          "difference or ratio to none in the same round; targets: +cpu <= %.0f ms, +rss <= %.0f "
          "MiB, and never above gperftools'" % (FIXED_CPU_MS, FIXED_RSS_MIB))
    print("   ppagent rows use a debug-section cache warmed before the rounds; '1st use' starts "
          "each run with an empty one, 'no cache' has it off (PPROF_CACHE_DIR=off); targets are "
          "checked on the warm rows")
    hdr = "%-18s %-20s %8s %8s %8s %8s %8s %7s  %s" % (
        "program", "configuration", "cpu ms", "+cpu ms", "cpu/none", "rss MiB", "+rss MiB",
        "sprd", "target")
    print(hdr)
    print("-" * len(hdr))
    for label, argv in programs:
        runs = series(configs, args.fixed_rounds,
                      lambda cfg: cleaned(run(cfg, argv, tools, scratch), args), label, results)
        base = runs["none"]
        gp = runs.get("gperftools")
        gp_cpu = 1000.0 * paired(gp, base, "cpu", diff) if gp else None
        gp_rss = paired(gp, base, "maxrss_kib", diff) / 1024.0 if gp else None
        for cfg in configs:
            rs = runs[cfg.name]
            cpu, rss = med(rs, "cpu"), med(rs, "maxrss_kib") / 1024.0
            dcpu = 1000.0 * paired(rs, base, "cpu", diff)
            drss = paired(rs, base, "maxrss_kib", diff) / 1024.0
            target = ""
            if cfg.kind in ("ppagent", "preload") and cfg.cache is None:
                crit = [("+cpu > %.0f ms" % FIXED_CPU_MS, dcpu <= FIXED_CPU_MS),
                        ("+rss > %.0f MiB" % FIXED_RSS_MIB, drss <= FIXED_RSS_MIB)]
                if gp:
                    crit += [("+cpu > gperftools'", dcpu <= gp_cpu),
                             ("+rss > gperftools'", drss <= gp_rss)]
                target = verdict(crit)
            print("%-18s %-20s %8.1f %8.1f %8.2f %8.1f %8.1f %6.0f%%  %s" % (
                label, cfg.name, 1000.0 * cpu, dcpu, paired(rs, base, "cpu", ratio), rss,
                drss, spread_pct([r["cpu"] for r in rs]), target))
    print(flush=True)


def compile_section(args, tools, scratch, results, compiler, label):
    configs = [Config("none", "none"), Config("ppagent defaults", "ppagent"),
               Config("ppagent CPU only", "ppagent", ["--mem-rate", "0"])]
    if compiler == "clang++":
        configs.append(Config("ppagent heap only", "ppagent", ["--cpu-hz", "0"]))
    if tools["gperftools"]:
        configs.append(Config("gperftools 100 Hz", "gperftools"))
    if compiler == "clang++" and tools["heaptrack"]:
        configs.append(Config("heaptrack", "heaptrack"))
    objects = set()

    def one(cfg):
        d = tempfile.mkdtemp(prefix="obj-", dir=scratch)
        obj = os.path.join(d, "t.o")
        r = run(cfg, [tools[compiler], *CXXFLAGS, TEMPLATE, "-o", obj], tools, scratch)
        with open(obj, "rb") as f:
            objects.add(f.read())
        shutil.rmtree(d, ignore_errors=True)
        return cleaned(r, args)

    print("== %s: %s %s %s; %d rounds; load average %s"
          % (label, compiler, " ".join(CXXFLAGS), os.path.relpath(TEMPLATE, REPO), args.rounds,
             loadavg()))
    runs = series(configs, args.rounds, one, label, results)
    if len(objects) != 1:
        print("NOTE: the object files differ between runs (%d different)" % len(objects))
    base = runs["none"]
    gp = runs.get("gperftools 100 Hz")
    gp_ratio = paired(gp, base, "cpu", ratio) if gp else None
    print("   cpu/none, wall/none, +cpu s, +rss MiB: medians over the rounds of the ratio or "
          "difference to none in the same round")
    hdr = "%-20s %8s %8s %9s %8s %8s %8s %8s %7s %6s  %s" % (
        "configuration", "wall s", "cpu s", "wall/none", "cpu/none", "+cpu s", "rss MiB",
        "+rss MiB", "sprd", "files", "target")
    print(hdr)
    print("-" * len(hdr))
    for cfg in configs:
        rs = runs[cfg.name]
        cpu, wall, rss = med(rs, "cpu"), med(rs, "wall"), med(rs, "maxrss_kib") / 1024.0
        cpu_ratio = paired(rs, base, "cpu", ratio)
        drss = paired(rs, base, "maxrss_kib", diff) / 1024.0
        crit = []
        if cfg.name in ("ppagent defaults", "ppagent heap only"):
            crit = [("cpu/none > %.2f" % COMPILE_RATIO, cpu_ratio <= COMPILE_RATIO)]
        elif cfg.name == "ppagent CPU only" and gp_ratio and compiler == "clang++":
            crit = [("cpu/none > gperftools' %.3f" % gp_ratio, cpu_ratio <= gp_ratio)]
        if crit and compiler == "clang++":
            crit.append(("+rss > %.0f MiB" % COMPILE_RSS_MIB, drss <= COMPILE_RSS_MIB))
        target = verdict(crit) if crit else ""
        print("%-20s %8.3f %8.3f %9.3f %8.3f %8.3f %8.1f %8.1f %6.0f%% %6d  %s" % (
            cfg.name, wall, cpu, paired(rs, base, "wall", ratio), cpu_ratio,
            paired(rs, base, "cpu", diff), rss, drss, spread_pct([r["cpu"] for r in rs]),
            med(rs, "files"), target))
    print(flush=True)


# -- postgres ---------------------------------------------------------------------------------


def postgres_user():
    """A preexec_fn running the server as user postgres when we are root (postgres refuses
    root), else None."""
    if os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam("postgres")

    def switch():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return switch


def pg(*args, **kw):
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          env=clean_env(), **kw)


def pgbench_section(args, tools, scratch, results, notes):
    as_pg = postgres_user()
    base = tempfile.mkdtemp(prefix="pg-", dir=scratch)
    os.chmod(scratch, 0o755)
    os.chmod(base, 0o755)
    data, sock = os.path.join(base, "data"), os.path.join(base, "sock")
    os.mkdir(sock)
    if as_pg:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(sock, "postgres", "postgres")
        for path in (tools["launcher"], tools["agent"]):
            if pg("runuser", "-u", "postgres", "--", "test", "-r", path).returncode != 0:
                notes.append("pgbench section skipped: user postgres cannot read %s "
                             "(build in a directory others can read)" % path)
                return
    r = pg(os.path.join(PGBIN, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
           "--no-sync", cwd=base, preexec_fn=as_pg)
    if r.returncode != 0:
        raise RuntimeError("initdb failed: %s%s" % (r.stdout, r.stderr))
    port = "5434"
    conn = ["-h", sock, "-p", port, "-U", "postgres"]
    server_argv = [os.path.join(PGBIN, "postgres"), "-D", data, "-c", "fsync=off",
                   "-c", "listen_addresses=", "-c", "unix_socket_directories=" + sock,
                   "-c", "port=" + port]

    def session(cfg, init=False):
        """Starts the server under cfg, runs pgbench (or pgbench -i), stops the server.
        Returns the server's figures with tps."""
        outdir = tempfile.mkdtemp(prefix="run-", dir=scratch)
        os.chmod(outdir, 0o1777)
        full, env = command(cfg, server_argv, outdir, tools)
        log = open(os.path.join(outdir, ".server.log"), "wb")
        t0 = time.monotonic()
        srv = subprocess.Popen([str(a) for a in full], env=env, cwd=base, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               preexec_fn=as_pg)
        try:
            deadline = time.monotonic() + 120
            while pg(os.path.join(PGBIN, "pg_isready"), "-q", "-h", sock, "-p", port).returncode:
                if srv.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("%s: postgres did not start: %s"
                                       % (cfg.name, read_text(log.name)[-3000:]))
                time.sleep(0.1)
            if init:
                b = pg(os.path.join(PGBIN, "pgbench"), "-i", "-q", "-s", args.pg_scale, *conn,
                       "postgres")
            else:
                b = pg(os.path.join(PGBIN, "pgbench"), "-c", args.pg_clients, "-j", "2",
                       "-T", args.pg_seconds, *conn, "postgres")
        finally:
            pg(os.path.join(PGBIN, "pg_ctl"), "stop", "-D", data, "-m", "fast", "-w",
               preexec_fn=as_pg)
            _, status, ru = os.wait4(srv.pid, 0)
            srv.returncode = os.waitstatus_to_exitcode(status)
            log.close()
        if b.returncode != 0 or srv.returncode != 0:
            raise RuntimeError("%s: pgbench %d, postgres %d: %s%s\n%s"
                               % (cfg.name, b.returncode, srv.returncode, b.stdout, b.stderr,
                                  read_text(log.name)[-3000:]))
        files = profiles_in(outdir)
        if cfg.kind != "none" and not files:
            raise RuntimeError("%s: postgres wrote no profile" % cfg.name)
        out = {"wall": time.monotonic() - t0, "cpu": ru.ru_utime + ru.ru_stime,
               "maxrss_kib": ru.ru_maxrss, "files": len(files)}
        if not init:
            m = re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", b.stdout, re.M)
            tx = re.search(r"^number of transactions actually processed: ([0-9]+)", b.stdout,
                           re.M)
            if not (m and tx):
                raise RuntimeError("%s: no tps in pgbench's output:\n%s" % (cfg.name, b.stdout))
            out["tps"], out["transactions"] = float(m.group(1)), int(tx.group(1))
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)
        return out

    print("== pgbench: postgres 15 (fsync=off), pgbench -c %s -j 2 -T %s, scale %s (pgbench not "
          "profiled); %d rounds; load average %s"
          % (args.pg_clients, args.pg_seconds, args.pg_scale, args.pg_rounds, loadavg()))
    session(Config("none", "none"), init=True)
    # The server's own cache: the benchmark's is root's when run as root, and the agent uses
    # only a directory of the effective user's (it logged "cannot use the directory" and
    # inflated libc's DWARF in every process). Warmed here, not timed.
    pg_cache = os.path.join(base, "ppagent-cache")
    defaults = Config("ppagent defaults", "ppagent", cache=pg_cache)
    session(defaults)
    configs = [Config("none", "none"), defaults, Config("ppagent, no cache", "ppagent", cache="off")]
    runs = series(configs, args.pg_rounds, session, "pgbench", results)
    base = runs["none"]
    for rs in runs.values():
        for r in rs:
            r["ms_per_tx"] = 1000.0 * r["cpu"] / r["transactions"]
    print("   tps/none, cpu/tx, +rss: medians over the rounds of the ratio or difference to none "
          "in the same round; targets: tps/none >= %.2f, +rss <= %.0f MiB (the cached row)"
          % (PGBENCH_RATIO, COMPILE_RSS_MIB))
    hdr = "%-18s %9s %8s %14s %9s %8s %8s %8s %6s  %s" % (
        "configuration", "tps", "tps/none", "server cpu s", "ms/tx", "cpu/tx", "rss MiB",
        "+rss MiB", "files", "target")
    print(hdr)
    print("-" * len(hdr))
    for cfg in configs:
        rs = runs[cfg.name]
        tps_ratio = paired(rs, base, "tps", ratio)
        drss = paired(rs, base, "maxrss_kib", diff) / 1024.0
        crit = [("tps/none < %.2f" % PGBENCH_RATIO, tps_ratio >= PGBENCH_RATIO)]
        if cfg.cache != "off":
            crit.append(("+rss > %.0f MiB" % COMPILE_RSS_MIB, drss <= COMPILE_RSS_MIB))
        target = verdict(crit) if cfg.kind != "none" else ""
        print("%-18s %9.1f %8.3f %14.2f %9.3f %8.3f %8.1f %8.1f %6d  %s" % (
            cfg.name, med(rs, "tps"), tps_ratio, med(rs, "cpu"), med(rs, "ms_per_tx"),
            paired(rs, base, "ms_per_tx", ratio), med(rs, "maxrss_kib") / 1024.0, drss,
            med(rs, "files"), target))
    print("   (server cpu s: user+system of the postmaster and every process it forked; ms/tx: "
          "that per transaction; rss: the largest single server process)")
    print(flush=True)


def cleaned(r, args):
    if not args.keep:
        shutil.rmtree(r["outdir"], ignore_errors=True)
    return r


# ---------------------------------------------------------------------------


SECTIONS = ("fixed", "clang", "gxx", "pgbench", "instructions")
DEFAULT_SECTIONS = ("fixed", "clang", "gxx", "pgbench")


def callgrind_instructions(argv, env, scratch):
    """Instructions the command executes under valgrind --tool=callgrind (all threads; the
    dynamic loader included). Deterministic for the same binaries and inputs, whatever the
    machine's load, unlike times on a shared VM."""
    d = tempfile.mkdtemp(prefix="cg-", dir=scratch)
    out = os.path.join(d, "callgrind.out")
    log = os.path.join(d, "valgrind.log")
    full = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--log-file=" + log,
            *[str(a) for a in argv]]
    rc, _, _, _ = run_child(full, env, d, os.path.join(d, ".stdout"), os.path.join(d, ".stderr"))
    if rc != 0:
        raise RuntimeError("callgrind run failed (%s): %s" % (rc, read_text(log)[-2000:]))
    m = re.search(r"refs:\s+([\d,]+)", read_text(log))
    if not m:
        raise RuntimeError("no instruction count in %s" % log)
    return int(m.group(1).replace(",", ""))


def instructions_section(tools, scratch, results):
    """Instructions added by the agent, counted with callgrind: the repeatable figure behind
    the time ratios above. CPU sampling is off here (under valgrind a program runs ~50 times
    slower, so its CPU timers would fire ~50 times as often per instruction); heap sampling
    counts bytes, not time, so it samples exactly as it does natively."""
    obj = os.path.join(scratch, "cg.o")
    programs = [("clang++ compile", [tools["clang++"], *CXXFLAGS, TEMPLATE, "-o", obj]),
                ("clang++ --version", [tools["clang++"], "--version"]),
                ("python3 -c pass", ["/usr/bin/python3", "-c", "pass"]),
                ("/bin/true", ["/bin/true"])]
    configs = [("none", {}),
               ("agent idle", {"PPROF_CPU_HZ": "0", "PPROF_MEM_RATE": "0"}),
               ("agent heap only", {"PPROF_CPU_HZ": "0"})]
    print("== instructions (valgrind --tool=callgrind; the agent by LD_PRELOAD, CPU sampling off); "
          "load average %s" % loadavg())
    hdr = "%-18s %-16s %15s %15s %9s" % ("program", "configuration", "instructions", "+instr",
                                        "ratio")
    print(hdr)
    print("-" * len(hdr))
    for label, argv in programs:
        base = None
        for name, extra in configs:
            env = clean_env()
            if name != "none":
                outdir = tempfile.mkdtemp(prefix="cgout-", dir=scratch)
                env.update(LD_PRELOAD=tools["agent"], PPROF_OUTPUT_DIR=outdir,
                           PPROF_CACHE_DIR=tools["cache"], **extra)
            n = callgrind_instructions(argv, env, scratch)
            base = n if base is None else base
            results.setdefault("instructions", {}).setdefault(label, {})[name] = n
            print("%-18s %-16s %15d %15d %9.4f" % (label, name, n, n - base, n / base), flush=True)
    print(flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                    help="meson build directory (default: %(default)s)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round of the compiles and pgbench (3 s), 3 of the fixed "
                         "costs; the figures mean little")
    ap.add_argument("--sections", default=",".join(DEFAULT_SECTIONS),
                    help="comma-separated sections to run, of %s (default: %%(default)s; "
                         "instructions runs valgrind, ~10 minutes)" % ", ".join(SECTIONS))
    ap.add_argument("--rounds", type=int, default=5, help="rounds of the compiles (default 5)")
    ap.add_argument("--fixed-rounds", type=int, default=10,
                    help="rounds of the fixed-cost runs (default 10)")
    ap.add_argument("--pg-rounds", type=int, default=4, help="rounds of pgbench (default 4)")
    ap.add_argument("--pg-seconds", default="10", help="pgbench -T (default 10)")
    ap.add_argument("--pg-clients", default="4", help="pgbench -c (default 4)")
    ap.add_argument("--pg-scale", default="4", help="pgbench -i -s (default 4)")
    ap.add_argument("--json", help="also write all per-run figures to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the profiles (prints the directory)")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.fixed_rounds, args.pg_rounds, args.pg_seconds = 1, 3, 1, "3"
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = set(sections) - set(SECTIONS)
    if bad:
        ap.error("unknown sections: %s (choose from %s)" % (", ".join(sorted(bad)),
                                                            ", ".join(SECTIONS)))
    if min(args.rounds, args.fixed_rounds, args.pg_rounds) < 1:
        ap.error("rounds must be at least 1")

    build = os.path.abspath(args.build_dir)
    tools = {"agent": os.path.join(build, "agent", "libppagent.so"),
             "launcher": os.path.join(build, "launcher", "ppagent"),
             "rusage_exec": os.path.join(build, "bench", "rusage_exec"),
             "clang++": shutil.which("clang++") or "/usr/bin/clang++",
             "g++": shutil.which("g++") or "/usr/bin/g++",
             "gperftools": GPERF if os.path.exists(GPERF) else None,
             "heaptrack": shutil.which("heaptrack")}
    for what in ("agent", "launcher", "rusage_exec"):
        if not os.path.exists(tools[what]):
            sys.exit("run_real_bench: %s not found; build with `ninja -C %s`" % (tools[what], build))
    notes = []
    if not tools["gperftools"]:
        notes.append("gperftools rows skipped: %s missing (google-perftools)" % GPERF)
    if not tools["heaptrack"]:
        notes.append("heaptrack row skipped: heaptrack not installed")

    scratch = tempfile.mkdtemp(prefix="ppagent-real-bench-")
    os.chmod(scratch, 0o755)
    tools["cache"] = os.path.join(scratch, "debug-section-cache")
    facts = machine_facts()
    print_header(facts)
    print("ppagent: %s (launcher %s)" % (tools["agent"], tools["launcher"]))
    print("CPU: user+system of the process tree (wait4 of the child started); peak RSS: wait4's "
          "ru_maxrss, the largest single process of the tree")
    print(flush=True)
    results = {}
    started = time.monotonic()
    # Warm-up (page cache, dynamic loader): not counted.
    run(Config("none", "none"), [tools["clang++"], *CXXFLAGS, TEMPLATE, "-o",
                                 os.path.join(scratch, "warm.o")], tools, scratch)
    for compiler in (tools["clang++"], tools["g++"]):  # and the debug-section cache
        run(Config("warm-up", "preload"), [compiler, *CXXFLAGS, TEMPLATE, "-o",
                                           os.path.join(scratch, "warm.o")], tools, scratch)
    if "fixed" in sections:
        fixed_section(args, tools, scratch, results, notes)
    if "clang" in sections:
        compile_section(args, tools, scratch, results, "clang++", "clang")
    if "gxx" in sections:
        compile_section(args, tools, scratch, results, "g++", "gxx")
    if "pgbench" in sections:
        if os.path.exists(os.path.join(PGBIN, "pgbench")):
            pgbench_section(args, tools, scratch, results, notes)
        else:
            notes.append("pgbench section skipped: %s/pgbench missing (postgresql-15)" % PGBIN)
    if "instructions" in sections:
        if shutil.which("valgrind"):
            instructions_section(tools, scratch, results)
        else:
            notes.append("instructions section skipped: valgrind not installed")
    print("load average at end: %s; benchmark took %.0f s" % (loadavg(), time.monotonic() - started))
    args.rounds = {"compiles": args.rounds, "fixed": args.fixed_rounds, "pgbench": args.pg_rounds}
    finish(args, notes, scratch, facts, results)


if __name__ == "__main__":
    main()
