"""Threads sampled at 1000 Hz inside a dlopen'd plugin while another thread
dlopens and dlcloses it (and a second plugin that each dlclose unmaps, with a
thread burning inside that one too): the agent reads unwind tables in place, so
it must not crash when objects go away, and samples inside the plugin must
still unwind through it to the program's own frames."""

import re

import pytest


@pytest.mark.timeout(240)
def test_samples_unwind_through_a_plugin_while_plugins_are_closed(h):
    plugin = h.workload("dl_unwind_plugin.so")
    plugin_b = h.workload("storm_plugin.so")
    r = h.run_agent([h.workload("dl_unwind"), "10", plugin, plugin_b], hz=1000, timeout=120)
    assert r.returncode == 0, r.describe()
    m = re.search(r"cycles=(\d+) b_calls=(\d+) failures=(\d+)", r.stdout)
    assert m, r.describe()
    cycles, b_calls, failures = map(int, m.groups())
    assert cycles > 100 and b_calls > 100 and failures == 0, r.stdout

    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="dl_unwind", min_samples=100)
    # Counted in samples (value 0), not in distinct stacks.
    in_plugin = [s for s in view.p.sample if view.leaf_function(s) == "unwind_plugin_burn"]
    total = sum(s.value[0] for s in in_plugin)
    assert total >= 100, f"{total} samples in the plugin"
    through = sum(s.value[0] for s in in_plugin
                  if {"unwind_plugin_work", "plugin_burner_main"} <= view.stack_functions(s))
    # The plugin is mapped before the agent first notes it (at the cycler's
    # first dlclose, microseconds later): a sample or two may stop there.
    assert through >= 0.95 * total, f"{through} of {total} samples in the plugin unwound through it"
