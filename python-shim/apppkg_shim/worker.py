"""Threads: leader/followers, with the reading right handed off lazily.

Handing every request to another thread costs ~40% under the GIL (PERF-NOTES), so a request
runs on the thread that read it. One thread at a time holds the *reading right*: it reads a
batch of frames, queues the REQUESTs, and runs them itself, one after another, deferring its
output so a batch of responses leaves in one sendmsg. Other threads come in only when a
request blocks while others wait: a monitor, ticking every ~1 ms while requests are in
flight (every 10 ms once a tick finds none, parked after 200 ms of none), sees the holder
still inside the same app call after a whole tick with work waiting (queued requests, bytes
on the socket, a thread waiting for input), takes the right away and gives it to a thread
waiting for input, else to an idle follower. A thread that needs more of its own request
body (or response credit) and finds the right free takes it and reads for itself, queueing
other requests' frames. At most `threads` apps run at once.

Stop: SIGTERM (or SIGINT) -> STOPPING frame; the gateway answers NO_MORE once it has routed
its last request here; when every request is finished the process exits 0. When the
gateway dies the socket closes (or our parent changes) and the process exits at once.
"""

import json
import os
import select
import signal
import sys
import threading
import time
from collections import deque

from . import forked, link, link_taken
from .app_signal import run_app_handler
from .environ import make_base_environ
from .errors import EXIT_STARTUP_FAILED, format_exc, log
from .task import FileWrapper, Task, where_is

TICK = 0.001
# Once a tick finds nothing running or queued, the monitor ticks this slowly until one does:
# under a trickle of requests (each over well within a tick) it found one at ~1 in 100 of its
# 1 ms ticks, ~1,000 wake-ups a second for nothing. Parking it instead, woken at a batch's start,
# raised p99 (docs/performance.md, "Step 1 measured"); a slow tick is woken by nobody.
QUIET_TICK = 0.01
PARK_AFTER_QUIET_S = 0.2
# What the holder of the reading right is doing.
FREE = 0  # reading for whoever needs it; will run queued requests itself
IN_APP = 1  # running app code
OWN_INPUT = 2  # reading because its own request needs body or credit
HEADER_PACK = link.HEADER.pack
_PONG = HEADER_PACK(link.PONG, 0, 0)
_tls = threading.local()


_MONITOR = object()  # holds the reading right while the monitor reads for busy threads


class _Thread:
    """What the scheduler knows of one thread: the condition it sleeps on."""

    __slots__ = ("cv",)

    def __init__(self, lock):
        self.cv = threading.Condition(lock)


class Worker:
    def __init__(self, incoming, outgoing, app, config, parent_check_seconds):
        self.incoming = incoming
        self.app = app
        self.app_spec = config["app"]
        self.name = config.get("name") or self.app_spec
        self.threads = max(1, int(config.get("threads") or 1))
        self.base_environ = make_base_environ(self.threads, config.get("multiprocess", False), FileWrapper)
        self.frames = link.FrameReader(incoming)
        self.writer = link.FrameWriter(outgoing, self._link_closed)
        # A child the app forks and that returns into our code ends there, off the link.
        forked.cut_in_child(self.writer, "send", "send_parts", "flush", "send_file")
        forked.cut_in_child(self.frames, "read_frames")
        self.lock = threading.Lock()
        self.reader = None  # the _Thread holding the reading right; None = free
        self.reader_state = FREE
        self.app_seq = 0  # bumped whenever the holder enters IN_APP or OWN_INPUT
        self.pending = deque()  # Tasks read but not started
        self.tasks = {}  # id -> Task, pending or running
        self.running = 0
        self.idle = []  # _Threads with nothing to do
        self.input_waiters = []  # _Threads waiting for frames for their own request
        self.monitor_parked = False
        self.monitor_cv = threading.Condition(self.lock)
        # The main thread sleeps in poll() on this pipe, with no timeout: a signal handler (run
        # on the main thread, between its bytecodes or in poll's EINTR) cannot take our lock to
        # notify a condition, but it can write a byte. Waking every 100 ms to see a flag cost an
        # idle worker 10 wake-ups a second (docs/performance.md, "An idle worker").
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        self.parent_check_seconds = parent_check_seconds
        self.stop_requested = False
        self.stop_signum = None  # the signal that asked for the stop
        self.stopping = False
        self.no_more = False
        self.ppid = os.getppid()
        # Counters for tuning (config.stats, APPPKG_SHIM_STATS=1 given to the gateway, prints them
        # at exit); cheap: under the lock.
        self.print_stats = bool(config.get("stats"))
        self.stats = dict.fromkeys(("reads", "frames", "run_by_reader", "run_by_other", "handoffs", "follower_wakes", "own_reads", "input_sleeps", "monitor_reads"), 0)

    # -- lifecycle ----------------------------------------------------------------------

    def serve(self):
        app_handlers = {signum: signal.signal(signum, self._on_stop_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
        # Python runs a handler on the main thread only, which waits in poll() below; a signal the
        # kernel gives to another thread (one whose mask lets it in where the main thread's does
        # not) only sets a flag there, so it must wake the poll too, or the stop began at SIGKILL.
        # A full pipe already holds a wake-up: no warning for the byte it could not take.
        try:
            signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        except TypeError:  # CPython 3.6, which python: "<3.7" picks: it warns on a full pipe
            signal.set_wakeup_fd(self.wake_w)
        forked.stop_signals_from(app_handlers, wakeup=True)
        for i in range(self.threads):
            threading.Thread(target=self._thread_main, name="apppkg-worker-%d" % i, daemon=True).start()
        threading.Thread(target=self._monitor, name="apppkg-monitor", daemon=True).start()
        self.writer.send(link.ready_frame(self.threads, self.app_spec))
        lock = self.lock
        poller = select.poll()
        poller.register(self.wake_r, select.POLLIN)
        timeout_ms = None if self.parent_check_seconds is None else int(self.parent_check_seconds * 1000)
        while True:
            with lock:
                if self.stop_requested and not self.stopping:
                    self.stopping = True
                    self.writer.send(HEADER_PACK(link.STOPPING, 0, 0))
                if self.stopping and self.no_more and not self.tasks:
                    break
            # A wake-up written after the checks above is in the pipe: poll returns at once.
            if poller.poll(timeout_ms):
                try:
                    os.read(self.wake_r, 512)
                except OSError:
                    self._link_closed()  # the app closed our descriptors: the link's too
            elif os.getppid() != self.ppid:
                self._link_closed()
        self.writer.flush()
        if self.print_stats:
            log("stats " + json.dumps(self.stats))
        run_app_handler(app_handlers.get(self.stop_signum), self.stop_signum)
        return 0

    def _on_stop_signal(self, signum, frame):
        if not self.stop_requested:
            self.stop_signum = signum
        self.stop_requested = True
        self._wake_main()

    def _wake_main(self):
        """The main thread looks at the stop's state again (any thread, or a signal handler)."""
        try:
            os.write(self.wake_w, b"\0")
        except OSError:
            pass  # full of wake-ups not yet read (one more adds nothing), or closed by the app (the link with it)

    def _link_closed(self):
        # The gateway is gone (or our parent changed): nobody can take a response any more.
        # Unless the app closed the link itself: then the gateway is there to be told.
        code = 0
        try:
            why = link_taken.taken()
            if why is not None:
                code = EXIT_STARTUP_FAILED
                log(why)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

    # -- threads --------------------------------------------------------------------------

    def _thread_main(self):
        ctx = _tls.ctx = _Thread(self.lock)
        lock = self.lock
        lock.acquire()
        try:
            while True:
                if self.pending and self.running < self.threads:
                    task = self.pending.popleft()
                    task.started = True
                    self.running += 1
                    if self.reader is ctx:
                        self.reader_state = IN_APP
                        self.app_seq += 1
                        self.stats["run_by_reader"] += 1
                    else:
                        self.stats["run_by_other"] += 1
                    if self.monitor_parked:
                        self.monitor_parked = False
                        self.monitor_cv.notify()
                    lock.release()
                    try:
                        task.run()
                    finally:
                        lock.acquire()
                    self.running -= 1
                    if self.tasks.get(task.id) is task:
                        del self.tasks[task.id]
                    if self.reader is ctx:
                        self.reader_state = FREE
                        if self.pending:
                            continue  # keep batching: the next request's output joins ours
                    if self.stopping and not self.tasks:
                        self._wake_main()
                    if self.writer.has_output():
                        lock.release()
                        try:
                            self.writer.flush()
                        finally:
                            lock.acquire()
                    continue
                if self.reader is None:
                    self.reader = ctx
                if self.reader is ctx:
                    self.reader_state = FREE
                    self._read_locked()
                    continue
                self.idle.append(ctx)
                ctx.cv.wait()
                if ctx in self.idle:
                    self.idle.remove(ctx)
        except link.LinkClosed:
            self._link_closed()
        except BaseException:
            log("internal error in the shim, exiting:\n" + format_exc())
            sys.stderr.flush()
            os._exit(3)

    def _read_locked(self):
        """One batch of frames, read by the holder of the reading right (lock held on
        entry and exit, released while blocked in recv)."""
        lock = self.lock
        lock.release()
        try:
            self.writer.flush()
            frames = self.frames.read_frames()
        finally:
            lock.acquire()
        self.stats["reads"] += 1
        self.stats["frames"] += len(frames)
        acks = self._dispatch(frames)
        if acks:
            lock.release()
            try:
                self.writer.send_parts(acks)
            finally:
                lock.acquire()

    def _dispatch(self, frames):
        tasks = self.tasks
        acks = None
        for ftype, rid, payload in frames:
            if ftype == link.REQUEST_BODY:
                task = tasks.get(rid)
                if task is not None:
                    if task.chunks is None:
                        task.chunks = deque()
                    task.chunks.append(payload)
                    if task.waiter is not None:
                        task.waiter.notify()
            elif ftype == link.REQUEST:
                if rid in tasks:
                    log("protocol error: request id %d is already in use; ignored" % rid)
                    continue
                task = Task(self, rid, payload)
                tasks[rid] = task
                self.pending.append(task)
            elif ftype == link.REQUEST_FULL:
                # A request with its whole body: what REQUEST, REQUEST_BODY and REQUEST_END do.
                if rid in tasks:
                    log("protocol error: request id %d is already in use; ignored" % rid)
                    continue
                head, body = payload
                task = Task(self, rid, head)
                if body:
                    task.chunks = deque((body,))
                task.body_eof = True
                tasks[rid] = task
                self.pending.append(task)
            elif ftype == link.REQUEST_END:
                task = tasks.get(rid)
                if task is not None:
                    task.body_eof = True
                    if task.waiter is not None:
                        task.waiter.notify()
            elif ftype == link.RESPONSE_CREDIT:
                task = tasks.get(rid)
                if task is not None:
                    task.acked += link.U32.unpack(payload)[0]
                    if task.waiter is not None:
                        task.waiter.notify()
            elif ftype == link.WHERE:
                if acks is None:
                    acks = []
                where = where_is(tasks.get(rid)).encode("utf-8", "replace")
                acks.append(HEADER_PACK(link.STACK, rid, len(where)))
                acks.append(where)
            elif ftype == link.ABORT:
                task = tasks.get(rid)
                if task is not None:
                    task.aborted = True
                    if task.waiter is not None:
                        task.waiter.notify()
                    if not task.started:
                        # Never started: drop it, and tell the gateway the id is free. UNRUN,
                        # not RESPONSE_END: the app never saw it, so it counts toward neither
                        # the worker's requests nor max_requests.
                        self.pending.remove(task)
                        del tasks[rid]
                        if acks is None:
                            acks = []
                        acks.append(HEADER_PACK(link.UNRUN, rid, 0))
            elif ftype == link.RECLAIM:
                # The gateway wants a request back that waits here for a thread (its worker is
                # leaving the rotation): given back only if the app never saw it.
                task = tasks.get(rid)
                if task is not None and not task.started:
                    self.pending.remove(task)
                    del tasks[rid]
                    if acks is None:
                        acks = []
                    # With what it has of the body, which the gateway sends the next worker:
                    # unstarted, nothing of it was read, and it is at most the request window.
                    body = b"".join(task.chunks) if task.chunks else b""
                    acks.append(HEADER_PACK(link.UNRUN, rid, len(body)))
                    if body:
                        acks.append(body)
            elif ftype == link.NO_MORE:
                self.no_more = True
                self._wake_main()
            elif ftype == link.PING:
                # The gateway's heartbeat: answered by whichever thread reads, busy app or not.
                if acks is None:
                    acks = []
                acks.append(_PONG)
            else:
                log("protocol error: unknown frame type %d; ignored" % ftype)
        if self.stopping and not tasks:
            self._wake_main()
        return acks

    def wait_for(self, task, ready):
        """Block the calling app thread until ready(task): more body, response credit, or
        an abort. Reads the socket itself when the reading right is free."""
        ctx = getattr(_tls, "ctx", None)
        if ctx is None:
            ctx = _tls.ctx = _Thread(self.lock)  # a thread the app started itself
        self.writer.flush()
        lock = self.lock
        lock.acquire()
        try:
            while not ready(task):
                if self.reader is None:
                    self.reader = ctx
                if self.reader is ctx:
                    if self.reader_state != OWN_INPUT:
                        self.reader_state = OWN_INPUT
                        self.app_seq += 1
                    self.stats["own_reads"] += 1
                    self._read_locked()
                    continue
                task.waiter = ctx.cv
                self.stats["input_sleeps"] += 1
                self.input_waiters.append(ctx)
                ctx.cv.wait()
                task.waiter = None
                if ctx in self.input_waiters:
                    self.input_waiters.remove(ctx)
            if self.reader is ctx:
                self.reader_state = IN_APP
                self.app_seq += 1
        except link.LinkClosed:
            self._link_closed()
        finally:
            lock.release()

    def _handoff(self):
        """Take the reading right from a holder stuck in app code (lock held)."""
        self.reader = None
        self.reader_state = FREE
        if self.input_waiters:
            ctx = self.input_waiters.pop(0)
        elif self.idle:
            ctx = self.idle.pop()
        else:
            return  # every thread is busy: the first to finish takes the right
        self.reader = ctx
        ctx.cv.notify()

    def _read_for_busy_threads(self):
        """Every thread is in app code and none holds the reading right: read what has
        arrived (never blocking) so ABORTs, credits and the link's EOF are not left unseen
        until an app returns; an aborted request still queued is dropped unrun."""
        lock = self.lock
        with lock:
            if self.reader is not None:
                return
            self.reader = _MONITOR
        frames = ()
        try:
            frames = self.frames.read_frames(block=False)
        finally:
            with lock:
                acks = self._dispatch(frames) if frames else None
                self.stats["monitor_reads"] += 1
                self._handoff()  # back to a thread that wants it, or free
        if acks:
            self.writer.send_parts(acks)

    def _monitor(self):
        lock = self.lock
        poller = select.poll()
        poller.register(self.incoming.fileno(), select.POLLIN)
        writer = self.writer
        last_seq = -1
        last_flushes = -1
        quiet = 0  # seconds of quiet ticks in a row
        tick = TICK
        try:
            while True:
                time.sleep(tick)
                # Deferred output that sat through a whole tick goes out now.
                if writer.has_output():
                    if writer.flushes == last_flushes:
                        writer.flush()
                    last_flushes = writer.flushes
                else:
                    last_flushes = -1
                if self.reader is None and self.running and poller.poll(0):
                    self._read_for_busy_threads()
                with lock:
                    state = self.reader_state if self.reader is not None else FREE
                    if state == FREE:
                        last_seq = -1
                    elif self.app_seq != last_seq:
                        last_seq = self.app_seq
                    elif state == IN_APP:
                        # Stuck in app code for a whole tick with work waiting: hand off.
                        if self.pending or self.input_waiters or poller.poll(0):
                            self.stats["handoffs"] += 1
                            self._handoff()
                            last_seq = -1
                    elif self.pending and self.running < self.threads and self.idle:
                        # Reading for its own request (a slow upload) for a whole tick:
                        # requests queued behind it go to a follower.
                        self.stats["follower_wakes"] += 1
                        self.idle.pop().cv.notify()
                    if self.running or self.pending:
                        quiet = 0
                        tick = TICK
                    else:
                        quiet += tick
                        tick = QUIET_TICK
                        if quiet >= PARK_AFTER_QUIET_S:
                            self.monitor_parked = True
                            while self.monitor_parked:
                                self.monitor_cv.wait()
                            quiet = 0
                            tick = TICK
        except link.LinkClosed:
            self._link_closed()
        except BaseException:
            log("internal error in the monitor, exiting:\n" + format_exc())
            sys.stderr.flush()
            os._exit(3)
