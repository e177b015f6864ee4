"""Mutex and block profiles (issue 4).

The workloads measure their own waiting: every thread reads CLOCK_MONOTONIC
immediately before the lock/wait call and immediately after it returns, and
the program prints the sum (lock_contention.c, lock_cxx.cc). For the mutex
profile the workloads also print the sum of the waits counted only up to the
release that ended them (the releaser timestamps itself just before its
unlock): Go's mutex profile charges a release with the waiting it ended, so
the waiter's wake-up latency after that release is charged to no one. The
profiles are compared with those sums, read both by `go tool pprof -top
-symbolize=none` and by the protobuf classes generated from
proto/profile.proto.

Why the bands are safe. All quantitative runs use PPROF_MUTEX_FRACTION=1 and
PPROF_BLOCK_RATE=1 (or a block rate far below the waits, see the launcher
test): every contention event and every wait is recorded, each with weight 1.
There is no sampling error at all; what is left is where the clocks are read.
  - Block profile: the agent's interval (clock read after its trylock failed,
    clock read when the real lock call returned) lies inside the workload's
    interval (clock read before the call, after it returned). The workload's
    extra is the trylock, one clock read and the agent's recording of the
    event: a few microseconds per wait, against waits of milliseconds (mutex
    test: 4 threads x 200 holds of 2 ms, ~800 waits of ~6 ms, ~5 s in all).
  - Mutex profile: the releaser is charged, at its unlock, with now minus the
    waiters' start, for all waiters, their start then reset. The workload's
    "until release" sum is the same quantity with the release time read a few
    nanoseconds before the agent reads it; the only approximation allowed by
    the spec is for the waiters behind the oldest (Go >= 1.22 interpolates
    their start times). +-25% covers an interpolation that is off by a
    quarter; it fails if waiters are not all charged (with 3 waiters,
    charging only the oldest gives about -50%) or are charged twice (+100%).
  - Measured on this 2-core VM under a load average of 4-7 (other builds and
    test suites running), two runs each, profile vs self-measured:
      block, mutex workload (wait_for_lock)       -0.03%, -0.03%
      mutex, mutex workload (hold_and_release)    +0.01%, +0.01%
      block, cond ping-pong (pingpong_wait)       -0.71%, -0.50%
      block, rwlock readers (reader_wait)         -0.19%, -0.17%
      mutex, rwlock writer (writer_release)       +0.04%, +0.02%
      C++ block std::mutex / condvar / shared     -0.07% / -0.70% / -0.30%
      C++ mutex std::mutex / shared_mutex         +0.01% / +0.06%
      launcher, --block-rate 10000                -0.04%
    Before the "until release" sums existed, the mutex profile of the rwlock
    workloads read -4% to -20% against the full waits under that load: the
    readers' wake-up latency, which is exactly what the spec does not charge.
    So the bands are 20-200 times wider than the errors seen, and the truths
    are measured in the same run, so machine speed and load cancel.
Nothing here is timed: no assertion depends on how fast the machine is.
"""

import difflib
import re
import signal
from pathlib import Path

import pytest

from conftest import parse_duration, wait_for_file

FULL = {"PPROF_MUTEX_FRACTION": 1, "PPROF_BLOCK_RATE": 1}
CONTENTION_TYPES = [("contentions", "count"), ("delay", "nanoseconds")]
BLOCK_TOL = 0.20
MUTEX_TOL = 0.25


# ---------------------------------------------------------------------------
# Helpers


def truth(stdout, key):
    m = re.search(rf"^{re.escape(key)}=(\d+)$", stdout, re.M)
    assert m, f"the workload did not print {key}=...:\n{stdout}"
    v = int(m.group(1))
    assert v > 0, f"{key}={v}: the workload saw no waiting at all"
    return v


def lock_files(outdir, program, pid):
    """{"mutex": path, "block": ..., "mutex.1": ..., "heap.1": ..., "cpu": ...}
    for the files of one process."""
    out = {}
    rx = re.compile(rf"{re.escape(program)}\.{pid}\.(mutex|block|heap|allocs|cpu)"
                    rf"(?:\.([0-9]+))?\.pb\.gz")
    for p in Path(outdir).iterdir():
        m = rx.fullmatch(p.name)
        if m:
            out[m.group(1) + (f".{m.group(2)}" if m.group(2) else "")] = p
    return out


def assert_valid_contention_profile(h, path, program):
    """Both readers accept the file and it has Go's mutex/block shape:
    sample types contentions/count, delay/nanoseconds; period_type
    contentions/count; period 1; every sample >= 1 contention and a
    non-negative delay. Returns the decoded ProfileView."""
    view = h.decode(path)
    bad, chk = view.structure_problems(program=program)
    if view.sample_types() != CONTENTION_TYPES:
        bad.append(f"sample_type is {view.sample_types()}, want {CONTENTION_TYPES}")
    pt = (view.str(view.p.period_type.type), view.str(view.p.period_type.unit))
    if pt != ("contentions", "count"):
        bad.append(f"period_type is {pt}, want contentions/count")
    if view.p.period != 1:
        bad.append(f"period is {view.p.period}, want 1")

    def contention_values(s):
        if len(s.value) == 2 and (s.value[0] < 1 or s.value[1] < 0):
            return [f"values {list(s.value)}: want contentions >= 1, delay >= 0"]
        return []

    view.add_sample_problems(bad, chk, contention_values)
    assert not bad, f"{path}: invalid contention profile:\n  " + "\n  ".join(bad)
    raw = h.pprof_raw(path)
    assert "PeriodType: contentions count" in raw, raw[:2000]
    assert re.search(r"^Period: 1$", raw, re.M), raw[:2000]
    assert re.search(r"^\s*contentions/count delay/nanoseconds\s*$", raw, re.M), (
        f"pprof -raw sample header is not 'contentions/count delay/nanoseconds':\n{raw[:2000]}")
    return view


def on_stack(view, name):
    """(contentions, delay ns) summed over the samples with `name` anywhere
    on the stack (any inline level), by protobuf."""
    n = d = 0
    for s in view.p.sample:
        if name in view.stack_functions(s):
            n += s.value[0]
            d += s.value[1]
    return n, d


def total(view):
    return (sum(s.value[0] for s in view.p.sample), sum(s.value[1] for s in view.p.sample))


def leaf_functions(view, name):
    """The innermost function names (all inline levels of the leaf location)
    of the samples that have `name` on their stack."""
    out = set()
    for s in view.p.sample:
        if name in view.stack_functions(s):
            loc = view.locations[s.location_id[0]]
            out.add(tuple(ln[0] for ln in view.lines(loc)))
    return out


def assert_stack_starts_at(view, name, what):
    """Stacks start at the caller of the lock/unlock/wait function: the leaf
    location is `name` itself (possibly with inlined callees above it, e.g.
    std::mutex::lock), never pthread_* or an agent frame."""
    leaves = leaf_functions(view, name)
    assert leaves, f"{what}: no sample with {name} on its stack"
    for fns in leaves:
        assert name in fns, (
            f"{what}: a sample with {name} on its stack starts at {fns}, not at {name} "
            f"(the caller of the pthread function)")
        assert not any(f and (f.startswith("pthread_") or f.startswith("sem_")
                              or "ppagent" in f) for f in fns), (
            f"{what}: the stack starts inside the pthread function or the agent: {fns}")


def within(actual, expected, tol, what, ctx=""):
    assert abs(actual - expected) <= tol * expected, (
        f"{what}: {actual / 1e6:,.2f} ms is not within ±{tol:.0%} of {expected / 1e6:,.2f} ms "
        f"({(actual - expected) / expected:+.1%})\n{ctx}")


class DelayTop:
    def __init__(self, text):
        self.text = text
        m = re.search(r"^Type: (\S+)\s*$", text, re.M)
        assert m, f"no 'Type:' line in pprof -top output:\n{text}"
        self.type = m.group(1)
        m = re.search(r"Showing nodes accounting for \S+, \S+ of (\S+) total", text)
        assert m, f"no 'Showing nodes accounting for' in pprof -top output:\n{text}"
        self.total = parse_duration(m.group(1)) * 1e9
        self.rows = {}
        row = re.compile(r"^\s*(\S+)\s+([0-9.]+)%\s+([0-9.]+)%\s+(\S+)\s+([0-9.]+)%\s+(.+?)\s*$")
        started = False
        for line in text.splitlines():
            if re.match(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%", line):
                started = True
                continue
            r = row.match(line) if started else None
            if r:
                self.rows[r.group(6)] = (parse_duration(r.group(1)) * 1e9,
                                         parse_duration(r.group(4)) * 1e9)

    def flat(self, name):
        return self.rows.get(name, (0.0, 0.0))[0]

    def cum(self, name):
        return self.rows.get(name, (0.0, 0.0))[1]


def pprof_delay_top(h, path):
    """go tool pprof -top with its default sample type (the last one: delay),
    nothing cut off, names from the profile only."""
    r = h.pprof(["-top", "-nodecount=1000", "-nodefraction=0", "-edgefraction=0",
                 "-symbolize=none"], path)
    top = DelayTop(r.stdout)
    assert top.type == "delay", f"{path}: pprof shows Type: {top.type}, want delay\n{top.text}"
    return top


def run_lock(h, argv, env, timeout=180):
    r = h.run_agent(argv, env=env, timeout=timeout)
    assert r.returncode == 0, r.describe()
    assert r.stderr == "", "a successful run is silent on stderr\n" + r.describe()
    return r


# ---------------------------------------------------------------------------
# 1. A mutex with a known amount of waiting


@pytest.mark.timeout(240)
def test_mutex_known_wait(h):
    prog = "lock_contention"
    threads, rounds, hold_us = 4, 200, 2000
    r = run_lock(h, [h.workload(prog), "mutex", threads, rounds, hold_us], FULL)
    waited = truth(r.stdout, "mutex_wait_ns")
    ended = truth(r.stdout, "mutex_wait_until_release_ns")
    files = lock_files(r.outdir, prog, r.pid)
    assert {"mutex", "block"} <= set(files), r.describe()

    # Block profile: the waiters' stacks, wait_for_lock.
    block = assert_valid_contention_profile(h, files["block"], prog)
    assert_stack_starts_at(block, "wait_for_lock", "block profile")
    n, d = on_stack(block, "wait_for_lock")
    ctx = f"block profile samples on wait_for_lock: {n} contentions, {d} ns"
    within(d, waited, BLOCK_TOL, "block delay on wait_for_lock (protobuf)", ctx)
    # Each of the threads*rounds lock calls waits at most once.
    assert 1 <= n <= threads * rounds, ctx
    top = pprof_delay_top(h, files["block"])
    within(top.cum("wait_for_lock"), waited, BLOCK_TOL, "block delay cum of wait_for_lock (pprof)",
           top.text)
    within(top.flat("wait_for_lock"), waited, BLOCK_TOL,
           "block delay flat of wait_for_lock (pprof)", top.text)
    assert top.cum("hold_and_release") == 0, (
        "hold_and_release never waits; it must not appear in the block profile\n" + top.text)

    # Mutex profile: the releasers' stacks, hold_and_release (the only caller
    # of pthread_mutex_unlock in the program).
    mutex = assert_valid_contention_profile(h, files["mutex"], prog)
    assert_stack_starts_at(mutex, "hold_and_release", "mutex profile")
    n, d = on_stack(mutex, "hold_and_release")
    tn, td = total(mutex)
    ctx = (f"mutex profile: {n} contentions, {d} ns on hold_and_release; "
           f"{tn} contentions, {td} ns in all")
    within(d, ended, MUTEX_TOL, "mutex delay on hold_and_release (protobuf)", ctx)
    assert d == td, "all contended releases are in hold_and_release\n" + ctx
    top = pprof_delay_top(h, files["mutex"])
    within(top.flat("hold_and_release"), ended, MUTEX_TOL,
           "mutex delay flat of hold_and_release (pprof)", top.text)
    assert top.cum("wait_for_lock") == 0, (
        "the mutex profile shows releasers, not waiters\n" + top.text)


@pytest.mark.timeout(240)
def test_sampled_fraction_and_rate_are_unbiased(h):
    """PPROF_MUTEX_FRACTION=5: about 1 in 5 contention events recorded, each
    counted 5 times. PPROF_BLOCK_RATE=3 ms: waits of 3 ms or more recorded as
    they are, a shorter wait d kept with probability d/3ms and counted as
    3 ms. Both estimates are unbiased; their spread, for this workload
    (4 threads x 400 holds of 1 ms: ~1600 contended releases, each charging
    ~3 waiters x ~1 ms, coefficient of variation well under 1):
      - mutex: ~320 of ~1600 events kept, relative sd ~ sqrt((1-1/5) / 320)
        x sqrt(1 + cv^2) ~ 5-7%, so +-25% is about 4 sd (a miss about once in
        10^4 runs);
      - block: only the waits under 3 ms are sampled; each contributes a
        variance d(rate - d) <= (1.5 ms)^2, in all at most ~1600 x 2.25e12 ns^2,
        sd <= 60 ms against a total of ~4.8 s: ~1.3%, +-20% is 15 sd.
    """
    prog = "lock_contention"
    threads, rounds, hold_us = 4, 400, 1000
    fraction, rate = 5, 3_000_000
    r = run_lock(h, [h.workload(prog), "mutex", threads, rounds, hold_us],
                 {"PPROF_MUTEX_FRACTION": fraction, "PPROF_BLOCK_RATE": rate})
    waited = truth(r.stdout, "mutex_wait_ns")
    ended = truth(r.stdout, "mutex_wait_until_release_ns")
    files = lock_files(r.outdir, prog, r.pid)
    assert {"mutex", "block"} <= set(files), r.describe()
    mutex = assert_valid_contention_profile(h, files["mutex"], prog)
    n, d = on_stack(mutex, "hold_and_release")
    within(d, ended, MUTEX_TOL, f"mutex delay on hold_and_release at fraction {fraction}",
           f"{n} contentions")
    # Every recorded event stands for `fraction` events.
    for s in mutex.p.sample:
        assert s.value[0] % fraction == 0, (
            f"a sample with {s.value[0]} contentions at PPROF_MUTEX_FRACTION={fraction}: "
            f"each recorded event counts {fraction} times")
    block = assert_valid_contention_profile(h, files["block"], prog)
    n, d = on_stack(block, "wait_for_lock")
    within(d, waited, BLOCK_TOL, f"block delay on wait_for_lock at rate {rate} ns",
           f"{n} contentions")


# ---------------------------------------------------------------------------
# 2. Condition variables, rwlocks, C++


@pytest.mark.timeout(180)
def test_cond_pingpong_in_block_profile(h):
    prog = "lock_contention"
    r = run_lock(h, [h.workload(prog), "cond", 400, 500], FULL)
    waited = truth(r.stdout, "cond_wait_ns")
    files = lock_files(r.outdir, prog, r.pid)
    assert {"mutex", "block"} <= set(files), r.describe()
    block = assert_valid_contention_profile(h, files["block"], prog)
    assert_stack_starts_at(block, "pingpong_wait", "block profile")
    n, d = on_stack(block, "pingpong_wait")
    assert n > 0 and d > 0, f"no cond wait in the block profile: {n}, {d}"
    within(d, waited, BLOCK_TOL, "block delay on pingpong_wait (protobuf)")
    top = pprof_delay_top(h, files["block"])
    within(top.cum("pingpong_wait"), waited, BLOCK_TOL, "block delay cum of pingpong_wait (pprof)",
           top.text)
    assert_valid_contention_profile(h, files["mutex"], prog)


@pytest.mark.timeout(180)
def test_rwlock_readers_block_writer_in_mutex(h):
    prog = "lock_contention"
    readers, rounds, hold_us = 3, 100, 2000
    r = run_lock(h, [h.workload(prog), "rwlock", readers, rounds, hold_us], FULL)
    waited = truth(r.stdout, "rwlock_read_wait_ns")
    ended = truth(r.stdout, "rwlock_read_wait_until_release_ns")
    files = lock_files(r.outdir, prog, r.pid)
    assert {"mutex", "block"} <= set(files), r.describe()

    block = assert_valid_contention_profile(h, files["block"], prog)
    assert_stack_starts_at(block, "reader_wait", "block profile")
    n, d = on_stack(block, "reader_wait")
    assert 1 <= n <= readers * rounds, f"{n} reader waits recorded for {readers * rounds} rdlocks"
    within(d, waited, BLOCK_TOL, "block delay on reader_wait (protobuf)")
    top = pprof_delay_top(h, files["block"])
    within(top.cum("reader_wait"), waited, BLOCK_TOL, "block delay cum of reader_wait (pprof)",
           top.text)

    mutex = assert_valid_contention_profile(h, files["mutex"], prog)
    assert_stack_starts_at(mutex, "writer_release", "mutex profile")
    n, d = on_stack(mutex, "writer_release")
    assert n > 0 and d > 0, f"writer_release not in the mutex profile: {n}, {d}"
    within(d, ended, MUTEX_TOL, "mutex delay on writer_release (protobuf)")
    top = pprof_delay_top(h, files["mutex"])
    within(top.flat("writer_release"), ended, MUTEX_TOL,
           "mutex delay flat of writer_release (pprof)", top.text)
    assert top.cum("reader_wait") == 0, top.text


@pytest.mark.timeout(180)
def test_cxx_mutex_condvar_shared_mutex(h):
    prog = "lock_cxx"
    r = run_lock(h, [h.workload(prog)], FULL)
    w_mutex = truth(r.stdout, "cxx_mutex_wait_ns")
    w_cv = truth(r.stdout, "cxx_cv_wait_ns")
    w_shared = truth(r.stdout, "cxx_shared_wait_ns")
    e_mutex = truth(r.stdout, "cxx_mutex_wait_until_release_ns")
    e_shared = truth(r.stdout, "cxx_shared_wait_until_release_ns")
    files = lock_files(r.outdir, prog, r.pid)
    assert {"mutex", "block"} <= set(files), r.describe()
    block = assert_valid_contention_profile(h, files["block"], prog)
    mutex = assert_valid_contention_profile(h, files["mutex"], prog)
    btop = pprof_delay_top(h, files["block"])
    mtop = pprof_delay_top(h, files["mutex"])

    # Block profile: the waiting functions (std::mutex::lock,
    # condition_variable::wait and shared_mutex::lock_shared are inline; the
    # stack starts in these functions).
    for name, waited in (("cxx_mutex_wait", w_mutex), ("cxx_cv_wait", w_cv),
                         ("cxx_shared_wait", w_shared)):
        n, d = on_stack(block, name)
        assert n > 0 and d > 0, f"{name} missing from the block profile ({n}, {d})\n{btop.text}"
        within(d, waited, BLOCK_TOL, f"block delay on {name} (protobuf)", btop.text)
        within(btop.cum(name), waited, BLOCK_TOL, f"block delay cum of {name} (pprof)", btop.text)
    # Mutex profile: the releasing functions.
    for name, waited in (("cxx_mutex_release", e_mutex), ("cxx_shared_release", e_shared)):
        n, d = on_stack(mutex, name)
        assert n > 0 and d > 0, f"{name} missing from the mutex profile ({n}, {d})\n{mtop.text}"
        within(d, waited, MUTEX_TOL, f"mutex delay on {name} (protobuf)", mtop.text)
        within(mtop.cum(name), waited, MUTEX_TOL, f"mutex delay cum of {name} (pprof)", mtop.text)
    # (cxx_cv_wait may appear there: a condition wait releases its mutex, as
    # sync.Cond.Wait does in Go.)
    for name in ("cxx_mutex_wait", "cxx_shared_wait"):
        assert mtop.cum(name) == 0, f"{name} waits; it must not be in the mutex profile\n{mtop.text}"


# ---------------------------------------------------------------------------
# 3. Return values and errno are the real functions'


SEMANTICS_CONFIGS = {
    "mutex+block on": FULL,
    "both off (explicit 0)": {"PPROF_MUTEX_FRACTION": 0, "PPROF_BLOCK_RATE": 0},
    "both off (unset)": {},
    "mutex only, sampled": {"PPROF_MUTEX_FRACTION": 3},
    "block only, rate 1 ms": {"PPROF_BLOCK_RATE": 1000000},
}

# The table must exercise every error case, or comparing it proves little.
EXPECTED_IN_BASELINE = [
    "EBUSY", "EDEADLK", "EPERM", "ETIMEDOUT", "EINVAL", "EOWNERDEAD", "ENOTRECOVERABLE",
    "EAGAIN", "EINTR",
    "old_abi.cond_init.layout                     first_word_null=1 tail_untouched=1",
    "old_abi.cond.layout_after_wait               inner_pointer=1",
    "old_abi.cond_wait_broadcast.pingpong         failures=0",
    "process.pshared_robust.held_by_child.lock    rc=130(EOWNERDEAD)",
]


@pytest.fixture(scope="module")
def semantics_baseline(h):
    r = h.run([h.workload("lock_semantics")], agent=False, cwd=h.tmpdir("cwd"), timeout=150)
    assert r.returncode == 0 and r.stderr == "", r.describe()
    assert r.stdout.endswith("done\n"), r.describe()
    for s in EXPECTED_IN_BASELINE:
        assert s in r.stdout, f"the semantics table lacks {s!r}:\n{r.stdout}"
    return r


@pytest.mark.timeout(200)
@pytest.mark.parametrize("config", list(SEMANTICS_CONFIGS))
def test_return_values_and_errno_unchanged(h, semantics_baseline, config):
    env = SEMANTICS_CONFIGS[config]
    r = h.run_agent([h.workload("lock_semantics")], env=env, timeout=150)
    diff = "\n".join(difflib.unified_diff(
        semantics_baseline.stdout.splitlines(), r.stdout.splitlines(),
        "without agent", f"with agent ({config})", lineterm="", n=1))
    assert r.stdout == semantics_baseline.stdout, (
        f"results differ with the agent ({config}):\n{diff}\n" + r.describe())
    assert r.returncode == 0, r.describe()
    assert r.stderr == "", r.describe()
    files = lock_files(r.outdir, "lock_semantics", r.pid)
    want = set()
    if env.get("PPROF_MUTEX_FRACTION"):
        want.add("mutex")
    if env.get("PPROF_BLOCK_RATE"):
        want.add("block")
    got = {k for k in files if k in ("mutex", "block")}
    assert got == want, f"profiles written: {sorted(files)}, want mutex/block = {sorted(want)}"
    for k in sorted(want):
        view = assert_valid_contention_profile(h, files[k], "lock_semantics")
        assert view.p.sample, f"{k} profile of lock_semantics is empty (it has contention)"


# ---------------------------------------------------------------------------
# 4. Bad values


BAD = [
    ("PPROF_MUTEX_FRACTION", "abc"),
    ("PPROF_MUTEX_FRACTION", "-1"),
    ("PPROF_MUTEX_FRACTION", "1000000001"),
    ("PPROF_MUTEX_FRACTION", "5x"),
    ("PPROF_BLOCK_RATE", "abc"),
    ("PPROF_BLOCK_RATE", "-1"),
    ("PPROF_BLOCK_RATE", "1000000000001"),
    ("PPROF_BLOCK_RATE", "1.5"),
]
OTHER = {"PPROF_MUTEX_FRACTION": "PPROF_BLOCK_RATE", "PPROF_BLOCK_RATE": "PPROF_MUTEX_FRACTION"}
KIND = {"PPROF_MUTEX_FRACTION": "mutex", "PPROF_BLOCK_RATE": "block"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var,value", BAD, ids=[f"{k}={v}" for k, v in BAD])
def test_bad_value_one_line(h, var, value):
    base = h.run([h.workload("hello_exit"), "4"], agent=False, cwd=h.tmpdir("cwd"))
    assert base.returncode == 4 and base.stderr == "", base.describe()
    # The other variable is valid and on: only the bad one's profile is off.
    r = h.run_agent([h.workload("hello_exit"), "4"], env={var: value, OTHER[var]: 1})
    r.assert_one_complaint(base, var, f'"{value}"')
    files = lock_files(r.outdir, "hello_exit", r.pid)
    assert KIND[var] not in files, f"{var} is bad: that profile must be off\n" + r.describe()
    assert KIND[OTHER[var]] in files, (
        f"{OTHER[var]}=1 is valid: its profile must still be written\n" + r.describe())
    assert_valid_contention_profile(h, files[KIND[OTHER[var]]], "hello_exit")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var", ["PPROF_MUTEX_FRACTION", "PPROF_BLOCK_RATE"])
def test_empty_value_is_unset(h, var):
    r = h.run_agent([h.workload("hello_exit"), "4"], env={var: ""})
    assert r.returncode == 4 and r.stderr == "", r.describe()
    files = lock_files(r.outdir, "hello_exit", r.pid)
    assert not {"mutex", "block"} & set(files), (
        "empty = unset = off (the default): no mutex/block profile\n" + r.describe())


# ---------------------------------------------------------------------------
# 5. Dumps while running, and the exit files


def assert_same_sites(h, paths, names, prog):
    """Nothing contends after "ready": every dump and the exit file hold the
    same events for the workload's functions."""
    seen = {}
    for key, path in paths.items():
        view = assert_valid_contention_profile(h, path, prog)
        seen[key] = {n: on_stack(view, n) for n in names}
    first = next(iter(seen.values()))
    for key, v in seen.items():
        assert v == first, f"{key} disagrees with the first dump: {v} vs {first}"
    return first


@pytest.mark.timeout(180)
def test_dumps_by_signal_and_exit_files(h):
    prog = "lock_contention"
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    quit_file = qdir / "quit"
    p = h.start([h.workload(prog), "mutex", 3, 50, 1000, "--quit", quit_file], outdir=out,
                env=FULL)
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        waited = truth(p.stdout_text(), "mutex_wait_ns")
        ended = truth(p.stdout_text(), "mutex_wait_until_release_ns")
        stem = f"{prog}.{p.pid}"
        for n in (1, 2):
            p.signal(signal.SIGUSR2)
            for kind in ("mutex", "block", "heap", "allocs"):  # n is shared by all kinds
                wait_for_file(out / f"{stem}.{kind}.{n}.pb.gz", proc=p)
            assert p.popen.poll() is None, "the process must keep running after a dump"
    finally:
        quit_file.touch()
    run = p.finish(120)
    assert run.returncode == 0 and run.stderr == "", run.describe()
    files = lock_files(out, prog, run.pid)
    assert sorted(files) == sorted(["cpu", "heap", "allocs", "mutex", "block",
                                    "heap.1", "allocs.1", "mutex.1", "block.1",
                                    "heap.2", "allocs.2", "mutex.2", "block.2"]), run.describe()
    m = assert_same_sites(h, {k: files[k] for k in ("mutex.1", "mutex.2", "mutex")},
                          ["hold_and_release"], prog)
    b = assert_same_sites(h, {k: files[k] for k in ("block.1", "block.2", "block")},
                          ["wait_for_lock"], prog)
    within(b["wait_for_lock"][1], waited, BLOCK_TOL, "block delay on wait_for_lock (dumps)")
    within(m["hold_and_release"][1], ended, MUTEX_TOL, "mutex delay on hold_and_release (dumps)")


@pytest.mark.timeout(120)
def test_dump_signal_with_only_mutex_profiling(h):
    # Heap profiling off, block off: the dump signal still works (mutex is on)
    # and writes only the mutex dump.
    prog = "lock_contention"
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    quit_file = qdir / "quit"
    p = h.start([h.workload(prog), "mutex", 2, 20, 1000, "--quit", quit_file], outdir=out,
                env={"PPROF_MUTEX_FRACTION": 1, "PPROF_MEM_RATE": 0})
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        p.signal(signal.SIGUSR2)
        dump = wait_for_file(out / f"{prog}.{p.pid}.mutex.1.pb.gz", proc=p)
        assert p.popen.poll() is None, "the process must keep running after a dump"
    finally:
        quit_file.touch()
    run = p.finish(120)
    assert run.returncode == 0 and run.stderr == "", run.describe()
    files = lock_files(out, prog, run.pid)
    assert sorted(files) == ["cpu", "mutex", "mutex.1"], run.describe()
    view = assert_valid_contention_profile(h, dump, prog)
    assert on_stack(view, "hold_and_release")[1] > 0, "the dump has no contention"


# ---------------------------------------------------------------------------
# 6. Launcher


WROTE = re.compile(r"^ppagent: wrote (.+)$", re.M)


@pytest.mark.timeout(180)
def test_launcher_mutex_fraction_and_block_rate(h):
    prog = "lock_contention"
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--mutex-fraction", "1", "--block-rate", "10000", "--",
                        h.workload(prog), "mutex", 4, 100, 2000], cwd=cwd, timeout=150)
    assert r.returncode == 0, r.describe()
    waited = truth(r.stdout, "mutex_wait_ns")
    ended = truth(r.stdout, "mutex_wait_until_release_ns")
    wrote = {Path(p).name.split(".")[-3]: Path(p) for p in WROTE.findall(r.stderr)}
    assert {"mutex", "block"} <= set(wrote), (
        "expected 'ppagent: wrote' lines for the mutex and block profiles\n" + r.describe())
    for kind in ("mutex", "block"):
        assert wrote[kind].is_file(), r.describe()
        assert wrote[kind].parent.resolve() == Path(cwd).resolve(), wrote[kind]
    # Rate 10 us: every wait of 10 us or more is recorded as it is (almost all
    # of them: the mean wait is ~6 ms); a shorter wait d is kept with
    # probability d/rate and counted as rate ns, unbiased. The shorter waits
    # can add at most ~10 us each on average; the band is as in the first test.
    block = assert_valid_contention_profile(h, wrote["block"], prog)
    within(on_stack(block, "wait_for_lock")[1], waited, BLOCK_TOL,
           "block delay on wait_for_lock (--block-rate 10000)")
    mutex = assert_valid_contention_profile(h, wrote["mutex"], prog)
    within(on_stack(mutex, "hold_and_release")[1], ended, MUTEX_TOL,
           "mutex delay on hold_and_release (--mutex-fraction 1)")


@pytest.mark.timeout(60)
def test_launcher_sets_the_variables(h):
    r = h.run_launcher(["run", "--mutex-fraction", "7", "--block-rate", "12345", "--",
                        h.workload("hello_exit"), "0", "PPROF_MUTEX_FRACTION",
                        "PPROF_BLOCK_RATE"])
    assert r.returncode == 0, r.describe()
    assert "PPROF_MUTEX_FRACTION=7" in r.stdout and "PPROF_BLOCK_RATE=12345" in r.stdout, (
        r.describe())


BAD_FLAGS = [
    ["--mutex-fraction", "abc"],
    ["--mutex-fraction", "-1"],
    ["--mutex-fraction", "1000000001"],
    ["--block-rate", "abc"],
    ["--block-rate", "-1"],
    ["--block-rate", "1000000000001"],
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flags", BAD_FLAGS, ids=[" ".join(f) for f in BAD_FLAGS])
def test_launcher_bad_flag_value_is_usage_error(h, flags):
    r = h.run_launcher(["run", *flags, "--", h.workload("hello_exit"), "0"])
    assert r.returncode == 2, r.describe()
    assert "hello from hello_exit" not in r.stdout, "the program must not run\n" + r.describe()
    assert r.stderr.strip(), r.describe()
