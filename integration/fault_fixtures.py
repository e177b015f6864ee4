"""Shared pieces of the fault and security tests (issue 6 points 5 and 7):
tmpfs mounts that are always unmounted, the fault_target workload, and the
check that every profile file in a directory is complete and valid."""

import contextlib
import errno
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

DUMP_KINDS = ("threads", "threadcreate", "heap", "allocs")
MEM_RATE = 4096


@contextlib.contextmanager
def tmpfs(size="256k"):
    """A fresh tmpfs of `size`, unmounted and removed afterwards."""
    mnt = Path(tempfile.mkdtemp(prefix="ppagent-fault-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        os.rmdir(mnt)


def remount(path, mode):
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def fill_disk(directory):
    """Writes a filler file until the file system is full; returns its path."""
    filler = Path(directory) / "filler"
    with open(filler, "wb", buffering=0) as f:
        block = b"\0" * 4096
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def expected_output(h):
    """fault_target's stdout and status without the agent."""
    r = h.run([h.workload("fault_target"), "-"], agent=False)
    assert r.returncode == 7, r.describe()
    return r.stdout


def start_target(h, outdir, control, env=None, **kw):
    e = {"PPROF_MEM_RATE": MEM_RATE, "PPROF_CPU_HZ": 100}
    e.update(env or {})
    p = h.start([h.workload("fault_target"), control / "stop"], outdir=outdir, env=e,
                cwd=control, **kw)
    p.wait_for_stdout("ready")
    return p


def dump_files(outdir, pid, n):
    return {k: Path(outdir) / f"fault_target.{pid}.{k}.{n}.pb.gz" for k in DUMP_KINDS}


def wait_until(predicate, what, proc=None, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.popen.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def dump(proc, outdir, n):
    """Asks for dump n by signal and waits until all its files are there."""
    proc.signal(signal.SIGUSR2)
    files = dump_files(outdir, proc.pid, n)
    wait_until(lambda: all(f.exists() for f in files.values()), f"dump {n} in {outdir}", proc)
    return files


def stderr_lines(proc):
    return [l for l in proc.err_path.read_text(errors="replace").splitlines()
            if l.startswith("ppagent:")]


def wait_for_line(proc, text, count=1):
    wait_until(lambda: sum(text in l for l in stderr_lines(proc)) >= count,
               f"{count} ppagent: line(s) containing {text!r}; have {stderr_lines(proc)}", proc)


def stop(proc, control, timeout=120):
    (control / "stop").touch()
    return proc.finish(timeout)


class Figures:
    """Counts for the report: processes, faults, files checked, bad files."""
    processes = 0
    faults = 0
    files_checked = 0
    files_bad = 0


def check_directory(h, outdir):
    """Every file in `outdir` is a complete profile that go tool pprof -raw
    reads (no temporary or partial files left); returns their names."""
    names = sorted(p.name for p in Path(outdir).iterdir())
    leftovers = [n for n in names if n.startswith(".")]
    assert not leftovers, f"temporary files left in {outdir}: {leftovers}"
    profiles = [n for n in names if n.endswith(".pb.gz")]
    for name in profiles:
        Figures.files_checked += 1
        try:
            h.decode(Path(outdir) / name)
            raw = h.pprof_raw(Path(outdir) / name)
            assert "Samples:" in raw or "PeriodType" in raw, raw[:500]
        except Exception:
            Figures.files_bad += 1
            raise
    return profiles
