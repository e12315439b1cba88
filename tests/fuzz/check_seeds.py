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


def ld_so_cache(entries, big, compat=False):
    """An ld.so.cache as ldconfig lays it out (glibc's dl-cache.h): the new
    format, or the old one with the new one inside it."""
    e = ">" if big else "<"
    n = len(entries)
    old_end = 16 + 12 * n if compat else 0
    at = (old_end + 7) & ~7 if compat else 0
    strings, offs = b"", []
    base = at + 48 + 24 * n
    for key, value, _ in entries:
        offs.append((base + len(strings), base + len(strings) + len(key) + 1))
        strings += key + b"\0" + value + b"\0"
    new = b"glibc-ld.so.cache1.1" + struct.pack(e + "IIB3xI12x", n, len(strings), 3 if big else 2, 0)
    for (k, v), (_, _, flags) in zip(offs, entries):
        new += struct.pack(e + "IIIIQ", flags, k - at, v - at, 0, 0)
    if not compat:
        return new + strings
    old = b"ld.so-1.7.0\0" + struct.pack(e + "I", n)
    for (k, v), (_, _, flags) in zip(offs, entries):
        old += struct.pack(e + "III", flags, k - old_end, v - old_end)
    return old + b"\0" * (at - len(old)) + new + strings


# _dl_cache_check_flags: FLAG_ELF_LIBC6 with each architecture's bits.
CACHE_FLAGS = {"x86_64": 0x303, "aarch64": 0xa03, "armhf": 0x903, "riscv64": 0x1003, "ppc64le": 0x503,
               "s390x": 0x403}


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
            # With a real ld.so.cache naming it (new format, and old with new inside).
            [rec(FILE, "/bin/app", read("app-norunpath")), rec(FILE, "/opt/lib/libfoo.so", lib),
             rec(FILE, "/etc/ld.so.conf", conf), rec(FILE, "/etc/ld.so.conf.d/a.conf", b"/usr/lib\ninclude a.conf\n"),
             rec(FILE, "/etc/ld.so.cache", ld_so_cache(
                 [(b"libc.so.6", b"/lib/libc.so.6", 3), (b"libfoo.so", b"/opt/lib/libfoo.so", CACHE_FLAGS.get(t, 3))],
                 t in ("s390x", "powerpc"), compat=t.startswith("a")))]
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
