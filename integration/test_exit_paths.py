"""6. The profile is written on every way a program ends; 9. an existing file is
never overwritten."""

import os
import signal
import time

import pytest

BURN = "burn_exit_path"


def check_profile(h, run, program="exit_paths", thread=None):
    path = run.the_profile(program)
    view = h.assert_valid_profile(path, program=program)
    top, _ = h.pprof_top(path)
    assert BURN in top.rows, f"{BURN} missing from the profile:\n{top.text}"
    if thread is not None:
        names = view.cpu_by_label("thread_name")
        assert thread in names, f"no samples from thread {thread!r}: {names}"
    return view


@pytest.mark.timeout(120)
def test_return_from_main(h):
    r = h.run_agent([h.workload("exit_paths"), "return", "0.5"])
    assert r.returncode == 0, r.describe()
    check_profile(h, r)


@pytest.mark.timeout(120)
def test_exit_from_main(h):
    r = h.run_agent([h.workload("exit_paths"), "exit", "0.5", "6"])
    assert r.returncode == 6, r.describe()
    check_profile(h, r)


@pytest.mark.timeout(120)
def test_exit_from_other_thread(h):
    # A second thread calls exit(5) while main is blocked in pthread_join.
    r = h.run_agent([h.workload("exit_paths"), "thread-exit", "0.5", "5"])
    assert r.returncode == 5, r.describe()
    check_profile(h, r, thread="exiter")


# The exit profiles are written while the program's libraries are still alive:
# before the program's own exit handlers run (which may tear down what the
# writer needs): when main returns, and when exit() or quick_exit() is called.

@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode,args,status", [
    ("atexit-return", ["0.3"], 0),
    ("atexit-exit", ["0.3", "4"], 4),
    ("atexit-quick", ["0.3", "7"], 7),
])
def test_written_before_the_programs_exit_handlers(h, mode, args, status):
    r = h.run_agent([h.workload("exit_paths"), mode] + args)
    assert r.returncode == status, r.describe()
    assert r.stdout == "handler: profile present\n", r.describe()
    check_profile(h, r)


@pytest.mark.timeout(120)
def test_process_ends_with_its_last_thread(h):
    # main ends with pthread_exit: glibc ends the process with exit(0) when the
    # last thread returns. The agent's own threads must not keep it alive
    # (they did: the run hung); the agent's thread ends it as glibc would,
    # after writing.
    r = h.run_agent([h.workload("exit_paths"), "atexit-last-thread", "0.3"], timeout=60)
    assert r.returncode == 0, r.describe()
    assert r.stdout == "handler: profile present\n", r.describe()
    check_profile(h, r, thread="last")
    # And without the agent, the same.
    plain = h.run([h.workload("exit_paths"), "atexit-last-thread", "0.3"], agent=False,
                  cwd=h.tmpdir("plain"))
    assert (plain.returncode, plain.stdout) == (0, "handler: profile absent\n"), plain.describe()


def sig_ignored(pid, signum):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_default_disposition_signal(h, signum):
    p = h.start([h.workload("exit_paths"), "wait-signal"], outdir=h.tmpdir("out"))
    p.wait_for_stdout("ready\n")
    assert not sig_ignored(p.pid, signum), "precondition: the signal must not be ignored"
    time.sleep(0.2)
    p.signal(signum)
    r = p.finish(60)
    assert r.returncode == -signum, (
        f"the process should still die of {signum.name}\n" + r.describe())
    check_profile(h, r)


@pytest.mark.timeout(120)
def test_own_sigterm_handler_runs(h):
    p = h.start([h.workload("exit_paths"), "handler"], outdir=h.tmpdir("out"))
    p.wait_for_stdout("ready\n")
    time.sleep(0.2)
    p.signal(signal.SIGTERM)
    r = p.finish(60)
    assert "handler ran" in r.stdout, "the program's own SIGTERM handler did not run\n" + r.describe()
    assert r.returncode == 3, r.describe()
    check_profile(h, r)


@pytest.mark.timeout(120)
def test_existing_profile_is_never_overwritten(h):
    # The child creates <prog>.<its pid>.cpu.pb.gz between fork and exec
    # (preexec_fn runs in the child, where os.getpid() is the pid it will have).
    out = h.tmpdir("out")
    precious = b"not a profile: must survive\n"

    def plant():
        (out / f"exit_paths.{os.getpid()}.cpu.pb.gz").write_bytes(precious)

    # Heap profiling off: only the CPU profile's name is at stake here.
    r = h.start([h.workload("exit_paths"), "return", "0.3"], outdir=out, preexec_fn=plant,
                env={"PPROF_MEM_RATE": "0"}).finish(60)
    assert r.returncode == 0, r.describe()
    target = out / f"exit_paths.{r.pid}.cpu.pb.gz"
    assert target.read_bytes() == precious, "the existing file was overwritten\n" + r.describe()
    assert sorted(p.name for p in out.iterdir()) == [target.name], (
        "no other file (temporary or renamed) should be left behind\n" + r.describe())
    assert len(r.ppagent_lines) == 1, "expected one ppagent: line saying the file exists\n" + r.describe()


@pytest.mark.timeout(60)
def test_fork_without_exec_gets_its_own_profile(h):
    # At 1000 Hz the per-thread timers are exact to about one 4 ms tick, so
    # ±20% of 0.5 s is a wide band; what matters is that no samples cross over.
    r = h.run_agent([h.workload("fork_child")], hz=1000)
    assert r.returncode == 0, r.describe()
    child_pid = int(r.stdout.split()[1])
    by_pid = {int(p.name.split(".")[1]): p for p in r.profiles}
    assert sorted(by_pid) == sorted([r.pid, child_pid]), r.describe()

    parent = h.assert_valid_profile(by_pid[r.pid], hz=1000, program="fork_child")
    child = h.assert_valid_profile(by_pid[child_pid], hz=1000, program="fork_child")

    def cumulative(view):
        out = {}
        for s in view.p.sample:
            names = {ln[0] for lid in s.location_id for ln in view.lines(view.locations[lid])}
            for name in names:
                out[name] = out.get(name, 0) + view.cpu_ns(s)
        return out

    pcum, ccum = cumulative(parent), cumulative(child)
    assert "child_work" not in pcum, pcum
    assert "parent_work" not in ccum, ccum
    assert abs(ccum.get("child_work", 0) / 1e9 - 0.5) <= 0.1, ccum
    assert abs(pcum.get("parent_work", 0) / 1e9 - 0.5) <= 0.1, pcum
