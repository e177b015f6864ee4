"""Checks shared by the coexistence tests (issue 6 point 6): every profile file
a run left is read by go tool pprof -raw and by the protobuf reader."""

import re
from pathlib import Path

NAME = re.compile(r"^(?P<program>.+)\.(?P<pid>\d+)\.(?P<kind>[a-z]+)(?:\.(?P<seq>\d+))?\.pb\.gz$")


def profile_files(outdir):
    """{path: (kind, sequence or None)} for every profile file in outdir; any
    other file there (a partial or temporary one) fails the test."""
    found = {}
    for p in sorted(Path(outdir).iterdir()):
        m = NAME.match(p.name)
        assert m, f"unexpected file in the output directory: {p.name}"
        found[p] = (m.group("kind"), int(m.group("seq")) if m.group("seq") else None)
    return found


def check_every_profile(h, outdir, *, program, rate=None, hz=100):
    """Validates every file; returns {kind: count}."""
    counts = {}
    for path, (kind, _) in profile_files(outdir).items():
        if kind == "cpu":
            h.assert_valid_profile(path, hz=hz, program=program, min_samples=0)
        elif kind in ("heap", "allocs"):
            h.assert_valid_heap_profile(path, kind=kind, rate=rate, program=program,
                                        min_samples=0)
        else:
            raw = h.pprof_raw(path)
            assert "Samples:" in raw or "sample" in raw.lower(), raw[:500]
            h.decode(path)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def ppagent_lines(run):
    return [l for l in run.stderr.splitlines() if l.startswith("ppagent: ")]
