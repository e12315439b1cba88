#!/usr/bin/env python3
"""`xpatch show --json` against GNU readelf, parsed independently.

Usage: readelf_oracle.py --xpatch XPATCH [--selftest] [--include-bad] [-j N] FILE_OR_DIR...

For every ELF file (by magic; directories are walked without following
symlinks; files named bad-* met in a directory walk are skipped, they belong
to the malformed-input suite, unless --include-bad), runs
`LC_ALL=C readelf -lhdW FILE` and `xpatch show --json FILE` and compares:

  ELF header   class, endian, osabi, abiversion, type (+type_name), machine
               (readelf's string through our own table; +machine_name),
               flags, entry, phoff, shoff, phnum, shnum (extended numbering:
               readelf's "65535 (N)" is read as N)
  segments     every program header, in order: type (by number; also by name
               for the generic names both tools share), offset, vaddr, paddr,
               filesz, memsz, R/W/E flags (the only bits readelf prints),
               align
  interpreter  readelf's "[Requesting program interpreter: ...]"
  dynamic      every entry up to DT_NULL: tag sequence, values readelf prints
               as plain numbers, NEEDED (in order), RUNPATH, RPATH, SONAME,
               FLAGS / FLAGS_1 (readelf's bit names against dt_flags_names /
               dt_flags_1_names and against the numeric dt_flags /
               dt_flags_1), and the number of entries

Prints `MISMATCH file field readelf=... xpatch=...` per disagreement and then
exactly one line `N passed, M failed` (counting files). Exit status 0 only if
nothing mismatched and at least one file was compared.

--selftest proves the comparison can fail: for every file it takes xpatch's
real output and, one at a time, mutates a single field in memory (runpath,
a missing segment, a wrong needed entry, ...). A mutation counts as caught
when it produces a mismatch the unmutated output did not have. The self-test
passes when every applicable mutation of every file is caught.
"""
import argparse
import concurrent.futures
import copy
import json
import os
import re
import subprocess
import sys

# --- readelf's strings -> numbers ---------------------------------------------------------------

MACHINES = {  # readelf's get_machine_name() for the machines we use (and a few neighbours)
    "None": 0, "Sparc": 2, "Intel 80386": 3, "MC68000": 4, "MIPS R3000": 8, "MIPS R4000 big-endian": 10,
    "HPPA": 15, "PowerPC": 20, "PowerPC64": 21, "IBM S/390": 22, "ARM": 40, "Renesas / SuperH SH": 42,
    "Sparc v9": 43, "Intel IA-64": 50, "Advanced Micro Devices X86-64": 62, "AArch64": 183, "RISC-V": 243,
    "LoongArch": 258, "Alpha": 0x9026,
}
OSABIS = {
    "UNIX - System V": 0, "UNIX - HP-UX": 1, "UNIX - NetBSD": 2, "UNIX - GNU": 3, "UNIX - Linux": 3,
    "UNIX - Solaris": 6, "UNIX - AIX": 7, "UNIX - IRIX": 8, "UNIX - FreeBSD": 9, "UNIX - TRU64": 10,
    "Novell - Modesto": 11, "UNIX - OpenBSD": 12, "VMS - OpenVMS": 13, "HP - Non-Stop Kernel": 14,
    "AROS": 15, "FenixOS": 16, "Nuxi CloudABI": 17, "Stratus Technologies OpenVOS": 18,
}
OSABIS_ARM = {"ARM FDPIC": 65, "ARM": 97}  # only printed for e_machine == EM_ARM
ETYPES = {"NONE": 0, "REL": 1, "EXEC": 2, "DYN": 3, "CORE": 4}

# Segment types. readelf prints the name with "%-14.14s", so long names are
# cut to 14 characters; the tables hold the names as printed.
PT_GENERIC = {
    "NULL": 0, "LOAD": 1, "DYNAMIC": 2, "INTERP": 3, "NOTE": 4, "SHLIB": 5, "PHDR": 6, "TLS": 7,
    "GNU_EH_FRAME": 0x6474E550, "GNU_STACK": 0x6474E551, "GNU_RELRO": 0x6474E552,
    "GNU_PROPERTY": 0x6474E553, "GNU_SFRAME": 0x6474E554,
    "OPENBSD_MUTABL": 0x65A3DBE5, "OPENBSD_RANDOM": 0x65A3DBE6, "OPENBSD_WXNEED": 0x65A3DBE7,
    "OPENBSD_BOOTDA": 0x65A41BE6,
}
SHARED_PT_NAMES = {"NULL", "LOAD", "DYNAMIC", "INTERP", "NOTE", "SHLIB", "PHDR", "TLS",
                   "GNU_EH_FRAME", "GNU_STACK", "GNU_RELRO", "GNU_PROPERTY", "GNU_SFRAME"}
PT_BY_MACHINE = {
    183: {"AARCH64_ARCHEX": 0x70000000, "AARCH64_MEMTAG": 0x70000002},
    40: {"EXIDX": 0x70000001},
    8: {"REGINFO": 0x70000000, "RTPROC": 0x70000001, "OPTIONS": 0x70000002, "ABIFLAGS": 0x70000003},
    243: {"RISCV_ATTRIBUT": 0x70000003},
    22: {"S390_PGSTE": 0x70000000},
}
PT_BY_MACHINE[10] = PT_BY_MACHINE[8]  # EM_MIPS_RS3_LE

# Dynamic flags as readelf names them.
DF = {"ORIGIN": 0x1, "SYMBOLIC": 0x2, "TEXTREL": 0x4, "BIND_NOW": 0x8, "STATIC_TLS": 0x10}
DF_1 = {n: 1 << i for i, n in enumerate(
    "NOW GLOBAL GROUP NODELETE LOADFLTR INITFIRST NOOPEN ORIGIN DIRECT TRANS INTERPOSE NODEFLIB NODUMP "
    "CONFALT ENDFILTEE DISPRELDNE DISPRELPND NODIRECT IGNMULDEF NOKSYMS NOHDR EDITED NORELOC SYMINTPOSE "
    "GLOBAUDIT SINGLETON STUB PIE KMOD WEAKFILTER NOCOMMON".split())}
DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH, DT_FLAGS, DT_FLAGS_1 = 1, 14, 15, 29, 30, 0x6FFFFFFB
STRING_TAGS = {DT_NEEDED: "Shared library", DT_SONAME: "Library soname", DT_RPATH: "Library rpath",
               DT_RUNPATH: "Library runpath"}


class ParseError(Exception):
    pass


def hexnum(s):
    """readelf prints hex with "%#lx", which gives "0" (no prefix) for zero."""
    s = s.strip()
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]+", s):
        raise ParseError(f"not a hex number: {s!r}")
    return int(s, 16)


def decnum(s):
    s = s.strip()
    if not re.fullmatch(r"\d+", s):
        raise ParseError(f"not a decimal number: {s!r}")
    return int(s)


def segment_type(name, machine):
    """readelf's segment type name -> a test for p_type, or None when the name is not understood.

    Names from the tables are exact. "LOPROC+0x12", "LOOS+0x12", "GNU_MBIND+0x12" and "<unknown>: 12"
    carry the number; when such a name fills all 14 columns it may have been cut, and then its digits
    are only a prefix of the real ones."""
    if name in PT_GENERIC:
        v = PT_GENERIC[name]
        return lambda t: t == v
    if name in PT_BY_MACHINE.get(machine, {}):
        v = PT_BY_MACHINE[machine][name]
        return lambda t: t == v
    m = (re.fullmatch(r"(LOPROC|LOOS|GNU_MBIND)\+(?:0x)?([0-9a-f]+)", name)
         or re.fullmatch(r"(<unknown>): ([0-9a-f]+)", name))
    if not m:
        return None
    base = {"LOPROC": 0x70000000, "LOOS": 0x60000000, "GNU_MBIND": 0x6474E555, "<unknown>": 0}[m.group(1)]
    digits = m.group(2)
    if len(name) < 14:
        v = base + int(digits, 16)
        return lambda t: t == v
    return lambda t: isinstance(t, int) and t >= base and format(t - base, "x").startswith(digits)


# --- readelf -lhdW -------------------------------------------------------------------------------

SEG_ROW = re.compile(r"^  (.{14}) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) "
                     r"([R ][W ][E ]) ((?:0x)?[0-9a-f]+)$")
DYN_ROW = re.compile(r"^ 0x([0-9a-f]+) \(([^)]*)\)\s*(.*)$")


def parse_readelf(path):
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("LANGUAGE", None)
    res = subprocess.run(["readelf", "-lhdW", path], capture_output=True, text=True, errors="surrogateescape",
                         env=env)
    r = {"segments": [], "interpreter": None, "needed": [], "runpath": None, "rpath": None, "soname": None,
         "dynamic": None, "dt_flags_names": None, "dt_flags_1_names": None,
         "stderr": res.stderr.strip(), "rc": res.returncode}
    hdr = {}
    mode = None
    for line in res.stdout.splitlines():
        if line == "ELF Header:":
            mode = "header"
            continue
        if line == "Program Headers:":
            mode = "phdr-title"
            continue
        if line.startswith("Dynamic section at offset "):
            mode = "dyn-title"
            r["dynamic"] = []
            continue
        if not line.strip():
            mode = None
            continue
        if mode == "header":
            k, sep, v = line.partition(":")
            if not sep:
                raise ParseError(f"header line: {line!r}")
            k = k.strip()
            if k == "Version":
                continue
            hdr[k] = v.strip()
        elif mode == "phdr-title":
            if not line.lstrip().startswith("Type"):
                raise ParseError(f"program header title: {line!r}")
            mode = "phdr"
        elif mode == "phdr":
            m = re.fullmatch(r"\s+\[Requesting program interpreter: (.*)\]", line)
            if m:
                if r["interpreter"] is None:
                    r["interpreter"] = m.group(1)
                continue
            m = SEG_ROW.match(line)
            if not m:
                raise ParseError(f"program header row: {line!r}")
            fl = m.group(7)
            r["segments"].append({
                "type_name": m.group(1).rstrip(), "offset": hexnum(m.group(2)), "vaddr": hexnum(m.group(3)),
                "paddr": hexnum(m.group(4)), "filesz": hexnum(m.group(5)), "memsz": hexnum(m.group(6)),
                "flags": (4 if fl[0] == "R" else 0) | (2 if fl[1] == "W" else 0) | (1 if fl[2] == "E" else 0),
                "align": hexnum(m.group(8))})
        elif mode == "dyn-title":
            if not line.lstrip().startswith("Tag"):
                raise ParseError(f"dynamic title: {line!r}")
            mode = "dyn"
        elif mode == "dyn":
            m = DYN_ROW.match(line)
            if not m:
                raise ParseError(f"dynamic row: {line!r}")
            r["dynamic"].append((int(m.group(1), 16), m.group(2), m.group(3)))

    # A PT_INTERP readelf cannot read (p_filesz 0 in a separate debug file, say): it prints an
    # error instead of the line, and then null or "" are both fair answers from xpatch.
    r["interpreter_unreadable"] = (r["interpreter"] is None and
                                   "program interpreter name" in r["stderr"])
    if not hdr:
        raise ParseError(f"no ELF header in readelf output (readelf: {res.stderr.strip()[:200]})")

    def field(k):
        if k not in hdr:
            raise ParseError(f"readelf printed no {k!r}")
        return hdr[k]

    def counted(v):  # "13" or, with extended numbering, "65535 (70)" / "0 (70000)"
        m = re.fullmatch(r"(\d+)(?: \((\d+)\))?", v)
        if not m:
            raise ParseError(f"count: {v!r}")
        return int(m.group(2) or m.group(1))

    def offset(v):
        return decnum(v[1:]) * -1 % (1 << 64) if v.startswith("-") else decnum(v)

    def unknown(v, default):
        m = re.fullmatch(r"<unknown>?: (?:0x)?([0-9a-fA-F]+)>?", v)
        return int(m.group(1), 16) if m else default

    c = field("Class")
    r["class"] = {"ELF32": 32, "ELF64": 64}.get(c, c)
    d = field("Data")
    r["endian"] = "little" if d.endswith("little endian") else "big" if d.endswith("big endian") else d
    r["machine_name"] = field("Machine")
    r["machine"] = MACHINES.get(r["machine_name"], unknown(r["machine_name"], None))
    o = field("OS/ABI")
    r["osabi"] = (OSABIS_ARM.get(o) if r["machine"] == 40 else None)
    if r["osabi"] is None:
        r["osabi"] = OSABIS.get(o, unknown(o, o))
    r["abiversion"] = decnum(field("ABI Version"))
    t = field("Type")
    tok = t.split()[0]
    if tok in ETYPES:
        r["type"], r["type_name"] = ETYPES[tok], tok
    else:  # "Processor Specific: (ff00)", "OS Specific: (fe00)", "<unknown>: 5"
        m = re.search(r"\(?([0-9a-f]+)\)?$", t)
        r["type"], r["type_name"] = (int(m.group(1), 16) if m else t), None
    r["entry"] = hexnum(field("Entry point address"))
    # readelf prints these two in signed decimal: 0xfffffffffffffff0 comes out as -16.
    r["phoff"] = offset(field("Start of program headers").split()[0])
    r["shoff"] = offset(field("Start of section headers").split()[0])
    r["flags"] = hexnum(field("Flags").split(",")[0])
    r["phnum"] = counted(field("Number of program headers"))
    r["shnum"] = counted(field("Number of section headers"))

    for s in r["segments"]:
        s["type"] = segment_type(s["type_name"], r["machine"])

    if r["dynamic"] is not None:
        rows = r["dynamic"]
        for i, (tag, _, _) in enumerate(rows):
            if tag == 0:
                rows = rows[:i]  # readelf stops after the first DT_NULL
                break
        r["dynamic"] = rows
        for tag, name, val in rows:
            if tag in STRING_TAGS:
                m = re.fullmatch(re.escape(STRING_TAGS[tag]) + r": \[(.*)\]", val)
                s = m.group(1) if m else f"<readelf could not resolve the string: {val}>"
                if tag == DT_NEEDED:
                    r["needed"].append(s)
                else:
                    key = {DT_SONAME: "soname", DT_RPATH: "rpath", DT_RUNPATH: "runpath"}[tag]
                    if r[key] is None:
                        r[key] = s
            elif tag == DT_FLAGS and r["dt_flags_names"] is None:
                r["dt_flags_names"] = val.split()
            elif tag == DT_FLAGS_1 and r["dt_flags_1_names"] is None:
                if not val.startswith("Flags:"):
                    raise ParseError(f"FLAGS_1 row: {val!r}")
                r["dt_flags_1_names"] = val[len("Flags:"):].split()
    return r


# --- comparison ----------------------------------------------------------------------------------

def is_hex_name(s):
    return isinstance(s, str) and re.fullmatch(r"0x[0-9a-fA-F]+", s) is not None


def flag_diffs(field, names, xnames, xvalue, table, unknown_style):
    """readelf's bit names for DT_FLAGS / DT_FLAGS_1 against xpatch's names and value."""
    names = names or []
    xnames = xnames if isinstance(xnames, list) else []
    known = [n for n in names if n in table]
    if unknown_style == "word":  # DT_FLAGS: every unknown bit printed as "unknown"
        others = [n for n in names if n not in table]
        bad = [n for n in others if n != "unknown"]
        r_unknown_bits = None
        r_unknown_count = len(others)
    else:  # DT_FLAGS_1: the remaining bits as one hex number
        others = [n for n in names if n not in table]
        bad = [n for n in others if not re.fullmatch(r"[0-9a-f]+", n)]
        r_unknown_bits = int(others[0], 16) if len(others) == 1 and not bad else 0
        r_unknown_count = None
    if bad or (unknown_style == "hex" and len(others) > 1):
        yield field, names, xnames
        return
    # names
    x_known = [n for n in xnames if n in table]
    x_other = [n for n in xnames if n not in table]
    if sorted(known) != sorted(x_known) or any(not is_hex_name(n) for n in x_other):
        yield field, names, xnames
    else:
        x_bits = 0
        for n in x_other:
            x_bits |= int(n, 16)
        if r_unknown_count is not None and r_unknown_count != bin(x_bits).count("1"):
            yield field, names, xnames
        if r_unknown_bits is not None and r_unknown_bits != x_bits:
            yield field, names, xnames
    # value
    numfield = field[: -len("_names")]
    r_known = 0
    for n in known:
        r_known |= table[n]
    all_known = 0
    for b in table.values():
        all_known |= b
    if not isinstance(xvalue, int):
        yield numfield, r_known, xvalue
        return
    ok = (xvalue & all_known) == r_known
    if r_unknown_bits is not None:
        ok = ok and (xvalue & ~all_known) == r_unknown_bits
    if r_unknown_count is not None:
        ok = ok and bin(xvalue & ~all_known).count("1") == r_unknown_count
    if not ok:
        yield numfield, names, xvalue


def compare(ref, got):
    """Yields (field, readelf value, xpatch value) for every disagreement."""
    if got.get("ok") is not True:
        yield "ok", True, got.get("error", got.get("ok"))
        return
    for k in ("class", "endian", "osabi", "abiversion", "type", "machine", "flags", "entry", "phoff", "shoff",
              "phnum", "shnum", "interpreter", "needed", "runpath", "rpath", "soname"):
        if k == "interpreter" and ref["interpreter_unreadable"] and got.get(k) in (None, ""):
            continue
        if ref[k] != got.get(k):
            yield k, ref[k], got.get(k)
    if ref["type_name"] is not None and ref["type_name"] != got.get("type_name"):
        yield "type_name", ref["type_name"], got.get("type_name")
    xm = got.get("machine_name")
    if ref["machine_name"] in MACHINES and xm not in ("unknown", "", None) and xm != ref["machine_name"]:
        yield "machine_name", ref["machine_name"], xm

    # program headers
    segs = got.get("segments")
    if not isinstance(segs, list):
        yield "segments", f"{len(ref['segments'])} program headers", segs
        segs = []
    elif len(segs) != len(ref["segments"]):
        yield "segments.count", len(ref["segments"]), len(segs)
        key = lambda s: (s.get("offset"), s.get("vaddr"), s.get("filesz"))
        rk = [key(s) for s in ref["segments"]]
        xk = [key(s) for s in segs]
        missing = [k for k in rk if k not in xk]
        extra = [k for k in xk if k not in rk]
        if missing:
            yield "segments.missing(offset,vaddr,filesz)", missing, None
        if extra:
            yield "segments.extra(offset,vaddr,filesz)", None, extra
    for i, (a, b) in enumerate(zip(ref["segments"], segs)):
        for k in ("offset", "vaddr", "paddr", "filesz", "memsz", "align"):
            if a[k] != b.get(k):
                yield f"segments[{i}].{k}", a[k], b.get(k)
        bf = b.get("flags")
        if not isinstance(bf, int) or a["flags"] != (bf & 7):
            yield f"segments[{i}].flags(RWE)", a["flags"], bf
        if a["type"] is not None:
            if not a["type"](b.get("type")):
                yield f"segments[{i}].type", a["type_name"], b.get("type")
        elif a["type_name"] != str(b.get("type_name"))[:14]:  # readelf's name is not in our tables
            yield f"segments[{i}].type", f"{a['type_name']} (unmapped)", b.get("type_name")
        xn = b.get("type_name")
        if (a["type_name"] in SHARED_PT_NAMES and isinstance(xn, str) and xn and not is_hex_name(xn)
                and xn != a["type_name"]):
            yield f"segments[{i}].type_name", a["type_name"], xn

    # dynamic array
    dyn = got.get("dynamic")
    rows = ref["dynamic"] or []
    if not isinstance(dyn, list):
        yield "dynamic", f"{len(rows)} entries", dyn
        dyn = []
    if len(rows) != len(dyn):
        yield "dynamic.count", len(rows), len(dyn)
    mask = (1 << ref["class"]) - 1 if ref["class"] in (32, 64) else (1 << 64) - 1
    rtags = [t for t, _, _ in rows]
    xtags = [d.get("tag") & mask if isinstance(d.get("tag"), int) else d.get("tag") for d in dyn]
    if rtags != xtags:
        yield "dynamic.tags", [hex(t) for t in rtags], [hex(t) if isinstance(t, int) else t for t in xtags]
    else:
        for i, ((tag, name, val), d) in enumerate(zip(rows, dyn)):
            m = re.fullmatch(r"0x([0-9a-f]+)", val) or re.fullmatch(r"(\d+) \(bytes\)", val)
            if m:
                v = int(m.group(1), 16 if val.startswith("0x") else 10)
                if v != d.get("value"):
                    yield f"dynamic[{i}].value({name})", v, d.get("value")
            xn = d.get("tag_name")
            if (tag < 0x70000000 and re.fullmatch(r"[A-Z_0-9]+", name) and isinstance(xn, str)
                    and not is_hex_name(xn) and xn != name):
                yield f"dynamic[{i}].tag_name", name, xn
    yield from flag_diffs("dt_flags_names", ref["dt_flags_names"], got.get("dt_flags_names"),
                          got.get("dt_flags"), DF, "word")
    yield from flag_diffs("dt_flags_1_names", ref["dt_flags_1_names"], got.get("dt_flags_1_names"),
                          got.get("dt_flags_1"), DF_1, "hex")


# --- self-test mutations -------------------------------------------------------------------------

def _seg(j, k, f):
    if not j["segments"]:
        return False
    s = j["segments"][len(j["segments"]) // 2]
    s[k] = f(s[k])
    return True


def _dyn_drop(j):
    if not j["dynamic"]:
        return False
    del j["dynamic"][len(j["dynamic"]) // 2]
    return True


def _toggle(lst, name):
    return [n for n in lst if n != name] if name in lst else lst + [name]


def _set(j, k, v):
    j[k] = v
    return True


MUTATIONS = [
    ("class", lambda j: _set(j, "class", 96 - j["class"])),
    ("endian", lambda j: _set(j, "endian", "big" if j["endian"] == "little" else "little")),
    ("osabi", lambda j: _set(j, "osabi", j["osabi"] ^ 3)),
    ("abiversion", lambda j: _set(j, "abiversion", j["abiversion"] + 1)),
    ("type", lambda j: _set(j, "type", 3 if j["type"] == 2 else 2)),
    ("machine", lambda j: _set(j, "machine", j["machine"] + 1)),
    ("flags", lambda j: _set(j, "flags", j["flags"] ^ 0x100)),
    ("entry", lambda j: _set(j, "entry", j["entry"] + 4)),
    ("phoff", lambda j: _set(j, "phoff", j["phoff"] + 8)),
    ("shoff", lambda j: _set(j, "shoff", j["shoff"] + 8)),
    ("phnum", lambda j: _set(j, "phnum", j["phnum"] + 1)),
    ("shnum", lambda j: _set(j, "shnum", j["shnum"] + 1)),
    ("interpreter", lambda j: _set(j, "interpreter", None if j["interpreter"] else "/lib/ld.so.1")),
    ("interpreter-suffix", lambda j: j["interpreter"] is not None and _set(j, "interpreter", j["interpreter"] + "x")),
    ("needed-extra", lambda j: _set(j, "needed", j["needed"] + ["libextra.so"])),
    ("needed-order", lambda j: len(set(j["needed"])) > 1 and _set(j, "needed", j["needed"][::-1])),
    ("runpath", lambda j: _set(j, "runpath", "$ORIGIN/../lib" if j["runpath"] != "$ORIGIN/../lib" else None)),
    ("runpath-one-char", lambda j: j["runpath"] is not None and _set(j, "runpath", j["runpath"][:-1])),
    ("rpath", lambda j: _set(j, "rpath", None if j["rpath"] is not None else "/opt/x")),
    ("soname", lambda j: _set(j, "soname", None if j["soname"] is not None else "libx.so.1")),
    ("dt_flags_names", lambda j: _set(j, "dt_flags_names", _toggle(j["dt_flags_names"], "BIND_NOW"))),
    ("dt_flags", lambda j: _set(j, "dt_flags", j["dt_flags"] ^ 0x8)),
    ("dt_flags_1_names", lambda j: _set(j, "dt_flags_1_names", _toggle(j["dt_flags_1_names"], "PIE"))),
    ("dt_flags_1", lambda j: _set(j, "dt_flags_1", j["dt_flags_1"] ^ 0x1)),
    ("segment-missing", lambda j: bool(j["segments"]) and j["segments"].pop(len(j["segments"]) // 2) is not None),
    ("segment-type", lambda j: _seg(j, "type", lambda v: v ^ 0x10)),
    ("segment-offset", lambda j: _seg(j, "offset", lambda v: v + 1)),
    ("segment-vaddr", lambda j: _seg(j, "vaddr", lambda v: v + 0x1000)),
    ("segment-paddr", lambda j: _seg(j, "paddr", lambda v: v + 0x1000)),
    ("segment-filesz", lambda j: _seg(j, "filesz", lambda v: v + 1)),
    ("segment-memsz", lambda j: _seg(j, "memsz", lambda v: v + 1)),
    ("segment-flags", lambda j: _seg(j, "flags", lambda v: v ^ 2)),
    ("segment-align", lambda j: _seg(j, "align", lambda v: v * 2 + 1)),
    ("dynamic-missing", _dyn_drop),
    ("dynamic-tag", lambda j: bool(j["dynamic"]) and _set(j["dynamic"][-1], "tag", j["dynamic"][-1]["tag"] ^ 0x40)),
]


def selftest_file(ref, got):
    """Returns the names of the mutations that were not caught."""
    base = {repr(d) for d in compare(ref, got)}
    missed = []
    for name, mutate in MUTATIONS:
        j = copy.deepcopy(got)
        try:
            applicable = mutate(j)
        except (KeyError, TypeError, AttributeError):
            applicable = True  # xpatch's output lacks the field: mutating it must not matter here
        if not applicable:
            continue
        if not ({repr(d) for d in compare(ref, j)} - base):
            missed.append(name)
    return missed


# --- driver --------------------------------------------------------------------------------------

def is_elf(p):
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def files_of(paths, include_bad):
    for p in paths:
        if os.path.isdir(p):
            for dp, dns, fns in os.walk(p):  # does not descend into symlinked directories
                dns.sort()
                for n in sorted(fns):
                    q = os.path.join(dp, n)
                    if n.startswith("bad-") and not include_bad:
                        continue
                    if not os.path.islink(q) and os.path.isfile(q) and is_elf(q):
                        yield q
        elif os.path.isfile(p) and is_elf(p):
            yield p
        elif not os.path.exists(p):
            print(f"readelf_oracle: {p}: no such file or directory", file=sys.stderr)


def run_xpatch(xpatch, paths):
    """xpatch show --json over a batch; falls back to one file at a time if lines go missing."""
    def call(batch):
        try:
            res = subprocess.run([xpatch, "show", "--json", *batch], capture_output=True, text=True,
                                 errors="surrogateescape")
        except OSError as e:
            return [], subprocess.CompletedProcess([xpatch], -1, "", f"cannot run xpatch: {e}")
        out = []
        for line in res.stdout.splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"ok": "unparsable JSON line", "line": line[:200]})
        return out, res
    objs, res = call(paths)
    if len(objs) == len(paths) and all(o.get("file") == p for o, p in zip(objs, paths)):
        return objs
    result = []
    for p in paths:
        o, r = call([p])
        if len(o) == 1:
            result.append(o[0])
        else:
            result.append({"ok": f"{len(o)} JSON lines", "exit": r.returncode, "stderr": r.stderr.strip()[:300]})
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xpatch", required=True, help="path to the xpatch binary")
    ap.add_argument("--selftest", action="store_true", help="mutate xpatch's output; every mutation must be caught")
    ap.add_argument("--include-bad", action="store_true", help="do not skip bad-* files in directory walks")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()

    ver = subprocess.run(["readelf", "--version"], capture_output=True, text=True).stdout
    if "GNU readelf" not in ver:
        print("readelf_oracle: GNU readelf (binutils) is required", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1
    if not (os.path.isfile(a.xpatch) and os.access(a.xpatch, os.X_OK)):
        print(f"readelf_oracle: {a.xpatch}: not an executable", file=sys.stderr)
        print("0 passed, 0 failed")
        return 1

    files = list(files_of(a.paths, a.include_bad))
    passed = failed = 0
    mutations = 0
    batch = 256
    with concurrent.futures.ThreadPoolExecutor(max(1, a.jobs)) as pool:
        for start in range(0, len(files), batch):
            chunk = files[start:start + batch]
            xfut = pool.submit(run_xpatch, a.xpatch, chunk)
            refs = list(pool.map(_parse_safely, chunk))
            gots = xfut.result()
            for path, ref, got in zip(chunk, refs, gots):
                if isinstance(ref, ParseError):
                    print(f"MISMATCH {path} readelf-output readelf={str(ref)!r} xpatch=(not compared)")
                    failed += 1
                    continue
                diffs = list(compare(ref, got))
                if diffs and diffs[0][0] == "ok" and got.get("ok") is False and readelf_choked(ref):
                    # both reject the file: readelf reports an error and xpatch refuses it
                    if a.verbose:
                        print(f"both-reject {path}: readelf: {ref['stderr'].splitlines()[0]}")
                    passed += 1
                    continue
                if a.selftest:
                    if got.get("ok") is not True:
                        print(f"MISMATCH {path} ok readelf=True xpatch={json.dumps(got.get('error', got))}")
                        failed += 1
                        continue
                    missed = selftest_file(ref, got)
                    mutations += 1
                    if missed:
                        failed += 1
                        print(f"SELFTEST {path}: mutations not caught: {' '.join(missed)}")
                    else:
                        passed += 1
                    continue
                for field, r, x in diffs:
                    print(f"MISMATCH {path} {field} readelf={json.dumps(r)} xpatch={json.dumps(x)}")
                if diffs:
                    failed += 1
                else:
                    passed += 1
                    if a.verbose:
                        print(f"ok {path}")
    if a.selftest and a.verbose:
        print(f"selftest: {len(MUTATIONS)} mutation kinds tried on each of {mutations} files")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def readelf_choked(ref):
    """True when readelf itself reported an error that left its view of the file incomplete, so
    that xpatch refusing the file is agreement, not a mismatch. A mere readelf error is not enough:
    readelf also complains about valid files (e.g. "Too many program headers - 0xffff" for
    PN_XNUM extended numbering, which it then resolves)."""
    errors = [l for l in ref["stderr"].splitlines() if "Error:" in l]
    if not errors:
        return False
    if len(ref["segments"]) != ref["phnum"] or ref["interpreter_unreadable"]:
        return True
    return any(w in l for l in errors for w in ("section headers", "dynamic", "string table", "past end"))


def _parse_safely(path):
    try:
        return parse_readelf(path)
    except ParseError as e:
        return e


if __name__ == "__main__":
    sys.exit(main())
