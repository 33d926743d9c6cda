"""Says where the app's import is when the worker's start deadline comes.

An import that never finishes (a loop, a connection made at import without a timeout, a lock
never released) was killed at the gateway's deadline with nothing in the app log: the refusal
sent the user to a log that did not say where it hung. A moment before the deadline, faulthandler
writes every thread's stack to stderr (its `Timeout (0:00:59.500)!` report), and the gateway's
refusal follows it in the app log. faulthandler's own watchdog thread does it, so no Python
thread runs beside the import (gevent's patch_all() at import breaks on one), and an import
stuck in C code that holds the GIL is reported too.

A fork during the import (multiprocessing's Process.start() at import, the app's own
os.fork()) happens without that thread: it is stopped before and started again after, in the
parent only. With it, Python 3.12 and later warned the app that "This process is
multi-threaded, use of fork() may lead to deadlocks in the child", a thread of ours and no
deadlock of its; and a child that went on with the import stopped at its end for ever,
waiting, to disarm the report, for a watchdog thread the fork had not copied.
"""

import faulthandler
import os
import sys
import time

from .ready_deadline import ready_deadline

# Before the gateway's kill: time for the report to reach it (as asgi_worker's READY_MARGIN_SECONDS).
MARGIN_SECONDS = 0.5
# How long a fork waits for the stopped watchdog thread to be gone from the process.
THREAD_GONE_SECONDS = 0.1

# The monotonic time the report is due at while it is armed, else None.
_due = [None]
_fork_hooks = [False]


def watch_import(config):
    """Arms the report; returns what disarms it once the import is done (None: nothing armed,
    the gateway gave no deadline)."""
    deadline = ready_deadline(config)
    if deadline is None:
        return None
    at, bound = deadline
    if not _arm(at - min(MARGIN_SECONDS, bound / 5)):
        return None  # no usable stderr: the refusal alone says it
    if not _fork_hooks[0] and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
        _fork_hooks[0] = True
    return _disarm


def _arm(due):
    try:
        faulthandler.dump_traceback_later(max(due - time.monotonic(), 0.001), exit=False, file=sys.stderr)
    except (ValueError, RuntimeError, AttributeError, OSError):
        return False
    _due[0] = due
    return True


def _disarm():
    _due[0] = None
    faulthandler.cancel_dump_traceback_later()


def _before_fork():
    if _due[0] is None:
        return
    threads = _thread_count()
    faulthandler.cancel_dump_traceback_later()
    # The cancel returns once the watchdog has let go of its lock, a moment before its thread
    # ends; the fork's warning counts the process's threads (/proc/self/stat) right after.
    if threads is not None:
        until = time.monotonic() + THREAD_GONE_SECONDS
        while (_thread_count() or 0) >= threads and time.monotonic() < until:
            time.sleep(0.0005)


def _after_fork_in_parent():
    if _due[0] is None:
        return
    # Armed again at the first event of the forking thread past os.fork()'s return: not here,
    # as Python 3.13 counts the threads for its warning after the hooks have run (this one, and
    # those after it: the events of their calls come while the forking frame still stands at
    # its call of fork).
    forking = sys._getframe(1)
    at_fork = forking.f_lasti
    previous = sys.getprofile()

    def rearm(frame, event, arg):
        if forking.f_lasti == at_fork:
            return
        sys.setprofile(previous)
        if _due[0] is not None:
            _arm(_due[0])
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(rearm)


def _after_fork_in_child():
    # Not armed again: a multiprocessing child runs its target for as long as it takes, and
    # would be reported as an import past its deadline.
    _due[0] = None


def _thread_count():
    """The process's threads as the kernel counts them (Linux), else None."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        return None
