"""The live /debug/pprof endpoint (issue 5), read by the real reader.

One live_server runs under the agent with PPROF_HTTP on a free loopback port
(mutex and block profiles on, every event recorded) for the whole module;
`go tool pprof` reads its profiles straight from the URLs, as a user would,
and the files pprof saves are also decoded with the classes generated from
proto/profile.proto. The workload's threads do known things at known
functions (integration/workloads/live_server.cc), so each profile must show
its own function: CPU burn_alpha/burn_beta, heap keep_blocks, goroutine
wait_on_condition (and the thread names as labels), threadcreate
spawn_from_spawner, mutex mutex_holder, block mutex_waiter.
Nothing here is timed.
"""

import gzip
import http.server as httpserver
import re
import threading

import pytest

from conftest import parse_heap_top
from live_http import CONTENTION_ON, WORKLOAD_THREADS, LiveServer, free_port, http, is_profile

HEAP_RATE = 524288  # PPROF_MEM_RATE's default
KEPT_BYTES = 256 * 64 * 1024  # keep_blocks keeps 256 blocks of 64 KiB


@pytest.fixture(scope="module")
def live(h):
    server = LiveServer(h, env=CONTENTION_ON)
    yield server
    server.stop()


def fetch_with_pprof(h, args, url):
    """go tool pprof ARGS URL; returns (stdout, the profile it saved, decoded)."""
    r = h.pprof(args, url)
    m = re.search(r"Saved profile in (\S+)", r.stderr)
    assert m, f"go tool pprof did not save the fetched profile:\n{r.stderr}"
    return r.stdout, h.decode(m.group(1))


def raw_functions(raw):
    """The Locations section of pprof -raw (function names, files, lines)."""
    locs = raw.split("Locations", 1)
    assert len(locs) == 2, f"no Locations section in pprof -raw:\n{raw[:3000]}"
    return locs[1].split("Mappings", 1)[0]


def in_raw(name, raw):
    return re.search(rf"(?<![\w:]){re.escape(name)}(?![\w])", raw_functions(raw)) is not None


def stacks_with(view, name):
    return [s for s in view.p.sample if name in view.stack_functions(s)]


def assert_threads_only_workload(view):
    names = {view.labels(s).get("thread_name") for s in view.p.sample}
    assert names <= WORKLOAD_THREADS, (
        f"{view.path}: samples of threads that are not the program's: "
        f"{sorted(n for n in names - WORKLOAD_THREADS if n)}")


def no_structure_problems(view):
    bad, _ = view.structure_problems(program="live_server")
    assert not bad, f"{view.path}: " + "; ".join(bad)


# ---------------------------------------------------------------------------
# Each profile read by go tool pprof from its URL


def test_cpu_profile_seconds(h, live):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url("profile?seconds=2"))
    assert "PeriodType: cpu nanoseconds" in raw, raw[:2000]
    assert in_raw("burn_alpha", raw) and in_raw("burn_beta", raw), raw[:4000]
    no_structure_problems(view)
    assert view.sample_types() == [("samples", "count"), ("cpu", "nanoseconds")]
    assert view.p.duration_nanos > 0
    assert_threads_only_workload(view)
    # The CPU of burn_alpha is on the thread that runs it.
    for fn, thread in (("burn_alpha", "burn-alpha"), ("burn_beta", "burn-beta")):
        on = stacks_with(view, fn)
        assert on, f"no sample with {fn} on the stack"
        assert {view.labels(s).get("thread_name") for s in on} == {thread}

    top, _ = h.pprof_top(live.url("profile?seconds=2"), symbolize=None)
    assert top.total > 0, top.text
    for fn in ("burn_alpha", "burn_beta"):
        assert fn in top.rows and top.rows[fn][2] > 0, f"{fn} not in -top:\n{top.text}"


def test_heap(h, live):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url("heap"))
    assert "PeriodType: space bytes" in raw, raw[:2000]
    assert in_raw("keep_blocks", raw), raw[:3000]
    problems = view.heap_problems(kind="heap", rate=HEAP_RATE, program="live_server")
    assert not problems, "\n".join(problems)

    r = h.pprof(["-top", "-nodecount=1000", "-nodefraction=0", "-edgefraction=0"],
                live.url("heap"))
    top = parse_heap_top(r.stdout)
    assert top.type == "inuse_space", top.text
    # 16 MiB kept, estimated from about 32 samples: a wide band around it.
    kept = top.cum("keep_blocks")
    assert KEPT_BYTES / 4 < kept < KEPT_BYTES * 4, (
        f"keep_blocks holds {kept} bytes in use by -top, expected about {KEPT_BYTES}\n{top.text}")


def test_allocs(h, live):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url("allocs"))
    assert "PeriodType: space bytes" in raw, raw[:2000]
    assert in_raw("keep_blocks", raw)
    problems = view.heap_problems(kind="allocs", rate=HEAP_RATE, program="live_server")
    assert not problems, "\n".join(problems)
    r = h.pprof(["-top", "-nodecount=1000", "-nodefraction=0", "-edgefraction=0"],
                live.url("allocs"))
    top = parse_heap_top(r.stdout)
    assert top.type == "alloc_space", top.text
    assert top.cum("keep_blocks") > 0, top.text


def test_goroutine(h, live):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url("goroutine"))
    assert "PeriodType: goroutine count" in raw, raw[:2000]
    assert in_raw("wait_on_condition", raw), raw[:4000]
    no_structure_problems(view)
    assert view.sample_types() == [("goroutine", "count")]
    # One sample per distinct stack, value = threads on it: the program has
    # exactly 10 threads (main + 9) and the agent's own are not shown.
    assert sum(s.value[0] for s in view.p.sample) == len(WORKLOAD_THREADS), raw[:4000]
    waiting = stacks_with(view, "wait_on_condition")
    assert {view.labels(s).get("thread_name") for s in waiting} == {"sleeper", "spawner",
                                                                     "spawned"}, raw[:4000]
    assert_threads_only_workload(view)

    tags, r = h.pprof_tags(live.url("goroutine"))
    assert set(tags.get("thread_name", {})) == WORKLOAD_THREADS, r.stdout
    r = h.pprof(["-top", "-nodecount=500"], live.url("goroutine"))
    assert "wait_on_condition" in r.stdout, r.stdout


def test_threadcreate(h, live):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url("threadcreate"))
    assert "PeriodType: threadcreate count" in raw, raw[:2000]
    assert in_raw("spawn_from_spawner", raw), raw[:4000]
    no_structure_problems(view)
    assert view.sample_types() == [("threadcreate", "count")]
    # 9 live threads were created with pthread_create (all but main), one of
    # them by spawn_from_spawner; the agent's own threads are not shown.
    assert sum(s.value[0] for s in view.p.sample) == len(WORKLOAD_THREADS) - 1, raw[:4000]
    assert sum(s.value[0] for s in stacks_with(view, "spawn_from_spawner")) == 1, raw[:4000]
    r = h.pprof(["-top", "-nodecount=500"], live.url("threadcreate"))
    assert "spawn_from_spawner" in r.stdout, r.stdout


@pytest.mark.parametrize("kind,fn,absent", [("mutex", "mutex_holder", None),
                                            ("block", "mutex_waiter", "mutex_holder")])
def test_contention(h, live, kind, fn, absent):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url(kind))
    assert "PeriodType: contentions count" in raw, raw[:2000]
    no_structure_problems(view)
    assert view.sample_types() == [("contentions", "count"), ("delay", "nanoseconds")]
    assert in_raw(fn, raw), raw[:4000]
    on = stacks_with(view, fn)
    assert sum(s.value[1] for s in on) > 0, f"no delay charged to {fn}"
    if absent:
        # The block profile has the waiter's stack: the lock call in
        # mutex_waiter, never the holder's release.
        assert not stacks_with(view, absent), raw[:4000]
    r = h.pprof(["-top", "-nodecount=500"], live.url(kind))
    assert fn in r.stdout, r.stdout


@pytest.mark.parametrize("kind,fn", [("heap", "keep_blocks"), ("goroutine", "wait_on_condition")])
def test_debug_text(live, kind, fn):
    r = live.get(f"{kind}?debug=1")
    assert r.status == 200, r.describe()
    assert r.headers.get("content-type", "").startswith("text/plain"), r.describe()
    assert not is_profile(r.body)
    assert r.text.strip(), r.describe()
    assert fn in r.text, r.text[:4000]
    if kind == "goroutine":
        assert "sleeper" in r.text, r.text[:4000]


@pytest.mark.parametrize("kind,period", [("heap", "space bytes"), ("allocs", "space bytes"),
                                         ("goroutine", "goroutine count")])
def test_delta(h, live, kind, period):
    raw, view = fetch_with_pprof(h, ["-raw"], live.url(f"{kind}?seconds=2"))
    assert f"PeriodType: {period}" in raw, raw[:2000]
    no_structure_problems(view)
    if kind == "allocs":
        # keep_blocks allocates ~13 MB/s: in 2 s there are sampled allocations.
        assert stacks_with(view, "keep_blocks"), raw[:4000]
        assert all(v >= 0 for s in view.p.sample for v in s.value[:2]), raw[:4000]
    if kind == "goroutine":
        # The same threads at the start and the end of the window.
        assert sum(s.value[0] for s in view.p.sample) == 0, raw[:4000]


# ---------------------------------------------------------------------------
# /debug/pprof/symbol


def known_addresses(h, live, names):
    """{name: address} of locations in the main binary whose only line is
    `name` (no inlined code there: the symbol server names the innermost
    frame), taken from served profiles."""
    out = {}
    for kind in ("heap", "goroutine", "threadcreate", "profile?seconds=1"):
        r = live.get(kind)
        assert r.status == 200, r.describe()
        path = h.tmpdir("served") / "served.pb.gz"
        path.write_bytes(r.body)
        view = h.decode(path)
        main = view.p.mapping[0]
        for loc in view.p.location:
            lines = view.lines(loc)
            if (len(lines) == 1 and lines[0][0] in names and loc.mapping_id == main.id
                    and main.memory_start <= loc.address < main.memory_limit):
                out.setdefault(lines[0][0], loc.address)
    return out, main


SYMBOL_NAMES = {"keep_blocks", "burn_alpha", "burn_beta", "wait_on_condition", "mutex_waiter",
                "mutex_holder", "spawn_from_spawner"}


def test_symbol_direct(h, live):
    r = live.get("symbol")
    assert r.status == 200, r.describe()
    assert r.body == b"num_symbols: 1\n", r.describe()

    addrs, _ = known_addresses(h, live, SYMBOL_NAMES)
    assert "keep_blocks" in addrs and len(addrs) >= 2, addrs
    body = "+".join(f"{a:#x}" for a in addrs.values()) + "+0xjunk+"
    r = live.get("symbol", method="POST", data=body.encode(),
                 headers={"Content-Type": "application/octet-stream"})
    assert r.status == 200, r.describe()
    lines = r.text.splitlines()
    assert lines[0] == "num_symbols: 1", r.text
    answered = {}
    for line in lines[1:]:
        m = re.fullmatch(r"0x([0-9a-f]+) (\S+)", line)
        assert m, f"bad symbol line {line!r} in {r.text!r}"
        answered[int(m.group(1), 16)] = m.group(2)
    assert answered == {a: n for n, a in addrs.items()}, r.text

    # GET with the addresses as the raw query, as old readers send them.
    a = addrs["keep_blocks"]
    r = live.get(f"symbol?{a:#x}")
    assert r.status == 200, r.describe()
    assert r.text == f"num_symbols: 1\n{a:#x} keep_blocks\n", r.describe()


class SymbolProxy(httpserver.ThreadingHTTPServer):
    """Serves one unnamed profile at /debug/pprof/unnamed and forwards
    /debug/pprof/symbol (GET and POST) to the agent, remembering what it
    forwarded."""
    daemon_threads = True

    def __init__(self, profile_gz, agent_base):
        self.profile_gz = profile_gz
        self.agent_base = agent_base
        self.forwarded = []
        super().__init__(("127.0.0.1", free_port()), SymbolProxyHandler)


class SymbolProxyHandler(httpserver.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, data):
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        url = self.server.agent_base + "symbol" + (f"?{query}" if query else "")
        r = http(url, method=self.command, data=data)
        self.server.forwarded.append((self.command, data, r.status, r.body))
        self.answer(r.status, r.body, r.headers.get("content-type", "text/plain"))

    def do_GET(self):
        if self.path.startswith("/debug/pprof/unnamed"):
            self.answer(200, self.server.profile_gz, "application/octet-stream")
        elif self.path.startswith("/debug/pprof/symbol"):
            self.forward(None)
        else:
            self.answer(404, b"not here\n", "text/plain")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        if self.path.startswith("/debug/pprof/symbol"):
            self.forward(data)
        else:
            self.answer(404, b"not here\n", "text/plain")


def test_remote_symbolization(h, live):
    """What this proves: a profile whose locations carry only addresses (its
    mapping says has_functions=false), read by go tool pprof from a
    /debug/pprof/ URL with -symbolize=remote (no local symbolization), gets
    its function names from the agent's /debug/pprof/symbol. go tool pprof
    symbolizes remotely only when the profile's source is a URL, and the
    agent never serves unnamed profiles, so a small server here serves the
    unnamed profile and forwards /debug/pprof/symbol to the agent unchanged;
    the names can only come from the agent (the profile has none, local
    symbolization is off), and the proxy checks that pprof asked for them."""
    addrs, main = known_addresses(h, live, SYMBOL_NAMES)
    assert "keep_blocks" in addrs and len(addrs) >= 2, addrs

    pb = h.pb
    prof = pb.Profile()
    strings = [""]

    def s(text):
        strings.append(text)
        return len(strings) - 1

    prof.sample_type.add(type=s("samples"), unit=s("count"))
    prof.period_type.type, prof.period_type.unit = prof.sample_type[0].type, prof.sample_type[0].unit
    prof.period = 1
    prof.time_nanos = 1
    m = prof.mapping.add(id=1, memory_start=main.memory_start, memory_limit=main.memory_limit,
                         file_offset=main.file_offset, has_functions=False)
    m.filename = s("/nonexistent/live_server")  # nothing to read locally either
    for i, (name, addr) in enumerate(sorted(addrs.items()), start=1):
        prof.location.add(id=i, mapping_id=1, address=addr)
        prof.sample.add(location_id=[i], value=[10 * i])
    prof.string_table.extend(strings)
    proxy = SymbolProxy(gzip.compress(prof.SerializeToString()), live.base)
    t = threading.Thread(target=proxy.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}/debug/pprof/unnamed"
        # Without symbolization the reader has addresses only.
        r = h.pprof(["-top", "-symbolize=none"], url)
        assert not any(n in r.stdout for n in addrs), r.stdout
        r = h.pprof(["-top", "-nodecount=100", "-symbolize=remote"], url)
    finally:
        proxy.shutdown()
        proxy.server_close()
    for name in addrs:
        assert re.search(rf"\s{re.escape(name)}\s*$", r.stdout, re.M), (
            f"{name} not named by remote symbolization:\n{r.stdout}\n{r.stderr}")
    posts = [f for f in proxy.forwarded if f[0] == "POST"]
    assert posts and all(st == 200 for _, _, st, _ in posts), proxy.forwarded


def test_program_still_works_and_exits_normally(live):
    """Last in this module: after every request above the program's own work
    went on, and SIGTERM ends it as without the agent, with its files."""
    live.assert_progressing()
    run, files = live.assert_normal_exit(expect=("cpu", "heap", "allocs", "mutex", "block"))
    assert not run.ppagent_lines, run.describe()
