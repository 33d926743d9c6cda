// Request smuggling and garbage from clients (SPEC 5.8; docs/reliability.md §7), from the
// outside: raw bytes on one connection, a request pipelined behind each, through the real
// gateway to a WSGI app and an ASGI app, on the lean lane and where node:http reads every
// request (APPPKG_LEAN_LANE=0). The bar: a message whose framing is ambiguous or refused gets
// one answer and the connection closes, so that nothing behind it is ever read as a request
// (RFC 9112 §6.3, §9.6, §11.2); a message the RFCs frame one way only is served, and the
// request behind it too.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { answersUntilClose, portOf, startBothReaders, statusesOf, type BothReaders } from '../helpers/both-readers.js';
import { gatewayStatus } from '../helpers/status.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: request smuggling and garbage from clients');
const apps = tempDir('apppkg-rel-smuggle-apps-');
let readers: BothReaders;

/** Each app: its mount, the path that reads a body and answers with it, and how its answer says a body. */
const APPS = [
  { kind: 'WSGI', mount: '/w', echo: '/w/echo', saw: (got: string, body: string) => got.includes(`"body": ${JSON.stringify(body)}`) },
  // Its length, first in a chunked answer.
  { kind: 'ASGI', mount: '/a', echo: '/a/upload', saw: (got: string, body: string) => new RegExp(`\r\n\r\n[0-9a-f]+\r\n${body.length} `).test(got) },
] as const;

/** The request pipelined behind each case: `SMUGGLED` in an answer means an app ran it. */
const behind = (mount: string): string => `GET ${mount}/scope/SMUGGLED HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`;

const gateways = (): Array<[string, RunningGateway]> => [['the lean lane', readers.lean], ['node:http', readers.node]];

test.before(async () => {
  addPackage(apps.path, 'rel-rfc-echo', 'w');
  addPackage(apps.path, 'asgi-http', 'a');
  readers = await startBothReaders(apps, ['--access-log', 'off']);
  for (const gw of [readers.lean, readers.node]) {
    await waitFor(async () => (await gatewayStatus(gw)).apps.every((a: { state: string }) => a.state === 'ready'), 60_000, 'the echo apps to serve');
  }
});

test.after(() => readers?.stop());

test('R7.1 a target that is not a path (a `..` above the root, a NUL) is refused 400 and the connection closed, the request behind it never run, as nginx closes after its 400', async () => {
  for (const [reader, gw] of gateways()) {
    for (const app of APPS) {
      for (const target of [`${app.mount}/../../etc/passwd`, `${app.mount}/%2e%2e/%2e%2e/x`, `${app.mount}/a%00b`]) {
        const what = `${reader}, ${app.kind}, ${target}`;
        const { got, closed } = await answersUntilClose(portOf(gw), `GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n${behind(app.mount)}`);
        assert.equal(statusesOf(got), [400], `${what}: ${got}`);
        assert.match(got, /\r\nConnection: close\r\n/, what);
        assert.ok(got.includes('\nthe request target is not a path'), `${what}: ${got}`);
        assert.ok(closed, `${what}: the connection closed`);
        assert.not.ok(got.includes('SMUGGLED'), `${what}: the request behind it ran`);
      }
    }
  }
});

test('R7.2 a head the front refuses once node:http has read it (no Host, two Hosts, an empty Transfer-Encoding, userinfo, `Host: :80`), behind an answer still owed, then bytes that are no request: that answer, one 400, the close; nothing written after the 400 that said close', async () => {
  const refused = {
    'an empty Transfer-Encoding': 'POST /w/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n',
    'two Hosts': 'GET /w/echo HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n',
    'no Host': 'GET /w/echo HTTP/1.1\r\n\r\n',
    'userinfo': 'GET http://u@h/w/echo HTTP/1.1\r\nHost: h\r\n\r\n',
    '`Host: :80`': 'GET /w/echo HTTP/1.1\r\nHost: :80\r\n\r\n',
  };
  for (const [reader, gw] of gateways()) {
    for (const app of APPS) {
      for (const [name, head] of Object.entries(refused)) {
        const what = `${reader}, ${app.kind}, ${name}`;
        // The duplicated Accept has node:http read the first request too: the refusal waits
        // behind its answer while llhttp reads on, into the bytes that follow.
        const first = `GET ${app.mount}/scope/first HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n`;
        const { got, closed } = await answersUntilClose(portOf(gw), `${first}${head.replaceAll('/w/', `${app.mount}/`)}3\r\nabc\r\n0\r\n\r\n${behind(app.mount)}`);
        assert.equal(statusesOf(got), [200, 400], `${what}: ${got}`);
        assert.ok(closed, `${what}: the connection closed`);
        assert.not.ok(got.includes('SMUGGLED'), `${what}: the request behind it ran`);
      }
    }
  }
});

test('R7.5 `OPTIONS *` with a chunked body that breaks, pipelined behind an answer still owed (node:http reading): that answer, the 400 in its place, the close; never a 200 that says keep-alive on a connection no longer read', async () => {
  for (const [reader, gw] of gateways()) {
    for (const app of APPS) {
      for (const [name, body] of [['a bad chunk size', '3\r\nabc\r\nzz\r\n'], ['chunk data longer than its size', '3\r\nabcdef\r\n0\r\n\r\n']]) {
        const what = `${reader}, ${app.kind}, ${name}`;
        // The duplicated Accept has node:http read the first request: `OPTIONS *` waits its turn.
        const first = `GET ${app.mount}/scope/first HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n`;
        const asterisk = `OPTIONS * HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`;
        // Within the keep-alive timeout (5 s), which closed the connection until 2026-12-08.
        const { got, closed } = await answersUntilClose(portOf(gw), `${first}${asterisk}${behind(app.mount)}`, 3000);
        assert.equal(statusesOf(got), [200, 400], `${what}: ${got}`);
        assert.ok(closed, `${what}: the connection closed`);
        assert.match(got, /HTTP\/1\.1 400 [^]*\r\nConnection: close\r\n/, what);
        assert.not.ok(got.includes('Allow: '), `${what}: OPTIONS * was answered 200: ${got}`);
        assert.not.ok(got.includes('SMUGGLED'), `${what}: the request behind it ran`);
      }
    }
  }
});

test('R7.6 the gateway\'s own 404 to a POST whose body has not all come waits for the body, as an app\'s answer does, on the lean lane as through node:http; then the request behind it', async () => {
  for (const [reader, gw] of gateways()) {
    const socket = net.connect(portOf(gw), '127.0.0.1');
    const seen = recorded(socket);
    try {
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.setNoDelay(true);
      socket.write('POST /nowhere HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc');
      // Within the hold (the keep-alive timeout, 5 s, for an answer no app gave); the lane's
      // 404 went at once until 2026-12-08, before the body, where node:http held it.
      await new Promise((r) => setTimeout(r, 500));
      assert.is(seen.got, '', `${reader}: nothing went out before the body was in`);
      socket.write(`defghij${behind('/w')}`);
      await waitFor(() => seen.closed, 10_000, () => `${reader}: the close after the request behind, got ${JSON.stringify(seen.got)}`);
      assert.equal(statusesOf(seen.got), [404, 200], `${reader}: ${seen.got}`);
      assert.ok(seen.got.includes('/scope/SMUGGLED'), `${reader}: the request behind the body ran: ${seen.got}`);
    } finally {
      socket.destroy();
    }
  }
});

interface Case {
  name: string;
  /** The fields after Host, each line with its CRLF. */
  fields: string;
  body: string;
  /** The refusal's status; none: served, the app reading `reads` and the request behind run too. */
  refused?: number;
  reads?: string;
  line?: (path: string) => string;
}

const chunked = 'Transfer-Encoding: chunked\r\n';
/** RFC 9112 §6.1, §6.3, §7.1 and RFC 9110 §5.5, §5.6, §8.6: each framing a smuggler tries, with what the gateway does. */
const CASES: Case[] = [
  { name: 'CL.TE', fields: `Content-Length: 4\r\n${chunked}`, body: '0\r\n\r\n', refused: 400 },
  { name: 'TE.CL', fields: `${chunked}Content-Length: 30\r\n`, body: '0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: chunked, identity', fields: 'Transfer-Encoding: chunked, identity\r\n', body: '0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: identity, chunked', fields: 'Transfer-Encoding: identity, chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 501 },
  { name: 'TE.TE: xchunked', fields: 'Transfer-Encoding: xchunked\r\n', body: '0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: xchunked and Content-Length', fields: 'Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n', body: '0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: a space before the colon', fields: 'Transfer-Encoding : chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: VT before chunked', fields: 'Transfer-Encoding:\x0bchunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: VT after chunked', fields: 'Transfer-Encoding: chunked\x0b\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: FF before chunked', fields: 'Transfer-Encoding:\x0cchunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: two lines of chunked', fields: `${chunked}${chunked}`, body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: chunked, then a line of identity', fields: `${chunked}Transfer-Encoding: identity\r\n`, body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: chunked, then an empty line of it', fields: `${chunked}Transfer-Encoding: \r\n`, body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: an empty Transfer-Encoding', fields: 'Transfer-Encoding: \r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: chunked;q=1', fields: 'Transfer-Encoding: chunked;q=1\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: "chunked" quoted', fields: 'Transfer-Encoding: "chunked"\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'Transfer-Encoding in HTTP/1.0', fields: chunked, body: '3\r\nabc\r\n0\r\n\r\n', refused: 400, line: (p) => `POST ${p} HTTP/1.0` },
  { name: 'two different Content-Lengths', fields: 'Content-Length: 5\r\nContent-Length: 6\r\n', body: 'hello!', refused: 400 },
  { name: 'Content-Length: 5, 5', fields: 'Content-Length: 5, 5\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length: +5', fields: 'Content-Length: +5\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length: 0x5', fields: 'Content-Length: 0x5\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length: -1', fields: 'Content-Length: -1\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length past 2^64', fields: 'Content-Length: 99999999999999999999999\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length with VT', fields: 'Content-Length:\x0b5\r\n', body: 'hello', refused: 400 },
  { name: 'a chunk size 0x3', fields: chunked, body: '0x3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a chunk size past 2^64', fields: chunked, body: 'ffffffffffffffffff\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a chunk-size line of 10 KB (an extension)', fields: chunked, body: `3;${'a'.repeat(10_000)}\r\nabc\r\n0\r\n\r\n`, refused: 400 },
  { name: 'a chunk size ending in a bare LF', fields: chunked, body: '3\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'chunk data ending in a bare LF', fields: chunked, body: '3\r\nabc\n0\r\n\r\n', refused: 400 },
  { name: 'a last chunk and end in bare LFs', fields: chunked, body: '3\r\nabc\r\n0\n\n', refused: 400 },
  { name: 'no CRLF after a chunk\'s data', fields: chunked, body: '3\r\nabc0\r\n\r\n', refused: 400 },
  { name: 'a bare LF in a chunk extension', fields: chunked, body: '3;a\nb\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a CRLF in a quoted chunk extension', fields: chunked, body: '3;a="x\r\ny"\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a trailer line that is a request line', fields: chunked, body: '3\r\nabc\r\n0\r\nGET / HTTP/1.1\r\n\r\n', refused: 400 },
  { name: 'obs-fold hiding a Transfer-Encoding', fields: 'Content-Length: 3\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n', body: 'abc', refused: 400 },
  { name: 'a bare CR in a field', fields: 'X-A: 1\rTransfer-Encoding: chunked\r\nContent-Length: 3\r\n', body: 'abc', refused: 400 },
  // Compared with nginx 1.22 on 2026-12-08 (README, "HTTP requests"): refused by both readers alike.
  { name: 'TE.TE: chunked, chunked (one line)', fields: 'Transfer-Encoding: chunked, chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: NBSP before chunked', fields: 'Transfer-Encoding: \xa0chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'TE.TE: TRANSFER-ENCODING in capitals beside a content-length in lower case', fields: 'TRANSFER-ENCODING: chunked\r\ncontent-length: 5\r\n', body: '0\r\n\r\n', refused: 400 },
  { name: 'two equal Content-Lengths', fields: 'Content-Length: 5\r\nContent-Length: 5\r\n', body: 'hello', refused: 400 },
  { name: 'Content-Length with an HTAB after it', fields: 'Content-Length: 5\t\r\n', body: 'hello', refused: 400 },
  { name: 'a chunk extension with no name', fields: chunked, body: '3;\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a chunk extension whose quote is not closed', fields: chunked, body: '3;a="x\r\nabc\r\n0\r\n\r\n', refused: 400 },
  { name: 'a field name with an octet >= 0x80', fields: 'X\x80A: 1\r\nContent-Length: 5\r\n', body: 'hello', refused: 400 },
  { name: 'DEL in a field value', fields: 'X-A: a\x7fb\r\nContent-Length: 5\r\n', body: 'hello', refused: 400 },
  { name: 'HTTP/1.01', fields: 'Content-Length: 5\r\n', body: 'hello', refused: 400, line: (p) => `POST ${p} HTTP/1.01` },
  // Framed one way only by the RFCs: served, the request behind too.
  { name: 'Chunked (a coding is case-insensitive, RFC 9112 §7)', fields: 'Transfer-Encoding: Chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', reads: 'abc' },
  { name: 'chunked with OWS around it (RFC 9110 §5.5: not part of the value)', fields: 'Transfer-Encoding: \tchunked \r\n', body: '3\r\nabc\r\n0\r\n\r\n', reads: 'abc' },
  { name: 'an empty list element before chunked (RFC 9110 §5.6.1)', fields: 'Transfer-Encoding: ,chunked\r\n', body: '3\r\nabc\r\n0\r\n\r\n', reads: 'abc' },
  { name: 'Content-Length with OWS and leading zeros', fields: 'Content-Length:  005 \r\n', body: 'hello', reads: 'hello' },
  { name: 'Content-Length after an HTAB (OWS, RFC 9110 §5.5)', fields: 'Content-Length:\t5\r\n', body: 'hello', reads: 'hello' },
  { name: 'a chunk extension with an empty value (nginx takes it too)', fields: chunked, body: '3;a=\r\nabc\r\n0;b=\r\n\r\n', reads: 'abc' },
  { name: 'empty lines before the request line (RFC 9112 §2.2)', fields: 'Content-Length: 5\r\n', body: 'hello', reads: 'hello', line: (p) => `\r\n\r\nPOST ${p} HTTP/1.1` },
  { name: 'a chunk size with leading zeros, in upper case', fields: chunked, body: '000A\r\n0123456789\r\n0\r\n\r\n', reads: '0123456789' },
  { name: 'Content-Length, Transfer-Encoding and Host in a trailer (dropped, RFC 9110 §6.5.1)', fields: chunked, body: '3\r\nabc\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n\r\n', reads: 'abc' },
  { name: 'Connection: content-length (no hop-by-hop field may take the framing away)', fields: 'Connection: content-length\r\nContent-Length: 5\r\n', body: 'hello', reads: 'hello' },
  { name: 'Connection: transfer-encoding', fields: `Connection: transfer-encoding\r\n${chunked}`, body: '3\r\nabc\r\n0\r\n\r\n', reads: 'abc' },
];

for (const c of CASES) {
  const id = c.refused === undefined ? 'R7.4' : 'R7.3';
  test(`${id} ${c.name}: ${c.refused === undefined ? `served, the app reading ${JSON.stringify(c.reads)}, the request behind run` : `${c.refused}, closed, the request behind never run`}`, async () => {
    for (const [reader, gw] of gateways()) {
      for (const app of APPS) {
        const what = `${reader}, ${app.kind}`;
        const line = c.line?.(app.echo) ?? `POST ${app.echo} HTTP/1.1`;
        const { got, closed } = await answersUntilClose(portOf(gw), `${line}\r\nHost: h\r\n${c.fields}\r\n${c.body}${behind(app.mount)}`);
        if (c.refused !== undefined) {
          assert.equal(statusesOf(got), [c.refused], `${what}: ${got}`);
          assert.ok(closed, `${what}: the connection closed`);
          assert.not.ok(got.includes('SMUGGLED'), `${what}: the request behind it ran`);
        } else {
          assert.equal(statusesOf(got), [200, 200], `${what}: ${got}`);
          assert.ok(app.saw(got, c.reads!), `${what}: the app read ${JSON.stringify(c.reads)}: ${got}`);
          assert.ok(got.includes('/scope/SMUGGLED'), `${what}: the request behind it ran`);
          assert.not.ok(got.includes('evil'), `${what}: a trailer's Host reached the app`);
        }
      }
    }
  });
}

test.run();
