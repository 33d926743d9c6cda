"""The PEP 3333 environ, built from a REQUEST frame, and wsgi.input.

REQUEST payload (latin-1, NUL-separated): method, scheme, server name, server port, remote
addr, remote port, SCRIPT_NAME, PATH_INFO (percent-decoded by the gateway), QUERY_STRING,
REQUEST_URI, protocol, body marker ("" = no body, a decimal length, or "chunked"), then CGI
name/value pairs (HTTP_X_Y, CONTENT_TYPE, CONTENT_LENGTH) in the order the client sent them;
repeated names are joined here.
"""

import sys

from .errors import ClientDisconnected

SERVER_SOFTWARE = "apppkg-gateway/0.1"
FIXED_FIELDS = 12


class EmptyInput:
    """wsgi.input of a request without a body."""

    __slots__ = ()

    def read(self, size=-1):
        return b""

    def readline(self, size=-1):
        return b""

    def readlines(self, hint=-1):
        return []

    def __iter__(self):
        return iter(())


EMPTY_INPUT = EmptyInput()


# The first 11 fields' names, in the frame's order (the 12th, the body marker, names none).
CGI_NAMES = (
    "REQUEST_METHOD", "wsgi.url_scheme", "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT",
    "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI", "SERVER_PROTOCOL",
)


def make_base_environ(threads, multiprocess, file_wrapper):
    """What every environ starts as, copied for each request: the keys every request shares, and
    the frame's 11 CGI names (a value each request sets) so that a copy already holds every key
    a hello's environ has, and filling it in grows no table."""
    base = dict.fromkeys(CGI_NAMES, "")
    base.update({
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "wsgi.version": (1, 0),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": threads > 1,
        "wsgi.multiprocess": bool(multiprocess),
        "wsgi.run_once": False,
        # wsgi.input returns EOF at the end of the body, Content-Length or not (chunked).
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": file_wrapper,
        # A request with a body gets its own Input in place of this one.
        "wsgi.input": EMPTY_INPUT,
    })
    return base


def build_environ(fields, base):
    """environ from the split REQUEST payload: a fresh dict, a copy of `base` (make_base_environ's)
    the app may change as it likes; wsgi.input is EMPTY_INPUT, the caller's to replace."""
    env = base.copy()
    env["REQUEST_METHOD"] = fields[0]
    env["wsgi.url_scheme"] = fields[1]
    env["SERVER_NAME"] = fields[2]
    env["SERVER_PORT"] = fields[3]
    env["REMOTE_ADDR"] = fields[4]
    if fields[5]:
        env["REMOTE_PORT"] = fields[5]
    else:
        # No port known (a unix-socket peer, a client a trusted proxy names): absent, as gunicorn
        # leaves it on a unix socket, not a "0" a log would print as one.
        del env["REMOTE_PORT"]
    env["SCRIPT_NAME"] = fields[6]
    env["PATH_INFO"] = fields[7]
    env["QUERY_STRING"] = fields[8]
    env["REQUEST_URI"] = fields[9]
    env["SERVER_PROTOCOL"] = fields[10]
    n = len(fields)
    if n > FIXED_FIELDS:
        pairs = iter(fields[FIXED_FIELDS:])
        env.update(zip(pairs, pairs))
        if len(env) != len(base) + (n - FIXED_FIELDS) // 2:
            _join_repeated(env, fields)
    return env


def _join_repeated(env, fields):
    # A header sent more than once: one CGI variable, values joined in order (RFC 9110
    # 5.3), cookies with "; " as RFC 6265 5.4 wants.
    seen = {}
    for i in range(FIXED_FIELDS, len(fields) - 1, 2):
        name, value = fields[i], fields[i + 1]
        if name in seen:
            seen[name] += ("; " if name == "HTTP_COOKIE" else ", ") + value
        else:
            seen[name] = value
    env.update(seen)


class Input:
    """wsgi.input: the request body, streamed from REQUEST_BODY frames as the app reads.

    read(n) returns n bytes unless the body ends first (as a buffered file does); the body
    ends at REQUEST_END, so chunked bodies need no CONTENT_LENGTH (wsgi.input_terminated).
    A client that goes away mid-body raises ClientDisconnected (an OSError).
    """

    __slots__ = ("_task", "_buf")

    def __init__(self, task):
        self._task = task
        self._buf = b""

    def read(self, size=-1):
        next_chunk = self._task.next_chunk
        buf = self._buf
        # An empty buf stays out of the join: a join of one bytes object returns it uncopied,
        # so a body read whole that came in one piece (the common POST) is never copied here.
        if size is None or size < 0:
            parts = [buf] if buf else []
            while True:
                chunk = next_chunk()
                if not chunk:
                    break
                parts.append(chunk)
            self._buf = b""
            return b"".join(parts)
        if len(buf) >= size:
            self._buf = buf[size:]
            return buf[:size]
        parts = [buf] if buf else []
        have = len(buf)
        while have < size:
            chunk = next_chunk()
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self._buf = data[size:]
        return data[:size]

    def readline(self, size=-1):
        if size is None:
            size = -1
        buf = self._buf
        start = 0
        while True:
            i = buf.find(b"\n", start)
            if i >= 0:
                end = i + 1
                break
            if 0 <= size <= len(buf):
                end = size
                break
            start = len(buf)
            chunk = self._task.next_chunk()
            if not chunk:
                end = len(buf)
                break
            buf += chunk
        if 0 <= size < end:
            end = size
        self._buf = buf[end:]
        return buf[:end]

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


__all__ = ["make_base_environ", "build_environ", "Input", "EMPTY_INPUT", "ClientDisconnected"]
