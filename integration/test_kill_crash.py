"""Issue 6 point 4: nothing is lost to a kill; fatal signals; fd-less wake-up.

- Fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL by a real fault; SIGABRT by
  abort(); SIGSEGV sent by kill): the exit status, the signal and the core
  dump flag are the same with and without the agent (same RLIMIT_CORE in both
  runs), and the profiles written before the end are valid and hold the
  workload's work.
- PPROF_FLUSH_INTERVAL: kill -9 after at least two flushes leaves valid
  profiles with the work in them and no stray files; the exit's write replaces
  the last flush (the launcher lists each file once); a file someone else put
  at the name is never overwritten.
- The agent's thread is woken without a file descriptor: a program that
  closes every descriptor and opens files of its own gets its dump, and its
  files get none of the agent's bytes.
"""

import os
import re
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import clean_env, wait_for_file

FATAL_MODES = {  # mode -> the signal that ends crash_kinds
    "segv": signal.SIGSEGV, "bus": signal.SIGBUS, "fpe": signal.SIGFPE,
    "ill": signal.SIGILL, "abort": signal.SIGABRT, "kill": signal.SIGSEGV,
}


def run_status(argv, env, cwd, core_limit, timeout=60):
    """(raw wait status, stdout, stderr) of argv run with RLIMIT_CORE = core_limit."""
    def limit_core():
        resource.setrlimit(resource.RLIMIT_CORE, (core_limit, core_limit))
    out_path, err_path = Path(cwd) / "stdout", Path(cwd) / "stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        pid = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=err, preexec_fn=limit_core).pid
        deadline = time.monotonic() + timeout
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"{argv} did not end within {timeout}s")
            time.sleep(0.01)
    return pid, status, out_path.read_text(errors="replace"), err_path.read_text(errors="replace")


def describe(status):
    return dict(signaled=os.WIFSIGNALED(status),
                signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                core=os.WCOREDUMP(status),
                exit=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None)


def core_files(d):
    return sorted(p for p in Path(d).iterdir() if p.name == "core" or p.name.startswith("core."))


def assert_profiles_hold_the_work(h, outdir, program, pid):
    """cpu, heap and allocs of `pid` exist, are valid for go tool pprof -raw
    and both readers, and show burn_before_crash / keep_before_crash."""
    files = {kind: Path(outdir) / f"{program}.{pid}.{kind}.pb.gz" for kind in ("cpu", "heap", "allocs")}
    for kind, path in files.items():
        assert path.is_file(), f"{path.name} missing; files: {sorted(p.name for p in Path(outdir).iterdir())}"
    h.assert_valid_profile(files["cpu"], hz=100)
    assert "burn_before_crash" in h.pprof_raw(files["cpu"]), "the CPU work before the end is missing"
    for kind in ("heap", "allocs"):
        h.assert_valid_heap_profile(files[kind], kind=kind, rate=524288)
        assert "keep_before_crash" in h.pprof_raw(files[kind]), f"{kind}: the allocations are missing"
    return files


@pytest.mark.parametrize("core_limit", [0, resource.RLIM_INFINITY], ids=["nocore", "core"])
@pytest.mark.parametrize("mode", sorted(FATAL_MODES))
def test_fatal_signal_ends_the_program_as_without_the_agent(h, mode, core_limit):
    program = h.workload("crash_kinds")
    plain_dir, agent_dir = h.tmpdir("plain"), h.tmpdir("agent")
    _, plain, plain_out, _ = run_status([program, mode, 300], clean_env(), plain_dir, core_limit)
    env = clean_env()
    env.update(LD_PRELOAD=str(h.agent), PPROF_OUTPUT_DIR=str(agent_dir), PPROF_CPU_HZ="100")
    pid, agent, agent_out, agent_err = run_status([program, mode, 300], env, agent_dir, core_limit)

    assert describe(agent) == describe(plain), (describe(agent), describe(plain), agent_err)
    assert os.WIFSIGNALED(agent) and os.WTERMSIG(agent) == FATAL_MODES[mode]
    assert agent_out == plain_out == "ready\n"
    # The same core file appears (or not) in both runs.
    assert len(core_files(agent_dir)) == len(core_files(plain_dir)), (
        core_files(agent_dir), core_files(plain_dir))
    if core_limit == 0:
        assert not os.WCOREDUMP(agent)
    for core in core_files(agent_dir) + core_files(plain_dir):
        core.unlink()
    assert [l for l in agent_err.splitlines() if l.startswith("ppagent:")] == [], agent_err
    assert_profiles_hold_the_work(h, agent_dir, "crash_kinds", pid)


def test_an_ignored_fatal_signal_stays_ignored(h):
    """The agent takes over only fatal signals left at SIG_DFL: a SIGSEGV the
    program ignores (inherited SIG_IGN) stays ignored, so kill(self, SIGSEGV)
    does nothing, as without the agent, and the program's exit writes the
    profiles."""
    program = h.workload("crash_kinds")
    results = []
    for agent in (False, True):
        d = h.tmpdir("ign")
        env = clean_env()
        if agent:
            env.update(LD_PRELOAD=str(h.agent), PPROF_OUTPUT_DIR=str(d))

        def ignore_segv():
            signal.signal(signal.SIGSEGV, signal.SIG_IGN)
        p = subprocess.Popen([str(program), "kill", "100"], env=env, cwd=d, preexec_fn=ignore_segv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = p.communicate(timeout=60)
        results.append((p.returncode, out, err))
        if agent:
            assert_profiles_hold_the_work(h, d, "crash_kinds", p.pid)
    assert results[0] == results[1], results
    assert results[0][0] == 1 and "did not end the program" in results[0][2]


def wait_for_inode_change(path, first_inode, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if path.stat().st_ino != first_inode:
                return
        except FileNotFoundError:
            pass
        assert proc.popen.poll() is None, "the program ended early"
        time.sleep(0.05)
    raise AssertionError(f"{path.name} was not rewritten within {timeout}s")


def test_kill9_after_two_flushes_loses_at_most_one_interval(h):
    out = h.tmpdir("flush")
    proc = h.start([h.workload("crash_kinds"), "forever", 200], outdir=out, hz=100,
                   env={"PPROF_FLUSH_INTERVAL": 1})
    proc.wait_for_stdout("ready")
    cpu = out / f"crash_kinds.{proc.pid}.cpu.pb.gz"
    wait_for_file(cpu, timeout=30, proc=proc)
    first = cpu.stat().st_ino
    wait_for_inode_change(cpu, first, proc)  # a second flush replaced the first
    os.kill(proc.pid, signal.SIGKILL)
    run = proc.finish(30)
    assert run.returncode == -signal.SIGKILL
    assert re.search(r"tick [0-9]+", run.stdout), run.stdout
    files = assert_profiles_hold_the_work(h, out, "crash_kinds", proc.pid)
    others = sorted(p.name for p in out.iterdir() if p not in files.values())
    # Only a temporary file being written at the kill may remain; its name starts with '.'.
    assert all(n.startswith(".crash_kinds.") for n in others) and len(others) <= 1, others
    assert run.ppagent_lines == [], run.stderr


def test_exit_after_flushes_replaces_the_last_flush_and_lists_each_file_once(h):
    cwd = h.tmpdir("launch")
    run = h.run_launcher(["run", "--flush-interval", "1", "--cpu-hz", "100", "--",
                          h.workload("crash_kinds"), "exit", 2500], cwd=cwd)
    assert run.returncode == 3, run.describe()
    names = sorted(p.name for p in cwd.iterdir())
    kinds = sorted(re.fullmatch(r"crash_kinds\.[0-9]+\.(\w+)\.pb\.gz", n).group(1) for n in names)
    assert kinds == ["allocs", "cpu", "heap"], names
    pid = re.fullmatch(r"crash_kinds\.([0-9]+)\.cpu\.pb\.gz", [n for n in names if ".cpu." in n][0]).group(1)
    files = assert_profiles_hold_the_work(h, cwd, "crash_kinds", pid)
    wrote = [l for l in run.stderr.splitlines() if l.startswith("ppagent: wrote ")]
    assert sorted(wrote) == sorted(f"ppagent: wrote {p}" for p in files.values()), run.stderr
    # The final CPU profile covers the whole run, not the last flush only.
    view = h.decode(files["cpu"])
    assert sum(s.value[0] for s in view.p.sample) >= 150, "the exit's write did not replace the flush"


def test_flush_never_replaces_a_file_it_did_not_write(h):
    out = h.tmpdir("foreign")
    proc = h.start([h.workload("crash_kinds"), "forever", 200], outdir=out, hz=100,
                   env={"PPROF_FLUSH_INTERVAL": 1})
    cpu = out / f"crash_kinds.{proc.pid}.cpu.pb.gz"
    wait_for_file(cpu, timeout=30, proc=proc)
    foreign = out / "foreign.tmp"
    foreign.write_bytes(b"not the agent's file\n")
    os.rename(foreign, cpu)  # someone else's file now holds the name
    time.sleep(3)  # three more flushes
    proc.signal(signal.SIGTERM)
    run = proc.finish(60)
    assert run.returncode == -signal.SIGTERM, run.describe()
    assert cpu.read_bytes() == b"not the agent's file\n"
    lines = [l for l in run.ppagent_lines if "no longer the file this process wrote" in l]
    # One line for the flushes, one for the exit's write: not one per interval.
    assert len(lines) == 2 and len(run.ppagent_lines) == 2, run.stderr
    for kind in ("heap", "allocs"):
        h.assert_valid_heap_profile(out / f"crash_kinds.{proc.pid}.{kind}.pb.gz", kind=kind, rate=524288)


def test_program_that_closes_every_descriptor_gets_its_dump_and_no_stray_bytes(h):
    d = h.tmpdir("fds")
    proc = h.start([h.workload("fd_closer"), d], outdir=d, hz=100)
    wait_for_file(d / "ready", timeout=30, proc=proc)
    proc.signal(signal.SIGUSR2)
    heap1 = wait_for_file(d / f"fd_closer.{proc.pid}.heap.1.pb.gz", timeout=60, proc=proc)
    time.sleep(0.5)
    (d / "go").touch()
    run = proc.finish(60)
    assert run.returncode == 0, (run.describe(), (d / "error").read_text() if (d / "error").exists() else "")
    for i in range(16):
        want = "".join(f"line {n} of own.{i}\n" for n in range(10))
        assert (d / f"own.{i}").read_text() == want, f"own.{i} got bytes that are not the program's"
    h.assert_valid_heap_profile(heap1, kind="heap", rate=524288)
    assert "keep_after_close" in h.pprof_raw(heap1)
    assert not (d / f"fd_closer.{proc.pid}.heap.2.pb.gz").exists()
    h.assert_valid_profile(d / f"fd_closer.{proc.pid}.cpu.pb.gz", min_samples=0)
    for kind in ("heap", "allocs"):
        h.assert_valid_heap_profile(d / f"fd_closer.{proc.pid}.{kind}.pb.gz", kind=kind, rate=524288)
