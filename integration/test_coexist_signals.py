"""Issue 6 point 6 (coexistence): a program that uses SIGPROF or the dump
signal itself, with its handler installed before the agent starts (by a
library preloaded with it) or after (sigaction or signal() in main), keeps
working exactly as without the agent: its handler gets its signals and only
its own, its counts are right, sigaction shows it the dispositions it would
see without the agent; the agent steps aside for that feature, says so in one
`ppagent:` line, and still writes what it recorded."""

import subprocess

import pytest

from coexist_checks import check_every_profile, ppagent_lines, profile_files
from conftest import AGENT

RATE = 4096
AGENT_ENV = {"PPROF_CPU_HZ": 100, "PPROF_MEM_RATE": RATE}

STEPPED_ASIDE = ("ppagent: the program installed its own SIGPROF disposition; CPU profiling "
                 "stopped")


def without_agent(h, argv, env=None):
    r = h.run(argv, agent=False, env=env)
    assert r.returncode == 0, r.describe()
    return r


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["after-sigaction", "after-signal"])
def test_program_takes_sigprof_after_start(h, mode):
    argv = [h.workload("sigprof_user"), mode]
    plain = without_agent(h, argv)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env=AGENT_ENV)
    assert run.returncode == 0, run.describe()
    # Same output: old disposition "default", 40 ticks, no foreign signal.
    assert run.stdout == plain.stdout, run.describe()
    assert "old=default" in run.stdout
    if mode == "after-sigaction":
        assert "foreign=0" in run.stdout
    lines = ppagent_lines(run)
    assert len(lines) == 1 and lines[0].startswith(STEPPED_ASIDE), run.describe()
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts
    # The ~300 ms burnt before the program took SIGPROF is in the profile.
    cpu = next(p for p, (k, _) in profile_files(out).items() if k == "cpu")
    view = h.assert_valid_profile(cpu, program="sigprof_user", min_samples=5)
    assert "user_burn" in view.flat_by_function(), view.flat_by_function()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("order", ["preload-first", "agent-first"])
def test_sigprof_handler_from_another_preload(h, order):
    """sigprof_preload.so's constructor installs a SIGPROF handler. Which
    constructor runs first is the dynamic loader's choice (glibc runs the
    agent's first when sigprof_preload.so is listed first, because the agent
    has more dependencies to initialize before it): either way the program
    counts its 40 ticks with no foreign signal, and the agent says once that
    CPU profiling is off or stopped."""
    other = h.workload("sigprof_preload.so")
    argv = [h.workload("sigprof_user"), "before"]
    plain = without_agent(h, argv, env={"LD_PRELOAD": other})
    assert plain.stdout == "installed=handler ticks>=40 foreign=0\n", plain.describe()
    preload = f"{other} {AGENT}" if order == "preload-first" else f"{AGENT} {other}"
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env={**AGENT_ENV, "LD_PRELOAD": preload})
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    lines = ppagent_lines(run)
    assert len(lines) == 1, run.describe()
    before = lines[0] == ("ppagent: SIGPROF already has a handler of the program's; CPU "
                          "profiling is off")
    assert before or lines[0].startswith(STEPPED_ASIDE), lines
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    assert counts == ({"heap": 1, "allocs": 1} if before else
                      {"cpu": 1, "heap": 1, "allocs": 1}), counts


@pytest.mark.timeout(120)
def test_handler_before_the_agent_is_seen_by_one_order(h):
    """The 'before' path really happens: with the agent listed first, the
    other library's constructor has run when the agent starts."""
    other = h.workload("sigprof_preload.so")
    out = h.tmpdir("out")
    run = h.run_agent([h.workload("sigprof_user"), "before"], outdir=out,
                      env={**AGENT_ENV, "LD_PRELOAD": f"{AGENT} {other}"})
    assert run.returncode == 0, run.describe()
    assert ppagent_lines(run) == [
        "ppagent: SIGPROF already has a handler of the program's; CPU profiling is off"], \
        run.describe()
    assert not any(k == "cpu" for k, _ in profile_files(out).values())


@pytest.mark.timeout(120)
def test_program_takes_the_dump_signal_after_start(h):
    argv = [h.workload("sigprof_user"), "dump-signal"]
    plain = without_agent(h, argv)
    assert plain.stdout == "old=default usr2=5 foreign=0\n"
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env=AGENT_ENV)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert ppagent_lines(run) == [
        "ppagent: the program installed its own handler for the dump signal 12 (User defined "
        "signal 2); dumps by signal are off"], run.describe()
    files = profile_files(out)
    # The five SIGUSR2 went to the program: no dump was written.
    assert all(seq is None for _, seq in files.values()), sorted(p.name for p in files)
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts


@pytest.mark.timeout(120)
def test_program_sees_default_dispositions(h):
    """sigaction/signal() queries and SIG_DFL show the program the default
    disposition of the signals the agent handles, as without the agent; SIG_DFL
    leaves the agent's handlers in place (no step-aside line), so profiles
    are still written."""
    argv = [h.workload("sigprof_user"), "query"]
    plain = without_agent(h, argv)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env=AGENT_ENV)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert run.stdout.count("default, signal() returned default") == 5, run.stdout
    assert ppagent_lines(run) == [], run.describe()
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    cpu = next(p for p, (k, _) in profile_files(out).items() if k == "cpu")
    h.assert_valid_profile(cpu, program="sigprof_user", min_samples=5)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts


@pytest.mark.timeout(120)
def test_python_keeps_its_keyboard_interrupt(h):
    """CPython installs its SIGINT handler (KeyboardInterrupt) only if it finds
    SIGINT at SIG_DFL: under the agent it must find it so, and a SIGINT must
    raise KeyboardInterrupt as without the agent."""
    script = ("import os, signal\n"
              "print([str(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGTERM, "
              "signal.SIGPROF, signal.SIGUSR2)])\n"
              "try:\n    os.kill(os.getpid(), signal.SIGINT)\n    import time; time.sleep(5)\n"
              "except KeyboardInterrupt:\n    print('KeyboardInterrupt')\n")
    argv = ["/usr/bin/python3", "-c", script]
    plain = without_agent(h, argv)
    assert "KeyboardInterrupt" in plain.stdout
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env=AGENT_ENV)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert ppagent_lines(run) == [], run.describe()
    counts = check_every_profile(h, out, program="python3", rate=RATE)
    assert counts.get("cpu") == 1 and counts.get("heap") == 1, counts
