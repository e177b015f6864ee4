"""A sample store that fills up: samples are dropped, counted, reported once on
stderr at exit and recorded in the profile, and nothing else changes."""

import re

import pytest

DROPPED = re.compile(r"^ppagent: (\d+) CPU samples \(([\d.]+) s of CPU time\) were dropped: "
                     r"the sample store was full$")


@pytest.mark.timeout(60)
def test_full_store_drops_are_counted_and_reported(h):
    r = h.run_agent([h.workload("many_stacks"), "1.5"], hz=1000,
                    env={"PPROF_CPU_MAX_STACKS": "16"})
    assert r.returncode == 0, r.describe()
    lines = r.ppagent_lines
    assert len(lines) == 1, r.describe()
    m = DROPPED.match(lines[0])
    assert m, lines[0]
    dropped, dropped_cpu = int(m.group(1)), float(m.group(2))
    assert dropped > 0

    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="many_stacks")
    assert f"dropped samples: {dropped}" in view.comments(), view.comments()
    # At most 16 distinct (thread, stack) pairs were kept.
    assert len(view.p.sample) <= 16
    # What was kept plus what was dropped is still all of the CPU time (as
    # the workload measured it at the end of main: the agent's own start-up
    # and exit work are not sampled).
    m = re.search(r"process_cpu_ns=(\d+)", r.stdout)
    assert m, r.describe()
    workload_cpu = int(m.group(1)) / 1e9
    kept_cpu = view.total_cpu_ns() / 1e9
    assert abs(kept_cpu + dropped_cpu - workload_cpu) <= 0.1 * workload_cpu, (
        kept_cpu, dropped_cpu, workload_cpu)


@pytest.mark.timeout(60)
def test_default_store_keeps_every_stack(h):
    r = h.run_agent([h.workload("many_stacks"), "1.0"], hz=1000)
    assert r.returncode == 0, r.describe()
    assert r.ppagent_lines == [], r.describe()
    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="many_stacks")
    assert "dropped samples: 0" in view.comments()
    assert len(view.p.sample) > 16  # the store above really was too small
