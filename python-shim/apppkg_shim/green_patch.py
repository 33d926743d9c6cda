"""An app that monkey-patches Python's threads at import, refused with the fix.

`from gevent import monkey; monkey.patch_all()` (or `eventlet.monkey_patch()`) at the top of
the app's module is what gunicorn -k gevent users write. It replaces `_thread` with greenlets
on one OS thread: the worker's threads, its locks and its monitor became greenlets, and the
first one to read the link blocked the whole hub in a recv on a socket the patch never saw.
The worker hung before READY until the start deadline, silent, then did so again at each
restart. gunicorn's gevent worker patches before it starts its own machinery and serves one
greenlet per request; this worker's link and its stop are threads, so the app is refused at
import (exit 4, not restarted until it changes) with what to write instead.

Only the thread primitives are watched, and only gevent's and eventlet's replacements of them:
a patch without them (`patch_all(thread=False)`, or a SOCKS library replacing socket.socket)
leaves the worker's threads and its link sockets, made before the import, as they were, and a
wrapper that still starts OS threads (pydevd's) makes none a greenlet; either runs.
"""

import os
import select
import sys
import _thread

PATCHED_MARKER = "APPPKG-APP-PATCHED"

# (module object, attribute): what a patch of threads replaces. select.poll is the WSGI
# monitor's: eventlet's patch removes it.
_WATCHED = ((_thread, "start_new_thread"), (_thread, "allocate_lock"), (select, "poll"))
_MISSING = object()
GREEN_LIBRARIES = ("gevent", "eventlet")
# What a patching call looks like in the app's source; read only once a patch is found (re is
# not paid at every worker's start).
_PATCH_CALL = r"\b(?:monkey\.patch_\w+|patch_all|monkey_patch)\s*\("


def snapshot():
    """The watched objects before the app's import."""
    return [getattr(module, name, _MISSING) for module, name in _WATCHED]


def patch_found(before, spec, kind, sys_path):
    """The marker's details when the app's import replaced Python's threads (or, for a WSGI
    app, removed select.poll), else None."""
    replaced = []
    by = None
    for (module, name), old in zip(_WATCHED, before):
        new = getattr(module, name, _MISSING)
        # gevent's own select.poll works from real threads; eventlet's patch leaves none.
        if new is old or (module is select and (kind == "asgi" or new is not _MISSING)):
            continue
        if new is _MISSING:
            owner = "eventlet" if "eventlet" in sys.modules else None
        else:
            owner = (getattr(new, "__module__", None) or "").split(".")[0]
        # A wrapper that still starts OS threads (a debugger's, pydevd's, tracking them) is no
        # green patch: only the libraries that make threads greenlets are refused.
        if owner not in GREEN_LIBRARIES:
            continue
        replaced.append("%s.%s" % (module.__name__, name))
        by = by or owner
    if not replaced:
        return None
    where = _patch_call(spec, sys_path)
    return {"app": spec, "kind": kind, "by": by, "replaced": replaced, "file": where[0], "line": where[1]}


def _patch_call(spec, sys_path):
    """(file, line) of the first monkey-patching call in the app's own modules, the `app:`
    module first; (None, None) when none reads as one."""
    import re

    call = re.compile(_PATCH_CALL)
    roots = [os.path.join(os.path.abspath(p), "") for p in sys_path]
    first = sys.modules.get(spec.partition(":")[0].strip())
    modules = [first] + [m for m in list(sys.modules.values()) if m is not first]
    for module in modules:
        filename = getattr(module, "__file__", None)
        if not filename or not filename.endswith(".py") or not any(filename.startswith(r) for r in roots):
            continue
        if os.sep + "site-packages" + os.sep in filename or os.sep + "dist-packages" + os.sep in filename:
            continue
        try:
            with open(filename, encoding="utf-8", errors="replace") as f:
                for number, text in enumerate(f, 1):
                    if call.search(text) and not text.lstrip().startswith("#"):
                        return filename, number
        except OSError:
            continue
    return None, None


def message(details):
    """The app log's line; the gateway's refusal says what to write instead."""
    where = " (%s:%s)" % (details["file"], details["line"]) if details.get("file") else ""
    return "%s%s monkey-patched Python's threads at import (%s replaced %s): refused, the worker's own threads would become greenlets" % (
        details["app"], where, details["by"], ", ".join(details["replaced"]))
