// Which heads the lean lane reads itself (net/plain-head.ts), and what it reads from them: the
// same fields node:http would give. Every head outside the plain form is null, for node:http.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parsePlainHead } from '../../src/net/plain-head.js';

test('a plain GET and HEAD: method, target as sent, fields trimmed, lower-case names once, keep-alive', () => {
  assert.equal(parsePlainHead('GET /a/%7E?b=c&d HTTP/1.1\r\nHost:  lean.test \r\nAccept:\t*/*\t\r\nX-Empty:'), {
    method: 'GET',
    url: '/a/%7E?b=c&d',
    rawHeaders: ['Host', 'lean.test', 'Accept', '*/*', 'X-Empty', ''],
    headers: { host: 'lean.test', accept: '*/*', 'x-empty': '' },
    keepAlive: true,
    bodyLength: 0,
    chunked: false,
    higherVersion: undefined,
    http10: false,
  });
  const head = parsePlainHead('HEAD / HTTP/1.1\r\nhost: x\r\nConnection: Close');
  assert.is(head?.method, 'HEAD');
  assert.is(head?.keepAlive, false);
  assert.is(parsePlainHead('GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive')?.keepAlive, true);
  assert.is(parsePlainHead('GET / HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9')?.headers['x-latin'], 'caf\xe9');
  // SPEC 5.8: octets >= 0x80 in the target are the app's, as latin-1 (node:http refuses them).
  assert.is(parsePlainHead('GET /caf\xe9/\xc3\xa9?q=\xff HTTP/1.1\r\nHost: x')?.url, '/caf\xe9/\xc3\xa9?q=\xff');
  // A higher minor version is read as 1.1 (RFC 9110 §2.5); the version sent is kept for the log.
  const higher = parsePlainHead('GET /v HTTP/1.2\r\nHost: x');
  assert.is(higher?.url, '/v');
  assert.is(higher?.higherVersion, '1.2');
});

test('HTTP/1.0: plain, with or without Host; kept alive only when the client says keep-alive (RFC 9112 §9.3); a Content-Length body', () => {
  const head = parsePlainHead('GET /old?x HTTP/1.0\r\nUser-Agent: probe');
  assert.is(head?.http10, true);
  assert.is(head?.url, '/old?x');
  assert.is(head?.keepAlive, false);
  assert.is(head?.higherVersion, undefined);
  assert.is(head?.headers.host, undefined);
  assert.is(parsePlainHead('GET / HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive')?.keepAlive, true);
  assert.is(parsePlainHead('GET / HTTP/1.0\r\nHost: x\r\nConnection: close')?.keepAlive, false);
  assert.is(parsePlainHead('POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 5')?.bodyLength, 5);
  assert.is(parsePlainHead('GET / HTTP/1.1\r\nHost: x')?.http10, false);
});

test('a body framed by Content-Length, on any of the plain methods; none when it is absent', () => {
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const head = parsePlainHead(`${method} /x HTTP/1.1\r\nHost: x\r\nContent-Length:  65536 `);
    assert.is(head?.method, method);
    assert.is(head?.bodyLength, 65536);
    assert.is(head?.headers['content-length'], '65536');
  }
  assert.is(parsePlainHead('POST / HTTP/1.1\r\nHost: x')?.bodyLength, 0);
  assert.is(parsePlainHead('DELETE / HTTP/1.1\r\nHost: x\r\nContent-Length: 0')?.bodyLength, 0);
  assert.is(parsePlainHead('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 007')?.bodyLength, 7);
});

test('a chunked body: Transfer-Encoding chunked alone, in any case, and no Content-Length', () => {
  for (const value of ['chunked', 'Chunked', ' CHUNKED ']) {
    const head = parsePlainHead(`POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:${value}`);
    assert.is(head?.chunked, true, value);
    assert.is(head?.bodyLength, 0);
    assert.is(head?.headers['transfer-encoding'], value.trim());
  }
  assert.is(parsePlainHead('POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3')?.chunked, false);
});

test('any method of capital letters (RFC 9110 §9.1: the app\'s own too), not only those node:http knows', () => {
  for (const method of ['TRACE', 'PROPFIND', 'M-SEARCH', 'FOO', 'BREW', 'X_CUSTOM']) {
    assert.is(parsePlainHead(`${method} /x HTTP/1.1\r\nHost: x`)?.method, method, method);
  }
});

test('anything else is node:http\'s to read', () => {
  const notPlain = [
    'CONNECT x:443 HTTP/1.1\r\nHost: x:443',
    'CONNECT /x HTTP/1.1\r\nHost: x',
    'G3T / HTTP/1.1\r\nHost: x',
    `${'X'.repeat(33)} / HTTP/1.1\r\nHost: x`,
    'get / HTTP/1.1\r\nHost: x',
    'GET http://x/ HTTP/1.1\r\nHost: x',
    'OPTIONS * HTTP/1.1\r\nHost: x',
    // Transfer-Encoding in HTTP/1.0: node:http's 400 (RFC 9112 §6.1), and no other coding is plain.
    'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked',
    'GET / HTTP/1.0\r\nHost: x\r\nExpect: 100-continue',
    'GET / HTTP/1.0\r\nConnection: keep-alive, X-Private',
    'GET / HTTP/2.0\r\nHost: x',
    'GET /\r\nHost: x',
    'GET  / HTTP/1.1\r\nHost: x',
    'GET / HTTP/1.1',
    'GET / HTTP/1.1\r\nAccept: */*',
    'GET / HTTP/1.1\r\nHost: x\r\nhost: y',
    'GET / HTTP/1.1\r\nHost: x\r\nAccept: a\r\nACCEPT: b',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1234567890123456',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity',
    'GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue',
    'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade',
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: close, X-Private',
    'GET / HTTP/1.1\r\nHost: x\r\n folded',
    'GET / HTTP/1.1\r\nHost : x',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b',
    'GET / HTTP/1.1\r\nHost: x\r\nX-Bad: a\nb',
    'GET /a\x7f HTTP/1.1\r\nHost: x',
    'GET / HTTP/1.1\r\nConstructor: x\r\nHost: y',
    'GET / HTTP/1.1\r\n__proto__: x\r\nHost: y',
    '\r\nGET / HTTP/1.1\r\nHost: x',
  ];
  for (const head of notPlain) assert.is(parsePlainHead(head), null, JSON.stringify(head));
});

test.run();
