"""A real program on another allocator: Debian's redis-server (linked with
libjemalloc.so.2) under the agent, loaded by redis-benchmark, dumped by SIGUSR2
during and after the load, shut down with `redis-cli shutdown nosave`.

The agent must forward the malloc family to the next definition (jemalloc's),
not to glibc: checked by redis's own INFO, where allocator_allocated is
jemalloc's count of allocated bytes (mallctl stats.allocated) and must cover at
least used_memory (what redis allocated through zmalloc).

PPROF_MEM_RATE=65536: redis holds ~1-4 MB once loaded, so an in-use profile
expects ~15-60 sampled blocks; at the default 512 KiB a few, with a real chance
of none in a dump.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import clean_env, heap_files, wait_for_file

RATE = 65536
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
BENCH = shutil.which("redis-benchmark") or "/usr/bin/redis-benchmark"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args, timeout=30, check=True):
    r = subprocess.run([CLI, "-h", "127.0.0.1", "-p", str(port), *args], env=clean_env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"redis-cli {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def info(port, section):
    out = cli(port, "info", section).stdout
    return dict(l.split(":", 1) for l in out.replace("\r", "").splitlines() if ":" in l)


def wait_ready(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            break
        r = cli(port, "ping", timeout=5, check=False)
        if r.stdout.strip() == "PONG":
            return
        time.sleep(0.1)
    raise AssertionError(f"redis-server on port {port} did not answer PING\n"
                         f"stdout={proc.stdout_text()!r}\nstderr={proc.err_path.read_text()!r}")


def redis_names(view, binary):
    """Function names resolved in redis-server's own mapping or libjemalloc's,
    over all samples' stacks."""
    mapping_names = {m.id: os.path.basename(view.str(m.filename)) for m in view.p.mapping}
    names = set()
    for s in view.p.sample:
        for lid in s.location_id:
            loc = view.locations[lid]
            if mapping_names.get(loc.mapping_id, "") in (binary, "libjemalloc.so.2"):
                names.update(ln[0] for ln in view.lines(loc) if ln[0])
    return names


@pytest.mark.timeout(300)
def test_redis_under_agent(h):
    ldd = subprocess.run(["ldd", REDIS], capture_output=True, text=True).stdout
    assert "libjemalloc.so" in ldd, f"precondition: {REDIS} links libjemalloc:\n{ldd}"
    # /usr/bin/redis-server is a symlink (to redis-check-rdb on Debian): the
    # main mapping is the real file, the profile file name is argv[0]'s.
    binary = os.path.basename(os.path.realpath(REDIS))

    port = free_port()
    data, out = h.tmpdir("redis-data"), h.tmpdir("out")
    p = h.start([REDIS, "--port", port, "--bind", "127.0.0.1", "--dir", data, "--save", "",
                 "--appendonly", "no", "--daemonize", "no", "--logfile", ""],
                outdir=out, cwd=data, env={"PPROF_MEM_RATE": RATE})
    shut_down = False
    try:
        wait_ready(port, p)
        maps = Path(f"/proc/{p.pid}/maps").read_text()
        assert "libppagent.so" in maps and "libjemalloc.so" in maps, maps

        # Load, with a dump (heap.1) while the benchmark runs.
        bench_out = h.tmpdir("bench") / "out.txt"
        with open(bench_out, "wb") as bo:
            bench = subprocess.Popen(
                [BENCH, "-h", "127.0.0.1", "-p", str(port), "-q", "-n", "20000",
                 "-t", "set,get,lpush"], env=clean_env(), stdin=subprocess.DEVNULL,
                stdout=bo, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and bench.poll() is None:
                if int(info(port, "stats").get("total_commands_processed", "0")) > 2000:
                    break
                time.sleep(0.05)
            p.signal(signal.SIGUSR2)
            stem = f"redis-server.{p.pid}"
            heap1 = wait_for_file(out / f"{stem}.heap.1.pb.gz", proc=p)
            wait_for_file(out / f"{stem}.allocs.1.pb.gz", proc=p)
            assert bench.wait(timeout=180) == 0, bench_out.read_text(errors="replace")
        text = bench_out.read_text(errors="replace").replace("\r", "\n")
        rps = dict(re.findall(r"^\s*(SET|GET|LPUSH): ([0-9.]+) requests per second", text, re.M))
        assert sorted(rps) == ["GET", "LPUSH", "SET"], f"redis-benchmark output:\n{text}"
        assert all(float(v) > 0 for v in rps.values()), rps
        assert not re.search(r"error|ERR", text, re.I), f"redis-benchmark reported errors:\n{text}"

        # The data is there: the benchmark's list has 20000 elements.
        assert cli(port, "llen", "mylist").stdout.strip() == "20000"

        mem = info(port, "memory")
        assert mem.get("mem_allocator", "").startswith("jemalloc-"), mem
        used, jeal = int(mem["used_memory"]), int(mem["allocator_allocated"])
        assert jeal >= used, (
            f"jemalloc's allocated bytes ({jeal}) do not cover redis's used_memory ({used}): "
            f"redis's allocations are not going to jemalloc under the agent\n{mem}")

        # A second dump after the load (heap.2); redis keeps running.
        p.signal(signal.SIGUSR2)
        heap2 = wait_for_file(out / f"{stem}.heap.2.pb.gz", proc=p)
        wait_for_file(out / f"{stem}.allocs.2.pb.gz", proc=p)
        assert cli(port, "ping").stdout.strip() == "PONG"

        cli(port, "shutdown", "nosave", check=False)  # the connection just closes
        shut_down = True
    finally:
        if not shut_down and p.popen.poll() is None:
            p.signal(signal.SIGTERM)
    r = p.finish(60)
    assert r.returncode == 0, r.describe()
    assert not r.ppagent_lines, r.describe()

    files = heap_files(out, "redis-server", r.pid)
    assert sorted(files) == ["allocs", "allocs.1", "allocs.2", "cpu", "heap", "heap.1",
                             "heap.2"], r.describe()
    for key, path in sorted(files.items()):
        if key == "cpu":
            h.assert_valid_profile(path, program=binary, min_samples=0)
            continue
        kind = key.split(".")[0]
        view = h.assert_valid_heap_profile(path, kind=kind, rate=RATE, program=binary,
                                           min_samples=1)
        totals = view.heap_totals()
        assert totals["inuse_space"] > 0 and totals["alloc_space"] > 0, (path.name, totals)
        names = redis_names(view, binary)
        assert names, (f"{path.name}: no function names from {binary} or libjemalloc in the "
                       f"stacks")
        if key == "heap.2":
            # Plausibility, not precision: the in-use estimate is within a factor
            # of 4 of what redis itself counts (used_memory excludes memory that
            # other libraries allocate; the estimate has a sd of ~15-25% here).
            assert used / 4 <= totals["inuse_space"] <= used * 4 + (4 << 20), (
                f"{path.name}: in-use {totals['inuse_space']} vs redis used_memory {used}")
            # redis allocates through zmalloc & co.
            assert any(n.startswith("z") and "alloc" in n for n in names), sorted(names)
