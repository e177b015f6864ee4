"""10. `meson install --destdir`: the installed launcher finds the installed agent
and profiles a program; the installed agent finds its live endpoint library
(libppagent-http.so) next to it."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD
from live_http import free_port, http


def installed_map():
    out = subprocess.run(["meson", "introspect", "--installed", str(BUILD)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def find_installed(mapping, suffix):
    hits = [v for k, v in mapping.items() if k.endswith(suffix)]
    assert len(hits) == 1, f"{suffix}: installed as {hits} (introspect --installed: {mapping})"
    return hits[0]


@pytest.mark.timeout(300)
def test_installed_launcher_uses_installed_agent(h):
    h.agent, h.launcher  # both must be built
    dest = h.tmpdir("destdir")
    r = subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--destdir", str(dest)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, f"meson install failed:\n{r.stdout}\n{r.stderr}"

    m = installed_map()
    launcher = Path(str(dest) + find_installed(m, "/launcher/ppagent"))
    agent = Path(str(dest) + find_installed(m, "/agent/libppagent.so"))
    assert launcher.is_file() and os.access(launcher, os.X_OK), launcher
    assert agent.is_file(), agent
    http_library = Path(str(dest) + find_installed(m, "/agent/libppagent-http.so"))
    assert http_library.parent == agent.parent, (http_library, agent)

    v = h.run_launcher(["--version"], launcher=launcher)
    assert v.returncode == 0, v.describe()
    lines = v.stdout.splitlines()
    assert len(lines) >= 2 and lines[1].startswith("agent: "), v.describe()
    reported = lines[1][len("agent: "):]
    assert os.path.realpath(reported) == os.path.realpath(agent), (
        f"installed launcher reports {reported}, want the installed agent {agent}")

    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--", h.workload("hello_exit"), "0", "LD_PRELOAD"], cwd=cwd,
                       launcher=launcher)
    assert r.returncode == 0, r.describe()
    pre = re.search(r"^LD_PRELOAD=([^:\s]+)", r.stdout, re.M)
    assert pre and os.path.realpath(pre.group(1)) == os.path.realpath(agent), (
        "the program was not run with the installed agent\n" + r.describe())
    wrote = re.findall(r"^ppagent: wrote (.+)$", r.stderr, re.M)
    cpu = [w for w in wrote if w.endswith(".cpu.pb.gz")]
    assert len(wrote) == 3 and len(cpu) == 1, r.describe()  # cpu, heap, allocs
    assert all(Path(w).parent.resolve() == cwd.resolve() for w in wrote), r.describe()
    h.assert_valid_profile(cpu[0], program="hello_exit")

    # The installed agent serves the live endpoint with the installed library.
    port = free_port()
    server = h.start([h.workload("live_server")], outdir=cwd, cwd=cwd,
                     env={"LD_PRELOAD": agent, "PPROF_HTTP": f"127.0.0.1:{port}"})
    server.wait_for_stdout("ready")
    try:
        r = http(f"http://127.0.0.1:{port}/debug/pprof/cmdline")
        maps = Path(f"/proc/{server.pid}/maps").read_text()
    finally:
        server.signal(15)
        done = server.finish(60)
    assert r.status == 200 and b"live_server" in r.body, r.describe()
    assert str(http_library) in maps, maps
    assert done.returncode == 0 and done.ppagent_lines == [], done.describe()
