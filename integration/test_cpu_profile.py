"""What the CPU profile says: function split, total CPU, per-thread split,
names without DWARF, inline frames with DWARF.

Statistics. CPU-time timers fire at the kernel tick here (CONFIG_HZ=250), so at
most ~250 samples per second of a thread's CPU whatever the requested rate (at
1000 Hz each sample then carries 1+overrun periods; ~200/s were measured). The bands below are the
issue's (±5 points for shares, ±10% for totals); instead of widening them, the
workloads are long enough that even a pessimistic model -- every sample an
independent draw, which overstates the error of a per-thread interval timer whose
count is exact to about one period per thread -- keeps a correct agent inside the
band with margin:
  - shares: sd of a share p over n samples is sqrt(p(1-p)/n) <= sqrt(0.25/n);
    n >= 1000 gives sd <= 1.6 points, so ±5 points is >= 3.2 sd;
  - totals: a count of n independent samples has relative sd 1/sqrt(n);
    n = 600 gives 4.1%, so ±10% is ~2.4 sd under that (overly) pessimistic model,
    while the real error of per-thread timers is about 1 period per thread
    (2 x 10 ms out of 6 s = 0.3%).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import WORKLOAD_SRC


def pct_band(actual, expected, points, what, context):
    assert abs(actual - expected) <= points, (
        f"{what}: {actual:.2f}% is not within ±{points} points of {expected}%\n{context}")


# ---------------------------------------------------------------------------
# 1. 70/30 split, read after the binary is gone


@pytest.mark.timeout(180)
def test_split_70_30_read_after_binary_deleted(h):
    # 2 threads x 3 s of CPU at 1000 Hz. The timers are tick-limited (250 Hz
    # kernel): ~200-250 signals per second of thread CPU were measured here, so
    # n ~ 1200-1500 samples and sd = sqrt(.7*.3/n) <= 1.45 points: ±5 points is
    # >= 3.4 sd. The assertion n >= 1000 below checks that premise.
    bindir = h.tmpdir("bin")
    prog = bindir / "cpu_split"
    shutil.copy2(h.workload("cpu_split"), prog)
    out = h.tmpdir("out")
    r = h.run_agent([prog, "2", "3.0"], hz=1000, outdir=out, cwd=bindir)
    assert r.returncode == 0, r.describe()
    path = r.the_profile()

    prog.unlink()
    assert not prog.exists()

    view = h.assert_valid_profile(path, hz=1000, program="cpu_split")
    nsamples = sum(s.value[0] for s in view.p.sample)
    assert nsamples >= 1000, (
        f"only {nsamples} samples (signals) for 6 s of CPU at 1000 Hz: too few for the "
        f"±5 point band to be meaningful")

    # pprof as the user runs it (default symbolization: the binary is gone, so
    # names can only come from the profile), and with symbolization off.
    for symbolize in (None, "none"):
        top, res = h.pprof_top(path, symbolize=symbolize)
        ctx = f"go tool pprof -top (symbolize={symbolize}):\n{top.text}\n{res.stderr}"
        assert "burn_seventy" in top.rows and "burn_thirty" in top.rows, ctx
        pct_band(top.flat_pct("burn_seventy"), 70, 5, "burn_seventy flat%", ctx)
        pct_band(top.flat_pct("burn_thirty"), 30, 5, "burn_thirty flat%", ctx)

    # The second reader agrees.
    flat = view.flat_by_function()
    total = view.total_cpu_ns()
    for name, want in (("burn_seventy", 70), ("burn_thirty", 30)):
        pct_band(100.0 * flat.get(name, 0) / total, want, 5, f"{name} share (protobuf)",
                 f"flat by function: {flat}")


# ---------------------------------------------------------------------------
# 2. Total CPU in the profile vs. the process's CPU time


@pytest.mark.timeout(180)
@pytest.mark.parametrize("hz", [100, 1000])
def test_total_cpu_matches_process_cpu(h, hz):
    # 2 threads x 3 s = 6 s of CPU: 600 samples at 100 Hz, ~1500 tick-limited
    # samples (weighted ~4 periods each) at 1000 Hz. Without the 1+overrun
    # weighting the 1000 Hz total would be ~25% of the CPU time.
    r = h.run_agent([h.workload("cpu_burn"), "2", "3.0"], hz=hz)
    assert r.returncode == 0, r.describe()
    m = re.search(r"process_cpu_ns=(\d+)", r.stdout)
    assert m, r.describe()
    self_reported = int(m.group(1)) / 1e9
    rusage_cpu = r.cpu_seconds

    view = h.assert_valid_profile(r.the_profile(), hz=hz, program="cpu_burn")
    prof_cpu = view.total_cpu_ns() / 1e9
    ctx = (f"hz={hz}: profile {prof_cpu:.3f}s, rusage utime+stime {rusage_cpu:.3f}s, "
           f"workload's own CLOCK_PROCESS_CPUTIME_ID at end of main {self_reported:.3f}s, "
           f"samples {sum(s.value[0] for s in view.p.sample)}\nstderr: {r.stderr}")
    assert abs(prof_cpu - rusage_cpu) <= 0.10 * rusage_cpu, "profile vs rusage: " + ctx
    assert abs(prof_cpu - self_reported) <= 0.10 * self_reported, "profile vs self-reported: " + ctx

    # go tool pprof reads the same total (its display keeps 3-4 significant digits).
    top, res = h.pprof_top(r.the_profile())
    assert abs(top.total - prof_cpu) <= 0.01 * prof_cpu, (
        f"pprof Total samples {top.total}s vs protobuf {prof_cpu}s\n{top.text}")
    assert "burn_cpu" in top.rows, top.text
    assert top.flat_pct("burn_cpu") >= 90, top.text


# ---------------------------------------------------------------------------
# 3. Per-thread shares 1:2:3:4


@pytest.mark.timeout(180)
def test_thread_shares_1_2_3_4(h):
    # Loads 0.5/1.0/1.5/2.0 s = 5 s of CPU at 1000 Hz: ~1000-1250 tick-limited
    # signals, sd = sqrt(.4*.6/n) <= 1.55 points for the 40% share, so ±5 points is
    # >= 3.2 sd even if every sample were an independent draw. A process-wide timer (signal to whichever thread the
    # kernel picks) is known to skew such splits; per-thread timers are exact to a
    # sample or so.
    r = h.run_agent([h.workload("thread_shares"), "0.5"], hz=1000)
    assert r.returncode == 0, r.describe()
    tids = {int(k): t for k, t in re.findall(r"worker (\d) tid (\d+)", r.stdout)}
    assert sorted(tids) == [1, 2, 3, 4], r.describe()

    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="thread_shares")
    total = view.total_cpu_ns()
    by_tid = view.cpu_by_label("thread_id")
    by_name = view.cpu_by_label("thread_name")
    ctx = f"cpu by thread_id: {by_tid}\ncpu by thread_name: {by_name}\ntids: {tids}"
    for k, tid in tids.items():
        pct_band(100.0 * by_tid.get(tid, 0) / total, 10 * k, 5,
                 f"thread {k} (tid {tid}) share by thread_id (protobuf)", ctx)
        pct_band(100.0 * by_name.get(f"load-{k}", 0) / total, 10 * k, 5,
                 f"thread load-{k} share by thread_name (protobuf)", ctx)

    # Same check through go tool pprof -tags.
    tags, res = h.pprof_tags(r.the_profile())
    ctx = f"go tool pprof -tags:\n{res.stdout}"
    assert "thread_id" in tags and "thread_name" in tags, ctx
    for k, tid in tids.items():
        pct_band(tags["thread_id"].get(tid, 0.0), 10 * k, 5, f"thread {k} (tid {tid}) in -tags", ctx)
        pct_band(tags["thread_name"].get(f"load-{k}", 0.0), 10 * k, 5, f"load-{k} in -tags", ctx)


# ---------------------------------------------------------------------------
# 4a. No debug info: names from the ELF symbol table


@pytest.mark.timeout(120)
def test_names_without_debug_info(h):
    prog = h.workload("cpu_burn_nodebug")
    sections = subprocess.run(["readelf", "-SW", str(prog)], capture_output=True, text=True,
                              check=True).stdout
    assert ".debug_info" not in sections and ".debug_line" not in sections, (
        f"precondition: {prog} must be built without -g\n{sections}")

    r = h.run_agent([prog, "0", "1.0"])
    assert r.returncode == 0, r.describe()
    view = h.assert_valid_profile(r.the_profile(), program="cpu_burn_nodebug")

    top, res = h.pprof_top(r.the_profile(), symbolize="none")
    assert "burn_cpu" in top.rows, f"no function name burn_cpu without DWARF:\n{top.text}"
    assert top.flat_pct("burn_cpu") >= 80, top.text
    flat = view.flat_by_function()
    assert flat.get("burn_cpu", 0) >= 0.8 * view.total_cpu_ns(), flat


# ---------------------------------------------------------------------------
# 4b. Inlined helper with -g -O2: inline frame, file and line


def source_marks(path):
    marks = {}
    for i, line in enumerate(Path(path).read_text().splitlines(), 1):
        m = re.search(r"MARK:(\w+)", line)
        if m:
            marks[m.group(1)] = i
    return marks


def elf_vaddr(binary, file_offset):
    """File offset -> link-time virtual address via the PT_LOAD headers."""
    out = subprocess.run(["readelf", "-lW", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD":
            off, vaddr, filesz = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if off <= file_offset < off + filesz:
                return file_offset - off + vaddr
    raise AssertionError(f"offset {file_offset:#x} is in no PT_LOAD of {binary}")


def addr2line_frames(binary, vaddr):
    """[(function name without parameters, line)] innermost first, per binutils."""
    out = subprocess.run(["addr2line", "-i", "-f", "-C", "-e", str(binary), hex(vaddr)],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    frames = []
    for fn, loc in zip(out[0::2], out[1::2]):
        m = re.search(r":(\d+)", loc)
        frames.append((fn.split("(")[0], int(m.group(1)) if m else 0))
    return frames


@pytest.mark.timeout(120)
def test_inline_frame_with_file_and_line(h):
    prog = h.workload("inline_helper")
    src = WORKLOAD_SRC / "inline_helper.cc"
    marks = source_marks(src)
    begin, end, callsite = marks["helper_begin"], marks["helper_end"], marks["callsite"]

    r = h.run_agent([prog, "1.0"], hz=1000)
    assert r.returncode == 0, r.describe()
    view = h.assert_valid_profile(r.the_profile(), hz=1000, program="inline_helper")
    total = view.total_cpu_ns()

    inline_weight = 0
    checked = 0
    mismatches = []
    main_map = view.p.mapping[0]
    for s in view.p.sample:
        loc = view.locations[s.location_id[0]]
        lines = view.lines(loc)
        if not lines or not (lines[0][0] or "").startswith("work::mix_step"):
            continue
        desc = f"location {loc.id} @ {loc.address:#x}: {lines}"
        assert len(lines) >= 2, "helper not shown as an inline frame: " + desc
        name, sysname, fname, line = lines[0]
        assert sysname.startswith("_ZN4work8mix_step"), "system_name should be mangled: " + desc
        assert fname.endswith("inline_helper.cc"), desc
        assert begin <= line <= end, f"helper line {line} outside its body {begin}..{end}: " + desc
        outer = lines[-1]
        assert outer[0].startswith("hot_loop"), desc
        assert outer[2].endswith("inline_helper.cc"), desc
        assert outer[3] == callsite, f"call site line {outer[3]}, want {callsite}: " + desc
        inline_weight += view.cpu_ns(s)
        # Independent oracle: binutils' addr2line on the same address.
        if loc.mapping_id == main_map.id and checked < 50:
            checked += 1
            va = elf_vaddr(prog, loc.address - main_map.memory_start + main_map.file_offset)
            want = addr2line_frames(prog, va)
            got = [(n.split("(")[0], l) for n, _, _, l in lines]
            if got != want:
                mismatches.append(f"{desc}\n    addr2line {va:#x}: {want}")
    assert inline_weight >= 0.8 * total, (
        f"only {inline_weight / total:.1%} of the CPU is attributed to the inlined helper; "
        f"flat by function: {view.flat_by_function()}")
    assert checked > 0
    assert not mismatches, "frames differ from addr2line:\n" + "\n".join(mismatches)

    # go tool pprof shows the inline frame above its caller.
    traces = h.pprof(["-traces", "-symbolize=none"], r.the_profile()).stdout
    assert re.search(r"work::mix_step.*\(inline\)\s*\n\s*hot_loop", traces), traces[:3000]
    top, _ = h.pprof_top(r.the_profile())
    inl = [n for n in top.rows if n.startswith("work::mix_step") and n.endswith("(inline)")]
    assert inl and top.flat_pct(inl[0]) >= 80, top.text
