#!/usr/bin/env python3
"""Compares `xpatch check --json` with what the real loader reports.

usage: loader_oracle.py LIST_OUTPUT CHECK_JSON

LIST_OUTPUT is what `LOADER --list PROG` printed (glibc or musl, run under
qemu-user for foreign programs): lines "name => path (0x...)" or
"name => not found". CHECK_JSON is `xpatch check --json ROOT PROG` with ROOT
= /. Every name the loader reports must resolve to the same file (after
realpath) in xpatch's tree, every name the loader could not find must be
missing for xpatch too, and every name xpatch resolved to a file other than
the loader itself must appear in the loader's list. Exit 0 when they agree.
"""
import json
import os
import re
import sys

LINE = re.compile(r"^\s*(\S+) => (.*?)(?: \(0x[0-9a-f]+\))?$")
MUSL_ERROR = re.compile(r"^Error loading shared library (\S+): ")


def real_map(text):
    out = {}
    for line in text.splitlines():
        e = MUSL_ERROR.match(line)
        if e:  # musl stops here
            out[e.group(1)] = None
            out["<musl stopped>"] = True
            continue
        m = LINE.match(line)
        if not m:
            continue  # the loader itself, the vdso
        name, where = m.groups()
        out[name] = None if where.strip() == "not found" else os.path.realpath(where.strip())
    return out


def ours(path):
    resolved, loader = {}, None
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if "resolved" not in rec:
                continue
            loader = rec.get("loader", {}).get("path")
            for e in rec["resolved"]:
                p = e["path"]
                resolved.setdefault(e["needed"], (None if p is None else os.path.realpath(p), e["via"]))
    return resolved, loader


def main():
    real = real_map(open(sys.argv[1]).read())
    mine, loader = ours(sys.argv[2])
    loader_real = os.path.realpath(loader) if loader else None
    problems = []
    if not real and not mine:
        problems.append("neither the loader nor xpatch reported any dependency")
    stopped = real.pop("<musl stopped>", False)
    for name, path in real.items():
        if name not in mine:
            problems.append(f"{name}: the loader loaded {path}, xpatch has no such DT_NEEDED edge")
        elif mine[name][0] != path:
            problems.append(f"{name}: the loader says {path}, xpatch says {mine[name][0]} [{mine[name][1]}]")
    for name, (path, via) in mine.items():
        if name in real or stopped:
            continue  # musl lists nothing after its first failure
        if path is not None and path == loader_real:
            continue  # glibc does not list ld.so by its DT_NEEDED name
        problems.append(f"{name}: xpatch resolved it to {path} [{via}], the loader did not list it")
    for p in problems:
        print("  mismatch:", p)
    print(f"  {len(real)} names from the loader, {len(mine)} from xpatch, {len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
