"""The ASGI lifespan protocol: startup before READY, shutdown after the last request.

Startup that fails (lifespan.startup.failed, or the app raising once it has received
lifespan.startup) is the app failing to load: the message or traceback on stderr, then one
marker line, then exit 4, so that the gateway refuses the version instead of restarting it
in a loop (docs/protocol.md §1, §8). An app that raises *before* receiving anything does not
speak lifespan (Django: "can only handle ASGI/HTTP connections") and runs without it.

Startup that does not complete in time (a database connect without a timeout) fails the same
way, its message saying so and the stack where it waits written first: the gateway would
otherwise kill a worker that only "was not ready", with nothing in the app log. A startup
that holds the loop itself (time.sleep() in the handler) leaves no turn for that timeout: a
watchdog thread reports it instead, from the main thread's stack (BlockedStartupWatch).
"""

import asyncio
import os
import sys
import threading
import time
import traceback

from .errors import EXIT_APP_LOAD_FAILED, is_stdlib, app_traceback, emit_marker, log
from .fork_quiet import forget, quiet_during_forks

LIFESPAN_FAILED_MARKER = "APPPKG-LIFESPAN-FAILED"

_STARTUP = {"type": "lifespan.startup"}
_SHUTDOWN = {"type": "lifespan.shutdown"}


class Lifespan:
    supported = True
    received = 0  # messages the app has received
    failure = None  # (message, traceback text or None) when startup failed
    timed_out = False  # startup did not complete in the time it was given
    reported = False  # the app sent lifespan.startup.failed or lifespan.shutdown.failed
    shutdown_cancelled = False  # its shutdown outlasted the stop's bound: the CancelledError is ours

    def __init__(self, app, app_spec, loop):
        self.app = app
        self.app_spec = app_spec
        self.loop = loop
        # Copied (shallowly) into every request's scope.
        self.state = {}
        self.task = None
        self._started = loop.create_future()
        self._shutdown_asked = loop.create_future()
        self._stopped = loop.create_future()

    async def startup(self, within=None, bound=None):
        """True once the app is ready (or runs without lifespan); False when startup failed, or
        did not complete within `within` seconds, reported on stderr with the marker line.
        `bound` names the limit in the message (default: "N s")."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self.task = self.loop.create_task(self._run(scope))
        watch = None if within is None else BlockedStartupWatch(self.app_spec, within, bound)
        details = {}
        try:
            await asyncio.wait_for(asyncio.shield(self._started), within)
        except asyncio.TimeoutError:
            if watch is not None and not watch.stop():
                watch.wait_for_exit()
            # Where it waits, in the traceback's place: the app log, and the refusal, show it.
            where = awaiting_frames(self.task)
            stack = "".join(traceback.format_list(where)) or "  (no frame: the startup has not run yet)\n"
            self.failure = (_not_complete(within, bound, where), "%s: lifespan startup did not complete within %s; it waits at:\n%s" % (
                self.app_spec, bound or _seconds(within), stack))
            self.timed_out = details["hung"] = True
        else:
            if watch is not None and not watch.stop():
                watch.wait_for_exit()
        if self.failure is None:
            return True
        message, text = self.failure
        # A traceback travels in the marker alone: Node writes it into the app log in the marker's
        # place, and serve's terminal shows it once for all the workers that failed alike.
        if not text:
            log("%s: lifespan startup failed: %s" % (self.app_spec, message or "lifespan.startup.failed, with no message"))
        details.update({"app": self.app_spec, "message": message, "traceback": text})
        emit_marker(LIFESPAN_FAILED_MARKER, details)
        return False

    async def shutdown(self, within=None):
        """lifespan.shutdown, and its answer (or the app's lifespan coroutine ending); False
        when that did not come within `within` seconds."""
        if not self.supported or self._stopped.done():
            return True
        _settle(self._shutdown_asked)
        try:
            await asyncio.wait_for(asyncio.shield(self._stopped), within)
        except asyncio.TimeoutError:
            return False
        return True

    def cancel_shutdown(self, when):
        """A shutdown still running `when` the stop's bound is over (a pool's close or a queue's
        join that waits for ever): cancelled, so that its `finally` runs and the worker exits by
        itself, where the gateway's SIGKILL 5 s later ran none of it and left the app log at
        "shutdown begins". One line says where it waited. Nothing while it has not begun."""
        task = self.task
        if task is None or task.done() or not self._shutdown_asked.done() or self.shutdown_cancelled:
            return
        where = awaiting_frames(task)
        log("%s: lifespan shutdown had not completed %s; cancelled%s (give what it waits for a timeout of its own)" % (
            self.app_spec, when, ", at " + app_line(where) if where else ""))
        self.shutdown_cancelled = True
        task.cancel()

    async def _run(self, scope):
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if self.shutdown_cancelled and isinstance(exc, asyncio.CancelledError):
                _settle(self._stopped)  # said by cancel_shutdown: no app failure
                return
            # From the app's first frame: this coroutine's own frame says nothing about the app.
            text = app_traceback(exc)
            if not self.received:
                self.supported = False
            elif not self._started.done():
                self.failure = ("%s: %s" % (type(exc).__name__, exc), text)
            elif not self.reported:
                # Starlette sends the failure with its traceback as the message, then raises the
                # same exception: logged once, as uvicorn does, not twice per worker.
                log("%s: the lifespan coroutine failed%s:\n%s" % (
                    self.app_spec, " at shutdown" if self._shutdown_asked.done() else "", text.rstrip()))
        # Returning without answering counts as done, as uvicorn has it.
        _settle(self._started)
        _settle(self._stopped)

    async def _receive(self):
        self.received += 1
        if self.received == 1:
            return _STARTUP
        await self._shutdown_asked
        return _SHUTDOWN

    async def _send(self, message):
        mtype = message["type"]
        if mtype == "lifespan.startup.complete":
            _settle(self._started)
        elif mtype == "lifespan.startup.failed":
            self.reported = True
            if not self._started.done():
                # An empty message is said as none: the gateway must not quote the event's name as the app's words.
                self.failure = (str(message.get("message") or ""), None)
            _settle(self._started)
        elif mtype == "lifespan.shutdown.complete":
            _settle(self._stopped)
        elif mtype == "lifespan.shutdown.failed":
            self.reported = True
            log("%s: lifespan shutdown failed: %s" % (self.app_spec, message.get("message") or ""))
            _settle(self._stopped)
        else:
            raise RuntimeError("unexpected ASGI message %r in the lifespan protocol" % (mtype,))


def ignored_lifespan(app):
    """[class, version] when the app was given `lifespan=` and kept it as an unknown keyword,
    else None. FastAPI before 0.93 (Debian bookworm's 0.92) takes any keyword into `app.extra`,
    and its router runs only on_startup/on_shutdown: a lifespan startup "completes" without the
    function it names having run, which check would otherwise report as a lifespan that ran."""
    extra = getattr(app, "extra", None)
    if not isinstance(extra, dict) or "lifespan" not in extra:
        return None
    top = type(app).__module__.split(".")[0]
    return [type(app).__name__, str(getattr(sys.modules.get(top), "__version__", "") or "")]


def run_for_check(app, app_spec, loop, within):
    """`check`'s lifespan: startup, then shutdown, in the foreground, each bounded by `within`
    seconds. "supported" or "unsupported" (an app that does not speak lifespan passes, as it
    runs); None when startup failed or did not complete, reported as a worker reports it."""
    lifespan = Lifespan(app, app_spec, loop)
    if not loop.run_until_complete(lifespan.startup(within, "%g s (check's bound)" % within)):
        return None
    if not loop.run_until_complete(lifespan.shutdown(within)):
        log("%s: lifespan shutdown did not complete within %g s" % (app_spec, within))
    return "supported" if lifespan.supported else "unsupported"


class BlockedStartupWatch:
    """Reports a lifespan startup that holds the event loop past its bound (sync code in an
    `async def`: time.sleep, a blocking connect), where the loop's own timeout never gets a
    turn: from a thread, the main thread's stack, the marker with "hung" and "blocked", exit 4
    at once. Without it the gateway killed the worker at its deadline, saying only that it
    exited before it was ready. It fires a moment after the loop's timeout would (GRACE), so a
    loop that is merely slow reports itself; whichever reports first holds the claim."""

    GRACE_SECONDS = 0.25
    # How long a fork waits for the watch's thread to end (fork_quiet.py).
    PAUSE_SECONDS = 1.0

    def __init__(self, app_spec, within, bound):
        self.app_spec = app_spec
        self.within = within
        self.bound = bound
        self.main_id = threading.get_ident()  # the loop's thread: startup() runs on it
        self.claim = threading.Lock()
        self.done = threading.Event()
        # At least a moment: with no time left the loop's timeout fires at once, unblocked.
        self.fires_at = time.monotonic() + within + min(self.GRACE_SECONDS, max(within / 10, 0.05))
        self._start()
        # A startup that forks (a multiprocessing helper) does it with no thread of ours running.
        quiet_during_forks(self, self._pause, self._start)

    def stop(self):
        """The loop has its answer: True when the watch will report nothing, False when it is
        reporting already (the process is about to exit)."""
        forget(self)
        self.done.set()
        self.wake.set()
        return self.claim.acquire(blocking=False)

    def _start(self):
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._watch, args=(self.wake,), name="apppkg-lifespan-watch", daemon=True)
        self.thread.start()

    def _pause(self):
        self.wake.set()
        self.thread.join(self.PAUSE_SECONDS)

    def wait_for_exit(self):
        # The watch writes its report and exits the process: nothing more may be said here.
        threading.Event().wait()

    def _watch(self, wake):
        # Woken: the startup has its answer, or a fork pauses the watch (another thread follows).
        if wake.wait(max(self.fires_at - time.monotonic(), 0)) or self.done.is_set():
            return
        if not self.claim.acquire(blocking=False):
            return
        frame = sys._current_frames().get(self.main_id)
        where = _app_frames(traceback.extract_stack(frame)) if frame is not None else []
        stack = "".join(traceback.format_list(where)) or "  (no frame of the app's)\n"
        bound = self.bound or _seconds(self.within)
        message = _not_complete(self.within, self.bound, where, "it holds the event loop at")
        text = "%s: lifespan startup did not complete within %s; it holds the event loop (sync code in an async function) at:\n%s" % (
            self.app_spec, bound, stack)
        try:
            emit_marker(LIFESPAN_FAILED_MARKER, {"hung": True, "blocked": True, "app": self.app_spec, "message": message, "traceback": text})
            sys.stdout.flush()
        finally:
            os._exit(EXIT_APP_LOAD_FAILED)  # the main thread is the app's: nothing else can end it


def _app_frames(stack):
    """The loop thread's stack from the app's outermost frame in: what calls Lifespan._run (the
    shim, asyncio's loop) says nothing about the app."""
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].filename == __file__ and stack[i].name == "_run":
            return stack[i + 1:]
    return stack


def awaiting_frames(task):
    """Where a task waits, outermost first, as traceback.extract_stack gives it. Task.get_stack()
    gives a suspended coroutine's outermost frame only: this follows what each one awaits."""
    frames = []
    coro = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.extend(traceback.extract_stack(frame, limit=1))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    # The shim's own coroutine (Lifespan._run) says nothing about the app.
    return [f for f in frames if f.filename != __file__]


def _not_complete(within, bound, where, at="it waits at"):
    text = "it did not complete within %s" % (bound or _seconds(within))
    if where:
        text += "; %s %s" % (at, app_line(where))
    return text


def app_line(where):
    """FILE:LINE in FUNC (source) of the app's own innermost frame among `where` (as
    awaiting_frames gives them): the app's line (`await connect(...)`), not asyncio's or a
    library's frame below it."""
    outside = [f for f in where if not is_stdlib(os.path.abspath(f.filename))]
    own = [f for f in outside if not _is_library(f.filename)]
    frame = (own or outside or where)[-1]
    text = "%s:%d in %s" % (frame.filename, frame.lineno, frame.name)
    if frame.line:
        text += " (%s)" % frame.line.strip()
    return text


def _is_library(filename):
    return os.sep + "site-packages" + os.sep in filename or os.sep + "dist-packages" + os.sep in filename


def _seconds(within):
    return "%g s" % round(within, 1)


def _settle(fut):
    if not fut.done():
        fut.set_result(None)
