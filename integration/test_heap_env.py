"""Heap profiling environment: bad values of PPROF_MEM_RATE, PPROF_DUMP_SIGNAL,
PPROF_HEAP_DUMP_INTERVAL, PPROF_HEAP_DUMP_BYTES give exactly one `ppagent:`
line naming the variable while the program's output and status are unchanged;
PPROF_MEM_RATE=0 turns heap profiling off (CPU profiling stays on); the dump
signal can be chosen, and an ignored dump signal stays ignored."""

import signal
import time

import pytest

from conftest import heap_files, wait_for_file

EXIT = 4
DEFAULT_RATE = 524288


def baseline(h):
    r = h.run([h.workload("hello_exit"), str(EXIT)], agent=False, cwd=h.tmpdir("cwd"))
    assert r.returncode == EXIT and r.stderr == "", r.describe()
    return r


def run_hello(h, env):
    cwd = h.tmpdir("cwd")
    return h.run([h.workload("hello_exit"), str(EXIT)], cwd=cwd,
                 env={"PPROF_OUTPUT_DIR": cwd, **env})


@pytest.mark.timeout(60)
def test_default_heap_profiles_and_silence(h):
    r = run_hello(h, {})
    assert r.returncode == EXIT, r.describe()
    assert r.stderr == "", "a successful run must print nothing on stderr\n" + r.describe()
    files = heap_files(r.outdir, "hello_exit", r.pid)
    assert sorted(files) == ["allocs", "cpu", "heap"], r.describe()
    # hello_exit allocates little: at 512 KiB a sample is not guaranteed.
    h.assert_valid_heap_profile(files["heap"], kind="heap", rate=DEFAULT_RATE,
                                program="hello_exit", min_samples=0)
    h.assert_valid_heap_profile(files["allocs"], kind="allocs", rate=DEFAULT_RATE,
                                program="hello_exit", min_samples=0)


BAD = [
    ("PPROF_MEM_RATE", "abc", True),
    ("PPROF_MEM_RATE", "-1", True),
    ("PPROF_MEM_RATE", "1073741825", True),
    ("PPROF_MEM_RATE", "16k", True),
    ("PPROF_DUMP_SIGNAL", "FOO", False),
    ("PPROF_DUMP_SIGNAL", "999", False),
    ("PPROF_DUMP_SIGNAL", "SIGFOO", False),
    ("PPROF_HEAP_DUMP_INTERVAL", "x", False),
    ("PPROF_HEAP_DUMP_INTERVAL", "-1", False),
    ("PPROF_HEAP_DUMP_INTERVAL", "31536001", False),
    ("PPROF_HEAP_DUMP_BYTES", "lots", False),
    ("PPROF_HEAP_DUMP_BYTES", "-5", False),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var,value,heap_off", BAD, ids=[f"{k}={v}" for k, v, _ in BAD])
def test_bad_value_one_line(h, var, value, heap_off):
    base = baseline(h)
    r = run_hello(h, {var: value})
    r.assert_one_complaint(base, var, f'"{value}"')
    files = heap_files(r.outdir, "hello_exit", r.pid)
    # CPU profiling is not affected by a heap variable.
    assert "cpu" in files, r.describe()
    h.assert_valid_profile(files["cpu"], program="hello_exit")
    if heap_off:
        # A bad PPROF_MEM_RATE turns heap profiling off (spec).
        assert sorted(files) == ["cpu"], r.describe()


@pytest.mark.timeout(60)
def test_mem_rate_zero_turns_heap_profiling_off(h):
    base = baseline(h)
    r = run_hello(h, {"PPROF_MEM_RATE": "0"})
    assert r.returncode == base.returncode and r.stdout == base.stdout, r.describe()
    assert r.stderr == "", r.describe()
    files = heap_files(r.outdir, "hello_exit", r.pid)
    assert sorted(files) == ["cpu"], "no heap files at PPROF_MEM_RATE=0\n" + r.describe()
    h.assert_valid_profile(files["cpu"], program="hello_exit")


@pytest.mark.timeout(60)
def test_mem_rate_zero_no_dump_on_signal(h):
    # Heap profiling off: the dump signal is not taken over either (the spec only
    # installs the handler for heap dumps); at least no heap file may appear and
    # the program must end normally once told to.
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    p = h.start([h.workload("heap_sites"), qdir / "quit"], outdir=out,
                env={"PPROF_MEM_RATE": "0", "PPROF_DUMP_SIGNAL": "USR1"})
    try:
        p.wait_for_stdout("ready\n", timeout=120)
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and r.stderr == "", r.describe()
    assert sorted(heap_files(out, "heap_sites", r.pid)) == ["cpu"], r.describe()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("var", ["PPROF_MEM_RATE", "PPROF_DUMP_SIGNAL", "PPROF_HEAP_DUMP_INTERVAL",
                                 "PPROF_HEAP_DUMP_BYTES"])
def test_empty_value_counts_as_unset(h, var):
    base = baseline(h)
    r = run_hello(h, {var: ""})
    assert r.returncode == base.returncode and r.stdout == base.stdout, r.describe()
    assert r.stderr == "", "an empty value is not an error\n" + r.describe()
    files = heap_files(r.outdir, "hello_exit", r.pid)
    assert sorted(files) == ["allocs", "cpu", "heap"], r.describe()
    h.assert_valid_heap_profile(files["heap"], kind="heap", rate=DEFAULT_RATE,
                                program="hello_exit", min_samples=0)


# ---------------------------------------------------------------------------
# Choosing the dump signal


def run_sites_with_signal(h, env, signum, *, expect_dump, preexec_fn=None, notice_ok=False):
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    p = h.start([h.workload("heap_sites"), qdir / "quit"], outdir=out,
                env={"PPROF_MEM_RATE": 65536, **env}, preexec_fn=preexec_fn)
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        p.signal(signum)
        stem = f"heap_sites.{p.pid}"
        if expect_dump:
            heap1 = wait_for_file(out / f"{stem}.heap.1.pb.gz", proc=p)
            wait_for_file(out / f"{stem}.allocs.1.pb.gz", proc=p)
        else:
            # Give a dump (normally within a second) ample time not to appear.
            time.sleep(3)
            heap1 = None
        assert p.popen.poll() is None, "the program must still run after the signal"
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and "bye ok" in r.stdout, r.describe()
    if notice_ok:
        # Telling the user that dumps by signal are off is fine: one ppagent: line.
        assert r.stderr == "" or (len(r.ppagent_lines) == 1
                                  and r.stderr == r.ppagent_lines[0] + "\n"), r.describe()
    else:
        assert r.stderr == "", r.describe()
    files = heap_files(out, "heap_sites", r.pid)
    want = ["allocs", "cpu", "heap"] + (["allocs.1", "heap.1"] if expect_dump else [])
    assert sorted(files) == sorted(want), r.describe()
    if heap1:
        view = h.assert_valid_heap_profile(heap1, kind="heap", rate=65536, program="heap_sites")
        assert view.heap_by_function(["site_malloc_4k"])["site_malloc_4k"]["inuse_space"] > 0
    return r


@pytest.mark.timeout(120)
@pytest.mark.parametrize("value,signum", [
    ("USR1", signal.SIGUSR1),
    ("SIGUSR1", signal.SIGUSR1),
    (str(int(signal.SIGUSR1)), signal.SIGUSR1),
    ("RTMIN+3", signal.SIGRTMIN + 3),
], ids=["USR1", "SIGUSR1", "number", "RTMIN+3"])
def test_dump_signal_choice(h, value, signum):
    run_sites_with_signal(h, {"PPROF_DUMP_SIGNAL": value}, signum, expect_dump=True)


@pytest.mark.timeout(120)
def test_ignored_dump_signal_stays_ignored(h):
    # SIGUSR2 ignored before exec: the agent must not install its handler, so
    # the signal does nothing at all (no dump, the program runs on).
    def ignore_usr2():
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)

    run_sites_with_signal(h, {}, signal.SIGUSR2, expect_dump=False, preexec_fn=ignore_usr2,
                          notice_ok=True)


@pytest.mark.timeout(120)
def test_dump_signal_none(h):
    # "none": no dump signal; SIGUSR1 keeps its default action (the test sends
    # nothing, since that would kill the program) and SIGUSR2 is not handled
    # by the agent either -- checked through /proc: no handler is installed.
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    p = h.start([h.workload("heap_sites"), qdir / "quit"], outdir=out,
                env={"PPROF_DUMP_SIGNAL": "none"})
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        caught = sig_caught(p.pid)
        assert not caught & {signal.SIGUSR1, signal.SIGUSR2}, (
            f"PPROF_DUMP_SIGNAL=none, yet handlers for {caught}")
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and r.stderr == "", r.describe()
    assert sorted(heap_files(out, "heap_sites", r.pid)) == ["allocs", "cpu", "heap"], r.describe()


def sig_caught(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigCgt:"):
                mask = int(line.split()[1], 16)
                return {signal.Signals(n) for n in range(1, 65)
                        if mask & (1 << (n - 1)) and n in signal.Signals._value2member_map_}
    return set()
