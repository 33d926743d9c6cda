"""Says which of the app's threads hold a stopped worker's exit.

A worker that has finished its last request returns, and Python then joins every thread that
is no daemon before it exits and before it runs the app's atexit handlers. An app's background
loop started at import without daemon=True never ends: the worker stayed, silent, until the
gateway's grace was over (a stop, a deploy's drain, a recycle) and it was killed, its atexit
handlers never run. Python's order is kept, since such a thread may be finishing work; a moment
after the exit began, the app log gets one line naming each thread still there, where it runs,
and the fix. After the threads, multiprocessing's own atexit handler joins every Process the app
started that is no daemon (a job a request left running): the same wait, which said nothing,
so the same line names those processes.
"""

import os
import sys
import threading
import time

from .errors import is_stdlib, log

HELD_SECONDS = 1.0


def watch_exit():
    """From now on the main thread is on its way out; report what holds it back."""
    threading.Thread(target=_report, name="apppkg-exit-watch", daemon=True).start()


def _report():
    time.sleep(HELD_SECONDS)
    main = threading.main_thread()
    held = [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]
    if not held:
        _report_processes()
        return
    frames = sys._current_frames()
    named = []
    for thread in held:
        where = _where(frames.get(thread.ident))
        named.append("%r%s" % (thread.name, " (at %s)" % where if where else ""))
    log("the worker has finished its requests but cannot exit: Python waits for the app's thread%s %s, %s no daemon, "
        "before it exits and runs the app's atexit handlers, and the gateway kills the worker when its grace is over; "
        "start %s with daemon=True, or end what %s from a SIGTERM handler the app installs at import "
        "(the worker runs it once its requests are done; an executor's job too)" % (
            "s" if len(held) > 1 else "", ", ".join(named), "which are" if len(held) > 1 else "which is",
            "them" if len(held) > 1 else "it", "they run" if len(held) > 1 else "it runs"))


def _report_processes():
    # Only an app that imported multiprocessing can have started one; read, never reaped here
    # (is_alive() would waitpid beside the join of the main thread).
    process = sys.modules.get("multiprocessing.process")
    children = getattr(process, "_children", None) or ()
    held = []
    for child in list(children):
        popen = getattr(child, "_popen", None)
        if popen is not None and popen.returncode is None and not child.daemon:
            held.append("%r (pid %s)" % (child.name, popen.pid))
    if not held:
        return
    many = len(held) > 1
    log("the worker has finished its requests but cannot exit: multiprocessing waits for the app's process%s %s, %s no daemon, "
        "at exit, and the gateway kills the worker and %s when its grace is over; start %s with daemon=True, or end %s "
        "and join %s in the request that started %s or from a SIGTERM handler the app installs at import" % (
            "es" if many else "", ", ".join(held), "which are" if many else "which is",
            "them" if many else "it", "them" if many else "it", "them" if many else "it", "them" if many else "it",
            "them" if many else "it"))


def _where(frame):
    """FILE:LINE in FUNC of the innermost frame outside the stdlib (the app's loop, not the
    time.sleep or Event.wait it waits in), else of the innermost frame; None without one."""
    innermost = None
    while frame is not None:
        code = frame.f_code
        text = "%s:%d in %s" % (code.co_filename, frame.f_lineno, code.co_name)
        if innermost is None:
            innermost = text
        if not code.co_filename.startswith("<") and not is_stdlib(os.path.abspath(code.co_filename)):
            return text
        frame = frame.f_back
    return innermost
