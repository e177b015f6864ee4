"""Symbol indexes kept per machine (PPROF_CACHE_DIR; man/ppagent-env.7).

A program with thousands of function symbols and no DWARF is named from its
symbol table. The first process writes the index of that table into
<build-id>.symbols, the second maps it as it is, and both name every sampled
address exactly as a run without the cache does. A damaged entry is replaced;
a small program gets no entry (indexing it in each process is cheaper)."""

import os
import subprocess

import pytest

from test_debug_section_cache import program_frames_by_offset
from test_debuginfo import build_id

FUNCTIONS = 6000


@pytest.fixture(scope="module")
def many_symbols(tmp_path_factory):
    """A program of FUNCTIONS small functions (a symbol table a cache entry is made
    for) whose CPU time goes to a few of them, named f<N>; no DWARF."""
    d = tmp_path_factory.mktemp("many")
    src = d / "many_symbols.c"
    body = ["#include <stdlib.h>", "#include <time.h>", "volatile unsigned long sink;"]
    for i in range(FUNCTIONS):
        body.append(f"__attribute__((noinline)) unsigned long f{i}(unsigned long x) "
                    f"{{ for (int k = 0; k < 200; k++) x = x * {2 * i + 3}UL + {i}UL; return x; }}")
    body.append("""
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char** argv) {
  double end = now() + (argc > 1 ? atof(argv[1]) : 0.4);
  unsigned long x = 1;
  while (now() < end)
    for (int r = 0; r < 100; r++) x = f17(x) + f2500(x) + f5999(x);
  sink = x;
  return 0;
}""")
    src.write_text("\n".join(body) + "\n")
    prog = d / "many_symbols"
    subprocess.run(["gcc", "-O1", "-g0", "-Wl,--build-id", str(src), "-o", str(prog)], check=True)
    return prog


def run(h, prog, cache):
    r = h.run_agent([prog, "0.4"], hz=1000, cwd=prog.parent, env={"PPROF_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.describe()
    assert r.ppagent_lines == [], r.describe()
    return r


def names(h, r, prog):
    frames = program_frames_by_offset(h, r, prog)
    functions = {line[0] for lines in frames.values() for line in lines}
    assert {"f17", "f2500", "f5999"} <= functions, sorted(map(str, functions))[:20]
    return frames


@pytest.mark.timeout(240)
def test_second_process_maps_the_index_the_first_wrote(h, many_symbols):
    cache = h.tmpdir("cache") / "ppagent"
    entry = cache / f"{build_id(many_symbols)}.symbols"
    first = run(h, many_symbols, cache)
    assert entry.is_file(), sorted(os.listdir(cache)) if cache.exists() else "no cache directory"
    assert [p for p in os.listdir(cache) if p.startswith(".")] == [], "a temporary file was left"
    st = entry.stat()
    # A header and 16 bytes for each of the functions (and main, _start, ...).
    assert FUNCTIONS * 16 < st.st_size < (FUNCTIONS + 200) * 16 + 4096, st.st_size

    second = run(h, many_symbols, cache)
    again = entry.stat()
    assert (again.st_ino, again.st_mtime_ns) == (st.st_ino, st.st_mtime_ns), (
        "the second process built and wrote the index again instead of mapping it")

    without = run(h, many_symbols, "off")
    by_run = [names(h, r, many_symbols) for r in (first, second, without)]
    for other in by_run[1:]:
        common = by_run[0].keys() & other.keys()
        assert len(common) >= 3, (by_run[0].keys(), other.keys())
        assert {a: by_run[0][a] for a in common} == {a: other[a] for a in common}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("damage", ["truncated", "overwritten", "another file's", "miscounted"])
def test_damaged_index_is_replaced(h, many_symbols, damage):
    cache = h.tmpdir("cache")
    run(h, many_symbols, cache)
    entry = cache / f"{build_id(many_symbols)}.symbols"
    good = entry.read_bytes()
    if damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "overwritten":
        entry.write_bytes(b"\xff" * len(good))
    elif damage == "another file's":
        other = bytearray(good)
        other[20] ^= 0xff  # inside the build-id the header names
        entry.write_bytes(bytes(other))
    else:  # entries cut off while the header still counts them all
        entry.write_bytes(good[: len(good) - 16])
    before = entry.stat().st_ino

    r = run(h, many_symbols, cache)
    names(h, r, many_symbols)
    assert entry.stat().st_ino != before and entry.read_bytes() == good, (
        "the damaged entry was not replaced by a good one")


@pytest.mark.timeout(240)
def test_small_program_gets_no_entry(h):
    prog = h.workload("cpu_burn")
    cache = h.tmpdir("cache")
    r = h.run_agent([prog, "1", "0.3"], hz=1000, env={"PPROF_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.describe()
    assert not (cache / f"{build_id(prog)}.symbols").exists(), sorted(os.listdir(cache))
