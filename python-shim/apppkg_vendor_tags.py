"""Which wheel tags this interpreter can load, for `apppkg-gateway vendor` and `check` (issue 19).

    python apppkg_vendor_tags.py [--as X.Y:GLIBC[:MACHINE]] [TAG ...]

prints one JSON line: this interpreter's own tag (`cp311-cp311-linux_x86_64`: what a wheel
built here is tagged) and, for each TAG given (a wheel's `Tag:`, compressed sets such as
`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64` included), whether it loads here.

With `--as 3.13:2.41:x86_64`, the same questions for a CPython X.Y on Linux with that glibc on
that architecture (`uname -m`; this machine's when left out), which need not be here: `export`
judges a vendor directory for the image's python3 (Debian's) with the same rules as `check`
judges it for the host's.

PEP 425 and PEP 600 rules, stdlib only: the vendor directory must be judged on hosts that have
no pip and no `packaging` (a production host with Debian's python3 and nothing else), and on
every Python the gateway supports (3.9 and later).
"""

import json
import os
import platform
import sys
import sysconfig

# The glibc each legacy manylinux name stands for (PEP 600's aliases).
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}

# The interpreter judged for (--as): None for this one; else
# {"version": (3, 13), "glibc": (2, 41), "machine": "x86_64"}, a CPython on Linux.
TARGET = None


def implementation():
    return "cpython" if TARGET else sys.implementation.name


def version_info():
    return TARGET["version"] if TARGET else (sys.version_info[0], sys.version_info[1])


def interpreter_tag():
    name = implementation()
    short = {"cpython": "cp", "pypy": "pp"}.get(name, name)
    return "%s%d%d" % (short, version_info()[0], version_info()[1])


def abi_tag():
    if TARGET:
        return "cp%d%d" % TARGET["version"]
    # SOABI is "cpython-311-x86_64-linux-gnu" (a "d" after the version in a debug build).
    soabi = sysconfig.get_config_var("SOABI") or ""
    parts = soabi.split("-")
    if len(parts) >= 2 and parts[0] == "cpython":
        return "cp" + parts[1]
    if len(parts) >= 2 and parts[0].startswith("pypy"):
        return "_".join(parts[:2]).replace(".", "_")
    return None


def platform_tag():
    if TARGET:
        return "linux_" + TARGET["machine"]
    return sysconfig.get_platform().replace("-", "_").replace(".", "_")


def glibc_version():
    if TARGET:
        return TARGET["glibc"]
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()
    except (AttributeError, OSError, ValueError):
        return None
    if name != "glibc":
        return None
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def machine():
    return platform_tag().split("_", 1)[1] if platform_tag().startswith("linux_") else platform.machine()


def platform_supported(plat):
    if plat == "any" or plat == platform_tag():
        return True
    if not platform_tag().startswith("linux_"):
        return False
    for legacy, needed in LEGACY_MANYLINUX.items():
        if plat == "%s_%s" % (legacy, machine()):
            have = glibc_version()
            return have is not None and have >= needed
    prefix = "manylinux_"
    if plat.startswith(prefix) and plat.endswith("_" + machine()):
        try:
            major, minor = plat[len(prefix):-len(machine()) - 1].split("_")
            needed = (int(major), int(minor))
        except ValueError:
            return False
        have = glibc_version()
        return have is not None and have >= needed
    return False


def python_supported(python, abi):
    own = interpreter_tag()
    if python == own:
        return True
    major, minor = version_info()
    # py3, py39 ... py311: pure Python for this version or an older one.
    if python.startswith("py"):
        digits = python[2:]
        if digits == str(major):
            return True
        if digits.startswith(str(major)) and len(digits) > 1:
            try:
                return int(digits[1:]) <= minor
            except ValueError:
                return False
        return False
    # cp36-abi3 ... cp311-abi3: the stable ABI of this version or an older one.
    if abi == "abi3" and python.startswith(own[:2] + str(major)):
        try:
            return int(python[3:]) <= minor
        except ValueError:
            return False
    return False


def abi_supported(abi):
    return abi == "none" or abi == abi_tag() or (abi == "abi3" and implementation() == "cpython")


def tag_supported(tag):
    try:
        pythons, abis, plats = tag.split("-")
    except ValueError:
        return False
    for python in pythons.split("."):
        for abi in abis.split("."):
            for plat in plats.split("."):
                if python_supported(python, abi) and abi_supported(abi) and platform_supported(plat):
                    return True
    return False


def major_minor(text):
    return tuple(int(part) for part in text.split(".")[:2])


def parse_target(text):
    parts = text.split(":")
    machine = parts[2] if len(parts) > 2 and parts[2] else platform.machine()
    return {"version": major_minor(parts[0]), "glibc": major_minor(parts[1]), "machine": machine.lower()}


def main(argv):
    global TARGET
    if argv[:1] == ["--as"]:
        TARGET = parse_target(argv[1])
        argv = argv[2:]
    own = "%s-%s-%s" % (interpreter_tag(), abi_tag() or "none", platform_tag())
    print(json.dumps({
        "interpreter": interpreter_tag(),
        "tag": own,
        "supported": dict((tag, tag_supported(tag)) for tag in argv),
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
