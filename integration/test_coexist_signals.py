"""Issue 6 point 6 (coexistence): a program that uses the agent's CPU signal
or the dump signal itself, with its handler installed before the agent starts
(by a library preloaded with it) or after (sigaction or signal() in main),
keeps working exactly as without the agent: its handler gets its signals and
only its own, its counts are right, sigaction shows it the dispositions it
would see without the agent; the agent steps aside for that feature, says so
in one `ppagent:` line, and still writes what it recorded.

Issue 15: the CPU signal is the highest real-time signal with its default
disposition (SIGRTMAX here), or SIGPROF with PPROF_CPU_SIGNAL=PROF. Every CPU
signal test runs with both; with the default, a program that takes SIGPROF
does not disturb the agent at all."""

import signal
import subprocess
from dataclasses import dataclass

import pytest

from coexist_checks import check_every_profile, ppagent_lines, profile_files
from conftest import AGENT

RATE = 4096
AGENT_ENV = {"PPROF_CPU_HZ": 100, "PPROF_MEM_RATE": RATE}


@dataclass
class Setup:
    """The agent's CPU signal and how sigprof_user is told to use it."""
    name: str           # as the agent names it
    agent_env: dict     # for the agent
    program_env: dict   # for sigprof_user and sigprof_preload.so

    def stepped_aside(self):
        return (f"ppagent: the program took {self.name}, the agent's CPU signal, for itself; "
                "CPU profiling stopped")

    def already_handled(self):
        return f"ppagent: {self.name} already has a handler of the program's; CPU profiling is off"


SETUPS = {
    "default": Setup("SIGRTMAX", {}, {"SIGPROF_USER_SIGNAL": str(int(signal.SIGRTMAX))}),
    "PROF": Setup("SIGPROF", {"PPROF_CPU_SIGNAL": "PROF"}, {}),
}


@pytest.fixture(params=sorted(SETUPS))
def setup(request):
    return SETUPS[request.param]


def cpu_view(h, out):
    cpu = next(p for p, (k, _) in profile_files(out).items() if k == "cpu")
    return h.assert_valid_profile(cpu, program="sigprof_user", min_samples=0)


def samples(view):
    return sum(s.value[0] for s in view.p.sample)


def without_agent(h, argv, env=None):
    r = h.run(argv, agent=False, env=env)
    assert r.returncode == 0, r.describe()
    return r


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["after-sigaction", "after-signal"])
def test_program_takes_the_cpu_signal_after_start(h, setup, mode):
    argv = [h.workload("sigprof_user"), mode]
    plain = without_agent(h, argv, env=setup.program_env)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env={**AGENT_ENV, **setup.agent_env, **setup.program_env})
    assert run.returncode == 0, run.describe()
    # Same output: old disposition "default", 40 ticks, no foreign signal.
    assert run.stdout == plain.stdout, run.describe()
    assert "old=default" in run.stdout
    if mode == "after-sigaction":
        assert "foreign=0" in run.stdout
    lines = ppagent_lines(run)
    assert len(lines) == 1 and lines[0].startswith(setup.stepped_aside()), run.describe()
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts
    # The ~300 ms burnt before the program took the signal is in the profile.
    view = cpu_view(h, out)
    assert samples(view) >= 5, view.flat_by_function()
    assert "user_burn" in view.flat_by_function(), view.flat_by_function()
    assert f"cpu signal: {setup.name} ({SIGNUM[setup.name]})" in view.comments()


SIGNUM = {"SIGRTMAX": int(signal.SIGRTMAX), "SIGRTMAX-1": int(signal.SIGRTMAX) - 1,
          "SIGPROF": int(signal.SIGPROF)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["after-sigaction", "after-signal"])
def test_program_sigprof_leaves_the_default_signal_alone(h, mode):
    """GNU sort's and vim's case: the program handles SIGPROF (here with its
    own profiling timer running) and the agent, on SIGRTMAX, samples on: no
    line, and the CPU burnt while the program's timer ran is in the profile."""
    argv = [h.workload("sigprof_user"), mode]
    plain = without_agent(h, argv)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env=AGENT_ENV)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert ppagent_lines(run) == [], run.describe()
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts
    view = cpu_view(h, out)
    assert "cpu signal: SIGRTMAX (%d)" % SIGNUM["SIGRTMAX"] in view.comments(), view.comments()
    # count_ticks burns until 40 ticks of 5 ms of CPU: about 200 ms, 20 samples.
    ticking = sum(s.value[0] for s in view.p.sample if "count_ticks" in view.stack_functions(s))
    assert ticking >= 10, view.flat_by_function()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("order", ["preload-first", "agent-first"])
def test_cpu_signal_handler_from_another_preload(h, setup, order):
    """sigprof_preload.so's constructor installs a handler for the agent's CPU
    signal. Which constructor runs first is the dynamic loader's choice (glibc
    runs the agent's first when sigprof_preload.so is listed first, because the
    agent has more dependencies to initialize before it): either way the
    program counts its 40 ticks with no foreign signal. If the handler was
    there first, PPROF_CPU_SIGNAL=PROF turns CPU profiling off and the default
    choice takes the next signal down (SIGRTMAX-1) and samples on; if it came
    second, the agent says once that CPU profiling stopped."""
    other = h.workload("sigprof_preload.so")
    argv = [h.workload("sigprof_user"), "before"]
    plain = without_agent(h, argv, env={"LD_PRELOAD": other, **setup.program_env})
    assert plain.stdout == "installed=handler ticks>=40 foreign=0\n", plain.describe()
    preload = f"{other} {AGENT}" if order == "preload-first" else f"{AGENT} {other}"
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env={**AGENT_ENV, **setup.agent_env,
                                              **setup.program_env, "LD_PRELOAD": preload})
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    lines = ppagent_lines(run)
    counts = check_every_profile(h, out, program="sigprof_user", rate=RATE)
    if lines == [] and setup.name == "SIGRTMAX":  # the handler was first
        assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts
        view = cpu_view(h, out)
        assert "cpu signal: SIGRTMAX-1 (%d)" % SIGNUM["SIGRTMAX-1"] in view.comments()
        assert samples(view) >= 5, view.flat_by_function()
        return
    assert len(lines) == 1, run.describe()
    before = lines[0] == setup.already_handled()
    assert before or lines[0].startswith(setup.stepped_aside()), lines
    assert counts == ({"heap": 1, "allocs": 1} if before else
                      {"cpu": 1, "heap": 1, "allocs": 1}), counts


@pytest.mark.timeout(120)
def test_handler_before_the_agent_is_seen_by_one_order(h, setup):
    """The 'before' path really happens: with the agent listed first, the
    other library's constructor has run when the agent starts."""
    other = h.workload("sigprof_preload.so")
    out = h.tmpdir("out")
    run = h.run_agent([h.workload("sigprof_user"), "before"], outdir=out,
                      env={**AGENT_ENV, **setup.agent_env, **setup.program_env,
                           "LD_PRELOAD": f"{AGENT} {other}"})
    assert run.returncode == 0, run.describe()
    if setup.name == "SIGPROF":
        assert ppagent_lines(run) == [setup.already_handled()], run.describe()
        assert not any(k == "cpu" for k, _ in profile_files(out).values())
    else:
        assert ppagent_lines(run) == [], run.describe()
        view = cpu_view(h, out)
        assert "cpu signal: SIGRTMAX-1 (%d)" % SIGNUM["SIGRTMAX-1"] in view.comments()
        assert samples(view) >= 5, view.flat_by_function()


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
def test_program_sees_default_dispositions(h, setup):
    """sigaction/signal() queries and SIG_DFL show the program the default
    disposition of the signals the agent handles (the CPU signal among them),
    as without the agent; SIG_DFL leaves the agent's handlers in place (no
    step-aside line), so profiles are still written."""
    argv = [h.workload("sigprof_user"), "query"]
    plain = without_agent(h, argv, env=setup.program_env)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out, env={**AGENT_ENV, **setup.agent_env, **setup.program_env})
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
