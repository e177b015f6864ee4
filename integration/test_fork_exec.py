"""Issue 6, points 1 and 2 (and the fork/exec tree of its tests): fork without
exec gives the child profiles of its own, of every kind, with nothing of the
parent's; exec'd programs are profiled by default; `ppagent run --no-children`
profiles only the top process and `--only NAME,...` only the programs named;
a tree of 100 processes made of fork and exec leaves valid profiles from
every one of them."""

import os
from pathlib import Path

import pytest

from lifecycle_checks import assert_all_valid, files_by_pid, functions_in

ALL_KINDS = {"cpu", "heap", "allocs", "mutex", "block"}
DEFAULT_KINDS = {"cpu", "heap", "allocs"}


@pytest.mark.timeout(120)
def test_fork_child_has_only_its_own_samples_of_every_kind(h):
    r = h.run_agent([h.workload("fork_kinds")], hz=1000,
                    env={"PPROF_MEM_RATE": 1, "PPROF_MUTEX_FRACTION": 1, "PPROF_BLOCK_RATE": 1})
    assert r.returncode == 0, r.describe()
    assert r.ppagent_lines == [], r.describe()
    child = int(r.stdout.split()[1])
    files = files_by_pid(r.outdir)
    # Each process wrote each kind once, under its own pid; nothing else.
    assert set(files) == {r.pid, child}, r.describe()
    assert set(files[r.pid]) == ALL_KINDS and set(files[child]) == ALL_KINDS, files

    views = assert_all_valid(h, [p for kinds in files.values() for p in kinds.values()],
                             program="fork_kinds", hz=1000, mem_rate=1)
    own = {r.pid: "parent_", child: "child_"}
    other = {r.pid: "child_", child: "parent_"}
    for pid, kinds in files.items():
        for kind, path in kinds.items():
            names = functions_in(views[path])
            mine = {n for n in names if n.startswith(own[pid])}
            theirs = {n for n in names if n.startswith(other[pid])}
            assert not theirs, f"{path.name} ({kind}) has the other process's {theirs}"
            assert mine, f"{path.name} ({kind}) has none of its own {own[pid]}* functions: {names}"

    # The child freed half of the parent's blocks: not counted as its frees,
    # so its heap holds exactly its own 64 live blocks of 8192+i bytes.
    mine = views[files[child]["heap"]].heap_by_function(["child_alloc"])["child_alloc"]
    assert mine["inuse_objects"] == mine["alloc_objects"] == 64, mine
    assert mine["inuse_space"] == sum(8192 + i for i in range(64)), mine
    totals = views[files[child]["heap"]].heap_totals()
    assert totals["inuse_objects"] <= totals["alloc_objects"], totals
    parent = views[files[r.pid]["heap"]].heap_by_function(["parent_alloc"])["parent_alloc"]
    assert parent["inuse_objects"] == 64, parent


def read_pids(log):
    pids = [int(line) for line in Path(log).read_text().split()]
    assert len(set(pids)) == len(pids), pids
    return set(pids)


@pytest.mark.timeout(600)
def test_fork_exec_tree_of_100_processes(h):
    out, work = h.tmpdir("out"), h.tmpdir("work")
    log = work / "pids"
    # PPROF_MEM_RATE=1: every allocation is sampled, so each process's 16
    # blocks are in its allocs profile (at the default rate 1 MiB gives two
    # samples on average: one process in eight would have none).
    r = h.run_agent([h.workload("proc_tree"), "100", log], outdir=out, hz=1000, timeout=480,
                    env={"PPROF_MEM_RATE": 1})
    assert r.returncode == 0, r.describe()
    assert r.ppagent_lines == [], r.describe()
    ran = read_pids(log)
    assert len(ran) == 100 and r.pid in ran, sorted(ran)
    files = files_by_pid(out)
    assert set(files) == ran, (f"pids with files but not run: {set(files) - ran}; "
                               f"run without files: {ran - set(files)}")
    for pid, kinds in files.items():
        assert set(kinds) == DEFAULT_KINDS, (pid, kinds)
    paths = [p for kinds in files.values() for p in kinds.values()]
    views = assert_all_valid(h, paths, program="proc_tree", hz=1000, mem_rate=1)
    for pid, kinds in files.items():
        assert "tree_work" in functions_in(views[kinds["cpu"]]), kinds["cpu"]
        assert "tree_alloc" in functions_in(views[kinds["allocs"]]), kinds["allocs"]
    print(f"tree: {len(ran)} processes profiled, {len(paths)} files checked with go tool pprof -raw")


def tree_under_shell(h, options, *, count=5):
    """`ppagent run OPTIONS -- sh -c 'proc_tree COUNT LOG; true'`: sh forks and
    execs proc_tree (the '; true' keeps sh from exec'ing in place), which
    forks and execs itself. Returns (run, pids of proc_tree, files by pid)."""
    out, work = h.tmpdir("out"), h.tmpdir("work")
    log = work / "pids"
    r = h.run_launcher(["run", *options, "-o", out, "--cpu-hz", "1000", "--", "sh", "-c",
                        f"{h.workload('proc_tree')} {count} {log}; true"], timeout=120)
    assert r.returncode == 0, r.describe()
    return r, read_pids(log), files_by_pid(out)


def shell_pid(files, tree_pids):
    shells = [pid for pid, kinds in files.items()
              if pid not in tree_pids and Path(next(iter(kinds.values()))).name.startswith("sh.")]
    return shells


@pytest.mark.timeout(240)
def test_children_are_profiled_by_default(h):
    r, tree, files = tree_under_shell(h, [])
    assert len(tree) == 5
    assert tree <= set(files), (tree, files)
    sh = set(files) - tree
    assert len(sh) == 1 and all(p.name.startswith("sh.") for p in files[sh.pop()].values()), files
    assert_all_valid(h, [p for pid in tree for p in files[pid].values()], program="proc_tree",
                     hz=1000)


@pytest.mark.timeout(240)
def test_no_children_profiles_only_the_top_process(h):
    r, tree, files = tree_under_shell(h, ["--no-children"])
    assert len(tree) == 5, tree
    # Only sh, the program ppagent ran: neither what it exec'd nor any fork.
    assert len(files) == 1 and not (set(files) & tree), files
    (sh_pid, kinds), = files.items()
    assert set(kinds) == DEFAULT_KINDS and all(p.name.startswith("sh.") for p in kinds.values())
    assert_all_valid(h, kinds.values(), program=None, hz=1000, min_cpu_samples=0)
    assert r.stderr.count("ppagent: wrote") == 3, r.describe()

    # Forks without exec: the top process alone, its forked children inert.
    out, work = h.tmpdir("out"), h.tmpdir("work")
    r = h.run_launcher(["run", "--no-children", "-o", out, "--cpu-hz", "1000", "--",
                        h.workload("proc_tree"), "7", work / "pids"])
    assert r.returncode == 0, r.describe()
    ran = read_pids(work / "pids")
    files = files_by_pid(out)
    assert len(ran) == 7 and len(files) == 1 and set(files) <= ran, (ran, files)
    assert_all_valid(h, next(iter(files.values())).values(), program="proc_tree", hz=1000)


@pytest.mark.timeout(240)
def test_only_profiles_the_named_programs(h):
    # sh is not named: it runs inert, its proc_tree descendants are profiled.
    r, tree, files = tree_under_shell(h, ["--only", "proc_tree,nginx"])
    assert set(files) == tree and len(tree) == 5, (tree, files)
    assert_all_valid(h, [p for kinds in files.values() for p in kinds.values()],
                     program="proc_tree", hz=1000)
    # Only sh named: proc_tree processes have no files.
    r, tree, files = tree_under_shell(h, ["--only", "sh"])
    assert len(files) == 1 and not (set(files) & tree), files
    assert all(p.name.startswith("sh.") for p in next(iter(files.values())).values())


@pytest.mark.parametrize("value", ["", "a,,b", "bin/sh", ","])
def test_only_bad_value_is_a_usage_error(h, value):
    r = h.run_launcher(["run", "--only", value, "--", h.workload("hello_exit")])
    assert r.returncode == 2, r.describe()
    assert r.stderr.startswith("ppagent: --only"), r.describe()


@pytest.mark.parametrize("env", [{"PPROF_CHILDREN": "maybe"}, {"PPROF_PROGRAMS": "a/b,c"}])
def test_bad_filter_variable_one_line_and_program_unharmed(h, env):
    r = h.run_agent([h.workload("fork_child")], hz=1000, env=env)
    assert r.returncode == 0, r.describe()
    lines = r.ppagent_lines
    # The parent says it once at start; the forked child inherits the state silently.
    assert len(lines) == 1 and list(env)[0] in lines[0], r.describe()
    child = int(r.stdout.split()[1])
    files = files_by_pid(r.outdir)
    assert set(files) == {r.pid, child}, files  # the defaults: every process, every program
    assert_all_valid(h, [p for k in files.values() for p in k.values()], program="fork_child",
                     hz=1000)
