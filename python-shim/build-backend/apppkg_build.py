"""A PEP 517 build backend for the `apppkg` distribution, stdlib only: a wheel of apppkg/*.py
and its metadata (pyproject.toml says why we do not use setuptools). Reproducible: every file
in the wheel has the same timestamp, so the same sources give the same bytes."""

import base64
import hashlib
import os
import re
import zipfile

NAME = "apppkg"
SUMMARY = "An application package as apppkg-gateway sees it: its description, sys.path and commands"
REQUIRES_PYTHON = ">=3.6"
SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_DIR = os.path.join(SHIM_DIR, NAME)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Made at build time, never in the source tree (gateway_cli.find_gateway reads it).
BUILT_FROM = "_built_from.py"


def _version():
    with open(os.path.join(PACKAGE_DIR, "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M).group(1)


def _files(version):
    """(name in the wheel, bytes), the dist-info last but RECORD."""
    dist_info = "%s-%s.dist-info" % (NAME, version)
    files = []
    for name in sorted(os.listdir(PACKAGE_DIR)):
        if name.endswith(".py") and name != BUILT_FROM:
            with open(os.path.join(PACKAGE_DIR, name), "rb") as f:
                files.append(("%s/%s" % (NAME, name), f.read()))
    files.append(("%s/%s" % (NAME, BUILT_FROM), _built_from()))
    files.sort()
    metadata = "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: MIT\nRequires-Python: %s\n" % (
        NAME, version, SUMMARY, REQUIRES_PYTHON)
    wheel = "Wheel-Version: 1.0\nGenerator: apppkg_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files.append((dist_info + "/METADATA", metadata.encode("utf-8")))
    files.append((dist_info + "/WHEEL", wheel.encode("utf-8")))
    return dist_info, files


def _built_from():
    """The gateway of the checkout (or npm package) this wheel is built from, when there is one:
    an apppkg installed into a virtualenv is no longer beside it, and the gateway need not be on
    PATH. The same sources in the same place still give the same bytes."""
    gateway = os.path.join(os.path.dirname(SHIM_DIR), "bin", "apppkg-gateway")
    value = repr(gateway) if os.access(gateway, os.X_OK) else "None"
    return ('"""Written by the build (build-backend/apppkg_build.py): where the gateway was."""\n\n'
            "GATEWAY = %s\n" % value).encode("utf-8")


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
    return "%s,sha256=%s,%d\n" % (name, digest, len(data))


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    dist_info, files = _files(version)
    record = "".join(_record_line(name, data) for name, data in files) + dist_info + "/RECORD,,\n"
    files.append((dist_info + "/RECORD", record.encode("utf-8")))
    wheel_name = "%s-%s-py3-none-any.whl" % (NAME, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name
