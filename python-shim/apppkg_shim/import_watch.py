"""Says where the app's import is when the worker's start deadline comes.

An import that never finishes (a loop, a connection made at import without a timeout, a lock
never released) was killed at the gateway's deadline with nothing in the app log: the refusal
sent the user to a log that did not say where it hung. A moment before the deadline, faulthandler
writes every thread's stack to stderr (its `Timeout (0:00:59.500)!` report), and the gateway's
refusal follows it in the app log. faulthandler's own watchdog thread does it, so no Python
thread runs beside the import (gevent's patch_all() at import breaks on one), and an import
stuck in C code that holds the GIL is reported too.
"""

import faulthandler
import sys
import time

from .ready_deadline import ready_deadline

# Before the gateway's kill: time for the report to reach it (as asgi_worker's READY_MARGIN_SECONDS).
MARGIN_SECONDS = 0.5


def watch_import(config):
    """Arms the report; returns what disarms it once the import is done (None: nothing armed,
    the gateway gave no deadline)."""
    deadline = ready_deadline(config)
    if deadline is None:
        return None
    at, bound = deadline
    within = at - time.monotonic() - min(MARGIN_SECONDS, bound / 5)
    try:
        faulthandler.dump_traceback_later(max(within, 0.001), exit=False, file=sys.stderr)
    except (ValueError, RuntimeError, AttributeError, OSError):
        return None  # no usable stderr: the refusal alone says it
    return faulthandler.cancel_dump_traceback_later
