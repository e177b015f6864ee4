"""Threads and threadcreate profiles, written on the dump signal (issue 5).

The workload (workloads/thread_profiles.c) puts threads in known places: 3
named waiter-a blocked in wait_here_a(), 2 waiter-b in wait_here_b(), three
sleepers in sleep()/poll()/nanosleep() (each checks it was not cut short), one
thread with every signal blocked by a raw system call (so the agent's signal
too), and two short-lived threads that are gone before
`ready`. Several dumps are taken while the sleepers sleep; each must show every
thread where it is, and the threadcreate profile where each live thread was
created. Read with protobuf classes and with `go tool pprof`.
"""

import re
import signal
import time

import pytest

from conftest import wait_for_file

SLEEP_SECONDS = 10
DUMPS = 5
PROGRAM = "thread_profiles"
NOT_ANSWERED = "[thread did not answer within 250 ms]"
SLEEPERS = {"sleep-sleep": "sleep_in_sleep", "sleep-poll": "sleep_in_poll",
            "sleep-nanosleep": "sleep_in_nanosleep"}


def thread_samples(view):
    """[(count, thread_name, [thread ids], {functions on the stack})]"""
    out = []
    for s in view.p.sample:
        names = [view.str(l.str) for l in s.label if view.str(l.key) == "thread_name"]
        ids = [view.str(l.str) for l in s.label if view.str(l.key) == "thread_id"]
        assert len(names) == 1, f"{view.path}: sample with thread_name labels {names}"
        assert len(s.value) == 1, f"{view.path}: sample with values {list(s.value)}"
        assert len(ids) == s.value[0], (
            f"{view.path}: {s.value[0]} threads but thread_id labels {ids}")
        assert all(re.fullmatch(r"[0-9]+", i) for i in ids), ids
        out.append((s.value[0], names[0], ids, view.stack_functions(s)))
    return out


def count_where(samples, pred):
    return sum(c for c, name, ids, fns in samples if pred(name, fns))


def check_shape(h, path, kind):
    view = h.decode(path)
    bad, _ = view.structure_problems(program=PROGRAM)
    assert not bad, f"{path}: " + "; ".join(bad)
    assert view.sample_types() == [(kind, "count")], view.sample_types()
    pt = (view.str(view.p.period_type.type), view.str(view.p.period_type.unit))
    assert pt == (kind, "count") and view.p.period == 1, (pt, view.p.period)
    raw = h.pprof_raw(path)
    assert f"PeriodType: {kind} count" in raw, raw[:2000]
    return view


def pprof_cum(h, path):
    """go tool pprof -top: {function: cum} (counts are whole threads)."""
    r = h.pprof(["-top", "-nodecount=500", "-nodefraction=0", "-edgefraction=0",
                 "-symbolize=none"], path)
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^\s*(\d+)\s+[0-9.]+%\s+[0-9.]+%\s+(\d+)\s+[0-9.]+%\s+(.+?)\s*$", line)
        if m:
            rows[m.group(3).replace(" (inline)", "")] = int(m.group(2))
    return rows, r.stdout


def check_threads(h, path, pid):
    view = check_shape(h, path, "goroutine")
    samples = thread_samples(view)
    by_name = {}
    for c, name, ids, fns in samples:
        by_name[name] = by_name.get(name, 0) + c
    want = {"waiter-a": 3, "waiter-b": 2, "no-signals": 1, PROGRAM: 1,
            **{n: 1 for n in SLEEPERS}}
    assert by_name == want, f"{path.name}: threads by name {by_name}, want {want}"
    all_ids = [i for _, _, ids, _ in samples for i in ids]
    assert len(set(all_ids)) == len(all_ids) == 10, all_ids
    assert str(pid) in all_ids, "the main thread's id is its process id"

    ctx = f"{path.name}: {[(c, n, sorted(f for f in fns if not f.startswith('_'))) for c, n, _, fns in samples]}"
    assert count_where(samples, lambda n, f: "wait_here_a" in f) == 3, ctx
    assert count_where(samples, lambda n, f: "wait_here_a" in f and n == "waiter-a") == 3, ctx
    assert count_where(samples, lambda n, f: "wait_here_b" in f) == 2, ctx
    assert count_where(samples, lambda n, f: "wait_here_b" in f and n == "waiter-b") == 2, ctx
    for name, fn in SLEEPERS.items():
        # Unwound from outside (they are in a call a signal would cut short).
        assert count_where(samples, lambda n, f: fn in f and n == name) == 1, ctx
    assert count_where(samples, lambda n, f: "main" in f and n == PROGRAM) == 1, ctx
    # The agent's signal blocked: counted, with the pseudo frame that says why it has no stack.
    blocked = [(c, fns) for c, n, _, fns in samples if n == "no-signals"]
    assert blocked == [(1, {NOT_ANSWERED})], ctx

    cum, text = pprof_cum(h, path)
    assert cum.get("wait_here_a") == 3 and cum.get("wait_here_b") == 2, text
    assert cum.get(NOT_ANSWERED) == 1, text
    for fn in SLEEPERS.values():
        assert cum.get(fn) == 1, text
    tags, r = h.pprof_tags(path)
    assert tags["thread_name"]["waiter-a"] == pytest.approx(30.0), r.stdout
    assert tags["thread_name"]["waiter-b"] == pytest.approx(20.0), r.stdout


def check_threadcreate(h, path):
    view = check_shape(h, path, "threadcreate")
    samples = thread_samples(view)
    ctx = f"{path.name}: {[(c, n, sorted(f for f in fns if not f.startswith('_'))) for c, n, _, fns in samples]}"
    creators = {"create_waiters_a": (3, {"waiter-a"}), "create_waiters_b": (2, {"waiter-b"}),
                "create_sleepers": (3, set(SLEEPERS)), "create_blocker": (1, {"no-signals"})}
    for fn, (n, names) in creators.items():
        assert count_where(samples, lambda name, f: fn in f) == n, ctx
        assert count_where(samples, lambda name, f: fn in f and name in names) == n, ctx
    # Threads that ended are not there, nor is the main thread (not created by pthread_create).
    assert count_where(samples, lambda n, f: "create_short_lived" in f) == 0, ctx
    assert sum(c for c, *_ in samples) == 9, ctx
    assert PROGRAM not in {n for _, n, _, _ in samples}, ctx

    cum, text = pprof_cum(h, path)
    for fn, (n, _) in creators.items():
        assert cum.get(fn) == n, text
    assert "create_short_lived" not in cum, text


@pytest.mark.timeout(300)
@pytest.mark.parametrize("cpu_signal", [None, "PROF"])
def test_threads_and_threadcreate_on_dump_signal(h, cpu_signal):
    """The threads are asked for their stacks with the agent's CPU signal: the
    default one, and SIGPROF when PPROF_CPU_SIGNAL says so."""
    out = h.tmpdir("out")
    env = {"PPROF_CPU_SIGNAL": cpu_signal} if cpu_signal else {}
    p = h.start([h.workload("thread_profiles"), SLEEP_SECONDS], outdir=out, env=env)
    stem = f"{PROGRAM}.{p.pid}"
    dumps = []
    try:
        p.wait_for_stdout("ready\n", timeout=60)
        time.sleep(0.3)  # the sleepers are inside their calls by now
        for n in range(1, DUMPS + 1):
            p.signal(signal.SIGUSR2)
            threads = wait_for_file(out / f"{stem}.threads.{n}.pb.gz", proc=p)
            create = wait_for_file(out / f"{stem}.threadcreate.{n}.pb.gz", proc=p)
            wait_for_file(out / f"{stem}.heap.{n}.pb.gz", proc=p)  # the rest of the dump
            dumps.append((threads, create))
        taken_while_sleeping = "sleepers done" not in p.stdout_text()
    finally:
        run = p.finish(120)
    assert run.returncode == 0, run.describe()
    assert taken_while_sleeping, (
        f"the {DUMPS} dumps took longer than the {SLEEP_SECONDS} s sleep\n" + run.describe())
    # No sleep was cut short (EINTR, or sleep() returning early) by the captures.
    assert "EARLY" not in run.stdout, run.describe()
    for name in SLEEPERS:
        assert f"{name}: ok" in run.stdout, run.describe()
    assert "bye" in run.stdout, run.describe()
    assert run.stderr == "", "a successful run is silent on stderr\n" + run.describe()

    for threads, create in dumps:
        check_threads(h, threads, run.pid)
        check_threadcreate(h, create)
    names = sorted(f.name for f in out.iterdir() if ".thread" in f.name)
    assert names == sorted([f"{stem}.threads.{n}.pb.gz" for n in range(1, DUMPS + 1)] +
                           [f"{stem}.threadcreate.{n}.pb.gz" for n in range(1, DUMPS + 1)]), names


@pytest.mark.timeout(120)
def test_periodic_dumps_leave_threads_alone(h):
    """Dumps by time do not take the threads profile (it interrupts threads)."""
    run = h.run_agent([h.workload("thread_profiles"), 3],
                      env={"PPROF_HEAP_DUMP_INTERVAL": 1}, timeout=60)
    assert run.returncode == 0, run.describe()
    assert "EARLY" not in run.stdout, run.describe()
    files = sorted(f.name for f in run.outdir.iterdir())
    assert any(".heap.1." in f for f in files), files
    assert not any(".thread" in f for f in files), files


@pytest.mark.timeout(180)
def test_dumps_never_cut_a_sleep_short_in_threads_that_run_in_bursts(h):
    """Threads that run 50 us between 1 ms sleeps are often found running just
    before they enter a sleep: their stack request must not reach them in it
    (a signal queued to such a thread once made clock_nanosleep return EINTR)."""
    out = h.tmpdir("out")
    seconds = 12
    # The bursters block the dump signal (the kernel gives a signal sent to the
    # process to any thread that does not block it, and a sleeping burster
    # would see EINTR from the dump signal itself, as from any signal the
    # program handles): what reaches them is only what the agent sends them.
    p = h.start([h.workload("wall_bursts"), "4", str(seconds), str(int(signal.SIGUSR2))],
                outdir=out)
    stem = f"wall_bursts.{p.pid}"
    dumps = 0
    try:
        start = time.monotonic()
        time.sleep(0.5)
        # Up to 30 dumps, a tenth of a second apart, with time to spare for the last one.
        while dumps < 30 and time.monotonic() - start < seconds - 3:
            p.signal(signal.SIGUSR2)
            dumps += 1
            wait_for_file(out / f"{stem}.threads.{dumps}.pb.gz", proc=p)
            wait_for_file(out / f"{stem}.heap.{dumps}.pb.gz", proc=p)
            time.sleep(0.1)
    finally:
        run = p.finish(120)
    assert dumps >= 15, run.describe()
    m = re.search(r"sleeps=(\d+) eintr=(\d+)", run.stdout)
    assert m and int(m.group(1)) > 1000, run.describe()
    assert int(m.group(2)) == 0 and run.returncode == 0, run.describe()
    # Every burster has a stack in every dump: answered, or unwound from outside.
    for n in range(1, dumps + 1):
        cum, text = pprof_cum(h, out / f"{stem}.threads.{n}.pb.gz")
        assert cum.get("burster") == 4, text
        assert NOT_ANSWERED not in cum, text
