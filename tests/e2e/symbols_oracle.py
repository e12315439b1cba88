#!/usr/bin/env python3
"""symbols_oracle.py FAMILY TRACE RUN RUN_RC CHECK_JSON: does `xpatch check
--json` say what the real loader says about one program's symbols?

FAMILY  glibc or musl
TRACE   glibc: ld.so's trace mode with LD_BIND_NOW=1 LD_WARN=1 (what ldd -r
        prints: "undefined symbol: NAME[, version V]", "version `V' not
        found", "weak version `V' not found"); musl: empty
RUN     the program's own output when run with LD_WARN=1 (glibc: "symbol
        lookup error", "has different size in shared object"; musl: "Error
        relocating F: NAME: symbol not found")
RUN_RC  its exit status

Agreement: the program fails to start exactly when check reports an error;
the undefined symbols, missing versions (weak and not) and COPY size
warnings are the same sets. Prints the differences; exit 1 on any."""
import json
import re
import sys

family, trace_f, run_f, rc, check_f = sys.argv[1:6]
trace = open(trace_f, errors="replace").read() if trace_f != "-" else ""
run = open(run_f, errors="replace").read()
rc = int(rc)
reports = [json.loads(line) for line in open(check_f) if line.strip()]
findings = [f for r in reports if "file" in r for f in r.get("findings", [])]


def codes(*cs):
    return {f["subject"] for f in findings if f["code"] in cs}


loader = {}
if family == "glibc":
    loader["undefined"] = set(re.findall(r"undefined symbol: ([^\s,]+)", trace))
    loader["version-missing"] = set(re.findall(r"(?<!weak )version [`']([^'`]+)' not found", trace))
    loader["version-missing-weak"] = set(re.findall(r"weak version [`']([^'`]+)' not found", trace))
    loader["copy-size"] = set(re.findall(r"Symbol [`']([^'`]+)' has different size", run))
    loader["fails"] = rc != 0
else:
    loader["undefined"] = set(re.findall(r"Error relocating [^:]*: ([^:]+): symbol not found", run))
    loader["version-missing"] = set()
    loader["version-missing-weak"] = set()
    loader["copy-size"] = set()
    loader["fails"] = rc != 0

ours = {
    "undefined": {s.split("@")[0] for s in codes("symbol-missing", "symbol-missing-lazy")},
    "version-missing": codes("version-missing"),
    "version-missing-weak": codes("version-missing-weak"),
    "copy-size": codes("copy-size-changed"),
    "fails": any(f["severity"] == "error" for f in findings),
}
bad = False
for k in loader:
    if loader[k] != ours[k]:
        bad = True
        print(f"{k}: loader says {sorted(loader[k]) if isinstance(loader[k], set) else loader[k]}, "
              f"check says {sorted(ours[k]) if isinstance(ours[k], set) else ours[k]}")
sys.exit(1 if bad else 0)
