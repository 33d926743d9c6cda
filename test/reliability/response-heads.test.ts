// HTTP as the RFCs say (SPEC 5.8), the response side: what a WSGI app, an ASGI app and a process hand the
// gateway, and what the client then reads, sent raw through the real gateway on both readers
// (the lean lane, and node:http reading every request: APPPKG_LEAN_LANE=0), each answer with a
// request pipelined behind it on the same kept-alive connection. The bar: a head the app spoils
// (response splitting, a name no token, a status no server may send) is a clean 500 and the
// connection goes on; a body that disagrees with its Content-Length never frames bytes a client
// reads as the next answer; what the RFC leaves to the app (order, repeated Set-Cookie, its own
// Date) is kept. Both readers answer byte for byte alike. docs/reliability.md R6.29.
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { httpProcessServer } from '../helpers/http-process.js';

const test = suite('R6.29 reliability: response heads as the RFCs say (R6.29b: a process route\'s answers)');
const work = tempDir('apppkg-rel-response-');
const apps = join(work.path, 'apps');
const states = { lean: join(work.path, 'state-lean'), node: join(work.path, 'state-node') };
const gateways: Partial<Record<keyof typeof states, RunningGateway>> = {};

// One answer per path; /ok is what is pipelined behind each case.
const WSGI_APP = `CASES = {
    "ok": ("200 OK", [("Content-Type", "text/plain")], [b"ok"]),
    "lf": ("200 OK", [("X-A", "a\\r\\nX-Injected: 1")], [b"x"]),
    "nul": ("200 OK", [("X-A", "a\\x00b")], [b"x"]),
    "esc": ("200 OK", [("X-A", "a\\x1bb")], [b"x"]),
    "euro": ("200 OK", [("X-A", "\\u20ac")], [b"x"]),
    "latin1": ("200 OK", [("X-A", "caf\\u00e9")], [b"x"]),
    "empty-name": ("200 OK", [("", "v")], [b"x"]),
    "space-name": ("200 OK", [("X Y", "v")], [b"x"]),
    "colon-name": ("200 OK", [("X:Y", "v")], [b"x"]),
    "te-chunked": ("200 OK", [("Transfer-Encoding", "chunked")], [b"1\\r\\nx\\r\\n0\\r\\n\\r\\n"]),
    "hop": ("200 OK", [("Keep-Alive", "timeout=99"), ("Upgrade", "h2c"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-T"), ("Connection", "keep-alive, X-Private"), ("X-Private", "p"), ("X-Kept", "k")], [b"x"]),
    "conn-close": ("200 OK", [("Connection", "close")], [b"x"]),
    "cl-long": ("200 OK", [("Content-Length", "3")], [b"hello", b"world"]),
    "cl-short": ("200 OK", [("Content-Length", "10")], [b"hello"]),
    "cl-two": ("200 OK", [("Content-Length", "3"), ("Content-Length", "5")], [b"hel"]),
    "cl-nan": ("200 OK", [("Content-Length", "3x")], [b"hel"]),
    "no-reason": ("200", [], [b"x"]),
    "st-99": ("99 X", [], [b"x"]),
    "st-1000": ("1000 X", [], [b"x"]),
    "st-abc": ("abc", [], [b"x"]),
    "st-100": ("100 Continue", [], [b"x"]),
    "st-101": ("101 Switching Protocols", [("Connection", "Upgrade"), ("Upgrade", "x")], [b""]),
    "204-cl": ("204 No Content", [("Content-Length", "4")], [b"body"]),
    "304-body": ("304 Not Modified", [("ETag", '"e"')], [b"body"]),
    "head": ("200 OK", [("Content-Type", "text/plain")], [b"not for a HEAD"]),
    "order": ("200 OK", [("Set-Cookie", "a=1"), ("X-B", "b"), ("Set-Cookie", "b=2"), ("X-A", "a"), ("x-b", "b2")], [b"x"]),
    "date": ("200 OK", [("Date", "Thu, 01 Jan 1970 00:00:00 GMT")], [b"x"]),
    "date-two": ("200 OK", [("Date", "Thu, 01 Jan 1970 00:00:00 GMT"), ("X-A", "a"), ("date", "Fri, 02 Jan 1970 00:00:00 GMT")], [b"x"]),
}


def application(environ, start_response):
    case = environ["PATH_INFO"].strip("/")
    status, headers, body = CASES[case.replace("-stream", "")]
    start_response(status, headers)
    return iter(body) if case.endswith("-stream") else body
`;

const ASGI_APP = `CASES = {
    "ok": (200, [(b"content-length", b"2")], [b"ok"]),
    "lf": (200, [(b"x-a", b"a\\r\\nX-Injected: 1")], [b"x"]),
    "nul": (200, [(b"x-a", b"a\\x00b")], [b"x"]),
    "space-name": (200, [(b"x y", b"v")], [b"x"]),
    "te-chunked": (200, [(b"transfer-encoding", b"chunked"), (b"content-length", b"1")], [b"x"]),
    "hop": (200, [(b"keep-alive", b"timeout=99"), (b"upgrade", b"h2c"), (b"trailer", b"x-t"), (b"connection", b"x-private"), (b"x-private", b"p"), (b"x-kept", b"k"), (b"content-length", b"1")], [b"x"]),
    "conn-close": (200, [(b"connection", b"close")], [b"x"]),
    "cl-long": (200, [(b"content-length", b"3")], [b"hello"]),
    "cl-short": (200, [(b"content-length", b"10")], [b"hello"]),
    "cl-long-more": (200, [(b"content-length", b"3")], [b"he", b"llo"]),
    "cl-two": (200, [(b"content-length", b"3"), (b"content-length", b"5")], [b"hel"]),
    "st-99": (99, [], [b"x"]),
    "st-100": (100, [], [b"x"]),
    "st-101": (101, [], [b""]),
    "204-cl": (204, [(b"content-length", b"4")], [b"body"]),
    "head": (200, [(b"content-length", b"14")], [b"not for a HEAD"]),
    "order": (200, [(b"set-cookie", b"a=1"), (b"x-b", b"b"), (b"set-cookie", b"b=2"), (b"x-a", b"a"), (b"X-B", b"b2"), (b"content-length", b"1")], [b"x"]),
    "date": (200, [(b"date", b"Thu, 01 Jan 1970 00:00:00 GMT"), (b"content-length", b"1")], [b"x"]),
    "date-two": (200, [(b"date", b"Thu, 01 Jan 1970 00:00:00 GMT"), (b"x-a", b"a"), (b"Date", b"Fri, 02 Jan 1970 00:00:00 GMT"), (b"content-length", b"1")], [b"x"]),
}


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    status, headers, body = CASES[scope["path"].strip("/")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    for i, piece in enumerate(body):
        await send({"type": "http.response.body", "body": piece, "more_body": i < len(body) - 1})
`;

// A process that speaks HTTP itself (`platform: python, command`), its answers written as they
// are: what the gateway reads with undici and passes on.
const PROCESS_SERVER = httpProcessServer(String.raw`ANSWERS = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "304-cl": b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 4\r\n\r\n",
    "204-cl": b"HTTP/1.1 204 No Content\r\nContent-Length: 4\r\n\r\nbody",
    "204-cl0": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
    "gone": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nxx",
    "cl-two": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
    "st-1000": b"HTTP/1.1 1000 X\r\nContent-Length: 1\r\n\r\nx",
    "st-099": b"HTTP/1.1 099 X\r\nContent-Length: 1\r\n\r\nx",
    "bare-lf": b"HTTP/1.1 200 OK\r\nX-A: a\nX-Injected: 1\r\nContent-Length: 1\r\n\r\nx",
    "st-101": b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 1\r\n\r\nx",
    "st-101-upgrade": b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n",
    "st-100": b"HTTP/1.1 100 Continue\r\n\r\n",
    "st-100-200": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def serve(conn):
    with conn:
        conn.settimeout(30)
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                try:
                    more = conn.recv(65536)
                except OSError:
                    return
                if not more:
                    return
                data += more
            head, _, data = data.partition(b"\r\n\r\n")
            case = head.split(b" ")[1].decode().rsplit("/", 1)[-1]
            conn.sendall(ANSWERS.get(case, ANSWERS["ok"]))
            if case in ("gone", "st-101", "st-101-upgrade", "st-100"):
                return

`);

/** The answer to the pipelined /ok, as each app gives it. */
const OK = {
  wsgi: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok',
  asgi: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok',
  proc: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok',
};

/** The gateway's 500 for an app's broken head, on a connection that goes on. */
const FIVE_HUNDRED = 'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\nCache-Control: no-store\r\nDate: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n500 Internal Server Error\n';
const KEPT = 'Date: -\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n';

interface Case {
  /** The row of docs/reliability.md it proves, when it has one of its own. */
  id?: string;
  app: 'wsgi' | 'asgi' | 'proc';
  path: string;
  what: string;
  method?: 'GET' | 'HEAD';
  /** The first answer's bytes (Date values as `-`); then /ok's answer, unless `closes`. */
  answer: string;
  /** The connection closes after `answer`: the request behind it gets nothing. */
  closes?: boolean;
  /** Its access-log line, from `"GET ...` on. */
  logged?: string;
}

const CASES: Case[] = [
  { app: 'wsgi', path: 'lf', what: 'CR LF in a value (response splitting)', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'nul', what: 'NUL in a value', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'esc', what: 'another control character (ESC) in a value', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'euro', what: 'a value beyond latin-1 (PEP 3333)', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'latin1', what: 'a latin-1 value: its octet as it is', answer: `HTTP/1.1 200 OK\r\nX-A: caf\u00e9\r\nContent-Length: 1\r\n${KEPT}\r\nx` },
  { app: 'wsgi', path: 'empty-name', what: 'an empty name', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'space-name', what: 'a name with a space', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'colon-name', what: 'a name with a colon', answer: FIVE_HUNDRED },
  {
    app: 'wsgi', path: 'te-chunked', what: 'Transfer-Encoding: chunked and a body the app chunked itself: the header dropped, the body framed by the gateway',
    answer: `HTTP/1.1 200 OK\r\nContent-Length: 11\r\n${KEPT}\r\n1\r\nx\r\n0\r\n\r\n`,
  },
  {
    app: 'wsgi', path: 'hop', what: 'Keep-Alive, Upgrade, Proxy-Connection, TE, Trailer and Connection with the field it names: dropped',
    answer: `HTTP/1.1 200 OK\r\nX-Kept: k\r\nContent-Length: 1\r\n${KEPT}\r\nx`,
  },
  { app: 'wsgi', path: 'conn-close', what: 'Connection: close: sent, and the connection closed after it', answer: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\nDate: -\r\n\r\nx', closes: true },
  { app: 'wsgi', path: 'cl-long', what: 'a body longer than its Content-Length: the first 3 bytes, never the rest as a next answer', answer: `HTTP/1.1 200 OK\r\nContent-Length: 3\r\n${KEPT}\r\nhel` },
  { app: 'wsgi', path: 'cl-long-stream', what: 'a streamed body longer than its Content-Length', answer: `HTTP/1.1 200 OK\r\nContent-Length: 3\r\n${KEPT}\r\nhel` },
  { app: 'wsgi', path: 'cl-short', what: 'a body shorter than its Content-Length (PEP 3333): what there is, then the close', answer: `HTTP/1.1 200 OK\r\nContent-Length: 10\r\n${KEPT}\r\nhello`, closes: true },
  { app: 'wsgi', path: 'cl-two', what: 'two Content-Lengths that differ', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'cl-nan', what: 'a Content-Length that is no number', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'no-reason', what: '"200" without a reason: the standard one', answer: `HTTP/1.1 200 OK\r\nContent-Length: 1\r\n${KEPT}\r\nx` },
  { app: 'wsgi', path: 'st-99', what: 'status 99', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'st-1000', what: 'status 1000', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'st-abc', what: 'status "abc"', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'st-100', what: 'a 1xx from WSGI', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: 'st-101', what: '101 with no upgrade', answer: FIVE_HUNDRED },
  { app: 'wsgi', path: '204-cl', what: '204 with a Content-Length and a body: neither sent (RFC 9110 §8.6, §15.3.5)', answer: `HTTP/1.1 204 No Content\r\n${KEPT}\r\n` },
  { app: 'wsgi', path: '304-body', what: '304 with a body: none sent', answer: `HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n${KEPT}\r\n` },
  { app: 'wsgi', path: 'head', method: 'HEAD', what: 'HEAD with a body: the head alone, with its GET\'s length', answer: `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n${KEPT}\r\n` },
  {
    app: 'wsgi', path: 'order', what: 'Set-Cookie twice and the fields\' order: kept, each Set-Cookie on its own line',
    answer: `HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-B: b\r\nSet-Cookie: b=2\r\nX-A: a\r\nx-b: b2\r\nContent-Length: 1\r\n${KEPT}\r\nx`,
  },
  { app: 'wsgi', path: 'date', what: 'the app\'s own Date: kept, no second one', answer: 'HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nContent-Length: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nx' },
  // RFC 9110 §6.6.1: one Date. The first is kept, as in ASGI; asked twice, the second from the shim's kept heads.
  ...[1, 2].map((n): Case => ({ app: 'wsgi', path: 'date-two', what: `two Dates: the first alone (both went out), asked ${n === 1 ? 'once' : 'again'}`, answer: 'HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-A: a\r\nContent-Length: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nx' })),
  { app: 'asgi', path: 'lf', what: 'CR LF in a value (response splitting)', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'nul', what: 'NUL in a value', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'space-name', what: 'a name with a space', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'te-chunked', what: 'Transfer-Encoding beside a Content-Length: dropped', answer: `HTTP/1.1 200 OK\r\ncontent-length: 1\r\n${KEPT}\r\nx` },
  { app: 'asgi', path: 'hop', what: 'Keep-Alive, Upgrade, Trailer and Connection with the field it names: dropped', answer: `HTTP/1.1 200 OK\r\nx-kept: k\r\ncontent-length: 1\r\n${KEPT}\r\nx` },
  { app: 'asgi', path: 'conn-close', what: 'connection: close', answer: 'HTTP/1.1 200 OK\r\nconnection: close\r\nDate: -\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', closes: true },
  { app: 'asgi', path: 'cl-long', what: 'one body longer than its Content-Length (uvicorn\'s error)', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'cl-short', what: 'one body shorter than its Content-Length', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'cl-long-more', what: 'a body in parts that outgrows its Content-Length: cut after what fits', answer: `HTTP/1.1 200 OK\r\ncontent-length: 3\r\n${KEPT}\r\nhe`, closes: true },
  { app: 'asgi', path: 'cl-two', what: 'two Content-Lengths that differ', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'st-99', what: 'status 99', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'st-100', what: 'a 1xx', answer: FIVE_HUNDRED },
  { app: 'asgi', path: 'st-101', what: '101 with no upgrade', answer: FIVE_HUNDRED },
  { app: 'asgi', path: '204-cl', what: '204 with a Content-Length and a body: neither sent', answer: `HTTP/1.1 204 No Content\r\n${KEPT}\r\n` },
  { app: 'asgi', path: 'head', method: 'HEAD', what: 'HEAD with a body: the head alone', answer: `HTTP/1.1 200 OK\r\ncontent-length: 14\r\n${KEPT}\r\n` },
  {
    app: 'asgi', path: 'order', what: 'Set-Cookie twice and the fields\' order: kept',
    answer: `HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nx-b: b\r\nset-cookie: b=2\r\nx-a: a\r\nX-B: b2\r\ncontent-length: 1\r\n${KEPT}\r\nx`,
  },
  { app: 'asgi', path: 'date', what: 'the app\'s own Date: kept, no second one', answer: 'HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\ncontent-length: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nx' },
  ...[1, 2].map((n): Case => ({ app: 'asgi', path: 'date-two', what: `two Dates: the first alone, as WSGI, asked ${n === 1 ? 'once' : 'again'}`, answer: 'HTTP/1.1 200 OK\r\ndate: Thu, 01 Jan 1970 00:00:00 GMT\r\nx-a: a\r\ncontent-length: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nx' })),
  {
    id: 'R6.29b', app: 'proc', path: '304-cl', what: 'a process\'s 304 with its GET\'s Content-Length (RFC 9110 §8.6 allows it): passed on, the connection going on (undici counted the body a 304 never has, and the client\'s connection was cut before any byte, logged 499)',
    answer: `HTTP/1.1 304 Not Modified\r\nETag: "e"\r\nContent-Length: 4\r\n${KEPT}\r\n`,
  },
  { id: 'R6.29b', app: 'proc', path: '204-cl', what: 'a process\'s 204 with a Content-Length and a body: neither sent (it was cut, as the 304)', answer: `HTTP/1.1 204 No Content\r\n${KEPT}\r\n` },
  {
    id: 'R6.29b', app: 'proc', path: 'gone', what: 'a process that goes away mid-body: the client\'s connection cut after what came, logged with the status that went out and its bytes (it was logged 499, as if the client had left)',
    answer: `HTTP/1.1 200 OK\r\nContent-Length: 10\r\n${KEPT}\r\nxx`, closes: true, logged: '"GET /proc/gone HTTP/1.1" 200 2 ',
  },
  {
    id: 'R6.29b', app: 'proc', path: 'cl-two', what: 'a process\'s two Content-Lengths that differ: 502 saying so, nothing of it passed on (it said the process went away)',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 99\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent a response whose Content-Length does not frame its body\n`,
  },
  {
    id: 'R6.29b', app: 'proc', path: 'st-1000', what: 'a process\'s status of 4 digits: 502 saying so (it said the process went away before it answered)',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 101\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent a response that is not HTTP/1.1 (Invalid response status)\n`,
  },
  {
    id: 'R6.29b', app: 'proc', path: 'st-099', what: 'a process\'s status below 100 (3 digits, so llhttp takes it; undici passes it on as a 1xx, then fails on an assert of its own): 502 saying so (it said the process went away before it answered)',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 101\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent a response that is not HTTP/1.1 (a status below 100: 099)\n`,
  },
  {
    id: 'R6.29b', app: 'proc', path: 'bare-lf', what: 'a process\'s head with a bare LF in it (response splitting): 502 saying so, nothing of it passed on',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 116\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent a response that is not HTTP/1.1 (Missing expected CR after header value)\n`,
  },
  {
    id: 'R6.29b', app: 'proc', path: 'st-101', what: 'a process\'s 101 to a request that asked for no upgrade, with no Upgrade field: 502 saying so (it said the process went away before it answered)',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 106\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent 101 Switching Protocols to a request that asked for no upgrade\n`,
  },
  {
    id: 'R6.29b', app: 'proc', path: 'st-101-upgrade', what: 'a process\'s 101 with an Upgrade field to a request that asked for none: the same 502',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 106\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent 101 Switching Protocols to a request that asked for no upgrade\n`,
  },
  {
    id: 'R6.30', app: 'proc', path: 'st-100', what: 'a process\'s bare 100 Continue as its final answer, then its close: 502 saying so, the connection going on (a 100 then silence is a 504 at the app\'s timeout: process-answers.test.ts)',
    answer: `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 81\r\nCache-Control: no-store\r\n${KEPT}\r\n502 Bad Gateway\nprocesses.web of proc sent 100 Continue and then no final answer\n`,
  },
  {
    id: 'R6.30', app: 'proc', path: 'st-100-200', what: 'a process\'s 100 Continue before a final answer: the final answer, the 100 not passed on (RFC 9110 §15.2: it was a 502, undici refusing any 100; interim-answers.ts)',
    answer: `HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${KEPT}\r\nok`,
  },
  { id: 'R6.29b', app: 'proc', path: '204-cl0', what: 'a process\'s 204 with Content-Length: 0: no Content-Length (RFC 9110 §8.6: none in a 204)', answer: `HTTP/1.1 204 No Content\r\n${KEPT}\r\n` },
];

test.before(async () => {
  writePackage(apps, 'wsgi', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': WSGI_APP });
  writePackage(apps, 'asgi', { 'app.yaml': 'platform: python, asgi\napp: app:app\n', 'app.py': ASGI_APP });
  writePackage(apps, 'proc', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\n', 'server.py': PROCESS_SERVER });
  const start = (state: string, lane: string): Promise<RunningGateway> =>
    startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, ...oneWorkerEach(work.path)], { env: { APPPKG_LEAN_LANE: lane }, ms: 60_000 });
  const [lean, node] = await Promise.allSettled([start(states.lean, '1'), start(states.node, '0')]);
  if (lean.status === 'fulfilled') gateways.lean = lean.value;
  if (node.status === 'fulfilled') gateways.node = node.value;
  for (const started of [lean, node]) if (started.status === 'rejected') throw started.reason;
});

test.after(async () => {
  await Promise.all(Object.values(gateways).map((gw) => gw.stop()));
  work.remove();
});

/** One connection: the case's request and /ok pipelined behind it, in one write; what came back once /ok is answered, or the gateway closed. */
async function exchange(gw: RunningGateway, c: Case): Promise<string> {
  const socket = net.connect(Number(new URL(gw.url).port), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(`${c.method ?? 'GET'} /${c.app}/${c.path} HTTP/1.1\r\nHost: x\r\n\r\nGET /${c.app}/ok HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => seen.closed || seen.got.endsWith('\r\n\r\nok'), 10_000, () => `/ok answered or the close, got ${JSON.stringify(seen.got)}`);
    return seen.got.replace(/\r\nDate: (?!Thu, 01 Jan 1970)[^\r]*/g, '\r\nDate: -');
  } finally {
    socket.destroy();
  }
}

for (const c of CASES) {
  test(`${c.id === undefined ? '' : `${c.id} `}${c.app} ${c.path}: ${c.what}`, async () => {
    const expected = c.closes ? c.answer : c.answer + OK[c.app];
    for (const reader of ['lean', 'node'] as const) {
      const got = await exchange(gateways[reader]!, c);
      assert.is(got, expected, `${reader === 'lean' ? 'the lean lane' : 'node:http'}: ${JSON.stringify(got)}`);
      const { logged } = c;
      if (logged !== undefined) {
        const gw = gateways[reader]!;
        await waitFor(() => gw.output().includes(logged), 5000, () => `${reader}: the access-log line ${logged} in ${gw.output().split('\n').filter((l) => l.includes(`/${c.app}/${c.path} `)).join('\n')}`);
      }
    }
  });
}

/** The lines of `app`'s log (under `reader`'s gateway). */
function appLogLines(reader: keyof typeof states, app: string): string[] {
  const file = join(states[reader], 'apps', app, 'log', 'app.log');
  return (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n');
}

/** Lines of `app`'s log (under `reader`'s gateway) that say it dropped `name`. */
function droppedLines(reader: keyof typeof states, app: string, name: string): string[] {
  return appLogLines(reader, app).filter((line) => line.includes(`: the response header ${name}: `));
}

test('a hop-by-hop header the app gives is dropped and said once in its log, with why and the fix', async () => {
  for (const reader of ['lean', 'node'] as const) {
    for (const app of ['wsgi', 'asgi'] as const) {
      // Asked again: the line is said once per name, not per answer.
      await exchange(gateways[reader]!, { app, path: 'te-chunked', what: '', answer: '' });
      const name = app === 'wsgi' ? 'Transfer-Encoding' : 'transfer-encoding';
      const lines = await waitFor(() => (droppedLines(reader, app, name).length > 0 ? droppedLines(reader, app, name) : null), 5000, `${app}'s log to say it dropped ${name}`);
      assert.is(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], new RegExp(`app:(application|app) \\(${app}\\): the response header ${name}: chunked was dropped, as every ${name} the app gives will be \\(said once\\): hop-by-hop headers are the server's \\(RFC 9110 7\\.6\\.1; PEP 3333 forbids them a WSGI app\\); the gateway frames the body itself .*chunk-size lines .*; remove it from the app's headers`));
      const keepAlive = droppedLines(reader, app, app === 'wsgi' ? 'Keep-Alive' : 'keep-alive');
      assert.is(keepAlive.length, 1, `Keep-Alive said once too: ${keepAlive.join('\n')}`);
      assert.not.match(keepAlive[0], /chunk-size/, 'the framing hint is Transfer-Encoding\'s alone');
    }
  }
});

/** What a process's invalid answer of each kind says in the app's log: its case paths, and the line's words from its 502 on. */
const INVALID_ANSWERS: Array<{ paths: string[]; line: RegExp }> = [
  { paths: ['st-1000', 'bare-lf', 'st-099'], line: /\[apppkg-gateway\] processes\.web of proc answered GET \/proc\/(st-1000|bare-lf|st-099): it sent a response that is not HTTP\/1\.1 \((Invalid response status|Missing expected CR after header value|a status below 100: 099)\), so the client got 502 Bad Gateway, as will any such answer of this process \(said once\); fix: .*status line/ },
  { paths: ['cl-two'], line: /\[apppkg-gateway\] processes\.web of proc answered GET \/proc\/cl-two: it sent a response whose Content-Length does not frame its body \(two that differ, or one beside Transfer-Encoding: RFC 9112 6\.3\), so the client got 502 Bad Gateway, as will any such answer of this process \(said once\); fix: one Content-Length/ },
  { paths: ['st-101', 'st-101-upgrade'], line: /\[apppkg-gateway\] processes\.web of proc answered GET \/proc\/st-101(-upgrade)?: it sent 101 Switching Protocols to a request that asked for no upgrade \(RFC 9110 15\.2\.2\), so the client got 502 Bad Gateway, as will any such answer of this process \(said once\); fix: answer 101 only to a request with Upgrade/ },
  { paths: ['st-100'], line: /\[apppkg-gateway\] processes\.web of proc answered GET \/proc\/st-100: it sent 100 Continue and then no final answer \(a 1xx is interim: a final status must follow it, RFC 9110 15\.2\), so the client got 502 Bad Gateway, as will any such answer of this process \(said once\); fix: send a final answer after any 1xx/ },
];

test('R6.29b a process\'s invalid answer (a head not HTTP/1.1, two Content-Lengths, a 101 unasked, a 100 with no final answer) is said in the app\'s log once per kind, with why and the fix (it was said only in the 502 and the access log)', async () => {
  for (const reader of ['lean', 'node'] as const) {
    for (const { paths, line } of INVALID_ANSWERS) {
      // Asked again: the line is said once per kind of this process, not per answer.
      for (const path of paths) await exchange(gateways[reader]!, { app: 'proc', path, what: '', answer: '' });
      const said = (): string[] => appLogLines(reader, 'proc').filter((l) => paths.some((p) => l.includes(` answered GET /proc/${p}:`)));
      const lines = await waitFor(() => (said().length > 0 ? said() : null), 5000, () => `${reader}: proc's log to say ${paths.join(', ')} were refused; it has ${JSON.stringify(appLogLines(reader, 'proc').slice(-5))}`);
      assert.is(lines.length, 1, `${reader}: ${lines.join('\n')}`);
      assert.match(lines[0], line, `${reader}: ${lines[0]}`);
    }
  }
});

test.run();
