"""On-demand profiles of the live endpoint over a window (agent/live/live_profiles.cc):
seconds=N heap deltas, CPU windows with and without whole-run CPU profiling,
one CPU window at a time, and the debug=1 text form."""

import re
import signal
import threading
import time
from pathlib import Path

from live_http import CONTENTION_ON, LiveServer, WORKLOAD_THREADS, exit_files, free_port, http

BLOCK = 64 * 1024
DURING_BLOCKS, BEFORE_BLOCKS = 256, 64


class WindowProgram:
    """live_window under the agent with the endpoint on: it allocates and
    starts a CPU-burning thread when the test creates its trigger file."""

    def __init__(self, h, env):
        self.h = h
        self.port = free_port()
        self.outdir = h.tmpdir("out")
        self.trigger = self.outdir / "trigger"
        e = {"PPROF_HTTP": f"127.0.0.1:{self.port}", **env}
        self.proc = h.start([h.workload("live_window"), self.trigger], outdir=self.outdir,
                            cwd=self.outdir, env=e)
        self.proc.wait_for_stdout("ready")
        LiveServer.wait_listening(self)

    def url(self, name):
        return f"http://127.0.0.1:{self.port}/debug/pprof/{name}"

    def get_during(self, name, trigger_after):
        """GET `name` on a thread; `trigger_after` seconds into it, pull the trigger."""
        result = {}
        t = threading.Thread(target=lambda: result.update(r=http(self.url(name), timeout=120)))
        t.start()
        time.sleep(trigger_after)
        self.trigger.touch()
        self.proc.wait_for_stdout("triggered")
        t.join(120)
        assert "r" in result, f"no answer to {name}"
        return result["r"]

    def stop(self):
        self.proc.signal(signal.SIGTERM)
        run = self.proc.finish(60)
        assert run.returncode == 0 and run.stdout == "ready\ntriggered\nbye\n", run.describe()
        return run


def save(h, response, name):
    assert response.status == 200, response.describe()
    assert response.body[:2] == b"\x1f\x8b", response.describe()
    path = h.tmpdir("live") / name
    path.write_bytes(response.body)
    return path


def test_heap_delta_shows_the_window_only(h):
    # Every allocation recorded (rate 1): the numbers are exact.
    prog = WindowProgram(h, {"PPROF_MEM_RATE": 1, "PPROF_CPU_HZ": 0})
    r = prog.get_during("heap?seconds=3", trigger_after=1.0)
    path = save(h, r, "heap_delta.pb.gz")
    view = h.decode(path)
    assert not view.heap_problems(kind="heap", rate=1, program="live_window")
    assert 3e9 <= view.p.duration_nanos < 30e9, view.p.duration_nanos
    by_fn = view.heap_by_function(["allocate_during", "allocate_before"])
    during = by_fn["allocate_during"]
    assert during["alloc_space"] == DURING_BLOCKS * BLOCK, by_fn
    assert during["alloc_objects"] == DURING_BLOCKS, by_fn
    assert during["inuse_space"] == DURING_BLOCKS * BLOCK, by_fn
    # Allocated (and kept) before the window: not in the delta at all.
    assert by_fn["allocate_before"] == dict.fromkeys(by_fn["allocate_before"], 0), by_fn
    # The reader agrees.
    top, _ = h.pprof_heap_top(path, sample_index="alloc_space")
    assert "allocate_during" in top.rows and "allocate_before" not in top.rows, top.rows

    # The current state (no seconds) has both.
    now = h.decode(save(h, http(prog.url("heap")), "heap_now.pb.gz"))
    both = now.heap_by_function(["allocate_during", "allocate_before"])
    assert both["allocate_before"]["inuse_space"] == BEFORE_BLOCKS * BLOCK, both
    assert both["allocate_during"]["inuse_space"] == DURING_BLOCKS * BLOCK, both
    assert now.p.duration_nanos == 0
    prog.stop()


def window_samples(view):
    """{(thread_id, stack of location addresses): samples}."""
    locs = view.locations
    out = {}
    for s in view.p.sample:
        key = (view.labels(s).get("thread_id"), tuple(locs[i].address for i in s.location_id))
        out[key] = out.get(key, 0) + s.value[0]
    return out


def cpu_by_function(view, name):
    """CPU time of the samples with a function whose name contains `name`
    on the stack (C++ names carry their namespace and parameters)."""
    return sum(view.cpu_ns(s) for s in view.p.sample
               if any(name in f for f in view.stack_functions(s)))


def test_cpu_window_with_whole_run_profiling(h):
    prog = WindowProgram(h, {"PPROF_CPU_HZ": 100})
    r = prog.get_during("profile?seconds=4", trigger_after=0.5)
    window = h.decode(save(h, r, "cpu_window.pb.gz"))
    assert not window.problems(hz=100, program="live_window")
    assert 4e9 <= window.p.duration_nanos < 30e9
    assert window.p.period == 10_000_000
    total = window.total_cpu_ns()
    late = cpu_by_function(window, "late_burn")
    # late_burn burns 1 s of CPU from 0.5 s into the window (all of it unless
    # the machine is very busy); the rest of the program sleeps.
    # On a heavily loaded machine the burner gets little CPU: ask only that it
    # dominates what the window recorded.
    assert late > 0 and late >= 0.5 * total, (late, total)

    run = prog.stop()
    cpu_file = exit_files(prog.outdir, "live_window", run.pid)["cpu"]
    whole = h.decode(cpu_file)
    # The window did not take anything away from the whole-run profile: each
    # (thread, stack) of the window is there with at least as many samples.
    whole_samples = window_samples(whole)
    for key, n in window_samples(window).items():
        assert whole_samples.get(key, 0) >= n, (key, n, whole_samples.get(key))
    assert cpu_by_function(whole, "late_burn") >= late


def test_cpu_window_with_its_own_sampler(h):
    """Whole-run CPU profiling off: the window starts a sampler. A thread
    created during the window is sampled; the agent's threads are not."""
    prog = WindowProgram(h, {"PPROF_CPU_HZ": 0})
    r = prog.get_during("profile?seconds=4", trigger_after=0.5)
    window = h.decode(save(h, r, "cpu_window.pb.gz"))
    assert not window.problems(hz=100, program="live_window")
    assert window.p.period == 10_000_000
    late = cpu_by_function(window, "late_burn")
    assert late > 0 and late >= 0.5 * window.total_cpu_ns(), window.flat_by_function()
    names = set(window.cpu_by_label("thread_name"))
    assert names <= {"live_window", "late-burner"}, names
    run = prog.stop()
    assert "cpu" not in exit_files(prog.outdir, "live_window", run.pid)


def test_cpu_windows_one_at_a_time_and_again_after(h):
    srv = LiveServer(h, env={"PPROF_CPU_HZ": 0})
    first = {}
    t = threading.Thread(target=lambda: first.update(r=srv.get("profile?seconds=3")))
    t.start()
    time.sleep(1.0)
    second = srv.get("profile?seconds=1")
    assert second.status == 500, second.describe()
    assert "Could not enable CPU profiling: cpu profiling already in use" in second.text
    assert second.headers.get("content-type", "").startswith("text/plain")
    t.join(60)
    view = h.decode(save(h, first["r"], "cpu1.pb.gz"))
    # burn_alpha/burn_beta tail-call spin_for: their threads tell them apart.
    by_thread = view.cpu_by_label("thread_name")
    assert by_thread.get("burn-alpha", 0) > 0 and cpu_by_function(view, "spin_for") > 0, by_thread

    # The sampler starts again after it stopped, and the busy mark is gone.
    again = srv.get("profile?seconds=2")
    view = h.decode(save(h, again, "cpu2.pb.gz"))
    by_thread = view.cpu_by_label("thread_name")
    assert by_thread.get("burn-alpha", 0) > 0 and by_thread.get("burn-beta", 0) > 0, by_thread
    assert set(by_thread) <= WORKLOAD_THREADS, by_thread
    srv.assert_progressing()
    srv.assert_normal_exit(expect=("heap", "allocs"))


FRAME_LINE = re.compile(r"#\t0x[0-9a-f]+\t\S.*\t.*:\d+")


def check_text(response, name):
    assert response.status == 200, response.describe()
    assert response.headers["content-type"] == "text/plain; charset=utf-8", response.describe()
    text = response.text
    header = text.split("\n", 1)[0]
    assert re.fullmatch(rf"{name} profile: total -?\d+", header), header
    blocks = [b for b in text.split("\n\n")[0:] if b.strip()]
    first = blocks[0].split("\n", 1)[1] if "\n" in blocks[0] else ""
    assert re.match(r"-?\d+( -?\d+)* @( 0x[0-9a-f]+)+$", first.split("\n")[0]), text[:500]
    assert any(FRAME_LINE.fullmatch(l) for l in text.splitlines()), text[:500]
    return text


def test_debug_text(h):
    # A small sampling rate: the heap has samples from the first request on.
    srv = LiveServer(h, env={**CONTENTION_ON, "PPROF_MEM_RATE": 4096})
    assert "keep_blocks" in check_text(srv.get("heap?debug=1"), "heap")
    assert "keep_blocks" in check_text(srv.get("allocs?debug=1"), "allocs")
    # mutex_holder tail-calls the unlock: the stack starts in its caller.
    assert "locker" in check_text(srv.get("mutex?debug=1"), "mutex")
    assert "mutex_waiter" in check_text(srv.get("block?debug=1"), "block")
    assert "wait_on_condition" in check_text(srv.get("goroutine?debug=1"), "goroutine")
    assert "spawn_from_spawner" in check_text(srv.get("threadcreate?debug=1"), "threadcreate")
    srv.assert_normal_exit()


def test_not_enabled_says_what_enables_it(h):
    srv = LiveServer(h)
    for name, variable in [("mutex", "PPROF_MUTEX_FRACTION"), ("block", "PPROF_BLOCK_RATE")]:
        r = srv.get(name)
        assert r.status == 404, r.describe()
        assert variable in r.text, r.describe()
    srv.assert_normal_exit()
