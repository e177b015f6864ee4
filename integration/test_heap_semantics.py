"""The malloc family behaves under the agent exactly as without it.

workloads/malloc_semantics.c runs a table of checks (cross-thread frees,
realloc chains, every aligned allocator, calloc/reallocarray overflow,
malloc_usable_size, impossible sizes) and prints one line per check with what
it observed; the lines carry no addresses and nothing that depends on the
allocator's internals. The test runs it without the agent, then under the agent
at PPROF_MEM_RATE=1 (every allocation is sampled, so every block goes through
the agent's sampled path) and at the default rate (almost every small block
unsampled, large ones sampled), and compares the outputs line by line.

At rate 1 the exit heap profile is exact (no scaling): the blocks the workload
leaves live on purpose must show up with their exact counts and sizes, and the
260000 blocks of xthread_alloc(), all freed (most by another thread), must show
an in-use of 0 with an exact alloc count.
"""

import re

import pytest

from conftest import heap_files


def baseline(h):
    r = h.run([h.workload("malloc_semantics")], agent=False, cwd=h.tmpdir("cwd"), timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.describe()
    lines = r.stdout.splitlines()
    # The workload really checks things (guards against a workload that
    # silently prints nothing useful).
    assert lines[-1] == "done", r.describe()
    assert len(lines) > 200, r.describe()
    for want in ("posix_memalign(3,100): ret=EINVAL memptr untouched=1 errno unchanged=1",
                 "calloc(0x8000000000000000,0x2): null=1 errno=ENOMEM",
                 "reallocarray(p,0x7fffffffffffffff,0x3): null=1 errno=ENOMEM block intact=1",
                 "realloc(p,0): null=1",
                 "cross-thread worker->worker: blocks=20000 verified=20000",
                 "concurrent mix: threads=4 ops=200000 bad=0 leftovers freed=1"):
        assert want in lines, f"baseline (no agent) lacks {want!r}:\n{r.stdout}"
    return r


def compare_lines(base, run):
    a, b = base.stdout.splitlines(), run.stdout.splitlines()
    diffs = [f"line {i + 1}: without agent {x!r}\n{'':>{len(str(i + 1)) + 7}}with agent    {y!r}"
             for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b):
        diffs.append(f"{len(a)} lines without the agent, {len(b)} with it; "
                     f"last line with the agent: {b[-1] if b else None!r}")
    assert not diffs, ("behaviour differs under the agent:\n" + "\n".join(diffs[:20])
                       + ("\n..." if len(diffs) > 20 else "") + "\n" + run.describe())


KEEP = re.compile(r"^keep (\w+) objects=(\d+) bytes=(\d+)$", re.M)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("rate", [1, None], ids=["rate=1", "rate=default"])
def test_identical_behaviour_with_agent(h, rate):
    base = baseline(h)
    env = {"PPROF_MEM_RATE": rate} if rate is not None else {}
    r = h.run_agent([h.workload("malloc_semantics")], env=env, timeout=180)
    compare_lines(base, r)
    assert r.returncode == 0, r.describe()
    assert r.stderr == "", r.describe()

    files = heap_files(r.outdir, "malloc_semantics", r.pid)
    assert sorted(files) == ["allocs", "cpu", "heap"], r.describe()
    eff_rate = rate or 524288
    heap = h.assert_valid_heap_profile(files["heap"], kind="heap", rate=eff_rate,
                                       program="malloc_semantics")
    allocs = h.assert_valid_heap_profile(files["allocs"], kind="allocs", rate=eff_rate,
                                         program="malloc_semantics")

    keep = {m.group(1): (int(m.group(2)), int(m.group(3))) for m in KEEP.finditer(r.stdout)}
    assert sorted(keep) == ["keep_calloc", "keep_malloc", "keep_posix_memalign",
                            "keep_realloc"], r.stdout
    xcalls = int(re.search(r"^xthread_alloc calls=(\d+)$", r.stdout, re.M).group(1))

    for view in (heap, allocs):
        by = view.heap_by_function(list(keep) + ["xthread_alloc"])
        ctx = f"{view.path.name} at PPROF_MEM_RATE={eff_rate}: {by}"
        # Freed blocks leave nothing in use, whatever the rate: every sampled
        # xthread_alloc block was freed (by free, from this or another thread).
        x = by["xthread_alloc"]
        assert x["inuse_objects"] == 0 and x["inuse_space"] == 0, (
            "xthread_alloc blocks are all freed, yet still in use:\n" + ctx)
        if rate != 1:
            continue
        # Rate 1: every allocation sampled, values unscaled.
        assert x["alloc_objects"] == xcalls, (
            f"xthread_alloc was called {xcalls} times; alloc_objects = {x['alloc_objects']}\n" + ctx)
        for s in view.p.sample:
            b = view.num_labels(s)["bytes"]
            ao, asp, io, isp = s.value
            assert asp == ao * b and isp == io * b, (
                f"at rate 1 values are not scaled: {list(s.value)} with bytes={b}, stack "
                f"{sorted(view.stack_functions(s))}")
        for name in ("keep_malloc", "keep_calloc"):
            n, nbytes = keep[name]
            got = by[name]
            assert (got["inuse_objects"], got["inuse_space"]) == (n, nbytes), (
                f"{name}: {n} blocks, {nbytes} bytes live at exit\n" + ctx)
            assert (got["alloc_objects"], got["alloc_space"]) == (n, nbytes), ctx
        # posix_memalign(256, 1000) x 8: the recorded size may be the request or
        # the usable size (glibc gives 1000..1032 here).
        n, nbytes = keep["keep_posix_memalign"]
        got = by["keep_posix_memalign"]
        assert got["inuse_objects"] == n and nbytes <= got["inuse_space"] <= nbytes + n * 256, ctx
        # malloc(24) -> realloc 40 -> 1000 -> 40008: four sampled allocations,
        # the three older ones freed by realloc; one block of 40008 stays.
        n, nbytes = keep["keep_realloc"]
        got = by["keep_realloc"]
        assert (got["inuse_objects"], got["inuse_space"]) == (1, nbytes), (
            "realloc must free the old sampled block and record the new one\n" + ctx)
        assert got["alloc_objects"] == 4 and got["alloc_space"] == 24 + 40 + 1000 + 40008, ctx
