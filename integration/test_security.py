"""Issue 6 point 7 (security): under secure execution (a setuid copy of a
test binary, AT_SECURE=1 checked) the agent does nothing and says so; profile
files have mode 0600 unless PPROF_FILE_MODE says otherwise; nothing from the
environment (program name, PPROF_REPORT_FILE) or a directory swapped for a
symbolic link after start makes the agent write outside the output directory."""

import os
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from fault_fixtures import (Figures, check_directory, dump, dump_files, expected_output, start_target,
                            stop, wait_for_line)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="setuid files and other users need root")

SYSTEM_LIBDIR = Path("/usr/lib/x86_64-linux-gnu")


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    print(f"\n[security] processes={Figures.processes} faults={Figures.faults} "
          f"files_checked={Figures.files_checked} files_bad={Figures.files_bad}")


@pytest.fixture
def setuid_setup(h):
    """A setuid-nobody copy of fault_target in a directory every user can
    reach, and the agent as a setuid library in the system directory (glibc
    preloads nothing else into a secure program). All removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="ppagent-secure-", dir="/var/tmp"))
    lib = SYSTEM_LIBDIR / f"libppagent-secure-test-{os.getpid()}.so"
    try:
        os.chmod(base, 0o755)
        prog = base / "fault_target"
        shutil.copy(h.workload("fault_target"), prog)
        os.chown(prog, 65534, 65534)  # nobody
        os.chmod(prog, 0o4755)
        out = base / "out"
        out.mkdir(mode=0o777)
        os.chmod(out, 0o777)
        shutil.copy(h.agent, lib)
        os.chmod(lib, 0o4755)
        yield prog, lib, out
    finally:
        lib.unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


def run_as_daemon_user(h, argv, env):
    """argv as user daemon; env is set by env(1) after setpriv, so that only
    the program itself (not setpriv) has the agent preloaded."""
    assigns = [f"{k}={v}" for k, v in env.items()]
    return h.run(["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups",
                  "/usr/bin/env", *assigns, *argv], agent=False)


def test_secure_execution_does_nothing(h, setuid_setup):
    prog, lib, out = setuid_setup
    # Everything the agent would act on: files, CPU, heap, a live endpoint.
    run = run_as_daemon_user(h, [prog, "-"], {
        "LD_PRELOAD": lib.name, "PPROF_OUTPUT_DIR": out, "PPROF_CPU_HZ": 100,
        "PPROF_MEM_RATE": 4096, "PPROF_HTTP": "127.0.0.1:6391"})
    Figures.processes += 1
    assert "AT_SECURE=1" in run.stdout, run.describe()  # secure execution really was on
    assert run.returncode == 7 and run.stdout.replace("AT_SECURE=1", "AT_SECURE=0") == \
        expected_output(h), run.describe()
    # The agent was loaded (its line) and did nothing else.
    assert run.ppagent_lines == [
        "ppagent: secure execution (setuid or setgid program): the agent does nothing"], run.describe()
    assert list(out.iterdir()) == [], run.describe()

    # Control: the same library and user on a copy without the setuid bit
    # records and writes as usual.
    plain = prog.parent / "fault_target_plain"
    shutil.copy(prog, plain)
    os.chmod(plain, 0o755)
    ctl = run_as_daemon_user(h, [plain, "-"], {
        "LD_PRELOAD": lib.name, "PPROF_OUTPUT_DIR": out, "PPROF_CPU_HZ": 100,
        "PPROF_MEM_RATE": 4096})
    Figures.processes += 1
    assert "AT_SECURE=0" in ctl.stdout and ctl.returncode == 7, ctl.describe()
    assert sorted(p.name.split(".")[-3] for p in out.glob("*.pb.gz")) == ["allocs", "cpu", "heap"]
    check_directory(h, out)


def test_file_mode_default_and_configured(h):
    for mode_env, want in ((None, 0o600), ("0640", 0o640), ("0755", 0o600)):
        control = h.tmpdir("control")
        out = h.tmpdir("mode")
        env = {} if mode_env is None else {"PPROF_FILE_MODE": mode_env}
        # A permissive umask must not widen the files, a strict one not narrow them.
        p = start_target(h, out, control, env=env, preexec_fn=lambda: os.umask(0o002))
        Figures.processes += 1
        dump(p, out, 1)
        run = stop(p, control)
        assert run.returncode == 7, run.describe()
        if mode_env == "0755":
            assert len(run.ppagent_lines) == 1 and "PPROF_FILE_MODE" in run.ppagent_lines[0]
        else:
            assert run.ppagent_lines == [], run.describe()
        files = check_directory(h, out)
        assert len(files) == 7, files  # 4 of the dump, cpu, heap, allocs at exit
        for name in files:
            assert stat.S_IMODE((out / name).stat().st_mode) == want, (mode_env, name)


def test_hostile_program_names_stay_in_the_directory(h):
    parent = h.tmpdir("names")
    out = parent / "out"
    out.mkdir()
    names = ["../../escape", "..", ".", "", "a\nb", "x" * 300, "/etc/passwd"]
    for argv0 in names:
        r = subprocess.run([argv0, "-"], executable=h.workload("fault_target"), capture_output=True,
                           text=True, cwd=parent,
                           env={**{k: v for k, v in os.environ.items() if not k.startswith("PPROF_")},
                                "LD_PRELOAD": str(h.agent), "PPROF_OUTPUT_DIR": str(out),
                                "PPROF_MEM_RATE": "4096"}, timeout=120)
        Figures.processes += 1
        assert r.returncode == 7, (argv0, r.stderr)
        assert not [l for l in r.stderr.splitlines() if l.startswith("ppagent:")], r.stderr
    assert sorted(p.name for p in parent.iterdir()) == ["out"]
    files = check_directory(h, out)
    assert len(files) == 3 * len(names), files
    for f in files:
        assert "\n" not in f and len(f) < 255 and not f.startswith("."), f


def test_report_file_only_when_the_launcher_made_it(h):
    outside = h.tmpdir("outside")
    victims = {
        "missing": outside / "ppagent-report.missing",       # would be created
        "foreign_name": outside / "authorized_keys",         # not a report file name
        "shared": outside / "ppagent-report.shared",         # readable by others
        "link": outside / "ppagent-report.link",             # a link to another file
        "good": outside / "ppagent-report.good",             # as the launcher makes it
    }
    victims["foreign_name"].write_text("")
    os.chmod(victims["foreign_name"], 0o600)
    victims["shared"].write_text("")
    os.chmod(victims["shared"], 0o644)
    target = outside / "target"
    target.write_text("")
    os.chmod(target, 0o600)
    victims["link"].symlink_to(target)
    victims["good"].write_text("")
    os.chmod(victims["good"], 0o600)
    for key, path in victims.items():
        out = h.tmpdir("report_out")
        r = h.run_agent([h.workload("fault_target"), "-"], outdir=out,
                        env={"PPROF_REPORT_FILE": path, "PPROF_MEM_RATE": 4096})
        Figures.processes += 1
        Figures.faults += key != "good"
        assert r.returncode == 7, r.describe()
        if key == "good":
            listed = path.read_text().splitlines()
            assert sorted(listed) == sorted(str(p) for p in out.glob("*.pb.gz")) and listed
        elif key == "missing":
            assert not path.exists()
        else:
            assert path.read_text() == "", key
    assert target.read_text() == ""


def test_directory_swapped_for_a_link_after_start(h):
    control = h.tmpdir("control")
    base = h.tmpdir("swap")
    out = base / "out"
    out.mkdir()
    elsewhere = h.tmpdir("elsewhere")
    p = start_target(h, out, control)
    Figures.processes += 1
    dump(p, out, 1)
    out.rename(base / "out.real")
    out.symlink_to(elsewhere)
    Figures.faults += 1
    p.signal(signal.SIGUSR2)
    wait_for_line(p, "symbolic link")
    (base / "out").unlink()
    (base / "out.real").rename(out)
    files = dump(p, out, 3)
    run = stop(p, control)
    assert run.returncode == 7 and run.stdout == expected_output(h), run.describe()
    assert list(elsewhere.iterdir()) == [], "written through the link"
    assert all(f.exists() for f in files.values())
    check_directory(h, out)
