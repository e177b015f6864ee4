"""Heap profiling: what the heap and allocs profiles say about three allocation
sites with known totals, dumps by signal (kill -USR2 and `ppagent dump`) while
the program runs, the exit profiles, and periodic dumps (by time, by bytes).

Statistics of test_three_sites (PPROF_MEM_RATE=16384). The agent samples like
Go: a per-thread byte countdown drawn from an exponential distribution of mean
R, so the sampling points form a Poisson process over the allocated bytes and
each block of s bytes is sampled independently with p = 1 - exp(-s/R). Per
(stack, size) the agent scales by 1/p, so a site of n blocks is estimated as
k/p blocks with k ~ Binomial(n, p): unbiased, relative sd = sqrt((1-p)/(n p)).
  - site_malloc_4k: n = 16384 blocks of 4096 B, p = 1-exp(-0.25) = 0.221,
    ~3620 samples, sd 1.5%: ±10% is 6.8 sd.
  - site_new_256: n = 65536 blocks of 256 B, p = 1-exp(-1/64) = 0.0155,
    ~1016 samples, sd 3.1%: ±10% is 3.2 sd (two-sided miss ~0.14% per check).
    This is the smallest site and the binding one; at the default rate (512 KiB)
    it would get ~32 samples (sd 18%) and ±10% would be meaningless.
  - site_churn_1k alloc space: n = 262144 blocks of 1024 B, p = 1-exp(-1/16)
    = 0.0606, ~15900 samples, sd 0.8%: ±10% is 13 sd. Its in-use is exactly 0
    when frees are tracked (every block is freed before the dump); the test
    allows < 1% of its alloc space.
The same sampled set is read by every dump of one process (nothing is
allocated by the sites after "ready"), so the dumps of one run must agree
exactly on the sites' values; they are not independent trials.
"""

import re
import signal
import time

import pytest

from conftest import heap_files, wait_for_file

MiB = 1 << 20
RATE = 16384

LIVE_SITES = {  # name -> (live bytes, block size)
    "site_malloc_4k": (64 * MiB, 4096),
    "site_new_256": (16 * MiB, 256),
}
CHURN = "site_churn_1k"
CHURN_BYTES = 256 * MiB
SITES = list(LIVE_SITES) + [CHURN]
TOL = 0.10


def within(actual, expected, tol, what, ctx):
    assert abs(actual - expected) <= tol * expected, (
        f"{what}: {actual:,.0f} is not within ±{tol:.0%} of {expected:,.0f} "
        f"({(actual - expected) / expected:+.1%})\n{ctx}")


def truth_from_stdout(stdout):
    """The workload prints what it allocated; the test checks that against its
    own constants too (so a changed workload cannot silently move the truth)."""
    got = {m.group(1): int(m.group(2)) for m in
           re.finditer(r"^(site_\w+) (?:live|alloc)_bytes=(\d+)$", stdout, re.M)}
    want = {n: b for n, (b, _) in LIVE_SITES.items()}
    want[CHURN] = CHURN_BYTES
    assert got == want, f"workload reports {got}, test expects {want}"
    return got


def check_sites(h, path, kind):
    """In-use per live site within ±10% of the truth, churn in-use ~0 and its
    alloc space within ±10% of 256 MiB; by protobuf and by go tool pprof."""
    view = h.assert_valid_heap_profile(path, kind=kind, rate=RATE, program="heap_sites",
                                       min_samples=3)
    by = view.heap_by_function(SITES)
    ctx = f"{path.name}: per-site values (protobuf, function anywhere on the stack): {by}"
    for name, (live, size) in LIVE_SITES.items():
        v = by[name]
        within(v["inuse_space"], live, TOL, f"{name} inuse_space", ctx)
        within(v["inuse_objects"], live // size, TOL, f"{name} inuse_objects", ctx)
        # Never freed: everything allocated is still in use.
        within(v["alloc_space"], live, TOL, f"{name} alloc_space", ctx)
        assert v["inuse_space"] <= v["alloc_space"], ctx
    c = by[CHURN]
    within(c["alloc_space"], CHURN_BYTES, TOL, f"{CHURN} alloc_space", ctx)
    within(c["alloc_objects"], CHURN_BYTES // 1024, TOL, f"{CHURN} alloc_objects", ctx)
    assert c["inuse_space"] < 0.01 * c["alloc_space"], (
        f"{CHURN}: every block was freed, yet inuse_space = {c['inuse_space']:,} "
        f"(alloc_space {c['alloc_space']:,})\n{ctx}")

    # new char[256] arrives through operator new, which the stack shows.
    for s in view.p.sample:
        fns = view.stack_functions(s)
        if "site_new_256" in fns:
            assert any(f.startswith("operator new") for f in fns), (
                f"a site_new_256 sample without an operator new frame: {sorted(fns)}")
        # Each site's samples are only its own block size.
        for name, (_, size) in LIVE_SITES.items():
            if name in fns:
                assert view.num_labels(s).get("bytes") == size, (
                    f"{name} sample with bytes={view.num_labels(s).get('bytes')}, want {size}")

    # go tool pprof, names from the profile only.
    top, _ = h.pprof_heap_top(path, sample_index="inuse_space")
    for name, (live, _) in LIVE_SITES.items():
        assert name in top.rows, f"{name} missing from pprof -top inuse_space:\n{top.text}"
        within(top.cum(name), live, TOL, f"pprof inuse_space cum of {name}", top.text)
    assert top.cum(CHURN) < 1 * MiB, f"{CHURN} in-use in pprof -top:\n{top.text}"
    top, _ = h.pprof_heap_top(path, sample_index="alloc_space")
    assert CHURN in top.rows, f"{CHURN} missing from pprof -top alloc_space:\n{top.text}"
    within(top.cum(CHURN), CHURN_BYTES, TOL, f"pprof alloc_space cum of {CHURN}", top.text)
    for name, (live, _) in LIVE_SITES.items():
        within(top.cum(name), live, TOL, f"pprof alloc_space cum of {name}", top.text)
    return by


@pytest.mark.timeout(300)
def test_three_sites_dumps_and_exit(h):
    out, qdir = h.tmpdir("out"), h.tmpdir("quit")
    quit_file = qdir / "quit"
    p = h.start([h.workload("heap_sites"), quit_file], outdir=out,
                env={"PPROF_MEM_RATE": RATE})
    try:
        p.wait_for_stdout("ready\n", timeout=120)
        truth_from_stdout(p.stdout_text())
        stem = f"heap_sites.{p.pid}"

        # 1. kill -USR2: dump 1, the process runs on.
        p.signal(signal.SIGUSR2)
        heap1 = wait_for_file(out / f"{stem}.heap.1.pb.gz", proc=p)
        allocs1 = wait_for_file(out / f"{stem}.allocs.1.pb.gz", proc=p)
        assert p.popen.poll() is None, "the process must keep running after a dump"

        # 2. ppagent dump PID: dump 2.
        r = h.run_launcher(["dump", p.pid], timeout=60)
        assert r.returncode == 0, r.describe()
        assert f"ppagent: sent SIGUSR2 to {p.pid}" in r.stdout + r.stderr, r.describe()
        heap2 = wait_for_file(out / f"{stem}.heap.2.pb.gz", proc=p)
        allocs2 = wait_for_file(out / f"{stem}.allocs.2.pb.gz", proc=p)
        assert p.popen.poll() is None, "the process must keep running after a dump"
    finally:
        quit_file.touch()
    run = p.finish(120)
    assert run.returncode == 0, run.describe()
    assert "bye ok" in run.stdout, "the live blocks were corrupted\n" + run.describe()
    assert run.stderr == "", "a successful run is silent on stderr\n" + run.describe()

    files = heap_files(out, "heap_sites", run.pid)
    assert sorted(files) == sorted(["cpu", "heap", "allocs", "heap.1", "allocs.1",
                                    "heap.2", "allocs.2"]), run.describe()

    results = {}
    for key, path in (("heap.1", heap1), ("heap.2", heap2), ("heap", files["heap"])):
        results[key] = check_sites(h, path, "heap")
    for key, path in (("allocs.1", allocs1), ("allocs.2", allocs2), ("allocs", files["allocs"])):
        results[key] = check_sites(h, path, "allocs")
        # The allocs profile is the heap profile with another default view.
        top, _ = h.pprof_heap_top(path)
        assert top.type == "alloc_space", top.text

    # Nothing was allocated by the sites after "ready": every dump of this
    # process holds the same sampled blocks for them.
    first = results["heap.1"]
    for key, by in results.items():
        assert by == first, f"{key} disagrees with heap.1 on the sites:\n{by}\n{first}"
    h.assert_valid_profile(files["cpu"], program="heap_sites")


# ---------------------------------------------------------------------------
# Periodic dumps


def numbered_dumps(files):
    """[n, ...] of heap.n files; asserts that allocs.n exist for the same n and
    the numbering is 1..k without gaps."""
    heaps = sorted(int(k.split(".")[1]) for k in files if k.startswith("heap."))
    allocs = sorted(int(k.split(".")[1]) for k in files if k.startswith("allocs."))
    assert heaps == allocs, f"heap dumps {heaps} and allocs dumps {allocs} differ"
    assert heaps == list(range(1, len(heaps) + 1)), f"dump numbers are not 1..k: {heaps}"
    return heaps


def check_dumps(h, run, files, rate):
    for key, path in files.items():
        if key == "cpu":
            h.assert_valid_profile(path, program="heap_paced", min_samples=0)  # it mostly sleeps
        else:
            view = h.assert_valid_heap_profile(path, kind=key.split(".")[0], rate=rate,
                                               program="heap_paced")
            # paced_keep's 4 MiB are allocated before anything else and stay live.
            keep = view.heap_by_function(["paced_keep"])["paced_keep"]
            assert keep["inuse_space"] > 0, f"{path.name}: no in-use from paced_keep: {keep}"


@pytest.mark.timeout(120)
def test_periodic_dumps_by_interval(h):
    # ~3.5 s of run time with a dump every second: dumps at ~1, 2, 3 s. At
    # least 2 are required (the test does not time the agent).
    rate = 65536
    r = h.run_agent([h.workload("heap_paced"), "3.5", "8"],
                    env={"PPROF_MEM_RATE": rate, "PPROF_HEAP_DUMP_INTERVAL": 1})
    assert r.returncode == 0, r.describe()
    assert r.stderr == "", r.describe()
    files = heap_files(r.outdir, "heap_paced", r.pid)
    assert {"heap", "allocs", "cpu"} <= set(files), r.describe()
    n = numbered_dumps(files)
    assert len(n) >= 2, f"{len(n)} periodic dumps in 3.5 s at 1 s intervals\n" + r.describe()
    # At most one dump per elapsed second (the bound follows the measured run
    # time, so a slow machine cannot make it fail).
    assert len(n) <= int(r.wall) + 1, (
        f"{len(n)} periodic dumps in a {r.wall:.1f} s run at 1 s intervals\n" + r.describe())
    check_dumps(h, r, files, rate)


@pytest.mark.timeout(120)
def test_periodic_dumps_by_bytes(h):
    # 64 MiB churned in 1 KiB blocks (+4 MiB kept live, + a few KiB of startup)
    # with a dump every 16 MiB allocated: 4 dumps expected (3 if the estimate
    # falls just short of 64 MiB). At R = 64 KiB each 1 KiB block is sampled
    # with p = 1.55%, ~1070 samples: the allocated-bytes estimate has sd ~3%, so
    # 2..6 dumps (estimate within -25%..+75%) is far outside chance. The
    # workload spreads the allocation over 3.2 s so the agent's thread has time
    # to write each dump.
    rate = 65536
    r = h.run_agent([h.workload("heap_paced"), "3.2", "64"],
                    env={"PPROF_MEM_RATE": rate, "PPROF_HEAP_DUMP_BYTES": 16 * MiB})
    assert r.returncode == 0, r.describe()
    assert r.stderr == "", r.describe()
    files = heap_files(r.outdir, "heap_paced", r.pid)
    assert {"heap", "allocs", "cpu"} <= set(files), r.describe()
    n = numbered_dumps(files)
    assert 2 <= len(n) <= 6, (
        f"{len(n)} dumps for 68 MiB allocated with PPROF_HEAP_DUMP_BYTES=16 MiB\n" + r.describe())
    check_dumps(h, r, files, rate)


@pytest.mark.timeout(120)
def test_no_periodic_dumps_by_default(h):
    r = h.run_agent([h.workload("heap_paced"), "2.0", "64"], env={"PPROF_MEM_RATE": 65536})
    assert r.returncode == 0, r.describe()
    files = heap_files(r.outdir, "heap_paced", r.pid)
    assert sorted(files) == ["allocs", "cpu", "heap"], (
        "without a dump signal, interval or byte threshold only the exit files are written\n"
        + r.describe())
    check_dumps(h, r, files, 65536)
