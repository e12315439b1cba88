#!/usr/bin/env python3
"""Every subcommand's real --json output on the fixtures against docs/xpatch.schema.json.

Usage: json_schema.py XPATCH FIXTURES SCHEMA

Each line must be valid UTF-8, parse as JSON, and validate against the
definition for what printed it (show, check and its walk findings and
summary, patch, retarget and its summary, setup and its summary). A
self-test first shows that the validator rejects a line with a key missing
and one with a key of the wrong type, so this test can fail.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed (scripts/setup installs it)")
    sys.exit(77)

XPATCH, FX, SCHEMA = sys.argv[1:4]
schema = json.load(open(SCHEMA))
fails = 0
count = 0


def validator(name):
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})


def check_lines(what, out, kinds):
    """out: bytes; kinds(obj) -> the $defs name that obj must match."""
    global fails, count
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError as e:
        print(f"FAIL - {what}: not UTF-8: {e}")
        fails += 1
        return
    lines = [l for l in text.split("\n") if l]
    if not lines:
        print(f"FAIL - {what}: no output")
        fails += 1
        return
    bad = 0
    for l in lines:
        obj = json.loads(l)
        name = kinds(obj)
        errs = sorted(validator(name).iter_errors(obj), key=str)
        if errs:
            bad += 1
            if bad <= 3:
                print(f"  {what}: {name}: {errs[0].message} at {list(errs[0].absolute_path)}\n    {l[:300]}")
        count += 1
    if bad:
        print(f"FAIL - {what}: {bad} of {len(lines)} lines do not match the schema")
        fails += 1
    else:
        print(f"ok   - {what}: {len(lines)} lines match the schema")


def run(*args, stdin=None):
    return subprocess.run([XPATCH, *args], capture_output=True, input=stdin).stdout


def summary_or(name):
    return lambda o: f"{name}_summary" if "summary" in o else name


# The validator can say no.
good = json.loads(run("show", "--json", f"{FX}/x86_64/app-pie").decode())
broken = dict(good)
del broken["interpreter"]
wrong = dict(good, needed="libc.so.6")
if list(validator("show").iter_errors(broken)) and list(validator("show").iter_errors(wrong)) \
        and not list(validator("show").iter_errors(good)):
    print("ok   - self-test: a missing key and a wrong type are rejected, the real line accepted")
else:
    print("FAIL - self-test: the schema does not reject broken lines")
    fails += 1

w = tempfile.mkdtemp()
try:
    targets = sorted(d for d in os.listdir(FX) if os.path.isdir(os.path.join(FX, d)) and d != "yaml")
    # show: every fixture, a file that is not ELF, a malformed one.
    notelf = os.path.join(w, "notelf")
    open(notelf, "w").write("#!/bin/sh\n")
    yaml_bins = [os.path.join(FX, "yaml", f) for f in sorted(os.listdir(os.path.join(FX, "yaml")))] \
        if os.path.isdir(os.path.join(FX, "yaml")) else []
    check_lines("show", run("show", "--json", *[os.path.join(FX, t) for t in targets], notelf, *yaml_bins),
                lambda o: "show")

    # A root: every target's programs and libraries, plus a looping link.
    root = os.path.join(w, "root")
    for t in targets:
        shutil.copytree(os.path.join(FX, t), os.path.join(root, "opt", t))
    os.makedirs(os.path.join(root, "usr/lib"))
    os.symlink("loop", os.path.join(root, "usr/lib/loop"))
    check_lines("check", run("check", "--json", root),
                lambda o: "check_summary" if "summary" in o else "check_walk" if o.get("walk") else "check")

    # check --package: a staged tree (a library replaced under the root's
    # programs, and a new program) laid over that root.
    stage = os.path.join(w, "pkg")
    os.makedirs(os.path.join(stage, "opt", "aarch64"))
    shutil.copy(os.path.join(FX, "aarch64", "libsym-lost.so"), os.path.join(stage, "opt", "aarch64", "libsym.so"))
    shutil.copy(os.path.join(FX, "aarch64", "app-ver"), os.path.join(stage, "opt", "aarch64", "app-new"))
    check_lines("check --package", run("check", "--package", stage, "--json", root),
                lambda o: "check_package_summary" if "summary" in o else "check_package")
    # --retarget-preview: retarget's objects (with "preview") between them.
    pstage = os.path.join(w, "pkg-preview")
    os.makedirs(os.path.join(pstage, "usr", "aarch64-linux-gnu", "bin"))
    shutil.copy(os.path.join(FX, "aarch64", "app-ver"), os.path.join(pstage, "usr", "aarch64-linux-gnu", "bin"))
    shutil.copy(os.path.join(FX, "aarch64", "app-pie"), os.path.join(pstage, "usr", "aarch64-linux-gnu", "bin"))
    shutil.copy(os.path.join(FX, "aarch64", "libfoo.so"), os.path.join(pstage, "usr", "aarch64-linux-gnu", "bin"))
    out = run("check", "--package", pstage, "--retarget-preview", "--json", root)
    if b'"preview":true' not in out or b'"retarget_preview":[{' not in out:
        print("FAIL - check --package --retarget-preview: no preview in the output")
        fails += 1
    check_lines("check --package --retarget-preview", out,
                lambda o: "check_package_summary" if "summary" in o else "retarget" if o.get("preview")
                else "check_package")

    # patch: dry run, a write, nothing to change, an error.
    app = os.path.join(w, "app")
    shutil.copy(os.path.join(FX, "x86_64", "app-pie"), app)
    out = run("--json", "--dry-run", "--runpath", "/opt/x", app)
    out += run("--json", "--runpath", "/opt/x", app)
    out += run("--json", "--runpath", "/opt/x", app)
    out += run("--json", "--runpath", "/opt/x", notelf)
    check_lines("patch", out, lambda o: "patch")

    # retarget: a stage with programs of several targets, dry run and for real.
    for t, tuple_ in (("aarch64", "aarch64-linux-gnu"), ("x86_64-musl", "x86_64-linux-musl")):
        stage = os.path.join(w, "stage-" + t)
        shutil.copytree(os.path.join(FX, t), os.path.join(stage, "bin"))
        shutil.copy(os.path.join(FX, "riscv64", "app-pie"), os.path.join(stage, "bin", "other"))
        out = run("retarget", "--tuple", tuple_, "--root", root, "--stage", f"{stage}=/usr/{tuple_}",
                  "--ignore-missing", "lib*", "--dry-run", "--json", stage)
        out += run("retarget", "--tuple", tuple_, "--root", root, "--stage", f"{stage}=/usr/{tuple_}", "--json", stage)
        check_lines(f"retarget {tuple_}", out, summary_or("retarget"))

    # setup: before and after --write, glibc and musl.
    sroot = os.path.join(w, "sroot")
    os.makedirs(sroot)
    out = b""
    for tuple_ in ("aarch64-linux-gnu", "aarch64-linux-musl"):
        out += run("setup", "--tuple", tuple_, "--root", sroot, "--json")
        out += run("setup", "--tuple", tuple_, "--root", sroot, "--write", "--json")
    check_lines("setup", out, summary_or("setup"))
finally:
    shutil.rmtree(w)

print(f"{count} lines checked, {fails} failed")
sys.exit(1 if fails else 0)
