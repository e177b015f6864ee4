"""Helpers of the /debug/pprof endpoint tests (test_http*.py): the live_server
workload started under the agent with PPROF_HTTP on a free loopback port, and
plain HTTP clients (urllib for well-formed requests, raw sockets for the rest)."""

import gzip
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from conftest import Proc, clean_env

# Thread names the workload gives its threads (the main thread keeps the
# program's name). No other thread may ever appear in a profile.
WORKLOAD_THREADS = {"live_server", "burn-alpha", "burn-beta", "keeper", "locker-0", "locker-1",
                    "locker-2", "sleeper", "spawner", "spawned"}

# Every contention event and every wait recorded (mutex and block profiles on).
CONTENTION_ON = {"PPROF_MUTEX_FRACTION": 1, "PPROF_BLOCK_RATE": 1}


def free_port():
    """A loopback port nothing listens on: bound to port 0, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict  # lower-case name -> value
    body: bytes

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def describe(self):
        return f"status {self.status}, headers {self.headers}, body {self.body[:500]!r}"


def http(url, *, method="GET", data=None, headers=None, timeout=60):
    """One request; any status is returned, not raised."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def raw_exchange(port, data, *, timeout=15):
    """Send raw bytes, then read until the server closes or `timeout`
    passes. Returns (bytes received, how it ended: "closed", "reset" or
    "timeout"). A server that answers a bad request closes the connection."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading (e.g. a header too large); read its answer
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return got, "timeout"
            except ConnectionResetError:
                return got, "reset"
            if not chunk:
                return got, "closed"
            got += chunk
        return got, "timeout"


def exit_files(outdir, program, pid):
    """{"cpu": path, "heap": ..., "mutex": ...} of the files written at exit."""
    rx = re.compile(rf"{re.escape(program)}\.{pid}\.(cpu|heap|allocs|mutex|block)\.pb\.gz")
    return {m.group(1): p for p in Path(outdir).iterdir() if (m := rx.fullmatch(p.name))}


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def is_profile(body):
    return body[:2] == b"\x1f\x8b"


def parse_profile(pb, body):
    prof = pb.Profile()
    prof.ParseFromString(gzip.decompress(body))
    return prof


class LiveServer:
    """live_server under the agent, serving /debug/pprof on a free port."""

    def __init__(self, h, *, env=None, via_launcher=False):
        self.h = h
        self.port = free_port()
        self.outdir = h.tmpdir("out")
        self.progress_file = self.outdir / "progress.txt"
        self.program = h.workload("live_server")
        argv = [self.program, "--progress", self.progress_file]
        e = {"PPROF_HTTP": f"127.0.0.1:{self.port}", **(env or {})}
        if not via_launcher:
            self.proc = h.start(argv, outdir=self.outdir, cwd=self.outdir, env=e)
        else:
            # `ppagent run --http ...`: the launcher preloads the agent and sets
            # PPROF_HTTP for the program.
            penv = clean_env()
            penv.update({k: str(v) for k, v in (env or {}).items()})
            self.proc = Proc([h.launcher, "run", "-o", self.outdir, "--http",
                              f"127.0.0.1:{self.port}", "--", *argv],
                             penv, self.outdir, self.outdir, h.logdir)
        self.run = None
        self.proc.wait_for_stdout("ready")
        self.wait_listening()

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}/debug/pprof/"

    def url(self, name):
        return self.base + name

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.popen.poll() is None, (
                f"the program ended while waiting for port {self.port}: "
                f"{self.proc.err_path.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(
            f"nothing listens on 127.0.0.1:{self.port} after {timeout}s; stderr: "
            f"{self.proc.err_path.read_text(errors='replace')}")

    def get(self, name, **kw):
        return http(self.url(name), **kw)

    def progress(self):
        text = self.progress_file.read_text().strip()
        return int(text) if text else 0

    def assert_progressing(self, timeout=20):
        """The program's own work goes on: its counter moves."""
        before = self.progress()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.progress() > before:
                return
            time.sleep(0.05)
        raise AssertionError(f"the program's progress stayed at {before} for {timeout}s")

    def stop(self, timeout=60):
        """SIGTERM; the program must end as it does without the agent."""
        if self.run is None:
            self.proc.signal(signal.SIGTERM)
            self.run = self.proc.finish(timeout)
        return self.run

    def assert_normal_exit(self, *, expect=("cpu", "heap", "allocs")):
        run = self.stop()
        assert run.returncode == 0, run.describe()
        assert run.stdout == "ready\nbye\n", run.describe()
        pid = self.proc.pid
        if Path(run.argv[0]).name == "ppagent":
            # The launcher's pid is not the program's: find the program's files.
            names = [p.name for p in self.outdir.glob("live_server.*.cpu.pb.gz")]
            assert len(names) == 1, run.describe()
            pid = int(names[0].split(".")[1])
        files = exit_files(self.outdir, "live_server", pid)
        for kind in expect:
            assert kind in files, f"no {kind} profile written at exit\n" + run.describe()
            self.h.decode(files[kind])  # gzip of a parseable Profile
        return run, files
