// HTTP as the RFCs say (SPEC 5.8; docs/reliability.md R6): request heads where Node's parser
// and RFC 9112/9110 part ways, each case with the section it follows, sent raw through the real
// gateway. The bar: none reaches an app in a form the RFC forbids, and every valid one reaches
// it unchanged (or as the RFC says it must be read). The app echoes what it was given.
import { connect } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';
import { rawRequest, recorded, spacedOut, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: HTTP as the RFCs say');
const apps = tempDir('apppkg-rel-rfc-apps-');
const state = tempDir('apppkg-rel-rfc-state-');
let gw: RunningGateway;
let port = 0;

interface Case {
  id: string;
  rfc: string;
  what: string;
  request: string;
  /** The status line's code. */
  status: number;
  /** For a request the app must get: what its environ holds. */
  seen?: Record<string, string>;
  /** Variables that must not be in its environ. */
  absent?: string[];
  /** A refusal closes the connection. */
  closed?: boolean;
  /** The answer carries a Date (RFC 9110 §6.6.1), the parser's refusals too. */
  dated?: boolean;
  /** What a refusal's body says. */
  says?: RegExp;
  /** What the answer's head must not have. */
  notInHead?: RegExp;
  /** What it must have. */
  inHead?: RegExp;
  /** The whole body of an answer the app gave. */
  bodyIs?: string;
}

/** More fields than node:http keeps by default (it dropped those past its 2000th name and value). */
const MANY_FIELDS = Array.from({ length: 1200 }, (_, i) => `X-F${i}: v\r\n`).join('');

/** A refusal's body for Content-Length with Transfer-Encoding, in either order (llhttp names it by the second). */
const CL_WITH_TE = /^400 Bad Request\nContent-Length with Transfer-Encoding: the body's framing is ambiguous/;

const CASES: Case[] = [
  {
    id: 'R6.1', rfc: 'RFC 9112 §3.2.2', what: 'absolute-form target: accepted, the host taken from it, the Host header ignored',
    request: 'GET http://rfc.localhost/echo?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'rfc.localhost', SCRIPT_NAME: '', PATH_INFO: '/echo', QUERY_STRING: 'x=1' },
  },
  {
    id: 'R6.2', rfc: 'RFC 9112 §3.2.2', what: 'absolute-form target under the app\'s mount, no path after the authority',
    request: 'GET http://127.0.0.1:1/rfc HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 200, seen: { HTTP_HOST: '127.0.0.1:1', SCRIPT_NAME: '/rfc', PATH_INFO: '' },
  },
  {
    id: 'R6.3', rfc: 'RFC 9110 §4.2.4', what: 'absolute-form with userinfo (deprecated, a phishing vector)',
    request: 'GET http://user@rfc.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's authority has userinfo \(user@host\), which an http URI may not carry \(RFC 9110 [^)]*4\.2\.4\): send the host alone \(http:\/\/host\/path\) and any credentials in an Authorization header\n$/,
  },
  {
    id: 'R6.3b', rfc: 'RFC 9110 §4.2.4', what: 'userinfo with a password: refused, the password not repeated in the answer',
    request: 'GET http://user:s3cret@rfc.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^(?![\s\S]*s3cret)400 Bad Request\nthe target's authority has userinfo/,
  },
  {
    id: 'R6.1b', rfc: 'RFC 3986 §6.2.2.2', what: 'absolute-form with percent-encoded unreserved octets in its host (`rfc%2Elocalhost`): the same host as `rfc.localhost` (RFC 9110 §4.2.3), routed by it and given to the app decoded',
    request: 'GET http://rf%63%2elocalhost/echo?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'rfc.localhost', SCRIPT_NAME: '', PATH_INFO: '/echo', QUERY_STRING: 'x=1' },
  },
  {
    id: 'R6.1c', rfc: 'RFC 3986 §3.2.2', what: 'absolute-form with other percent-encoded octets in its host (UTF-8): 400 saying what to send, as nginx refuses any',
    request: 'GET http://caf%C3%A9.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's host has percent-encoded octets other than letters, digits and `-._~` \(RFC 3986 [^)]*3\.2\.2\): send the host name unencoded \(http:\/\/host\/path\), a name beyond ASCII in its IDNA form \(xn--\.\.\.\)\n$/,
  },
  {
    id: 'R6.1d', rfc: 'RFC 3986 §3.2.2', what: 'the same for an encoded `:` (no part of a name: the port is no host)',
    request: 'GET http://rfc.localhost%3A80/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's host has percent-encoded octets other than/,
  },
  {
    id: 'R6.1e', rfc: 'RFC 3986 §2.1', what: 'a `%` that begins no escape in the host',
    request: 'GET http://rfc%.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's host has percent-encoded octets other than/,
  },
  {
    id: 'R6.1f', rfc: 'RFC 9110 §4.2.1', what: 'absolute-form with an empty host and a port (`http://:80/rfc/echo`): refused as `http:///` is, not routed by its path',
    request: 'GET http://:80/rfc/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's host is empty \(RFC 9110 [^)]*4\.2\.1: an http URI must name one\): send http:\/\/host\/path, or the path alone with a Host header\n$/,
  },
  {
    id: 'R6.1h', rfc: 'RFC 3986 §6.2.3', what: 'absolute-form with an empty port (`http://rfc.localhost:/echo`): the same as none, the app\'s Host without the colon',
    request: 'GET http://rfc.localhost:/echo HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'rfc.localhost', HTTP_X_FORWARDED_HOST: 'rfc.localhost', SERVER_NAME: '127.0.0.1', PATH_INFO: '/echo' },
  },
  {
    id: 'R6.1i', rfc: 'RFC 3986 §6.2.3', what: 'the same for an IP literal (`http://[::1]:/rfc/echo`)',
    request: 'GET http://[::1]:/rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 200, seen: { HTTP_HOST: '[::1]', SCRIPT_NAME: '/rfc', PATH_INFO: '/echo' },
  },
  {
    id: 'R6.1j', rfc: 'RFC 3986 §6.2.3', what: 'origin-form with `Host: x:` (an empty port), a plain head (the lean lane): the app\'s Host is `x`',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x:\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', HTTP_X_FORWARDED_HOST: 'x', SCRIPT_NAME: '/rfc', PATH_INFO: '/echo' },
  },
  {
    id: 'R6.1k', rfc: 'RFC 3986 §6.2.3', what: 'the same where node:http reads the head (a field repeated): `x` too',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x:\r\nAccept: a\r\nAccept: b\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', HTTP_X_FORWARDED_HOST: 'x', HTTP_ACCEPT: 'a, b', PATH_INFO: '/echo' },
  },
  {
    id: 'R6.1g', rfc: 'RFC 9110 §4.2.1', what: 'absolute-form with an empty authority (`http:///rfc/echo`): the same words',
    request: 'GET http:///rfc/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's host is empty \(RFC 9110 [^)]*4\.2\.1/,
  },
  {
    // The target URI is made from Host (RFC 9112 §3.3): `http://:80/rfc/echo`, refused in
    // absolute-form (R6.1f). It reached the app with HTTP_HOST `:80`. nginx 400s it too.
    id: 'R6.1m', rfc: 'RFC 9110 §4.2.1, RFC 9112 §3.3', what: 'origin-form with `Host: :80` (a port, no host), a plain head (the lean lane): refused as `http://:80/` is',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: :80\r\n\r\n', status: 400, closed: true, dated: true,
    says: /^400 Bad Request\nthe Host header's host is empty \(RFC 9110 [^)]*4\.2\.1: an http URI must name one\): send Host: host or host:port\n$/,
  },
  {
    id: 'R6.1n', rfc: 'RFC 9110 §4.2.1, RFC 9112 §3.3', what: 'the same where node:http reads the head (a field repeated)',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: :80\r\nAccept: a\r\nAccept: b\r\n\r\n', status: 400, closed: true, dated: true,
    says: /^400 Bad Request\nthe Host header's host is empty \(RFC 9110 [^)]*4\.2\.1: an http URI must name one\): send Host: host or host:port\n$/,
  },
  {
    // `:` is not the empty Host (which RFC 9112 §3.3 lets the server fill with its own name):
    // its authority is `:`, with an empty host, whose empty port R6.1j would drop.
    id: 'R6.1o', rfc: 'RFC 9110 §4.2.1', what: '`Host: :` (no host, an empty port): the same words, not served as an empty Host',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: :\r\n\r\n', status: 400, closed: true, says: /^400 Bad Request\nthe Host header's host is empty/,
  },
  {
    // As nginx: the Host of an absolute-form request is ignored for routing (RFC 9112 §3.2.2),
    // not for its validity (RFC 9112 §3.2: a 400 to an invalid one); HTTP/1.0's too.
    id: 'R6.1p', rfc: 'RFC 9112 §3.2', what: '`Host: :80` with an absolute-form target (node:http reads it): the same 400',
    request: 'GET http://rfc.localhost/echo HTTP/1.1\r\nHost: :80\r\n\r\n', status: 400, closed: true, says: /^400 Bad Request\nthe Host header's host is empty/,
  },
  {
    id: 'R6.1q', rfc: 'RFC 9112 §3.2', what: 'the same in HTTP/1.0 (Host optional there, but one sent is judged)',
    request: 'GET /rfc/echo HTTP/1.0\r\nHost: :80\r\n\r\n', status: 400, closed: true, says: /^400 Bad Request\nthe Host header's host is empty/,
  },
  {
    // RFC 9112 §3.3: with an empty Host the target URI's authority is the server's own name.
    id: 'R6.1r', rfc: 'RFC 9112 §3.3', what: 'an empty Host: served, SERVER_NAME the address the client reached (nginx refuses it)',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: \r\n\r\n', status: 200, seen: { HTTP_HOST: '', SERVER_NAME: '127.0.0.1', PATH_INFO: '/echo' },
  },
  {
    id: 'R6.3c', rfc: 'RFC 9112 §3.2.2', what: 'absolute-form of a scheme not served (`ftp://`): 400 naming the scheme and what to send, not that the target is no path',
    request: 'GET ftp://rfc.localhost/echo HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nthe target's scheme is ftp: this gateway serves http and https; send the path \(GET \/path, with a Host header\) or http:\/\/host\/path\n$/,
  },
  {
    id: 'R6.4', rfc: 'RFC 9112 §6.1', what: 'Transfer-Encoding in an HTTP/1.0 request: framing faulty',
    request: 'POST /rfc/echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', status: 400, closed: true,
    says: /^400 Bad Request\nTransfer-Encoding in an HTTP\/1\.0 request: its framing cannot be trusted \(RFC 9112 §6\.1\); send the request as HTTP\/1\.1, or its body with Content-Length\n$/,
  },
  {
    id: 'R6.4b', rfc: 'RFC 9112 §6.1', what: 'a Transfer-Encoding whose last coding is not chunked: 400 with what to send',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\nabc', status: 400, closed: true,
    says: /^400 Bad Request\nTransfer-Encoding must end with chunked \(RFC 9112 §6\.1\): send the body chunked, or with Content-Length alone\n$/,
  },
  {
    id: 'R6.4c', rfc: 'RFC 9110 §8.6', what: 'a Content-Length that is not digits alone (`+3`): 400 with what to send',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', status: 400, closed: true,
    says: /^400 Bad Request\nthe Content-Length header is not a number: send the body's length in decimal digits alone \(Content-Length: 5\)\n$/,
  },
  {
    id: 'R6.5', rfc: 'RFC 9110 §5.3, §8.3', what: 'two Content-Type lines (a singleton field)',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', status: 400, closed: true,
  },
  {
    id: 'R6.6', rfc: 'RFC 9110 §5.3, §11.6.2', what: 'two Authorization lines',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\n\r\n', status: 400, closed: true,
  },
  {
    id: 'R6.5b', rfc: 'RFC 9110 §5.3', what: 'two identical Content-Type lines: nothing conflicts, served (as nginx and gunicorn), the value once',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
    status: 200, seen: { CONTENT_TYPE: 'application/json', body: '{}' },
  },
  {
    id: 'R6.5c', rfc: 'RFC 9110 §5.3', what: 'a doubled User-Agent, Referer and If-Modified-Since, each line repeated exactly: served, each value once',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nUser-Agent: ua/1\r\nReferer: http://r/\r\nUser-Agent: ua/1\r\n'
      + 'If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\nReferer: http://r/\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n',
    status: 200, seen: { HTTP_USER_AGENT: 'ua/1', HTTP_REFERER: 'http://r/', HTTP_IF_MODIFIED_SINCE: 'Sun, 06 Nov 1994 08:49:37 GMT' },
  },
  {
    id: 'R6.5d', rfc: 'RFC 9110 §5.3', what: 'two User-Agent lines that differ: which one was meant is a guess',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nUser-Agent: a\r\nUser-Agent: b\r\n\r\n', status: 400, closed: true, says: /User-Agent.*different values/,
  },
  {
    id: 'R6.5e', rfc: 'RFC 9112 §3.2', what: 'Host repeated, even identically: refused, it routes the request',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}', status: 400, closed: true,
    says: /^400 Bad Request\nmore than one Host header \(RFC 9112 §3\.2\): send it once\n$/,
  },
  {
    id: 'R6.5f', rfc: 'RFC 9110 §6.6.1', what: 'two Date lines that differ: a singleton too',
    request: 'PUT /rfc/echo HTTP/1.1\r\nHost: x\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\n\r\n{}',
    status: 400, closed: true, says: /more than one Date header, with different values/,
  },
  {
    id: 'R6.5g', rfc: 'RFC 9110 §14.4', what: 'two Content-Range lines that differ',
    request: 'PUT /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Range: bytes 0-1/4\r\nContent-Range: bytes 2-3/4\r\nContent-Length: 2\r\n\r\n{}',
    status: 400, closed: true, says: /more than one Content-Range header/,
  },
  {
    id: 'R6.5h', rfc: 'RFC 6454 §7.3', what: 'two Origin lines that differ: a CSRF check would be given "a, b", or whichever one its framework picks',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nOrigin: https://x\r\nOrigin: https://evil.example\r\nContent-Length: 2\r\n\r\n{}',
    status: 400, closed: true, says: /more than one Origin header, with different values/,
  },
  {
    id: 'R6.5i', rfc: 'RFC 6454 §7.3', what: 'an Origin line repeated exactly: served, the value once',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nOrigin: https://x\r\nOrigin: https://x\r\nContent-Length: 2\r\n\r\n{}',
    status: 200, seen: { HTTP_ORIGIN: 'https://x', body: '{}' },
  },
  {
    id: 'R6.7', rfc: 'RFC 9110 §5.3', what: 'a list field on two lines: combined with ", " in order',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nAccept: application/json;q=0.9\r\n\r\n',
    status: 200, seen: { HTTP_ACCEPT: 'text/html, application/json;q=0.9' },
  },
  {
    id: 'R6.8', rfc: 'PEP 3333, SPEC 5.8', what: 'raw octets >= 0x80 in the target: the app gets them as latin-1 chars, not a 400',
    request: 'GET /rfc/caf\xe9/\xc3\xa9?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 200, seen: { SCRIPT_NAME: '/rfc', PATH_INFO: '/caf\u00e9/\u00c3\u00a9', QUERY_STRING: 'q=\u00ff', REQUEST_URI: '/rfc/caf\u00e9/\u00c3\u00a9?q=\u00ff' },
  },
  {
    id: 'R6.8b', rfc: 'PEP 3333, SPEC 5.8', what: 'the same in a request node:http reads (HTTP/1.0 with a field sent twice, where Node\'s parser alone refuses them)',
    request: 'GET /rfc/caf\xe9?q=\xff HTTP/1.0\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\n',
    status: 200, seen: { PATH_INFO: '/caf\u00e9', QUERY_STRING: 'q=\u00ff', REQUEST_URI: '/rfc/caf\u00e9?q=\u00ff', SERVER_PROTOCOL: 'HTTP/1.0' },
  },
  {
    id: 'R6.8c', rfc: 'PEP 3333, SPEC 5.8', what: 'the same in absolute-form, with a chunked body (node:http reads it)',
    request: 'POST http://x/rfc/\xe9 HTTP/1.1\r\nHost: y\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\xe9\xe9\xe9\r\n0\r\n\r\n',
    status: 200, seen: { PATH_INFO: '/\u00e9', REQUEST_URI: '/rfc/\u00e9', HTTP_HOST: 'x', body: '\u00e9\u00e9\u00e9' },
  },
  {
    id: 'R6.9', rfc: 'RFC 3986 §2.1, PEP 3333', what: 'percent-encoded UTF-8 in the path: decoded to its bytes, one latin-1 char each',
    request: 'GET /rfc/caf%C3%A9 HTTP/1.1\r\nHost: x\r\n\r\n', status: 200, seen: { PATH_INFO: '/caf\u00c3\u00a9' },
  },
  {
    id: 'R6.10', rfc: 'RFC 9112 §7.1.2', what: 'a chunked trailer field: the body intact, the trailer discarded (WSGI has no trailers), never merged into the head',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', body: 'abc' }, absent: ['HTTP_X_CHECKSUM'],
  },
  {
    id: 'R6.13', rfc: 'RFC 9110 §6.5.1', what: 'fields forbidden in a trailer (Content-Length, Transfer-Encoding, Host): dropped, the request served (as nginx), never read as a head',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', body: 'abc' }, absent: ['CONTENT_LENGTH'],
  },
  {
    id: 'R6.13b', rfc: 'RFC 9110 §6.5.1', what: 'the same where node:http reads the request (absolute-form), whose parser refuses such a trailer: served alike',
    request: 'POST http://x/rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n\r\n',
    status: 200, seen: { HTTP_HOST: 'x', body: 'abc' }, absent: ['CONTENT_LENGTH'],
  },
  {
    id: 'R6.14', rfc: 'RFC 9110 §5', what: 'a head of 1200 small fields and a chunked body: every field reaches the app, none dropped',
    request: `POST /rfc/echo HTTP/1.1\r\nHost: x\r\n${MANY_FIELDS}X-Last: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
    status: 200, seen: { HTTP_X_F1199: 'v', HTTP_X_LAST: '1', body: 'abc' },
  },
  {
    id: 'R6.14b', rfc: 'RFC 9110 §5, §8.6', what: 'the same in HTTP/1.0 with Content-Length last, read by node:http (a field sent twice): the app is told the length',
    request: `POST /rfc/echo HTTP/1.0\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n${MANY_FIELDS}Content-Length: 3\r\n\r\nabc`,
    status: 200, seen: { CONTENT_LENGTH: '3', body: 'abc' },
  },
  {
    id: 'R6.18', rfc: 'RFC 9112 §3.2', what: 'an HTTP/1.1 request without Host: 400 with its reason (node:http\'s own answer had none, and no access-log line)',
    request: 'GET /rfc/echo HTTP/1.1\r\nAccept: */*\r\n\r\n', status: 400, closed: true, says: /without a Host header/,
  },
  {
    id: 'R6.18b', rfc: 'RFC 9112 §3.2', what: 'the same in absolute-form (it names the host, but Host is still required)',
    request: 'GET http://rfc.localhost/echo HTTP/1.1\r\nAccept: */*\r\n\r\n', status: 400, closed: true, says: /without a Host header/,
  },
  {
    id: 'R6.19', rfc: 'RFC 9112 §3.2, RFC 3986 §3.5', what: 'a #fragment in the target (no part of a request target): dropped, as nginx, gunicorn and uvicorn do',
    request: 'GET /rfc/echo#frag?q=1 HTTP/1.1\r\nHost: x\r\n\r\n', status: 200, seen: { PATH_INFO: '/echo', QUERY_STRING: '', REQUEST_URI: '/rfc/echo' },
  },
  {
    id: 'R6.19b', rfc: 'RFC 9112 §3.2', what: 'the same in an absolute-form target',
    request: 'GET http://rfc.localhost/echo#frag HTTP/1.1\r\nHost: rfc.localhost\r\n\r\n', status: 200, seen: { PATH_INFO: '/echo', HTTP_HOST: 'rfc.localhost' },
  },
  {
    id: 'R6.20', rfc: 'RFC 9110 §10.1.1, §15.2', what: 'Expect: 100-continue in HTTP/1.0: ignored, no 1xx to an HTTP/1.0 client (it would read it as the answer)',
    request: 'POST /rfc/echo HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello', status: 200, seen: { body: 'hello' },
  },
  {
    id: 'R6.20c', rfc: 'RFC 9110 §10.1.1', what: 'an expectation other than 100-continue: the gateway\'s 417, framed and dated as its other answers, saying why (node:http\'s own was chunked, bare and unlogged)',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello', status: 417, dated: true,
    inHead: /^HTTP\/1\.1 417 Expectation Failed\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Length: \d+\r\nCache-Control: no-store\r\n/, notInHead: /transfer-encoding/i,
    says: /^417 Expectation Failed\nthe expectation `foo` cannot be met: the gateway knows 100-continue only/,
  },
  {
    id: 'R6.20d', rfc: 'RFC 9110 §5.6.1, §10.1.1', what: 'an empty Expect (a list of no expectation): nothing fails, the app\'s (node:http answered 417)',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nExpect: \r\n\r\n', status: 200, seen: { HTTP_EXPECT: '' },
  },
  {
    id: 'R6.21', rfc: 'RFC 9110 §8.6', what: 'a 204 with the app\'s Content-Length: the field dropped (no body, nothing to measure)',
    request: 'GET /rfc/204 HTTP/1.1\r\nHost: x\r\n\r\n', status: 204, notInHead: /content-length/i,
  },
  {
    id: 'R6.23', rfc: 'RFC 9110 §15.3.6', what: 'a 205 with the app\'s body and Content-Length: the body dropped, Content-Length: 0 (a client reads a 205 by its framing)',
    request: 'GET /rfc/205 HTTP/1.1\r\nHost: x\r\n\r\n', status: 205, inHead: /\r\nContent-Length: 0\r\n/i, bodyIs: '',
  },
  {
    id: 'R6.23b', rfc: 'RFC 9110 §15.3.6', what: 'the same with a body streamed without a length: no chunked framing, Content-Length: 0',
    request: 'GET /rfc/205-streamed HTTP/1.1\r\nHost: x\r\n\r\n', status: 205, inHead: /\r\nContent-Length: 0\r\n/i, notInHead: /transfer-encoding/i, bodyIs: '',
  },
  {
    id: 'R6.22', rfc: 'RFC 9110 §9.1', what: 'a method node:http does not know (FOO): the app\'s to answer, not a 400',
    request: 'FOO /rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n', status: 200, seen: { REQUEST_METHOD: 'FOO' },
  },
  {
    id: 'R6.11', rfc: 'RFC 9110 §9.3.6', what: 'CONNECT (a tunnel: a proxy\'s method)',
    request: 'CONNECT rfc.localhost:443 HTTP/1.1\r\nHost: rfc.localhost:443\r\n\r\n', status: 501, closed: true, dated: true,
    inHead: /^HTTP\/1\.1 501 Not Implemented\r\nContent-Type: text\/plain; charset=utf-8\r\nContent-Length: 63\r\nCache-Control: no-store\r\nConnection: close\r\n/,
    says: /^501 Not Implemented\nCONNECT: this gateway is not an HTTP proxy\n$/,
  },
  {
    id: 'R6.12', rfc: 'RFC 9112 §3.2.4, RFC 9110 §9.3.7', what: 'OPTIONS * (the server, not a resource): answered by the gateway with Allow',
    request: 'OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n', status: 200,
  },
  // The head's own checks hold for `OPTIONS *` too: it had its 200 whatever its head (no Host,
  // two Hosts, Transfer-Encoding in HTTP/1.0), the connection kept and what followed served.
  {
    id: 'R6.26', rfc: 'RFC 9112 §5.2', what: 'obs-fold in a head (a field line, then one beginning with SP or HTAB): 400 saying line folding is not accepted',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n', status: 400, closed: true, dated: true,
    says: /^400 Bad Request\na header field is folded onto a line that begins with a space or tab \(obs-fold, RFC 9112 §5\.2\): send each field on one line\n$/,
  },
  {
    id: 'R6.12b', rfc: 'RFC 9112 §3.2', what: 'OPTIONS * in HTTP/1.1 without Host: 400, closed, as any request without one',
    request: 'OPTIONS * HTTP/1.1\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\nan HTTP\/1\.1 request without a Host header/,
  },
  {
    id: 'R6.12c', rfc: 'RFC 9112 §3.2', what: 'OPTIONS * with two Hosts: 400, closed',
    request: 'OPTIONS * HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\nmore than one Host header/,
  },
  {
    id: 'R6.12d', rfc: 'RFC 9112 §6.1', what: 'OPTIONS * in HTTP/1.0 with Transfer-Encoding: 400, closed (R6.4)',
    request: 'OPTIONS * HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, closed: true, dated: true,
  },
  {
    id: 'R6.15', rfc: 'RFC 9112 §3, RFC 9110 §15.5.15', what: 'a request target of 20,000 bytes: 414, not 431 (the fields are few)',
    request: `GET /rfc/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 414, closed: true, dated: true,
  },
  {
    id: 'R6.16', rfc: 'RFC 9110 §6.6.1', what: 'a head the parser refuses (Content-Length and Transfer-Encoding): 400 with a Date, as every answer',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400, closed: true, dated: true, says: CL_WITH_TE,
  },
  {
    id: 'R6.16g', rfc: 'RFC 9112 §6.1', what: 'Transfer-Encoding, then Content-Length: 400 whose body says that, not that Content-Length is not a number',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', status: 400, closed: true, dated: true, says: CL_WITH_TE,
  },
  {
    id: 'R6.16b', rfc: 'RFC 9112 §3', what: 'a request line that is not one (`GARBAGE`): 400 whose body says why, as every refusal\'s',
    request: 'GARBAGE\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\nthe request line does not begin with a known method in capital letters/,
  },
  {
    id: 'R6.16c', rfc: 'RFC 9112 §2.3', what: 'a protocol that is not HTTP (`GET / FOO/1.1`): 400 whose body says why',
    request: 'GET / FOO/1.1\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\nthe request line is not METHOD TARGET HTTP\/1\.1\n$/,
  },
  {
    id: 'R6.16d', rfc: 'RFC 9110 §9.1', what: 'a method in lower case (methods are case-sensitive): 400 whose body says why',
    request: 'get /rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\nthe request line does not begin with a known method in capital letters/,
  },
  {
    id: 'R6.16e', rfc: 'RFC 9112 §5', what: 'a field name with a space in it: 400 whose body says why',
    request: 'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n', status: 400, closed: true, dated: true, says: /^400 Bad Request\na header field is malformed/,
  },
  {
    id: 'R6.16f', rfc: 'RFC 9112 §6.3', what: 'two Content-Length fields, the same value or not: 400 whose body says so, not that Transfer-Encoding came with it',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', status: 400, closed: true, dated: true, says: /^400 Bad Request\nmore than one Content-Length header: the body's framing is ambiguous/,
  },
  {
    id: 'R6.16l', rfc: 'RFC 9110 §9.3.2', what: 'a HEAD the parser refuses (two Content-Lengths): its 400 has the head a GET\'s would have and no body',
    request: 'HEAD /rfc/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n', status: 400, closed: true, dated: true, bodyIs: '', inHead: /\r\nContent-Length: [1-9]\d*\r\n/,
  },
  {
    id: 'R6.16h', rfc: 'RFC 9110 §6.6.1', what: 'a websocket upgrade where no app is mounted: 404 with a Date, as every answer',
    request: 'GET /nowhere/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    status: 404, closed: true, dated: true, says: /^404 Not Found\nno app is mounted at \/nowhere\/ws\n$/,
  },
  {
    id: 'R6.16i', rfc: 'RFC 9110 §6.6.1, RFC 6455 §4.2.1', what: 'a websocket handshake to an ASGI app without Sec-WebSocket-Key: the gateway\'s 400, dated, saying why (ws\'s own had no Date and said text/html)',
    request: 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    status: 400, closed: true, dated: true, inHead: /\r\nContent-Type: text\/plain; charset=utf-8\r\n/, says: /^400 Bad Request\nMissing or invalid Sec-WebSocket-Key header\n$/,
  },
  {
    id: 'R6.16j', rfc: 'RFC 6455 §4.4', what: 'the same with a version the gateway does not speak: 400 naming the versions it does',
    request: 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 7\r\n\r\n',
    status: 400, closed: true, dated: true, inHead: /\r\nSec-WebSocket-Version: 13, 8\r\n/, says: /^400 Bad Request\nMissing or invalid Sec-WebSocket-Version header\n$/,
  },
  {
    id: 'R6.16k', rfc: 'RFC 9110 §15.5.6, RFC 6455 §4.1', what: 'a websocket handshake that is a POST: 405 with the Allow a 405 must carry, dated',
    request: 'POST /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n',
    status: 405, closed: true, dated: true, inHead: /\r\nAllow: GET\r\n/, says: /^405 Method Not Allowed\na websocket handshake is a GET/,
  },
  {
    // llhttp reads `chunked<HTAB>` as no chunked: on a plain request it refuses it (R1.15), on an
    // upgrade it switched at once, the body the first bytes of the websocket (uvicorn 101s it too;
    // nginx 1.22 answers 501 and closes).
    id: 'R6.16m', rfc: 'RFC 9112 §6.1, RFC 6455 §4.1', what: 'a websocket handshake with Transfer-Encoding: chunked<HTAB> and a body: 400, closed, as a plain request with it, never a 101',
    request: 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\t\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    status: 400, closed: true, dated: true, says: /^400 Bad Request\na body in a websocket handshake: its bytes would run into the websocket's; send the handshake \(a GET\) without a body/,
  },
  {
    // Read by llhttp before the switch (the same bytes with `chunked<HTAB>` were not): one rule
    // for both spellings. nginx and uvicorn 101 it, nginx after passing the body on.
    id: 'R6.16n', rfc: 'RFC 9112 §6.1, RFC 6455 §4.1', what: 'the same with Transfer-Encoding: chunked: 400, closed',
    request: 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    status: 400, closed: true, dated: true, says: /^400 Bad Request\na body in a websocket handshake/,
  },
  {
    // node:http switches at the head: `hello` reached the app as frames (a 101, then 1002).
    id: 'R6.16p', rfc: 'RFC 9112 §6.3, RFC 6455 §4.1', what: 'a websocket handshake with Content-Length: 5 and a body: 400, closed, never a 101',
    request: 'GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhello',
    status: 400, closed: true, dated: true, says: /^400 Bad Request\na body in a websocket handshake/,
  },
  {
    id: 'R6.24', rfc: 'RFC 9112 §7.1.1', what: 'BWS in chunk extensions (before and after `;`, around `=`): served, the app reading the body as sent',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 ;a=1\r\nabc\r\n2\t; b = "x y"\r\nde\r\n0 ;c\r\n\r\n',
    status: 200, seen: { body: 'abcde' },
  },
  {
    id: 'R6.24b', rfc: 'RFC 9112 §7.1.1', what: 'whitespace where chunk-ext has no BWS (before the line\'s CRLF): 400 saying so, closed',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=1 \r\nabc\r\n0\r\n\r\n',
    status: 400, closed: true, dated: true, says: /^400 Bad Request\nwhitespace in a chunk extension is not accepted here: send the chunk size and its extensions without spaces/,
  },
  {
    id: 'R6.24c', rfc: 'RFC 9112 §7.1.1', what: 'BWS in chunk extensions where node:http reads the request (absolute-form): served alike, its parser given each size line without its extensions',
    request: 'POST http://x/rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3; a=1\r\nabc\r\n2;b = "x y"\r\nde\r\n0;c= d\r\n\r\n',
    status: 200, seen: { body: 'abcde' },
  },
  {
    id: 'R6.17', rfc: 'RFC 9112 §6.1', what: 'Transfer-Encoding: gzip, chunked (a coding the gateway does not undo): 501',
    request: 'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', status: 501, closed: true, dated: true,
    says: /^501 Not Implemented\nTransfer-Encoding: gzip, chunked: the gateway decodes chunked only \(RFC 9112 §6\.1\); send the body with Transfer-Encoding: chunked alone \(a compressed body's coding goes in Content-Encoding, for the app\)\n$/,
  },
];

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'rfc');
  addPackage(apps.path, 'asgi-http', 'asgi'); // its /scope answers with the ASGI scope it got
  addPackage(apps.path, 'ws-asgi', 'ws'); // a websocket that answers "whoami" with its scope
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off']);
  port = Number(new URL(gw.url).port);
  await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the echo apps to serve');
});

test.after(() => stopGatewayChecked(gw, apps, state));

for (const c of CASES) {
  test(`${c.id} (${c.rfc}): ${c.what}`, async () => {
    // Connection: close (hop-by-hop, never the app's) so that the answer ends with the connection.
    const request = c.status < 400 && !c.closed ? c.request.replace('\r\n', '\r\nConnection: close\r\n') : c.request;
    const answer = await rawRequest(port, Buffer.from(request, 'latin1'));
    const [head, body = ''] = answer.split('\r\n\r\n');
    const code = Number(head.split(' ')[1]);
    assert.is(code, c.status, answer.slice(0, 300));
    if (c.seen) {
      const seen = JSON.parse(body) as Record<string, string>;
      for (const [key, value] of Object.entries(c.seen)) assert.is(seen[key], value, `${key} in ${body}`);
      for (const key of c.absent ?? []) assert.not.ok(key in seen, `${key} in ${body}`);
    } else if (c.status >= 400) {
      assert.not.match(body, /REQUEST_METHOD/, 'the app never saw it');
    }
    if (c.closed) assert.match(head, /\r\nConnection: close/i, 'the connection is closed after a refusal');
    if (c.id === 'R6.12') assert.match(head, /\r\nAllow: GET, HEAD, POST/i);
    if (c.dated) assert.match(head, /\r\nDate: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT/);
    // The body as the client reads it: its charset's (a § is two octets in UTF-8).
    if (c.says) assert.match(/; charset=utf-8/i.test(head) ? Buffer.from(body, 'latin1').toString('utf8') : body, c.says);
    if (c.status >= 400) {
      // A refusal's body is what its head says it is: as many bytes as its Content-Length (curl
      // fails with status 18 on one byte short), valid UTF-8 under charset=utf-8.
      const bytes = Buffer.from(body, 'latin1');
      const declared = /\r\nContent-Length: (\d+)/i.exec(head);
      if (declared && !c.request.startsWith('HEAD ')) assert.is(bytes.length, Number(declared[1]), `the body's length as its Content-Length: ${JSON.stringify(body)}`);
      if (/\r\nContent-Type: text\/plain; charset=utf-8/i.test(head)) {
        assert.not.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes), `the body is UTF-8: ${JSON.stringify(body)}`);
      }
    }
    if (c.notInHead) assert.not.match(head, c.notInHead);
    if (c.inHead) assert.match(head, c.inHead);
    if (c.bodyIs !== undefined) assert.is(body, c.bodyIs);
  });
}

test('R6.23c a 205 on a kept-alive connection: the next request pipelined after it is answered in turn', async () => {
  const answer = await rawRequest(port, 'GET /rfc/205-streamed HTTP/1.1\r\nHost: x\r\n\r\nGET /rfc/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const second = answer.indexOf('HTTP/1.1 200');
  assert.ok(answer.startsWith('HTTP/1.1 205 '), answer.slice(0, 200));
  assert.ok(second > 0, answer);
  assert.ok(answer.slice(0, second).endsWith('\r\n\r\n'), `nothing between the 205's head and the next answer: ${JSON.stringify(answer.slice(0, second))}`);
  assert.match(answer.slice(second), /"PATH_INFO": "\/echo"/);
});

test('R6.28 HTTP/1.0 keep-alive answered with no body (HEAD of a streamed answer, 204, 304: RFC 9112 §6.3): kept alive; a GET of the stream closes (no chunked in 1.0); on the lane and on node:http (absolute-form)', async () => {
  const kept = '\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n';
  for (const target of ['/rfc', 'http://x/rfc']) {
    const h10 = (method: string, path: string): string => `${method} ${target}${path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`;
    const data = h10('HEAD', '/streamed') + h10('GET', '/204-bare') + h10('GET', '/304-bare') + h10('GET', '/streamed') + h10('GET', '/echo');
    const answers = (await rawRequest(port, data)).split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.equal(answers.map((a) => a.slice(9, 12)), ['200', '204', '304', '200'], `${target}: ${answers.join('')}`);
    assert.ok(answers[0].endsWith(kept), `${target}: the HEAD keeps the connection (it said close), no body: ${answers[0]}`);
    assert.ok(answers[1].endsWith(kept) && answers[2].endsWith(kept), `${target}: ${answers[1]}${answers[2]}`);
    assert.match(answers[3], /\r\nConnection: close\r\n\r\nhello$/, `${target}: the GET's body ends with the connection`);
  }
});

test('R6.1j for an ASGI app: `Host: x:` (an empty port, RFC 3986 §6.2.3) is `x` in its scope\'s headers, on the lane, on node:http and in absolute-form', async () => {
  for (const [target, more] of [['/asgi/scope', ''], ['/asgi/scope', 'Accept: a\r\nAccept: b\r\n'], ['http://x:/asgi/scope', '']]) {
    const scope = answeredJson(await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x:\r\n${more}Connection: close\r\n\r\n`));
    const hosts = (scope.headers as string[][]).filter(([name]) => name === 'host').map(([, value]) => value);
    assert.equal(hosts, ['x'], `${target} ${JSON.stringify(more)}: ${JSON.stringify(scope.headers)}`);
  }
});

test('R6.8 for an ASGI app: path decoded as UTF-8, raw_path and query_string the octets sent, on the lane and on node:http (absolute-form)', async () => {
  for (const target of ['/asgi/scope/caf\xc3\xa9/\xff?q=\xe9', 'http://x/asgi/scope/caf\xc3\xa9/\xff?q=\xe9']) {
    const answer = await rawRequest(port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 'latin1'));
    const scope = answeredJson(answer);
    assert.is(scope.root_path, '/asgi', target);
    assert.is(scope.path, '/scope/caf\u00e9/\ufffd', 'UTF-8, a stray octet as U+FFFD (as uvicorn decodes)');
    assert.is(scope.raw_path, '/asgi/scope/caf\xc3\xa9/\xff', 'the octets sent, not percent-encoded (the app shows bytes as latin-1)');
    assert.is(scope.query_string, 'q=\xe9');
  }
});

test('R6.25 an ASGI app\'s own Connection is not sent as it wrote it (RFC 9110 §7.6.1): the fields it names are dropped, the gateway states its connection, the app\'s close is kept; on the lane and on node:http (absolute-form)', async () => {
  for (const at of ['/asgi/connection', 'http://x/asgi/connection']) {
    const kept = await rawRequest(port, `GET ${at}?v=X-Internal HTTP/1.1\r\nHost: x\r\n\r\nGET /rfc/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.is(kept.match(/HTTP\/1\.1 200 /g)?.length, 2, kept);
    assert.not.ok(/x-internal/i.test(kept), kept);
    assert.ok(kept.includes('Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n'), kept);
    const old = await rawRequest(port, `GET ${at}?v=keep-alive HTTP/1.0\r\nHost: x\r\n\r\n`);
    assert.ok(old.includes('\r\nConnection: close\r\n'), old);
    assert.not.ok(/keep-alive/i.test(old), old);
    const closed = await rawRequest(port, `GET ${at}?v=close,x-internal HTTP/1.1\r\nHost: x\r\n\r\nGET /rfc/echo?never HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.ok(closed.includes('\r\nconnection: close\r\n'), closed);
    assert.not.ok(/x-internal|never/i.test(closed), closed);
  }
});

/** The JSON an app answered with, its body chunked (no Content-Length from the app) or not. */
function answeredJson(answer: string): Record<string, unknown> {
  const [head, body = ''] = answer.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 200 /, answer.slice(0, 300));
  if (!/\r\nTransfer-Encoding: chunked/i.test(head)) return JSON.parse(body) as Record<string, unknown>;
  let json = '';
  for (let at = 0, size = parseInt(body, 16); size > 0; size = parseInt(body.slice(at), 16)) {
    const start = body.indexOf('\r\n', at) + 2;
    json += body.slice(start, start + size);
    at = start + size + 2;
  }
  return JSON.parse(json) as Record<string, unknown>;
}

test('R6.13f for an ASGI app: no field RFC 9110 §6.5.1 forbids in a trailer, in any case, reaches the scope from one, and the body comes whole; on the lane and on node:http (absolute-form)', async () => {
  // Framing, routing, request modifiers, authentication, response control, how to process the content.
  const trailer = [
    'content-LENGTH: 99', 'TRANSFER-ENCODING: gzip', 'host: evil.example', 'Authorization: Basic ZXZpbDpldmls', 'Proxy-Authorization: Basic ZXZpbA==',
    'Cookie: evil=1', 'Set-Cookie: evil=1', 'Content-Type: text/evil', 'Content-Encoding: gzip', 'Content-Range: bytes 0-1/2', 'Trailer: X-Evil',
    'If-Match: "evil"', 'If-None-Match: "evil"', 'If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT', 'Range: bytes=0-1', 'Cache-Control: no-cache', 'Pragma: no-cache',
    'Max-Forwards: 1', 'Expect: 100-continue', 'TE: trailers', 'Age: 1', 'Expires: 0', 'X-Evil: 1',
  ].map((f) => `${f}\r\n`).join('');
  const forbidden = ['content-length', 'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'content-type', 'content-encoding', 'content-range', 'trailer',
    'if-match', 'if-none-match', 'if-modified-since', 'range', 'cache-control', 'pragma', 'max-forwards', 'expect', 'te', 'age', 'expires', 'x-evil'];
  for (const target of ['/asgi/scope', 'http://x/asgi/scope']) {
    const scope = answeredJson(await rawRequest(port, `POST ${target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n${trailer}\r\n`));
    const headers = scope.headers as Array<[string, string]>;
    const names = headers.map(([name]) => name.toLowerCase());
    for (const name of forbidden) assert.not.ok(names.includes(name), `${target}: ${name} in ${JSON.stringify(headers)}`);
    assert.equal(headers.filter(([name]) => name.toLowerCase() === 'host'), [['host', 'x']], target);
    assert.not.ok(JSON.stringify(headers).includes('evil'), `${target}: ${JSON.stringify(headers)}`);
    const upload = target.replace('/scope', '/upload');
    const read = await rawRequest(port, `POST ${upload} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n${trailer}\r\n`);
    assert.match(read, /\r\n\r\n(?:[0-9a-f]+\r\n)?5 \d+ \d+/, `${upload}: ${read}`);
  }
});

test('R6.8 for a websocket (node:http reads every upgrade): the scope has the octets sent', async () => {
  const socket = connect(port, '127.0.0.1');
  let got = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
  try {
    socket.write(Buffer.from('GET /ws/caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n', 'latin1'));
    await waitFor(() => got.includes('\r\n\r\n'), 10_000, 'the handshake\'s answer');
    const headEnd = got.indexOf('\r\n\r\n') + 4;
    assert.match(got.toString('latin1', 0, headEnd), /^HTTP\/1\.1 101 /);
    // "whoami", a masked text frame (a zero mask leaves it as it is).
    socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | 6, 0, 0, 0, 0]), Buffer.from('whoami')]));
    const frame = await waitFor(() => {
      const f = got.subarray(headEnd);
      if (f.length < 4) return null;
      const length = (f[1] & 0x7f) === 126 ? f.readUInt16BE(2) : f[1] & 0x7f;
      const start = (f[1] & 0x7f) === 126 ? 4 : 2;
      return f.length >= start + length ? f.toString('utf8', start, start + length) : null;
    }, 10_000, 'the answer to whoami');
    const scope = JSON.parse(frame) as { root_path: string; path: string };
    assert.is(scope.root_path, '/ws');
    assert.is(scope.path, '/café');
  } finally {
    socket.destroy();
  }
});

/**
 * Sends `pieces` (a websocket handshake to /ws/NAME, what follows it, the first frame) on one
 * connection, each in a write of its own, and reads the 101 and the app's answer to whoami.
 */
async function switchedWhoami(pieces: string[], before?: string): Promise<{ head: string; path: string }> {
  const socket = connect(port, '127.0.0.1');
  let got = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => (got = Buffer.concat([got, chunk])));
  try {
    if (before !== undefined) {
      // A request node:http reads (absolute-form): the handshake after it is its parser's too.
      socket.write(before);
      await waitFor(() => /\r\n\r\n\{[^]*\}$/.test(got.toString('latin1')), 10_000, 'the first answer');
      got = Buffer.alloc(0);
    }
    for (const piece of pieces) {
      socket.write(Buffer.from(piece, 'latin1'));
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor(() => got.includes('\r\n\r\n'), 10_000, 'the handshake\'s answer');
    const headEnd = got.indexOf('\r\n\r\n') + 4;
    const head = got.toString('latin1', 0, headEnd);
    if (!head.startsWith('HTTP/1.1 101 ')) return { head: head + got.toString('latin1', headEnd), path: '' };
    const frame = await waitFor(() => {
      const f = got.subarray(headEnd);
      if (f.length < 4) return null;
      const length = (f[1] & 0x7f) === 126 ? f.readUInt16BE(2) : f[1] & 0x7f;
      const start = (f[1] & 0x7f) === 126 ? 4 : 2;
      return f.length >= start + length ? f.toString('utf8', start, start + length) : null;
    }, 10_000, 'the answer to whoami');
    return { head, path: (JSON.parse(frame) as { path: string }).path };
  } finally {
    socket.destroy();
  }
}

const HANDSHAKE = 'GET /ws/empty HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';
/** "whoami", a masked text frame (a zero mask leaves it as it is). */
const WHOAMI = '\x81\x86\0\0\0\0whoami';

test('R6.16o a websocket handshake with an empty body (Transfer-Encoding: chunked, its last chunk alone, a trailer too; Content-Length: 0): switched, as nginx and uvicorn switch, the websocket beginning after the body; on the lean lane\'s connection and on one node:http reads', async () => {
  const cases: Array<[string, string[]]> = [
    ['chunked, the frame in the same write', [`${HANDSHAKE}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n${WHOAMI}`]],
    ['chunked, the body in later writes, a trailer and an extension', [`${HANDSHAKE}Transfer-Encoding: chunked\r\n\r\n`, '0;e=1\r\nX-T', ': 1\r\n\r', `\n${WHOAMI}`]],
    ['chunked<HTAB>', [`${HANDSHAKE}Transfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n`, WHOAMI]],
    ['Content-Length: 0', [`${HANDSHAKE}Content-Length: 0\r\n\r\n`, WHOAMI]],
  ];
  for (const before of [undefined, 'GET http://x/rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n']) {
    for (const [what, pieces] of cases) {
      const { head, path } = await switchedWhoami(pieces, before);
      const where = `${what}${before ? ' after an absolute-form request' : ''}`;
      assert.match(head, /^HTTP\/1\.1 101 /, `${where}: ${head}`);
      assert.is(path, '/empty', where);
    }
  }
});

test('a bad request pipelined behind one node:http reads (RFC 9112 §9.3.2): the first is answered, then the 400, then the end', async () => {
  const answer = await rawRequest(port, Buffer.from(
    // A field on two lines: a head the lean lane leaves to node:http.
    'POST /rfc/echo?first HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' +
      'GET /rfc/echo HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n', 'latin1'));
  const [first, refusal = ''] = answer.split(/(?=HTTP\/1\.1 400 )/);
  assert.match(first, /^HTTP\/1\.1 200 /, answer.slice(0, 300));
  const seen = JSON.parse(first.split('\r\n\r\n')[1]) as Record<string, string>;
  assert.is(seen.QUERY_STRING, 'first');
  assert.is(seen.body, 'abc');
  assert.match(refusal, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n/, 'the second is refused, not dropped unanswered');
});

test('R6.13c a forbidden trailer field in each of two chunked requests node:http reads, a request pipelined behind: each served in turn, none taking the trailer for framing', async () => {
  const chunked = (path: string, trailer: string): string =>
    `POST http://x/rfc/echo?${path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n${trailer}\r\n\r\n`;
  const requests = [chunked('cl', 'Content-Length: 5'), chunked('te', 'Transfer-Encoding: gzip'), 'GET /rfc/echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'];
  for (const pipelined of [false, true]) {
    const got = await exchange(requests, pipelined);
    const answers = got.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.is(answers.length, 3, got.slice(0, 600));
    for (const [i, query] of ['cl', 'te', 'last'].entries()) {
      assert.match(answers[i], /^HTTP\/1\.1 200 /, got.slice(0, 600));
      const seen = JSON.parse(answers[i].split('\r\n\r\n')[1]) as Record<string, string>;
      assert.is(seen.QUERY_STRING, query);
      assert.is(seen.body, i < 2 ? 'abc' : '');
      assert.not.ok('CONTENT_LENGTH' in seen || 'HTTP_X_SUM' in seen, answers[i]);
    }
  }
});

test('R6.13d such a trailer followed by a line that is no field line (a bare LF): 400, closed, and what is pipelined behind it never read', async () => {
  const request = 'POST http://x/rfc/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\nX-T: 1\n\r\n';
  const got = await exchange([request, 'GET /rfc/echo?behind HTTP/1.1\r\nHost: x\r\n\r\n'], true);
  assert.match(got, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n/, got.slice(0, 400));
  assert.is(got.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, got);
  assert.not.match(got, /behind|REQUEST_METHOD/);
});

test('R6.13e such a trailer section split across reads (its end in a later one, or byte by byte): served, the request behind read after it; a line in the later read that is no field line: 400, closed, nothing behind read', async () => {
  const request = 'POST http://x/rfc/echo?split HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\nX-B: 2\r\n\r\n';
  const behind = 'GET /rfc/echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  // After a 404 that is not plain, answered first: the pieces after it go 20 ms apart, each its own read.
  const notFound = 'GET /nothing HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\n';
  for (const pieces of [[request.slice(0, -2), request.slice(-2) + behind], [request.slice(0, -9), ...request.slice(-9), behind]]) {
    const got = await exchange([notFound, ...pieces], false, 20);
    const answers = got.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.is(answers.length, 3, JSON.stringify(got.slice(0, 600)));
    const seen = JSON.parse(answers[1].split('\r\n\r\n')[1]) as Record<string, string>;
    assert.is(seen.QUERY_STRING, 'split');
    assert.is(seen.body, 'abc');
    assert.not.ok('CONTENT_LENGTH' in seen || 'HTTP_X_B' in seen, answers[1]);
    assert.match(answers[2], /"QUERY_STRING": "last"/);
  }
  const cut = request.indexOf('X-B');
  const got = await exchange([notFound, request.slice(0, cut), 'X-B: 2\n\r\nGET /rfc/echo?behind HTTP/1.1\r\nHost: x\r\n\r\n'], false, 20);
  assert.match(got, /^HTTP\/1\.1 404 [\s\S]*HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n/, got.slice(0, 600));
  assert.is(got.match(/HTTP\/1\.1 \d{3} /g)?.length, 2, got);
  assert.not.match(got, /behind|REQUEST_METHOD/);
});

// SPEC 5.8 on a connection node:http reads by itself (after a request the lean lane left to
// it): its parser refuses such a target, and the gateway starts it over at that request line,
// given the octets escaped (net/raw-target.ts rereadRawTarget; docs/reliability.md R6.8d).
const RAW_TARGET = 'GET /rfc/caf\xe9?q=\xff HTTP/1.1\r\nHost: x\r\n\r\n';
const AFTER_RAW_TARGET = 'GET /rfc/echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
const BEFORE_RAW_TARGET = [
  // A 404 whose field is sent twice: not plain (the lane gives a plain one its 404 itself).
  'GET /nothing HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\n',
  'GET http://x/rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n', // absolute-form
  // HTTP/1.0, with a field sent twice: the lane serves a plain one.
  'GET /rfc/echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\n\r\n',
  'POST /rfc/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n\xe9\xe9\xe9\r\n0\r\n\r\n',
  `${RAW_TARGET.replace('caf', 'first/caf')}`.replace('HTTP/1.1', 'HTTP/1.0').replace('\r\n\r\n', '\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\n\r\n'),
];

/**
 * What `requests` got, sent on one connection all at once (`pipelined`) or each after the answer
 * before it; a piece with no answer of its own goes `gapMs` after the one before (its own read).
 */
async function exchange(requests: string[], pipelined: boolean, gapMs = 0, closeMs = 5000): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  const seen = recorded(socket);
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    if (pipelined) socket.write(Buffer.from(requests.join(''), 'latin1'));
    else {
      for (const [i, request] of requests.entries()) {
        socket.write(Buffer.from(request, 'latin1'));
        if (gapMs > 0 && i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
        else if (i < requests.length - 1) await waitFor(() => (seen.got.match(/HTTP\/1\.[01] [2-5]\d\d /g) ?? []).length > i, 5000, `answer ${i + 1} of ${JSON.stringify(seen.got.slice(0, 900))}`);
      }
    }
    await waitFor(() => seen.closed, closeMs, 'the answers, then the close');
  } finally {
    socket.destroy();
  }
  return seen.got;
}

test('more than ten requests pipelined on a connection node:http reads: each answered in turn, and no MaxListenersExceededWarning on the gateway\'s stderr', async () => {
  // A field sent twice: node:http reads the connection from the first request on, and queues
  // the answers of the eleven behind it.
  const requests = Array.from({ length: 12 }, (_, i) => `GET /rfc/echo?n=${i} HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\n\r\n`);
  // Node warns once per process: an earlier case of this file must not hide this one's.
  assert.not.match(gw.output(), /MaxListenersExceededWarning/, 'warned before this case');
  const got = await exchange([...requests, AFTER_RAW_TARGET], true);
  const answers = got.split(/(?=HTTP\/1\.1 \d{3} )/);
  assert.is(answers.length, 13, got.slice(-300));
  answers.slice(0, 12).forEach((answer, i) => assert.match(answer, new RegExp(`^HTTP/1\\.1 200 [\\s\\S]*"QUERY_STRING": "n=${i}"`), answer));
  // Node prints the warning as the eleventh answer is queued, long before the last goes out;
  // a moment more for its pipe to be read here.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.not.match(gw.output(), /MaxListenersExceededWarning/);
});

test('a request line (octets >= 0x80 in its target) or a trailer section the gateway holds for its end, cut by the client\'s FIN: 400 saying so, as for a head node:http holds itself', async () => {
  const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');
  const trailer = 'POST /rfc/echo?cut HTTP/1.1\r\nHost: x\r\nAccept: a\r\nAccept: b\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nContent-Length: 5\r\n';
  for (const pieces of [
    [BEFORE_RAW_TARGET[0], 'GET /rfc/caf\xe9'],
    [BEFORE_RAW_TARGET[0], 'GET /rfc/caf\xe9?q=1 HT'],
    // The echo app waits for the body's end: the 400 is that request's answer.
    [trailer],
    [trailer.slice(0, -9), trailer.slice(-9)],
  ]) {
    const got = await spacedOut(port, pieces.map(latin1), 50, 3000, true);
    const what = `${JSON.stringify(pieces)}: ${JSON.stringify(got.slice(0, 600))}`;
    const answers = got.split(/(?=HTTP\/1\.1 \d{3} )/);
    const after404 = pieces[0] === BEFORE_RAW_TARGET[0];
    assert.is(answers.length, after404 ? 2 : 1, what);
    if (after404) assert.match(answers[0], /^HTTP\/1\.1 404 /, what);
    assert.match(answers[answers.length - 1], /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n[\s\S]*\r\n\r\n400 Bad Request\nthe connection ended before the whole request came\n$/, what);
  }
});

test('R1.4b HTTP/1.2 in a later request on a connection node:http reads (RFC 9112 §2.3): served as HTTP/1.1, sent apart or pipelined; without Host, 400 as an HTTP/1.1 request', async () => {
  const higher = 'GET /rfc/echo?higher HTTP/1.2\r\nHost: x\r\n\r\n';
  for (const before of BEFORE_RAW_TARGET.slice(0, 4)) {
    for (const pipelined of [false, true]) {
      const got = await exchange([before, higher, higher.replace('1.2', '1.9'), AFTER_RAW_TARGET], pipelined);
      const what = `${JSON.stringify(before)} ${pipelined ? 'pipelined' : 'then'}: ${JSON.stringify(got.slice(0, 600))}`;
      const answers = got.split(/(?=HTTP\/1\.[01] [2-5]\d\d )/);
      assert.is(answers.length, 4, what);
      for (const i of [1, 2]) {
        assert.match(answers[i], /^HTTP\/1\.1 200 /, what);
        const seen = JSON.parse(answers[i].split('\r\n\r\n')[1]) as Record<string, string>;
        assert.is(seen.SERVER_PROTOCOL, 'HTTP/1.1', what);
        assert.is(seen.QUERY_STRING, 'higher', what);
      }
      assert.match(answers[3], /"QUERY_STRING": "last"/, what);
    }
  }
  const hostless = await exchange([BEFORE_RAW_TARGET[0], 'GET /rfc/echo HTTP/1.2\r\n\r\n'], false);
  assert.match(hostless, /HTTP\/1\.1 404 [\s\S]*HTTP\/1\.1 400 Bad Request\r\n[\s\S]*without a Host header/, hostless);
});

test('R6.22b a method llhttp does not know on a connection node:http reads (a later request, pipelined with a body, split across reads; a first one with Expect, or HTTP/1.0 with a field sent twice): the app\'s, as on the lane; `foo` (no method the lane serves either): 400', async () => {
  const foo = 'FOO /rfc/echo?foo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi';
  const runs: Array<[string[], boolean, number?]> = [
    [[BEFORE_RAW_TARGET[0], foo, AFTER_RAW_TARGET], false],
    [[BEFORE_RAW_TARGET[0], foo, AFTER_RAW_TARGET], true],
    [[BEFORE_RAW_TARGET[0], 'FO', foo.slice(2) + AFTER_RAW_TARGET], false, 50],
    [[foo.replace('\r\n\r\n', '\r\nExpect: 100-continue\r\n\r\n'), AFTER_RAW_TARGET], false],
    [[foo.replace('HTTP/1.1', 'HTTP/1.0').replace('\r\n\r\n', '\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\n\r\n'), AFTER_RAW_TARGET], false],
  ];
  for (const [requests, pipelined, gapMs] of runs) {
    const got = await exchange(requests, pipelined, gapMs);
    const what = `${JSON.stringify(requests.slice(0, 2))} ${pipelined ? 'pipelined' : 'then'}: ${JSON.stringify(got.slice(0, 600))}`;
    const answers = got.split(/(?=HTTP\/1\.[01] [2-5]\d\d )/);
    const at = requests[0] === BEFORE_RAW_TARGET[0] ? 1 : 0;
    assert.is(answers.length, at + 2, what);
    const seen = JSON.parse(answers[at].split('\r\n\r\n')[1]) as Record<string, string>;
    assert.is(seen.REQUEST_METHOD, 'FOO', what);
    assert.is(seen.QUERY_STRING, 'foo', what);
    assert.is(seen.body, 'hi', what);
    assert.match(answers[at + 1], /"QUERY_STRING": "last"/, what);
  }
  const refused = await exchange([BEFORE_RAW_TARGET[0], 'foo /rfc/echo HTTP/1.1\r\nHost: x\r\n\r\n'], false);
  assert.match(refused, /^HTTP\/1\.1 404 [\s\S]*HTTP\/1\.1 400 Bad Request\r\n/, refused);
});

test('R6.8d octets >= 0x80 in a later request on a connection node:http reads: served as on the lean lane, sent apart or pipelined', async () => {
  for (const before of BEFORE_RAW_TARGET) {
    for (const pipelined of [false, true]) {
      const got = await exchange([before, RAW_TARGET, RAW_TARGET.replace('caf', 'again/caf'), AFTER_RAW_TARGET], pipelined);
      const what = `${JSON.stringify(before)} ${pipelined ? 'pipelined' : 'then'}: ${JSON.stringify(got.slice(0, 600))}`;
      const answers = got.split(/(?=HTTP\/1\.[01] [2-5]\d\d )/);
      assert.is(answers.length, 4, what);
      assert.match(answers[0], /^(HTTP\/1\.1 100 Continue\r\n\r\n)?HTTP\/1\.[01] (200|404) /, what);
      for (const [i, path] of [[1, '/caf\u00e9'], [2, '/again/caf\u00e9']] as const) {
        assert.match(answers[i], /^HTTP\/1\.1 200 /, what);
        const seen = JSON.parse(answers[i].split('\r\n\r\n')[1]) as Record<string, string>;
        assert.is(seen.PATH_INFO, path, what);
        assert.is(seen.QUERY_STRING, 'q=\u00ff', what);
        assert.is(seen.REQUEST_URI, `/rfc${path}?q=\u00ff`, what);
      }
      assert.match(answers[3], /"QUERY_STRING": "last"/, what);
    }
  }
});

test('R6.8e the same after a request with a Content-Length body (its last bytes and the line\'s one run, however alike), or with the line begun in an earlier read (byte by byte): served in order', async () => {
  // HTTP/1.0 with a field sent twice: node:http reads it (the lane serves a plain one).
  const post = (body: string): string => `POST /rfc/echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nAccept: a\r\nAccept: b\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const runs: Array<[string[], boolean, number?]> = [
    [[post('{}'), RAW_TARGET, AFTER_RAW_TARGET], false],
    [[post('{}'), RAW_TARGET, AFTER_RAW_TARGET], true],
    // Bodies that end as the line begins, or hold what looks like a head's end and a body.
    ...['G', 'GET ', '\r\n\r\n', 'a\r\n\r\n{}'].map((body): [string[], boolean] => [[post(body), RAW_TARGET, AFTER_RAW_TARGET], true]),
    // Its body split across reads, the line's start in the read its body ends in.
    [[BEFORE_RAW_TARGET[0], post('abcdef').slice(0, -3), `def${RAW_TARGET.slice(0, 6)}`, RAW_TARGET.slice(6) + AFTER_RAW_TARGET], false, 50],
    [[BEFORE_RAW_TARGET[0], RAW_TARGET.slice(0, 8), RAW_TARGET.slice(8) + AFTER_RAW_TARGET], false, 50],
    [[BEFORE_RAW_TARGET[0], ...RAW_TARGET.slice(0, 16), RAW_TARGET.slice(16) + AFTER_RAW_TARGET], false, 5],
  ];
  for (const [requests, pipelined, gapMs] of runs) {
    const got = await exchange(requests, pipelined, gapMs);
    const answers = got.split(/(?=HTTP\/1\.[01] \d{3} )/);
    const what = `${JSON.stringify(requests.slice(0, 2))} ${pipelined ? 'pipelined' : 'then'}: ${JSON.stringify(got.slice(0, 600))}`;
    // The answers before the line's: the 404 that hands the connection over, the POST.
    const first = requests.findIndex((r) => r.startsWith('POST'));
    const raw = requests.filter((r) => r === BEFORE_RAW_TARGET[0] || r.startsWith('POST')).length;
    assert.is(answers.length, raw + 2, what);
    assert.match(answers[0], /^HTTP\/1\.[01] (200|404) /, what);
    const sent = requests[first] ?? '';
    if (first >= 0) assert.is((JSON.parse(answers[first].split('\r\n\r\n')[1]) as Record<string, string>).body, sent.slice(sent.indexOf('\r\n\r\n') + 4) + (first === 1 ? 'def' : ''), what);
    assert.match(answers[raw], /^HTTP\/1\.1 200 /, what);
    const seen = JSON.parse(answers[raw].split('\r\n\r\n')[1]) as Record<string, string>;
    assert.is(seen.REQUEST_URI, '/rfc/caf\u00e9?q=\u00ff', what);
    assert.match(answers[raw + 1], /"QUERY_STRING": "last"/, what);
  }
});

test('R6.8f many such requests in one read: each served, in order; one llhttp would refuse even escaped (no version: `GET /caf\\xe9`): 400, and the gateway serves on', async () => {
  const many = Array.from({ length: 1500 }, (_, i) => RAW_TARGET.replace('caf', `${i}/caf`));
  // 1,500 requests through the app, one after the other: 5 s was not enough for them in a run
  // where six other sessions' tests shared the two cores. The bound is for a hang.
  const got = await exchange([BEFORE_RAW_TARGET[0], many.join('') + AFTER_RAW_TARGET], false, 0, 30_000);
  const answers = got.split(/(?=HTTP\/1\.[01] \d{3} )/);
  assert.is(answers.length, 1502, got.slice(-300));
  for (const i of [0, 749, 1499]) assert.match(answers[i + 1], new RegExp(`"PATH_INFO": "/${i}/caf\\\\u00e9"`), answers[i + 1]);
  const refused = await exchange([BEFORE_RAW_TARGET[0], 'GET /rfc/caf\xe9\r\n\r\n'], false);
  assert.match(refused, /^HTTP\/1\.1 404 [\s\S]*HTTP\/1\.1 400 Bad Request\r\n[\s\S]*Connection: close\r\n/, refused);
  const after = await rawRequest(port, AFTER_RAW_TARGET);
  assert.match(after, /^HTTP\/1\.1 200 [\s\S]*"QUERY_STRING": "last"/, after);
});

test.run();
