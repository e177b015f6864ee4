"""The live endpoint's own library (libppagent-http.so, agent/live/http_server.cc):
libmicrohttpd and what it brings (gnutls, nettle, ...) are in a process only
when PPROF_HTTP is set, loaded from the agent's own directory before the
program's main; a missing library costs the endpoint and nothing else."""

import re
import shutil
import subprocess
from pathlib import Path

from conftest import AGENT, UNSET
from live_http import LiveServer, free_port, http

HTTP_LIBRARY = AGENT.parent / "libppagent-http.so"

# What libmicrohttpd brings on Debian 12, by file-name prefix.
HTTP_DEPENDENCIES = ("libmicrohttpd", "libgnutls", "libp11-kit", "libnettle", "libhogweed",
                     "libgmp", "libidn2", "libunistring", "libtasn1", "libffi")


def needed(path):
    out = subprocess.run(["readelf", "-dW", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def mapped_files(pid):
    """Every file mapped into the process, by its path."""
    paths = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            paths.add(fields[5])
    return paths


def http_libraries_in(paths):
    names = {Path(p).name for p in paths}
    return sorted(n for n in names
                  if n.startswith(HTTP_DEPENDENCIES) or n.startswith("libppagent-http"))


def agent_copy(h, *, with_http=True):
    """A directory holding a copy of the build's agent (and its transport)."""
    d = h.tmpdir("agentcopy")
    shutil.copy2(AGENT, d / AGENT.name)
    shutil.copy2(HTTP_LIBRARY, d / HTTP_LIBRARY.name)
    if not with_http:
        (d / HTTP_LIBRARY.name).unlink()
    return d


def test_agent_links_no_http_library(h):
    h.agent
    assert HTTP_LIBRARY.is_file(), f"not built: {HTTP_LIBRARY}"
    agent_needs = needed(AGENT)
    assert agent_needs, "readelf shows no NEEDED entry for the agent"
    bad = [n for n in agent_needs if n.startswith(HTTP_DEPENDENCIES)]
    assert not bad, f"libppagent.so needs {bad} (all NEEDED: {agent_needs})"
    assert any(n.startswith("libmicrohttpd") for n in needed(HTTP_LIBRARY)), needed(HTTP_LIBRARY)


def test_without_pprof_http_nothing_of_it_is_loaded(h):
    outdir = h.tmpdir("out")
    proc = h.start([h.workload("live_server")], outdir=outdir, cwd=outdir,
                   env={"PPROF_HTTP": UNSET})
    proc.wait_for_stdout("ready")
    maps = mapped_files(proc.pid)
    proc.signal(15)
    run = proc.finish(60)
    assert run.returncode == 0 and run.stdout == "ready\nbye\n", run.describe()
    assert str(AGENT) in maps, sorted(maps)  # the agent itself is there
    assert http_libraries_in(maps) == [], sorted(maps)


def test_with_pprof_http_it_is_loaded_and_serves(h):
    live = LiveServer(h)
    try:
        loaded = http_libraries_in(mapped_files(live.proc.pid))
        assert "libppagent-http.so" in loaded and any(n.startswith("libmicrohttpd") for n in loaded) \
            and any(n.startswith("libgnutls") for n in loaded), loaded
        raw = h.pprof(["-raw"], live.url("heap")).stdout
        assert "PeriodType: space bytes" in raw, raw[:2000]
        assert "keep_blocks" in raw, raw[:4000]
    finally:
        run, _ = live.assert_normal_exit()
    assert run.ppagent_lines == [], run.describe()


def test_library_is_found_next_to_the_agent_even_by_a_relative_path(h):
    """The agent loaded from a copy, named relative to the working directory:
    the transport comes from that copy's directory, not from the build."""
    copy = agent_copy(h)
    port = free_port()
    proc = h.start([h.workload("live_server")], outdir=copy, cwd=copy.parent,
                   env={"LD_PRELOAD": f"{copy.name}/{AGENT.name}",
                        "PPROF_HTTP": f"127.0.0.1:{port}"})
    proc.wait_for_stdout("ready")
    try:
        r = http(f"http://127.0.0.1:{port}/debug/pprof/cmdline")
        maps = mapped_files(proc.pid)
    finally:
        proc.signal(15)
        run = proc.finish(60)
    assert r.status == 200 and b"live_server" in r.body, r.describe()
    assert str(copy / HTTP_LIBRARY.name) in maps, sorted(maps)
    assert str(HTTP_LIBRARY) not in maps, sorted(maps)
    assert run.returncode == 0 and run.ppagent_lines == [], run.describe()


def test_missing_library_costs_only_the_endpoint(h):
    copy = agent_copy(h, with_http=False)
    argv = [h.workload("hello_exit"), "3"]
    plain = h.run(argv, agent=False, cwd=h.tmpdir("cwd"))
    outdir = h.tmpdir("out")
    run = h.run(argv, outdir=outdir, cwd=outdir,
                env={"LD_PRELOAD": copy / AGENT.name,
                     "PPROF_HTTP": f"127.0.0.1:{free_port()}"})
    assert (run.stdout, run.returncode) == (plain.stdout, plain.returncode), (
        run.describe() + "\n--- without the agent:\n" + plain.describe())
    assert len(run.ppagent_lines) == 1, run.describe()
    line = run.ppagent_lines[0]
    assert str(copy / HTTP_LIBRARY.name) in line and "PPROF_HTTP" in line, line
    for kind in ("cpu", "heap", "allocs"):
        f = outdir / f"hello_exit.{run.pid}.{kind}.pb.gz"
        assert f.is_file(), f"no {kind} profile written at exit\n" + run.describe()
        h.decode(f)


def test_library_is_loaded_before_main_never_after(h):
    """LD_DEBUG=files: the transport and libmicrohttpd are loaded before the
    loader's `transferring control` to the program, and serving a profile
    loads none of them later."""
    live = LiveServer(h, env={"LD_DEBUG": "files"})
    try:
        r = live.get("heap")
        assert r.status == 200, r.describe()
    finally:
        run, _ = live.assert_normal_exit()
    lines = run.stderr.splitlines()
    control = [i for i, l in enumerate(lines) if "transferring control:" in l]
    assert len(control) == 1, run.stderr[-3000:]
    loads = [(i, l) for i, l in enumerate(lines)
             if re.search(r"\bfile=\S*(libppagent-http|libmicrohttpd|libgnutls)", l)]
    assert any("libppagent-http.so" in l for _, l in loads), run.stderr[-3000:]
    late = [l for i, l in loads if i > control[0]]
    assert not late, "loaded after the program started:\n" + "\n".join(late)
