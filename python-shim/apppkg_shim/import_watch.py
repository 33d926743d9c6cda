"""Says where the app's import is when the worker's start deadline comes.

An import that never finishes (a loop, a connection made at import without a timeout, a lock
never released) was killed at the gateway's deadline with nothing in the app log: the refusal
sent the user to a log that did not say where it hung. A moment before the deadline, faulthandler
writes every thread's stack to stderr (its `Timeout (0:00:59.500)!` report), and the gateway's
refusal follows it in the app log. faulthandler's own watchdog thread does it, so no Python
thread runs beside the import (gevent's patch_all() at import breaks on one), and an import
stuck in C code that holds the GIL is reported too.

A fork during the import goes without that thread (fork_quiet.py). With it, a child that went
on with the import also stopped at its end for ever, waiting, to disarm the report, for a
watchdog thread the fork had not copied.
"""

import faulthandler
import sys
import time

from .fork_quiet import forget, quiet_during_forks
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
    due = at - min(MARGIN_SECONDS, bound / 5)
    if not _arm(due):
        return None  # no usable stderr: the refusal alone says it
    quiet_during_forks(watch_import, faulthandler.cancel_dump_traceback_later, lambda: _arm(due))
    return _disarm


def _arm(due):
    try:
        faulthandler.dump_traceback_later(max(due - time.monotonic(), 0.001), exit=False, file=sys.stderr)
    except (ValueError, RuntimeError, AttributeError, OSError):
        return False
    return True


def _disarm():
    forget(watch_import)
    faulthandler.cancel_dump_traceback_later()
