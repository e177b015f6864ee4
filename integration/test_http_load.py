"""The live /debug/pprof endpoint under load (issue 5), and the agent's own
threads (libmicrohttpd's among them) invisible in every profile.

50 client threads for 10 seconds mix index, cmdline, symbol, heap, allocs,
goroutine, threadcreate and, one at a time, profile?seconds=1. Every answer
must be 200 and valid (a gzip that parses as a Profile with samples, or the
expected text), and the program's own progress counter must advance during
the load. The number of requests and their latencies are printed (run pytest
with -s to see them), never asserted."""

import gzip
import os
import random
import threading
import time

from live_http import WORKLOAD_THREADS, LiveServer, http

CLIENTS = 50
LOAD_SECONDS = 10
MIX = ["", "cmdline", "symbol", "heap", "allocs", "goroutine", "threadcreate", "profile?seconds=1"]


def check_answer(pb, live, name, r):
    """None if the answer is what `name` must give, else why not."""
    if r.status != 200:
        return f"status {r.status}"
    if name == "":
        return None if b"/debug/pprof/heap" in r.body or b'href="heap' in r.body \
            else "index without a heap link"
    if name == "cmdline":
        return None if r.body.split(b"\0")[0] == str(live.program).encode() else "bad cmdline"
    if name == "symbol":
        return None if r.body == b"num_symbols: 1\n" else "bad symbol answer"
    try:
        prof = pb.Profile()
        prof.ParseFromString(gzip.decompress(r.body))
    except Exception as e:  # noqa: BLE001 - any parse failure is the finding
        return f"not a gzipped Profile: {e}"
    if not prof.sample:
        return "no samples"
    return None


def percentile(sorted_values, q):
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def mhd_problems(view, pid):
    """Samples on a thread that is not the program's, or with a frame of
    libmicrohttpd (by mapping file or function name). Threads the agent
    starts inherit the main thread's name, so a sample named like the main
    thread must be the main thread (thread_id = pid)."""
    bad = []
    mhd_maps = {m.id for m in view.p.mapping if "microhttpd" in view.str(m.filename)}
    for s in view.p.sample:
        name = view.labels(s).get("thread_name")
        if name not in WORKLOAD_THREADS:
            bad.append(f"sample on thread {name!r}")
        elif name == "live_server" and view.labels(s).get("thread_id") != str(pid):
            bad.append(f"sample on thread {view.labels(s).get('thread_id')} named like main")
        for lid in s.location_id:
            loc = view.locations[lid]
            fns = [ln[0] or "" for ln in view.lines(loc)]
            if loc.mapping_id in mhd_maps or any(f.startswith("MHD_") or "microhttpd" in f
                                                 for f in fns):
                bad.append(f"sample with a libmicrohttpd frame {fns} on thread {name!r}")
    return bad[:10]


def test_fifty_clients(h):
    live = LiveServer(h)
    pb = h.pb
    stop_at = time.monotonic() + LOAD_SECONDS
    cpu_lock = threading.Lock()
    lock = threading.Lock()
    latencies = {n: [] for n in MIX}
    failures = []
    served_cpu = []
    progress = [live.progress()]
    thread_names = set()

    def client(seed):
        rnd = random.Random(seed)
        while time.monotonic() < stop_at:
            name = rnd.choice(MIX)
            if name.startswith("profile"):
                if not cpu_lock.acquire(blocking=False):
                    continue  # one CPU profile at a time
            try:
                t0 = time.monotonic()
                try:
                    r = http(live.url(name), timeout=60)
                except OSError as e:
                    with lock:
                        failures.append((name, f"{type(e).__name__}: {e}"))
                    continue
                dt = time.monotonic() - t0
            finally:
                if name.startswith("profile"):
                    cpu_lock.release()
            why = check_answer(pb, live, name, r)
            with lock:
                latencies[name].append(dt)
                if why:
                    failures.append((name, why, r.describe()[:300]))
                elif name.startswith("profile") and len(served_cpu) < 3:
                    served_cpu.append(r.body)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    # Meanwhile: the program's progress, and the names of the threads serving.
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        progress.append(live.progress())
        for task in os.listdir(f"/proc/{live.proc.pid}/task"):
            try:
                with open(f"/proc/{live.proc.pid}/task/{task}/comm") as f:
                    thread_names.add(f.read().strip())
            except OSError:
                pass
    for t in threads:
        t.join()

    all_lat = sorted(x for v in latencies.values() for x in v)
    print(f"\nload: {len(all_lat)} requests in {LOAD_SECONDS}s by {CLIENTS} clients; latency "
          f"p50 {percentile(all_lat, 0.5) * 1000:.1f} ms, p90 {percentile(all_lat, 0.9) * 1000:.1f}"
          f" ms, p99 {percentile(all_lat, 0.99) * 1000:.1f} ms, max {all_lat[-1] * 1000:.1f} ms")
    for n, v in latencies.items():
        v.sort()
        if v:
            print(f"  {n or 'index':20s} {len(v):5d} requests, p50 "
                  f"{percentile(v, 0.5) * 1000:8.1f} ms, p99 {percentile(v, 0.99) * 1000:8.1f} ms")
    print(f"  progress during the load: {progress}")
    print(f"  thread names seen: {sorted(thread_names)}")

    assert not failures, f"{len(failures)} bad answers, e.g. {failures[:5]}"
    assert all(latencies[n] for n in MIX), {n: len(v) for n, v in latencies.items()}
    # The program's own work went on during the load, not just after it.
    assert progress[-1] > progress[0] and len(set(progress[:-1])) > 1, progress

    # The agent's own threads are invisible in the served CPU profiles...
    assert served_cpu, "no CPU profile served"
    for i, body in enumerate(served_cpu):
        path = h.tmpdir("served") / f"profile{i}.pb.gz"
        path.write_bytes(body)
        bad = mhd_problems(h.decode(path), live.proc.pid)
        assert not bad, f"served CPU profile {i}: {bad}"

    live.assert_progressing()
    run, files = live.assert_normal_exit()
    assert not run.ppagent_lines, run.describe()
    # ... and in the whole-run CPU profile written at exit, which covers all
    # the serving threads' work.
    view = h.assert_valid_profile(files["cpu"], program="live_server")
    bad = mhd_problems(view, live.proc.pid)
    assert not bad, f"exit CPU profile: {bad}"
    names = {view.labels(s).get("thread_name") for s in view.p.sample}
    assert {"burn-alpha", "burn-beta"} <= names, names
