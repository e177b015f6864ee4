"""The cache of inflated debug sections (PPROF_CACHE_DIR; man/ppagent-env.7).

A program whose DWARF is compressed (as Debian's debug files are) is profiled
twice: the first process writes one entry named by the build-id, the second
maps it as it is, and both name the same functions, files, lines and inlined
frames as a run without the cache; the frames tables of the units looked up
are written once and mapped likewise. A damaged entry is replaced, and a cache
directory that cannot be used costs one line (when the user named it) and
nothing else."""

import os
import stat
import subprocess

import pytest

from test_debuginfo import build_id, helper_inlined_in_hot_loop, raw_locations, sections


@pytest.fixture
def compressed_prog(h):
    """inline_helper with its DWARF compressed (zlib, SHF_COMPRESSED), as a debug file
    of Debian's is; the build-id stays."""
    bindir = h.tmpdir("gz")
    prog = bindir / "inline_helper"
    subprocess.run(["objcopy", "--compress-debug-sections=zlib", str(h.workload("inline_helper")),
                    str(prog)], check=True)
    info = [l for l in sections(prog).splitlines() if ".debug_info" in l]
    assert info and " C " in info[0] + " ", f"precondition: .debug_info compressed: {info}"
    return prog


def profile_lines(h, r):
    """{address: [frames]} of the run's CPU profile as pprof -raw prints the agent's names."""
    res = h.pprof(["-raw"], r.the_profile())
    assert res.returncode == 0, res.stderr
    return raw_locations(res.stdout)


def named_frames(locations):
    """What a user reads: the frames of every location, whatever its address."""
    return sorted({tuple(frames) for frames in locations.values()})


def run(h, prog, cache, extra_env=None):
    env = {"PPROF_CACHE_DIR": str(cache)} if cache is not None else {}
    env.update(extra_env or {})
    r = h.run_agent([prog, "0.4"], hz=1000, cwd=prog.parent, env=env)
    assert r.returncode == 0, r.describe()
    return r


def entry_of(cache, prog):
    return cache / f"{build_id(prog)}.dwarf"


@pytest.mark.timeout(240)
def test_second_process_maps_the_entry_the_first_wrote(h, compressed_prog):
    cache = h.tmpdir("cache") / "ppagent"
    first = run(h, compressed_prog, cache)
    assert first.ppagent_lines == [], first.describe()
    entry = entry_of(cache, compressed_prog)
    assert entry.is_file(), sorted(os.listdir(cache)) if cache.exists() else "no cache directory"
    st = entry.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700, oct(cache.stat().st_mode)
    assert [p for p in os.listdir(cache) if p.startswith(".")] == [], "a temporary file was left"

    second = run(h, compressed_prog, cache)
    assert second.ppagent_lines == [], second.describe()
    again = entry.stat()
    assert (again.st_ino, again.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), (
        "the second process wrote the entry again instead of using it")

    without = run(h, compressed_prog, "off")
    for r in (first, second, without):
        locations = profile_lines(h, r)
        assert helper_inlined_in_hot_loop(locations), (
            "work::mix_step inlined into hot_loop, with files and lines, is missing:\n"
            + "\n".join(map(str, named_frames(locations)[:40])))
    # Every address two runs both sampled in the program reads the same in
    # both (keyed by file offset: the runtime addresses differ with ASLR).
    names = [program_frames_by_offset(h, r, compressed_prog) for r in (first, second, without)]
    for other in names[1:]:
        common = names[0].keys() & other.keys()
        assert len(common) >= 3, (names[0].keys(), other.keys())
        assert {a: names[0][a] for a in common} == {a: other[a] for a in common}


@pytest.mark.timeout(240)
def test_units_frames_tables_are_written_once_then_mapped(h, compressed_prog):
    """The program's DWARF units that samples landed in get a frames table each
    (<build-id>.u<offset>.frames), and the file its units' address ranges
    (<build-id>.ranges), written by the first process; the second maps them
    as they are and names every address as the first did."""
    cache = h.tmpdir("cache") / "ppagent"
    first = run(h, compressed_prog, cache)
    prefix = build_id(compressed_prog) + ".u"
    tables = sorted(p for p in os.listdir(cache) if p.startswith(prefix) and p.endswith(".frames"))
    assert tables, sorted(os.listdir(cache))
    # Which unit holds which addresses: one entry for the file, kept alike.
    ranges = build_id(compressed_prog) + ".ranges"
    assert (cache / ranges).is_file(), sorted(os.listdir(cache))
    stamps = {t: (cache / t).stat() for t in tables + [ranges]}
    assert all(stat.S_IMODE(st.st_mode) == 0o600 for st in stamps.values())
    assert [p for p in os.listdir(cache) if p.startswith(".")] == [], "a temporary file was left"

    second = run(h, compressed_prog, cache)
    assert second.ppagent_lines == [], second.describe()
    for t, st in stamps.items():
        again = (cache / t).stat()
        assert (again.st_ino, again.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), (
            f"the second process wrote {t} again instead of mapping it")
    assert helper_inlined_in_hot_loop(profile_lines(h, second))
    names = [program_frames_by_offset(h, r, compressed_prog) for r in (first, second)]
    common = names[0].keys() & names[1].keys()
    assert len(common) >= 3, (names[0].keys(), names[1].keys())
    assert {a: names[0][a] for a in common} == {a: names[1][a] for a in common}


def program_frames_by_offset(h, r, prog):
    """{file offset: frames} of the locations in the program's own mapping."""
    view = h.decode(r.the_profile())
    out = {}
    for loc in view.locations.values():
        m = view.mappings.get(loc.mapping_id)
        if m is None or not view.str(m.filename).endswith(prog.name):
            continue
        out[loc.address - m.memory_start + m.file_offset] = view.lines(loc)
    return out


@pytest.mark.timeout(240)
def test_cache_off_writes_nothing(h, compressed_prog):
    home = h.tmpdir("home")
    r = run(h, compressed_prog, "off", {"HOME": str(home), "XDG_CACHE_HOME": str(home / "xdg")})
    assert r.ppagent_lines == [], r.describe()
    assert list(home.rglob("*")) == [], list(home.rglob("*"))
    assert helper_inlined_in_hot_loop(profile_lines(h, r))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("damage", ["truncated", "overwritten", "another file's"])
def test_damaged_entry_is_replaced(h, compressed_prog, damage):
    cache = h.tmpdir("cache")
    run(h, compressed_prog, cache)
    entry = entry_of(cache, compressed_prog)
    good = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "overwritten":
        entry.write_bytes(b"\xff" * len(good))
    else:  # a valid header of another build: the cache's own check must refuse it
        other = bytearray(good)
        other[40] ^= 0xff  # inside the build-id
        entry.write_bytes(bytes(other))
    before = entry.stat().st_ino
    # With the units' ranges and tables cached, a process reads no DWARF and
    # never looks at the entry: gone, the second process has to.
    for derived in list(cache.glob("*.ranges")) + list(cache.glob("*.frames")):
        derived.unlink()

    r = run(h, compressed_prog, cache)
    assert r.ppagent_lines == [], r.describe()
    assert helper_inlined_in_hot_loop(profile_lines(h, r))
    assert entry.stat().st_ino != before and entry.read_bytes() == good, (
        "the damaged entry was not replaced by a good one")


@pytest.mark.timeout(240)
def test_default_directory_follows_xdg_then_home(h, compressed_prog):
    xdg = h.tmpdir("xdg")
    run(h, compressed_prog, None, {"XDG_CACHE_HOME": str(xdg)})
    assert entry_of(xdg / "ppagent", compressed_prog).is_file(), list(xdg.rglob("*"))

    home = h.tmpdir("home")
    h_env = {"HOME": str(home), "XDG_CACHE_HOME": "relative/not/used"}
    run(h, compressed_prog, None, h_env)
    assert entry_of(home / ".cache" / "ppagent", compressed_prog).is_file(), list(home.rglob("*"))
    assert stat.S_IMODE((home / ".cache").stat().st_mode) == 0o700


@pytest.mark.timeout(240)
def test_unusable_directories(h, compressed_prog):
    # Named by the user: one line each, and the names are as good as ever.
    afile = h.tmpdir("afile") / "plain"
    afile.write_text("not a directory\n")
    shared = h.tmpdir("shared") / "cache"
    shared.mkdir()
    shared.chmod(0o777)  # others could plant entries: refused
    for value, says in ((afile / "cache", "cannot create the directory"),
                        (shared, "cannot use the directory"),
                        ("relative/cache", "is not valid")):
        r = run(h, compressed_prog, value)
        assert len(r.ppagent_lines) == 1, r.describe()
        line = r.ppagent_lines[0]
        assert "PPROF_CACHE_DIR" in line and str(value) in line and says in line, line
        assert helper_inlined_in_hot_loop(profile_lines(h, r))
    assert list(shared.iterdir()) == []

    # The default one, silently: HOME is a file here.
    r = run(h, compressed_prog, None, {"HOME": str(afile), "XDG_CACHE_HOME": ""})
    assert r.ppagent_lines == [], r.describe()
    assert helper_inlined_in_hot_loop(profile_lines(h, r))
