"""Issue 4, "nearly free when off": with mutex and block profiling off, the
program's calls of pthread_mutex_lock/_unlock go to glibc directly, not
through the agent; likewise malloc/free while heap profiling is off. Read from
outside: the slot's address from `readelf -r`, its content from
/proc/<pid>/mem, its owner from /proc/<pid>/maps."""

import os
import re
import signal
import struct
import subprocess

import pytest


FUNCTIONS = ("pthread_mutex_lock", "pthread_mutex_unlock", "malloc", "free")


def plt_slots(binary):
    """Offsets of the JUMP_SLOT relocations for FUNCTIONS."""
    out = subprocess.run(["readelf", "-rW", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    slots = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+R_X86_64_JUMP_SLOT\s+[0-9a-f]+\s+"
                     r"(pthread_mutex_(?:un)?lock|malloc|free)@", line)
        if m:
            slots[m.group(2)] = int(m.group(1), 16)
    assert set(slots) == set(FUNCTIONS), out
    return slots


def mappings(pid):
    maps = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            maps.append((lo, hi, int(parts[2], 16), parts[5] if len(parts) > 5 else ""))
    return maps


def slot_owners(h, env, *args):
    """Start lock_binding under `env`; return {function: basename of the object
    its PLT slot leads to}."""
    binary = h.workload("lock_binding")
    p = h.start([binary, *args], agent=env is not None, outdir=h.tmpdir("out"), env=env or {})
    try:
        p.wait_for_stdout("ready\n")
        maps = mappings(p.pid)
        base = min(lo - off for lo, hi, off, path in maps if path == str(binary))
        owners = {}
        with open(f"/proc/{p.pid}/mem", "rb") as mem:
            for name, offset in plt_slots(binary).items():
                mem.seek(base + offset)
                target = struct.unpack("<Q", mem.read(8))[0]
                where = [path for lo, hi, off, path in maps if lo <= target < hi]
                owners[name] = os.path.basename(where[0]) if where else hex(target)
        return owners
    finally:
        p.signal(signal.SIGKILL)
        p.finish(30)


def owner_kind(name):
    if name.startswith("libc.so"):
        return "glibc"
    if name == "libppagent.so":
        return "agent"
    if name == "lock_binding":
        return "unbound"
    return name


@pytest.mark.timeout(120)
@pytest.mark.parametrize("config,args,expected", [
    # expected: where (lock, unlock, malloc, free) lead
    (None, [], ("glibc", "glibc", "glibc", "glibc")),
    ({"PPROF_MEM_RATE": "0"}, [], ("glibc", "glibc", "glibc", "glibc")),
    ({}, [], ("glibc", "glibc", "agent", "agent")),
    ({"PPROF_CPU_HZ": "0", "PPROF_MEM_RATE": "0"}, ["unbound"],
     ("glibc", "glibc", "glibc", "glibc")),
    ({"PPROF_MUTEX_FRACTION": "1", "PPROF_MEM_RATE": "0"}, [], ("agent", "agent", "glibc", "glibc")),
    ({"PPROF_BLOCK_RATE": "1"}, [], ("agent", "glibc", "agent", "agent")),
    ({"PPROF_MUTEX_FRACTION": "1", "PPROF_BLOCK_RATE": "1"}, ["unbound"],
     ("unbound", "unbound", "unbound", "unbound")),
], ids=["no-agent", "agent-all-off", "heap-on", "nothing-recorded-unbound", "mutex-on",
        "block-only", "all-on-unbound"])
def test_where_the_program_calls_lead(h, config, args, expected):
    owners = slot_owners(h, config, *args)
    got = tuple(owner_kind(owners[f]) for f in FUNCTIONS)
    assert got == expected, owners
