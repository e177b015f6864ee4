"""Names, files and lines from separate debug files: a GNU debuglink next to a
stripped binary, and Debian's libc6-dbg, found by build-id under
/usr/lib/debug/.build-id (installed by scripts/install-deps.sh)."""

import shutil
import subprocess
from pathlib import Path

import pytest


def sections(path):
    return subprocess.run(["readelf", "-SW", str(path)], capture_output=True, text=True,
                          check=True).stdout


def build_id(path):
    out = subprocess.run(["readelf", "-n", str(path)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        if "Build ID:" in line:
            return line.split("Build ID:")[1].strip()
    raise AssertionError(f"{path} has no GNU build-id")


@pytest.mark.timeout(120)
def test_debuglink_next_to_stripped_binary(h):
    bindir = h.tmpdir("debuglink")
    prog = bindir / "cpu_split"
    shutil.copy2(h.workload("cpu_split"), prog)
    debug = bindir / "cpu_split.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(prog), str(debug)], check=True)
    subprocess.run(["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", str(prog)],
                   check=True, cwd=bindir)
    s = sections(prog)
    assert ".debug_info" not in s and ".gnu_debuglink" in s, s

    r = h.run_agent([prog, "1", "1.0"], cwd=bindir)
    assert r.returncode == 0, r.describe()
    view = h.assert_valid_profile(r.the_profile(), program="cpu_split")
    files = {fn: (filename, line)
             for loc in view.locations.values()
             for fn, _, filename, line in view.lines(loc)}
    assert "burn_seventy" in files, files
    filename, line = files["burn_seventy"]
    assert filename.endswith("/integration/workloads/cpu_split.c") and line > 0, files

    # And go tool pprof shows it without the binary's help.
    top, _ = h.pprof_top(r.the_profile(), extra=["-lines"])
    assert any("cpu_split.c:" in row for row in top.text.splitlines() if "burn_seventy" in row), top.text


@pytest.mark.timeout(120)
def test_libc_lines_from_build_id_debug_file(h):
    libc = Path("/lib/x86_64-linux-gnu/libc.so.6").resolve()
    assert ".debug_info" not in sections(libc), "precondition: Debian's libc ships stripped"
    bid = build_id(libc)
    debug_file = Path("/usr/lib/debug/.build-id") / bid[:2] / f"{bid[2:]}.debug"
    assert debug_file.exists(), (
        f"{debug_file} missing: scripts/install-deps.sh installs libc6-dbg")

    r = h.run_agent([h.workload("libc_sort"), "1.5"])
    assert r.returncode == 0, r.describe()
    view = h.assert_valid_profile(r.the_profile(), program="libc_sort")
    libc_mappings = {m.id for m in view.p.mapping if view.str(m.filename) == str(libc)}
    assert libc_mappings, [view.str(m.filename) for m in view.p.mapping]

    libc_cpu = with_lines = 0
    for s in view.p.sample:
        loc = view.locations[s.location_id[0]]
        if loc.mapping_id not in libc_mappings:
            continue
        libc_cpu += view.cpu_ns(s)
        lines = view.lines(loc)
        if lines and lines[0][2] and lines[0][3] > 0:
            with_lines += view.cpu_ns(s)
    total = view.total_cpu_ns()
    assert libc_cpu >= 0.3 * total, f"only {libc_cpu}/{total} ns in libc: workload premise"
    # Every sampled libc address is covered by libc6-dbg's DWARF.
    assert with_lines >= 0.95 * libc_cpu, f"{with_lines}/{libc_cpu} ns of libc samples have file:line"
    names = {fn for loc in view.locations.values() if loc.mapping_id in libc_mappings
             for fn, _, _, _ in view.lines(loc)}
    assert any("msort" in (n or "") for n in names), names


@pytest.mark.timeout(60)
def test_mappings_carry_build_ids_and_main_binary_first(h):
    prog = h.workload("cpu_burn")
    r = h.run_agent([prog, "0", "0.3"])
    assert r.returncode == 0, r.describe()
    view = h.assert_valid_profile(r.the_profile(), program="cpu_burn")
    mappings = {view.str(m.filename): m for m in view.p.mapping}
    main = view.p.mapping[0]
    assert view.str(main.filename) == str(Path(prog).resolve())
    assert view.str(main.build_id) == build_id(prog)
    libc = str(Path("/lib/x86_64-linux-gnu/libc.so.6").resolve())
    assert libc in mappings, list(mappings)
    assert view.str(mappings[libc].build_id) == build_id(libc)
    # Executable mappings only, with real bounds and offsets.
    for m in view.p.mapping:
        assert m.memory_start < m.memory_limit, m
    # The program's own mapping was fully symbolized, with DWARF lines.
    assert main.has_functions and main.has_filenames and main.has_line_numbers, main
