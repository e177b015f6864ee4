"""The launcher's heap options (`ppagent run --mem-rate/--dump-signal/
--heap-dump-interval/--heap-dump-bytes`) and `ppagent dump PID`."""

import os
import re
import signal
import time
from pathlib import Path

import pytest

from conftest import heap_files, wait_for_file

WROTE = re.compile(r"^ppagent: wrote (.+)$", re.M)


def wrote(run):
    return sorted(Path(p) for p in WROTE.findall(run.stderr))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("rate", [8192, 1, 1073741824])
def test_mem_rate_sets_period(h, rate):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--mem-rate", rate, "--", h.workload("heap_paced"), "0.2", "4"],
                       cwd=cwd)
    assert r.returncode == 0, r.describe()
    paths = wrote(r)
    names = sorted(p.name for p in paths)
    assert names == sorted(f"heap_paced.{r_pid(paths)}.{k}.pb.gz" for k in ("cpu", "heap", "allocs")), (
        "expected 'ppagent: wrote' lines for the cpu, heap and allocs profiles\n" + r.describe())
    for p in paths:
        assert p.is_absolute() and p.parent.resolve() == cwd.resolve() and p.is_file(), p
    by_kind = {p.name.split(".")[2]: p for p in paths}
    # With 4 MiB live + 4 MiB churned, even 1 GiB yields a heap profile (maybe
    # without samples: 8 MiB at 1 GiB is ~1% likely to be sampled at all).
    min_samples = 1 if rate <= 8192 else 0
    for kind in ("heap", "allocs"):
        view = h.assert_valid_heap_profile(by_kind[kind], kind=kind, rate=rate, program="heap_paced",
                                           min_samples=min_samples)
        assert view.p.period == rate


def r_pid(paths):
    pids = {p.name.split(".")[1] for p in paths}
    assert len(pids) == 1, paths
    return pids.pop()


@pytest.mark.timeout(60)
def test_mem_rate_zero_no_heap_files(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--mem-rate", "0", "--", h.workload("heap_paced"), "0.2", "4"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    paths = wrote(r)
    assert [p.name.split(".")[2] for p in paths] == ["cpu"], r.describe()
    assert sorted(p.name for p in cwd.iterdir()) == [paths[0].name], r.describe()


@pytest.mark.timeout(60)
def test_heap_dump_interval_flag(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--mem-rate", "65536", "--heap-dump-interval", "1", "--",
                        h.workload("heap_paced"), "2.5", "4"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    files = heap_files(cwd, "heap_paced", r_pid(wrote(r)))
    assert "heap.1" in files and "allocs.1" in files, (
        "a 2.5 s run with --heap-dump-interval 1 writes numbered dumps\n" + r.describe())
    assert sorted(wrote(r)) == sorted(files.values()), (
        "every file written, dumps included, is reported\n" + r.describe())
    h.assert_valid_heap_profile(files["heap.1"], kind="heap", rate=65536, program="heap_paced")


@pytest.mark.timeout(60)
def test_heap_dump_bytes_flag(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--mem-rate", "65536", "--heap-dump-bytes", str(8 << 20), "--",
                        h.workload("heap_paced"), "1.6", "32"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    files = heap_files(cwd, "heap_paced", r_pid(wrote(r)))
    assert "heap.1" in files, (
        "36 MiB allocated with --heap-dump-bytes 8 MiB writes numbered dumps\n" + r.describe())
    h.assert_valid_heap_profile(files["heap.1"], kind="heap", rate=65536, program="heap_paced")


BAD_ARGS = [
    ["--mem-rate", "abc"],
    ["--mem-rate", "-1"],
    ["--mem-rate", "1073741825"],
    ["--mem-rate"],
    ["--dump-signal", "FOO"],
    ["--dump-signal", "999"],
    ["--heap-dump-interval", "x"],
    ["--heap-dump-interval", "-1"],
    ["--heap-dump-bytes", "x"],
    ["--heap-dump-bytes", "-1"],
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", BAD_ARGS, ids=[" ".join(a) for a in BAD_ARGS])
def test_bad_heap_flags_exit_2(h, args):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", *args, "--", h.workload("hello_exit"), "0"], cwd=cwd)
    assert r.returncode == 2, r.describe()
    assert "hello from hello_exit" not in r.stdout, "the program must not run\n" + r.describe()
    assert r.stderr.strip(), r.describe()
    assert list(cwd.iterdir()) == [], r.describe()


# ---------------------------------------------------------------------------
# ppagent dump


def launcher_child(pid, timeout=20):
    """The pid of the program the launcher `pid` started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            kids = []
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise AssertionError(f"launcher {pid} has no child")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [None, "USR1"], ids=["default", "--dump-signal USR1"])
def test_dump_through_launcher_run(h, sig):
    # ppagent run [--dump-signal USR1] heap_sites; ppagent dump <the program's
    # pid> reads the signal from the program's environment.
    cwd, qdir = h.tmpdir("cwd"), h.tmpdir("quit")
    opts = ["--mem-rate", "65536"] + (["--dump-signal", sig] if sig else [])
    p = h.start([h.launcher, "run", *opts, "--", h.workload("heap_sites"), qdir / "quit"],
                agent=False, cwd=cwd)
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        child = launcher_child(p.pid)
        d = h.run_launcher(["dump", child], timeout=60)
        assert d.returncode == 0, d.describe()
        name = "SIG" + (sig or "USR2")
        assert f"ppagent: sent {name} to {child}" in d.stdout + d.stderr, d.describe()
        heap1 = wait_for_file(cwd / f"heap_sites.{child}.heap.1.pb.gz", proc=p)
        wait_for_file(cwd / f"heap_sites.{child}.allocs.1.pb.gz", proc=p)
        assert p.popen.poll() is None
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and "bye ok" in r.stdout, r.describe()
    h.assert_valid_heap_profile(heap1, kind="heap", rate=65536, program="heap_sites")
    prefix = f"heap_sites.{child}."
    files = {f.name[len(prefix):-len(".pb.gz")]: f for f in cwd.glob(prefix + "*.pb.gz")}
    # A dump by signal also writes the threads and threadcreate profiles.
    assert sorted(files) == ["allocs", "allocs.1", "cpu", "heap", "heap.1", "threadcreate.1",
                             "threads.1"], r.describe()
    assert wrote(r) == sorted(files.values()), r.describe()


def alive(pid):
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return st.rsplit(")", 1)[1].split()[0] != "Z"


def assert_dump_refused(h, p):
    """`ppagent dump PID` refuses with a message and sends nothing: the
    process still runs. Returns the launcher's run."""
    d = h.run_launcher(["dump", p.pid], timeout=60)
    assert d.returncode == 1, d.describe()
    assert d.ppagent_lines, "a clear message is expected\n" + d.describe()
    time.sleep(0.5)
    assert p.popen.poll() is None and alive(p.pid), "a signal was sent anyway"
    return d


@pytest.mark.timeout(120)
def test_dump_refuses_process_without_agent(h):
    # heap_sites without the agent: SIGUSR2 would kill it (default action), so
    # "nothing sent" is visible as the process still running.
    qdir = h.tmpdir("quit")
    p = h.start([h.workload("heap_sites"), qdir / "quit"], agent=False, cwd=h.tmpdir("cwd"))
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        d = assert_dump_refused(h, p)
        assert str(p.pid) in d.stderr, d.describe()
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and "bye ok" in r.stdout, r.describe()


@pytest.mark.timeout(120)
def test_dump_refuses_dump_signal_none(h):
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    p = h.start([h.workload("heap_sites"), qdir / "quit"], outdir=out,
                env={"PPROF_DUMP_SIGNAL": "none"})
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        assert_dump_refused(h, p)
    finally:
        (qdir / "quit").touch()
    r = p.finish(60)
    assert r.returncode == 0 and "bye ok" in r.stdout, r.describe()
    assert sorted(heap_files(out, "heap_sites", r.pid)) == ["allocs", "cpu", "heap"], r.describe()


@pytest.mark.timeout(60)
def test_dump_nonexistent_pid(h):
    # A pid that existed and is gone (reaped).
    gone = h.run([h.workload("hello_exit"), "0"], agent=False, cwd=h.tmpdir("cwd")).pid
    assert not Path(f"/proc/{gone}").exists()
    d = h.run_launcher(["dump", gone])
    assert d.returncode == 1, d.describe()
    assert d.ppagent_lines and str(gone) in d.stderr, d.describe()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [["dump"], ["dump", "abc"], ["dump", "12abc"], ["dump", ""],
                                  ["dump", "1", "2"]],
                         ids=["no pid", "abc", "12abc", "empty", "two pids"])
def test_dump_usage_errors(h, args):
    d = h.run_launcher(args)
    assert d.returncode == 2, d.describe()
    assert d.stderr.strip(), d.describe()
