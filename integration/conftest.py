"""Harness for the ppagent integration tests.

Everything is found relative to the build directory: PPAGENT_BUILD_DIR if set
(meson test sets it), else <repo>/build next to this file's parent.

  build/agent/libppagent.so   the agent (LD_PRELOAD)
  build/launcher/ppagent      the launcher
  build/integration/*         the workload programs (integration/meson.build)

Profiles are read by two independent readers:
  - `go tool pprof` (the reader users have): -top, -tags, -raw, -traces;
  - classes generated at test time from proto/profile.proto with protoc.

Run:  /usr/bin/python3 -m pytest -q integration      (after ninja -C build)
  or  meson test -C build --suite integration -v
"""

import gzip
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUILD = Path(os.environ.get("PPAGENT_BUILD_DIR", REPO / "build")).resolve()
AGENT = BUILD / "agent" / "libppagent.so"
LAUNCHER = BUILD / "launcher" / "ppagent"
WORKLOADS = BUILD / "integration"
WORKLOAD_SRC = HERE / "workloads"
PROTO = REPO / "proto" / "profile.proto"

PROFILE_GLOB = "*.cpu.pb.gz"


# ---------------------------------------------------------------------------
# Running programs


@dataclass
class Run:
    argv: list
    pid: int
    returncode: int
    stdout: str
    stderr: str
    rusage: object  # resource.struct_rusage from os.wait4
    outdir: Path
    wall: float

    @property
    def cpu_seconds(self):
        return self.rusage.ru_utime + self.rusage.ru_stime

    @property
    def profiles(self):
        """Profile files present in the output directory after the run."""
        return sorted(self.outdir.glob(PROFILE_GLOB)) if self.outdir else []

    @property
    def ppagent_lines(self):
        return [l for l in self.stderr.splitlines() if l.startswith("ppagent:")]

    def assert_one_complaint(self, base, var, quoted):
        """A bad setting of `var`: the program's status and stdout are those
        of `base` (a run without it), and stderr is one ppagent: line that
        names `var` and quotes its value (`quoted`), and nothing else."""
        assert self.returncode == base.returncode, self.describe()
        assert self.stdout == base.stdout, self.describe()
        lines = self.ppagent_lines
        assert len(lines) == 1, "expected exactly one ppagent: line\n" + self.describe()
        assert var in lines[0], f"the line must name {var}: {lines[0]!r}"
        assert quoted in lines[0], f"the line must quote the value ({quoted}): {lines[0]!r}"
        others = [l for l in self.stderr.splitlines() if not l.startswith("ppagent:")]
        assert others == [], "nothing else on stderr\n" + self.describe()

    def describe(self):
        return (f"argv={self.argv}\nreturncode={self.returncode}\n"
                f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}\n"
                f"files in {self.outdir}: "
                f"{sorted(p.name for p in self.outdir.iterdir()) if self.outdir and self.outdir.is_dir() else None}")

    def the_profile(self, program=None):
        """The one profile this run must have written: <program>.<pid>.cpu.pb.gz."""
        program = program or Path(self.argv[0]).name
        expected = self.outdir / f"{program}.{self.pid}.cpu.pb.gz"
        assert self.profiles == [expected], (
            f"expected exactly one profile {expected.name}, found "
            f"{[p.name for p in self.profiles]}\n" + self.describe())
        return expected


def thread_stacks(pid, timeout=60):
    """Backtraces of every thread of a live process (gdb, if installed), to
    show where a hung run was stuck."""
    gdb = shutil.which("gdb")
    if not gdb:
        return "(gdb not installed)"
    try:
        r = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 16"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return "(gdb timed out)"
    lines = [l for l in r.stdout.splitlines() if l.startswith(("#", "Thread "))]
    return "\n".join(lines[:200]) or r.stderr[-2000:]


class Proc:
    """A started child; stdout and stderr go to files so nothing can block."""

    def __init__(self, argv, env, cwd, outdir, logdir, preexec_fn=None):
        self.argv = [str(a) for a in argv]
        self.outdir = Path(outdir) if outdir else None
        logdir.mkdir(parents=True, exist_ok=True)
        n = len(list(logdir.glob("*.stdout")))
        self.out_path = logdir / f"run{n}.stdout"
        self.err_path = logdir / f"run{n}.stderr"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.t0 = time.monotonic()
        self.popen = subprocess.Popen(
            self.argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=self._out, stderr=self._err, start_new_session=True,
            preexec_fn=preexec_fn)
        self.pid = self.popen.pid

    def stdout_text(self):
        return self.out_path.read_bytes().decode(errors="replace")

    def wait_for_stdout(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.stdout_text():
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(
            f"{self.argv}: {text!r} did not appear on stdout within {timeout}s; "
            f"stdout={self.stdout_text()!r} stderr={self.err_path.read_text(errors='replace')!r}")

    def signal(self, signum):
        os.kill(self.pid, signum)

    def finish(self, timeout):
        """Reap the child with wait4 (for its rusage). On timeout the child's
        process group (its own session) is killed and the test fails."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                break
            if time.monotonic() > deadline:
                stacks = thread_stacks(self.pid)
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.wait4(self.pid, 0)
                self._out.close()
                self._err.close()
                out = self.stdout_text()
                if len(out) > 3000:
                    out = f"[... {len(out) - 3000} characters ...]" + out[-3000:]
                raise AssertionError(
                    f"{self.argv} did not finish within {timeout}s (killed; hang/deadlock?)\n"
                    f"stdout={out!r}\nstderr={self.err_path.read_text(errors='replace')[-3000:]!r}"
                    f"\nthreads before the kill:\n{stacks}")
            time.sleep(0.01)
        wall = time.monotonic() - self.t0
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._out.close()
        self._err.close()
        return Run(argv=self.argv, pid=self.pid, returncode=self.popen.returncode,
                   stdout=self.stdout_text(),
                   stderr=self.err_path.read_bytes().decode(errors="replace"),
                   rusage=rusage, outdir=self.outdir, wall=wall)


class RawChecks:
    """Every profile file read with `go tool pprof -raw` in this session, for
    the figures printed at the end: files checked, processes they came from
    (the pid in `<program>.<pid>.<kind>...pb.gz`), files pprof rejected."""

    def __init__(self):
        self.files = {}

    def record(self, path, ok):
        key = str(Path(path).resolve()) if "://" not in str(path) else str(path)
        self.files[key] = self.files.get(key, True) and ok

    def summary(self):
        pids = set()
        for f in self.files:
            m = re.match(r".*?\.(\d+)\.[a-z]+(?:\.\d+)?\.pb\.gz$", Path(f).name)
            if m:
                pids.add(m.group(1))
        bad = sum(1 for ok in self.files.values() if not ok)
        return (f"go tool pprof -raw read {len(self.files)} profile files from {len(pids)} "
                f"processes; {bad} rejected")


RAW_CHECKS = RawChecks()


def pytest_terminal_summary(terminalreporter):
    if RAW_CHECKS.files:
        terminalreporter.write_line("ppagent: " + RAW_CHECKS.summary())


def clean_env():
    """The test process's environment without anything that would steer the agent."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PPROF_") and k != "LD_PRELOAD"}
    # The agent's debug-section cache (PPROF_CACHE_DIR) goes in the build
    # directory, not in the home of whoever runs the tests.
    env["XDG_CACHE_HOME"] = str(BUILD / "test-cache")
    return env


UNSET = object()


class Harness:
    def __init__(self, tmp_factory):
        self.tmp_factory = tmp_factory
        self.logdir = tmp_factory.mktemp("logs")
        self._pb = None
        self._pprof_env = None
        self._pprof_memo = {}
        self._pprof_memo_lock = threading.Lock()

    # -- paths -------------------------------------------------------------
    @property
    def agent(self):
        assert AGENT.is_file(), f"agent not built: {AGENT} (run ninja -C {BUILD})"
        return AGENT

    @property
    def launcher(self):
        assert LAUNCHER.is_file(), f"launcher not built: {LAUNCHER} (run ninja -C {BUILD})"
        return LAUNCHER

    def workload(self, name):
        p = WORKLOADS / name
        assert p.is_file(), f"workload not built: {p} (run ninja -C {BUILD})"
        return p

    def tmpdir(self, name):
        return self.tmp_factory.mktemp(name)

    # -- running -----------------------------------------------------------
    def start(self, argv, *, agent=True, hz=None, outdir=None, cwd=None, env=None,
              preexec_fn=None):
        """Start argv. With agent=True the agent is preloaded; hz sets
        PPROF_CPU_HZ, outdir PPROF_OUTPUT_DIR. env entries override; a value of
        UNSET removes the variable."""
        e = clean_env()
        if agent:
            e["LD_PRELOAD"] = str(self.agent)
            if hz is not None:
                e["PPROF_CPU_HZ"] = str(hz)
            if outdir is not None:
                e["PPROF_OUTPUT_DIR"] = str(outdir)
        for k, v in (env or {}).items():
            if v is UNSET:
                e.pop(k, None)
            else:
                e[k] = str(v)
        if outdir is None:
            outdir = cwd
        return Proc(argv, e, cwd, outdir, self.logdir, preexec_fn=preexec_fn)

    def run(self, argv, *, timeout=120, **kw):
        return self.start(argv, **kw).finish(timeout)

    def run_agent(self, argv, *, timeout=120, outdir=None, **kw):
        """Run argv under the agent with a fresh output directory (unless given)."""
        if outdir is None:
            outdir = self.tmpdir("out")
        return self.run(argv, timeout=timeout, outdir=outdir, **kw)

    def run_launcher(self, args, *, timeout=120, cwd=None, env=None, launcher=None):
        """Run `ppagent ARGS...` (no agent preloaded into the test's own env)."""
        cwd = cwd or self.tmpdir("cwd")
        e = clean_env()
        for k, v in (env or {}).items():
            if v is UNSET:
                e.pop(k, None)
            else:
                e[k] = str(v)
        argv = [str(launcher or self.launcher)] + [str(a) for a in args]
        return Proc(argv, e, cwd, cwd, self.logdir).finish(timeout)

    # -- python protobuf reader ----------------------------------------------
    @property
    def pb(self):
        if self._pb is None:
            d = self.tmp_factory.mktemp("pb")
            subprocess.run(["protoc", f"--proto_path={PROTO.parent}", f"--python_out={d}",
                            str(PROTO)], check=True)
            sys.path.insert(0, str(d))
            try:
                self._pb = importlib.import_module("profile_pb2")
            finally:
                sys.path.remove(str(d))
        return self._pb

    def decode(self, path):
        data = Path(path).read_bytes()
        assert data[:2] == b"\x1f\x8b", f"{path}: not gzip (starts with {data[:4]!r})"
        prof = self.pb.Profile()
        prof.ParseFromString(gzip.decompress(data))
        return ProfileView(prof, path)

    # -- go tool pprof -------------------------------------------------------
    def pprof_env(self):
        if self._pprof_env is None:
            home = self.tmp_factory.mktemp("gohome")
            e = clean_env()
            e.update(HOME=str(home), GOCACHE=str(home / "gocache"), GOPATH=str(home / "gopath"),
                     PPROF_TMPDIR=str(home / "pprof"), GOFLAGS="", GO111MODULE="off")
            e.pop("PPROF_BINARY_PATH", None)
            self._pprof_env = e
        return self._pprof_env

    def pprof(self, args, profile, check=True, timeout=120):
        cmd = ["go", "tool", "pprof"] + list(args) + [str(profile)]
        # The same file (same inode, size and modification time) read with the
        # same arguments and -symbolize=none gives the same output: the last 64
        # such results are kept (test_real_world.py reads each file's -raw twice
        # in a row). Not otherwise: pprof then reads the binaries the profile
        # names, which a test may remove between two reads.
        key = None
        if ("-symbolize=none" in args and "://" not in str(profile)
                and os.path.isfile(profile)):
            st = os.stat(profile)
            key = (tuple(cmd), st.st_ino, st.st_size, st.st_mtime_ns)
        with self._pprof_memo_lock:
            r = self._pprof_memo.get(key)
        if r is None:
            r = subprocess.run(cmd, env=self.pprof_env(), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=timeout)
            if key is not None:
                with self._pprof_memo_lock:
                    self._pprof_memo[key] = r
                    while len(self._pprof_memo) > 64:
                        del self._pprof_memo[next(iter(self._pprof_memo))]
        if "-raw" in args:
            RAW_CHECKS.record(profile, r.returncode == 0)
        if check:
            assert r.returncode == 0, (
                f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def pprof_top(self, profile, symbolize="none", extra=()):
        """-top; symbolize=None runs pprof with its default (as a user would)."""
        sym = [] if symbolize is None else [f"-symbolize={symbolize}"]
        r = self.pprof(["-top", "-nodecount=500", *sym, *extra], profile)
        return parse_top(r.stdout), r

    def pprof_tags(self, profile):
        r = self.pprof(["-tags", "-symbolize=none"], profile)
        return parse_tags(r.stdout), r

    def pprof_raw(self, profile):
        return self.pprof(["-raw", "-symbolize=none"], profile).stdout

    # -- validity --------------------------------------------------------------
    def assert_valid_profile(self, path, *, hz=100, program=None, min_samples=1):
        """Both readers accept the file and it follows the spec's CPU profile
        shape. Returns the decoded ProfileView."""
        view = self.decode(path)
        problems = view.problems(hz=hz, program=program)
        assert not problems, f"{path}: invalid profile:\n  " + "\n  ".join(problems)
        n = sum(s.value[0] for s in view.p.sample)
        assert n >= min_samples, f"{path}: {n} samples, expected at least {min_samples}"
        raw = self.pprof_raw(path)
        assert "PeriodType: cpu nanoseconds" in raw, raw[:2000]
        return view


    def pprof_heap_top(self, profile, sample_index=None):
        """-top of a heap/allocs profile with nothing dropped (no node or edge
        fraction cut-off), names from the profile only (-symbolize=none)."""
        idx = [f"-sample_index={sample_index}"] if sample_index else []
        r = self.pprof(["-top", "-nodecount=1000", "-nodefraction=0", "-edgefraction=0",
                        "-symbolize=none", *idx], profile)
        top = parse_heap_top(r.stdout)
        if sample_index:
            assert top.type == sample_index, f"asked for {sample_index}, pprof shows {top.type}"
        return top, r

    def assert_valid_heap_profile(self, path, *, kind, rate, program=None, min_samples=1):
        """Both readers accept the file and it has the spec's heap (kind="heap")
        or allocs (kind="allocs") shape at sampling rate `rate`. Returns the
        decoded ProfileView."""
        assert kind in ("heap", "allocs"), kind
        view = self.decode(path)
        problems = view.heap_problems(kind=kind, rate=rate, program=program)
        assert not problems, f"{path}: invalid {kind} profile:\n  " + "\n  ".join(problems)
        assert len(view.p.sample) >= min_samples, (
            f"{path}: {len(view.p.sample)} samples, expected at least {min_samples}")
        raw = self.pprof_raw(path)
        assert "PeriodType: space bytes" in raw, raw[:2000]
        assert re.search(rf"^Period: {rate}$", raw, re.M), raw[:2000]
        # -raw marks the default sample type with [dflt].
        header = ("alloc_objects/count alloc_space/bytes[dflt] inuse_objects/count inuse_space/bytes"
                  if kind == "allocs" else
                  "alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes")
        assert re.search(rf"^{re.escape(header)}$", raw, re.M), (
            f"pprof -raw sample header is not {header!r}:\n{raw[:2000]}")
        # Readers show inuse_space for a heap profile (no default type), alloc_space
        # for an allocs profile (default_sample_type).
        top, res = self.pprof_heap_top(path)
        want = "alloc_space" if kind == "allocs" else "inuse_space"
        assert top.type == want, (
            f"{path}: go tool pprof -top shows Type: {top.type}, want {want}\n{top.text}")
        return view


def wait_for_file(path, timeout=20.0, proc=None):
    """Wait until `path` exists (the agent renames complete files into place).
    Fails after `timeout` seconds, or early if `proc` (a Proc) has ended."""
    path = Path(path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return path
        if proc is not None and proc.popen.poll() is not None:
            break
        time.sleep(0.05)
    d = path.parent
    raise AssertionError(
        f"{path.name} did not appear in {d} within {timeout}s; files there: "
        f"{sorted(p.name for p in d.iterdir()) if d.is_dir() else None}")


def heap_files(outdir, program, pid):
    """{"heap": exit heap or None, "allocs": ..., "heap.N": ..., "allocs.N": ...,
    "cpu": ...} for the files of one process in outdir."""
    out = {}
    rx = re.compile(rf"{re.escape(program)}\.{pid}\.(heap|allocs|cpu)(?:\.([0-9]+))?\.pb\.gz")
    for p in Path(outdir).iterdir():
        m = rx.fullmatch(p.name)
        if m:
            out[m.group(1) + (f".{m.group(2)}" if m.group(2) else "")] = p
    return out


# ---------------------------------------------------------------------------
# Profile access (python protobuf)


class ProfileView:
    def __init__(self, prof, path=None):
        self.p = prof
        self.path = path
        self.s = list(prof.string_table)
        self.functions = {f.id: f for f in prof.function}
        self.locations = {l.id: l for l in prof.location}
        self.mappings = {m.id: m for m in prof.mapping}

    def str(self, i):
        return self.s[i] if 0 <= i < len(self.s) else f"<bad string index {i}>"

    def sample_types(self):
        return [(self.str(v.type), self.str(v.unit)) for v in self.p.sample_type]

    def value_index(self, typ):
        return [t for t, _ in self.sample_types()].index(typ)

    def cpu_ns(self, sample):
        return sample.value[self.value_index("cpu")]

    def total_cpu_ns(self):
        i = self.value_index("cpu")
        return sum(s.value[i] for s in self.p.sample)

    def labels(self, sample):
        return {self.str(l.key): self.str(l.str) for l in sample.label if l.str}

    def lines(self, loc):
        """[(function name, system name, filename, line)] innermost first."""
        out = []
        for ln in loc.line:
            f = self.functions.get(ln.function_id)
            if f is None:
                out.append((None, None, None, ln.line))
            else:
                out.append((self.str(f.name), self.str(f.system_name), self.str(f.filename), ln.line))
        return out

    def leaf_function(self, sample):
        loc = self.locations[sample.location_id[0]]
        ls = self.lines(loc)
        return ls[0][0] if ls else None

    def flat_by_function(self):
        """cpu ns by the innermost function name of each sample's leaf location."""
        out = {}
        for s in self.p.sample:
            name = self.leaf_function(s)
            out[name] = out.get(name, 0) + self.cpu_ns(s)
        return out

    def cpu_by_label(self, key):
        out = {}
        for s in self.p.sample:
            v = self.labels(s).get(key)
            out[v] = out.get(v, 0) + self.cpu_ns(s)
        return out

    def comments(self):
        return [self.str(c) for c in self.p.comment]

    def structure_problems(self, *, program=None):
        """What any profile must get right: string table, ids, references,
        mapping[0] = the main binary, time_nanos. Returns (problems, chk) where
        chk(idx, what) appends a problem for a string index out of range."""
        p, bad = self.p, []
        if not self.s or self.s[0] != "":
            bad.append("string_table[0] is not empty")
        n = len(self.s)

        def chk(idx, what):
            if not 0 <= idx < n:
                bad.append(f"{what}: string index {idx} out of range")

        if p.time_nanos <= 0:
            bad.append("time_nanos not set")
        for kind, items in (("mapping", p.mapping), ("location", p.location), ("function", p.function)):
            ids = [x.id for x in items]
            if 0 in ids:
                bad.append(f"{kind} with id 0")
            if len(set(ids)) != len(ids):
                bad.append(f"duplicate {kind} ids")
        for f in p.function:
            for idx in (f.name, f.system_name, f.filename):
                chk(idx, f"function {f.id}")
        for m in p.mapping:
            chk(m.filename, f"mapping {m.id}")
            chk(m.build_id, f"mapping {m.id}")
        for loc in p.location:
            for ln in loc.line:
                if ln.function_id not in self.functions:
                    bad.append(f"location {loc.id} refers to missing function {ln.function_id}")
        if program is not None:
            if not p.mapping:
                bad.append("no mappings")
            else:
                main = os.path.basename(self.str(p.mapping[0].filename))
                if not main.startswith(program):
                    bad.append(f"mapping[0] is {self.str(p.mapping[0].filename)!r}, want the main "
                               f"binary {program}")
        return bad, chk

    def sample_problems(self, s, chk):
        """Problems every sample can have: value count, dangling locations,
        label string indexes."""
        problems = []
        if len(s.value) != len(self.p.sample_type):
            problems.append(f"{len(s.value)} values for {len(self.p.sample_type)} sample types")
        if not s.location_id:
            problems.append("no locations")
        for lid in s.location_id:
            if lid not in self.locations:
                problems.append(f"missing location {lid}")
        for l in s.label:
            chk(l.key, "label key")
            if l.str:
                chk(l.str, "label value")
            if l.num_unit:
                chk(l.num_unit, "label num_unit")
        return problems

    def add_sample_problems(self, bad, chk, kind_problems):
        """`bad` with the problems of the first five bad samples, and past
        five how many there are in all. A sample's problems: those every
        sample can have (sample_problems), then `kind_problems(sample)`."""
        nbad = 0
        for s in self.p.sample:
            problems = self.sample_problems(s, chk) + kind_problems(s)
            if problems:
                nbad += 1
                if nbad <= 5:
                    bad.append("sample: " + "; ".join(problems))
        if nbad > 5:
            bad.append(f"... {nbad} bad samples in all")
        return bad

    def problems(self, *, hz=100, program=None):
        """Everything that makes this file not a spec-conforming CPU profile."""
        p = self.p
        bad, chk = self.structure_problems(program=program)
        if self.sample_types() != [("samples", "count"), ("cpu", "nanoseconds")]:
            bad.append(f"sample_type is {self.sample_types()}, want samples/count, cpu/nanoseconds")
        pt = (self.str(p.period_type.type), self.str(p.period_type.unit))
        if pt != ("cpu", "nanoseconds"):
            bad.append(f"period_type is {pt}, want cpu/nanoseconds")
        if hz and p.period != 1_000_000_000 // hz:
            bad.append(f"period is {p.period}, want {1_000_000_000 // hz} for {hz} Hz")
        if p.duration_nanos <= 0:
            bad.append("duration_nanos not set")
        if not any(c.startswith("dropped samples:") for c in self.comments()):
            bad.append(f"no 'dropped samples: N' comment (comments: {self.comments()})")

        def cpu_sample_problems(s):
            problems = []
            if len(s.value) == len(p.sample_type) and (
                    s.value[0] < 1 or s.value[1] < s.value[0] * p.period
                    or (p.period and s.value[1] % p.period)):
                # n signals, each standing for (1 + overrun) whole periods
                problems.append(f"values {list(s.value)}: want n >= 1 samples and a cpu "
                                f"value that is a multiple of the period, >= n*period")
            lab = self.labels(s)
            if not re.fullmatch(r"[0-9]+", lab.get("thread_id", "")):
                problems.append(f"thread_id label missing or not decimal: {lab}")
            if "thread_name" not in lab:
                problems.append(f"thread_name label missing: {lab}")
            return problems

        return self.add_sample_problems(bad, chk, cpu_sample_problems)

    # -- heap profiles ---------------------------------------------------------

    def num_labels(self, sample):
        return {self.str(l.key): l.num for l in sample.label if not l.str}

    def heap_problems(self, *, kind, rate, program=None):
        """Everything that makes this file not a spec-conforming heap (kind
        "heap") or allocs (kind "allocs") profile sampled at `rate` bytes."""
        p = self.p
        bad, chk = self.structure_problems(program=program)
        if self.sample_types() != HEAP_SAMPLE_TYPES:
            bad.append(f"sample_type is {self.sample_types()}, want {HEAP_SAMPLE_TYPES}")
        pt = (self.str(p.period_type.type), self.str(p.period_type.unit))
        if pt != ("space", "bytes"):
            bad.append(f"period_type is {pt}, want space/bytes")
        if p.period != rate:
            bad.append(f"period is {p.period}, want the sampling rate {rate}")
        dst = self.str(p.default_sample_type) if p.default_sample_type else None
        want_dst = "alloc_space" if kind == "allocs" else None
        if dst != want_dst:
            bad.append(f"default_sample_type is {dst!r}, want {want_dst!r} for a {kind} profile")
        seen = set()

        def heap_sample_problems(s):
            problems = []
            if len(s.value) == 4:
                ao, asp, io, isp = s.value
                if min(s.value) < 0:
                    problems.append(f"negative value {list(s.value)}")
                if ao < 1 or asp < 1:
                    problems.append(f"alloc values {list(s.value)}: a sample stands for at "
                                    f"least one sampled allocation")
                if io > ao or isp > asp:
                    problems.append(f"in-use exceeds allocated: {list(s.value)}")
                if (io == 0) != (isp == 0):
                    problems.append(f"inuse_objects and inuse_space disagree: {list(s.value)}")
            nums = self.num_labels(s)
            if "bytes" not in nums:
                problems.append(f"numeric label 'bytes' missing (labels {nums})")
            elif nums["bytes"] < 0:
                problems.append(f"label bytes={nums['bytes']} is negative")
            # One sample per (stack, allocation size), as Go writes them.
            key = (tuple(s.location_id), nums.get("bytes"))
            if key in seen:
                problems.append(f"a second sample for stack {list(s.location_id)} and "
                                f"bytes={nums.get('bytes')}")
            seen.add(key)
            return problems

        return self.add_sample_problems(bad, chk, heap_sample_problems)

    def stack_functions(self, sample):
        """Every function name on the sample's stack (all inline levels)."""
        return {ln[0] for lid in sample.location_id
                for ln in self.lines(self.locations[lid]) if ln[0]}

    def heap_totals(self):
        """Sum of each of the four values over all samples, by type name."""
        names = [t for t, _ in self.sample_types()]
        out = dict.fromkeys(names, 0)
        for s in self.p.sample:
            for n, v in zip(names, s.value):
                out[n] += v
        return out

    def heap_by_function(self, names):
        """{name: {sample type: sum}} over the samples with `name` anywhere on
        the stack (pprof's cum)."""
        types = [t for t, _ in self.sample_types()]
        out = {n: dict.fromkeys(types, 0) for n in names}
        for s in self.p.sample:
            fns = self.stack_functions(s)
            for n in names:
                if n in fns:
                    for t, v in zip(types, s.value):
                        out[n][t] += v
        return out


HEAP_SAMPLE_TYPES = [("alloc_objects", "count"), ("alloc_space", "bytes"),
                     ("inuse_objects", "count"), ("inuse_space", "bytes")]


# ---------------------------------------------------------------------------
# go tool pprof output parsing

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "mins": 60.0, "hrs": 3600.0}


def parse_duration(text):
    """'1.40s' -> 1.4, '700ms' -> 0.7, '0' -> 0.0 (pprof's time formatting)."""
    text = text.strip()
    if text == "0":
        return 0.0
    m = re.fullmatch(r"([0-9.]+(?:e[-+]?[0-9]+)?)([a-zµ]+)", text)
    assert m and m.group(2) in _UNITS, f"cannot parse pprof duration {text!r}"
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class Top:
    total: float  # seconds ("Total samples = ...")
    rows: dict = field(default_factory=dict)  # name -> (flat s, flat %, cum s, cum %)
    text: str = ""

    def flat_pct(self, name):
        return self.rows[name][1] if name in self.rows else 0.0


_TOP_ROW = re.compile(r"^\s*(\S+)\s+([0-9.]+)%\s+([0-9.]+)%\s+(\S+)\s+([0-9.]+)%\s+(.+?)\s*$")


def parse_top(text):
    total = None
    rows = {}
    in_rows = False
    for line in text.splitlines():
        m = re.search(r"Total samples = (\S+)", line)
        if m:
            total = parse_duration(m.group(1))
        if re.match(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%", line):
            in_rows = True
            continue
        if in_rows:
            m = _TOP_ROW.match(line)
            if m:
                rows[m.group(6)] = (parse_duration(m.group(1)), float(m.group(2)),
                                    parse_duration(m.group(4)), float(m.group(5)))
    assert total is not None, f"no 'Total samples' in pprof -top output:\n{text}"
    return Top(total=total, rows=rows, text=text)


_BYTE_UNITS = {"B": 1, "kB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4,
               "PB": 1024 ** 5}


def parse_bytes(text):
    """pprof's byte formatting (binary multiples): '64.46MB' -> 67590.. , '0' -> 0."""
    text = text.strip()
    if text == "0":
        return 0.0
    m = re.fullmatch(r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)([a-zA-Z]+)", text)
    assert m and m.group(2) in _BYTE_UNITS, f"cannot parse pprof byte value {text!r}"
    return float(m.group(1)) * _BYTE_UNITS[m.group(2)]


def parse_count(text):
    """pprof's count formatting: '16384', '1.64k'? -- plain integers or k/M/G suffixes."""
    text = text.strip()
    m = re.fullmatch(r"(-?[0-9.]+(?:e[-+]?[0-9]+)?)([kMGT]?)", text)
    assert m, f"cannot parse pprof count {text!r}"
    return float(m.group(1)) * {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]


@dataclass
class HeapTop:
    type: str  # the "Type:" header: inuse_space, alloc_space, ...
    total: float  # "... of X total", in bytes (or objects for *_objects)
    rows: dict = field(default_factory=dict)  # name -> (flat, flat %, cum, cum %)
    text: str = ""

    def cum(self, name):
        return self.rows[name][2] if name in self.rows else 0.0

    def flat(self, name):
        return self.rows[name][0] if name in self.rows else 0.0


def parse_heap_top(text):
    """go tool pprof -top of a heap/allocs profile."""
    m = re.search(r"^Type: (\S+)\s*$", text, re.M)
    assert m, f"no 'Type:' line in pprof -top output:\n{text}"
    typ = m.group(1)
    num = parse_count if typ.endswith("_objects") else parse_bytes
    m = re.search(r"Showing nodes accounting for \S+, \S+ of (\S+) total", text)
    assert m, f"no 'Showing nodes accounting for' in pprof -top output:\n{text}"
    total = num(m.group(1))
    rows, in_rows = {}, False
    for line in text.splitlines():
        if re.match(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%", line):
            in_rows = True
            continue
        if in_rows:
            r = _TOP_ROW.match(line)
            if r:
                rows[r.group(6)] = (num(r.group(1)), float(r.group(2)), num(r.group(4)),
                                    float(r.group(5)))
    return HeapTop(type=typ, total=total, rows=rows, text=text)


def parse_tags(text):
    """pprof -tags -> {key: {value: percent}}"""
    out, key = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s*(\S+):\s+Total\s+\S+\s*$", line)
        if m:
            key = m.group(1)
            out[key] = {}
            continue
        m = re.match(r"^\s*\S+\s+\(\s*([0-9.e+-]+)%\)\s*:\s+(.*?)\s*$", line)
        if m and key is not None:
            out[key][m.group(2)] = float(m.group(1))
    return out


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def h(tmp_path_factory):
    return Harness(tmp_path_factory)
