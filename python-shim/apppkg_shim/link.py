"""Frames on the link to the gateway: in on fd 3, out on fd 4, unix socketpairs made by libuv.

Every frame, both directions: type (u8), request id (u32), payload length (u32), all
big-endian, then the payload. docs/protocol.md is the contract; src/link/frames.ts is the
other end. Reading and writing are here; what a frame means is decided in worker.py (WSGI)
and asgi_worker.py (ASGI, which parses with FrameReader's buffer but reads through asyncio).
"""

import errno
import json
import os
import socket
import struct
import sys
import threading

# The link's version: the gateway sends its own in the config (src/link/frames.ts); they must agree.
LINK_PROTOCOL = 4

HEADER = struct.Struct(">BII")
HEADER_SIZE = HEADER.size
U32 = struct.Struct(">I")
RESPONSE_FULL_HEADER = struct.Struct(">BIII")  # frame header + head length

# Node -> Python
REQUEST = 0x01
REQUEST_BODY = 0x02
REQUEST_END = 0x03
ABORT = 0x04
ABORT_TIMED_OUT = b"\x01"  # ABORT's payload when the gateway answered 504: the ASGI task is cancelled
ABORT_CLIENT_TIMED_OUT = b"\x02"  # the same when it answered 408 (the client's body stopped arriving)
RESPONSE_CREDIT = 0x05
NO_MORE = 0x06
PING = 0x07
RECLAIM = 0x08
WS_CONNECT = 0x09  # as REQUEST: a client asks to open a websocket (ASGI only)
WS_MESSAGE = 0x0A  # u8 kind (WS_TEXT, WS_BINARY), then the message
WS_CLOSE = 0x0B  # u16 code, then a UTF-8 reason: the client closed or went away
WHERE = 0x0C  # development: where is this request? (answered STACK; sent before ABORT on a 504)
CLIENT_END = 0x0D  # the client closed its side (ASGI http): receive() says http.disconnect after the body
CANCEL = 0x0E  # id 0, after NO_MORE: the drain is over; cancel the app's tasks, then lifespan shutdown (ASGI)
# u32 head length, the head (as REQUEST), the whole body: REQUEST, REQUEST_BODY and REQUEST_END in
# one frame, for a body the gateway had whole when it sent the request. parse() gives its payload
# as (head str, body bytes).
REQUEST_FULL = 0x0F

# Python -> Node
READY = 0x10
RESPONSE = 0x11
RESPONSE_FULL = 0x12
RESPONSE_BODY = 0x13
RESPONSE_END = 0x14
ERROR = 0x15
CONTINUE = 0x16
REQUEST_CREDIT = 0x17
STOPPING = 0x18
PONG = 0x19
UNRUN = 0x1A
WS_ACCEPT = 0x1B  # latin-1 subprotocol\0name\0value...
# docs/protocol.md names the next two WS_MESSAGE and WS_CLOSE, as the other direction's.
WS_APP_MESSAGE = 0x1C  # u8 kind, then the message the app sent
WS_APP_CLOSE = 0x1D  # u16 code, then a UTF-8 reason: the app closes
STACK = 0x1E  # UTF-8: where the request WHERE asked about is (its thread's stack); not terminal
LIFESPAN_STARTUP = 0x1F  # id 0, empty, ASGI only: the app is imported, its lifespan startup begins (before READY)
# How STACK's answer begins, from the WSGI worker (a thread's stack) and the ASGI one (awaits) alike.
WHERE_HEADING = "Where the request was when the gateway gave up on it (most recent call last):\n"

WS_TEXT = 0
WS_BINARY = 1
U16 = struct.Struct(">H")

# Flow control (bytes). Node stops reading a client's body once REQUEST_WINDOW bytes are
# unconsumed here; we credit them back in CREDIT_STEP steps. Responses likewise, within
# RESPONSE_WINDOW, which Node credits in 64 KiB steps as the client's socket takes them: the
# window is what the gateway adds to the kernel's own buffers for a client that stopped reading
# (frames.ts says why it is small).
REQUEST_WINDOW = 1 << 20
RESPONSE_WINDOW = 256 * 1024
CREDIT_STEP = 256 * 1024
MAX_BODY_FRAME = 256 * 1024
# A piece is at most the window. asgi_response.py sends a last body of up to the window whose
# head is still held as RESPONSE_FULL, and one of up to a piece in its small-piece branch, which
# ends the response without sending the head (it takes that one to have gone already): with a
# piece over the window, a last body between the two lost its head (tried: 320 KiB with 512 KiB
# pieces came to the client as a bare 200, the app's status and headers gone). And a piece goes
# whole before the window is looked at (task.py's _send_body too), so the gateway holds at most
# the window and a piece. test/link/shim-constants.test.ts checks it too (python -O skips asserts).
assert MAX_BODY_FRAME <= RESPONSE_WINDOW, "MAX_BODY_FRAME must not exceed RESPONSE_WINDOW"
# Reads read_frames makes at most to finish a REQUEST_BODY read in part: under a stream of
# bodies each read may end in the next one's, and the frames already read must not wait long.
# 8 left 4% of 64 KiB POSTs reading their own body, 2 left 14%, and cost 7-16% more CPU in all
# (docs/performance.md, "A 64 KiB POST in the worker").
FINISH_BODY_READS = 8
# Frames that read_frames reads to their end before it hands a batch over (_finish_body): a body
# piece, without which its request would stop to read the link itself, and a request with its
# whole body, without which the batch was one or two requests (the link's socket buffer holds
# about three 64 KiB POSTs), each batch's answers a sendmsg of their own.
_FINISHED_FIRST = frozenset((REQUEST_BODY, REQUEST_FULL))
# Deferred output is flushed once it grows past this many bytes.
FLUSH_THRESHOLD = 64 * 1024


# platform.python_implementation()'s names, without importing platform (~2 ms at every start).
_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython", "graalpy": "GraalVM"}


def ready_frame(threads, app_spec, **extra):
    """READY, id 0: who this worker is (docs/protocol.md §2; §8 adds an ASGI worker's `extra`)."""
    info = {
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "implementation": _IMPLEMENTATIONS.get(sys.implementation.name, sys.implementation.name),
        "threads": threads,
        "app": app_spec,
    }
    info.update(extra)
    payload = json.dumps(info).encode("utf-8")
    return HEADER.pack(READY, 0, len(payload)) + payload


# Once per worker, before READY: the gateway's status tells the import from the lifespan startup.
LIFESPAN_STARTUP_FRAME = HEADER.pack(LIFESPAN_STARTUP, 0, 0)


class LinkClosed(Exception):
    """The gateway end of the socket is gone: the gateway died or closed us."""


class FileChanged(Exception):
    """A file being sent by sendfile shrank or failed under us."""


_LINK_ERRNOS = frozenset((errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN, errno.EBADF))


class FrameReader:
    """Batch reader: one recv_into a large buffer, every complete frame parsed at once.

    Only the thread holding the reading right (worker.py) calls read_frames, so the buffer
    needs no lock; the ASGI worker's loop fills it through free_space()/filled() and calls
    parse() itself. Payloads are copied out before the next recv: REQUEST (and WS_CONNECT)
    payloads decoded straight to str (latin-1, as PEP 3333 wants native strings), a
    REQUEST_FULL's as (head str, body bytes), the rest as bytes.
    """

    def __init__(self, sock, size=256 * 1024):
        self._sock = sock
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0

    def read_frames(self, block=True):
        """Every complete frame buffered. Blocks for at least one unless block is False,
        which returns what has arrived (maybe nothing). Blocking, a REQUEST_BODY or
        REQUEST_FULL read in part is read to its end first (_finish_body)."""
        polled = False
        while True:
            frames = self.parse()
            if frames:
                start = self._start
                if block and self._end - start >= HEADER_SIZE and self._buf[start] in _FINISHED_FIRST:
                    return self._finish_body(frames)
                return frames
            if not block and polled:
                return frames
            try:
                if block:
                    self._receive()
                else:
                    polled = True
                    self._receive(socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                if block:
                    raise
                return frames

    def _finish_body(self, frames):
        """`frames`, and those of up to FINISH_BODY_READS more reads while the buffer ends in a
        REQUEST_BODY (or REQUEST_FULL) read in part. The gateway writes a frame whole, so its rest is on its way:
        handed over without it, its request's app ran and stopped at wsgi.input.read() to read
        it itself, the batch's answers flushed first (wait_for), and under 64 KiB POSTs that was
        nearly every request (docs/performance.md, "A 64 KiB POST in the worker")."""
        for _ in range(FINISH_BODY_READS):
            self._receive()
            frames += self.parse()
            start = self._start
            if self._end - start < HEADER_SIZE or self._buf[start] not in _FINISHED_FIRST:
                break
        return frames

    def _receive(self, flags=0):
        """One read of the socket into free_space(). LinkClosed at its end, or at an errno of
        a link gone (EBADF: the app closed fd 3, link_taken.py says so; not an error of the
        shim's); BlockingIOError and InterruptedError go to the caller."""
        try:
            n = self._sock.recv_into(self.free_space(), 0, flags)
        except OSError as exc:
            if exc.errno in _LINK_ERRNOS:
                raise LinkClosed()
            raise
        if not n:
            raise LinkClosed()
        self._end += n

    def parse(self):
        """The complete frames in the buffer, as (type, id, payload) tuples, taken out of it."""
        frames = []
        unpack = HEADER.unpack_from
        buf, view = self._buf, self._view
        start, end = self._start, self._end
        while end - start >= HEADER_SIZE:
            ftype, rid, length = unpack(buf, start)
            stop = start + HEADER_SIZE + length
            if stop > end:
                break
            if ftype == REQUEST or ftype == WS_CONNECT:
                payload = str(view[start + HEADER_SIZE:stop], "latin-1")
            elif ftype == REQUEST_FULL:
                at = start + HEADER_SIZE + 4
                cut = at + U32.unpack_from(buf, start + HEADER_SIZE)[0]
                payload = (str(view[at:cut], "latin-1"), bytes(view[cut:stop]))
            else:
                payload = bytes(view[start + HEADER_SIZE:stop])
            frames.append((ftype, rid, payload))
            start = stop
        if start == end:
            start = end = 0
        self._start, self._end = start, end
        return frames

    def free_space(self):
        """Where the next bytes from the socket go (room for at least the next frame's
        header, or its whole payload); report how many came with filled()."""
        self._make_room()
        return self._view[self._end:]

    def filled(self, n):
        self._end += n

    def _make_room(self):
        start, end = self._start, self._end
        need = HEADER_SIZE
        if end - start >= HEADER_SIZE:
            need = HEADER_SIZE + HEADER.unpack_from(self._buf, start)[2]
        if need > len(self._buf):
            # A frame larger than the buffer: grow (rare: Node sends at most 64 KiB bodies).
            grown = bytearray(max(need, 2 * len(self._buf)))
            grown[: end - start] = self._view[start:end]
            self._view.release()
            self._buf, self._view = grown, memoryview(grown)
            self._start, self._end = 0, end - start
        elif len(self._buf) - end < max(need - (end - start), 16 * 1024) and start > 0:
            # Compact: move the partial frame to the front, in one copy where the two places do
            # not overlap (bytearray's slice assignment copies with memcpy, not memmove).
            have = end - start
            self._buf[:have] = self._view[start:end] if have <= start else bytes(self._view[start:end])
            self._start, self._end = 0, end - start


class FrameWriter:
    """All output, under one lock. Frames may be deferred (appended, sent with the next
    flush) so that a batch of responses goes out in one sendmsg; see worker.py for when."""

    def __init__(self, sock, on_closed):
        self._sock = sock
        self._lock = threading.Lock()
        self._out = []
        self._size = 0
        self._on_closed = on_closed
        # Bumped on every flush: the monitor flushes output that sat through one tick.
        self.flushes = 0

    def has_output(self):
        return bool(self._out)

    def send(self, data, defer=False):
        with self._lock:
            self._out.append(data)
            self._size += len(data)
            if not defer or self._size >= FLUSH_THRESHOLD:
                self._flush_locked()

    def send_parts(self, parts, defer=False):
        with self._lock:
            self._out.extend(parts)
            for p in parts:
                self._size += len(p)
            if not defer or self._size >= FLUSH_THRESHOLD:
                self._flush_locked()

    def flush(self):
        if self._out:
            with self._lock:
                self._flush_locked()

    def send_file(self, header, fd, offset, count):
        """Frame header, then `count` bytes of the file `fd` from `offset` by sendfile(2).
        The frame always gets its `count` bytes: should the file shrink or fail meanwhile,
        zeros fill it and FileChanged is raised (the request then ends in ERROR, and the
        gateway cuts the client connection)."""
        with self._lock:
            self._out.append(header)
            self._flush_locked()
            sock_fd = self._sock.fileno()
            problem = None
            while count > 0:
                try:
                    sent = os.sendfile(sock_fd, fd, offset, count)
                except OSError as exc:
                    if exc.errno in _LINK_ERRNOS:
                        self._on_closed()
                        raise LinkClosed()
                    problem = "sendfile failed: %s" % exc
                    break
                if sent == 0:
                    problem = "the file ended %d bytes early" % count
                    break
                offset += sent
                count -= sent
            if problem is not None:
                try:
                    while count > 0:
                        n = min(count, 65536)
                        self._sock.sendall(bytes(n))
                        count -= n
                except OSError:
                    self._on_closed()
                    raise LinkClosed()
                raise FileChanged(problem)

    def _flush_locked(self):
        out = self._out
        if not out:
            return
        self._out = []
        self._size = 0
        self.flushes += 1
        try:
            if len(out) == 1:
                self._sock.sendall(out[0])
            else:
                self._sendmsg_all(out)
        except OSError:
            self._on_closed()
            raise LinkClosed()

    def _sendmsg_all(self, parts):
        sock = self._sock
        # sendmsg gathers without joining; IOV_MAX bounds one call.
        while parts:
            batch = parts[:512]
            sent = sock.sendmsg(batch)
            total = 0
            for p in batch:
                total += len(p)
            if sent == total:
                parts = parts[512:]
                continue
            # Partial: skip what went out, retry from the first unsent byte.
            i = 0
            while sent >= len(parts[i]):
                sent -= len(parts[i])
                i += 1
            parts = [memoryview(parts[i])[sent:]] + parts[i + 1:]
