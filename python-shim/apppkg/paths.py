"""An app's sys.path, the one algorithm (SPEC 2.1): the app directory, then each of `paths`
in order with what their .pth files add right after the directory that holds them, then the
virtualenv's site-packages, then the interpreter's own entries.

Three callers, so that they cannot disagree: the gateway's workers (apppkg_shim.bootstrap),
the sitecustomize that src/environment/app-env.ts generates for every command the gateway
runs for an app, and AppPackage.load_object in any process.

Stdlib only and Python 3.6-safe: every command of every app imports this module at startup.
"""

import os
import site
import sys


def prepend_site_dirs(dirs):
    """Put `dirs` first on sys.path, each through site.addsitedir (so its .pth files are
    processed, import lines included), in order; the rest of sys.path follows, unchanged but
    for the entries now in front. Idempotent. Returns the entries now in front."""
    rest = _unique(sys.path)
    front = []
    for d in dirs:
        d = os.path.abspath(d)
        if d in front:
            continue
        # The rest stays on the path meanwhile: a .pth import line may need the stdlib.
        sys.path[:] = front + rest
        before = len(sys.path)
        # Known paths = the front only: a dir (or a .pth entry) already somewhere in the rest
        # (a venv's own site-packages, a second run of this function) is appended again here
        # and so moves up to its place in the order, instead of staying where it was.
        site.addsitedir(d, set(os.path.normcase(p) for p in front))
        for entry in [d] + sys.path[before:]:
            if entry not in front:
                front.append(entry)
    in_front = set(front)
    sys.path[:] = front + [p for p in rest if p not in in_front]
    return front


def set_app_process_path(dirs, shim_dir, drop=()):
    """sys.path of a process the gateway starts for an app: `dirs` first (prepend_site_dirs),
    then the interpreter's own entries, then the gateway's python-shim directory last, so that
    `import apppkg` works everywhere but never shadows a module of the app or of its
    interpreter. `drop`: directories to take off the path (the generated sitecustomize's own).

    The caller imported this module from `shim_dir`; that import is forgotten too (the
    modules, not the path entry): an app with a module of its own named `apppkg` gets it."""
    gone = set(os.path.realpath(p) for p in [shim_dir] + list(drop))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) not in gone]
    prepend_site_dirs(dirs)
    sys.path.append(shim_dir)
    for name in [m for m in sys.modules if m == "apppkg" or m.startswith("apppkg.")]:
        del sys.modules[name]


def _unique(entries):
    seen = set()
    result = []
    for entry in entries:
        if entry not in seen:
            seen.add(entry)
            result.append(entry)
    return result
