"""Issue 6, point 3: daemons. A program that becomes a daemon (daemon(),
or fork + setsid), changes directory to /, closes every file descriptor (a
close() loop and close_range) and ends with exit, _exit or _Exit still writes
its profiles, in the output directory resolved at start (here the working
directory the program started in). Also: children that end in _exit - a
vfork child writes nothing (it runs on its parent's memory), a forked child
whose exec failed writes its own files, posix_spawn leaves the parent's files
alone; and a daemon that closed every descriptor still answers the dump
signal and SIGTERM."""

import os
import signal
import time
from pathlib import Path

import pytest

from lifecycle_checks import assert_all_valid, files_by_pid, functions_in

DEFAULT_KINDS = {"cpu", "heap", "allocs"}


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def process_gone(pid):
    """True once pid has ended (gone or a zombie nobody reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def log_entries(log):
    out = {}
    if Path(log).exists():
        for line in Path(log).read_text().splitlines():
            what, pid = line.split()
            out[what] = int(pid)
    return out


def run_daemon(h, mode):
    """Starts `daemonize MODE LOG` under the agent with the working directory
    as output directory (no PPROF_OUTPUT_DIR). Returns (run of the first
    process, daemon pid, outdir, log)."""
    out, work = h.tmpdir("cwd"), h.tmpdir("work")
    log = work / "log"
    r = h.run([h.workload("daemonize"), mode, log], cwd=out, hz=1000, outdir=None)
    assert r.returncode == 0, r.describe()
    assert r.ppagent_lines == [], r.describe()
    return r, out, log


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["daemon", "daemon-_exit", "setsid-_Exit"])
def test_daemon_writes_its_profiles_in_the_start_directory(h, mode):
    r, out, log = run_daemon(h, mode)
    daemon = wait_until(lambda: log_entries(log).get("done"), 60, f"the daemon's 'done' in {log}")
    wait_until(lambda: process_gone(daemon), 60, f"daemon {daemon} to end")
    assert daemon != r.pid
    files = files_by_pid(out)
    # The daemon and the process that started it (daemon()'s parent ends in
    # _exit; the setsid one returns from main): each its own files, once.
    assert set(files) == {r.pid, daemon}, (r.pid, daemon, files)
    for pid in files:
        assert set(files[pid]) == DEFAULT_KINDS, files
    assert not list(Path("/").glob(f"daemonize.{daemon}.*")), "files went to the new cwd /"
    views = assert_all_valid(h, [p for k in files.values() for p in k.values()],
                             program="daemonize", hz=1000, min_cpu_samples=0)
    assert "daemon_work" in functions_in(views[files[daemon]["cpu"]])
    assert "daemon_alloc" in functions_in(views[files[daemon]["heap"]])


@pytest.mark.timeout(120)
def test_daemon_without_descriptors_answers_dump_signal_and_sigterm(h):
    r, out, log = run_daemon(h, "wait")
    daemon = wait_until(lambda: log_entries(log).get("done"), 60, f"the daemon's 'done' in {log}")
    try:
        os.kill(daemon, signal.SIGUSR2)
        heap1 = out / f"daemonize.{daemon}.heap.1.pb.gz"
        wait_until(heap1.exists, 30, f"{heap1.name} after SIGUSR2")
        os.kill(daemon, signal.SIGTERM)
        wait_until(lambda: process_gone(daemon), 30, f"daemon {daemon} to die of SIGTERM")
    finally:
        if not process_gone(daemon):
            os.kill(daemon, signal.SIGKILL)
    wait_until(lambda: (out / f"daemonize.{daemon}.cpu.pb.gz").exists(), 10, "the final cpu file")
    finals = [out / f"daemonize.{daemon}.{k}.pb.gz" for k in sorted(DEFAULT_KINDS)]
    views = assert_all_valid(h, finals, program="daemonize", hz=1000)
    assert "daemon_work" in functions_in(views[finals[1]])  # cpu
    h.assert_valid_heap_profile(heap1, kind="heap", rate=524288, program="daemonize", min_samples=0)


@pytest.mark.timeout(120)
def test_vfork_child_exit_writes_nothing(h):
    r = h.run_agent([h.workload("exit_children"), "vfork"], hz=1000)
    assert r.returncode == 0, r.describe()
    lines = dict(l.split() for l in r.stdout.splitlines())
    files = files_by_pid(r.outdir)
    # The child ran on the parent's memory: had it written, the parent's
    # final profiles would have been marked written and lost.
    assert set(files) == {r.pid} and set(files[r.pid]) == DEFAULT_KINDS, (lines, files)
    views = assert_all_valid(h, files[r.pid].values(), program="exit_children", hz=1000)
    assert "parent_work" in functions_in(views[files[r.pid]["cpu"]])


@pytest.mark.timeout(120)
def test_child_whose_exec_failed_writes_its_own_files(h):
    r = h.run_agent([h.workload("exit_children"), "exec-fails"], hz=1000)
    assert r.returncode == 0, r.describe()
    child = int(dict(l.split() for l in r.stdout.splitlines())["child"])
    files = files_by_pid(r.outdir)
    assert set(files) == {r.pid, child}, files
    for pid in files:
        assert set(files[pid]) == DEFAULT_KINDS, files
    views = assert_all_valid(h, [p for k in files.values() for p in k.values()],
                             program="exit_children", hz=1000, min_cpu_samples=0)
    assert "parent_work" in functions_in(views[files[r.pid]["cpu"]])
    assert "parent_work" not in functions_in(views[files[child]["cpu"]])


@pytest.mark.timeout(120)
def test_posix_spawn_leaves_the_parents_files_alone(h):
    r = h.run_agent([h.workload("exit_children"), "posix-spawn"], hz=1000)
    assert r.returncode == 0, r.describe()
    child = int(dict(l.split() for l in r.stdout.splitlines())["child"])
    files = files_by_pid(r.outdir)
    # /bin/true (exec'd, with the agent) writes its own files as "true".
    assert r.pid in files and set(files[r.pid]) == DEFAULT_KINDS, files
    assert set(files) <= {r.pid, child}, files
    assert_all_valid(h, files[r.pid].values(), program="exit_children", hz=1000)
