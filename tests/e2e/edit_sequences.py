#!/usr/bin/env python3
"""Random edit sequences against the real loaders (issue 17's bar).

For each round: a fixture program of a random target, a random sequence of
xpatch calls (--replace-needed, --add-needed, --remove-needed, --runpath,
--rpath, --add-runpath, --soname, --interp, in any order, with repeats),
each applied to the file in turn. A model predicts the dynamic section after
every call; the output must match it as readelf reads it, every
.gnu.version_r entry must name a DT_NEEDED, and the program must run under
qemu-user without -L and print what it printed when built.

Seeded (--seed) and bounded in time (--budget seconds). A failure prints the
seed, the round and the commands, so it can be replayed.
Exit 77 when no target can run here.
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

EXPECT = "xpatch-fixture: foo=42"
# target -> (loader in the tuple layout, qemu, lib dir with the libc)
TARGETS = {
    "x86_64": ("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", None),
    "x86_64-musl": ("/usr/lib/x86_64-linux-musl/libc.so", None),
    "aarch64-musl": ("/usr/lib/aarch64-linux-musl/libc.so", "qemu-aarch64"),
    "i686": ("/usr/i686-linux-gnu/lib/ld-linux.so.2", "qemu-i386"),
    "aarch64": ("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1", "qemu-aarch64"),
    "armhf": ("/usr/arm-linux-gnueabihf/lib/ld-linux-armhf.so.3", "qemu-arm"),
    "riscv64": ("/usr/riscv64-linux-gnu/lib/ld-linux-riscv64-lp64d.so.1", "qemu-riscv64"),
    "ppc64le": ("/usr/powerpc64le-linux-gnu/lib/ld64.so.2", "qemu-ppc64le"),
    "s390x": ("/usr/s390x-linux-gnu/lib/ld64.so.1", "qemu-s390x"),
    "powerpc": ("/usr/powerpc-linux-gnu/lib/ld.so.1", "qemu-ppc"),
}
PROGRAMS = ["app-pie", "app-nopie", "app-norunpath", "app-rpath", "app-ver"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def dynamic(path):
    """(needed list, {tag: value}) for RUNPATH, RPATH and SONAME, as readelf reads them."""
    out = run(["readelf", "-dW", path]).stdout
    needed, single = [], {}
    for line in out.splitlines():
        m = re.search(r"\((NEEDED|RUNPATH|RPATH|SONAME)\)\s+[^\[]*\[(.*)\]$", line)
        if not m:
            continue
        if m.group(1) == "NEEDED":
            needed.append(m.group(2))
        else:
            single.setdefault(m.group(1), []).append(m.group(2))
    return needed, single


def interpreter(path):
    m = re.search(r"Requesting program interpreter: (.*)\]", run(["readelf", "-lW", path]).stdout)
    return m.group(1) if m else None


def version_files(path):
    return re.findall(r"File: (\S+)", run(["readelf", "-VW", path]).stdout)


class Model:
    """The dynamic section xpatch must produce: the rules of rewrite/edits.h."""

    def __init__(self, path):
        self.needed, single = dynamic(path)
        self.paths = {k: v[0] for k, v in single.items()}  # RUNPATH / RPATH / SONAME
        self.interp = interpreter(path)

    def in_force(self):
        return "RUNPATH" if "RUNPATH" in self.paths else "RPATH" if "RPATH" in self.paths else None

    def set_path(self, tag, value):
        self.paths.pop("RPATH" if tag == "RUNPATH" else "RUNPATH", None)
        self.paths[tag] = value

    def add_path(self, dirs):
        tag = self.in_force() or "RUNPATH"
        cur = [d for d in self.paths.get(tag, "").split(":") if d]
        for d in dirs:
            if d not in cur:
                cur.append(d)
        self.paths[tag] = ":".join(cur)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--xpatch", required=True)
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--budget", type=float, default=50)
    a = ap.parse_args()

    usable = [t for t, (loader, q) in TARGETS.items()
              if os.path.exists(os.path.join(a.fixtures, t, "app-ver")) and os.path.exists(loader)
              and (q is None or shutil.which(q))]
    if not usable:
        print("no target can run here (fixtures, loaders or qemu-user missing)")
        return 77
    rnd = random.Random(a.seed)
    deadline = time.monotonic() + a.budget
    rounds = calls = failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        while time.monotonic() < deadline and failures == 0:
            rounds += 1
            t = rnd.choice(usable)
            loader, qemu = TARGETS[t]
            libdir = os.path.dirname(loader)
            fx = os.path.join(a.fixtures, t)
            w = os.path.join(tmp, f"r{rounds}")
            os.makedirs(os.path.join(w, "bin"))
            os.makedirs(os.path.join(w, "lib"))
            lib = os.path.join(w, "lib")
            for name in ("libfoo.so", "libver.so.1"):
                shutil.copy(os.path.join(fx, name), lib)
            prog = os.path.join(w, "bin", "app")
            shutil.copy(os.path.join(fx, rnd.choice(PROGRAMS)), prog)
            model = Model(prog)
            log = []
            # Copies of a needed library under new names: the same code, so
            # a replaced or added DT_NEEDED still loads and defines VER_1.
            origin = {"libfoo.so": "libfoo.so", "libver.so.1": "libver.so.1"}
            serial = 0
            extras = set()  # names --add-needed added: removable

            def fresh(base):
                nonlocal serial
                serial += 1
                name = f"{base.split('.so')[0]}-{serial}.so"
                shutil.copy(os.path.join(lib, base), os.path.join(lib, name))
                origin[name] = origin[base]
                return name

            def xpatch(args):
                nonlocal calls
                log.append(args)
                r = run([a.xpatch, *args, prog])
                calls += 1
                if r.returncode != 0:
                    print(f"FAIL round {rounds} ({t}): xpatch {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
                return r.returncode == 0

            def path_value():
                dirs = [libdir, lib] + [f"/nonexistent/d{rnd.randrange(1000)}" for _ in range(rnd.randrange(4))]
                rnd.shuffle(dirs)
                if rnd.random() < 0.2:
                    dirs += [f"/a/long/search/path/entry/{i:03d}" for i in range(rnd.randrange(1, 60))]
                return ":".join(dirs)

            def interp_value():
                if rnd.random() < 0.4:
                    return loader
                d = os.path.join(w, "ld" + "x" * rnd.randrange(0, 120))
                os.makedirs(d, exist_ok=True)
                link = os.path.join(d, os.path.basename(loader))
                if not os.path.islink(link):
                    os.symlink(loader, link)
                return link

            for _ in range(rnd.randrange(1, 8)):
                op = rnd.choice(["replace", "add", "remove", "runpath", "rpath", "add-runpath", "soname", "interp"])
                libs = [n for n in model.needed if n in origin]
                if op == "replace" and libs:
                    old = rnd.choice(libs)
                    new = fresh(old)
                    if old in extras:
                        extras.add(new)
                    args = ["--replace-needed", f"{old}={new}"]
                    model.needed[model.needed.index(old)] = new
                elif op == "add":
                    new = fresh("libfoo.so")
                    extras.add(new)
                    args = ["--add-needed", new]
                    model.needed.append(new)
                elif op == "remove" and extras & set(model.needed):
                    # only a library added here: the program's own stays
                    gone = rnd.choice(sorted(extras & set(model.needed)))
                    args = ["--remove-needed", gone]
                    model.needed = [n for n in model.needed if n != gone]
                elif op == "runpath":
                    v = path_value()
                    args = ["--runpath", v]
                    model.set_path("RUNPATH", v)
                elif op == "rpath":
                    v = path_value()
                    args = ["--rpath", v]
                    model.set_path("RPATH", v)
                elif op == "add-runpath":
                    dirs = rnd.sample([libdir, lib, f"/nonexistent/e{rnd.randrange(100)}"], rnd.randrange(1, 4))
                    args = [x for d in dirs for x in ("--add-runpath", d)]
                    model.add_path(dirs)
                elif op == "soname":
                    v = "libapp.so." + str(rnd.randrange(100)) * rnd.randrange(1, 30)
                    args = ["--soname", v]
                    model.paths["SONAME"] = v
                elif op == "interp":
                    v = interp_value()
                    args = ["--interp", v]
                    model.interp = v
                else:
                    continue
                if not xpatch(args):
                    failures += 1
                    break

            # Make it runnable if the sequence did not: the path in force
            # gets the two directories, and the loader of the tuple layout.
            if failures == 0:
                fix = []
                force = model.paths.get(model.in_force() or "RUNPATH", "").split(":")
                missing = [d for d in (libdir, lib) if d not in force]
                if missing:
                    fix += [x for d in missing for x in ("--add-runpath", d)]
                    model.add_path(missing)
                if model.interp != loader and not (model.interp or "").startswith(w):
                    fix += ["--interp", loader]
                    model.interp = loader
                if fix and not xpatch(fix):
                    failures += 1

            if failures == 0:
                needed, single = dynamic(prog)
                problems = []
                if needed != model.needed:
                    problems.append(f"DT_NEEDED {needed} != expected {model.needed}")
                for tag in ("RUNPATH", "RPATH", "SONAME"):
                    got = single.get(tag, [])
                    want = [model.paths[tag]] if tag in model.paths else []
                    if got != want:
                        problems.append(f"DT_{tag} {got} != expected {want}")
                if interpreter(prog) != model.interp:
                    problems.append(f"PT_INTERP {interpreter(prog)} != expected {model.interp}")
                for f in version_files(prog):
                    if f not in needed and not f.startswith(("libc.so", "ld-linux", "libgcc")):
                        problems.append(f".gnu.version_r names {f}, which is no DT_NEEDED")
                env = {k: v for k, v in os.environ.items() if k != "QEMU_LD_PREFIX"}
                out = run(([qemu] if qemu else []) + [prog], env=env, timeout=60)
                if out.stdout.strip() != EXPECT:
                    problems.append(f"does not run: exit {out.returncode}, {out.stdout.strip()!r} {out.stderr.strip()!r}")
                if problems:
                    failures += 1
                    print(f"FAIL round {rounds} ({t}, {os.path.basename(prog)}):")
                    for p in problems:
                        print("   ", p)
            if failures:
                print(f"  replay: --seed {a.seed}, round {rounds}; the calls were:")
                for args in log:
                    print("    xpatch", " ".join(args), "FILE")
            shutil.rmtree(w, ignore_errors=True)

    print(f"{rounds} rounds, {calls} xpatch calls, targets {', '.join(usable)}, seed {a.seed}: "
          f"{'FAILED' if failures else 'every output ran and matched the model'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
