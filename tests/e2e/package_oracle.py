#!/usr/bin/env python3
"""package_oracle.py PACKAGE_JSON AFTER_JSON BEFORE_JSON: is `check --package`'s
verdict the verdict of the real install?

PACKAGE_JSON  `xpatch check --package PKG... --json ROOT`
AFTER_JSON    `xpatch check --json COPY PATH...`: COPY is ROOT with the
              packages really installed (dpkg-deb -x), PATH each file that
              PACKAGE_JSON reports
BEFORE_JSON   `xpatch check --json ROOT PATH...` for those PATHs that
              exist in ROOT before the install (may be empty)

Agreement: for every file, the findings (severity, code, object, subject)
are those of the installed copy; a finding is "introduced" exactly when
ROOT's file did not have it; the summary's introduced_errors counts them.
Prints the differences; exit 1 on any."""
import json
import sys


def lines(f):
    return [json.loads(line) for line in open(f) if line.strip()]


def key(f):
    return (f["severity"], f["code"], f["object"], f["subject"])


pkg = lines(sys.argv[1])
after = {r["path"]: r for r in lines(sys.argv[2]) if "path" in r and not r.get("walk")}
before = {r["path"]: r for r in lines(sys.argv[3]) if "path" in r and not r.get("walk")}
bad = False
introduced = 0
files = [r for r in pkg if "summary" not in r]
for r in files:
    p = r["path"]
    a = after.get(p)
    if a is None:
        print(f"{p}: not checked in the installed copy")
        bad = True
        continue
    ours, theirs = {key(f) for f in r["findings"]}, {key(f) for f in a["findings"]}
    if ours != theirs:
        print(f"{p}: check --package says {sorted(ours - theirs)} that the install does not, "
              f"misses {sorted(theirs - ours)}")
        bad = True
    was = {key(f)[1:] for f in before[p]["findings"]} if p in before else set()
    for f in r["findings"]:
        if f["introduced"] != (key(f)[1:] not in was):
            print(f"{p}: {key(f)} is {'introduced' if f['introduced'] else 'before'}, but ROOT's file "
                  f"{'had' if key(f)[1:] in was else 'did not have'} it")
            bad = True
        if f["introduced"] and f["severity"] == "error":
            introduced += 1
            if not f["packages"]:
                print(f"{p}: {key(f)} is introduced by no package")
                bad = True
summary = [r["summary"] for r in pkg if "summary" in r]
if len(summary) != 1 or summary[0]["introduced_errors"] != introduced:
    print(f"summary: {summary}, but {introduced} introduced errors in the files")
    bad = True
sys.exit(1 if bad else 0)
