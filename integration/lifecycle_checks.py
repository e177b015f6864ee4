"""Shared checks of the issue-6 lifecycle tests (test_fork_exec.py,
test_daemons.py): which processes left which profile files, and whether every
one of them is a valid profile of its kind (both readers, go tool pprof -raw)."""

import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from test_mutex_block import assert_valid_contention_profile

FINAL_FILE = re.compile(r"(?P<program>.+)\.(?P<pid>[0-9]+)\.(?P<kind>cpu|heap|allocs|mutex|block)\.pb\.gz")


def files_by_pid(outdir):
    """{pid: {kind: path}} of the final profile files in outdir; asserts that
    nothing else (no dump, no temporary file) is there."""
    out = defaultdict(dict)
    for p in Path(outdir).iterdir():
        m = FINAL_FILE.fullmatch(p.name)
        assert m, f"unexpected file {p.name} in {outdir}"
        pid, kind = int(m.group("pid")), m.group("kind")
        assert kind not in out[pid], f"two {kind} files for pid {pid}"
        out[pid][kind] = p
    return dict(out)


def assert_valid_file(h, path, *, program, hz=100, mem_rate=524288, min_cpu_samples=1):
    """The file is a valid profile of the kind its name says."""
    kind = FINAL_FILE.fullmatch(Path(path).name).group("kind")
    if kind == "cpu":
        return h.assert_valid_profile(path, hz=hz, program=program, min_samples=min_cpu_samples)
    if kind in ("heap", "allocs"):
        return h.assert_valid_heap_profile(path, kind=kind, rate=mem_rate, program=program,
                                           min_samples=0)
    return assert_valid_contention_profile(h, path, program)


def assert_all_valid(h, paths, **kw):
    """assert_valid_file on every path, three at a time (each check runs go
    tool pprof). Returns {path: ProfileView}."""
    h.pb, h.pprof_env()  # created once, before the threads share them
    paths = list(paths)
    with ThreadPoolExecutor(max_workers=3) as pool:
        views = list(pool.map(lambda p: assert_valid_file(h, p, **kw), paths))
    return dict(zip(paths, views))


def functions_in(view):
    """Every function name on every sample's stack."""
    names = set()
    for s in view.p.sample:
        names |= view.stack_functions(s)
    return names
