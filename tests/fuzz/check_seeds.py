#!/usr/bin/env python3
"""Seed inputs for fuzz_check (format in fuzz_check.cpp): for each fixture
target, a few small roots built from its programs and libfoo.so, with
ld.so.conf includes, musl path files, and links that loop, climb with ".."
or point absolute. Usage: check_seeds.py FIXTURES_DIR OUTDIR"""
import os
import struct
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz_check.cpp")
# kPaths, read from the harness so the two cannot drift apart.
text = open(SRC).read()
table = text[text.index("kPaths[32] = {"):]
table = table[:table.index("};")]
PATHS = [line.strip().rstrip(",").strip('"') for line in table.splitlines()[1:] if line.strip().startswith('"')]
assert len(PATHS) == 32, PATHS
FILE, LINK, DIR, LINK_TO = 0, 1, 2, 3


def rec(kind, path, data=b""):
    return bytes([kind << 5 | PATHS.index(path)]) + struct.pack("<I", len(data))[:3] + data


def main(fx, out):
    os.makedirs(out, exist_ok=True)
    n = 0
    for t in sorted(os.listdir(fx)):
        d = os.path.join(fx, t)
        env = os.path.join(d, "target.env")
        if not os.path.isfile(env):
            continue
        loader = dict(l.split("=", 1) for l in open(env).read().split())["LOADER"]
        read = lambda name: open(os.path.join(d, name), "rb").read()
        lib = read("libfoo.so")
        conf = b"include /etc/ld.so.conf.d/*.conf\n/opt/lib\n# comment\n"
        seeds = [
            # A loader (any ELF of the architecture) where PT_INTERP says, the
            # library in a directory ld.so.conf includes.
            [rec(FILE, "/bin/app", read("app-norunpath")), rec(FILE, "/opt/lib/libfoo.so", lib),
             rec(FILE, "/etc/ld.so.conf", conf), rec(FILE, "/etc/ld.so.conf.d/a.conf", b"/usr/lib\ninclude a.conf\n")]
            + ([rec(FILE, loader, lib)] if loader in PATHS else []),
            # $ORIGIN runpath, /lib a relative link to usr/lib, musl path files.
            [rec(FILE, "/bin/app", read("app-pie")), rec(FILE, "/usr/lib/libfoo.so", lib),
             rec(LINK, "/lib", b"usr/lib"), rec(FILE, "/etc/ld-musl-x86_64.path", b"/opt/lib:/usr/lib\n/lib\n"),
             rec(FILE, "/etc/ld-musl-aarch64.path", b"/opt/lib\n\n$ORIGIN/../lib")],
            # RPATH; links that loop, climb above the root and point absolute.
            [rec(FILE, "/bin/app", read("app-rpath")), rec(LINK, "/lib/libfoo.so", b"/lib/libfoo.so"),
             rec(LINK, "/usr/lib/libfoo.so", b"../../../outside/lib/libc.so.6"),
             rec(LINK, "/opt/lib", b"/../../.."), rec(LINK_TO, "/usr/bin/app", bytes([PATHS.index("/bin/app")])),
             rec(FILE, "/usr/x86_64-linux-gnu/lib/libfoo.so", lib)],
        ]
        for s in seeds:
            with open(os.path.join(out, "seed-check-%03d" % n), "wb") as f:
                f.write(b"".join(s))
            n += 1
    print("check_seeds: %d seeds" % n)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
