"""Says where the app's import is when the worker's start deadline comes.

An import that never finishes (a loop, a connection made at import without a timeout, a lock
never released) was killed at the gateway's deadline with nothing in the app log: the refusal
sent the user to a log that did not say where it hung. A moment before the deadline, the app log
gets one line with the import's stack (the shim's and importlib's frames left out). A thread of Python's
does it, so an import stuck in C code that holds the GIL still says nothing.
"""

import importlib
import os
import sys
import threading
import time
import traceback

from .errors import log

# Before the gateway's kill: time for the line to reach it (as asgi_worker's READY_MARGIN_SECONDS).
MARGIN_SECONDS = 0.5


def watch_import(config):
    """A timer that reports the calling thread's stack at the start deadline; cancel() it once
    the import is done. None when the gateway gave no deadline."""
    ready_ms, ready_by = config.get("readyWithinMs"), config.get("readyBy")
    if not ready_ms or not ready_by:
        return None
    ready = ready_ms / 1000.0
    # The wall clock: the deadline counts from the spawn, before this interpreter started.
    within = ready_by / 1000.0 - time.time() - min(MARGIN_SECONDS, ready / 5)
    timer = threading.Timer(max(0.0, within), _report, (config["app"], threading.get_ident(), ready))
    timer.name = "apppkg-import-watch"
    timer.daemon = True
    timer.start()
    return timer


def _report(spec, ident, ready):
    frame = sys._current_frames().get(ident)
    if frame is None:
        return
    # From the app's first frame: the shim's own and importlib's say nothing about it.
    skip = (os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep, "<frozen ")
    stack = [entry for entry in traceback.extract_stack(frame)
             if not entry.filename.startswith(skip) and entry.filename != importlib.__file__]
    log("the import of %s has not finished within the %g s a worker has to start (start_timeout), and the "
        "gateway kills the worker now; it was at (most recent call last):\n%s" % (
            spec, ready, "".join(traceback.format_list(stack)).rstrip()))
