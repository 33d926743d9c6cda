"""What can go wrong in the shim, and how each failure reaches the gateway.

Exit codes are the worker-to-gateway protocol (gunicorn's APP_LOAD_ERROR = 4): 3 = the shim
could not start, 4 = the app could not be loaded (the gateway stops restarting it until the
app changes). Before exiting 4, one marker line on stderr carries the details as JSON.
"""

import json
import os
import stat
import sys

# sysconfig and traceback are imported where a failure is explained, not at every worker's
# start: together they are ~7 ms of a cold start (docs/performance.md, "Many apps").

EXIT_STARTUP_FAILED = 3
EXIT_APP_LOAD_FAILED = 4

IMPORT_ERROR_MARKER = "APPPKG-IMPORT-ERROR"
NOT_CALLABLE_MARKER = "APPPKG-APP-NOT-CALLABLE"
# Before exiting 3 for another link protocol. The gateway that reads it is an older or newer
# version than this shim: its name and fields never change (docs/protocol.md §1).
LINK_MISMATCH_MARKER = "APPPKG-LINK-MISMATCH"

_SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_stdlib_dirs = None


def _stdlib_dir_list():
    global _stdlib_dirs
    if _stdlib_dirs is None:
        import sysconfig

        paths = sysconfig.get_paths()
        _stdlib_dirs = sorted({
            os.path.join(os.path.abspath(p), "")
            for p in (paths.get("stdlib"), paths.get("platstdlib"), os.path.dirname(os.__file__))
            if p
        })
    return _stdlib_dirs


class ClientDisconnected(OSError):
    """The client went away (ABORT from the gateway) while the app read or wrote."""


class InvalidResponse(Exception):
    """The app broke PEP 3333 in what it gave the server (status, headers, body)."""


class AppNotCallable(Exception):
    def __init__(self, spec, found):
        Exception.__init__(self, "%s is %s, expected a WSGI callable" % (spec, found))
        self.spec = spec
        self.found = found
        self.kind = None
        # What a command that serves the app names it by, when not `spec` (an async factory's).
        self.target = None
        # The server of an app that runs under its own ("aiohttp", "tornado"): its fix's command.
        self.server = None


class AppOtherKind(AppNotCallable):
    """Callable, but plainly the other kind of app than the config's: `kind` is what it is."""

    def __init__(self, spec, found, kind, declared):
        AppNotCallable.__init__(self, spec, found)
        self.kind = kind
        self.args = ("%s is %s; it is served as %s: write `platform: python, %s` in app.yaml%s" % (
            spec, found, declared.upper(), kind, " with a `processes.web` that starts its server" if kind == "command" else ""),)


def is_shim_file(filename):
    """A frame of the shim's own code (the loop, the task that runs the app), not the app's."""
    return filename.startswith(_SHIM_DIR + os.sep)


def _is_app_file(filename, roots):
    if filename.startswith("<") or filename.startswith(_SHIM_DIR + os.sep):
        return False
    if os.sep + "site-packages" + os.sep in filename or os.sep + "dist-packages" + os.sep in filename:
        return False
    for root in roots:
        if filename.startswith(root):
            return True
    return False


def is_stdlib(filename):
    for d in _stdlib_dir_list():
        if filename.startswith(d):
            rest = filename[len(d):]
            return not (rest.startswith("site-packages" + os.sep) or rest.startswith("dist-packages" + os.sep))
    return False


def app_location(exc, roots):
    """(file, line) of the innermost frame in the app's own files, else of the innermost
    frame outside the shim and the stdlib (a library the app uses); (None, None) when there
    is none (a module that does not exist)."""
    roots = [os.path.join(os.path.realpath(r), "") for r in roots] + [os.path.join(os.path.abspath(r), "") for r in roots]
    if isinstance(exc, SyntaxError) and exc.filename:
        return os.path.abspath(exc.filename), exc.lineno
    import traceback

    best = fallback = (None, None)
    for fs in traceback.extract_tb(exc.__traceback__):
        name = fs.filename
        if name.startswith("<") or name.startswith(_SHIM_DIR + os.sep):
            continue
        name = os.path.abspath(name)
        if is_stdlib(name):
            continue
        fallback = (name, fs.lineno)
        if _is_app_file(name, roots):
            best = (name, fs.lineno)
    return best if best[0] else fallback


def _is_import_machinery(filename):
    """The shim's own frames and importlib's (frozen or not) that lead to the app's module."""
    if filename.startswith("<frozen ") or filename.startswith(_SHIM_DIR + os.sep):
        return True
    name = os.path.abspath(filename)
    return is_stdlib(name) and os.sep + "importlib" + os.sep in name


def format_exc():
    """The exception being handled, as Python prints it."""
    import traceback

    return traceback.format_exc()


def request_traceback():
    """The exception being handled, as Python prints it, but from the app's first frame on: the
    shim's frames that call the app (the task's run) say nothing to its author. One the shim
    raised itself (a response that is not WSGI) has no frame of the app's: it keeps them all."""
    import traceback

    exc = sys.exc_info()[1]
    tb = exc.__traceback__ if exc is not None else None
    first = tb
    while first is not None and is_shim_file(first.tb_frame.f_code.co_filename):
        first = first.tb_next
    return "".join(traceback.format_exception(type(exc), exc, first if first is not None else tb))


def app_traceback(exc):
    """The traceback as Python prints it, but starting at the app's first frame: the shim's
    and importlib's frames above it say nothing about the app (issue 13). A module that does
    not exist has no frame of its own: then only the exception line is left."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and _is_import_machinery(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def import_error_details(exc, spec, roots):
    from .environ_key import missing_environ_key
    from .meant_app import meant_app

    file, line = app_location(exc, roots)
    message = exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)
    details = {
        "app": spec,
        "file": file,
        "line": line,
        "type": type(exc).__name__,
        "message": message,
        "traceback": app_traceback(exc),
    }
    meant = meant_app(exc, spec, roots)
    if meant is not None:
        details["meant"] = meant
    environ = missing_environ_key(exc)
    if environ is not None:
        details["environ"] = environ
    return details


def exit_now(code):
    """Exit with `code` at once, the output written: Python would first join the app's threads
    that are no daemon (a background loop started at import, a job run_in_executor still runs),
    and hold an exit that tells the gateway something until they end, or for ever."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def emit_marker(marker, details):
    """One line on stderr the gateway parses: `MARKER {json}`."""
    _to_stderr("%s %s\n" % (marker, json.dumps(details)))


def _private_stderr():
    """A copy of fd 2 (the gateway's pipe) the app does not know of: an app that closes fd 2 (a
    daemonizing idiom, os.closerange(0, 3)) would otherwise take the reports of its failures with
    it. High, so that an app closing the low fds it thinks its own spares it; close-on-exec, so
    that no program the app runs holds the gateway's pipe."""
    import fcntl

    for lowest in (512, 3):
        try:
            return fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, lowest)
        except OSError:
            continue  # above the open-files limit, or no fd 2 at all
    return None


_REPORT_FD = _private_stderr()


def log(message):
    _to_stderr("apppkg-shim[%d]: %s\n" % (os.getpid(), message))


def _to_stderr(text):
    """`text` on sys.stderr, or on fd 2 when the app made sys.stderr unusable (set it to None, as
    code that silences a process does, or closed it): the gateway's reports of the app's failures
    (a 500's traceback, an import error's marker) were lost with the app's own output."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
        return
    except Exception:
        pass
    data = text.encode("utf-8", "backslashreplace")
    if _REPORT_FD is not None:
        try:
            os.write(_REPORT_FD, data)
            return
        except OSError:
            pass
    try:
        # Only the gateway's pipe (a socketpair, as Node makes them): a closed fd 2 may have
        # been reused for one of the app's files.
        mode = os.fstat(2).st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):
            os.write(2, data)
    except OSError:
        pass
