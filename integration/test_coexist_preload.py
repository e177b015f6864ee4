"""Issue 6 point 6 (coexistence): a program that already preloads something
else — LD_PRELOAD set by the user around `ppagent run`, or a raw LD_PRELOAD
list with another malloc (Debian's libjemalloc, or a small library that
interposes malloc itself) before or after the agent — runs as without the
agent, the other library still works, and every profile is valid."""

import pytest

from coexist_checks import check_every_profile, ppagent_lines, profile_files
from conftest import AGENT

RATE = 4096
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def burst_argv(h):
    stop = h.tmpdir("stop") / "stop"
    stop.touch()  # the fixed work only
    return [h.workload("dump_burst"), stop]


def reference(h, argv, preload=None):
    r = h.run(argv, agent=False, env={"LD_PRELOAD": preload} if preload else None)
    assert r.returncode == 0, r.describe()
    return r


def allocs_functions(h, out):
    path = next(p for p, (k, s) in profile_files(out).items() if k == "allocs" and s is None)
    return h.decode(path), path


@pytest.mark.timeout(120)
def test_user_preload_kept_by_the_launcher(h):
    other = h.workload("malloc_counter.so")
    argv = burst_argv(h)
    plain = reference(h, argv, preload=other)
    assert "malloc_counter: saw calls" in plain.stderr
    out = h.tmpdir("out")
    run = h.run_launcher(["run", "-o", out, "--", *argv],
                         env={"LD_PRELOAD": other, "PPROF_MEM_RATE": RATE})
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert "malloc_counter: saw calls" in run.stderr, run.describe()
    counts = check_every_profile(h, out, program="dump_burst", rate=RATE)
    assert counts.get("cpu") == 1 and counts.get("heap") == 1, counts


@pytest.mark.timeout(180)
@pytest.mark.parametrize("order", ["counter-first", "agent-first", "jemalloc-first"])
def test_raw_preload_lists(h, order):
    other = JEMALLOC if order == "jemalloc-first" else str(h.workload("malloc_counter.so"))
    preload = f"{AGENT} {other}" if order == "agent-first" else f"{other} {AGENT}"
    argv = burst_argv(h)
    plain = reference(h, argv, preload=other)
    out = h.tmpdir("out")
    run = h.run_agent(argv, outdir=out,
                      env={"LD_PRELOAD": preload, "PPROF_MEM_RATE": RATE, "PPROF_CPU_HZ": 100})
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    if other != JEMALLOC:
        assert "malloc_counter: saw calls" in run.stderr, run.describe()
    counts = check_every_profile(h, out, program="dump_burst", rate=RATE)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1}, counts
    view, path = allocs_functions(h, out)
    names = set()
    for s in view.p.sample:
        names.update(view.stack_functions(s))
    # The agent sees the program's allocations whenever its malloc is reached:
    # first in the list, or behind a library that forwards with RTLD_NEXT.
    # jemalloc listed first answers malloc itself: no allocation reaches the agent.
    if order == "jemalloc-first":
        assert len(view.p.sample) == 0 or "burst_work" in names, names
    else:
        assert "burst_work" in names, (path, names)
