"""The link (fd 3 in, fd 4 out) as the ASGI worker's loop sees it: asyncio protocols on its sockets.

Reading: fd 3's transport fills FrameReader's buffer directly (BufferedProtocol, no copy per
read) and every complete frame goes to `on_frames` at once. Writing: frames written during
one turn of the loop are held and leave together on the next turn, in one write to fd 4's
transport (one sendmsg under uvloop and Python 3.12+), as the WSGI worker's deferred batches
do: a batch of pipelined requests answered in one iteration costs one syscall, not one each.
"""

import asyncio

from .link import FLUSH_THRESHOLD, FrameReader


class LinkProtocol(asyncio.BufferedProtocol):
    """Reads fd 3 (connection_made); writes through fd 4's transport, which outgoing() connects."""

    def __init__(self, loop, on_frames, on_lost):
        self.loop = loop
        self.transport = None  # fd 4's
        self.reader = FrameReader(None)
        self._on_frames = on_frames
        self._on_lost = on_lost
        self._out = []
        self._size = 0
        self._flush_scheduled = False
        # The transport holds more than its high-water mark: Node is not reading us.
        self.paused = False
        self._drain_waiters = []
        # Called as each scheduled batch is about to leave; it may write into the batch.
        self.before_flush = None

    # -- asyncio.BufferedProtocol --------------------------------------------------------

    def connection_made(self, transport):
        pass  # fd 3's transport: only read

    def outgoing(self):
        """The protocol for fd 4's transport."""
        return _Outgoing(self)

    def get_buffer(self, sizehint):
        return self.reader.free_space()

    def buffer_updated(self, nbytes):
        reader = self.reader
        reader.filled(nbytes)
        frames = reader.parse()
        if frames:
            self._on_frames(frames)

    def eof_received(self):
        self._on_lost()

    def connection_lost(self, exc):
        self._on_lost()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # -- output ----------------------------------------------------------------------------

    def write(self, data):
        self._out.append(data)
        self._size += len(data)
        # Nearly every write joins a batch already scheduled: no call for nothing to do.
        if self._size >= FLUSH_THRESHOLD or not self._flush_scheduled:
            self._queued()

    def write_parts(self, parts):
        self._out.extend(parts)
        for part in parts:
            self._size += len(part)
        self._queued()

    def _queued(self):
        if self._size >= FLUSH_THRESHOLD:
            self.flush()  # big bodies go now; what is scheduled finds less to send
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def schedule_flush(self):
        """A batch leaves on the next turn even if nothing is written meanwhile (before_flush
        has something to decide then)."""
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self):
        if self.before_flush is not None:
            self.before_flush()  # its writes join this batch: still scheduled, nothing reschedules
        self._flush_scheduled = False
        self.flush()

    def flush(self):
        out = self._out
        if not out:
            return
        self._out = []
        self._size = 0
        if len(out) == 1:
            self.transport.write(out[0])
        else:
            self.transport.writelines(out)

    async def drain(self):
        """Returns once the transport is below its high-water mark again."""
        while self.paused:
            fut = self.loop.create_future()
            self._drain_waiters.append(fut)
            await fut

    async def flushed(self):
        """Returns once everything written has left for the socket (before the process exits)."""
        self.flush()
        transport = self.transport
        while transport.get_write_buffer_size() > 0 and not transport.is_closing():
            await asyncio.sleep(0.005)


class _Outgoing(asyncio.Protocol):
    """fd 4, written only: its flow control and its loss are the link's. Nothing is read from it
    (the gateway never writes there; its end shows on fd 3 too)."""

    def __init__(self, link):
        self.link = link

    def connection_made(self, transport):
        self.link.transport = transport
        transport.pause_reading()

    def connection_lost(self, exc):
        self.link.connection_lost(exc)

    def pause_writing(self):
        self.link.pause_writing()

    def resume_writing(self):
        self.link.resume_writing()
