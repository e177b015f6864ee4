"""PPROF_HTTP configuration (issue 5): a bad value or a port that cannot be
bound costs exactly one `ppagent:` line, nothing more: the program prints and
exits exactly as without the agent and the other profiles are still written.
`ppagent run --http` starts the endpoint too."""

import signal
import socket
import time

import pytest

from live_http import LiveServer, exit_files, free_port, http, is_profile


def run_until_ready(h, env, *, agent=True):
    """live_server until it printed "ready", then SIGTERM."""
    outdir = h.tmpdir("out")
    proc = h.start([h.workload("live_server")], agent=agent, outdir=outdir if agent else None,
                   cwd=outdir, env=env)
    proc.wait_for_stdout("ready")
    proc.signal(signal.SIGTERM)
    return proc.finish(60), outdir


@pytest.fixture(scope="module")
def without_agent(h):
    run, _ = run_until_ready(h, {}, agent=False)
    assert run.returncode == 0 and run.stdout == "ready\nbye\n" and run.stderr == "", run.describe()
    return run


def assert_one_line_and_unharmed(h, run, outdir, without_agent, *, mentions):
    assert len(run.ppagent_lines) == 1, run.describe()
    line = run.ppagent_lines[0]
    for text in mentions:
        assert text in line, f"{text!r} not in {line!r}"
    assert run.stderr == line + "\n", run.describe()
    assert (run.stdout, run.returncode) == (without_agent.stdout, without_agent.returncode), \
        run.describe()
    files = exit_files(outdir, "live_server", run.pid)
    assert {"cpu", "heap", "allocs"} <= set(files), run.describe()
    for p in files.values():
        h.decode(p)


@pytest.mark.parametrize("value,extra", [
    ("nonsense", {}),
    ("127.0.0.1", {}),
    ("127.0.0.1:0", {}),
    ("127.0.0.1:70000", {}),
    ("10.1.2.3:6060", {}),  # not loopback, PPROF_HTTP_ALLOW_REMOTE unset
    ("10.1.2.3:6060", {"PPROF_HTTP_ALLOW_REMOTE": "0"}),
    ("[::1]", {}),
    (":6060", {}),
])
def test_bad_value(h, without_agent, value, extra):
    run, outdir = run_until_ready(h, {"PPROF_HTTP": value, **extra})
    assert_one_line_and_unharmed(h, run, outdir, without_agent, mentions=["PPROF_HTTP", value])


def test_empty_value_is_unset(h, without_agent):
    run, outdir = run_until_ready(h, {"PPROF_HTTP": ""})
    assert run.stderr == "" and (run.stdout, run.returncode) == ("ready\nbye\n", 0), \
        run.describe()


def test_port_in_use(h, without_agent):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run, outdir = run_until_ready(h, {"PPROF_HTTP": f"127.0.0.1:{port}"})
    assert_one_line_and_unharmed(h, run, outdir, without_agent, mentions=[str(port)])


def test_remote_allowed_binds_any(h):
    """With PPROF_HTTP_ALLOW_REMOTE=1 a non-loopback address is accepted: the
    wildcard address binds and answers (reached here through loopback)."""
    port = free_port()
    outdir = h.tmpdir("out")
    proc = h.start([h.workload("live_server")], outdir=outdir, cwd=outdir,
                   env={"PPROF_HTTP": f"0.0.0.0:{port}", "PPROF_HTTP_ALLOW_REMOTE": "1"})
    try:
        proc.wait_for_stdout("ready")
        deadline = time.monotonic() + 30
        while True:
            try:
                r = http(f"http://127.0.0.1:{port}/debug/pprof/heap", timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline, "nothing listens"
                time.sleep(0.1)
        assert r.status == 200 and is_profile(r.body), r.describe()
    finally:
        proc.signal(signal.SIGTERM)
        run = proc.finish(60)
    assert run.returncode == 0 and run.stdout == "ready\nbye\n", run.describe()
    assert not run.ppagent_lines, run.describe()


def test_launcher_http(h):
    live = LiveServer(h, via_launcher=True)  # ppagent run --http 127.0.0.1:PORT -- ...
    try:
        r = live.get("cmdline")
        assert r.status == 200, r.describe()
        assert r.body.split(b"\0") == [str(live.program).encode(), b"--progress",
                                       str(live.progress_file).encode()], r.describe()
        p = h.pprof(["-top"], live.url("heap"))
        assert "keep_blocks" in p.stdout, p.stdout
    finally:
        live.stop()
    live.assert_normal_exit()
