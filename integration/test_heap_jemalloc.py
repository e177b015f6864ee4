"""The jemalloc heap backend (issue 7): jemalloc samples, the agent unwinds
(experimental.hooks.prof_backtrace) and turns jemalloc's prof.dump into Go's
heap and allocs profiles.

heap_sites_je is heap_sites.cc linked against Debian's libjemalloc.so.2
(5.3.0). At PPROF_MEM_RATE=16384 jemalloc samples every 2^14 bytes on
average, like the interposing backend at the same rate (test_heap_profile.py
has the statistics: site_new_256, the binding site, gets ~1000 samples, sd
~3%, so ±10% is >3 sd). jemalloc's 5.3.0 dump is written so that jeprof's
unbiasing (1/(1-exp(-avg/R)) per backtrace, as Go) recovers jemalloc's own
estimate, and the agent applies the same formula.

The fallbacks run a glibc program (heap_sites), jemalloc without MALLOC_CONF,
and libfake_jemalloc.so (workloads/fake_jemalloc.c), a stand-in for jemalloc
builds Debian does not ship: without profiling, and older than the hook.
"""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import UNSET, clean_env, heap_files, wait_for_file
from test_heap_redis import BENCH, REDIS, cli, free_port, info, redis_names

MiB = 1 << 20
RATE = 16384
TOL = 0.10
LIVE_SITES = {"site_malloc_4k": (64 * MiB, 4096), "site_new_256": (16 * MiB, 256)}
CHURN, CHURN_BYTES = "site_churn_1k", 256 * MiB
SITES = list(LIVE_SITES) + [CHURN]
FALLBACK = "using the interposing backend"


def within(actual, expected, what, ctx):
    assert abs(actual - expected) <= TOL * expected, (
        f"{what}: {actual:,.0f} is not within ±{TOL:.0%} of {expected:,.0f} "
        f"({(actual - expected) / expected:+.1%})\n{ctx}")


def run_sites(h, workload, *, launcher_args=None, env=None, dump=False):
    """Runs a heap_sites build until "ready" (optionally dumping by signal
    then), then lets it exit. With launcher_args, through `ppagent run`.
    Returns (Run, output dir, program pid)."""
    qdir, out = h.tmpdir("quit"), h.tmpdir("out")
    argv = [h.workload(workload), qdir / "quit"]
    if launcher_args is not None:
        p = h.start([h.launcher, "run", *launcher_args, "--cpu-hz", "0", "-o", out, *argv],
                    agent=False, env=env)
    else:
        p = h.start(argv, outdir=out, env={"PPROF_CPU_HZ": 0, **(env or {})})
    p.wait_for_stdout("ready", timeout=120)
    pid = None
    if dump:
        p.signal(signal.SIGUSR2)  # the launcher forwards it to the program
        deadline = time.monotonic() + 30
        while pid is None and time.monotonic() < deadline:
            m = [re.fullmatch(rf"{workload}\.(\d+)\.allocs\.1\.pb\.gz", f.name) for f in out.iterdir()]
            m = [x for x in m if x]
            if m:
                pid = int(m[0].group(1))
            time.sleep(0.05)
        assert pid is not None, f"no dump in {sorted(f.name for f in out.iterdir())}"
    (qdir / "quit").touch()
    r = p.finish(120)
    assert r.returncode == 0, r.describe()
    assert "bye ok" in r.stdout, r.describe()
    if pid is None:
        names = [re.fullmatch(rf"{workload}\.(\d+)\.heap\.pb\.gz", f.name) for f in out.iterdir()]
        pids = {int(m.group(1)) for m in names if m}
        assert len(pids) == 1, r.describe()
        pid = pids.pop()
    return r, out, pid


def agent_lines(r):
    """The agent's own messages (not the launcher's "wrote" lines)."""
    return [l for l in r.ppagent_lines if not l.startswith("ppagent: wrote ")]


def sites_seen(view):
    by = view.heap_by_function(SITES)
    return {n for n, v in by.items() if v["alloc_space"] > 0}, by


def leaf_objects(view):
    """Basenames of the mappings of each sample's innermost location."""
    out = set()
    for s in view.p.sample:
        loc = view.locations[s.location_id[0]]
        m = view.mappings.get(loc.mapping_id)
        out.add(os.path.basename(view.str(m.filename)) if m else "")
    return out


def check_sites(h, path, kind, program, rate=RATE):
    view = h.assert_valid_heap_profile(path, kind=kind, rate=rate, program=program,
                                       min_samples=3)
    seen, by = sites_seen(view)
    ctx = f"{path.name}: per-site values {by}"
    for name, (live, size) in LIVE_SITES.items():
        within(by[name]["inuse_space"], live, f"{name} inuse_space", ctx)
        within(by[name]["inuse_objects"], live // size, f"{name} inuse_objects", ctx)
        within(by[name]["alloc_space"], live, f"{name} alloc_space", ctx)
    within(by[CHURN]["alloc_space"], CHURN_BYTES, f"{CHURN} alloc_space", ctx)
    within(by[CHURN]["alloc_objects"], CHURN_BYTES // 1024, f"{CHURN} alloc_objects", ctx)
    assert by[CHURN]["inuse_space"] <= 0.01 * CHURN_BYTES, ctx
    # Every stack starts at the program's code (heap_sites_je itself, or
    # libstdc++ for new[]): never inside jemalloc or the agent, which is what
    # jemalloc's own unwinder (libgcc) would have recorded.
    leaves = leaf_objects(view)
    assert not leaves & {"libjemalloc.so.2", "libppagent.so", "libgcc_s.so.1"}, (path.name, leaves)
    return view, seen


@pytest.mark.timeout(300)
def test_sites_with_jemalloc_backend(h):
    """ppagent run --heap-backend jemalloc: the dump by signal while the sites
    are live and the exit profiles have each site within ±10%, with no
    message from the agent."""
    r, out, pid = run_sites(h, "heap_sites_je", launcher_args=["--heap-backend", "jemalloc",
                                                               "--mem-rate", RATE], dump=True)
    assert not agent_lines(r), r.describe()
    files = heap_files(out, "heap_sites_je", pid)
    assert sorted(files) == ["allocs", "allocs.1", "heap", "heap.1"], r.describe()
    for key, path in sorted(files.items()):
        check_sites(h, path, key.split(".")[0], "heap_sites_je")
    # pprof agrees on the biggest site (names from the profile alone).
    top, _ = h.pprof_heap_top(files["heap"], sample_index="inuse_space")
    within(top.cum("site_malloc_4k"), 64 * MiB, "pprof -top cum site_malloc_4k", top.text)


@pytest.mark.timeout(300)
def test_same_sites_as_interposing_backend(h):
    """The jemalloc backend on heap_sites_je finds the same sites as the
    interposing backend on the glibc build of the same program. (The
    interposing backend on heap_sites_je itself misses site_new_256:
    libjemalloc.so.2 defines operator new, which calls jemalloc's malloc
    inside jemalloc, past the interposed symbol.)"""
    _, out_i, pid_i = run_sites(h, "heap_sites", env={"PPROF_MEM_RATE": RATE})
    _, out_j, pid_j = run_sites(h, "heap_sites_je", env={
        "PPROF_MEM_RATE": RATE, "PPROF_HEAP_BACKEND": "jemalloc",
        "MALLOC_CONF": "prof:true,prof_accum:true,lg_prof_sample:14"})
    for kind in ("heap", "allocs"):
        vi = h.assert_valid_heap_profile(heap_files(out_i, "heap_sites", pid_i)[kind], kind=kind,
                                         rate=RATE, program="heap_sites")
        vj = h.assert_valid_heap_profile(heap_files(out_j, "heap_sites_je", pid_j)[kind],
                                         kind=kind, rate=RATE, program="heap_sites_je")
        si, bi = sites_seen(vi)
        sj, bj = sites_seen(vj)
        assert si == sj == set(SITES), (kind, bi, bj)
        inuse_i = {n for n, v in bi.items() if v["inuse_space"] > 0.01 * CHURN_BYTES}
        inuse_j = {n for n, v in bj.items() if v["inuse_space"] > 0.01 * CHURN_BYTES}
        assert inuse_i == inuse_j == set(LIVE_SITES), (kind, bi, bj)


@pytest.mark.timeout(300)
def test_environment_only_rate_rounding_and_no_accum(h):
    """Without the launcher: MALLOC_CONF=prof:true (jemalloc's default rate,
    2^19, and no prof_accum), PPROF_MEM_RATE=10000. The agent resets
    jemalloc's profile to 2^13 (the power of two nearest to 10000, which the
    profile's period shows) and says, once, that the allocs profile has only
    what is in use."""
    r, out, pid = run_sites(h, "heap_sites_je", env={
        "PPROF_MEM_RATE": 10000, "PPROF_HEAP_BACKEND": "jemalloc", "MALLOC_CONF": "prof:true"})
    lines = agent_lines(r)
    assert len(lines) == 1 and "prof_accum is off" in lines[0], r.describe()
    files = heap_files(out, "heap_sites_je", pid)
    view = h.assert_valid_heap_profile(files["heap"], kind="heap", rate=8192,
                                       program="heap_sites_je")
    _, by = sites_seen(view)
    for name, (live, _) in LIVE_SITES.items():
        within(by[name]["inuse_space"], live, f"{name} inuse_space", by)
    allocs = h.assert_valid_heap_profile(files["allocs"], kind="allocs", rate=8192,
                                         program="heap_sites_je")
    _, by = sites_seen(allocs)
    assert by[CHURN]["alloc_space"] == 0, by  # freed before the dump: not counted


def check_interposed_profile(h, r, out, program, pid, kind_sites):
    """The interposing backend wrote the profiles: the live malloc site is there."""
    files = heap_files(out, program, pid)
    assert "heap" in files and "allocs" in files, r.describe()
    view = h.assert_valid_heap_profile(files["heap"], kind="heap", rate=RATE, program=program)
    _, by = sites_seen(view)
    for name in kind_sites:
        within(by[name]["inuse_space"], LIVE_SITES[name][0], f"{name} inuse_space", by)


FALLBACKS = [
    # (workload, extra env, expected words in the one line)
    ("heap_sites", {}, "does not run on jemalloc (no mallctl)"),
    ("heap_sites_je", {"MALLOC_CONF": UNSET}, "not enabled at process start"),
    ("heap_sites_je", {"MALLOC_CONF": "prof:false"}, "not enabled at process start"),
    ("heap_sites_fakeje", {"FAKE_JEMALLOC_MODE": "noprof"}, "built without profiling"),
    ("heap_sites_fakeje", {"FAKE_JEMALLOC_MODE": "nohooks"},
     "no experimental.hooks.prof_backtrace"),
]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workload,env,words", FALLBACKS,
                         ids=["glibc", "no-malloc-conf", "prof-false", "no-prof", "no-hook"])
def test_fallback(h, workload, env, words):
    """PPROF_HEAP_BACKEND=jemalloc where it cannot run: one line saying why,
    and the interposing backend's profiles."""
    r, out, pid = run_sites(h, workload, env={"PPROF_MEM_RATE": RATE,
                                              "PPROF_HEAP_BACKEND": "jemalloc", **env})
    lines = agent_lines(r)
    assert len(lines) == 1, r.describe()
    assert words in lines[0] and FALLBACK in lines[0], r.describe()
    # new[] reaches the interposed malloc only on glibc (libstdc++'s operator new).
    sites = list(LIVE_SITES) if workload != "heap_sites_je" else ["site_malloc_4k"]
    check_interposed_profile(h, r, out, workload, pid, sites)


@pytest.mark.timeout(300)
def test_per_sample_hooks_when_present(h):
    """A jemalloc with the per-sample hooks (>= 5.3.1; here the stand-in,
    which calls them as jemalloc does and samples every allocation): the
    agent detects them, keeps each sample in its own table per stack and
    usable size, and needs no dump. With every allocation sampled the counts
    are exact; the bytes are usable sizes (glibc's, under the stand-in: a
    little over the requested ones). Debian's 5.3.0 has no such hooks: there
    the dump path runs (test_sites_with_jemalloc_backend)."""
    r, out, pid = run_sites(h, "heap_sites_fakeje", env={
        "PPROF_MEM_RATE": 1, "PPROF_HEAP_BACKEND": "jemalloc", "FAKE_JEMALLOC_MODE": "persample"})
    assert not agent_lines(r), r.describe()
    files = heap_files(out, "heap_sites_fakeje", pid)
    for kind in ("heap", "allocs"):
        view = h.assert_valid_heap_profile(files[kind], kind=kind, rate=1,
                                           program="heap_sites_fakeje")
        _, by = sites_seen(view)
        for name, (live, size) in LIVE_SITES.items():
            assert by[name]["inuse_objects"] == live // size, by
            assert by[name]["alloc_objects"] == live // size, by
            within(by[name]["inuse_space"], live, f"{name} inuse_space", by)
        assert by[CHURN]["alloc_objects"] == CHURN_BYTES // 1024, by
        assert by[CHURN]["inuse_objects"] == 0 and by[CHURN]["inuse_space"] == 0, by
        # One sample per (stack, usable size), as the interposing backend writes
        # them (heap_problems checks that): glibc's usable size of malloc(4096)
        # depends on where the chunk is, a few bytes over.
        sizes = {view.num_labels(s)["bytes"] for s in view.p.sample
                 if "site_malloc_4k" in view.stack_functions(s)}
        assert sizes and all(4096 <= b < 4096 + 64 for b in sizes), sizes


@pytest.mark.timeout(300)
def test_auto(h):
    """auto: silently the interposing backend on glibc; the jemalloc backend
    through the launcher on jemalloc (site_new_256 is there, which the
    interposing backend cannot see in this program)."""
    r, out, pid = run_sites(h, "heap_sites", env={"PPROF_MEM_RATE": RATE,
                                                  "PPROF_HEAP_BACKEND": "auto"})
    assert not agent_lines(r), r.describe()
    check_interposed_profile(h, r, out, "heap_sites", pid, list(LIVE_SITES))

    r, out, pid = run_sites(h, "heap_sites_je", launcher_args=["--heap-backend", "auto",
                                                               "--mem-rate", RATE])
    assert not agent_lines(r), r.describe()
    check_sites(h, heap_files(out, "heap_sites_je", pid)["heap"], "heap", "heap_sites_je")


def test_launcher_rejects_unknown_backend(h):
    r = h.run_launcher(["run", "--heap-backend", "tcmalloc", "/bin/true"])
    assert r.returncode == 2, r.describe()
    assert "--heap-backend" in r.stderr and "interpose, jemalloc or auto" in r.stderr, r.describe()


def test_launcher_malloc_conf(h):
    """The launcher puts jemalloc's options before the user's MALLOC_CONF (so
    the user's own win), and leaves MALLOC_CONF alone for interpose."""
    show = ["sh", "-c", 'printf "%s\\n" "$MALLOC_CONF"']
    r = h.run_launcher(["run", "--heap-backend", "jemalloc", "--mem-rate", "100000", *show],
                       env={"MALLOC_CONF": "narenas:2"})
    assert r.returncode == 0, r.describe()
    assert r.stdout.strip() == ("prof:true,prof_active:true,prof_accum:true,lg_prof_sample:17,"
                                "narenas:2"), r.describe()
    r = h.run_launcher(["run", *show], env={"MALLOC_CONF": "narenas:2"})
    assert r.stdout.strip() == "narenas:2", r.describe()
    r = h.run_launcher(["run", "--heap-backend", "jemalloc", "--mem-rate", "0", *show],
                       env={"MALLOC_CONF": UNSET})
    assert r.stdout.strip() == "", r.describe()


REDIS_RATE = 65536


@pytest.mark.timeout(300)
def test_redis_with_jemalloc_backend(h):
    """Debian's redis-server through `ppagent run --heap-backend jemalloc`
    under redis-benchmark: valid heap profiles on the dump signal (during the
    load) and at exit, with redis's own functions, and no agent message."""
    port = free_port()
    data, out = h.tmpdir("redis-data"), h.tmpdir("out")
    p = h.start([h.launcher, "run", "--heap-backend", "jemalloc", "--mem-rate", REDIS_RATE,
                 "-o", out, REDIS, "--port", port, "--bind", "127.0.0.1", "--dir", data,
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
                agent=False, cwd=data)
    binary = os.path.basename(os.path.realpath(REDIS))
    shut_down = False
    try:
        deadline = time.monotonic() + 30
        while cli(port, "ping", timeout=5, check=False).stdout.strip() != "PONG":
            assert time.monotonic() < deadline and p.popen.poll() is None, p.err_path.read_text()
            time.sleep(0.1)
        pid = int(info(port, "server")["process_id"])
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libppagent.so" in maps and "libjemalloc.so" in maps, maps
        # jemalloc's own account of its options (redis prints malloc_stats_print).
        stats = cli(port, "memory", "malloc-stats").stdout
        for opt in ("opt.prof: true", "opt.prof_accum: true", "opt.lg_prof_sample: 16",
                    "prof.active: true"):
            assert opt in stats, (opt, stats[:3000])

        bench = subprocess.Popen([BENCH, "-h", "127.0.0.1", "-p", str(port), "-q", "-n", "20000",
                                  "-t", "set,get,lpush"], env=clean_env(),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and bench.poll() is None:
            if int(info(port, "stats").get("total_commands_processed", "0")) > 2000:
                break
            time.sleep(0.05)
        p.signal(signal.SIGUSR2)  # through the launcher
        stem = f"redis-server.{pid}"
        wait_for_file(out / f"{stem}.heap.1.pb.gz", proc=p, timeout=60)
        wait_for_file(out / f"{stem}.allocs.1.pb.gz", proc=p, timeout=60)
        text = bench.communicate(timeout=180)[0].decode(errors="replace")
        assert bench.returncode == 0, text
        assert cli(port, "llen", "mylist").stdout.strip() == "20000"
        used = int(info(port, "memory")["used_memory"])
        cli(port, "shutdown", "nosave", check=False)
        shut_down = True
    finally:
        if not shut_down:
            p.signal(signal.SIGTERM)
    r = p.finish(60)
    assert r.returncode == 0, r.describe()
    assert not agent_lines(r), r.describe()
    files = heap_files(out, "redis-server", pid)
    assert sorted(files) == ["allocs", "allocs.1", "cpu", "heap", "heap.1"], r.describe()
    for key in ("heap", "heap.1", "allocs", "allocs.1"):
        view = h.assert_valid_heap_profile(files[key], kind=key.split(".")[0], rate=REDIS_RATE,
                                           program=binary, min_samples=1)
        totals = view.heap_totals()
        assert totals["inuse_space"] > 0 and totals["alloc_space"] > 0, (key, totals)
        names = redis_names(view, binary)
        assert any(n.startswith("z") and "alloc" in n for n in names), (key, sorted(names))
        leaves = leaf_objects(view)
        assert not leaves & {"libjemalloc.so.2", "libppagent.so"}, (key, leaves)
        if key == "heap":
            # Plausibility: within a factor of 4 of redis's own count.
            assert used / 4 <= totals["inuse_space"] <= used * 4 + (4 << 20), (totals, used)


@pytest.mark.timeout(120)
def test_unprofiled_process_turns_jemalloc_sampling_off(h):
    """MALLOC_CONF from the launcher reaches every process of the tree; one the
    agent does not profile (here: not in PPROF_PROGRAMS) switches jemalloc's
    sampling off (prof.active), so it neither pays for it nor runs jemalloc's
    own unwinder. A profiled one keeps it on."""
    def prof_active(env):
        port = free_port()
        data = h.tmpdir("redis-data")
        stats_read = False
        p = h.start([REDIS, "--port", port, "--bind", "127.0.0.1", "--dir", data, "--save", "",
                     "--appendonly", "no", "--daemonize", "no", "--logfile", ""], cwd=data,
                    outdir=h.tmpdir("out"), env={
                        "PPROF_HEAP_BACKEND": "jemalloc", "PPROF_CPU_HZ": 0,
                        "MALLOC_CONF": "prof:true,prof_active:true,prof_accum:true", **env})
        try:
            deadline = time.monotonic() + 30
            while cli(port, "ping", timeout=5, check=False).stdout.strip() != "PONG":
                assert time.monotonic() < deadline and p.popen.poll() is None, p.err_path.read_text()
                time.sleep(0.1)
            stats = cli(port, "memory", "malloc-stats").stdout
            cli(port, "shutdown", "nosave", check=False)
            stats_read = True
        finally:
            if not stats_read:
                p.signal(signal.SIGTERM)
        r = p.finish(60)
        assert not agent_lines(r), r.describe()
        m = re.search(r"opt\.prof_active: \w+ \(prof\.active: (\w+)\)", stats)
        assert m, stats[:3000]
        return m.group(1)

    assert prof_active({"PPROF_PROGRAMS": "some-other-program"}) == "false"
    assert prof_active({}) == "true"
