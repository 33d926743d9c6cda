"""What a process the app forks from a worker keeps of the worker: none of its link, none of
its stop.

os.fork() (multiprocessing's and concurrent.futures' default start method on Linux, or the
app's own) copies the worker whole. The copy held the link's two sockets: non-inheritable
stops exec, not fork. A child that returned from the app's view instead of calling os._exit()
went on as a second worker on the same link: it answered requests meant for its parent and
read frames (a NO_MORE, half a frame) the parent then never saw. And it kept the worker's
SIGTERM handler, which only sets a flag for a main loop the child does not run:
`Process.terminate()` did nothing, and the worker's exit (multiprocessing joins its children
at exit) waited the whole grace for it. Forked from an ASGI worker, it also shared the loop's
signal wakeup fd: its SIGTERM was read by the parent's loop, and stopped the worker.

After a fork, in the child: the link's sockets are closed, the worker's writing and reading
end the process (with a line saying why) instead of touching the link, SIGTERM and SIGINT
are what they were before the worker took them (the app's own handler, or the default), and
the wakeup fd is unset.
"""

import os
import signal

_socks = []
_cut = []  # (object, method name): in a child, calling it ends the process
_signals = {}  # signum -> the handler before the worker's
_wakeup = [False]  # whether the worker set signal.set_wakeup_fd (asyncio's add_signal_handler)
_registered = [False]


def guard_link(socks):
    """Closes `socks` in every child forked from here on."""
    _socks.extend(socks)
    if not _registered[0] and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _registered[0] = True


def cut_in_child(obj, *names):
    """In a forked child, each of `obj`'s methods `names` ends the process."""
    for name in names:
        _cut.append((obj, name))


def stop_signals_from(handlers, wakeup=False):
    """Records the handlers SIGTERM and SIGINT had before the worker installed its own
    ({signum: handler}), for a forked child to get back; `wakeup`: the worker's loop set the
    wakeup fd, which a child shares with it (its signals would stop the parent)."""
    for signum, handler in handlers.items():
        _signals.setdefault(signum, handler if handler is not None else signal.SIG_DFL)
    if wakeup:
        _wakeup[0] = True


def _after_fork_in_child():
    for obj, name in _cut:
        setattr(obj, name, _returned_into_worker)
    for sock in _socks:
        try:
            sock.close()
        except OSError:
            pass
    if _wakeup[0]:
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError):
            pass
    for signum, handler in _signals.items():
        try:
            signal.signal(signum, handler)
        except (ValueError, OSError, TypeError):
            pass


def _returned_into_worker(*args, **kwargs):
    try:
        # os.write, not sys.stderr: a thread of the parent may have held its lock at the fork.
        os.write(2, (
            "apppkg-shim[%d]: this process, forked by the app from worker %d, returned into the worker's code"
            " (the view that forked it went on in the child too): it exits here, nothing of it reached the"
            " gateway; end a forked child with os._exit()\n" % (os.getpid(), os.getppid())).encode())
    finally:
        os._exit(0)
