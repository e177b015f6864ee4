"""8. The launcher: `ppagent run [--cpu-hz N] [-o DIR] [--] PROGRAM [ARGS...]`."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import AGENT, BUILD

WROTE = re.compile(r"^ppagent: wrote (.+)$", re.M)


def wrote_paths(run):
    return [Path(p) for p in WROTE.findall(run.stderr)]


def the_written_profile(h, run, program, directory, hz=100):
    """The CPU profile among the files ppagent says it wrote: one line per file,
    the CPU profile and (heap profiling being on by default) heap and allocs."""
    paths = wrote_paths(run)
    pattern = re.compile(rf"{re.escape(program)}\.\d+\.(cpu|heap|allocs)\.pb\.gz")
    kinds = sorted(m.group(1) for m in (pattern.fullmatch(p.name) for p in paths) if m)
    assert len(paths) == 3 and kinds == ["allocs", "cpu", "heap"], (
        "expected 'ppagent: wrote <path>' for the cpu, heap and allocs profiles\n" + run.describe())
    for p in paths:
        assert p.is_absolute(), p
        assert p.parent.resolve() == Path(directory).resolve(), f"{p} is not in {directory}"
        assert p.is_file(), f"{p} does not exist\n" + run.describe()
    cpu = next(p for p in paths if p.name.endswith(".cpu.pb.gz"))
    h.assert_valid_profile(cpu, hz=hz, program=program)
    return cpu


@pytest.mark.timeout(60)
def test_run_writes_profile_and_says_so(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--", h.workload("hello_exit"), "0"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    assert "hello from hello_exit" in r.stdout, r.describe()
    the_written_profile(h, r, "hello_exit", cwd)
    assert r.ppagent_lines == [f"ppagent: wrote {p}" for p in wrote_paths(r)], r.describe()


@pytest.mark.timeout(60)
def test_run_without_double_dash(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", h.workload("hello_exit"), "0"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    the_written_profile(h, r, "hello_exit", cwd)


@pytest.mark.timeout(60)
def test_exit_status_passthrough(h):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--", h.workload("exit_paths"), "exit", "0.2", "7"], cwd=cwd)
    assert r.returncode == 7, r.describe()
    the_written_profile(h, r, "exit_paths", cwd)


@pytest.mark.timeout(60)
def test_killed_by_sigkill_is_137(h):
    r = h.run_launcher(["run", "--", h.workload("exit_paths"), "sigkill", "0.2"])
    assert r.returncode == 137, r.describe()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("flag", ["-o", "--output-dir"])
def test_output_dir_flag(h, flag):
    cwd, out = h.tmpdir("cwd"), h.tmpdir("out")
    r = h.run_launcher(["run", flag, out, "--", h.workload("hello_exit"), "0"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    the_written_profile(h, r, "hello_exit", out)
    assert list(cwd.iterdir()) == [], f"nothing should be written to the cwd: {list(cwd.iterdir())}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", [None, "0640", "0664"])
def test_file_mode_flag(h, mode):
    out = h.tmpdir("out")
    flags = ["--file-mode", mode] if mode else []
    r = h.run_launcher(["run", "--mem-rate", "1", *flags, "-o", out, "--",
                        h.workload("hello_exit"), "0"])
    assert r.returncode == 0, r.describe()
    files = sorted(out.glob("*.pb.gz"))
    assert len(files) >= 3, r.describe()
    for f in files:
        assert oct(f.stat().st_mode & 0o7777) == oct(int(mode or "0600", 8)), f


@pytest.mark.timeout(60)
def test_relative_output_dir(h):
    cwd = h.tmpdir("cwd")
    (cwd / "rel").mkdir()
    r = h.run_launcher(["run", "-o", "rel", "--", h.workload("hello_exit"), "0"], cwd=cwd)
    assert r.returncode == 0, r.describe()
    the_written_profile(h, r, "hello_exit", cwd / "rel")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("hz", [1000, 250])
def test_cpu_hz_flag(h, hz):
    cwd = h.tmpdir("cwd")
    r = h.run_launcher(["run", "--cpu-hz", str(hz), "--", h.workload("exit_paths"), "return", "0.3"],
                       cwd=cwd)
    assert r.returncode == 0, r.describe()
    p = the_written_profile(h, r, "exit_paths", cwd, hz=hz)  # checks period = 1e9/hz
    assert h.decode(p).p.period == 1_000_000_000 // hz


@pytest.mark.timeout(60)
def test_existing_ld_preload_is_kept(h):
    cwd = h.tmpdir("cwd")
    other = h.workload("preload_hello.so")
    r = h.run_launcher(["run", "--", h.workload("hello_exit"), "0", "LD_PRELOAD"], cwd=cwd,
                       env={"LD_PRELOAD": other})
    assert r.returncode == 0, r.describe()
    assert "preload_hello: loaded into hello_exit" in r.stderr, (
        "the program's own LD_PRELOAD library was not loaded\n" + r.describe())
    m = re.search(r"^LD_PRELOAD=(.*)$", r.stdout, re.M)
    assert m, r.describe()
    entries = [e for e in re.split(r"[: ]", m.group(1)) if e]
    assert len(entries) == 2 and Path(entries[0]).name == "libppagent.so" \
        and Path(entries[1]).resolve() == other.resolve(), (
            f"LD_PRELOAD should be the agent followed by the existing value: {m.group(1)!r}")
    the_written_profile(h, r, "hello_exit", cwd)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_to_launcher_is_forwarded(h, signum):
    cwd = h.tmpdir("cwd")
    p = h.start([h.launcher, "run", "--", h.workload("exit_paths"), "wait-signal"], agent=False,
                cwd=cwd)
    p.wait_for_stdout("ready\n")
    time.sleep(0.2)
    p.signal(signum)  # to the launcher only, as kill(1) would
    r = p.finish(60)
    assert r.returncode == 128 + signum, (
        f"launcher should exit {128 + signum} after forwarding {signum.name}\n" + r.describe())
    the_written_profile(h, r, "exit_paths", cwd)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prog", ["/nonexistent/ppagent-no-such-program", "ppagent-no-such-program-xyz"])
def test_missing_program_127(h, prog):
    r = h.run_launcher(["run", "--", prog])
    assert r.returncode == 127, r.describe()
    assert len(r.ppagent_lines) == 1, r.describe()


CANNOT_EXECUTE = {
    # (script, mode, words in the one ppagent: line)
    "not-executable": ("#!/bin/sh\necho should-not-run\n", 0o644, ""),
    "missing-interpreter": ("#!/nonexistent/ppagent-no-such-interpreter\necho should-not-run\n",
                            0o755, "interpreter"),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", sorted(CANNOT_EXECUTE))
def test_cannot_execute_126(h, case):
    text, mode, words = CANNOT_EXECUTE[case]
    f = h.tmpdir(case) / "script"
    f.write_text(text)
    f.chmod(mode)
    r = h.run_launcher(["run", "--", f])
    assert r.returncode == 126, r.describe()
    assert "should-not-run" not in r.stdout
    assert len(r.ppagent_lines) == 1, r.describe()
    assert words in r.ppagent_lines[0], r.describe()


@pytest.mark.timeout(60)
def test_program_gets_the_launchers_signal_state(h):
    # The launcher handles SIGTERM and blocks it while starting PROGRAM; PROGRAM
    # must get what the launcher was given: SIGTERM at its default, SIGINT still
    # ignored (as under nohup), SIGUSR2 still blocked.
    script = ("import signal; "
              "print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, "
              "signal.getsignal(signal.SIGINT) == signal.SIG_IGN, "
              "signal.SIGUSR2 in signal.pthread_sigmask(signal.SIG_BLOCK, []), "
              "signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, []))")

    def given_state():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])

    r = subprocess.run([str(h.launcher), "run", "--", "/usr/bin/python3", "-c", script],
                       preexec_fn=given_state, capture_output=True, text=True, timeout=50,
                       env=dict(os.environ, PPROF_OUTPUT_DIR=str(h.tmpdir("sigstate"))))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "True", "True", "False"], r.stdout + r.stderr


@pytest.mark.timeout(60)
def test_static_binary_125(h):
    prog = h.workload("static_hello")
    info = subprocess.run(["file", "-L", str(prog)], capture_output=True, text=True).stdout
    assert "statically linked" in info, f"precondition: {prog} must be static: {info}"
    r = h.run_launcher(["run", "--", prog])
    assert r.returncode == 125, r.describe()
    assert "hello from static_hello" not in r.stdout, "the static program should not be run"
    assert len(r.ppagent_lines) == 1 and "static" in r.ppagent_lines[0].lower(), r.describe()


BAD_ARGS = [
    ["run", "--bogus", "--", "{hello}", "0"],
    ["run", "--cpu-hz", "abc", "--", "{hello}", "0"],
    ["run", "--cpu-hz", "1001", "--", "{hello}", "0"],
    ["run", "--cpu-hz", "-1", "--", "{hello}", "0"],
    ["run", "--file-mode", "0755", "--", "{hello}", "0"],
    ["run", "--file-mode", "0400", "--", "{hello}", "0"],
    ["run", "--file-mode", "0666", "--", "{hello}", "0"],
    ["run", "--file-mode", "640x", "--", "{hello}", "0"],
    ["run", "-o"],
    ["run"],
    ["frobnicate", "{hello}"],
    [],
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", BAD_ARGS, ids=[" ".join(a) or "(none)" for a in BAD_ARGS])
def test_usage_errors_exit_2(h, args):
    hello = str(h.workload("hello_exit"))
    r = h.run_launcher([a.replace("{hello}", hello) for a in args])
    assert r.returncode == 2, r.describe()
    assert "hello from hello_exit" not in r.stdout, "the program must not run\n" + r.describe()
    assert r.stderr.strip(), "a usage error must say something on stderr"


def project_version():
    info = subprocess.run(["meson", "introspect", "--projectinfo", str(BUILD)],
                          capture_output=True, text=True, check=True).stdout
    return json.loads(info)["version"]


@pytest.mark.timeout(60)
def test_version(h):
    r = h.run_launcher(["--version"])
    assert r.returncode == 0, r.describe()
    lines = r.stdout.splitlines()
    assert len(lines) >= 2, r.describe()
    assert lines[0] == f"ppagent {project_version()}", r.describe()
    assert lines[1].startswith("agent: "), r.describe()
    agent = lines[1][len("agent: "):]
    assert os.path.isabs(agent), agent
    assert os.path.realpath(agent) == str(AGENT.resolve()), f"{agent} is not the build tree's agent"


@pytest.mark.timeout(60)
def test_help(h):
    r = h.run_launcher(["--help"])
    assert r.returncode == 0, r.describe()
    text = r.stdout + r.stderr
    for word in ("run", "--cpu-hz", "-o", "--output-dir"):
        assert word in text, f"--help does not mention {word}\n{text}"
