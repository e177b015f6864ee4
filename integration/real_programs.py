"""Checks shared by the real-program tests (test_real_programs.py): which
processes left profiles in an output directory, and whether each of them left a
valid cpu, heap and allocs profile.

Every profile file checked passes through Harness.assert_valid_profile or
assert_valid_heap_profile, i.e. both readers: the protobuf classes and
`go tool pprof -raw`. The figures (processes profiled, files checked) are kept
in TALLY and printed by the tests (pytest -s shows them).
"""

import os
import re
from collections import Counter
from pathlib import Path

# The files every profiled process writes when it ends (mutex and block are off
# by default).
EXIT_KINDS = ("allocs", "cpu", "heap")

TALLY = Counter()


def profile_pids(outdir, program):
    """{pid: {kind: path}} for files named <program>.<pid>.<kind>.pb.gz, and the
    list of every other name in outdir (which a test expects to be empty)."""
    rx = re.compile(rf"{re.escape(program)}\.([0-9]+)\.([a-z]+(?:\.[0-9]+)?)\.pb\.gz")
    by_pid, others = {}, []
    for p in sorted(Path(outdir).iterdir()):
        m = rx.fullmatch(p.name)
        if m:
            by_pid.setdefault(int(m.group(1)), {})[m.group(2)] = p
        else:
            others.append(p.name)
    return by_pid, others


def names_in_mappings(view, mapping_basenames):
    """Function names of sampled frames whose mapping's file is one of
    mapping_basenames (basename, or a prefix of it ending the name's stem, e.g.
    "libsqlite3.so" matches libsqlite3.so.0.8.6)."""
    wanted = tuple(mapping_basenames)
    mapping_names = {m.id: os.path.basename(view.str(m.filename)) for m in view.p.mapping}
    names = set()
    for s in view.p.sample:
        for lid in s.location_id:
            loc = view.locations[lid]
            if mapping_names.get(loc.mapping_id, "").startswith(wanted):
                names.update(ln[0] for ln in view.lines(loc) if ln[0])
    return names


def check_count_profile(h, path, kind, binary):
    """A threads (pprof type goroutine) or threadcreate profile: Go's shape,
    accepted by both readers."""
    view = h.decode(path)
    bad, _ = view.structure_problems(program=binary)
    assert not bad, f"{path}: " + "; ".join(bad)
    assert view.sample_types() == [(kind, "count")], (path, view.sample_types())
    # Every live process has a thread; threadcreate lists only threads the
    # program created (none in a single-threaded nginx process).
    if kind == "goroutine":
        assert view.p.sample, f"{path}: no samples (a live process has threads)"
    raw = h.pprof_raw(path)
    assert f"PeriodType: {kind} count" in raw, raw[:2000]
    return view


def check_process_profiles(h, files, *, binary, rate, min_cpu_samples=0, dumps=0):
    """files: {kind: path} of one process. Asserts the cpu, heap and allocs
    profiles are there and valid (both readers; mapping[0] is `binary`), and
    for each of `dumps` dumps by signal heap.N, allocs.N, threads.N and
    threadcreate.N. Returns {kind: ProfileView}."""
    expected = set(EXIT_KINDS)
    for n in range(1, dumps + 1):
        expected |= {f"heap.{n}", f"allocs.{n}", f"threads.{n}", f"threadcreate.{n}"}
    assert set(files) == expected, (
        f"expected {sorted(expected)}, found {sorted(files)}: "
        f"{sorted(str(p) for p in files.values())}")
    views = {"cpu": h.assert_valid_profile(files["cpu"], program=binary,
                                           min_samples=min_cpu_samples)}
    for key in sorted(files):
        kind = key.split(".")[0]
        if kind in ("heap", "allocs"):
            views[key] = h.assert_valid_heap_profile(files[key], kind=kind, rate=rate,
                                                     program=binary, min_samples=0)
        elif kind in ("threads", "threadcreate"):
            views[key] = check_count_profile(
                h, files[key], "goroutine" if kind == "threads" else kind, binary)
    TALLY["files checked"] += len(files)
    TALLY["processes profiled"] += 1
    return views


def cpu_samples(view):
    return sum(s.value[0] for s in view.p.sample)


def all_names(views, mapping_basenames):
    names = set()
    for v in views.values():
        names |= names_in_mappings(v, mapping_basenames)
    return names
