#!/usr/bin/env python3
"""`xpatch show --json` against GNU readelf, parsed independently.

Usage: readelf_oracle.py --xpatch XPATCH [--selftest] FILE_OR_DIR...

For every ELF file (directories are walked; bad-* fixtures are skipped, they
belong to the malformed-input suite), compares the ELF header, every
program header, the interpreter, and the dynamic entries (NEEDED, RUNPATH,
RPATH, SONAME, FLAGS, FLAGS_1, entry count). --selftest mutates one field of
xpatch's output per file and requires the comparison to catch it, proving
the oracle can fail. Prints 'N passed, M failed' (files).
"""
import argparse, json, os, re, subprocess, sys

MACHINES = {"Advanced Micro Devices X86-64": 62, "Intel 80386": 3, "AArch64": 183, "ARM": 40, "RISC-V": 243,
            "PowerPC64": 21, "PowerPC": 20, "IBM S/390": 22, "MIPS R3000": 8}
TYPES = {"EXEC": 2, "DYN": 3, "REL": 1, "CORE": 4}
PTYPES = {"NULL": 0, "LOAD": 1, "DYNAMIC": 2, "INTERP": 3, "NOTE": 4, "SHLIB": 5, "PHDR": 6, "TLS": 7,
          "GNU_EH_FRAME": 0x6474e550, "GNU_STACK": 0x6474e551, "GNU_RELRO": 0x6474e552,
          "GNU_PROPERTY": 0x6474e553, "ARM_EXIDX": 0x70000001, "RISCV_ATTRIBUT": 0x70000003,
          "MIPS_ABIFLAGS": 0x70000003}

def is_elf(p):
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False

def files_of(paths):
    for p in paths:
        if os.path.isdir(p):
            for dp, dns, fns in os.walk(p):
                dns.sort()
                for n in sorted(fns):
                    q = os.path.join(dp, n)
                    if not n.startswith("bad-") and not os.path.islink(q) and is_elf(q):
                        yield q
        elif is_elf(p):
            yield p

def num(s):
    return int(s, 16) if s.lower().startswith("0x") else int(s)

def parse_readelf(path):
    out = subprocess.run(["readelf", "-lhdW", path], capture_output=True, text=True,
                         env=dict(os.environ, LC_ALL="C")).stdout
    r = {"segments": [], "needed": [], "runpath": None, "rpath": None, "soname": None,
         "interpreter": None, "dt_flags_names": [], "dt_flags_1_names": [], "dyn_count": 0}
    for line in out.splitlines():
        m = re.match(r"\s+([\w ()/.,-]+?):\s+(.*)$", line)
        if m and not line.startswith("  ["):
            k, v = m.group(1).strip(), m.group(2).strip()
            if k == "Class": r["class"] = 64 if v == "ELF64" else 32
            elif k == "Data": r["endian"] = "big" if "big" in v else "little"
            elif k == "Type": r["type"] = TYPES.get(v.split()[0], -1)
            elif k == "Machine": r["machine"] = MACHINES.get(v, v)
            elif k == "Entry point address": r["entry"] = num(v)
            elif k == "Start of program headers": r["phoff"] = num(v.split()[0])
            elif k == "Start of section headers": r["shoff"] = num(v.split()[0])
            elif k == "Flags": r.setdefault("flags", num(v.split(",")[0].split()[0]))
            elif k == "Number of program headers": r["phnum"] = num(v.split()[0])
            elif k == "Number of section headers": r["shnum"] = num(v.split()[0])
        m = re.match(r"\s+([A-Z_0-9+]+|LOOS\+0x[0-9a-f]+|0x[0-9a-f]+)\s+(0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+) "
                     r"(0x[0-9a-f]+) (0x[0-9a-f]+) ([RWE ]{3}) (0x[0-9a-f]+)", line)
        if m:
            t = m.group(1)
            r["segments"].append({"type_name": t, "offset": num(m.group(2)), "vaddr": num(m.group(3)),
                                  "paddr": num(m.group(4)), "filesz": num(m.group(5)), "memsz": num(m.group(6)),
                                  "flags": (4 if "R" in m.group(7) else 0) | (2 if "W" in m.group(7) else 0)
                                           | (1 if "E" in m.group(7) else 0), "align": num(m.group(8))})
        m = re.search(r"\[Requesting program interpreter: (.*)\]", line)
        if m: r["interpreter"] = m.group(1)
        m = re.match(r"\s*0x[0-9a-f]+ \((\w+)\)\s+(.*)$", line)
        if m:
            tag, v = m.group(1), m.group(2)
            if tag != "NULL": r["dyn_count"] += 1
            br = re.search(r"\[(.*)\]", v)
            if tag == "NEEDED": r["needed"].append(br.group(1))
            elif tag == "RUNPATH": r["runpath"] = br.group(1)
            elif tag == "RPATH": r["rpath"] = br.group(1)
            elif tag == "SONAME": r["soname"] = br.group(1)
            elif tag == "FLAGS": r["dt_flags_names"] = v.split()
            elif tag == "FLAGS_1": r["dt_flags_1_names"] = v.split()[1:]  # "Flags: NOW PIE"
    return r

def compare(ref, got):
    """Yields (field, readelf, xpatch) for each disagreement."""
    for k in ("class", "endian", "type", "machine", "entry", "phoff", "shoff", "flags", "phnum", "shnum",
              "interpreter", "needed", "runpath", "rpath", "soname"):
        if k in ref and ref[k] != got.get(k):
            yield k, ref[k], got.get(k)
    for k in ("dt_flags_names", "dt_flags_1_names"):
        if sorted(ref[k]) != sorted(got.get(k, [])):
            yield k, ref[k], got.get(k)
    if ref["dyn_count"] != len(got.get("dynamic", [])):
        yield "dynamic entries", ref["dyn_count"], len(got.get("dynamic", []))
    segs = got.get("segments", [])
    if len(ref["segments"]) != len(segs):
        yield "segment count", len(ref["segments"]), len(segs)
        return
    for i, (a, b) in enumerate(zip(ref["segments"], segs)):
        for k in ("offset", "vaddr", "paddr", "filesz", "memsz", "flags", "align"):
            if a[k] != b[k]:
                yield f"segment {i} {k}", a[k], b[k]
        t = a["type_name"]
        if t in PTYPES and t != "RISCV_ATTRIBUT" and t != "MIPS_ABIFLAGS" and PTYPES[t] != b["type"]:
            yield f"segment {i} type", t, b["type"]

MUTATIONS = [("runpath", lambda j: j.update(runpath=(j["runpath"] or "") + "x")),
             ("needed", lambda j: j.update(needed=j["needed"] + ["libextra.so"])),
             ("interpreter", lambda j: j.update(interpreter=(j["interpreter"] or "") + "x")),
             ("segment", lambda j: j["segments"] and j["segments"][-1].update(offset=j["segments"][-1]["offset"] + 1)),
             ("machine", lambda j: j.update(machine=j["machine"] + 1)),
             ("entry", lambda j: j.update(entry=j["entry"] + 4))]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xpatch", required=True)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    passed = failed = 0
    for i, path in enumerate(files_of(a.paths)):
        ref = parse_readelf(path)
        res = subprocess.run([a.xpatch, "show", "--json", path], capture_output=True, text=True)
        try:
            got = json.loads(res.stdout)
        except ValueError:
            print(f"MISMATCH {path} xpatch-output exit={res.returncode} {res.stderr.strip()}")
            failed += 1
            continue
        if a.selftest:
            name, mutate = MUTATIONS[i % len(MUTATIONS)]
            mutate(got)
            caught = any(True for _ in compare(ref, got))
            if caught:
                passed += 1
            else:
                failed += 1
                print(f"SELFTEST {path}: mutation of {name} was not caught")
            continue
        diffs = list(compare(ref, got))
        for field, r, x in diffs:
            print(f"MISMATCH {path} {field} readelf={r!r} xpatch={x!r}")
        if diffs:
            failed += 1
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)

main()
