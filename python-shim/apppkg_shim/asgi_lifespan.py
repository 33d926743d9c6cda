"""The ASGI lifespan protocol: startup before READY, shutdown after the last request.

Startup that fails (lifespan.startup.failed, or the app raising once it has received
lifespan.startup) is the app failing to load: the message or traceback on stderr, then one
marker line, then exit 4, so that the gateway refuses the version instead of restarting it
in a loop (docs/protocol.md §1, §8). An app that raises *before* receiving anything does not
speak lifespan (Django: "can only handle ASGI/HTTP connections") and runs without it.
"""

import sys

from .errors import app_traceback, emit_marker, log

LIFESPAN_FAILED_MARKER = "APPPKG-LIFESPAN-FAILED"

_STARTUP = {"type": "lifespan.startup"}
_SHUTDOWN = {"type": "lifespan.shutdown"}


class Lifespan:
    supported = True
    received = 0  # messages the app has received
    failure = None  # (message, traceback text or None) when startup failed

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

    async def startup(self):
        """True once the app is ready (or runs without lifespan); False when startup failed,
        reported on stderr with the marker line."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self.task = self.loop.create_task(self._run(scope))
        await self._started
        if self.failure is None:
            return True
        message, text = self.failure
        if text:
            sys.stderr.write(text)
        else:
            log("%s: lifespan startup failed: %s" % (self.app_spec, message))
        emit_marker(LIFESPAN_FAILED_MARKER, {"app": self.app_spec, "message": message, "traceback": text})
        return False

    async def shutdown(self):
        """lifespan.shutdown, and its answer (or the app's lifespan coroutine ending)."""
        if not self.supported or self._stopped.done():
            return
        _settle(self._shutdown_asked)
        await self._stopped

    async def _run(self, scope):
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            # From the app's first frame: this coroutine's own frame says nothing about the app.
            text = app_traceback(exc)
            if not self.received:
                self.supported = False
            elif not self._started.done():
                self.failure = ("%s: %s" % (type(exc).__name__, exc), text)
            else:
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
            if not self._started.done():
                self.failure = (str(message.get("message") or "lifespan.startup.failed"), None)
            _settle(self._started)
        elif mtype == "lifespan.shutdown.complete":
            _settle(self._stopped)
        elif mtype == "lifespan.shutdown.failed":
            log("%s: lifespan shutdown failed: %s" % (self.app_spec, message.get("message") or ""))
            _settle(self._stopped)
        else:
            raise RuntimeError("unexpected ASGI message %r in the lifespan protocol" % (mtype,))


def _settle(fut):
    if not fut.done():
        fut.set_result(None)
