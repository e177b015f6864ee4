"""Names, files and lines from separate debug files: a GNU debuglink next to a
stripped binary, and Debian's libc6-dbg, found by build-id under
/usr/lib/debug/.build-id (installed by scripts/install-deps.sh). Only files
are read: nothing is loaded once the program runs, debuginfod never asked.
And go tool pprof keeps the names the agent wrote, binary or no binary."""

import gzip
import re
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


def lines_after_transfer(stderr):
    """LD_DEBUG's lines after `transferring control` (the jump to the program), or None."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if "transferring control" in line:
            return lines[i + 1:]
    return None


@pytest.mark.timeout(120)
def test_nothing_loaded_once_the_program_runs_and_no_debuginfod(h):
    # cpu_burn_nodebug has no DWARF and no debug file anywhere: that is when
    # elfutils' libdwfl asks a debuginfod server (loading libdebuginfod,
    # libcurl and, through them, libssh2 and OpenSSL).
    prog = h.workload("cpu_burn_nodebug")
    r = h.run_agent([prog, "0", "0.5"],
                    env={"DEBUGINFOD_URLS": "http://127.0.0.1:9", "LD_DEBUG": "files"})
    assert r.returncode == 0, r.describe()
    after = lines_after_transfer(r.stderr)
    assert after is not None, f"no 'transferring control' from LD_DEBUG=files:\n{r.stderr[-3000:]}"
    loads = [line for line in after if "file=" in line]
    assert not loads, "loaded after the program started:\n" + "\n".join(loads)
    for word in ("debuginfod", "libcurl"):
        assert word not in r.stderr.lower(), r.stderr[-3000:]
    # The module without debug information was symbolized (from its symbols).
    view = h.assert_valid_profile(r.the_profile(), program="cpu_burn_nodebug")
    assert "burn_cpu" in view.flat_by_function(), view.flat_by_function()


def raw_locations(text):
    """pprof -raw's Locations block: {address: [function, ...]} innermost first."""
    out, current = {}, None
    block = text.split("Locations\n", 1)[1].split("Mappings\n", 1)[0]
    for line in block.splitlines():
        m = re.match(r"\s+\d+: (0x[0-9a-f]+) M=\d+ (.*)", line)
        if m:
            current = out.setdefault(m.group(1), [])
            current.append(m.group(2))
        elif current is not None and line.strip():
            current.append(line.strip())
    return out


def helper_inlined_in_hot_loop(locations):
    """Locations whose frames are work::mix_step inlined into hot_loop, as the agent names them."""
    return [a for a, frames in locations.items()
            if len(frames) == 2 and frames[0].startswith("work::mix_step(unsigned long, int) ")
            and frames[1].startswith("hot_loop(unsigned long) ")]


@pytest.mark.timeout(180)
def test_pprof_keeps_the_agents_names_with_or_without_the_binary(h):
    bindir = h.tmpdir("pprof-binary")
    prog = bindir / "inline_helper"
    shutil.copy2(h.workload("inline_helper"), prog)
    r = h.run_agent([prog, "0.5"], hz=1000, cwd=bindir)
    assert r.returncode == 0, r.describe()
    profile = r.the_profile()

    # The same profile with every mapping flag cleared: what pprof does when
    # it is told nothing (it reads the binary itself, and complains without it).
    view = h.decode(profile)
    for m in view.p.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    cleared = bindir / "cleared.pb.gz"
    cleared.write_bytes(gzip.compress(view.p.SerializeToString()))

    for binary in ("present", "absent"):
        if binary == "absent":
            prog.unlink()
        res = h.pprof(["-raw"], profile)  # pprof's default symbolization, as users run it
        assert res.stderr.strip() == "", f"binary {binary}: pprof printed:\n{res.stderr}"
        assert helper_inlined_in_hot_loop(raw_locations(res.stdout)), (
            f"binary {binary}: the agent's inlined frames are gone:\n{res.stdout[:3000]}")

        control = h.pprof(["-raw"], cleared)
        if binary == "present":
            assert not helper_inlined_in_hot_loop(raw_locations(control.stdout)), (
                "control: without the flags pprof should have replaced the agent's names")
        else:
            assert "Local symbolization failed" in control.stderr, control.stderr
