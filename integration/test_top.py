"""`ppagent top` (issue 16): a profile's top functions without Go.

Every profile kind ppagent writes (cpu, wall, heap and allocs with each sample
index, mutex, block, threads), one written by Go itself (runtime/pprof), an
ungzipped copy and a copy without function names (python protobuf) is read by
`ppagent top` and by `go tool pprof -top` with the same options; their outputs
must be the same, line by line: header lines, then every row's flat, flat%,
sum%, cum, cum% and name as printed. go runs with -symbolize=none (the names
are the profile's own), as everywhere in these tests.
"""

import gzip
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, wait_for_file

FULL_LOCKS = {"PPROF_MUTEX_FRACTION": 1, "PPROF_BLOCK_RATE": 1}
HEAP_INDEXES = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"]

GO_PROGRAM = r"""
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

var sink [][]byte

//go:noinline
func burnGo(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * i % 7
	}
	return s
}

//go:noinline
func keepSmall() {
	for i := 0; i < 3000; i++ {
		sink = append(sink, make([]byte, 512))
	}
}

//go:noinline
func keepLarge() {
	for i := 0; i < 300; i++ {
		sink = append(sink, make([]byte, 64<<10))
	}
}

func main() {
	runtime.MemProfileRate = 4096
	cpu, err := os.Create(os.Args[1])
	if err != nil {
		panic(err)
	}
	pprof.StartCPUProfile(cpu)
	total := 0
	for start := time.Now(); time.Since(start) < 700*time.Millisecond; {
		total += burnGo(200000)
	}
	pprof.StopCPUProfile()
	cpu.Close()
	keepSmall()
	keepLarge()
	runtime.GC()
	heap, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	pprof.WriteHeapProfile(heap)
	heap.Close()
	println(total, len(sink))
}
"""


def one_file(outdir, pattern):
    found = sorted(Path(outdir).glob(pattern))
    assert len(found) == 1, f"{pattern} in {outdir}: {[p.name for p in Path(outdir).iterdir()]}"
    return found[0]


def go_env(h):
    """pprof's environment, with the build's Go cache (GOCACHE) for `go build`."""
    env = dict(h.pprof_env())
    env["GOCACHE"] = os.environ.get("GOCACHE") or str(BUILD / "go-cache")
    return env


def strip_function_names(h, src, dst):
    """A copy of `src` as a producer without symbols writes it: no functions,
    locations with addresses only, mappings that say so."""
    prof = h.pb.Profile()
    prof.ParseFromString(gzip.decompress(src.read_bytes()))
    del prof.function[:]
    for loc in prof.location:
        del loc.line[:]
    for m in prof.mapping:
        m.has_functions = m.has_filenames = m.has_line_numbers = m.has_inline_frames = False
    dst.write_bytes(gzip.compress(prof.SerializeToString()))
    return dst


@pytest.fixture(scope="module")
def profiles(h):
    """{name: path} of one profile of each kind."""
    out = {}

    # CPU (threads named burn-1, burn-2: thread_name labels) and wall.
    run = h.run_agent([h.workload("cpu_burn"), "2", "1.0"], env={"PPROF_WALL_HZ": 100})
    assert run.returncode == 0, run.describe()
    out["cpu"] = one_file(run.outdir, f"cpu_burn.{run.pid}.cpu.pb.gz")
    out["wall"] = one_file(run.outdir, f"cpu_burn.{run.pid}.wall.pb.gz")

    # A CPU profile with inlined frames.
    run = h.run_agent([h.workload("inline_helper"), "1.0"])
    assert run.returncode == 0, run.describe()
    out["cpu_inline"] = one_file(run.outdir, f"inline_helper.{run.pid}.cpu.pb.gz")

    # Heap and allocs: heap_sites runs on at once (its quit file exists).
    quit_dir = h.tmpdir("quit")
    (quit_dir / "quit").write_text("")
    run = h.run_agent([h.workload("heap_sites"), quit_dir / "quit"],
                      env={"PPROF_MEM_RATE": 65536})
    assert run.returncode == 0, run.describe()
    out["heap"] = one_file(run.outdir, f"heap_sites.{run.pid}.heap.pb.gz")
    out["allocs"] = one_file(run.outdir, f"heap_sites.{run.pid}.allocs.pb.gz")

    # Mutex and block.
    run = h.run_agent([h.workload("lock_contention"), "mutex", "3", "40", "500"], env=FULL_LOCKS)
    assert run.returncode == 0, run.describe()
    out["mutex"] = one_file(run.outdir, f"lock_contention.{run.pid}.mutex.pb.gz")
    out["block"] = one_file(run.outdir, f"lock_contention.{run.pid}.block.pb.gz")

    # Threads: taken on the dump signal while the threads wait.
    outdir = h.tmpdir("threads")
    p = h.start([h.workload("thread_profiles"), "2"], outdir=outdir)
    try:
        p.wait_for_stdout("ready\n", timeout=60)
        p.signal(signal.SIGUSR2)
        out["threads"] = wait_for_file(outdir / f"thread_profiles.{p.pid}.threads.1.pb.gz", proc=p)
    finally:
        run = p.finish(120)
    assert run.returncode == 0, run.describe()

    # Written by Go's runtime/pprof.
    go_dir = h.tmpdir("go")
    (go_dir / "main.go").write_text(GO_PROGRAM)
    env = go_env(h)
    subprocess.run(["go", "build", "-o", str(go_dir / "goprog"), "main.go"], cwd=go_dir,
                   env=env, check=True, capture_output=True, timeout=600)
    subprocess.run([str(go_dir / "goprog"), str(go_dir / "go.cpu.pb.gz"),
                    str(go_dir / "go.heap.pb.gz")], check=True, capture_output=True, timeout=120)
    out["go_cpu"] = go_dir / "go.cpu.pb.gz"
    out["go_heap"] = go_dir / "go.heap.pb.gz"

    # Not gzipped, and without function names.
    copies = h.tmpdir("copies")
    out["cpu_plain"] = copies / "cpu.pb"
    out["cpu_plain"].write_bytes(gzip.decompress(out["cpu"].read_bytes()))
    out["cpu_nonames"] = strip_function_names(h, out["cpu"], copies / "cpu.nonames.pb.gz")
    out["heap_nonames"] = strip_function_names(h, out["allocs"], copies / "allocs.nonames.pb.gz")
    return out


def ppagent_top(h, args, path):
    return h.run_launcher(["top", *args, path])


def rows(text):
    """The report's rows after the column titles: [(flat, flat%, sum%, cum, cum%, name)]."""
    lines = text.splitlines()
    titles = [i for i, l in enumerate(lines) if l.split() == ["flat", "flat%", "sum%", "cum", "cum%"]]
    assert len(titles) == 1, text
    out = []
    for line in lines[titles[0] + 1:]:
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a row: {line!r}"
        out.append(tuple(fields))
    return out


def assert_same_as_go(h, path, args=(), min_rows=1):
    """`ppagent top ARGS PATH` prints what `go tool pprof -top ARGS PATH` prints.
    Returns the rows."""
    ours = ppagent_top(h, args, path)
    assert ours.returncode == 0, ours.describe()
    assert ours.stderr == "", ours.describe()
    go = h.pprof(["-top", "-symbolize=none", *args], path)
    assert ours.stdout.splitlines() == go.stdout.splitlines(), (
        f"ppagent top {' '.join(args)} {path.name} differs from go tool pprof -top:\n"
        f"--- ppagent:\n{ours.stdout}\n--- go:\n{go.stdout}")
    got = rows(ours.stdout)
    assert len(got) >= min_rows, ours.stdout
    return got


def names(rows_):
    return {r[5].replace(" (inline)", "").replace(" (partial-inline)", "") for r in rows_}


# ---------------------------------------------------------------------------
# The same report as go, for every kind of profile


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind,functions", [
    ("cpu", {"burn_cpu"}),
    ("wall", {"burn_cpu"}),
    ("mutex", {"hold_and_release"}),
    ("block", {"wait_for_lock"}),
    ("threads", {"wait_here_a", "wait_here_b"}),
    ("go_cpu", {"main.burnGo"}),
    ("cpu_plain", {"burn_cpu"}),
])
def test_same_as_go(h, profiles, kind, functions):
    got = assert_same_as_go(h, profiles[kind])
    assert functions <= names(got), f"{kind}: {sorted(names(got))}"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["heap", "allocs", "go_heap"])
@pytest.mark.parametrize("index", [None] + HEAP_INDEXES)
def test_heap_every_sample_index(h, profiles, kind, index):
    args = [f"-sample_index={index}"] if index else []
    got = assert_same_as_go(h, profiles[kind], args, min_rows=0)
    if kind in ("heap", "allocs"):
        # heap_sites' sites are live at exit, so every index shows them.
        assert {"site_malloc_4k", "site_new_256"} <= names(got), f"{kind} {index}: {got}"
    if kind == "go_heap":
        assert {"main.keepSmall", "main.keepLarge"} <= names(got), f"{index}: {got}"


def test_inlined_functions_are_rows_marked_inline(h, profiles):
    got = assert_same_as_go(h, profiles["cpu_inline"])
    inline_rows = [r for r in got if r[5].endswith("(inline)")]
    assert any("mix_step" in r[5] for r in inline_rows), got


def test_without_function_names_rows_by_mapping(h, profiles):
    """Locations without functions: one row per mapping, as go shows them."""
    for kind in ("cpu_nonames", "heap_nonames"):
        got = assert_same_as_go(h, profiles[kind])
        assert all(r[5].startswith("[") and r[5].endswith("]") for r in got), got
    assert "[cpu_burn]" in names(rows(ppagent_top(h, [], profiles["cpu_nonames"]).stdout))


# ---------------------------------------------------------------------------
# Options, against go


def test_nodecount_and_cum(h, profiles):
    full = assert_same_as_go(h, profiles["cpu"], ["-nodecount=500"])
    assert len(full) > 3, full
    three = assert_same_as_go(h, profiles["cpu"], ["-nodecount=3"])
    assert len(three) == 3
    by_cum = assert_same_as_go(h, profiles["cpu"], ["-cum"])
    cum_order = [r[5] for r in by_cum]
    assert cum_order != [r[5] for r in full] or len(full) == 1, by_cum
    assert_same_as_go(h, profiles["cpu"], ["-cum", "-nodecount=2"])
    assert_same_as_go(h, profiles["allocs"], ["-cum", "-sample_index=alloc_objects"])


def test_focus(h, profiles):
    got = assert_same_as_go(h, profiles["mutex"], ["-focus=hold_and_release"])
    assert "hold_and_release" in names(got)
    got = assert_same_as_go(h, profiles["allocs"], ["-focus=site_new|site_churn"])
    assert "site_malloc_4k" not in names(got) and "site_new_256" in names(got), got
    assert_same_as_go(h, profiles["cpu"], ["-focus=no_function_has_this_name"], min_rows=0)


def test_tagfocus(h, profiles):
    got = assert_same_as_go(h, profiles["cpu"], ["-tagfocus=thread_name=burn-1"])
    assert "burn_cpu" in names(got)
    both = assert_same_as_go(h, profiles["cpu"], ["-tagfocus=thread_name=burn-1,burn-2"])
    one = {r[5]: r for r in got}["burn_cpu"]
    two = {r[5]: r for r in both}["burn_cpu"]
    assert one != two, (one, two)  # one thread's samples, then both threads'
    # Numeric labels of Go's heap profile (bytes: the size of each allocation).
    large = assert_same_as_go(h, profiles["go_heap"], ["-tagfocus=bytes=32kb:"])
    assert "main.keepLarge" in names(large) and "main.keepSmall" not in names(large), large
    small = assert_same_as_go(h, profiles["go_heap"], ["-tagfocus=bytes=:1kb"])
    assert "main.keepSmall" in names(small) and "main.keepLarge" not in names(small), small


def test_option_spellings(h, profiles):
    """-opt value and --opt=value print what -opt=value prints."""
    path = profiles["allocs"]
    want = ppagent_top(h, ["-sample_index=alloc_objects", "-nodecount=4", "-focus=site"], path)
    assert want.returncode == 0, want.describe()
    for args in (["-sample_index", "alloc_objects", "-nodecount", "4", "-focus", "site"],
                 ["--sample_index=alloc_objects", "--nodecount=4", "--focus", "site"]):
        r = ppagent_top(h, args, path)
        assert (r.returncode, r.stdout) == (0, want.stdout), r.describe()
    r = h.run_launcher(["top", path, "-sample_index=alloc_objects", "-nodecount=4", "-focus=site"])
    assert (r.returncode, r.stdout) == (0, want.stdout), r.describe()


# ---------------------------------------------------------------------------
# Errors


def assert_one_error(r, status, *parts):
    assert r.returncode == status, r.describe()
    assert r.stdout == "", r.describe()
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ppagent: "), r.describe()
    for part in parts:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"


def test_unreadable_files(h, profiles):
    d = h.tmpdir("bad")
    assert_one_error(h.run_launcher(["top", d / "missing.pb.gz"]), 1, "cannot open",
                     "missing.pb.gz", "No such file")
    (d / "text.pb.gz").write_text("this is not a profile\n")
    assert_one_error(h.run_launcher(["top", d / "text.pb.gz"]), 1, "text.pb.gz",
                     "not a readable profile")
    whole = profiles["cpu"].read_bytes()
    (d / "truncated.pb.gz").write_bytes(whole[:len(whole) // 2])
    assert_one_error(h.run_launcher(["top", d / "truncated.pb.gz"]), 1, "truncated.pb.gz",
                     "truncated")
    (d / "empty.pb.gz").write_bytes(b"")
    assert_one_error(h.run_launcher(["top", d / "empty.pb.gz"]), 1, "empty")
    assert_one_error(h.run_launcher(["top", d]), 1, str(d))
    # Well-formed, but with nothing to show: go refuses it too.
    prof = h.pb.Profile()
    prof.string_table.append("")
    (d / "no_types.pb").write_bytes(prof.SerializeToString())
    assert_one_error(h.run_launcher(["top", d / "no_types.pb"]), 1, "no_types.pb", "no sample types")
    assert h.pprof(["-top", "-symbolize=none"], d / "no_types.pb", check=False).returncode != 0


def test_usage_errors(h, profiles):
    path = profiles["heap"]
    assert_one_error(h.run_launcher(["top"]), 2, "missing FILE")
    assert_one_error(h.run_launcher(["top", "-nodecount=x", path]), 2, "-nodecount", '"x"')
    assert_one_error(h.run_launcher(["top", "-nodecount"]), 2, "needs a value")
    assert_one_error(h.run_launcher(["top", "-bogus", path]), 2, '"-bogus"')
    assert_one_error(h.run_launcher(["top", path, path]), 2, "more than one FILE")
    assert_one_error(h.run_launcher(["top", "-sample_index=cpu", path]), 2,
                     '"cpu"', "alloc_objects, alloc_space, inuse_objects, inuse_space")
    assert_one_error(h.run_launcher(["top", "-sample_index=7", path]), 2, "[0..3]")
    assert_one_error(h.run_launcher(["top", "-focus=(", path]), 2, "-focus", '"("')
    assert_one_error(h.run_launcher(["top", "-cum=maybe", path]), 2, "-cum")
    r = h.run_launcher(["top", "--help"])
    assert r.returncode == 0 and "-sample_index" in r.stdout and r.stderr == "", r.describe()
