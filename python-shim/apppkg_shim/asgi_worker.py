"""The ASGI worker: one asyncio loop on the main thread runs every request as a task.

Frames from the link are dispatched as they arrive: a REQUEST (or WS_CONNECT) becomes a task
at once (nothing waits unstarted, so RECLAIM is ignored), body pieces, credits and closes go
to their exchange, PING is answered by the loop itself. The app's sync code runs in the
loop's default executor (`threads` wide), never holding the loop.

Life: lifespan startup, READY, requests; SIGTERM (or SIGINT) -> STOPPING; the gateway
answers NO_MORE once it has routed its last request here; when every app task has finished,
lifespan shutdown, exit 0. When the drain is over first the gateway sends CANCEL: every app
task still running is cancelled, then the same lifespan shutdown (itself cancelled if it runs
at CANCEL, or SHUTDOWN_AFTER_CANCEL_SECONDS after it) and exit. When the gateway dies the link closes (or our parent changes) and
the process exits at once, as the WSGI worker does (docs/protocol.md §5, §8).
"""

import asyncio
import os
import signal
import sys
import time
import traceback

from . import forked, link, link_taken
from .app_signal import run_app_handler
from .asgi_http import HttpExchange
from .asgi_lifespan import Lifespan, awaiting_frames, ignored_lifespan
from .asgi_scope import reads_full_path
from .asgi_link import LinkProtocol
from .asgi_stats import CountingLinkProtocol, new_stats, say_stats
from .asgi_websocket import WebSocketExchange
from .errors import EXIT_APP_LOAD_FAILED, EXIT_STARTUP_FAILED, exit_now, is_shim_file, log
from .ready_deadline import ready_deadline

HEADER_PACK = link.HEADER.pack
U32 = link.U32
_PONG = HEADER_PACK(link.PONG, 0, 0)
CLOSE_TASKS_SECONDS = 1.0
# What a lifespan shutdown that begins after CANCEL has before it is cancelled: within the 5 s
# Node gives the worker after it (worker.ts CANCEL_BOUND_MS), with room for its `finally`.
SHUTDOWN_AFTER_CANCEL_SECONDS = 3.0
READY_MARGIN_SECONDS = 1.0


class AsgiWorker:
    def __init__(self, incoming, outgoing, app, config, loop, loop_name, executor, parent_check_seconds):
        self.incoming = incoming
        self.outgoing = outgoing
        self.app = app
        self.app_spec = config["app"]
        self.name = config.get("name") or self.app_spec
        self.threads = max(1, int(config.get("threads") or 1))
        self.config = config
        self.loop = loop
        self.loop_name = loop_name
        self.executor = executor
        self.link = None
        # fd 3's and fd 4's transports, closed by _close_loop: left to the garbage collector,
        # each stop wrote "ResourceWarning: unclosed transport" into the app log of anyone
        # running with -W default, -X dev or PYTHONWARNINGS.
        self.transports = []
        self.lifespan = Lifespan(app, self.app_spec, loop)
        self.full_path = reads_full_path(app)  # the app is imported: its framework is known
        self.websocket_full_path = reads_full_path(app, "websocket")
        self.exchanges = {}  # id -> exchange, until its terminal frame
        self.tasks = set()  # app tasks; one may outlive its exchange (work after the response)
        self.abandoned = set()  # tasks cancelled for their 504 that ignored it: a stop does not wait for them
        self.held_heads = []  # exchanges whose response start waits for its first body
        self.stop_requested = False
        self.stop_signum = None  # the signal that asked for the stop
        self.no_more = False
        self.cancelled = False  # CANCEL came: a task's CancelledError is the drain's end, no app error
        self.finished = loop.create_future()
        self.exiting = False  # our own close of the link is no gateway going away
        self.ppid = os.getppid()
        # None: the kernel ends us with the gateway, and an idle loop has no timer to wake it.
        self.parent_check_seconds = parent_check_seconds
        # Counters for tuning (config.stats, APPPKG_SHIM_STATS=1 given to the gateway), kept by
        # the link's protocol only when asked (asgi_stats.py), printed when the worker stops.
        self.stats = new_stats() if config.get("stats") else None

    def serve(self):
        loop = self.loop
        try:
            return loop.run_until_complete(self._serve())
        except Exception:
            why = link_taken.taken()
            if why is not None:
                # Closing every descriptor took the loop's own (its epoll, its self-pipe) too:
                # the loop cannot even be closed, so no traceback of ours, and no close.
                log(why)
                exit_now(EXIT_STARTUP_FAILED)
            log("internal error in the shim, exiting:\n" + traceback.format_exc())
            return EXIT_STARTUP_FAILED
        finally:
            self.exiting = True
            _close_loop(loop, self.executor, self.transports)

    async def _serve(self):
        loop = self.loop
        stats = self.stats
        incoming, self.link = await loop.connect_accepted_socket(
            (lambda: LinkProtocol(loop, self._dispatch, self._link_closed)) if stats is None
            else (lambda: CountingLinkProtocol(loop, self._dispatch, self._link_closed, stats)), sock=self.incoming)
        self.transports.append(incoming)
        outgoing, _ = await loop.connect_accepted_socket(self.link.outgoing, sock=self.outgoing)
        self.transports.append(outgoing)
        self.link.before_flush = self._release_heads
        if self.parent_check_seconds is not None:
            loop.call_later(self.parent_check_seconds, self._check_parent)
        _size_anyio_threads(self.threads)
        # Sent at once, not batched: a startup that holds the loop (time.sleep) gives no later turn.
        self.link.write(link.LIFESPAN_STARTUP_FRAME)
        self.link.flush()
        if not await self._start_lifespan():
            if self.lifespan.timed_out:
                # What it waits for may be a thread (run_in_executor) that Python would join at exit.
                exit_now(EXIT_APP_LOAD_FAILED)
            return EXIT_APP_LOAD_FAILED
        # A child the app forks shares the loop's wakeup fd: its signals would stop this worker.
        app_handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        forked.stop_signals_from(app_handlers, wakeup=True)
        forked.cut_in_child(self.link, "write", "write_parts", "flush")
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_stop_signal, signum)
        lifespan = "supported" if self.lifespan.supported else "unsupported"
        self._say_ignored_lifespan()
        self.link.write(link.ready_frame(self.threads, self.app_spec, loop=self.loop_name, lifespan=lifespan))
        await self.finished
        # Said before the lifespan shutdown, which may hang until the gateway's SIGKILL: every
        # request has ended by now, so the counters are whole.
        if self.stats is not None:
            say_stats(self.stats)
        if self.cancelled:
            if not await self.lifespan.shutdown(SHUTDOWN_AFTER_CANCEL_SECONDS):
                self.lifespan.cancel_shutdown("%g s after the drain was over" % SHUTDOWN_AFTER_CANCEL_SECONDS)
                await self.lifespan.shutdown(CLOSE_TASKS_SECONDS)
        else:
            await self.lifespan.shutdown()
        await self.link.flushed()
        # As uvicorn (0.29 on) gives a captured signal back to the handler from before it.
        run_app_handler(app_handlers.get(self.stop_signum), self.stop_signum)
        return 0

    def _say_ignored_lifespan(self):
        """In the app log, at each start: an app that kept its `lifespan=` as an unknown keyword
        (FastAPI before 0.93) started without the function ever running, and what it opens is
        missing at the first request; under --apps nothing else would say why. Said by the first
        worker of a start alone (config firstOfStart): `workers: 4` wrote it four times."""
        if not self.config.get("firstOfStart", True):
            return
        ignored = ignored_lifespan(self.app)
        if ignored is not None:
            named = ("%s %s" % tuple(ignored)).strip()
            log("%s: WARNING: %s takes no lifespan= (FastAPI reads it from 0.93): the function given as lifespan= "
                "did not run at this startup; give its startup and shutdown as on_startup=[...] and on_shutdown=[...], "
                "or use FastAPI 0.93 or later" % (self.app_spec, named))

    async def _start_lifespan(self):
        """The lifespan startup, given what is left of the gateway's ready deadline, less a
        moment for the gateway to read why it gave up before it kills the worker."""
        deadline = ready_deadline(self.config)
        if deadline is None:
            return await self.lifespan.startup()
        at, ready = deadline
        within = at - time.monotonic() - min(READY_MARGIN_SECONDS, ready / 5)
        return await self.lifespan.startup(max(0.0, within), "the %g s a worker has to be ready" % ready)

    # -- frames -------------------------------------------------------------------------------

    def _dispatch(self, frames):
        try:
            exchanges = self.exchanges
            started = False
            for ftype, rid, payload in frames:
                if ftype == link.REQUEST:
                    self._start(HttpExchange, rid, payload)
                    started = True
                elif ftype == link.REQUEST_FULL:
                    # A request with its whole body: what REQUEST, REQUEST_BODY and REQUEST_END do.
                    exchange = self._start(HttpExchange, rid, payload[0])
                    if exchange is not None:
                        exchange.on_whole_body(payload[1])
                    started = True
                elif ftype == link.REQUEST_BODY:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_body(payload)
                elif ftype == link.RESPONSE_CREDIT:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_credit(U32.unpack(payload)[0])
                elif ftype == link.REQUEST_END:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_body_end()
                elif ftype == link.WS_MESSAGE:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_message(payload)
                elif ftype == link.WHERE:
                    where = _where_is(exchanges.get(rid)).encode("utf-8", "replace")
                    self.link.write(HEADER_PACK(link.STACK, rid, len(where)) + where)
                elif ftype == link.ABORT:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        if payload == link.ABORT_TIMED_OUT:
                            exchange.on_timed_out(504)
                        elif payload == link.ABORT_CLIENT_TIMED_OUT:
                            exchange.on_timed_out(408)
                        else:
                            exchange.on_abort()
                elif ftype == link.CLIENT_END:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_client_end()
                elif ftype == link.WS_CONNECT:
                    self._start(WebSocketExchange, rid, payload)
                elif ftype == link.WS_CLOSE:
                    exchange = exchanges.get(rid)
                    if exchange is not None:
                        exchange.on_close(payload)
                elif ftype == link.PING:
                    self.link.write(_PONG)
                elif ftype == link.NO_MORE:
                    self.no_more = True
                    self._check_finished()
                elif ftype == link.CANCEL:
                    self._cancel_all()
                elif ftype == link.RECLAIM:
                    pass  # every request runs as it arrives: none waits here to be given back
                else:
                    log("protocol error: unknown frame type %d; ignored" % ftype)
            if started:
                # The batch's flush queued behind the new tasks' first steps: what they answer
                # at once leaves on that same turn of the loop, not on one more turn after it.
                self.link.schedule_flush()
        except BaseException:
            # Frames were lost: nothing the gateway could be told would be true any more.
            log("internal error in the shim, exiting:\n" + traceback.format_exc())
            exit_now(EXIT_STARTUP_FAILED)

    def _start(self, kind, rid, payload):
        if rid in self.exchanges:
            log("protocol error: request id %d is already in use; ignored" % rid)
            return None
        exchange = kind(self, rid, payload)
        self.exchanges[rid] = exchange
        # The exchange's own run() is the task's coroutine, no wrapper around it: it calls
        # task_ended from its `finally`.
        exchange.task = task = self.loop.create_task(exchange.run())
        self.tasks.add(task)
        return exchange

    def task_ended(self, task):
        # Not a done callback: that would cost every request one more turn through the loop.
        self.tasks.discard(task)
        if self.abandoned:
            self.abandoned.discard(task)
        if self.stop_requested:
            self._check_finished()

    def abandon(self, task):
        """A task that swallowed its 504's cancel (asgi_response.py): left to run, as uvicorn
        leaves it, but no request any more, so a stop does not wait for it (_close_loop cancels
        it once more, for a bounded time)."""
        if task in self.tasks:
            self.tasks.discard(task)
            self.abandoned.add(task)
            if self.stop_requested:
                self._check_finished()

    def _release_heads(self):
        held = self.held_heads
        if held:
            self.held_heads = []
            for exchange in held:
                if exchange.head is not None:  # most heads have left with their body
                    exchange.release_head()

    # -- stopping -----------------------------------------------------------------------------

    def _on_stop_signal(self, signum):
        if self.stop_requested:
            return
        self.stop_requested = True
        self.stop_signum = signum
        self.link.write(HEADER_PACK(link.STOPPING, 0, 0))
        self._check_finished()

    def _cancel_all(self):
        # The drain is over: what still runs (a request the gateway has just cut, work after a
        # response) gets CancelledError, so its `finally` runs; then lifespan shutdown, as on a
        # stop with nothing left. The gateway sends this after NO_MORE; it implies both.
        self.stop_requested = self.no_more = self.cancelled = True
        tasks = [task for task in self.tasks if not task.done()]
        if tasks:
            log("%s (%s): the drain is over; cancelling %d task%s still running" % (
                self.app_spec, self.name, len(tasks), "" if len(tasks) == 1 else "s"))
        for task in tasks:
            task.cancel()
            task.add_done_callback(self._cancelled_unstarted)
        self.lifespan.cancel_shutdown("when the drain was over")
        self._check_finished()

    def _cancelled_unstarted(self, task):
        # A task cancelled before its first step (its REQUEST and the CANCEL in one read) never
        # ran run(), nor the `finally` that ends it: the worker waited on it until its SIGKILL.
        if task not in self.tasks:
            return
        for exchange in list(self.exchanges.values()):
            if exchange.task is task and not exchange.ended:
                exchange.end(link.RESPONSE_END)
        self.task_ended(task)

    def _check_finished(self):
        if self.stop_requested and self.no_more and not self.tasks and not self.exchanges and not self.finished.done():
            self.finished.set_result(None)

    def _check_parent(self):
        if os.getppid() != self.ppid:
            self._link_closed()
        self.loop.call_later(self.parent_check_seconds, self._check_parent)

    def _link_closed(self):
        # The gateway is gone (or our parent changed): nobody can take a response any more.
        # Unless the app closed the link itself: then the gateway is there to be told.
        if not self.exiting:
            why = link_taken.taken()
            if why is not None:
                log(why)
            exit_now(0 if why is None else EXIT_STARTUP_FAILED)


def _size_anyio_threads(threads):
    """Starlette and FastAPI run a plain `def` handler (and a sync dependency, a
    BackgroundTask) on anyio's own threads, not the loop's executor: 40 at once by default,
    whatever `threads` says. Its limiter belongs to the running loop, so it is sized here, for
    an app that imported anyio (its framework did)."""
    if "anyio" not in sys.modules:
        return
    try:
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    except Exception as exc:  # an anyio too old or too new for this: its own default stands
        log("threads: anyio's thread limiter left at its default (%s: %s)" % (type(exc).__name__, exc))


def _where_is(exchange):
    """STACK's answer to WHERE: the app's coroutine stack for the request, innermost last. (A
    loop held by sync code in an `async def` reads no frame at all: the 504 then has none.)"""
    task = getattr(exchange, "task", None)
    if task is None or task.done():
        return "the request has already finished"
    frames = awaiting_frames(task)
    # From the app's own frame on, as the WSGI worker's answer (task.where_is): the shim's
    # coroutine that awaits the app says nothing to its author.
    while frames and is_shim_file(frames[0].filename):
        frames.pop(0)
    return link.WHERE_HEADING + "".join(traceback.format_list(frames))


def _close_loop(loop, executor, transports):
    """As asyncio.run ends: the app's own leftover tasks cancelled, the link's transports
    closed, async generators closed, the executor told to stop. A task that ignores the cancel
    (an abandoned one) is waited for CLOSE_TASKS_SECONDS, not for ever as asyncio.run would.
    (Python still joins its threads at exit: one stuck in the app holds the exit until the
    gateway's grace runs out and SIGKILL ends it; exit_watch names it in the app log.)"""
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=CLOSE_TASKS_SECONDS))
            if pending:
                log("%d task%s ignored the cancel; exiting without %s" % (
                    len(pending), "" if len(pending) == 1 else "s", "it" if len(pending) == 1 else "them"))
        # Each close ends in a callback the loop runs next (its connection_lost, where the
        # socket is closed): the turn shutdown_asyncgens takes below.
        for transport in transports:
            transport.close()
        loop.run_until_complete(loop.shutdown_asyncgens())
        executor.shutdown(wait=False)
    finally:
        loop.close()
