"""Issue 6 point 5 (faults): an unwritable output directory (read-only
mount), a missing one (at start and removed after start), a full disk (a
tiny tmpfs filled up) and a file that appears at a target name. Each fault
is injected for real while fault_target runs under the agent; each test
asserts a clear ppagent: line saying what to do (one per cause, not one per
file), no temporary or partial files, the program's own output and exit
status unchanged, that the next trigger writes again once the fault is
gone, and that every profile file left is read by go tool pprof -raw."""

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from fault_fixtures import (Figures, check_directory, dump, dump_files, expected_output, fill_disk,
                            remount, start_target, stderr_lines, stop, tmpfs, wait_for_line,
                            wait_until)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root (CI runs as root)")


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    print(f"\n[faults] processes={Figures.processes} faults={Figures.faults} "
          f"files_checked={Figures.files_checked} files_bad={Figures.files_bad}")


def final_files(outdir, pid):
    return [Path(outdir) / f"fault_target.{pid}.{k}.pb.gz" for k in ("cpu", "heap", "allocs")]


def assert_program_unharmed(h, run):
    assert run.returncode == 7, run.describe()
    assert run.stdout == expected_output(h), run.describe()


def test_full_disk_then_freed(h):
    control = h.tmpdir("control")
    with tmpfs("256k") as disk:
        p = start_target(h, disk, control)
        Figures.processes += 1
        dump(p, disk, 1)
        filler = fill_disk(disk)
        Figures.faults += 1
        p.signal(signal.SIGUSR2)  # dump 2: the disk is full
        wait_for_line(p, "no space left")
        time.sleep(1)  # pacing only: let dump 2 try its other files on the full disk
        filler.unlink()
        p.signal(signal.SIGUSR2)  # dump 3: the next trigger writes again
        wait_for_line(p, "works again")
        files3 = dump_files(disk, p.pid, 3)
        wait_until(lambda: all(f.exists() for f in files3.values()), "dump 3", p)
        filler = fill_disk(disk)  # full again at exit: cpu, heap and allocs all fail
        Figures.faults += 1
        run = stop(p, control)
        assert_program_unharmed(h, run)
        lines = run.ppagent_lines
        nospace = [l for l in lines if "no space left" in l]
        # One line per outage, however many files failed (at exit: three).
        assert len(nospace) == 2, lines
        for l in nospace:
            assert "free some space" in l and "tries again" in l and str(disk) in l, l
        # The file named in the first line was not written, nor any final file.
        failed = nospace[0].rsplit("not written: ", 1)[1]
        assert not (disk / failed).exists(), run.describe()
        assert not any(f.exists() for f in final_files(disk, run.pid)), run.describe()
        assert all(f.exists() for f in dump_files(disk, run.pid, 1).values()), run.describe()
        filler.unlink()
        check_directory(h, disk)


def test_read_only_directory_then_writable(h):
    control = h.tmpdir("control")
    with tmpfs("4m") as out:
        p = start_target(h, out, control)
        Figures.processes += 1
        dump(p, out, 1)
        remount(out, "ro")
        Figures.faults += 1
        try:
            p.signal(signal.SIGUSR2)  # dump 2 fails
            wait_for_line(p, "read-only")
            time.sleep(1)  # pacing only: let dump 2 try its other files
        finally:
            remount(out, "rw")
        files = dump(p, out, 3)  # the next trigger writes again
        run = stop(p, control)
        assert_program_unharmed(h, run)
        ro = [l for l in run.ppagent_lines if "read-only" in l]
        assert len(ro) == 1 and "remount it read-write" in ro[0], run.ppagent_lines
        assert not any(f.exists() for f in dump_files(out, run.pid, 2).values()), run.describe()
        assert all(f.exists() for f in files.values())
        assert all(f.exists() for f in final_files(out, run.pid)), run.describe()
        h.assert_valid_profile(final_files(out, run.pid)[0], min_samples=0)
        check_directory(h, out)


def test_read_only_bind_mount_at_start(h):
    """Unwritable from the start: one line at start, no files, program unharmed."""
    control = h.tmpdir("control")
    out = h.tmpdir("ro_bind")
    subprocess_run = __import__("subprocess").run
    subprocess_run(["mount", "--bind", str(out), str(out)], check=True)
    try:
        subprocess_run(["mount", "-o", "remount,bind,ro", str(out)], check=True)
        Figures.faults += 1
        p = start_target(h, out, control)
        Figures.processes += 1
        run = stop(p, control)
    finally:
        subprocess_run(["umount", str(out)], check=True)
    assert_program_unharmed(h, run)
    assert len(run.ppagent_lines) == 1 and "is not writable" in run.ppagent_lines[0], run.describe()
    assert list(out.iterdir()) == [] and not list(control.glob("*.pb.gz"))


def test_missing_directory_at_start(h):
    control = h.tmpdir("control")
    missing = control / "no" / "such" / "dir"
    p = start_target(h, missing, control)
    Figures.processes += 1
    Figures.faults += 1
    run = stop(p, control)
    assert_program_unharmed(h, run)
    assert len(run.ppagent_lines) == 1, run.describe()
    assert "is not an existing directory" in run.ppagent_lines[0]
    assert not missing.exists() and not list(control.rglob("*.pb.gz"))


def test_directory_removed_after_start_then_recreated(h):
    control = h.tmpdir("control")
    out = h.tmpdir("removed") / "out"
    out.mkdir()
    p = start_target(h, out, control)
    Figures.processes += 1
    dump(p, out, 1)
    shutil.rmtree(out)
    Figures.faults += 1
    p.signal(signal.SIGUSR2)
    wait_for_line(p, "no longer exists")
    time.sleep(1)  # pacing only: let dump 2 try its other files
    out.mkdir()
    files = dump(p, out, 3)
    run = stop(p, control)
    assert_program_unharmed(h, run)
    gone = [l for l in run.ppagent_lines if "no longer exists" in l]
    assert len(gone) == 1 and f"mkdir -p {out}" in gone[0], run.ppagent_lines
    assert all(f.exists() for f in files.values())
    assert all(f.exists() for f in final_files(out, run.pid)), run.describe()
    check_directory(h, out)


def test_files_appearing_at_target_names_are_kept(h):
    control = h.tmpdir("control")
    out = h.tmpdir("planted")
    outside = h.tmpdir("outside")
    keep = outside / "keep"
    keep.write_text("keep")
    p = start_target(h, out, control)
    Figures.processes += 1
    planned = dump_files(out, p.pid, 1)
    planned["heap"].write_text("planted")                     # a regular file
    planned["allocs"].symlink_to(outside / "victim")           # a dangling link
    planned["threads"].symlink_to(keep)                        # a link to a file
    final_cpu = final_files(out, p.pid)[0]
    final_cpu.write_text("planted cpu")
    Figures.faults += 4
    p.signal(signal.SIGUSR2)
    wait_for_line(p, "already exists", count=3)
    run = stop(p, control)
    assert_program_unharmed(h, run)
    assert planned["heap"].read_text() == "planted"
    assert planned["allocs"].is_symlink() and not (outside / "victim").exists()
    assert planned["threads"].is_symlink() and keep.read_text() == "keep"
    assert final_cpu.read_text() == "planted cpu"
    exists = [l for l in run.ppagent_lines if "already exists" in l]
    assert len(exists) == 4, run.ppagent_lines  # one per file that was not written
    for f in (planned["heap"], planned["allocs"], planned["threads"], final_cpu):
        assert any(str(f) in l for l in exists), (f, exists)
    # The files that were free were written in full.
    assert planned["threadcreate"].exists()
    for f in final_files(out, run.pid)[1:]:
        assert f.exists(), run.describe()
    for f in list(planned.values()) + [final_cpu]:
        if not f.is_symlink() and f.read_bytes()[:2] == b"\x1f\x8b":
            h.pprof_raw(f)
            Figures.files_checked += 1
    leftovers = [n.name for n in out.iterdir() if n.name.startswith(".")]
    assert not leftovers, leftovers
    assert sorted(x.name for x in outside.iterdir()) == ["keep"]
