"""What the files on disk say a profile's function names should be.

Debian strips its programs and libraries: most keep only their dynamic symbol
table (.dynsym: the functions they export), a few (node) a full .symtab, some
executables (curl, openssl, git, sqlite3, dash) no function symbol at all.
With no debug information installed for them, the only names a profiler can
honestly give an address in such an object are those of the ELF symbols that
cover it. This module reads those symbols with `readelf` (binutils) and the
profile with `go tool pprof -raw` (the reader users have), and compares:

- every location in an object without debug information (no .debug_info, no
  separate debug file by build ID) is checked: a name must be that of a symbol
  covering the address (or the byte before it: callers' frames hold return
  addresses); an address whose byte and the byte before it both lie inside
  symbols must be named; an address no symbol covers must stay unnamed
  (a name there is a wrong one, such as the nearest exported function);
- the mapping's build ID must be the file's (the file read is the one that ran).

A name "X@plt" for an address in a PLT section is accepted too (the stub for X).

Objects with debug information (glibc and ld.so through libc6-dbg, the agent
itself, node's partial .debug_info) carry DWARF names, inlined frames and local
functions the symbol table does not list: their names are recorded (for the
tests' "names for the program's own functions") but not compared with the
symbol table; DWARF names are test_debuginfo.py's subject.
"""

import bisect
import os
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache

# ---------------------------------------------------------------------------
# go tool pprof -raw


@dataclass
class RawLocation:
    id: int
    address: int
    mapping: int  # 0: none
    lines: list  # [(name, system name)], innermost first, as pprof prints them


@dataclass
class RawMapping:
    id: int
    start: int
    limit: int
    offset: int
    file: str
    build_id: str


@dataclass
class RawProfile:
    text: str
    period_type: str = ""
    types: list = field(default_factory=list)  # "type/unit", pprof's [dflt] mark removed
    samples: list = field(default_factory=list)  # [(values, [location ids])], leaf first
    locations: dict = field(default_factory=dict)
    mappings: dict = field(default_factory=dict)

    def functions(self, loc_id):
        return [n for n, _ in self.locations[loc_id].lines if n]

    def total(self, type_prefix):
        i = self.type_index(type_prefix)
        return sum(v[i] for v, _ in self.samples)

    def type_index(self, type_prefix):
        for i, t in enumerate(self.types):
            if t.startswith(type_prefix):
                return i
        raise AssertionError(f"no sample type {type_prefix!r} in {self.types}")

    def share_with(self, type_prefix, pred):
        """Share of the values of `type_prefix` in samples whose stack has a
        function name for which pred(name) is true (pprof's cum %)."""
        i = self.type_index(type_prefix)
        tot = hit = 0
        for vals, locs in self.samples:
            tot += vals[i]
            if any(pred(n) for lid in locs for n in self.functions(lid)):
                hit += vals[i]
        return hit / tot if tot else 0.0

    def mapping_of(self, loc):
        return self.mappings.get(loc.mapping)

    def names_in(self, basename_prefixes):
        """Function names of locations whose mapping's file name starts with one
        of the prefixes (over all samples' locations)."""
        out = set()
        for loc in self.locations.values():
            m = self.mapping_of(loc)
            if m and os.path.basename(m.file).startswith(tuple(basename_prefixes)):
                out.update(n for n, _ in loc.lines if n)
        return out

    def locations_in(self, path):
        return [l for l in self.locations.values()
                if self.mapping_of(l) and os.path.realpath(self.mapping_of(l).file) == path]


# "name filename:line s=start(system name)": pprof prints the system name in
# parentheses only when it differs from the name; names may contain spaces.
_LINE = re.compile(r"^(?P<name>.*) (?P<file>\S*):(?P<line>-?\d+) s=(?P<start>-?\d+)"
                   r"(?:\((?P<sys>.*)\))?$")
_LOC = re.compile(r"^\s*(?P<id>\d+): (?P<addr>0x[0-9a-f]+|0) (?:M=(?P<m>\d+) )?(?:\[F\] )?(?P<rest>.*)$")
_MAP = re.compile(r"^(?P<id>\d+): (?P<start>0x[0-9a-f]+|0)/(?P<limit>0x[0-9a-f]+|0)/"
                  r"(?P<off>0x[0-9a-f]+|0) (?P<file>\S*) ?(?P<bid>[0-9a-f]*)")


def _line(text):
    text = text.rstrip()
    if text.strip() == "??":
        return ("", "")
    m = _LINE.match(text)
    assert m, f"cannot parse a pprof -raw location line: {text!r}"
    return (m.group("name"), m.group("sys") if m.group("sys") is not None else m.group("name"))


def parse_raw(text):
    """Parses pprof's -raw text (profile.String()): the sample block, the
    locations (with every line of inlined frames) and the mappings."""
    prof = RawProfile(text=text)
    section, last = None, None
    for line in text.splitlines():
        if line.startswith("PeriodType:"):
            prof.period_type = line.split(":", 1)[1].strip()
            continue
        if line in ("Samples:", "Locations", "Mappings"):
            section = line
            continue
        if section == "Samples:":
            if not prof.types:
                prof.types = [t.replace("[dflt]", "") for t in line.split()]
                continue
            m = re.match(r"^\s*(-?\d+(?:\s+-?\d+)*):((?:\s+\d+)*)\s*$", line)
            if m:
                prof.samples.append(([int(x) for x in m.group(1).split()],
                                     [int(x) for x in m.group(2).split()]))
        elif section == "Locations":
            m = _LOC.match(line)
            if m and not line.startswith("             "):
                rest = m.group("rest")
                last = RawLocation(id=int(m.group("id")), address=int(m.group("addr"), 16),
                                   mapping=int(m.group("m") or 0),
                                   lines=[_line(rest)] if rest.strip() else [])
                prof.locations[last.id] = last
            elif line.strip() and last is not None:
                last.lines.append(_line(line[13:]))
        elif section == "Mappings":
            m = _MAP.match(line)
            if m:
                prof.mappings[int(m.group("id"))] = RawMapping(
                    id=int(m.group("id")), start=int(m.group("start"), 16),
                    limit=int(m.group("limit"), 16), offset=int(m.group("off"), 16),
                    file=m.group("file"), build_id=m.group("bid"))
    assert prof.types, f"no Samples: block in pprof -raw output:\n{text[:2000]}"
    for vals, locs in prof.samples:
        assert len(vals) == len(prof.types), (vals, prof.types)
        for lid in locs:
            assert lid in prof.locations, f"sample refers to location {lid}, not listed"
    return prof


# ---------------------------------------------------------------------------
# ELF symbols (readelf)


def readelf(*args):
    r = subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, timeout=300,
                       env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    assert r.returncode == 0, f"readelf {' '.join(args)} failed: {r.stderr}"
    return r.stdout


_SYM = re.compile(r"^\s*\d+: ([0-9a-f]+)\s+(0x[0-9a-f]+|\d+) (\S+)\s+\S+\s+\S+\s+(\S+) (.*)$")


@dataclass
class Segment:
    offset: int
    vaddr: int
    filesz: int
    flags: str


class ElfObject:
    """One ELF file's loadable segments, sections, build ID, whether it has
    debug information, and its defined symbols (.dynsym and .symtab)."""

    def __init__(self, path):
        self.path = path
        headers = readelf("-l", "-S", "-n", path)
        self.segments = []
        for m in re.finditer(r"^\s*LOAD\s+(0x[0-9a-f]+) (0x[0-9a-f]+) 0x[0-9a-f]+ (0x[0-9a-f]+) "
                             r"0x[0-9a-f]+ ([RWE ]+?) 0x", headers, re.M):
            self.segments.append(Segment(int(m.group(1), 16), int(m.group(2), 16),
                                         int(m.group(3), 16), m.group(4).replace(" ", "")))
        assert self.segments, f"{path}: no LOAD segment in readelf -l"
        # [Nr] Name Type Address Off Size ...
        self.sections = {}
        for m in re.finditer(r"^\s*\[\s*(\d+)\] (\S+)\s+\S+\s+([0-9a-f]+) [0-9a-f]+ ([0-9a-f]+) ",
                             headers, re.M):
            self.sections[int(m.group(1))] = (m.group(2), int(m.group(3), 16), int(m.group(4), 16))
        names = {n for n, _, _ in self.sections.values()}
        self.has_symtab = ".symtab" in names
        m = re.search(r"Build ID: ([0-9a-f]+)", headers)
        self.build_id = m.group(1) if m else ""
        self.debug_file = None
        if self.build_id:
            f = f"/usr/lib/debug/.build-id/{self.build_id[:2]}/{self.build_id[2:]}.debug"
            if os.path.exists(f):
                self.debug_file = f
        assert ".gnu_debugdata" not in names, (
            f"{path} has MiniDebugInfo (.gnu_debugdata): its symbols are not checked here")
        self.has_debug_info = ".debug_info" in names or self.debug_file is not None
        # (start, end, name, section index); end == start for sizeless symbols
        syms = []
        for line in readelf("--syms", path).splitlines():
            m = _SYM.match(line)
            if not m or m.group(3) not in ("FUNC", "IFUNC", "NOTYPE"):
                continue
            ndx, name = m.group(4), m.group(5).split(" (")[0].split("@")[0].strip()
            if not ndx.isdigit() or not name:
                continue
            value = int(m.group(1), 16)
            size = int(m.group(2), 16) if m.group(2).startswith("0x") else int(m.group(2))
            if value == 0:
                continue
            syms.append((value, value + size, name, int(ndx)))
        syms = sorted(set(syms))
        self.symbols = syms
        self.starts = [s[0] for s in syms]
        self.function_count = sum(1 for s in syms if s[1] > s[0])

    def vaddr(self, mapping, address):
        """The ELF virtual address of a runtime address in `mapping` (pprof's
        start/limit/offset: the runtime address `start` holds file offset
        `offset`), or None when it is outside every executable segment."""
        off = address - mapping.start + mapping.offset
        for s in self.segments:
            if "E" in s.flags and s.offset <= off < s.offset + s.filesz:
                return off - s.offset + s.vaddr
        return None

    def section_of(self, vaddr):
        for idx, (name, addr, size) in self.sections.items():
            if addr and addr <= vaddr < addr + size:
                return idx
        return None

    def plt_stub(self, vaddr, name):
        """A name "X@plt" for an address in a PLT section (where no symbol is): the stub
        through which the object calls X, as perf and gdb name it."""
        idx = self.section_of(vaddr)
        return (name.endswith("@plt") and idx is not None
                and self.sections[idx][0] in (".plt", ".plt.sec", ".plt.got"))

    def covering(self, vaddr):
        """Names the symbol table gives vaddr: symbols whose [start, end)
        holds it; failing that, as elfutils does, the nearest sizeless symbol
        before it in the same section with no symbol starting in between."""
        i = bisect.bisect_right(self.starts, vaddr)
        names = {name for start, end, name, _ in self.symbols[max(0, i - 256):i]
                 if start <= vaddr < end}
        if names or i == 0:
            return names
        start, end, name, ndx = self.symbols[i - 1]
        if end == start and ndx == self.section_of(vaddr):
            return {n for s, e, n, _ in self.symbols[max(0, i - 16):i] if s == start and e == s}
        return set()


@lru_cache(maxsize=None)
def elf_object(path):
    return ElfObject(path)


# ---------------------------------------------------------------------------
# The checks


@dataclass
class NameReport:
    checked: dict = field(default_factory=dict)   # object path -> locations checked
    named: dict = field(default_factory=dict)     # object path -> {names}
    unnamed: dict = field(default_factory=dict)   # object path -> locations left unnamed
    skipped: set = field(default_factory=set)     # objects with debug information
    problems: list = field(default_factory=list)

    def merge(self, other):
        for k, v in other.checked.items():
            self.checked[k] = self.checked.get(k, 0) + v
        for k, v in other.named.items():
            self.named.setdefault(k, set()).update(v)
        for k, v in other.unnamed.items():
            self.unnamed[k] = self.unnamed.get(k, 0) + v
        self.skipped |= other.skipped
        self.problems += other.problems

    def named_in(self, basename_prefix):
        return {n for p, names in self.named.items()
                if os.path.basename(p).startswith(basename_prefix) for n in names}

    def checked_in(self, basename_prefix):
        return sum(n for p, n in self.checked.items()
                   if os.path.basename(p).startswith(basename_prefix))


def check_names(raw, label=""):
    """Compares every location of a parsed profile with the ELF symbols of its
    object (see the module docstring). Returns a NameReport; its problems
    list says what is wrong, with the address and both names."""
    rep = NameReport()
    for loc in raw.locations.values():
        m = raw.mapping_of(loc)
        if m is None or not m.file.startswith("/"):
            continue  # no mapping (JIT code, the vdso): nothing on disk to compare with
        path = os.path.realpath(m.file)
        if not os.path.isfile(path):
            rep.problems.append(f"{label}: mapping {m.file} is not a file")
            continue
        obj = elf_object(path)
        if obj.has_debug_info:
            # Names from DWARF (inlined frames, local functions): recorded,
            # not compared with the symbol table.
            rep.skipped.add(path)
            rep.named.setdefault(path, set()).update(n for n, _ in loc.lines if n)
            continue
        if m.build_id != obj.build_id:
            rep.problems.append(f"{label}: mapping {m.file} has build ID {m.build_id!r}, "
                                f"the file {obj.build_id!r}")
        rep.checked[path] = rep.checked.get(path, 0) + 1
        v = obj.vaddr(m, loc.address)
        if v is None:
            rep.problems.append(f"{label}: {loc.address:#x} in {m.file} (mapping "
                                f"{m.start:#x}-{m.limit:#x} at offset {m.offset:#x}) is outside "
                                f"its executable segments")
            continue
        here, before = obj.covering(v), obj.covering(v - 1)
        if not loc.lines or not loc.lines[-1][0]:
            rep.unnamed[path] = rep.unnamed.get(path, 0) + 1
            if here and before:
                rep.problems.append(f"{label}: {loc.address:#x} ({os.path.basename(path)} "
                                    f"{v:#x}) is unnamed, but it lies in {sorted(here)[:3]}")
            continue
        # The outermost line is the function the address is in (inner lines
        # are inlined frames, from debug information only).
        name, system = loc.lines[-1]
        if len(loc.lines) > 1:
            rep.problems.append(f"{label}: {loc.address:#x} in {os.path.basename(path)} has "
                                f"inlined frames {loc.lines}, but the object has no debug "
                                f"information")
        symbols = here | before
        if system in symbols or name in symbols or obj.plt_stub(v, system):
            rep.named.setdefault(path, set()).add(name)
            continue
        why = f"the symbols there are {sorted(symbols)[:3] or 'none (it should be unnamed)'}"
        # (c++filt only for the first problems: the failure message shows 40)
        demangled = {demangle(x): x for x in symbols} if len(rep.problems) < 40 else {}
        if name in demangled:
            why = (f"that is the demangled {demangled[name]!r}, which the system name should "
                   f"be (README: mangled names as system names)")
        rep.problems.append(f"{label}: {loc.address:#x} ({os.path.basename(path)} {v:#x}) is "
                            f"named {name!r} (system name {system!r}), but {why}")
    return rep


def demangle(name):
    r = subprocess.run(["c++filt", name], capture_output=True, text=True, timeout=60)
    return r.stdout.strip() if r.returncode == 0 else name
