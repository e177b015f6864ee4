"""Error paths of the live /debug/pprof endpoint (issue 5): Go's status codes,
headers and messages, profiles that are not enabled, and clients that send
garbage, stall or go away. After all of it the server still answers, the
program's own work goes on, and SIGTERM ends it as without the agent.
Nothing here is timed: waits are bounded only to turn a hang into a failure."""

import socket
import threading
import time

import pytest

from live_http import CONTENTION_ON, LiveServer, is_profile, raw_exchange, status_of

GO_ERROR_TYPE = "text/plain; charset=utf-8"
CPU_IN_USE = "Could not enable CPU profiling: cpu profiling already in use"
BAD_SECONDS = 'invalid value for "seconds" - must be a positive integer'


@pytest.fixture(scope="module")
def live(h):
    server = LiveServer(h, env=CONTENTION_ON)
    yield server
    server.stop()


def assert_go_error(r, status, message=None):
    """An error as net/http/pprof answers it: status, text/plain, X-Go-Pprof: 1
    (which makes go tool pprof print the body), the message and a newline."""
    assert r.status == status, r.describe()
    assert r.headers.get("content-type") == GO_ERROR_TYPE, r.describe()
    assert r.headers.get("x-go-pprof") == "1", r.describe()
    assert r.headers.get("x-content-type-options") == "nosniff", r.describe()
    assert "content-disposition" not in r.headers, r.describe()
    assert r.body.endswith(b"\n") and r.body.count(b"\n") == 1, r.describe()
    if message is not None:
        assert r.text == message + "\n", r.describe()


def assert_serving(live):
    r = live.get("cmdline", timeout=30)
    assert r.status == 200, r.describe()
    assert r.body.split(b"\0")[0] == str(live.program).encode(), r.describe()


@pytest.mark.parametrize("path", ["nosuch", "heap/extra", "Heap", "goroutine2"])
def test_unknown_profile(live, path):
    assert_go_error(live.get(path), 404, "Unknown profile")


def test_outside_debug_pprof(live):
    r = live.get("../../index.html")  # urllib sends the path as is
    assert r.status == 404, r.describe()


def test_trace_is_go_only(live):
    r = live.get("trace?seconds=1")
    assert r.status == 404, r.describe()
    assert "Go" in r.text, r.describe()


def test_concurrent_cpu_profiles(live):
    results = [None, None]

    def fetch(i):
        results[i] = live.get("profile?seconds=3", timeout=60)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert all(r is not None for r in results), "a CPU profile request never ended"
    ok = [r for r in results if r.status == 200]
    busy = [r for r in results if r.status != 200]
    assert len(ok) == 1 and len(busy) == 1, [r.describe() for r in results]
    assert is_profile(ok[0].body), ok[0].describe()
    assert ok[0].headers.get("content-type") == "application/octet-stream", ok[0].describe()
    assert ok[0].headers.get("content-disposition") == 'attachment; filename="profile"', \
        ok[0].describe()
    assert_go_error(busy[0], 500, CPU_IN_USE)
    # The window is over: the next one works.
    r = live.get("profile?seconds=1")
    assert r.status == 200 and is_profile(r.body), r.describe()


@pytest.mark.parametrize("kind", ["profile", "heap", "goroutine"])
@pytest.mark.parametrize("value", ["abc", "-1", "0", "99999", "1.5"])
def test_bad_seconds(live, kind, value):
    assert_go_error(live.get(f"{kind}?seconds={value}"), 400, BAD_SECONDS)


def test_seconds_with_debug(live):
    r = live.get("heap?seconds=1&debug=1")
    assert_go_error(r, 400, "seconds and debug params are incompatible")


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_method_not_allowed(live, method):
    r = live.get("heap", method=method, data=b"x" if method in ("PUT", "PATCH") else None)
    assert r.status == 405, r.describe()


def test_post_only_for_symbol(live):
    r = live.get("heap", method="POST", data=b"x")
    assert r.status == 405, r.describe()


def test_symbol_body_too_large(live):
    r = live.get("symbol", method="POST", data=b"0x1+" * 40000)  # 160 KB > 64 KiB
    assert r.status == 413, r.describe()
    assert_serving(live)


# ---------------------------------------------------------------------------
# Malformed requests over raw sockets


def test_garbage_bytes(live):
    got, how = raw_exchange(live.port, bytes(range(256)) * 4 + b"\r\n\r\n")
    assert how in ("closed", "reset"), (how, got[:300])
    if got:
        assert 400 <= (status_of(got) or 0) < 500, got[:300]
    assert_serving(live)


def test_request_line_without_version(live):
    got, how = raw_exchange(live.port, b"GET /debug/pprof/heap\r\n\r\n")
    assert how in ("closed", "reset"), (how, got[:300])
    if got:
        assert 400 <= (status_of(got) or 0) < 600, got[:300]
        assert b"\x1f\x8b" not in got, "a heap profile answered an HTTP/0.9 request"
    assert_serving(live)


def test_huge_header(live):
    request = (b"GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000
               + b"\r\n\r\n")
    got, how = raw_exchange(live.port, request)
    assert how in ("closed", "reset"), (how, got[:300])
    # An error answer (413/431/400), never the page.
    assert got == b"" or 400 <= (status_of(got) or 0) < 500, got[:300]
    assert_serving(live)


def test_stalled_client_does_not_block_others(live):
    stalled = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    try:
        stalled.sendall(b"GET /debug/pprof/cmdline HTTP/1.1\r\nHost: x\r\nX-Half: ")
        time.sleep(0.5)
        for _ in range(5):
            assert_serving(live)
        r = live.get("heap", timeout=30)
        assert r.status == 200 and is_profile(r.body), r.describe()
    finally:
        stalled.close()
    assert_serving(live)


def test_disconnect_during_cpu_profile(live):
    s = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    s.sendall(b"GET /debug/pprof/profile?seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1)
    s.close()
    assert_serving(live)
    # The abandoned window is given up (or at most runs out): CPU profiles
    # can be taken again.
    deadline = time.monotonic() + 30
    while True:
        r = live.get("profile?seconds=1")
        if r.status == 200 or time.monotonic() > deadline:
            break
        assert_go_error(r, 500, CPU_IN_USE)
        time.sleep(0.5)
    assert r.status == 200 and is_profile(r.body), r.describe()


def test_disconnect_during_delta(live):
    s = socket.create_connection(("127.0.0.1", live.port), timeout=30)
    s.sendall(b"GET /debug/pprof/allocs?seconds=5 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(1)
    s.close()
    assert_serving(live)


def test_program_unharmed(live):
    """Last in this module: after all the above, the program's own work goes
    on and SIGTERM ends it normally, with its profiles written."""
    live.assert_progressing()
    run, _ = live.assert_normal_exit(expect=("cpu", "heap", "allocs", "mutex", "block"))
    assert not run.ppagent_lines, run.describe()


# ---------------------------------------------------------------------------
# Profiles that are not enabled


@pytest.mark.parametrize("kind,variable", [("mutex", "PPROF_MUTEX_FRACTION"),
                                           ("block", "PPROF_BLOCK_RATE")])
def test_profile_not_enabled(h, kind, variable):
    live = LiveServer(h)
    try:
        r = live.get(kind)
        assert r.status >= 400, r.describe()
        assert r.headers.get("x-go-pprof") == "1", r.describe()
        assert r.headers.get("content-type") == GO_ERROR_TYPE, r.describe()
        assert variable in r.text, r.describe()
        # The reader shows the message.
        p = h.pprof(["-top"], live.url(kind), check=False)
        assert p.returncode != 0 and variable in p.stderr, p.stderr
        # Other profiles are served.
        r = live.get("heap")
        assert r.status == 200 and is_profile(r.body), r.describe()
    finally:
        live.stop()
    live.assert_normal_exit()
