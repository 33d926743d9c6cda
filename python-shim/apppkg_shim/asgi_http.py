"""One HTTP request to an ASGI app: the `http` scope, receive() and send() (docs/protocol.md §8).

receive() gives the body as REQUEST_BODY frames bring it (what has arrived since the last
call, as one message) and credits the request window as the app takes it; once the body is
complete it waits, and returns http.disconnect when the client goes away (ABORT), closes its
side of the connection (CLIENT_END: a long poll learns it as under uvicorn), or the response is
complete (the first at once, later ones after a turn of the loop, as send() below). After ABORT send() returns
without sending, as uvicorn does (but after a turn of the loop): an app streaming to a client
that left learns it from receive(), or not at all; one that goes on so for
GONE_CLIENT_SECONDS has its task cancelled (asgi_response.after_gone). After CLIENT_END what the app still
sends goes out (a client that only half-closed reads it); an app that returns without finishing
its response has the connection closed (CLIENT_GONE: no 500, no log line, 499 in the access log).
"""

import asyncio
from collections import deque

from . import link
from .asgi_response import ResponseExchange
from .asgi_scope import BODY, http_scope, split_fields

HEADER_PACK = link.HEADER.pack
U32_PACK = link.U32.pack
CREDIT_STEP = link.CREDIT_STEP
_RESPONSE = "http.response"
# The ERROR text Node reads as "the app left with the client": the connection is closed, no 500.
CLIENT_GONE = b"apppkg: client gone"
# The http scope's "extensions" has no "http.response.trailers": trailers could not reach the
# client over the link, so the ASGI spec's answer is to offer none.
NO_TRAILERS = (
    "'http.response.trailers' sent, but the gateway does not offer the http.response.trailers"
    ' extension (scope["extensions"] lacks it): the app should not send trailers, and its'
    ' "trailers": True in http.response.start was ignored'
)


class HttpExchange(ResponseExchange):
    chunks = None  # request body pieces not yet received by the app
    body_eof = False  # REQUEST_END came (or the request has no body)
    body_done = False  # the app has received the last http.request
    expect_continue = False
    client_ended = False  # CLIENT_END came: the client closed its side
    disconnect_given = False  # receive() has returned http.disconnect
    consumed = 0
    credited = 0

    async def run(self):
        """The request's task: the app's call, then the response's end as the app left it."""
        try:
            try:
                fields = split_fields(self.payload)
                scope = http_scope(fields, self.worker.lifespan.state, self.worker.full_path)
                if not fields[BODY]:
                    self.body_eof = True
                elif "\0HTTP_EXPECT\0" in self.payload:
                    for name, value in scope["headers"]:
                        if name == b"expect" and value.lower() == b"100-continue":
                            self.expect_continue = True
                await self.worker.app(scope, self.receive, self.send)
            except BaseException:
                self.app_raised()
                return
            if self.ended:
                return
            if self.aborted:
                self.end(link.RESPONSE_END)  # also the acknowledgement of ABORT
            elif self.client_ended:
                # It heard http.disconnect and left, its response unfinished (a StreamingResponse
                # cancelled, a long poll): the client's doing, no app error, as under uvicorn.
                self.end(link.ERROR, CLIENT_GONE)
            elif self.head_sent:
                self.fail("the app returned before the last http.response.body (more_body was true)")
            else:
                self.fail("the app returned without sending a complete response")
        finally:
            self.worker.task_ended(self.task)

    async def receive(self):
        while True:
            if self.aborted or self.ended:
                break
            chunks = self.chunks
            if chunks:
                body = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._consumed(len(body))
                if self.body_eof:
                    self.body_done = True
                return {"type": "http.request", "body": body, "more_body": not self.body_eof}
            if self.body_eof and not self.body_done:
                self.body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.client_ended and self.body_done:
                break
            if self.expect_continue and not self.ended:
                # RFC 9110 10.1.1: the client waits for "100 Continue" before it sends.
                self.expect_continue = False
                self.link.write(HEADER_PACK(link.CONTINUE, self.id, 0))
            await self.wait()
        if not self.disconnect_given:
            # The first at once, as uvicorn gives it: Starlette's request.is_disconnected() asks
            # inside a cancelled scope, so a receive() that awaits anything never tells it.
            self.disconnect_given = True
        elif self.aborted:
            await self.after_gone()
        else:
            # Through the loop: a receive() that returns at once never yields, and an app
            # calling it in a loop that does not stop at http.disconnect held every other
            # request and websocket of this worker for ever.
            await asyncio.sleep(0)
        return {"type": "http.disconnect"}

    def _consumed(self, n):
        self.consumed += n
        if self.consumed - self.credited >= CREDIT_STEP and not self.ended:
            amount = self.consumed - self.credited
            self.credited = self.consumed
            self.link.write(HEADER_PACK(link.REQUEST_CREDIT, self.id, 4) + U32_PACK(amount))

    async def send(self, message):
        if self.aborted:
            await self.after_gone()
            return
        mtype = message["type"]
        if mtype == "http.response.trailers":
            # Before the "after the response" check: an app that set "trailers": True was not
            # heard (the response ended at its last body), and is told why, not that it was late.
            raise RuntimeError(NO_TRAILERS)
        if self.ended:
            raise RuntimeError("%r sent after the response was complete" % (mtype,))
        if mtype == "http.response.body":
            # The common last body goes out here, without a coroutine of its own to await.
            waiting = self.put_body(message, _RESPONSE)
            if waiting is not None:
                await waiting
        elif mtype == "http.response.start":
            self.start_response(message, _RESPONSE)
        else:
            raise RuntimeError("unexpected ASGI message %r on an http connection" % (mtype,))

    # -- frames from the link -------------------------------------------------------------------

    def on_body(self, payload):
        if self.chunks is None:
            self.chunks = deque()
        self.chunks.append(payload)
        self.wake()

    def on_whole_body(self, body):
        # Before the task's first step: its first receive() finds the body whole, with nothing to wait for.
        if body:
            self.chunks = deque((body,))
        self.body_eof = True

    def on_body_end(self):
        self.body_eof = True
        self.wake()

    def on_client_end(self):
        self.client_ended = True
        self.wake()
