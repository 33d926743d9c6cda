"""One request: call the app, enforce start_response, send the response as frames.

The common case (the app returns a list or tuple) becomes ONE frame, RESPONSE_FULL, with
the status, the headers, a Content-Length computed when the app set none, and the whole body,
when the body is within the response window; a longer one streams as below, its head carrying
that Content-Length. Anything else streams: RESPONSE (head) with the first body bytes,
RESPONSE_BODY frames, then RESPONSE_END, bounded by the response window. Every request ends with exactly one of
RESPONSE_FULL, RESPONSE_END or ERROR, after the iterable's close() has returned.
"""

import io
import os
import re
import stat
import sys
from threading import get_ident

from . import link
from .environ import FIXED_FIELDS, Input, build_environ
from .errors import ClientDisconnected, InvalidResponse, log, request_traceback

HEADER_PACK = link.HEADER.pack
FULL_PACK = link.RESPONSE_FULL_HEADER.pack
RESPONSE_FULL = link.RESPONSE_FULL
MAX_BODY_FRAME = link.MAX_BODY_FRAME
RESPONSE_WINDOW = link.RESPONSE_WINDOW
CREDIT_STEP = link.CREDIT_STEP
# A RESPONSE_FULL's body under this size is copied into one bytes with its header; a larger one
# goes as its own part of the sendmsg (no copy).
COPIED_BODY = 16384
USE_SENDFILE = hasattr(os, "sendfile") and sys.platform.startswith("linux")

# PEP 3333: hop-by-hop headers are the server's business. Of Connection, only "close" passes
# (the gateway then closes the client connection): see connection_options.
_HOP_BY_HOP = frozenset(("keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"))
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME_OK, _NAME_CONTENT_LENGTH, _NAME_DROP, _NAME_CONNECTION, _NAME_DATE = 0, 1, 2, 3, 4
# Fields that frame or describe the body itself: a Connection option naming them removes nothing.
_NOT_CONNECTION_OPTIONS = frozenset(("content-length", "content-type"))
_name_kinds = {}
_status_codes = {}
# Heads start_response has checked: (status, *headers) -> (code, the head's parts, its
# Content-Length, the parts encoded for the link); a bounded number of small ones. A kept head's
# parts are shared by every request that gives it, and never changed.
_kept_heads = {}
KEPT_HEADS = 256
KEPT_HEAD_CHARS = 1024
# RFC 9110 5.5: a field value is visible characters, spaces and tabs (and octets >= 0x80); Node
# refuses any other control character too, and the app's answer became a 502 its log never
# mentioned. The str form is asked only of a value str.isprintable() (fast, in C) doubts.
_CONTROL = "[\x00-\x08\x0a-\x1f\x7f]"
bad_value = re.compile(_CONTROL).search
bad_value_bytes = re.compile(_CONTROL.encode("latin-1")).search


def _name_kind(name):
    # A str subclass may hash and compare as a learnt name and hold another: learnt for a str only.
    kind = _name_kinds.get(name) if type(name) is str else None
    if kind is None:
        if not name or not _TOKEN.issuperset(name):
            raise InvalidResponse("header name %r is not a valid HTTP token" % (name,))
        lower = name.lower()
        kind = (
            _NAME_CONTENT_LENGTH if lower == "content-length"
            else _NAME_DROP if lower in _HOP_BY_HOP
            else _NAME_CONNECTION if lower == "connection"
            else _NAME_DATE if lower == "date"
            else _NAME_OK
        )
        if len(_name_kinds) < 1024 and type(name) is str:
            _name_kinds[name] = kind
    return kind


def connection_options(parts, first, values):
    """`parts` (a head's name, value, ... from index `first`) without the app's Connection fields
    and those they name, but for the first Connection as "close" where they say close.
    RFC 9110 7.6.1: Connection and what it names are about one connection, the gateway's with its
    client, whose Connection and Keep-Alive the gateway writes itself: the app's went out as
    written, "Connection: keep-alive" to an HTTP/1.0 client whose connection the gateway then
    closed, "Connection: X-Internal" beside X-Internal."""
    options = {"connection"}
    for value in values:
        text = value if isinstance(value, str) else value.decode("latin-1")
        for token in text.split(","):
            token = token.strip(" \t").lower()
            if token and token not in _NOT_CONNECTION_OPTIONS:
                options.add(token)
    close = "close" in options
    kept = parts[:first]
    for at in range(first, len(parts) - 1, 2):
        name = parts[at]
        lower = (name if isinstance(name, str) else name.decode("latin-1")).lower()
        if lower not in options:
            kept.append(name)
            kept.append(parts[at + 1])
        elif close and lower == "connection":
            kept.append(name)
            kept.append("close" if isinstance(name, str) else b"close")
            close = False
    parts[:] = kept
    return parts


# Lowercase hop-by-hop names this worker has dropped from an app's response and said so in its
# log: once each, since an app that sets one sets it on every answer.
_dropped_told = set()


def tell_dropped(worker, name, value):
    """One line in the app's log for a hop-by-hop header the app gave and the shim dropped. PEP 3333
    calls it the app's error, and wsgiref refuses it; gunicorn and this shim drop it, silently
    until now: an app that chunked its body itself (Transfer-Encoding: chunked) had its chunk-size
    lines reach the client as body, and its log said nothing of why."""
    if type(name) is not str:
        name = name.decode("latin-1")
    lower = name.lower()
    if lower in _dropped_told:
        return
    _dropped_told.add(lower)
    if type(value) is not str:
        value = value.decode("latin-1")
    framing = (
        "; the gateway frames the body itself (Content-Length, or chunked when the app gives no length): "
        "a body the app chunked itself reaches the client with its chunk-size lines in it"
        if lower == "transfer-encoding" else ""
    )
    log("%s (%s): the response header %s: %s was dropped, as every %s the app gives will be (said once): "
        "hop-by-hop headers are the server's (RFC 9110 7.6.1; PEP 3333 forbids them a WSGI app)%s; remove it from the app's headers "
        "(Connection: close is kept, and closes the client's connection after the answer)" % (
            worker.app_spec, worker.name, name, value[:80], name, framing))


# str.isascii is 3.7's; python: "<3.7" runs the worker on 3.6.
_isascii = getattr(str, "isascii", None) or (lambda s: all(c < "\x80" for c in s))


def _content_length(value, earlier):
    """The length a Content-Length value (str) the app gave says. RFC 9110 8.6 has it be digits
    only, where int() takes "+5", "0_5" and other scripts' digits too, which a client or a proxy
    in front refuses as a response it cannot frame; `earlier`, the length of one given before
    (None: none), is one a repeat must equal, or the body's length is unknown."""
    digits = value.strip(" \t")
    if not (_isascii(digits) and digits.isdigit()):
        raise InvalidResponse("Content-Length %r is not a number" % (value,))
    length = int(digits)
    if earlier is not None and length != earlier:
        raise InvalidResponse("Content-Length given twice, %d and %d: the body's length is unknown" % (earlier, length))
    return length


def _status_code(status):
    if not isinstance(status, str):
        raise InvalidResponse('status must be a str like "200 OK", got %s %r' % (type(status).__name__, status))
    code = _status_codes.get(status) if type(status) is str else None  # as _name_kind's names
    if code is None:
        if not (len(status) >= 3 and status[:3].isdigit() and (len(status) == 3 or status[3] == " ")) or (
            not status.isprintable() and bad_value(status)
        ):
            raise InvalidResponse('status must be a str like "200 OK", got %r' % (status,))
        code = int(status[:3])
        if not 200 <= code <= 599:
            raise InvalidResponse("status %r: the app may answer 200-599 only" % (status,))
        if len(_status_codes) < 256 and type(status) is str:
            _status_codes[status] = code
    return code


class FileWrapper:
    """wsgi.file_wrapper. Returned as is (not wrapped by middleware), the file is sent with
    sendfile(2) when it is a regular file; otherwise it iterates blocks like any iterable."""

    def __init__(self, filelike, blksize=8192):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


class Task:
    # Class-level defaults: a request only pays for the attributes it changes.
    chunks = None  # request body: a deque of bytes, filled by the reading thread
    body_eof = False
    aborted = False
    waiter = None  # Condition of the thread waiting on this request's input, if any
    expect_continue = False
    consumed = 0
    credited = 0
    acked = 0  # response bytes the gateway has flushed to the client (RESPONSE_CREDIT)
    thread = None  # ident of the thread running it, once one does
    sent = 0
    status = None
    code = 0
    head_parts = None
    head = None  # head_parts encoded, when start_response kept them (but a 204's or 304's): sent as they are
    content_length = None  # as the app set it
    headers_sent = False
    is_head = False
    ended = False
    started = False  # taken off the queue by a thread

    def __init__(self, worker, rid, payload):
        self.worker = worker
        self.id = rid
        self.payload = payload

    # -- the request ------------------------------------------------------------------

    def run(self):
        worker = self.worker
        self.thread = get_ident()  # where it runs, for WHERE (where_is)
        result = None
        try:
            fields = self.payload.split("\0")
            if len(fields) < FIXED_FIELDS:
                raise InvalidResponse("malformed REQUEST frame (%d fields)" % len(fields))
            environ = build_environ(fields, worker.base_environ)
            if fields[11]:
                environ["wsgi.input"] = Input(self)
                expect = environ.get("HTTP_EXPECT")
                if expect is not None and expect.lower() == "100-continue":
                    self.expect_continue = True
            if fields[0] == "HEAD":
                self.is_head = True
            result = worker.app(environ, self.start_response)
            try:
                terminal = self._respond(result)
            finally:
                if type(result) is not list:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
            self.ended = True
            if len(terminal) == 1:
                worker.writer.send(terminal[0], defer=True)  # send_parts' loop, for one part
            else:
                worker.writer.send_parts(terminal, defer=True)
        except ClientDisconnected:
            self._end_aborted()
        except BaseException:
            if self.aborted:
                self._end_aborted()
            else:
                self._fail(result)

    def next_chunk(self):
        """The next piece of the request body; b"" at its end. Blocks for the gateway."""
        while True:
            chunks = self.chunks
            if chunks:
                chunk = chunks.popleft()
                self.consumed += len(chunk)
                if self.consumed - self.credited >= CREDIT_STEP:
                    amount = self.consumed - self.credited
                    self.credited = self.consumed
                    self.worker.writer.send(HEADER_PACK(link.REQUEST_CREDIT, self.id, 4) + link.U32.pack(amount))
                return chunk
            if self.body_eof:
                return b""
            if self.aborted:
                raise ClientDisconnected("the client went away while the app read the request body")
            if self.expect_continue:
                # RFC 9110 10.1.1: the client waits for "100 Continue" before it sends.
                self.expect_continue = False
                self.worker.writer.send(HEADER_PACK(link.CONTINUE, self.id, 0))
            self.worker.wait_for(self, _has_input)

    # -- start_response and write() -------------------------------------------------------

    def start_response(self, status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # PEP 3333: too late to change the response; re-raise the app's error.
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise InvalidResponse("start_response() called a second time without exc_info")
        # Most apps give the same few heads again and again (a framework's defaults, a hello's
        # Content-Length): one already checked is not checked again. Only a str status and a list
        # (a tuple of headers is refused below, and must stay so); a [name, value] list is
        # unhashable and checked every time.
        key = None
        if type(status) is str and type(headers) is list:
            key = (status, *headers)
            try:
                kept = _kept_heads.get(key)
            except TypeError:
                kept = key = None
            if kept is not None:
                # A str or tuple subclass hashes and compares as the str or tuple it holds, and is
                # still to be checked (or refused) as it is.
                for item in headers:
                    if type(item) is not tuple or type(item[0]) is not str or type(item[1]) is not str:
                        break
                else:
                    self.status = status
                    self.code, self.head_parts, self.content_length, self.head = kept
                    return self.write
        code = _status_code(status)
        if not isinstance(headers, list):
            raise InvalidResponse("headers must be a list of (name, value) tuples, got %s" % type(headers).__name__)
        parts = [status]
        content_length = None
        connection = None
        dated = False
        for item in headers:
            if type(item) is not tuple or len(item) != 2:
                raise InvalidResponse("each header must be a (name, value) tuple, got %r" % (item,))
            name, value = item
            if not isinstance(name, str) or not isinstance(value, str):
                raise InvalidResponse("header %r: name and value must be str" % (item,))
            kind = _name_kind(name)
            if not value.isprintable() and bad_value(value):
                raise InvalidResponse("header %s: the value contains a control character (CR, LF, NUL, ...; RFC 9110 5.5): %r" % (name, value))
            if kind:
                if kind == _NAME_DROP:
                    tell_dropped(self.worker, name, value)
                    continue
                if kind == _NAME_CONNECTION:
                    connection = [value] if connection is None else connection + [value]
                elif kind == _NAME_DATE:
                    # RFC 9110 6.6.1: one Date; the first is kept, as nginx passes one (its own):
                    # a second is no framing to refuse the answer over, as a second length is.
                    if dated:
                        continue
                    dated = True
                else:
                    repeated = content_length is not None
                    content_length = _content_length(value, content_length)
                    if repeated:
                        continue  # the same length again: sent once
            parts.append(name)
            parts.append(value)
        if connection is not None:
            connection_options(parts, 1, connection)
        self.status = status
        self.code = code
        self.head_parts = parts
        self.content_length = content_length
        self.head = None  # a second start_response (exc_info) replaces the first one's head
        if key is not None and sum(map(len, parts)) <= KEPT_HEAD_CHARS:
            head = None  # a 204's or 304's: _respond's short way would send the body _full drops
            if code != 204 and code != 304:
                try:
                    head = "\0".join(parts).encode("latin-1")
                except UnicodeEncodeError:
                    return self.write  # not kept: refused when the response goes out, as before
            if len(_kept_heads) >= KEPT_HEADS:
                _kept_heads.clear()  # an app whose heads never repeat (a Date, an ETag) keeps none long
            _kept_heads[key] = (code, parts, content_length, head)
            self.head = head
        return self.write

    def write(self, data):
        if self.status is None:
            raise InvalidResponse("write() called before start_response()")
        if not isinstance(data, bytes):
            raise InvalidResponse("write() takes bytes, got %s" % type(data).__name__)
        if data and not self.is_head:
            self._send_body(data)
        elif not self.headers_sent:
            self._send_head()

    # -- the response --------------------------------------------------------------------

    def _respond(self, result):
        """Send all but the terminal frame; return the terminal frame's parts."""
        kind = type(result)
        if (kind is list or kind is tuple) and not self.headers_sent:
            n = len(result)
            if n == 1:
                body = result[0]
                if type(body) is not bytes:
                    _check_bytes(body)
            elif n == 0:
                body = b""
            else:
                for item in result:
                    if type(item) is not bytes:
                        _check_bytes(item)
                body = b"".join(result)
            # The common answer, as _full would make it with fewer questions: a kept head (encoded),
            # a small body of the length its Content-Length says.
            head = self.head
            length = len(body)
            if head is not None and length == self.content_length and length < COPIED_BODY and not self.is_head:
                self.headers_sent = True
                return [FULL_PACK(RESPONSE_FULL, self.id, 4 + len(head) + length, len(head)) + head + body]
            return self._full(body)
        if kind is FileWrapper and not self.is_head and self.status is not None and not self.headers_sent:
            if self._send_file(result):
                return [HEADER_PACK(link.RESPONSE_END, self.id, 0)]
        if self.is_head and self.status is not None:
            # HEAD: run the app, keep its headers, send no body (and read none).
            result = ()
        for chunk in result:
            if type(chunk) is not bytes:
                _check_bytes(chunk)
            if not chunk:
                continue
            if self.is_head:
                break
            self._send_body(chunk)
        if not self.headers_sent:
            return self._full(b"", computed_length=not self.is_head)
        if self.content_length is not None and self.sent < self.content_length and not self.is_head:
            raise InvalidResponse(
                "the body has %d bytes, fewer than its Content-Length %d" % (self.sent, self.content_length)
            )
        return [HEADER_PACK(link.RESPONSE_END, self.id, 0)]

    def _full(self, body, computed_length=True):
        if self.status is None:
            raise InvalidResponse("the app returned without calling start_response()")
        parts = self.head_parts
        head = self.head
        code = self.code
        length = len(body)
        if code == 204 or code == 304:
            body = b""
        elif self.content_length is None:
            if computed_length:
                parts = parts + ["Content-Length", str(length)]
                head = None
        elif self.content_length != length and not self.is_head:
            # A HEAD's Content-Length is its GET's: kept as the app gave it, whatever the body.
            if self.content_length > length:
                # PEP 3333: fewer bytes than the app's Content-Length go out as they are, then the
                # connection is closed and the error logged: the client sees the response cut short,
                # never a shorter one passed off as complete.
                if body:
                    self._send_body(body)
                else:
                    self._send_head()
                raise InvalidResponse("the body has %d bytes, fewer than its Content-Length %d" % (length, self.content_length))
            # PEP 3333: never more bytes than the app's Content-Length (as when it streams).
            log("%s: the body has %d bytes, more than its Content-Length %d; sending the first %d" % (
                self.worker.app_spec, length, self.content_length, self.content_length))
            body = body[:self.content_length]
        if self.is_head:
            body = b""
        elif len(body) > RESPONSE_WINDOW:
            # As one frame, the whole body would wait in the gateway for a client that reads
            # slowly, or not at all (a 32 MiB list grew the front by 32 MiB, issue 11): it
            # streams under the response window instead, the head carrying the Content-Length
            # the frame would have, and this thread waits for credit as a streamed body's does.
            self.head_parts = parts
            self._send_body(body)
            return [HEADER_PACK(link.RESPONSE_END, self.id, 0)]
        if head is None:
            head = _encode_head(parts)
        self.headers_sent = True
        header = FULL_PACK(link.RESPONSE_FULL, self.id, 4 + len(head) + len(body), len(head))
        if len(body) < COPIED_BODY:
            return [header + head + body]
        return [header, head, body]  # large: sendmsg gathers, no copy of the body

    def _send_head(self):
        head = _encode_head(self.head_parts)
        self.headers_sent = True
        self.worker.writer.send(HEADER_PACK(link.RESPONSE, self.id, len(head)) + head)

    def _send_body(self, data):
        if self.aborted:
            raise ClientDisconnected("the client went away while the app sent the response")
        limit = self.content_length
        if limit is not None:
            room = limit - self.sent
            if len(data) > room:
                data = data[:room]  # never more than the app's Content-Length (gunicorn does the same)
                if not data:
                    return
        parts = []
        if not self.headers_sent:
            head = _encode_head(self.head_parts)
            self.headers_sent = True
            parts.append(HEADER_PACK(link.RESPONSE, self.id, len(head)))
            parts.append(head)
        writer = self.worker.writer
        n = len(data)
        if n <= MAX_BODY_FRAME:
            parts.append(HEADER_PACK(link.RESPONSE_BODY, self.id, n))
            parts.append(data)
            self.sent += n
            writer.send_parts(parts)
            if self.sent - self.acked > RESPONSE_WINDOW:
                self._wait_credit()
            return
        view = memoryview(data)
        for start in range(0, n, MAX_BODY_FRAME):
            piece = view[start:start + MAX_BODY_FRAME]
            parts.append(HEADER_PACK(link.RESPONSE_BODY, self.id, len(piece)))
            parts.append(piece)
            self.sent += len(piece)
            writer.send_parts(parts)
            parts = []
            if self.sent - self.acked > RESPONSE_WINDOW:
                self._wait_credit()

    def _wait_credit(self):
        # The gateway has not flushed a window's worth to the client yet: wait, so a big
        # or endless body never piles up in the gateway's memory.
        self.worker.wait_for(self, _has_credit)
        if self.aborted:
            raise ClientDisconnected("the client went away while the app sent the response")

    def _send_file(self, wrapper):
        """sendfile(2) a regular file in window-sized frames; False if it is not one."""
        filelike = wrapper.filelike
        if not USE_SENDFILE:
            return False
        try:
            fd = filelike.fileno()
            st = os.fstat(fd)
            offset = filelike.tell()
        except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        size = max(0, st.st_size - offset)
        if self.content_length is not None:
            size = min(size, self.content_length)
            parts = self.head_parts
        else:
            parts = self.head_parts + ["Content-Length", str(size)]
        head = _encode_head(parts)
        self.headers_sent = True
        writer = self.worker.writer
        writer.send(HEADER_PACK(link.RESPONSE, self.id, len(head)) + head)
        while size > 0:
            if self.aborted:
                raise ClientDisconnected("the client went away while the app sent a file")
            n = min(size, MAX_BODY_FRAME)
            writer.send_file(HEADER_PACK(link.RESPONSE_BODY, self.id, n), fd, offset, n)
            offset += n
            size -= n
            self.sent += n
            if self.sent - self.acked > RESPONSE_WINDOW:
                self._wait_credit()
        self.content_length = self.sent
        return True

    # -- endings -----------------------------------------------------------------------

    def _end_aborted(self):
        # The gateway frees the request id only on a terminal frame, even after ABORT.
        if not self.ended:
            self.ended = True
            self.worker.writer.send(HEADER_PACK(link.RESPONSE_END, self.id, 0), defer=True)

    def _fail(self, result):
        text = request_traceback()
        method, _, rest = self.payload.partition("\0")
        uri = rest.split("\0")[8] if rest.count("\0") >= 8 else "?"
        log("%s (%s) failed on %s %s%s:\n%s" % (
            self.worker.app_spec, self.worker.name, method, uri,
            " after the response headers were sent; the client connection is closed" if self.headers_sent else "",
            text.rstrip()))
        if self.ended:
            return
        self.ended = True
        payload = text.encode("utf-8", "replace")
        self.worker.writer.send(HEADER_PACK(link.ERROR, self.id, len(payload)) + payload)


def _has_input(task):
    return task.chunks or task.body_eof or task.aborted


def _has_credit(task):
    return task.sent - task.acked <= RESPONSE_WINDOW or task.aborted


def _check_bytes(item):
    if not isinstance(item, bytes):
        raise InvalidResponse("the response body must be bytes, got %s %r" % (type(item).__name__, item if len(repr(item)) < 60 else "..."))


def _encode_head(parts):
    try:
        return "\0".join(parts).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise InvalidResponse("status and header values must be latin-1 (PEP 3333): %s" % exc)


def where_is(task):
    """What STACK answers WHERE with: the stack of the thread running `task`, innermost last,
    as a traceback reads; for the 504's body in development (SPEC 4)."""
    if task is None:
        return "the request has already finished"
    frame = sys._current_frames().get(task.thread) if task.thread is not None else None
    if frame is None:
        return "the request waits for a thread: every one of the worker's threads is busy"
    # Here, not at the top: only a development 504 asks, and a worker's start did not need its
    # imports (linecache, tokenize, textwrap and re behind it).
    import traceback

    stack = traceback.extract_stack(frame)
    # From the app's own frame on: the thread's start and the shim's loop say nothing to its author.
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].filename == __file__:
            stack = stack[i + 1:]
            break
    return link.WHERE_HEADING + "".join(traceback.format_list(stack))
