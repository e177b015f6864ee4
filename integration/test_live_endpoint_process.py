"""The live endpoint's place in the process (agent/live/http_transport_mhd.cc): its threads
are the agent's, forked and exec'd children neither serve nor keep the port,
IPv6, HEAD, and serving with nothing written to disk."""

import os
import re
import socket
import signal
import threading
import time
from pathlib import Path

from live_http import free_port, http


def free_port_v6():
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def wait_listening(proc, family, host, port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.popen.poll() is None, proc.err_path.read_text(errors="replace")
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect((host, port))
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {host}:{port}")


def threads_of(pid):
    """{tid: (name, blocked signal mask as an int)}"""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            status = (task / "status").read_text()
        except OSError:
            continue  # ended meanwhile
        blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)", status, re.M).group(1), 16)
        out[int(task.name)] = (name, blocked)
    return out


def start_live_server(h, env):
    outdir = h.tmpdir("out")
    proc = h.start([h.workload("live_server")], outdir=outdir, cwd=outdir, env=env)
    proc.wait_for_stdout("ready")
    return proc, outdir


def stop(proc):
    proc.signal(15)
    run = proc.finish(60)
    assert run.returncode == 0 and run.stdout == "ready\nbye\n", run.describe()
    return run


def test_server_threads_are_agent_threads(h):
    """Every thread libmicrohttpd starts (listener, one per connection) has
    every signal blocked, as the agent's own threads have; the program's
    threads keep their masks."""
    port = free_port()
    proc, _ = start_live_server(h, {"PPROF_HTTP": f"127.0.0.1:{port}"})
    wait_listening(proc, socket.AF_INET, "127.0.0.1", port)
    before = threads_of(proc.pid)
    # Requests that stay open for a while: their connection threads exist now.
    results = []
    clients = [threading.Thread(target=lambda: results.append(
        http(f"http://127.0.0.1:{port}/debug/pprof/heap?seconds=3").status)) for _ in range(3)]
    for c in clients:
        c.start()
    time.sleep(1.5)
    during = threads_of(proc.pid)
    for c in clients:
        c.join()
    run = stop(proc)
    assert results == [200, 200, 200], run.describe()

    new = {tid: t for tid, t in during.items() if tid not in before}
    assert len(new) >= 3, f"no connection threads seen: before {before}, during {during}"
    server_threads = {tid: t for tid, t in during.items() if t[0].startswith("MHD")}
    assert len(server_threads) >= 4, during  # the listener and 3 connections
    # The agent's own dump thread blocks every signal the kernel lets it block.
    agent_masks = {blocked for name, blocked in before.values() if name == "ppagent"}
    assert len(agent_masks) == 1, before
    agent_mask = agent_masks.pop()
    assert bin(agent_mask).count("1") >= 60 and agent_mask & (1 << 26), before  # bit 26: SIGPROF
    # ... the agent's CPU signal too (SIGRTMAX): the program's masks leave it
    # out, the agent's own threads' do not.
    assert agent_mask & (1 << (int(signal.SIGRTMAX) - 1)), before
    for tid, (name, blocked) in {**new, **server_threads}.items():
        assert blocked == agent_mask, f"thread {tid} {name!r} has signals unblocked: {blocked:x}"
    for tid, (name, blocked) in before.items():
        if name in ("live_server", "burn-alpha", "keeper", "sleeper"):
            assert blocked == 0, f"program thread {name!r} mask changed: {blocked:x}"


def test_forked_child_lets_the_port_go(h):
    """A child forked without exec has none of the server's threads: it does
    not answer, and once the parent is gone the port is free although the
    child still runs."""
    port = free_port()
    script = (
        "import os, sys, time\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    time.sleep(6)\n"
        "    os._exit(0)\n"
        "print('forked', pid, flush=True)\n"
        "time.sleep(1.5)\n")
    proc = h.start(["/usr/bin/python3", "-c", script, "fork_marker"], outdir=h.tmpdir("out"),
                   env={"PPROF_HTTP": f"127.0.0.1:{port}", "PPROF_CPU_HZ": 0})
    proc.wait_for_stdout("forked")
    child = int(proc.stdout_text().split()[1])
    r = http(f"http://127.0.0.1:{port}/debug/pprof/cmdline", timeout=10)
    assert r.status == 200 and b"fork_marker" in r.body, r.describe()
    run = proc.finish(30)
    assert run.returncode == 0, run.describe()
    assert run.ppagent_lines == [], run.describe()
    os.kill(child, 0)  # still running: the check below means something
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            connected = True
        except ConnectionRefusedError:
            connected = False
    assert not connected, f"port {port} still accepts connections after the parent exited"
    # The port can be bound again at once.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def test_exec_does_not_inherit_the_listening_socket(h):
    """The listening socket is close-on-exec: a program exec'd in place of
    the server's process neither sees it nor finds the port taken."""
    port = free_port()
    run = h.run_agent(["/bin/sh", "-c", "exec env -u LD_PRELOAD ls -l /proc/self/fd/"],
                      env={"PPROF_HTTP": f"127.0.0.1:{port}"}, timeout=60)
    assert run.returncode == 0, run.describe()
    assert "socket:" not in run.stdout, run.describe()
    # env (exec'd with the agent) could bind the same port again.
    assert run.ppagent_lines == [], run.describe()


def test_ipv6_head_and_nothing_on_disk(h):
    """[::1] works; HEAD answers the headers of GET without the body; with no
    usable output directory the profiles are still served, and only the one
    line about the directory appears."""
    port = free_port_v6()
    missing = h.tmpdir("x") / "missing"
    proc, outdir = start_live_server(h, {"PPROF_HTTP": f"[::1]:{port}",
                                         "PPROF_OUTPUT_DIR": missing})
    wait_listening(proc, socket.AF_INET6, "::1", port)
    base = f"http://[::1]:{port}/debug/pprof/"
    get = http(base + "cmdline")
    head = http(base + "cmdline", method="HEAD")
    assert get.status == head.status == 200, (get.describe(), head.describe())
    assert head.body == b"" and head.headers["content-length"] == str(len(get.body))
    assert get.body.endswith(b"live_server"), get.describe()
    heap = http(base + "heap")
    assert heap.status == 200 and heap.body[:2] == b"\x1f\x8b", heap.describe()
    assert heap.headers["content-disposition"] == 'attachment; filename="heap"'
    assert heap.headers["x-content-type-options"] == "nosniff"
    run = stop(proc)
    assert len(run.ppagent_lines) == 1, run.describe()
    assert "PPROF_OUTPUT_DIR" in run.ppagent_lines[0], run.describe()
    assert not missing.exists()
    assert list(Path(outdir).glob("*.pb.gz")) == [], run.describe()


def test_without_pprof_http_no_server(h):
    """No PPROF_HTTP: no server thread, no listening socket of the agent."""
    proc, _ = start_live_server(h, {})
    time.sleep(0.3)
    names = {name for name, _ in threads_of(proc.pid).values()}
    sockets = [os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")]
    run = stop(proc)
    assert not any(n.startswith("MHD") for n in names), names
    assert not any(s.startswith("socket:") for s in sockets), sockets
    assert run.ppagent_lines == [], run.describe()
