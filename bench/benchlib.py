"""Helpers shared by the ppagent benchmarks (run_cpu_bench.py, run_heap_bench.py).

Only the Python standard library is used.  Run the benchmarks with /usr/bin/python3.
"""

import json
import os
import shutil
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"

# Environment variables that would change what the child does (profilers, allocator settings);
# removed from the inherited environment so that a baseline really runs with no profiler and the
# allocator's defaults.
SCRUB_PREFIXES = ("PPROF_", "CPUPROFILE", "HEAPPROFILE", "HEAPCHECK", "HEAP_PROFILE", "MALLOC_",
                  "TCMALLOC_", "HEAPTRACK")
SCRUB_NAMES = ("LD_PRELOAD", "LD_AUDIT", "GLIBC_TUNABLES")


def clean_env():
    env = {}
    for k, v in os.environ.items():
        if k in SCRUB_NAMES or k.startswith(SCRUB_PREFIXES):
            continue
        env[k] = v
    return env


def run_child(argv, env, cwd, stdout_path, stderr_path, timeout=None):
    """Runs argv to completion with stdout/stderr in files.  Returns (returncode, wall seconds,
    rusage from os.wait4 -- user+system CPU of the child and of every descendant it waited for,
    ru_maxrss in KiB -- and the child's pid).  With a timeout (seconds), a child still running
    then is killed with SIGKILL (its process group: it runs in a session of its own) and the
    return code is None."""
    timed_out = []
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=timeout is not None)
        timer = None
        if timeout is not None:
            def kill():
                timed_out.append(True)
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
            timer = threading.Timer(timeout, kill)
            timer.daemon = True
            timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        t1 = time.monotonic()
    if hasattr(os, "waitstatus_to_exitcode"):
        rc = os.waitstatus_to_exitcode(status)
    else:
        rc = (status >> 8) if os.WIFEXITED(status) else -os.WTERMSIG(status)
    proc.returncode = rc  # already reaped: keep Popen from waiting again
    return (None if timed_out else rc), t1 - t0, ru, proc.pid


def read_text(path):
    with open(path, "r", errors="replace") as f:
        return f.read().strip()


def machine_facts():
    facts = {}
    facts["nproc"] = os.cpu_count()
    try:
        facts["affinity"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    u = platform.uname()
    facts["kernel"] = "%s %s %s" % (u.system, u.release, u.machine)
    cpu = line_after("/proc/cpuinfo", "model name")
    if cpu is not None:
        facts["cpu"] = cpu.split(":", 1)[1].strip()
    os_name = line_after("/etc/os-release", "PRETTY_NAME=")
    if os_name is not None:
        facts["os"] = os_name.strip().strip('"')
    mem_kib = line_after("/proc/meminfo", "MemTotal:")
    try:
        facts["mem_gib"] = round(int(mem_kib.split()[0]) / 1048576.0, 1)
    except (AttributeError, ValueError, IndexError):
        pass
    facts["loadavg"] = loadavg()
    return facts


def line_after(path, prefix):
    """The rest of the first line of `path` that starts with `prefix`, or
    None (no such line, or the file cannot be read)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line[len(prefix):]
    except OSError:
        pass
    return None


def loadavg():
    return " ".join("%.2f" % x for x in os.getloadavg())


def repo_state():
    """The repository's HEAD commit and the top-level directories with uncommitted changes
    (what was built may differ from HEAD there), or None when git cannot tell."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              universal_newlines=True, timeout=30).stdout.strip()
        status = subprocess.run(["git", "-C", REPO, "status", "--porcelain"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                universal_newlines=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if not head:
        return None
    dirs = sorted(set(line[3:].split("/", 1)[0] for line in status.splitlines() if len(line) > 3))
    return head + ((", uncommitted changes in: " + " ".join(dirs)) if dirs else ", clean")


def print_header(facts):
    """Prints the command line and the machine facts (first lines of every benchmark)."""
    print("command: %s" % " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    state = repo_state()
    if state:
        print("repository: %s" % state)
    print("machine: nproc=%s (affinity %s), %s, %s%s" % (
        facts.get("nproc"), facts.get("affinity", "?"), facts.get("kernel"), facts.get("os", "?"),
        (", %.1f GiB RAM" % facts["mem_gib"]) if "mem_gib" in facts else ""))
    print("cpu:     %s" % facts.get("cpu", "?"))
    print("load average at start: %s" % facts["loadavg"])


def spread_pct(vals):
    m = statistics.median(vals)
    return 100.0 * (max(vals) - min(vals)) / m if m else 0.0


class PprofReader:
    """Reads a profile with `go tool pprof -raw -symbolize=none` (handles both the gzipped
    profile.proto that ppagent writes and gperftools' legacy formats).  pprof gets its own HOME,
    GOCACHE and PPROF_TMPDIR under scratch."""

    def __init__(self, go, scratch):
        self.go = go
        self.env = dict(clean_env())
        for d in ("home", "gocache", "pprof_tmp"):
            os.makedirs(os.path.join(scratch, d), exist_ok=True)
        self.env["HOME"] = os.path.join(scratch, "home")
        self.env["GOCACHE"] = os.path.join(scratch, "gocache")
        self.env["PPROF_TMPDIR"] = os.path.join(scratch, "pprof_tmp")
        self.env["GOFLAGS"] = ""
        self.env["GOTOOLCHAIN"] = "local"

    def raw(self, path):
        """Returns RawProfile for the profile at path."""
        cmd = [self.go, "tool", "pprof", "-raw", "-symbolize=none", path]
        p = subprocess.run(cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
        return parse_raw(p.stdout)


class RawProfile:
    def __init__(self):
        self.period = None
        self.period_type = None
        self.types = []      # sample types as "type/unit", default one without pprof's '*'
        self.totals = []     # sum of each sample type's values over all samples
        self.samples = 0     # number of sample records
        self.records = []    # each sample record's values, in the order of types

    def total(self, type_unit):
        """Sum of the sample type named "type/unit" (e.g. "alloc_space/bytes"), None if absent."""
        for t, v in zip(self.types, self.totals):
            if t == type_unit:
                return v
        return None

    def total_prefix(self, prefix):
        """Sum of the first sample type whose name starts with prefix (e.g. "samples/")."""
        for t, v in zip(self.types, self.totals):
            if t.startswith(prefix):
                return v
        return None


def parse_raw(text):
    """Parses `pprof -raw` output: `PeriodType: type unit` and `Period: N` lines, then a
    `Samples:` line, a header naming the sample types, and sample lines `v1 v2 ...: loc loc ...`
    (each may be followed by label lines, which are skipped)."""
    prof = RawProfile()
    in_samples = False
    header_seen = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("PeriodType:"):
            prof.period_type = s.split(":", 1)[1].strip()
            continue
        if s.startswith("Period:"):
            try:
                prof.period = int(s.split()[1])
            except (IndexError, ValueError):
                pass
            continue
        if s == "Samples:":
            in_samples = True
            header_seen = False
            continue
        if not in_samples:
            continue
        if not header_seen:
            prof.types = [t.rstrip("*") for t in s.split()]  # pprof marks the default with '*'
            prof.totals = [0] * len(prof.types)
            header_seen = True
            continue
        if s.startswith(("Locations", "Mappings")):
            break  # end of the sample block
        if ":" not in s:
            continue
        head = s.split(":", 1)[0].split()
        try:
            vals = [int(v) for v in head]
        except ValueError:
            continue  # label lines ("thread_id:[123] ...", "bytes:[64]") follow their sample
        if len(vals) != len(prof.types):
            continue
        prof.samples += 1
        prof.records.append(vals)
        for i, v in enumerate(vals):
            prof.totals[i] += v
    if not header_seen:
        raise RuntimeError("no Samples: block in pprof -raw output")
    return prof


def rotations(items, rounds):
    """Interleaved rounds: every round runs every item once. The orders are the rows of a
    Williams design (each row shifted by one, and for an odd count also reversed), so that over
    a full cycle of rows every item comes right after every other item equally often. A plain
    rotation kept each item's predecessor the same in every round, so whatever one configuration
    leaves behind (its files being removed, dirty pages written back, a cold cache) would always
    land on the same next configuration."""
    n = len(items)
    first, low, high = [0], 1, n - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    cycle = n if n % 2 == 0 else 2 * n
    for rnd in range(rounds):
        row = rnd % cycle if n else 0
        order = [(i + row) % n for i in first]
        if row >= n:
            order.reverse()
        yield rnd, [items[i] for i in order]


def finish(args, notes, scratch, facts, results):
    """The common end of a benchmark: notes, the scratch directory kept or
    removed (--keep), and the per-run figures written as JSON (--json)."""
    for n in notes:
        print("NOTE: " + n)
    if args.keep:
        print("profiles kept in %s" % scratch)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        out = {
            "command": [sys.executable] + sys.argv,
            "machine": facts,
            "rounds": args.rounds,
            "results": results,
        }
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print("per-run figures written to %s" % args.json)
