"""The worker's own watchdog threads, out of the way of a fork the app makes while they run.

Two watch a worker's start from a thread of their own: faulthandler's, for an import past its
deadline (import_watch.py), and BlockedStartupWatch's, for a lifespan startup that holds the
loop (asgi_lifespan.py). An app that forks then (multiprocessing's Process.start() at import or
in its lifespan startup) got, on Python 3.12 and later, "DeprecationWarning: This process is
multi-threaded, use of fork() may lead to deadlocks in the child": a thread of ours, no
deadlock of its. So each watch registered here is stopped before a fork, its thread gone from
the process, and started again once os.fork() has returned, in the parent only: the child has
no copy of the thread, and a multiprocessing child runs its target for as long as it takes.
"""

import os
import sys
import time

# How long a fork waits for a stopped watch's thread to be gone from the process.
THREAD_GONE_SECONDS = 0.1

_watches = []  # (owner, stop, start) of each watch running now
_hooked = [False]


def quiet_during_forks(owner, stop, start):
    """Until forget(owner): `stop()` before each fork (it returns once its thread is ending),
    `start()` again in the parent after it."""
    _watches.append((owner, stop, start))
    if not _hooked[0] and hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child)
        _hooked[0] = True


def forget(owner):
    _watches[:] = [watch for watch in _watches if watch[0] is not owner]


def _before_fork():
    if not _watches:
        return
    threads = _thread_count()
    for _, stop, _ in _watches:
        stop()
    # A stopped thread lets go of what its stop waits for a moment before it ends; the fork's
    # warning counts the process's threads (/proc/self/stat) right after.
    if threads is not None:
        until = time.monotonic() + THREAD_GONE_SECONDS
        while (_thread_count() or 0) > threads - len(_watches) and time.monotonic() < until:
            time.sleep(0.0005)


def _after_fork_in_parent():
    if not _watches:
        return
    # Started again at the forking thread's first event past os.fork()'s return: not here, as
    # Python 3.13 counts the threads for its warning after the hooks have run (this one, and
    # those after it: the events of their calls come while the forking frame still stands at
    # its call of fork).
    watches = list(_watches)
    try:
        forking = sys._getframe(1)
    except ValueError:  # forked from C code, no frame of Python's: nothing to wait for
        for _, _, start in watches:
            start()
        return
    at_fork = forking.f_lasti
    previous = sys.getprofile()

    def restart(frame, event, arg):
        if forking.f_lasti == at_fork:
            return
        sys.setprofile(previous)
        for owner, _, start in watches:
            if any(owner is still for still, _, _ in _watches):  # not forgotten meanwhile
                start()
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(restart)


def _after_fork_in_child():
    del _watches[:]


def _thread_count():
    """The process's threads as the kernel counts them (Linux), else None."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        return None
