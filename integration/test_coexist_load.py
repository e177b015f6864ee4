"""Issue 6 point 6 (coexistence): thousands of short-lived threads (2000,
joined and detached, with CPU, heap and mutex profiling on) leak no timers,
no threads and no memory per thread; a burst of 1000 dump signals leaves the
program unharmed, coalesces into far fewer dumps, all valid."""

import os
import re
import signal
import time

import pytest

from coexist_checks import check_every_profile, ppagent_lines, profile_files

RATE = 4096
ENV = {"PPROF_CPU_HZ": 1000, "PPROF_MEM_RATE": RATE, "PPROF_MUTEX_FRACTION": 1}


def proc_timers(pid):
    """POSIX timers of the process, from /proc/PID/timers: (count, the ids)."""
    text = open(f"/proc/{pid}/timers").read()
    return len(re.findall(r"^ID: ", text, re.M)), text


def vm_rss_kib(pid):
    m = re.search(r"^VmRSS:\s+(\d+) kB", open(f"/proc/{pid}/status").read(), re.M)
    return int(m.group(1))


def task_count(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def churn(h, agent, rounds=4, per_round=500):
    godir = h.tmpdir("go")
    out = h.tmpdir("out")
    p = h.start([h.workload("thread_churn"), rounds, per_round, godir], agent=agent,
                outdir=out if agent else None, env=ENV if agent else None)
    seen = []
    for k in range(1, rounds + 1):
        p.wait_for_stdout(f"round {k}\n", timeout=120)
        count, text = proc_timers(p.pid)
        seen.append({"timers": count, "timers_text": text, "rss_kib": vm_rss_kib(p.pid),
                     "tasks": task_count(p.pid)})
        (godir / f"go.{k}").touch()
    return p.finish(120), seen, out


@pytest.mark.timeout(400)
def test_2000_short_lived_threads(h):
    plain, plain_seen, _ = churn(h, agent=False)
    assert plain.returncode == 0, plain.describe()
    run, seen, out = churn(h, agent=True)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert "threads=2000 " in run.stdout
    assert ppagent_lines(run) == [], run.describe()
    for k, s in enumerate(seen, 1):
        # The main thread's CPU timer only: every ended thread's timer was deleted.
        assert s["timers"] == 1, f"after round {k}: {s['timers']} timers\n{s['timers_text']}"
        # No thread left behind: the program's one plus the agent's, as at round 1.
        assert s["tasks"] == seen[0]["tasks"], (k, s["tasks"], seen[0]["tasks"])
    # Memory: after round 1 the per-thread state has reached its steady state
    # (glibc's cache of thread stacks, the agent's tables). Rounds 2-4 (1500
    # more threads) may add what the profiles keep per (stack, thread): CPU
    # samples are keyed by thread id, ~1500 new entries of well under 1 KiB,
    # and the allocator's noise. 8 MiB is far below what a per-thread leak
    # of even one 8 KiB page (12 MiB) or one thread stack (8 MiB each) would add.
    growth = seen[-1]["rss_kib"] - seen[0]["rss_kib"]
    plain_growth = plain_seen[-1]["rss_kib"] - plain_seen[0]["rss_kib"]
    assert growth - plain_growth < 8 * 1024, (
        f"VmRSS grew {growth} KiB over rounds 2-4 with the agent, {plain_growth} KiB without")
    print(f"\nthread churn: VmRSS rounds 1..4 {[s['rss_kib'] for s in seen]} KiB with the agent, "
          f"{[s['rss_kib'] for s in plain_seen]} KiB without")
    counts = check_every_profile(h, out, program="thread_churn", rate=RATE, hz=1000)
    assert counts == {"cpu": 1, "heap": 1, "allocs": 1, "mutex": 1}, counts
    cpu = next(p for p, (k, _) in profile_files(out).items() if k == "cpu")
    # Each thread burns 0.3 ms, less than one 1 ms period of its own CPU
    # timer, so how many samples land depends on the kernel's tick and the
    # machine's load (49 to well over 50 seen): ask for a profile with
    # samples, not for a count.
    view = h.assert_valid_profile(cpu, hz=1000, program="thread_churn", min_samples=10)
    assert "churn_burn" in view.flat_by_function()


@pytest.mark.timeout(300)
def test_burst_of_1000_dump_signals(h):
    stop = h.tmpdir("stop") / "stop"
    plain = h.start([h.workload("dump_burst"), stop], agent=False)
    plain.wait_for_stdout("ready\n")
    stop.touch()
    plain = plain.finish(120)
    assert plain.returncode == 0, plain.describe()

    stop = h.tmpdir("stop") / "stop"
    out = h.tmpdir("out")
    p = h.start([h.workload("dump_burst"), stop], outdir=out, env=ENV)
    p.wait_for_stdout("ready\n")
    for _ in range(1000):
        os.kill(p.pid, signal.SIGUSR2)
    time.sleep(1.0)  # let the agent finish the dumps the burst asked for
    stop.touch()
    run = p.finish(120)
    assert run.returncode == 0, run.describe()
    assert run.stdout == plain.stdout, run.describe()
    assert ppagent_lines(run) == [], run.describe()
    files = profile_files(out)
    dumps = sorted({seq for _, seq in files.values() if seq is not None})
    assert dumps, "no dump was written"
    assert dumps == list(range(1, len(dumps) + 1)), dumps
    assert len(dumps) < 1000
    for seq in dumps:  # each dump is complete
        kinds = sorted(k for k, s in files.values() if s == seq)
        assert kinds == ["allocs", "heap", "mutex", "threadcreate", "threads"], (seq, kinds)
    counts = check_every_profile(h, out, program="dump_burst", rate=RATE, hz=1000)
    assert counts["cpu"] == 1 and counts["heap"] == len(dumps) + 1, counts
    print(f"\n1000 dump signals -> {len(dumps)} dumps, {sum(counts.values())} files, all valid")
