"""Issue 6, point 8 (real programs): programs from Debian's packages used for
real under the agent, each with its own load:

- nginx, master and workers (fork without exec), in the foreground and as a
  daemon, serving files to N requests and stopped by SIGQUIT / `nginx -s quit`;
- sqlite3 running a query over a generated database (and a failing one);
- Debian's /usr/bin/python3 running a script that works, and one that starts
  children by fork+exec (subprocess) and by fork alone (multiprocessing);
- perl running a script.

Each must give the same output and exit status as without the agent, and every
process that ran must leave a valid cpu, heap and allocs profile named with its
own pid (checked by both readers, including `go tool pprof -raw`), with samples
where the program clearly worked and function names resolved from the
program's own code. Processes profiled and files checked are printed (-s).
"""

import gzip
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import clean_env, wait_for_file
from real_programs import (TALLY, all_names, check_process_profiles, cpu_samples,
                           profile_pids)

NGINX = "/usr/sbin/nginx"
SQLITE3 = "/usr/bin/sqlite3"
PYTHON3 = "/usr/bin/python3"  # Debian's, not a pyenv shim on PATH
PERL = "/usr/bin/perl"
RATE = 65536  # PPROF_MEM_RATE: short runs still get heap samples


@pytest.fixture(scope="module", autouse=True)
def report_figures():
    yield
    print(f"\nreal programs: {TALLY['processes profiled']} processes profiled, "
          f"{TALLY['files checked']} profile files checked with go tool pprof -raw, "
          f"{TALLY['files lost']} lost or corrupt")


def need(path):
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not installed (scripts/install-deps.sh installs it)")


def compare_runs(h, argv, *, cwd, env=None, timeout=120):
    """Runs argv without and with the agent; asserts the same stdout, stderr
    and exit status. Returns the run under the agent."""
    plain = h.run(argv, agent=False, cwd=cwd, env=env, timeout=timeout)
    out = h.tmpdir("out")
    agent_env = dict(env or {}, PPROF_MEM_RATE=RATE)
    profiled = h.run(argv, outdir=out, cwd=cwd, env=agent_env, timeout=timeout)
    assert (profiled.returncode, profiled.stdout, profiled.stderr) == (
        plain.returncode, plain.stdout, plain.stderr), (
        f"without the agent:\n{plain.describe()}\n\nwith the agent:\n{profiled.describe()}")
    return profiled


def only_process(out, program, pid):
    by_pid, others = profile_pids(out, program)
    assert not others, f"unexpected files in {out}: {others}"
    assert sorted(by_pid) == [pid], f"profiles of pids {sorted(by_pid)}, expected only {pid}"
    return by_pid[pid]


# ---------------------------------------------------------------------------
# nginx


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def public_dir():
    """A directory under /tmp that nginx's workers (user nobody) can enter:
    pytest's own temporary directories are private to root (mode 0700)."""
    d = Path(tempfile.mkdtemp(prefix="ppagent-real-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def nginx_prefix(base, *, daemon, workers):
    """A prefix directory with a config that keeps everything (pid, logs,
    temp paths) inside it, and a document root with known files."""
    d = base / "nginx"
    d.mkdir()
    (d / "www").mkdir()
    (d / "tmp").mkdir()
    (d / "www" / "index.html").write_text("<html>ppagent real-program test</html>\n")
    # Not compressible: gzip works hard on every request.
    (d / "www" / "blob.bin").write_bytes(os.urandom(256 * 1024))
    port = free_port()
    # reuseport: the kernel spreads connections over the workers, so every
    # worker serves requests.
    (d / "nginx.conf").write_text(f"""
worker_processes {workers};
daemon {'on' if daemon else 'off'};
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port} reuseport;
    root {d}/www;
    gzip on;
    gzip_types *;
    gzip_min_length 1;
  }}
}}
""")
    return d, port


def nginx_argv(d, *extra):
    return [NGINX, "-p", d, "-c", d / "nginx.conf", "-e", d / "error.log", *extra]


def get(port, path, gz):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip" if gz else "identity",
                                           "Connection": "close"})
        r = conn.getresponse()
        body = r.read()
        return r.status, r.getheader("Content-Encoding"), body
    finally:
        conn.close()


def wait_serving(port, alive, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert alive(), "nginx ended before it served"
        try:
            if get(port, "/index.html", False)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"nginx on port {port} did not serve within {timeout}s")


def drive_nginx(d, port, requests):
    """`requests` requests, each on its own connection: most gzip'd blob.bin,
    some plain; every answer must be exactly the file's bytes."""
    blob = (d / "www" / "blob.bin").read_bytes()
    index = (d / "www" / "index.html").read_bytes()
    for i in range(requests):
        if i % 10 == 9:
            status, enc, body = get(port, "/index.html", False)
            assert (status, enc, body) == (200, None, index), (status, enc, body[:100])
        else:
            gz = i % 10 != 8
            status, enc, body = get(port, "/blob.bin", gz)
            assert status == 200 and enc == ("gzip" if gz else None), (status, enc)
            assert (gzip.decompress(body) if gz else body) == blob, f"request {i}: wrong bytes"


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    kids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(p.name))
    return sorted(kids)


def logged_workers(d):
    """Worker pids the master logged as started, and as exited with code 0."""
    log = (d / "error.log").read_text(errors="replace")
    started = sorted(int(x) for x in re.findall(r"start worker process ([0-9]+)", log))
    exited = sorted(int(x) for x in re.findall(r"worker process ([0-9]+) exited with code 0", log))
    return started, exited, log


def world_writable_outdir(base):
    # nginx's workers drop root for user nobody: they can write their profiles
    # only into a directory they may write to (as /tmp is).
    out = base / "out"
    out.mkdir()
    out.chmod(0o1777)
    return out


def describe_stacks(views):
    """Each profile's samples as mapping:function frames, for failure messages."""
    parts = []
    for kind, v in views.items():
        maps = {m.id: os.path.basename(v.str(m.filename)) for m in v.p.mapping}
        for s in v.p.sample[:5]:
            frames = []
            for lid in s.location_id:
                loc = v.locations[lid]
                names = [ln[0] for ln in v.lines(loc) if ln[0]] or [hex(loc.address)]
                frames.append(f"{maps.get(loc.mapping_id, '?')}:{'/'.join(names)}")
            parts.append(f"{kind} {list(s.value)}: " + " < ".join(frames))
    return "\n".join(parts)


def check_nginx_profiles(h, out, pids, workers, dumps=0):
    """Every pid in `pids` left valid profiles (and those of `dumps` dumps)
    and nobody else did; the workers show nginx's own code and the work they
    did (gzip)."""
    by_pid, others = profile_pids(out, "nginx")
    assert not others, f"unexpected files in {out}: {others}"
    missing = sorted(set(pids) - set(by_pid))
    TALLY["files lost"] += 3 * len(missing)
    assert not missing, f"no profiles from nginx pids {missing}; files from {sorted(by_pid)}"
    assert sorted(by_pid) == sorted(pids), f"profiles from {sorted(by_pid)}, ran {sorted(pids)}"
    worker_cpu = 0
    for pid in sorted(pids):
        views = check_process_profiles(h, by_pid[pid], binary="nginx", rate=RATE, dumps=dumps)
        names = all_names(views, ("nginx",))
        # A daemon's idle master may have no sample at all (a forked child
        # starts without its parent's past); any stack it has names nginx.
        if pid in workers or any(v.p.sample for v in views.values()):
            assert any(n.startswith("ngx_") for n in names), (
                f"nginx {pid}: no ngx_ function named in its stacks: {sorted(names)}; "
                + describe_stacks(views))
        if pid in workers:
            n = cpu_samples(views["cpu"])
            worker_cpu += n
            assert n > 0, f"worker {pid} served gzip'd requests but has no CPU samples"
            libz = all_names({"cpu": views["cpu"]}, ("libz.so",))
            assert libz, f"worker {pid}: no libz function in its CPU profile"
    return worker_cpu


@pytest.mark.timeout(180)
@pytest.mark.parametrize("stop", [signal.SIGQUIT, signal.SIGTERM], ids=["SIGQUIT", "SIGTERM"])
def test_nginx_master_and_workers(h, public_dir, stop):
    """Stopped by SIGQUIT (graceful: workers finish their requests) or
    SIGTERM (fast shutdown). nginx uses SIGUSR2 itself, so the dump signal is
    one it leaves alone; every process is dumped once in the middle of the
    load."""
    need(NGINX)
    workers_wanted = 2
    d, port = nginx_prefix(public_dir, daemon=False, workers=workers_wanted)
    out = world_writable_outdir(public_dir)
    p = h.start(nginx_argv(d), outdir=out, cwd=d,
                env={"PPROF_MEM_RATE": RATE, "PPROF_DUMP_SIGNAL": "SIGRTMIN+5"})
    try:
        wait_serving(port, lambda: p.popen.poll() is None)
        workers = children_of(p.pid)
        assert len(workers) == workers_wanted, f"workers of {p.pid}: {workers}"
        drive_nginx(d, port, 150)
        for pid in [p.pid, *workers]:
            os.kill(pid, signal.SIGRTMIN + 5)
        for pid in [p.pid, *workers]:
            for kind in ("heap", "allocs", "threads", "threadcreate"):
                wait_for_file(out / f"nginx.{pid}.{kind}.1.pb.gz", proc=p)
        drive_nginx(d, port, 150)
        p.signal(stop)
    finally:
        if p.popen.poll() is None:
            try:
                p.signal(signal.SIGQUIT)
            except ProcessLookupError:
                pass
    r = p.finish(60)
    assert r.returncode == 0, r.describe()
    started, exited, log = logged_workers(d)
    assert started == workers == exited, f"workers {workers}; log:\n{log}"
    assert not re.search(r"\[(alert|crit|emerg)\]", log), log
    assert not r.ppagent_lines, r.describe()
    worker_cpu = check_nginx_profiles(h, out, [p.pid, *workers], workers, dumps=1)
    print(f"\nnginx foreground, {stop.name}: master {p.pid}, workers {workers}, "
          f"{worker_cpu} worker CPU samples, {7 * (1 + len(workers))} files valid")


def process_gone(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


@pytest.mark.timeout(180)
def test_nginx_daemon(h, public_dir):
    """nginx as a real daemon: the started process forks the master and
    exits; the master (setsid) forks the workers; `nginx -s quit` stops it."""
    need(NGINX)
    d, port = nginx_prefix(public_dir, daemon=True, workers=2)
    out = world_writable_outdir(public_dir)
    starter = h.run(nginx_argv(d), outdir=out, cwd=d, env={"PPROF_MEM_RATE": RATE},
                    timeout=60)
    assert starter.returncode == 0, starter.describe()
    master = int((d / "nginx.pid").read_text())
    assert master != starter.pid
    try:
        wait_serving(port, lambda: not process_gone(master))
        workers = children_of(master)
        assert len(workers) == 2, f"workers of {master}: {workers}"
        drive_nginx(d, port, 200)
    finally:
        # The stop command is another nginx process, not profiled.
        q = h.run(nginx_argv(d, "-s", "quit"), agent=False, cwd=d, timeout=60)
    assert q.returncode == 0, q.describe()
    deadline = time.monotonic() + 60
    while not process_gone(master) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_gone(master), f"nginx master {master} still running after -s quit"
    started, exited, log = logged_workers(d)
    assert started == workers == exited, f"workers {workers}; log:\n{log}"
    assert not re.search(r"\[(alert|crit|emerg)\]", log), log
    # nginx installs its own SIGUSR2 handler (binary upgrade): the agent steps
    # aside for dumps by that signal and says so (on the starter's stderr: the
    # daemon's goes to /dev/null); nothing else.
    assert all("dump signal" in l for l in starter.ppagent_lines), starter.describe()
    worker_cpu = check_nginx_profiles(h, out, [starter.pid, master, *workers], workers)
    print(f"\nnginx daemon: starter {starter.pid}, master {master}, workers {workers}, "
          f"{worker_cpu} worker CPU samples")


# ---------------------------------------------------------------------------
# sqlite3

SQL_SETUP = """
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT, region TEXT);
CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, amount INTEGER, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO customers SELECT i, 'customer' || i, 'region' || (i % 7) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO orders SELECT i, (i * 7919) % 2000 + 1, (i * 104729) % 1000, hex(i * 31) FROM n;
"""

SQL_QUERY = """
.mode list
SELECT c.region, count(*), sum(o.amount), max(length(o.note)), min(o.note)
  FROM orders o JOIN customers c ON c.id = o.customer
  GROUP BY c.region ORDER BY c.region;
SELECT count(DISTINCT amount * customer % 9973) FROM orders;
SELECT name FROM customers WHERE id IN
  (SELECT customer FROM orders GROUP BY customer ORDER BY sum(amount) DESC, customer LIMIT 3);
"""


@pytest.mark.timeout(180)
def test_sqlite3_query(h):
    need(SQLITE3)
    d = h.tmpdir("sqlite")
    db = d / "shop.db"
    subprocess.run([SQLITE3, db], input=SQL_SETUP, text=True, check=True, env=clean_env())
    (d / "query.sql").write_text(SQL_QUERY)
    r = compare_runs(h, [SQLITE3, "-init", d / "query.sql", db, ".quit"], cwd=d)
    assert r.returncode == 0, r.describe()
    lines = r.stdout.splitlines()
    assert len(lines) == 7 + 1 + 3 and lines[0].startswith("region0|"), r.stdout
    assert not r.ppagent_lines, r.describe()
    views = check_process_profiles(h, only_process(r.outdir, "sqlite3", r.pid),
                                   binary="sqlite3", rate=RATE, min_cpu_samples=1)
    names = all_names({"cpu": views["cpu"]}, ("libsqlite3.so",))
    assert any(n.startswith("sqlite3_") for n in names), (
        f"no sqlite3_ function of libsqlite3 named in the CPU profile: {sorted(names)}")
    print(f"\nsqlite3: pid {r.pid}, {cpu_samples(views['cpu'])} CPU samples, "
          f"libsqlite3 names {sorted(names)[:5]}")

    # A failing statement: same message, same exit status.
    bad = compare_runs(h, [SQLITE3, db, "SELECT * FROM no_such_table;"], cwd=d)
    assert bad.returncode == 1 and "no such table" in bad.stderr, bad.describe()
    check_process_profiles(h, only_process(bad.outdir, "sqlite3", bad.pid),
                           binary="sqlite3", rate=RATE)


# ---------------------------------------------------------------------------
# python3

PY_WORK = r"""
import hashlib, json, sys, zlib
def sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytearray(len(flags[i * i::i]))
    return [i for i, f in enumerate(flags) if f]
primes = sieve(3_000_000)
words = {}
for i in range(300_000):
    w = format(i * 2654435761 % 1000003, "x")[:3]
    words[w] = words.get(w, 0) + 1
top = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
blob = json.dumps({"primes": primes[-10:], "top": top}, sort_keys=True).encode()
print(len(primes), primes[-1], top)
print(hashlib.sha256(zlib.compress(blob * 1000)).hexdigest())
sys.exit(3)
"""


def python_names(views):
    # /usr/bin/python3 is a symlink to python3.11: the interpreter's own code.
    return all_names(views, ("python3",))


@pytest.mark.timeout(180)
def test_python3_script(h):
    need(PYTHON3)
    d = h.tmpdir("py")
    (d / "work.py").write_text(PY_WORK)
    binary = os.path.basename(os.path.realpath(PYTHON3))
    r = compare_runs(h, [PYTHON3, d / "work.py"], cwd=d)
    assert r.returncode == 3 and r.stdout.startswith("216816 2999999 "), r.describe()
    assert not r.ppagent_lines, r.describe()
    views = check_process_profiles(h, only_process(r.outdir, "python3", r.pid),
                                   binary=binary, rate=RATE, min_cpu_samples=1)
    names = python_names(views)
    assert "_PyEval_EvalFrameDefault" in names, sorted(names)[:50]
    assert views["allocs"].heap_totals()["alloc_space"] > 0
    print(f"\npython3: pid {r.pid}, {cpu_samples(views['cpu'])} CPU samples")


PY_SPAWN = r"""
import multiprocessing, os, subprocess, sys
CHILD = "import sys; print(sum(i * i for i in range(%d)))"
def square_sum(queue, n):
    queue.put((n, sum(i * i for i in range(n))))
if __name__ == "__main__":
    pids = []
    for n in (200_000, 300_000, 400_000):
        c = subprocess.Popen([sys.executable, "-c", CHILD % n], stdout=subprocess.PIPE, text=True)
        out, _ = c.communicate()
        pids.append(c.pid)
        print("exec child", c.returncode, out.strip())
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=square_sum, args=(queue, n)) for n in (500_000, 600_000, 700_000)]
    for p in procs:
        p.start()
    results = sorted(queue.get() for _ in procs)
    for p in procs:
        p.join()
        pids.append(p.pid)
        print("fork child", p.exitcode)
    for n, s in results:
        print("fork result", n, s)
    sys.stderr.write("pids " + " ".join(map(str, pids)) + "\n")
"""


@pytest.mark.timeout(180)
def test_python3_subprocesses(h):
    """Children started by fork+exec (subprocess) and by fork alone
    (multiprocessing's fork context, whose children end with os._exit) each
    leave their own valid profiles."""
    need(PYTHON3)
    d = h.tmpdir("pyspawn")
    (d / "spawn.py").write_text(PY_SPAWN)
    binary = os.path.basename(os.path.realpath(PYTHON3))
    out = h.tmpdir("out")
    plain = h.run([PYTHON3, d / "spawn.py"], agent=False, cwd=d)
    r = h.run([PYTHON3, d / "spawn.py"], outdir=out, cwd=d, env={"PPROF_MEM_RATE": RATE})
    assert (r.returncode, r.stdout) == (plain.returncode, plain.stdout), (
        f"{plain.describe()}\n\n{r.describe()}")
    assert r.returncode == 0, r.describe()
    assert r.stdout.count("exec child 0 ") == 3 and r.stdout.count("fork child 0") == 3, r.stdout
    m = re.search(r"^pids ([0-9 ]+)$", r.stderr, re.M)
    assert m, r.describe()
    children = [int(x) for x in m.group(1).split()]
    assert len(set(children)) == 6, children
    assert not r.ppagent_lines, r.describe()
    by_pid, others = profile_pids(out, "python3")
    assert not others, f"unexpected files in {out}: {others}"
    ran = {r.pid, *children}
    missing = sorted(ran - set(by_pid))
    TALLY["files lost"] += 3 * len(missing)
    assert not missing, f"no profiles from pids {missing}; files from {sorted(by_pid)}"
    assert set(by_pid) == ran, f"profiles from {sorted(by_pid)}, ran {sorted(ran)}"
    for pid in sorted(by_pid):
        views = check_process_profiles(h, by_pid[pid], binary=binary, rate=RATE)
        names = python_names(views)
        assert "_PyEval_EvalFrameDefault" in names, (pid, sorted(names)[:50])
    # The forked children computed for a while: their own CPU samples.
    forked_cpu = sum(cpu_samples(h.decode(by_pid[pid]["cpu"])) for pid in children[3:])
    assert forked_cpu > 0, "forked children computed but have no CPU samples"
    print(f"\npython3 subprocesses: parent {r.pid}, exec'd {children[:3]}, "
          f"forked {children[3:]} ({forked_cpu} CPU samples): {len(by_pid)} processes")


# ---------------------------------------------------------------------------
# perl

PERL_WORK = r"""
use strict; use warnings;
my %count;
for my $i (1 .. 400_000) {
    my $w = sprintf("%x", ($i * 2654435761) % 1000003);
    $count{substr($w, 0, 3)}++;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
my $text = join(",", map { "$_=$count{$_}" } @top);
(my $copy = $text x 2000) =~ s/([0-9a-f]+)=([0-9]+)/$2:$1/g;
print scalar(keys %count), " $text ", length($copy), "\n";
exit 5;
"""


@pytest.mark.timeout(180)
def test_perl_script(h):
    need(PERL)
    d = h.tmpdir("perl")
    (d / "work.pl").write_text(PERL_WORK)
    r = compare_runs(h, [PERL, d / "work.pl"], cwd=d)
    assert r.returncode == 5 and re.match(r"^[0-9]{4} ([0-9a-f]+=[0-9]+,){4}", r.stdout), (
        r.describe())
    assert not r.ppagent_lines, r.describe()
    views = check_process_profiles(h, only_process(r.outdir, "perl", r.pid),
                                   binary="perl", rate=RATE, min_cpu_samples=1)
    names = all_names(views, ("perl",))
    assert "Perl_runops_standard" in names, sorted(names)[:50]
    print(f"\nperl: pid {r.pid}, {cpu_samples(views['cpu'])} CPU samples")
