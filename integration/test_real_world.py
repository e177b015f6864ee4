"""Real programs from Debian's packages, nobody here wrote, run under the agent
in two ways, each compared with a run of the same command without it:

- "defaults": plain LD_PRELOAD with the agent's defaults (CPU at 100 Hz, heap
  at 524288 bytes; mutex and block off), only PPROF_OUTPUT_DIR set;
- "all": `ppagent run --mutex-fraction 1 --block-rate 10000 --mem-rate 16384`,
  every profile on (the lower heap rate gives every process that allocates a
  few hundred KiB heap samples, i.e. stacks through its own code).

Programs: curl (file:// and http://), openssl (dgst, enc with PBKDF2),
ssh-keygen, node, clang++ and g++ compiling a template-heavy C++ file,
Debian's python3 (threads contending on the GIL), perl, sqlite3, git (a
script: init, commits, log, gc), postgres under pgbench (postmaster, its
backends and helper processes), redis-server under redis-benchmark (jemalloc).

For each: the same stdout and exit status as without the agent (only what
legitimately differs per run is normalised, said where it is done); every
process left exactly one set of profiles `<prog>.<pid>.<kind>.pb.gz` and each
file is read by `go tool pprof -raw` (and the protobuf reader, with the
harness's shape checks); and names: every location in an object without debug
information is named after the ELF symbol covering it or left unnamed when
none does (elf_names.py), the objects that make up the program have named
functions, and where the program worked enough a known hot function is on
the stacks of most CPU samples. What "own functions" means for each program
is said at its test, from what its files carry (readelf --dyn-syms / -S).

Run time of the whole file: README.md ("Real programs").
"""

import base64
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, clean_env
from elf_names import NameReport, check_names, parse_raw
from test_mutex_block import assert_valid_contention_profile
from test_real_programs import SQL_QUERY, SQL_SETUP, free_port, need

MODES = ("defaults", "all")
DEFAULT_RATE = 524288
ALL_RATE = 16384
ALL_FLAGS = ("--mutex-fraction", "1", "--block-rate", "10000", "--mem-rate", str(ALL_RATE))
TEMPLATE_CC = REPO / "bench" / "template_heavy.cc"  # shared with bench/run_real_bench.py

CURL = "/usr/bin/curl"
OPENSSL = "/usr/bin/openssl"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
CLANGXX = "/usr/bin/clang++"
GXX = "/usr/bin/g++"
PYTHON3 = "/usr/bin/python3"
PERL = "/usr/bin/perl"
SQLITE3 = "/usr/bin/sqlite3"
GIT = "/usr/bin/git"
SH = "/bin/sh"
PGBIN = Path("/usr/lib/postgresql/15/bin")
REDIS = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
REDIS_BENCH = "/usr/bin/redis-benchmark"


def node_path():
    # /usr/bin/node here (NodeSource's build); Debian's nodejs package elsewhere.
    return shutil.which("node", path="/usr/local/bin:/usr/bin:/bin") or "/usr/bin/nodejs"


def binary_of(path):
    """Base name of the file a command really runs (what the profile's first
    mapping names): /usr/bin/python3 -> python3.11."""
    return os.path.basename(os.path.realpath(path))


def kinds(mode):
    return {"cpu", "heap", "allocs"} | ({"mutex", "block"} if mode == "all" else set())


def mem_rate(mode):
    return DEFAULT_RATE if mode == "defaults" else ALL_RATE


def status(run):
    """Exit status as a shell shows it: 128+N for death by signal N (the
    launcher's own convention, so both modes compare alike)."""
    return run.returncode if run.returncode >= 0 else 128 - run.returncode


# ---------------------------------------------------------------------------
# Running a command without and with the agent


def start(h, mode, argv, *, out, cwd, env=None, preexec_fn=None, launcher=None):
    """Starts argv under the agent in `mode` (None: without it)."""
    if mode is None:
        return h.start(argv, agent=False, cwd=cwd, env=env, preexec_fn=preexec_fn)
    if mode == "defaults":
        e = dict(env or {}, LD_PRELOAD=(launcher.parent.parent / "agent" / "libppagent.so")
                 if launcher else h.agent, PPROF_OUTPUT_DIR=out)
        return h.start(argv, agent=False, outdir=out, cwd=cwd, env=e, preexec_fn=preexec_fn)
    return h.start([launcher or h.launcher, "run", *ALL_FLAGS, "-o", out, "--", *argv],
                   agent=False, outdir=out, cwd=cwd, env=env, preexec_fn=preexec_fn)


def describe(run, limit=3000):
    def tail(s):
        return s if len(s) <= limit else f"[... {len(s) - limit} characters ...]" + s[-limit:]
    files = (sorted(p.name for p in run.outdir.iterdir())
             if run.outdir and run.outdir.is_dir() else None)
    return (f"argv={run.argv}\nstatus={status(run)} (returncode {run.returncode})\n"
            f"stdout:\n{tail(run.stdout)}\nstderr:\n{tail(run.stderr)}\nfiles: {files}")


def assert_same(plain, profiled, normalize=None, what=""):
    """Same exit status and stdout (after `normalize`, applied to both)."""
    norm = normalize or (lambda s: s)
    assert (status(profiled), norm(profiled.stdout)) == (status(plain), norm(plain.stdout)), (
        f"{what}: the run under the agent differs from the run without it\n"
        f"--- without the agent:\n{describe(plain)}\n--- with the agent:\n{describe(profiled)}")


@dataclass
class Pair:
    plain: object
    run: object
    out: Path
    plain_dir: Path
    dir: Path


def run_pair(h, mode, make_argv, *, setup=None, env=None, timeout=300, normalize=None,
             what=None):
    """Runs make_argv(workdir) without the agent, then under it, each in a
    fresh working directory prepared by setup(workdir); asserts the same
    status and stdout. Returns the Pair."""
    base = h.tmpdir("case")
    dirs = []
    for name in ("plain", "agent"):
        d = base / name
        d.mkdir()
        if setup:
            setup(d)
        dirs.append(d)
    out = base / "out"
    out.mkdir()
    plain = start(h, None, make_argv(dirs[0]), out=None, cwd=dirs[0], env=env).finish(timeout)
    run = start(h, mode, make_argv(dirs[1]), out=out, cwd=dirs[1], env=env).finish(timeout)
    assert_same(plain, run, normalize, what or " ".join(map(str, make_argv(dirs[1]))))
    return Pair(plain, run, out, dirs[0], dirs[1])


# ---------------------------------------------------------------------------
# The profiles a run left

FILE_NAME = re.compile(r"(?P<program>.+)\.(?P<pid>[0-9]+)\.(?P<kind>[a-z]+)\.pb\.gz")


@dataclass
class Process:
    program: str
    pid: int
    files: dict  # kind -> path
    raw: dict = field(default_factory=dict)  # kind -> elf_names.RawProfile
    names: NameReport = field(default_factory=NameReport)

    def cpu_samples(self):
        return self.raw["cpu"].total("samples/") if "cpu" in self.raw else 0

    def named_in(self, prefix):
        return self.names.named_in(prefix)

    def summary(self):
        objs = ", ".join(f"{os.path.basename(p)} {len(n)}"
                         for p, n in sorted(self.names.named.items()))
        return (f"{self.program}[{self.pid}]: {self.cpu_samples()} CPU samples, "
                f"{sum(len(r.samples) for r in self.raw.values())} samples in "
                f"{len(self.files)} files; named functions: {objs or 'none'}")


def processes(out, mode, runs=()):
    """{pid: Process} of the files in out. Every file is a final profile of a
    kind of this mode, and each process has exactly one file of every kind
    (mutex and block too with every profile on). Under the launcher, the
    "ppagent: wrote" lines of `runs` (the launcher runs that wrote into out)
    list exactly these files."""
    procs = {}
    for p in sorted(Path(out).iterdir()):
        m = FILE_NAME.fullmatch(p.name)
        assert m and m.group("kind") in kinds(mode), (
            f"unexpected file {p.name} in {out}: {sorted(x.name for x in Path(out).iterdir())}")
        pid = int(m.group("pid"))
        proc = procs.setdefault(pid, Process(m.group("program"), pid, {}))
        assert proc.program == m.group("program"), f"pid {pid} has files of two programs"
        proc.files[m.group("kind")] = p
    incomplete = {f"{p.program}.{pid}": sorted(kinds(mode) - set(p.files))
                  for pid, p in procs.items() if set(p.files) != kinds(mode)}
    assert not incomplete, f"processes missing profile kinds: {incomplete}"
    if mode == "all" and runs:
        wrote = {l.split("ppagent: wrote ", 1)[1].strip() for r in runs
                 for l in r.stderr.splitlines() if l.startswith("ppagent: wrote ")}
        files = {str(p.resolve()) for proc in procs.values() for p in proc.files.values()}
        assert wrote == files, (f"the launcher reported {sorted(wrote - files)} not in {out}, "
                                f"and did not report {sorted(files - wrote)}")
    return procs


def analyse(h, procs, mode, binaries):
    """Validates every file of every process (protobuf reader with the
    harness's shape checks; go tool pprof -raw, parsed) and checks its names
    against the ELF symbols (elf_names.check_names). binaries: program name
    -> base name of its executable (the profile's first mapping). Fails on
    any problem in any file; fills each Process's raw and names."""
    unknown = sorted({p.program for p in procs.values()} - set(binaries))
    assert not unknown, f"profiles of unexpected programs {unknown}: {sorted(procs)}"
    h.pb, h.pprof_env()  # created once, before the threads share them
    rate = mem_rate(mode)

    def one(item):
        proc, kind, path = item
        binary = binaries[proc.program]
        if kind == "cpu":
            h.assert_valid_profile(path, program=binary, min_samples=0)
        elif kind in ("heap", "allocs"):
            h.assert_valid_heap_profile(path, kind=kind, rate=rate, program=binary,
                                        min_samples=0)
        else:
            assert_valid_contention_profile(h, path, binary)
        raw = parse_raw(h.pprof_raw(path))
        return proc, kind, raw, check_names(raw, path.name)

    items = [(p, k, f) for p in procs.values() for k, f in sorted(p.files.items())]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, items))
    problems = []
    for proc, kind, raw, rep in results:
        proc.raw[kind] = raw
        proc.names.merge(rep)
        problems += rep.problems
    assert not problems, (f"{len(problems)} wrong or missing names (the ELF symbols of the "
                          f"object say otherwise):\n  " + "\n  ".join(problems[:40]))
    return procs


def profile(h, out, mode, binaries, runs=()):
    return analyse(h, processes(out, mode, runs), mode, binaries)


def the_process(procs, program, pid=None):
    """The one process of `program` (and, when given, its pid)."""
    found = [p for p in procs.values() if p.program == program]
    assert len(found) == 1, (f"expected one {program} process, profiles from "
                             f"{sorted((p.program, p.pid) for p in procs.values())}")
    if pid is not None:
        assert found[0].pid == pid, f"{program}: profiles of pid {found[0].pid}, it ran as {pid}"
    return found[0]


def single(h, pair, mode, program, binary):
    """The run was one process of `program`: its profiles, analysed."""
    procs = profile(h, pair.out, mode, {program: binary}, [pair.run])
    return the_process(procs, program, pair.run.pid if mode == "defaults" else None)


def assert_named(proc, prefix, *, at_least=1):
    names = proc.named_in(prefix)
    assert len(names) >= at_least, (
        f"{proc.program}[{proc.pid}]: {len(names)} functions of {prefix}* named, want at "
        f"least {at_least} ({sorted(names)[:20]}); {proc.summary()}")
    return names


def assert_exe_locations(proc, binary):
    """The executable carries no function symbols worth the name: its mapping
    must still hold the addresses of the stacks that pass through it (main is
    on every full stack); check_names has already failed any name given to
    one of them that no symbol backs."""
    n = proc.names.checked_in(binary)
    assert n > 0, (f"{proc.program}[{proc.pid}]: no location in its executable {binary}; "
                   f"{proc.summary()}")
    return n


def assert_hot(proc, pred, share, what, kind="cpu", value="cpu/", min_samples=10):
    """Functions matching pred are on the stacks of at least `share` of the
    profile's value (pprof's cum), which has at least min_samples samples."""
    raw = proc.raw[kind]
    n = raw.total("samples/" if kind == "cpu" else raw.types[0].split("/")[0] + "/")
    assert n >= min_samples, (f"{proc.program}[{proc.pid}]: {n} {kind} samples, want at least "
                              f"{min_samples} for the hot-function check; {proc.summary()}")
    got = raw.share_with(value, pred)
    assert got >= share, (
        f"{proc.program}[{proc.pid}]: {what} on {got:.0%} of the {kind} profile, want at "
        f"least {share:.0%}; named: {sorted(proc.names.named_in(''))[:40]}")
    return got


def report(what, procs):
    print(f"\n{what}: {len(procs)} processes, "
          f"{sum(len(p.files) for p in procs.values())} files read by go tool pprof -raw")
    for p in sorted(procs.values(), key=lambda p: p.pid)[:12]:
        print("  " + p.summary())


# ---------------------------------------------------------------------------
# curl. /usr/bin/curl has no function symbols (.dynsym: none defined, no
# .symtab): its addresses must stay unnamed. Its work is libcurl's
# (libcurl.so.4 exports the curl_* API): those are its own functions here.

TEXT_SIZE = 4 << 20


def write_text(path, size, seed=1):
    """Deterministic text of `size` bytes: 64 KiB of words from a seeded
    generator, repeated (deflate still has to search its 32 KiB window)."""
    rnd = random.Random(seed)
    chunk = " ".join(f"w{rnd.randrange(100003):x}" for _ in range(11000)).encode()[:65535] + b"\n"
    with open(path, "wb") as f:
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(chunk[:size % len(chunk)])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    write_text(d / "data.txt", TEXT_SIZE)
    write_text(d / "small.txt", 65536, seed=3)
    write_text(d / "big.txt", 64 << 20, seed=2)
    return d


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_curl_file_url(h, mode, data_dir):
    need(CURL)
    pair = run_pair(h, mode, lambda d: [CURL, "-s", f"file://{data_dir}/data.txt", "-o",
                                        "/dev/null", "-w", "%{size_download}\n"])
    assert pair.run.stdout == f"{TEXT_SIZE}\n", describe(pair.run)
    p = single(h, pair, mode, "curl", "curl")
    if mode == "all":
        # The defaults' heap rate (512 KiB) may well take no sample of
        # curl's few allocations and 100 Hz no CPU sample of its 20 ms.
        assert_named(p, "libcurl.so")
        assert_exe_locations(p, "curl")
    report(f"curl file://, {mode}", {p.pid: p})


@pytest.fixture(scope="module")
def http_server(h, data_dir):
    """Debian's python3 serving data_dir over HTTP (not profiled)."""
    port = free_port()
    srv = h.start([PYTHON3, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                   "--directory", data_dir], agent=False, cwd=data_dir)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert srv.popen.poll() is None and time.monotonic() < deadline, (
                f"http.server did not listen: {srv.err_path.read_text()}")
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    srv.signal(signal.SIGTERM)
    srv.finish(30)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_curl_http(h, mode, http_server):
    """64 MiB and 4 MiB over HTTP from a local server: curl's CPU goes to
    receiving, under curl_easy_perform (libcurl)."""
    need(CURL)
    pair = run_pair(h, mode, lambda d: [
        CURL, "-s", "-w", "%{http_code} %{size_download} %{url_effective}\n",
        "-o", "/dev/null", f"{http_server}/big.txt", "-o", "/dev/null",
        f"{http_server}/data.txt"])
    assert pair.run.stdout.splitlines() == [f"200 {64 << 20} {http_server}/big.txt",
                                            f"200 {TEXT_SIZE} {http_server}/data.txt"], (
        describe(pair.run))
    p = single(h, pair, mode, "curl", "curl")
    assert_named(p, "libcurl.so")
    assert_exe_locations(p, "curl")
    report(f"curl http://, {mode}", {p.pid: p})


# ---------------------------------------------------------------------------
# openssl. /usr/bin/openssl has no function symbols: addresses there stay
# unnamed. Its work is libcrypto's (libcrypto.so.3 exports EVP_*, SHA512_*,
# PKCS5_PBKDF2_HMAC, ...; the assembly cores such as
# sha512_block_data_order_avx2 are not exported and stay unnamed, their
# exported callers are named).


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_openssl_dgst_sha512(h, mode, data_dir):
    """SHA-512 of a 4 MiB file, given 48 times (192 MiB hashed, ~0.3 s)."""
    need(OPENSSL)
    files = [str(data_dir / "data.txt")] * 48
    pair = run_pair(h, mode, lambda d: [OPENSSL, "dgst", "-sha512", *files])
    lines = pair.run.stdout.splitlines()
    assert len(lines) == 48 and len(set(lines)) == 1 and lines[0].startswith("SHA2-512("), (
        describe(pair.run))
    p = single(h, pair, mode, "openssl", "openssl")
    assert_named(p, "libcrypto.so")
    assert_exe_locations(p, "openssl")
    share = assert_hot(p, lambda n: n.startswith("SHA512"), 0.5,
                       "SHA512_Update (libcrypto)")
    print(f"\nopenssl dgst: SHA512* on {share:.0%} of the CPU samples")
    report(f"openssl dgst -sha512, {mode}", {p.pid: p})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_openssl_enc_pbkdf2(h, mode, data_dir):
    """64 KiB through AES-256-CBC with a key from 1,000,000
    PBKDF2-HMAC-SHA256 iterations (~0.7 s), fixed salt given with -S (so no
    salt header is written): the output is the same on every run."""
    need(OPENSSL)
    src = data_dir / "small.txt"
    pair = run_pair(h, mode, lambda d: [
        OPENSSL, "enc", "-aes-256-cbc", "-pbkdf2", "-iter", "1000000", "-md", "sha256",
        "-S", "0011223344556677", "-pass", "pass:ppagent", "-in", src, "-a"])
    assert len(base64.b64decode(pair.run.stdout)) == 65536 + 16, describe(pair.run)
    p = single(h, pair, mode, "openssl", "openssl")
    assert_named(p, "libcrypto.so")
    assert_exe_locations(p, "openssl")
    share = assert_hot(p, lambda n: n == "PKCS5_PBKDF2_HMAC", 0.5, "PKCS5_PBKDF2_HMAC")
    print(f"\nopenssl enc: PKCS5_PBKDF2_HMAC on {share:.0%} of the CPU samples")
    report(f"openssl enc -pbkdf2, {mode}", {p.pid: p})


# ---------------------------------------------------------------------------
# ssh-keygen. Its .dynsym defines five functions (mkdtemp, mkstemp, ...,
# from openbsd-compat), no .symtab: nearly all its addresses stay unnamed.
# RSA key generation is libcrypto's (BN_*, RSA_*).


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_ssh_keygen(h, mode):
    need(SSH_KEYGEN)
    # A new key is random: stdout (empty with -q) and status are compared,
    # and the key is checked for what it must be.
    pair = run_pair(h, mode, lambda d: [SSH_KEYGEN, "-q", "-t", "rsa", "-b", "2048", "-N", "",
                                        "-C", "ppagent@test", "-f", d / "key"])
    pub = (pair.dir / "key.pub").read_text()
    assert pub.startswith("ssh-rsa ") and pub.rstrip().endswith(" ppagent@test"), pub
    fp = subprocess.run([SSH_KEYGEN, "-l", "-f", pair.dir / "key.pub"], capture_output=True,
                        text=True, env=clean_env())
    assert re.fullmatch(r"2048 SHA256:\S+ ppagent@test \(RSA\)\n", fp.stdout), fp
    p = single(h, pair, mode, "ssh-keygen", "ssh-keygen")
    if mode == "all":
        assert_named(p, "libcrypto.so")
        assert_exe_locations(p, "ssh-keygen")
    procs = {p.pid: p}
    # Reading a given key gives the same output every time: the public key
    # derived from the private one, and its fingerprint.
    key = pair.plain_dir / "key"
    for args in (["-y", "-f", key], ["-l", "-f", f"{key}.pub"]):
        q = run_pair(h, mode, lambda d: [SSH_KEYGEN, *args])
        assert status(q.run) == 0 and q.run.stdout.strip(), describe(q.run)
        procs.update(profile(h, q.out, mode, {"ssh-keygen": "ssh-keygen"}, [q.run]))
    report(f"ssh-keygen, {mode}", procs)


# ---------------------------------------------------------------------------
# node. /usr/bin/node keeps its .symtab (V8, node, its own OpenSSL) and some
# .debug_info: its functions are named. JIT-compiled JavaScript is in
# anonymous memory (no mapping, nothing to name).

NODE_CPU = r"""
const crypto = require('crypto');
const buf = Buffer.alloc(1 << 20, 7);
const h = crypto.createHash('sha256');
for (let i = 0; i < 384; i++) h.update(buf);
const objs = [];
for (let i = 0; i < 100000; i++) objs.push({id: i, name: 'n' + i, tags: [i % 7, i % 11]});
const s = JSON.stringify(objs);
console.log(h.digest('hex'), s.length, JSON.parse(s).length);
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_node_console_log(h, mode):
    node = node_path()
    need(node)
    pair = run_pair(h, mode, lambda d: [node, "-e", "console.log(1)"])
    assert pair.run.stdout == "1\n", describe(pair.run)
    p = single(h, pair, mode, "node", binary_of(node))
    assert_named(p, binary_of(node), at_least=5)
    report(f"node -e console.log(1), {mode}", {p.pid: p})


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_node_cpu_script(h, mode):
    """384 MiB through SHA-256 (node's own OpenSSL, in its binary) and JSON
    of 100,000 objects: ~0.6 s of CPU."""
    node = node_path()
    need(node)
    pair = run_pair(h, mode, lambda d: [node, d / "work.js"],
                    setup=lambda d: (d / "work.js").write_text(NODE_CPU))
    assert re.fullmatch(r"[0-9a-f]{64} [0-9]+ 100000\n", pair.run.stdout), describe(pair.run)
    p = single(h, pair, mode, "node", binary_of(node))
    assert_named(p, binary_of(node), at_least=20)
    # ~28% on a CPU with SHA extensions (sha256_block_data_order_shaext,
    # 1.6 GB/s), more without them.
    share = assert_hot(p, lambda n: "sha256" in n.lower(), 0.15, "SHA-256 (node's OpenSSL)")
    print(f"\nnode: SHA-256 functions on {share:.0%} of the CPU samples")
    report(f"node script, {mode}", {p.pid: p})


# ---------------------------------------------------------------------------
# C++ compilers on bench/template_heavy.cc (a few seconds at -O1).
# clang++: /usr/lib/llvm-14/bin/clang exports 19 functions; the compiler is
# libclang-cpp.so.14 and libLLVM-14.so.1, which export their C++ functions
# (.dynsym): those are its own functions. The driver runs cc1 in-process
# (one process). g++: three processes, the driver (g++), cc1plus (exports
# ~29,000 functions in .dynsym: the compiler) and as (exports only obstack
# helpers; its work is libbfd's).

CXXFLAGS = ["-std=c++17", "-O1", "-c"]


def same_object_files(pair):
    a, b = (pair.plain_dir / "t.o").read_bytes(), (pair.dir / "t.o").read_bytes()
    assert a == b, f"the object files differ ({len(a)} and {len(b)} bytes)"


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", MODES)
def test_clangxx_compile(h, mode):
    need(CLANGXX)
    pair = run_pair(h, mode, lambda d: [CLANGXX, *CXXFLAGS, TEMPLATE_CC, "-o", d / "t.o"],
                    timeout=600)
    same_object_files(pair)
    p = single(h, pair, mode, "clang++", "clang")
    assert_named(p, "libclang-cpp.so", at_least=20)
    assert_named(p, "libLLVM-14.so", at_least=20)
    share = assert_hot(p, lambda n: n.startswith("clang::Sema::"), 0.2, "clang::Sema::*")
    print(f"\nclang++: clang::Sema::* on {share:.0%} of the CPU samples")
    report(f"clang++ -O1, {mode}", {p.pid: p})


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", MODES)
def test_gxx_compile(h, mode):
    need(GXX)
    pair = run_pair(h, mode, lambda d: [GXX, *CXXFLAGS, TEMPLATE_CC, "-o", d / "t.o"],
                    timeout=600)
    same_object_files(pair)
    procs = profile(h, pair.out, mode, {"g++": binary_of(GXX), "cc1plus": "cc1plus",
                                        "as": binary_of("/usr/bin/as")}, [pair.run])
    driver = the_process(procs, "g++", pair.run.pid if mode == "defaults" else None)
    cc1 = the_process(procs, "cc1plus")
    asm = the_process(procs, "as")
    assert_named(cc1, "cc1plus", at_least=20)
    # Template instantiation is what this file makes the front end do.
    share = assert_hot(cc1, lambda n: n.startswith("instantiate_"), 0.2,
                       "instantiate_* (cc1plus's template instantiation)")
    for proc, exe in ((driver, binary_of(GXX)), (asm, binary_of("/usr/bin/as"))):
        if mode == "all":
            assert_exe_locations(proc, exe)
    print(f"\ng++: instantiate_* on {share:.0%} of cc1plus's CPU samples")
    report(f"g++ -O1, {mode}", procs)


# ---------------------------------------------------------------------------
# python3: Debian's /usr/bin/python3 -> python3.11, which exports the
# interpreter's functions in .dynsym (no .symtab). Two threads computing in
# Python contend for the GIL (a pthread mutex and condition variable): with
# every profile on, the block profile must show the waits.

PY_THREADS = r"""
import hashlib, threading
def work(n, out, i):
    d = {}
    for k in range(n):
        d[k % 1009] = d.get(k % 1009, 0) + k * k
    out[i] = hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()
out = [None, None]
ts = [threading.Thread(target=work, args=(700_000, out, i)) for i in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print(out[0] == out[1], out[0])
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_python3_threads(h, mode):
    need(PYTHON3)
    pair = run_pair(h, mode, lambda d: [PYTHON3, d / "work.py"],
                    setup=lambda d: (d / "work.py").write_text(PY_THREADS))
    assert pair.run.stdout.startswith("True "), describe(pair.run)
    binary = binary_of(PYTHON3)
    p = single(h, pair, mode, "python3", binary)
    assert_named(p, binary, at_least=10)
    share = assert_hot(p, lambda n: n == "_PyEval_EvalFrameDefault", 0.5,
                       "_PyEval_EvalFrameDefault")
    if mode == "all":
        blocked = p.raw["block"].total("delay/")
        assert blocked > 0, "python3: two threads shared the GIL, no wait in the block profile"
        names = p.raw["block"].names_in((binary,))
        assert names, f"python3: no {binary} function on the block profile's stacks"
        print(f"\npython3: {blocked / 1e9:.2f} s of GIL waits in the block profile, "
              f"via {sorted(names)[:5]}")
    print(f"\npython3: _PyEval_EvalFrameDefault on {share:.0%} of the CPU samples")
    report(f"python3 threads, {mode}", {p.pid: p})


# ---------------------------------------------------------------------------
# perl: /usr/bin/perl has libperl built in and exports its functions
# (Perl_*, .dynsym). sqlite3: /usr/bin/sqlite3 has no function symbols; the
# engine is libsqlite3.so.0, which exports the sqlite3_* API (the VDBE's
# internals are static: unnamed).


PERL_WORK = r"""
use strict; use warnings;
my (%count, $text);
for my $i (1 .. 3_000_000) {
    my $w = sprintf("%x", ($i * 2654435761) % 1000003);
    $count{substr($w, 0, 3)}++;
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 4];
$text = join(",", map { "$_=$count{$_}" } @top);
(my $copy = $text x 20000) =~ s/([0-9a-f]+)=([0-9]+)/$2:$1/g;
print scalar(keys %count), " $text ", length($copy), "\n";
exit 5;
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_perl_script(h, mode):
    """Counting words in 3,000,000 hashes (~0.5 s), exit status 5."""
    need(PERL)
    pair = run_pair(h, mode, lambda d: [PERL, d / "work.pl"],
                    setup=lambda d: (d / "work.pl").write_text(PERL_WORK))
    assert status(pair.run) == 5 and re.match(r"^[0-9]{4} ", pair.run.stdout), describe(pair.run)
    p = single(h, pair, mode, "perl", "perl")
    assert_named(p, "perl", at_least=10)
    share = assert_hot(p, lambda n: n == "Perl_runops_standard", 0.5, "Perl_runops_standard")
    print(f"\nperl: Perl_runops_standard on {share:.0%} of the CPU samples")
    report(f"perl, {mode}", {p.pid: p})


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("sqlite")
    subprocess.run([SQLITE3, d / "shop.db"], input=SQL_SETUP, text=True, check=True,
                   env=clean_env())
    (d / "query.sql").write_text(SQL_QUERY)
    return d


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_sqlite3_query(h, mode, sqlite_db):
    need(SQLITE3)
    pair = run_pair(h, mode, lambda d: [SQLITE3, "-init", sqlite_db / "query.sql",
                                        sqlite_db / "shop.db", ".quit"])
    assert len(pair.run.stdout.splitlines()) == 11, describe(pair.run)
    p = single(h, pair, mode, "sqlite3", "sqlite3")
    assert_named(p, "libsqlite3.so", at_least=2)
    assert_exe_locations(p, "sqlite3")
    share = assert_hot(p, lambda n: n == "sqlite3_step", 0.5, "sqlite3_step", min_samples=5)
    print(f"\nsqlite3: sqlite3_step on {share:.0%} of the CPU samples")
    report(f"sqlite3, {mode}", {p.pid: p})


# ---------------------------------------------------------------------------
# git. /usr/bin/git defines one function in .dynsym (error), no .symtab:
# its addresses stay unnamed (but for error()). It compresses every object
# with libz (exports deflate*, inflate*): named. A shell script runs the
# commands; git's trace2 log names every git process (its pid is in each
# session id), so the profiles can be matched process by process.

# Only git and the shell's builtins: every process is a git process or the
# shell (the files are put in place by the test).
GIT_SCRIPT = r"""
set -e
export GIT_TRACE2_EVENT="$PWD/trace2.json"
git init -q -b main repo
cd repo
for i in 1 2 3 4 5; do
  git add file$i.txt
  git commit -q -m "file $i"
done
git log --format='%H %an %ad %s'
git gc --quiet
git rev-list --objects --all
git show --stat --format=%s HEAD~2
git fsck --no-progress && echo fsck ok
"""

GIT_ENV = {
    # Fixed identities and dates: the same commit hashes on every run.
    "GIT_AUTHOR_NAME": "ppagent", "GIT_AUTHOR_EMAIL": "ppagent@example.com",
    "GIT_COMMITTER_NAME": "ppagent", "GIT_COMMITTER_EMAIL": "ppagent@example.com",
    "GIT_AUTHOR_DATE": "2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE": "2024-01-02T03:04:05Z",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "LC_ALL": "C",
    # No `git maintenance run --auto` after each commit (ten more processes
    # that add nothing `git gc` does not already run).
    "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "maintenance.auto", "GIT_CONFIG_VALUE_0": "false",
}


def git_pids(trace):
    """{pid: argv} of every git process in a trace2 event log."""
    pids = {}
    for line in Path(trace).read_text().splitlines():
        e = json.loads(line)
        if e.get("event") == "start":
            pid = int(e["sid"].rsplit("-P", 1)[1], 16)
            pids[pid] = e["argv"]
    return pids


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", MODES)
def test_git_script(h, mode):
    need(GIT)

    def setup(d):
        (d / "script.sh").write_text(GIT_SCRIPT)
        (d / "repo").mkdir()
        for i in range(1, 6):
            write_text(d / "repo" / f"file{i}.txt", 2 << 20, seed=i)

    pair = run_pair(h, mode, lambda d: [SH, d / "script.sh"], setup=setup,
                    env=dict(GIT_ENV, HOME="/nonexistent"))
    out = pair.run.stdout
    assert "fsck ok" in out and len(re.findall(r"^[0-9a-f]{40} ppagent ", out, re.M)) == 5, (
        describe(pair.run))
    ran = git_pids(pair.dir / "trace2.json")
    procs = profile(h, pair.out, mode, {"sh": binary_of(SH), "git": "git"}, [pair.run])
    gits = {pid for pid, p in procs.items() if p.program == "git"}
    assert gits == set(ran), (f"git processes that ran (trace2): {ran}; with profiles: "
                              f"{sorted(gits)}")
    the_process(procs, "sh", pair.run.pid if mode == "defaults" else None)
    # `git add` of 2 MiB of text deflates it: libz under git on the CPU stacks.
    named_z = set().union(*(procs[p].named_in("libz.so") for p in gits))
    assert named_z, "no libz function named in any git process"
    exe_locs = sum(procs[p].names.checked_in("git") for p in gits)
    assert exe_locs > 0, "no location in /usr/bin/git in any git process"
    print(f"\ngit: {len(gits)} git processes ({sorted({a[1] for a in ran.values()})}), "
          f"libz names {sorted(named_z)[:6]}, {exe_locs} locations in /usr/bin/git")
    report(f"git script, {mode}", procs)


# ---------------------------------------------------------------------------
# postgres under pgbench. /usr/lib/postgresql/15/bin/postgres exports its
# functions in .dynsym (for extensions; no .symtab): PostgresMain,
# exec_simple_query, ExecutorRun, ... The postmaster forks every other
# process (startup, checkpointer, background writer, walwriter, autovacuum
# launcher and workers, logical replication launcher, one backend per
# connection); each writes its own profiles. pgbench and psql (libpq's PQ*
# named) run under the agent too. postgres refuses to run as root: as root,
# the server runs as user postgres (its files go to a mode-1777 directory).

PG_PORT = 5433  # names the socket in our own socket directory only
PG_CLIENTS, PG_TX = 4, 150


def as_postgres():
    if os.geteuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam("postgres")

    def switch():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return switch


def postgres_can_read(path):
    if os.geteuid() != 0:
        return True
    return subprocess.run(["runuser", "-u", "postgres", "--", "test", "-r", str(path)],
                          env=clean_env()).returncode == 0


@pytest.fixture(scope="module")
def pg_cluster(h):
    """A cluster initialised once (initdb, not profiled) in a directory user
    postgres can reach, and a launcher (with its agent) that user can run:
    the build's own, or copies when the build directory is private."""
    need(PGBIN / "postgres")
    base = Path(tempfile.mkdtemp(prefix="ppagent-pg-"))
    base.chmod(0o755)
    try:
        launcher = h.launcher
        if not (postgres_can_read(h.agent) and postgres_can_read(launcher)):
            (base / "launcher").mkdir()
            (base / "agent").mkdir()
            shutil.copy2(launcher, base / "launcher" / "ppagent")
            for so in h.agent.parent.glob("*.so*"):
                if so.is_file():  # not meson's libppagent.so.p/ object directory
                    shutil.copy2(so, base / "agent" / so.name)
            launcher = base / "launcher" / "ppagent"
        data, sock = base / "data", base / "sock"
        sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(sock, "postgres", "postgres")
            shutil.chown(base, "postgres", "postgres")
        r = subprocess.run([PGBIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--no-sync"], capture_output=True, text=True,
                           env=clean_env(), cwd=base, preexec_fn=as_postgres(), timeout=300)
        assert r.returncode == 0, f"initdb failed:\n{r.stdout}\n{r.stderr}"
        yield base, data, sock, launcher
    finally:
        shutil.rmtree(base, ignore_errors=True)


def pg_client(h, mode, prog, args, *, out, sock, cwd):
    return start(h, mode, [PGBIN / prog, "-h", sock, "-p", PG_PORT, "-U", "postgres", *args,
                           "postgres"], out=out, cwd=cwd).finish(300)


PG_QUERY = ["-X", "-At", "-c", "SELECT count(*) FROM pgbench_accounts",
            "-c", "SELECT count(*), count(DISTINCT tid) > 1 FROM pgbench_history",
            "-c", "SELECT sum(abalance) = (SELECT sum(delta) FROM pgbench_history) "
                  "FROM pgbench_accounts"]


def pg_session(h, mode, cluster, out, env=None):
    """One server run: start, pgbench -i, pgbench, a query, stop; `env` adds
    to the server's environment (test_wall_real.py). Returns
    (server run, [client runs], postmaster pid, {pid: backend type} seen
    in pg_stat_activity)."""
    base, data, sock, launcher = cluster
    server = start(h, mode, [PGBIN / "postgres", "-D", data, "-c", "fsync=off",
                             "-c", "listen_addresses=", "-c", f"unix_socket_directories={sock}",
                             "-c", f"port={PG_PORT}", "-c", "log_connections=on",
                             "-c", "log_line_prefix=%p %b ", "-c", "max_connections=20"],
                   out=out, cwd=base, preexec_fn=as_postgres(), launcher=launcher, env=env)
    clients, activity, postmaster = [], {}, None
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([PGBIN / "pg_isready", "-q", "-h", sock, "-p", str(PG_PORT)],
                             env=clean_env()).returncode != 0:
            assert server.popen.poll() is None and time.monotonic() < deadline, (
                f"postgres did not start:\n{server.err_path.read_text(errors='replace')}")
            time.sleep(0.2)
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        cwd = h.tmpdir("pgclient")
        clients.append(pg_client(h, mode, "pgbench", ["-i", "-s", "1", "-q"], out=out, sock=sock,
                                 cwd=cwd))
        clients.append(pg_client(h, mode, "pgbench", ["-c", str(PG_CLIENTS), "-j", "2", "-t",
                                                      str(PG_TX)], out=out, sock=sock, cwd=cwd))
        clients.append(pg_client(h, mode, "psql", PG_QUERY, out=out, sock=sock, cwd=cwd))
        act = subprocess.run([PGBIN / "psql", "-X", "-At", "-h", sock, "-p", str(PG_PORT), "-U",
                              "postgres", "-c", "SELECT pid, backend_type FROM pg_stat_activity",
                              "postgres"], capture_output=True, text=True, env=clean_env())
        activity = dict(line.split("|", 1) for line in act.stdout.splitlines())
    finally:
        stop = subprocess.run([PGBIN / "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t",
                               "120"], capture_output=True, text=True, env=clean_env(),
                              cwd=base, preexec_fn=as_postgres())
        run = server.finish(180)
    assert stop.returncode == 0, f"pg_ctl stop: {stop.stdout}{stop.stderr}\n{describe(run)}"
    return run, clients, postmaster, {int(k): v for k, v in activity.items()}


def pgbench_normal(text):
    # Latencies, connection time and tps are timings: numbers only there.
    return re.sub(r"^((?:latency|initial connection time|tps)[^=]*= )[0-9.]+", r"\1N", text,
                  flags=re.M)


def pg_exits(log):
    """The postmaster's lines about children that ended (pids removed):
    a crash shows here ("terminated by signal 11", then "terminating any
    other active server processes")."""
    return sorted(re.sub(r"\b[0-9]+\b", "N", l.split(" ", 1)[1])
                  for l in log.splitlines()
                  if re.search(r"exited with|terminated by|terminating any other|PANIC", l))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", MODES)
def test_postgres_pgbench(h, mode, pg_cluster):
    need(PGBIN / "pgbench")
    plain_out = h.tmpdir("pgplain")
    plain, plain_clients, _, _ = pg_session(h, None, pg_cluster, plain_out)
    out = Path(tempfile.mkdtemp(prefix="ppagent-pgout-"))
    out.chmod(0o1777)  # the server runs as user postgres
    try:
        run, clients, postmaster, activity = pg_session(h, mode, pg_cluster, out)
        what = ("postmaster", "pgbench -i", "pgbench", "psql")
        for name, a, b in zip(what, [plain, *plain_clients], [run, *clients]):
            assert_same(a, b, pgbench_normal, name)
        assert "database system is shut down" in run.stderr, describe(run)
        assert pg_exits(run.stderr) == pg_exits(plain.stderr), (
            f"children of the postmaster ended differently:\nwithout the agent: "
            f"{pg_exits(plain.stderr)}\nwith it: {pg_exits(run.stderr)}\n{describe(run)}")
        assert clients[2].stdout.splitlines() == ["100000", f"{PG_CLIENTS * PG_TX}|t", "t"], (
            describe(clients[2]))
        procs = profile(h, out, mode, {"postgres": "postgres", "pgbench": "pgbench",
                                       "psql": "psql"}, [run, *clients])
    finally:
        shutil.rmtree(out, ignore_errors=True)
    backends = {int(p) for p in re.findall(r"^([0-9]+) \S.* LOG:  connection received",
                                           run.stderr, re.M)}
    expected = {postmaster} | backends | set(activity)
    pg = {pid for pid, p in procs.items() if p.program == "postgres"}
    assert expected <= pg, (f"postgres processes without profiles: {sorted(expected - pg)} "
                            f"(postmaster {postmaster}, activity {activity}, backends "
                            f"{sorted(backends)}); profiles from {sorted(pg)}")
    # The other postgres files are of processes that neither logged nor
    # showed in pg_stat_activity (the startup process, autovacuum workers).
    assert len(pg - expected) <= 6, f"unexplained postgres processes {sorted(pg - expected)}"
    # Every CPU stack of a postgres process runs from main through exported
    # functions (PostmasterMain, PostgresMain, AuxiliaryProcessMain, ...).
    for pid in pg:
        if procs[pid].cpu_samples():
            assert_named(procs[pid], "postgres")
    cpu = [procs[p].raw["cpu"] for p in backends]
    total = sum(r.total("samples/") for r in cpu)
    hot = sum(r.share_with("samples/", lambda n: n == "PostgresMain") * r.total("samples/")
              for r in cpu)
    assert total >= 10 and hot >= 0.8 * total, (
        f"backends: PostgresMain on {hot:.0f} of {total} CPU samples, want 80% of at least 10")
    pgbench = [p for p in procs.values() if p.program == "pgbench"]
    assert len(pgbench) == 2, sorted((p.program, p.pid) for p in procs.values())
    if mode == "all":
        assert any(p.named_in("libpq.so") for p in pgbench), "no libpq function named in pgbench"
    print(f"\npostgres: postmaster {postmaster}, {len(backends)} backends, helpers "
          f"{sorted(set(activity.values()))}, {len(pg)} postgres processes profiled; "
          f"PostgresMain on {hot / total:.0%} of {total} backend CPU samples")
    report(f"postgres + pgbench, {mode}", procs)


# ---------------------------------------------------------------------------
# redis-server (/usr/bin/redis-server -> redis-check-rdb, linked with
# libjemalloc.so.2) exports its functions in .dynsym (aeMain, processCommand,
# ...). redis-benchmark and redis-cli run under the agent too.

REDIS_N = 20000


def redis_bench_normal(text):
    # -q prints progress lines ending in \r (how many depends on time) and
    # then, per test, requests per second and a latency: timings.
    lines = [l.rsplit("\r", 1)[-1] for l in text.split("\n")]
    return re.sub(r"[0-9]+(\.[0-9]+)?", "N", "\n".join(l for l in lines if l.strip()))


def redis_session(h, mode, out):
    d = h.tmpdir("redis")
    port = free_port()
    server = start(h, mode, [REDIS, "--port", port, "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--logfile",
                             d / "redis.log", "--dir", d], out=out, cwd=d)
    cli = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(port)]
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([*cli, "ping"], capture_output=True, text=True,
                             env=clean_env()).stdout.strip() != "PONG":
            assert server.popen.poll() is None and time.monotonic() < deadline, (
                f"redis-server did not answer: {(d / 'redis.log').read_text()}")
            time.sleep(0.1)
        bench = start(h, mode, [REDIS_BENCH, "-h", "127.0.0.1", "-p", port, "-n", REDIS_N, "-c",
                                "8", "--threads", "2", "-t", "set,get,incr,lpush,lpop", "-q"],
                      out=out, cwd=d).finish(300)
        query = start(h, mode, [*cli, "eval", "return {redis.call('dbsize'), "
                                "redis.call('get', 'counter:__rand_int__')}", "0"],
                      out=out, cwd=d).finish(60)
    finally:
        subprocess.run([*cli, "shutdown", "nosave"], capture_output=True, env=clean_env())
        run = server.finish(60)
    return run, bench, query


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", MODES)
def test_redis_benchmark(h, mode):
    need(REDIS)
    need(REDIS_BENCH)
    plain = redis_session(h, None, None)
    out = h.tmpdir("out")
    runs = redis_session(h, mode, out)
    for name, a, b in zip(("redis-server", "redis-benchmark", "redis-cli"), plain, runs):
        assert_same(a, b, redis_bench_normal if name == "redis-benchmark" else None, name)
    assert runs[2].stdout.split() == ["2", str(REDIS_N)], describe(runs[2])
    procs = profile(h, out, mode, {"redis-server": binary_of(REDIS),
                                   "redis-benchmark": "redis-benchmark",
                                   "redis-cli": "redis-cli"}, runs)
    server = the_process(procs, "redis-server", runs[0].pid if mode == "defaults" else None)
    the_process(procs, "redis-benchmark")
    the_process(procs, "redis-cli")
    assert_named(server, binary_of(REDIS), at_least=10)
    share = assert_hot(server, lambda n: n == "aeMain", 0.8, "aeMain")
    print(f"\nredis-server: aeMain on {share:.0%} of its CPU samples")
    report(f"redis-server + redis-benchmark, {mode}", procs)
