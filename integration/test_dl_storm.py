"""5. A 20 s storm of dlopen/dlclose/dl_iterate_phdr and thread churn, sampled at
1000 Hz, must finish (no deadlock in the signal handler) and leave a valid
profile."""

import re

import pytest


@pytest.mark.timeout(240)
def test_dlopen_storm_finishes_with_valid_profile(h):
    plugin = h.workload("storm_plugin.so")
    # The storm lasts 20 s of wall time; 120 s allows for a slow, loaded machine
    # and for the agent's exit-time work. Longer means a hang.
    r = h.run_agent([h.workload("dl_storm"), "20", plugin], hz=1000, timeout=120)
    assert r.returncode == 0, r.describe()
    m = re.search(r"dl_cycles=(\d+) phdr_walks=(\d+) threads_spawned=(\d+) failures=(\d+)", r.stdout)
    assert m, r.describe()
    cycles, walks, spawned, failures = map(int, m.groups())
    # The storm really happened (the workload checks failures == 0 itself).
    assert cycles > 1000 and walks > 1000 and spawned > 100, r.stdout

    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="dl_storm", min_samples=100)
    names = set(view.cpu_by_label("thread_name"))
    for t in ("burner", "dl-loop", "phdr-loop"):
        assert t in names, f"no samples from thread {t}; thread names: {names}"

    top, res = h.pprof_top(r.the_profile())
    assert "storm_burn" in top.rows and top.rows["storm_burn"][0] > 0, top.text
