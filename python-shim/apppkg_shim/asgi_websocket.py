"""One websocket to an ASGI app: the `websocket` scope, receive() and send() (docs/protocol.md §8).

Node speaks the websocket protocol with the client (framing, masking, ping/pong, fragments);
the link carries whole messages: WS_CONNECT opens, WS_MESSAGE and WS_CLOSE come in, WS_ACCEPT,
WS_MESSAGE and WS_CLOSE (0x1B-0x1D) go out. The app may deny the handshake with an HTTP
response instead (the websocket.http.response extension), sent as any response is.

Credits: the request window counts the WS_MESSAGE payloads the app has received (the kind
byte included); the response window counts the bytes of the messages the app sends.
Over-crediting by a byte a message is harmless; under-crediting would shrink the window
for good, so each side counts the larger or the smaller amount accordingly.

Once the client has closed, send() raises ClientDisconnected (an OSError, as uvicorn does).
An app that lets it propagate ends like one that returns (RESPONSE_END, nothing logged):
the client is gone, the app did nothing wrong. So does a WebSocketDisconnect (Starlette's,
FastAPI's) raised for a normal close the app was given (_raised_its_close). A message out of order (anything after the
app's own websocket.close or its whole denial response, an accept after an accept, a denial
after it) is the app's mistake: a RuntimeError, as uvicorn raises, logged if it propagates.
"""

from collections import deque

from . import link
from .asgi_response import ResponseExchange, encode_header_pairs
from .asgi_scope import split_fields, websocket_scope
from .errors import ClientDisconnected, InvalidResponse, log

HEADER_PACK = link.HEADER.pack
U16 = link.U16
U32_PACK = link.U32.pack
CREDIT_STEP = link.CREDIT_STEP
RESPONSE_WINDOW = link.RESPONSE_WINDOW
_TEXT = bytes((link.WS_TEXT,))
_BINARY = bytes((link.WS_BINARY,))
_DENIAL = "websocket.http.response"
_CONNECT = {"type": "websocket.connect"}
_HANDSHAKE_ANSWERS = ("websocket.accept", "websocket.close", "websocket.http.response.start")
_OPEN_MESSAGES = ("websocket.send", "websocket.close")
# The closes an app's WebSocketDisconnect may carry out of its handler unlogged (_raised_its_close).
_NORMAL_CLOSES = (1000, 1001, 1005, 1012)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _valid_close(code, reason):
    # RFC 6455 7.4: 1004-1006 and 1015 never go in a close frame, 1016-2999 are unassigned;
    # the `ws` library Node closes the client with refuses them, and a reason past 123 bytes.
    if type(code) is not int or len(reason) > 123:
        return False
    return 1000 <= code <= 1014 and code not in (1004, 1005, 1006) or 3000 <= code <= 4999


class WebSocketExchange(ResponseExchange):
    connect_received = False
    accepted = False
    close_sent = False  # the app sent websocket.close: nothing may follow it
    disconnect = None  # the websocket.disconnect message, once there is one
    disconnect_given = False  # receive() has returned it
    messages = None  # deque of (message, payload size) not yet received by the app
    consumed = 0
    credited = 0

    async def run(self):
        """The websocket's task: the app's call, then its end as the app left it."""
        try:
            await self._run_app()
        finally:
            self.worker.task_ended(self.task)

    async def _run_app(self):
        try:
            scope = websocket_scope(split_fields(self.payload), self.worker.lifespan.state, self.worker.websocket_full_path)
            await self.worker.app(scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException as exc:
            if not self._raised_its_close(exc):
                self.app_raised()
                return
        if self.ended:
            return
        if self.head_sent:
            self.fail("the app returned before the last websocket.http.response.body (more_body was true)")
        elif self.head is not None:
            # No body at all: a line about more_body sent its author looking for one never written.
            self.fail("the app returned after websocket.http.response.start without its body: a denial "
                      "response ends with a websocket.http.response.body (more_body false, the default)")
        else:
            if not self.accepted and not self.closed:
                # The client gets 403, the ASGI spec's answer for a close before accept; without
                # a line here nothing would tell the app's author why (uvicorn logs one too).
                _method, uri = self.request_line()
                log("%s (%s): websocket %s: the app returned without accepting the websocket (websocket.accept) "
                    "or closing it (websocket.close); the client got 403" % (self.worker.app_spec, self.worker.name, uri))
            # Node closes the client with 1000 if neither side had closed (403 before accept).
            self.end(link.RESPONSE_END)

    def _raised_its_close(self, exc):
        """Did the app raise the normal close it was given? Starlette's receive_text() and
        FastAPI's raise WebSocketDisconnect(code) for a websocket.disconnect, and most handlers
        let it out: a client that closed (1000, 1005 without a code), a page left (1001) or
        the gateway's own close (1001 its stop, 1012 a drain's end) is no app error, and a
        traceback for each filled the app's log with false failures. Any other exception, or
        one with another code (1011 the client's error, 1009 ...), is logged as ever."""
        given = self.disconnect if self.disconnect_given else None
        if given is None or given["code"] not in _NORMAL_CLOSES or not isinstance(exc, Exception):
            return False
        return type(exc).__name__ == "WebSocketDisconnect" and getattr(exc, "code", None) == given["code"]

    async def receive(self):
        if not self.connect_received:
            self.connect_received = True
            return _CONNECT
        while True:
            messages = self.messages
            if messages:
                message, size = messages.popleft()
                self.consumed += size
                if self.consumed - self.credited >= CREDIT_STEP and not self.ended:
                    amount = self.consumed - self.credited
                    self.credited = self.consumed
                    self.link.write(HEADER_PACK(link.REQUEST_CREDIT, self.id, 4) + U32_PACK(amount))
                return message
            if self.disconnect is not None or self.ended:
                break
            await self.wait()
        # The first at once, the others through the loop and within a bound, as asgi_http's
        # receive(): an app asking on after the disconnect held every other request and
        # websocket of this worker for as long as it asked.
        if self.disconnect_given:
            await self.after_gone()
        self.disconnect_given = True
        if self.disconnect is not None:
            return self.disconnect
        return {"type": "websocket.disconnect", "code": 1006, "reason": ""}  # after a denial: no websocket

    def _out_of_order(self, mtype):
        """Why `mtype` cannot come now, or None. Checked before the client's state: an app's
        mistake raised as ClientDisconnected would end it unlogged (run() takes that for the
        client leaving), and uvicorn raises a RuntimeError for it whatever the client did."""
        if self.close_sent:
            return "after websocket.close"
        if self.head is not None or self.head_sent:
            if self.ended:
                return "after the denial response was complete"
            if mtype != "websocket.http.response.body":
                return "during the denial response: expected websocket.http.response.body"
        elif self.accepted:
            if mtype not in _OPEN_MESSAGES:
                return "after websocket.accept: expected websocket.send or websocket.close"
        elif mtype not in _HANDSHAKE_ANSWERS:
            return "before the handshake was answered: expected websocket.accept, websocket.close or websocket.http.response.start"
        return None

    async def send(self, message):
        mtype = message["type"]
        why = self._out_of_order(mtype)
        if why is not None:
            raise RuntimeError("unexpected ASGI message %r %s" % (mtype, why))
        if mtype == "websocket.send":
            if self.closed:
                raise ClientDisconnected("the websocket is closed")
            # The ASGI spec wants exactly one of them; given both, uvicorn (either websocket
            # implementation) sends the bytes, and so does this: an app that ran there runs here.
            # uvicorn sends what it took by its type, too: str as text, bytes as binary.
            data = message.get("bytes")
            if data is None:
                data = message.get("text")
            if isinstance(data, str):
                data = data.encode("utf-8")
                kind = _TEXT
            elif isinstance(data, (bytes, bytearray, memoryview)):
                data = bytes(data)
                kind = _BINARY
            elif data is None:
                raise InvalidResponse("websocket.send needs text or bytes")
            else:
                raise InvalidResponse("websocket.send: expected text (a str) or bytes, got %s %s" % (
                    type(data).__name__, _short(data)))
            n = len(data)
            header = HEADER_PACK(link.WS_APP_MESSAGE, self.id, 1 + n) + kind
            if n < 16384:
                self.link.write(header + data)
            else:
                self.link.write_parts([header, data])
            self.sent += n
            if self.sent - self.acked > RESPONSE_WINDOW or self.link.paused:
                await self.wait_credit()
                if self.closed:
                    raise ClientDisconnected("the websocket closed while the app waited to send")
        elif mtype == "websocket.close":
            if self.closed or self.ended:
                raise ClientDisconnected("the websocket is closed")
            code = message.get("code", 1000)
            reason = message.get("reason") or ""
            if not isinstance(reason, str):
                raise InvalidResponse("websocket.close: expected a reason that is a str, got %s %s" % (type(reason).__name__, _short(reason)))
            reason = reason.encode("utf-8")
            if not _valid_close(code, reason):
                raise InvalidResponse("websocket.close: expected a code 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 7.4: "
                                      "1004-1006 and 1015 never go in a close frame) and a reason of at most 123 bytes, "
                                      "got %r, %r" % (code, reason))
            self.link.write(HEADER_PACK(link.WS_APP_CLOSE, self.id, 2 + len(reason)) + U16.pack(code) + reason)
            self.closed = True
            self.close_sent = True
            if self.disconnect is None:
                # Nothing more will come in: a receive() now returns the close the app chose.
                self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason.decode("utf-8")}
            self.wake()
        elif mtype == "websocket.accept":
            if self.closed:
                raise ClientDisconnected("the client went away before the websocket was accepted")
            subprotocol = message.get("subprotocol") or ""
            if not isinstance(subprotocol, str):
                raise InvalidResponse("websocket.accept: expected a subprotocol that is a str, got %s %s" % (
                    type(subprotocol).__name__, _short(subprotocol)))
            parts = encode_header_pairs(message.get("headers", ()), [subprotocol.encode("latin-1")], self.worker)
            payload = b"\0".join(parts)
            self.link.write(HEADER_PACK(link.WS_ACCEPT, self.id, len(payload)) + payload)
            self.accepted = True
        elif mtype == "websocket.http.response.body":
            if self.closed:
                raise ClientDisconnected("the client went away")
            waiting = self.put_body(message, _DENIAL)
            if waiting is not None:
                await waiting
        elif mtype == "websocket.http.response.start":
            if self.closed:
                raise ClientDisconnected("the client went away before the handshake was answered")
            self.start_response(message, _DENIAL)

    # -- frames from the link -------------------------------------------------------------------

    def on_message(self, payload):
        if payload[:1] == _TEXT:
            message = {"type": "websocket.receive", "text": payload[1:].decode("utf-8", "replace")}
        else:
            message = {"type": "websocket.receive", "bytes": payload[1:]}
        if self.messages is None:
            self.messages = deque()
        self.messages.append((message, len(payload)))
        self.wake()

    def on_close(self, payload):
        code = U16.unpack_from(payload)[0] if len(payload) >= 2 else 1005
        self._closed_by_client(code, payload[2:].decode("utf-8", "replace"))

    def on_abort(self):
        self.aborted = True
        self._closed_by_client(1006, "")

    def _closed_by_client(self, code, reason):
        self.closed = True
        if self.disconnect is None:
            self.disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self.wake()
