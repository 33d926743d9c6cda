"""What every ASGI exchange on the link shares: its id and terminal frame, the response window,
and the HTTP response an app sends (http.response.*, or a websocket's denial response).

A start followed by one body that is the last, of at most the response window, leaves as ONE
frame, RESPONSE_FULL (a longer one streams, lest it wait whole in the gateway). The start is
held until the first body message for that; an app that awaits something else in between gets
its head sent alone (RESPONSE) with the next batch of frames, so that a slow first body (a
server-sent event stream) does not leave Node's timeout without a head.
Otherwise RESPONSE, RESPONSE_BODY frames of at most 256 KiB, RESPONSE_END. send() waits while
more than the response window is not credited by RESPONSE_CREDIT (docs/protocol.md §5).
Exactly one terminal frame per exchange: RESPONSE_FULL, RESPONSE_END or ERROR; Node frees the
id on it, so the exchange leaves the worker's table as it is sent.
"""

import asyncio
import sys

from . import link
from .asgi_lifespan import app_line, awaiting_frames
from .asgi_scope import REQUEST_URI
from .errors import InvalidResponse, log, request_traceback
from .task import _NAME_CONNECTION, _NAME_CONTENT_LENGTH, _NAME_DATE, _NAME_DROP, _content_length, _name_kind, bad_value_bytes, connection_options, tell_dropped  # the WSGI response's header rules, shared

HEADER_PACK = link.HEADER.pack
FULL_PACK = link.RESPONSE_FULL_HEADER.pack
MAX_BODY_FRAME = link.MAX_BODY_FRAME
RESPONSE_WINDOW = link.RESPONSE_WINDOW
# How long a task cancelled for its 504 has to end (its `finally` may await a rollback) before
# the app counts as having ignored the cancel.
CANCEL_IGNORED_AFTER_SECONDS = 1.0
# How long an app may go on sending to a client that left (or asking after it, given the
# disconnect each time) before its task is cancelled as at a 504: long enough for an app that
# finishes what it was sending (Django's handler then closes the response), not for ever.
GONE_CLIENT_SECONDS = 1.0
_name_kinds = {}  # header name bytes -> task.py's kind of it
# Heads encode_head has checked: (status, *headers) -> what it returned; a bounded number of
# small ones.
_checked_heads = {}
CHECKED_HEADS = 256
CHECKED_HEAD_BYTES = 1024


def encode_header_pairs(headers, parts, worker, lengths=None):
    """Append an ASGI headers list to `parts` as latin-1 bytes (name, value, ...), checked as
    the WSGI worker checks them; hop-by-hop names are dropped (the gateway frames the body), and
    said once in `worker`'s app log. The lengths Content-Length says go to `lengths` too, when
    given: one, a repeat of the same sent once."""
    try:
        items = iter(headers)
    except TypeError:
        raise InvalidResponse("headers must be an iterable of [name, value] pairs, got %s" % type(headers).__name__)
    first = len(parts)
    connection = None
    dated = False
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise InvalidResponse("each header must be a [name, value] pair of bytes, got %r" % (item,))
        if type(name) is not bytes or type(value) is not bytes:
            if not isinstance(name, (bytes, bytearray)) or not isinstance(value, (bytes, bytearray)):
                raise InvalidResponse("header %r: name and value must be bytes" % (item,))
            name, value = bytes(name), bytes(value)
        kind = _name_kinds.get(name)
        if kind is None:
            kind = _name_kind(name.decode("latin-1"))  # raises for a name that is no token
            if len(_name_kinds) < 1024:
                _name_kinds[name] = kind
        if kind == _NAME_DROP:
            tell_dropped(worker, name, value)
            continue
        if kind == _NAME_CONNECTION:
            connection = [value] if connection is None else connection + [value]
        if kind == _NAME_DATE:
            if dated:
                continue  # one Date, the first, as the WSGI worker sends (task.py)
            dated = True
        if kind == _NAME_CONTENT_LENGTH and lengths is not None:
            repeated = bool(lengths)
            lengths[:] = [_content_length(value.decode("latin-1"), lengths[0] if repeated else None)]
            if repeated:
                continue
        if bad_value_bytes(value):
            raise InvalidResponse("header %s: the value contains a control character (CR, LF, NUL, ...; RFC 9110 5.5): %r" % (name.decode("latin-1"), value))
        parts.append(name)
        parts.append(value)
    if connection is not None:
        connection_options(parts, first, connection)
    return parts


def encode_head(message, worker):
    """The start's head as the RESPONSE frame carries it, and its Content-Length as sent (or None)."""
    status = message.get("status")
    headers = message.get("headers", ())
    # Most apps send the same few heads again and again (a framework's defaults, a hello's
    # Content-Length): those already checked are not checked again. Only a list or a tuple: an
    # iterator would be spent by the key; a [name, value] list, unhashable, is checked every time.
    key = None
    # An int status only: 200.0 (or a Decimal) hashes and compares as 200, and must still be refused.
    if type(status) is int and (type(headers) is list or type(headers) is tuple):
        key = (status, *headers)
        try:
            known = _checked_heads.get(key)
        except TypeError:
            known = key = None
        if known is not None:
            # A memoryview hashes and compares as the bytes it shows, and must still be refused.
            # (Here, not in a function: this runs for nearly every response.)
            for name, value in headers:
                if type(name) is not bytes or type(value) is not bytes:
                    break
            else:
                return known
    # An int subclass is an int (Starlette passes status_code=HTTPStatus.CREATED on as it is).
    if type(status) is not int and (not isinstance(status, int) or isinstance(status, bool)):
        raise InvalidResponse("status must be an int 200-599, got %r" % (status,))
    if not 200 <= status <= 599:
        raise InvalidResponse("status must be an int 200-599, got %r" % (status,))
    lengths = []
    # The status alone: Node adds the standard reason phrase.
    head = b"\0".join(encode_header_pairs(headers, [b"%d" % int(status)], worker, lengths))
    encoded = head, (lengths[0] if lengths else None)
    if key is not None and len(head) <= CHECKED_HEAD_BYTES:
        if len(_checked_heads) >= CHECKED_HEADS:
            _checked_heads.clear()  # an app whose heads never repeat (a Date, an ETag) keeps none long
        _checked_heads[key] = encoded
    return encoded


def _body_bytes(body):
    if type(body) is bytes:
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    raise InvalidResponse("the body must be bytes, got %s" % type(body).__name__)


class ResponseExchange:
    # Class-level defaults: an exchange pays only for what it changes.
    aborted = False  # ABORT came: the client is gone
    closed = False  # a websocket closed (either side): its client takes nothing more
    ended = False  # the terminal frame is sent
    head = None  # the encoded head, held until the first body message
    head_sent = False
    sent = 0  # response bytes sent, and credited back by RESPONSE_CREDIT:
    acked = 0
    declared = None  # the Content-Length of the app's start (None: none, or a HEAD's)
    body_total = 0  # body bytes the app has sent, to hold it to `declared`
    waiters = None  # futures of the app's coroutines waiting for any change here
    task = None  # the asyncio task running the app for it
    gone_since = None  # loop time of the app's first send() or receive() after its client left
    cancelling = False  # its task is cancelled (504, 408, or sending on to a gone client)

    def __init__(self, worker, rid, payload):
        self.worker = worker
        self.link = worker.link
        self.id = rid
        self.payload = payload

    # -- events from the link -----------------------------------------------------------------

    def on_credit(self, amount):
        self.acked += amount
        self.wake()

    def on_abort(self):
        self.aborted = True
        self.wake()

    def on_timed_out(self, status):
        """The gateway answered `status` itself (504 for the app, 408 for a client whose body
        stopped arriving): its task is cancelled (CancelledError where it awaits, so its
        `finally` runs), as the loop is not stuck and the task would otherwise hang on, unseen,
        for the worker's life. Not after the response: a task working on past it is the app's
        business."""
        self.on_abort()
        self._cancel("got its %d" % status)

    async def after_gone(self):
        """A send() after ABORT, or a receive() giving the disconnect: through the loop (one
        that returned at once never yields, and an app doing it in a loop held every other
        request and websocket of the worker), and once the app has gone on so for
        GONE_CLIENT_SECONDS, its task is cancelled: it would otherwise burn the CPU and stay in
        flight for as long as it streams (for ever, for an endless stream), as it does under
        uvicorn. CancelledError, not uvicorn's OSError for a closed websocket: an `except
        Exception` in the app's loop does not swallow it."""
        now = self.worker.loop.time()
        if self.gone_since is None:
            self.gone_since = now
        elif now - self.gone_since > GONE_CLIENT_SECONDS:
            self._cancel("was left by its client, the app going on for %g s after it" % GONE_CLIENT_SECONDS)
        await asyncio.sleep(0)

    def _cancel(self, why):
        task = self.task
        if task is not None and not task.done() and not self.ended and not self.cancelling:
            self.cancelling = True
            task.cancel()
            self.worker.loop.call_later(CANCEL_IGNORED_AFTER_SECONDS, self._check_cancelled, why)

    def _check_cancelled(self, why):
        """An app that catches the CancelledError and goes on awaiting: its task is left to run,
        as uvicorn leaves it (the gateway no longer counts it in flight; the worker's stop
        cancels it again, then its bound ends it). One line says where the app went on."""
        task = self.task
        if task.done() or self.ended:
            return
        where = awaiting_frames(task)
        method, uri = self.request_line()
        log("%s (%s): %s %s %s and its task was cancelled, but the app ignored the CancelledError and runs on%s; "
            "the task is left running, no longer a request (catch CancelledError only to clean up, then raise it again)" % (
                self.worker.app_spec, self.worker.name, method, uri, why, ", at " + app_line(where) if where else ""))
        self.end(link.RESPONSE_END)  # the acknowledgement of ABORT: Node frees the id
        self.worker.abandon(task)

    # -- waiting (the app's coroutines) -------------------------------------------------------

    def wake(self):
        waiters = self.waiters
        if waiters:
            self.waiters = None
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    async def wait(self):
        """Until anything happens to this exchange; the caller checks what."""
        fut = self.worker.loop.create_future()
        if self.waiters is None:
            self.waiters = [fut]
        else:
            self.waiters.append(fut)
        await fut

    async def wait_credit(self):
        # Node has not handed a window's worth to the client yet: a slow client holds the app
        # back instead of piling its output up in the gateway.
        while self.sent - self.acked > RESPONSE_WINDOW and not (self.aborted or self.closed or self.ended):
            await self.wait()
        if self.link.paused:
            await self.link.drain()

    # -- the response -------------------------------------------------------------------------

    def start_response(self, message, name):
        if self.head is not None or self.head_sent:
            raise RuntimeError("%s.start sent twice" % name)
        self.head, declared = encode_head(message, self.worker)
        # A HEAD's, a 204's or a 304's Content-Length is that of a body the response never
        # carries (RFC 9110 8.6: a 304 states the representation's): nothing to hold it to.
        if declared is not None and message["status"] not in (204, 304) and not self.payload.startswith("HEAD\0"):
            self.declared = declared
        # An app that sends its body without awaiting anything else in between does so before
        # the batch leaves; one that does not has its head sent alone (release_head).
        held = self.worker.held_heads
        if not held:
            # While any head is held a flush is scheduled: the one that empties the list.
            self.link.schedule_flush()
        held.append(self)

    def release_head(self):
        """The batch leaves and the app is still between its start and its first body."""
        if self.head is not None and not (self.head_sent or self.ended or self.aborted or self.closed):
            self._send_head([])

    def _send_head(self, parts):
        """RESPONSE, then `parts` (the first body frames, if any), in one write."""
        head = self.head
        self.head = None
        self.head_sent = True
        parts.insert(0, HEADER_PACK(link.RESPONSE, self.id, len(head)) + head)
        self.link.write_parts(parts)

    def put_body(self, message, name):
        """Send a body message as far as it goes without waiting. Returns None when it is all
        sent, else the coroutine to await for the rest (the window's credit, a long body's
        further frames): the common last body costs the app's send() no coroutine of its own."""
        if self.head is None and not self.head_sent:
            raise RuntimeError("%s.body sent before %s.start" % (name, name))
        body = message.get("body", b"")
        if type(body) is not bytes:  # nearly always bytes: the call only for the rest
            body = _body_bytes(body)
        more = message.get("more_body", False)
        rid = self.id
        n = len(body)
        if self.declared is not None:
            # Never more or fewer bytes than the head said (uvicorn's words): on a kept-alive
            # connection they would be read as the start of the next response, or swallow it.
            total = self.body_total + n
            if total > self.declared:
                raise RuntimeError("Response content longer than Content-Length (%d)" % self.declared)
            if not more and total < self.declared:
                raise RuntimeError("Response content shorter than Content-Length (%d bytes of %d)" % (total, self.declared))
            self.body_total = total
        if not self.head_sent and not more and n <= RESPONSE_WINDOW:
            # A longer one streams below, in frames (MAX_BODY_FRAME, the window's size): as one
            # frame it would wait whole in the gateway for a client that reads slowly, or not at
            # all (issue 11).
            head = self.head
            self.head = None
            self.head_sent = True
            header = FULL_PACK(link.RESPONSE_FULL, rid, 4 + len(head) + n, len(head))
            self.end_with(header + head + body if n < 16384 else [header, head, body])
            return None
        if n > MAX_BODY_FRAME:
            return self._send_frames(body, more)
        parts = [HEADER_PACK(link.RESPONSE_BODY, rid, n), body] if n else []
        self.sent += n
        if not more:
            # The head went before: a last body with its head held and no longer than a
            # piece left above, as RESPONSE_FULL (link.py asserts a piece is at most the window).
            parts.append(HEADER_PACK(link.RESPONSE_END, rid, 0))
            self.end_with(parts)
            return None
        if not self.head_sent:
            self._send_head(parts)
        elif parts:
            self.link.write_parts(parts)
        if self.sent - self.acked > RESPONSE_WINDOW or self.link.paused:
            return self.wait_credit()
        return None

    async def _send_frames(self, body, more):
        """A body longer than a frame: in frames of at most 256 KiB, each within the window, as
        the WSGI worker sends."""
        rid = self.id
        n = len(body)
        view = memoryview(body)
        for start in range(0, n, MAX_BODY_FRAME):
            piece = view[start:start + MAX_BODY_FRAME]
            parts = [HEADER_PACK(link.RESPONSE_BODY, rid, len(piece)), piece]
            self.sent += len(piece)
            if not self.head_sent:
                self._send_head(parts)
            else:
                self.link.write_parts(parts)
            if self.sent - self.acked > RESPONSE_WINDOW or self.link.paused:
                await self.wait_credit()
                if self.aborted or self.closed:
                    return  # the client is gone: the rest goes nowhere
        if not more:
            self.end(link.RESPONSE_END)
            return
        if self.sent - self.acked > RESPONSE_WINDOW or self.link.paused:
            await self.wait_credit()

    # -- endings ------------------------------------------------------------------------------

    def end_with(self, parts):
        """Send `parts` (or one bytes), the last of them the terminal frame; the id is Node's again."""
        self.ended = True
        del self.worker.exchanges[self.id]
        if type(parts) is bytes:
            self.link.write(parts)
        else:
            self.link.write_parts(parts)
        if self.waiters:
            self.wake()  # a receive() waiting for the end of the response returns now

    def request_line(self):
        """The request's method and target as sent (REQUEST_URI; "?" past a short payload), for a log line."""
        fields = self.payload.split("\0", REQUEST_URI + 1)
        return fields[0], fields[REQUEST_URI] if len(fields) > REQUEST_URI else "?"

    def end(self, ftype, payload=b""):
        self.end_with(HEADER_PACK(ftype, self.id, len(payload)) + payload)

    def fail(self, text, after=""):
        """The app failed: the log line the WSGI worker writes, and ERROR unless it is too late."""
        method, uri = self.request_line()
        worker = self.worker
        if not after and self.head_sent:
            after = " after the response headers were sent; the client connection is closed"
        log("%s (%s) failed on %s %s%s:\n%s" % (worker.app_spec, worker.name, method, uri, after, text.rstrip()))
        if not self.ended:
            self.end(link.ERROR, text.encode("utf-8", "replace"))

    def fail_with_traceback(self):
        after = " after the response was complete" if self.ended else ""
        self.fail(request_traceback(), after)

    def app_raised(self):
        """The app's call raised (call from its except block): after ABORT that is the client
        leaving, no app error (the WSGI worker logs nothing either); else ERROR and the log line."""
        if self.aborted:
            # Ended already: a task abandoned after its 504 (_check_cancelled), which the
            # client's request no longer waits for; what it raises now is no one's business.
            if not self.ended:
                self.end(link.RESPONSE_END)  # also the acknowledgement of ABORT
        elif (self.worker.cancelled or self.cancelling) and isinstance(sys.exc_info()[1], asyncio.CancelledError):
            # Work after its response cancelled when the drain was over, or a websocket app
            # asking on after its close (after_gone): no app error.
            if not self.ended:
                self.end(link.RESPONSE_END)
        else:
            self.fail_with_traceback()
