// What the access log says when the client's FIN comes before the exchange is over (SPEC 4: one
// line per request, saying what was answered). A FIN inside a request's body cuts the request:
// it is answered 400 saying so and logged 400 with that answer's size (nginx logs 400 too). A
// FIN after a whole request is a half-close (`printf ... | nc`): the answer is written and
// logged as the app gave it (README, "Access log"). The same on the lean lane, on a connection
// it handed to node:http, and with node:http reading every request (APPPKG_LEAN_LANE=0). A FIN
// inside a head: 400, and its line too, with the request line as far as it came, whichever
// reader has it (node:http alone logged `-`).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, type BothReaders } from '../helpers/both-readers.js';
import { spacedOut, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('access log: the client ends first');
const apps = tempDir('apppkg-client-end-log-apps-');
let lean: RunningGateway | null = null;
let node: RunningGateway | null = null;
let both: BothReaders | null = null;

const APP = `import time

def application(environ, start_response):
    if environ["PATH_INFO"].startswith("/slow"):
        time.sleep(0.5)
    body = environ["wsgi.input"].read()
    out = b"read %d" % len(body)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]
`;

test.before(async () => {
  writePackage(apps.path, 'ends', { 'app.yaml': 'platform: python, wsgi\napp: ends:application\n', 'ends.py': APP });
  both = await startBothReaders(apps);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
});

const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);

/** Writes `data`, then (a turn apart, so that the head is read first) the FIN, and gathers all until the close. */
const endAfter = (port: number, data: string): Promise<string> => spacedOut(port, [data], 50, 5000, true);

// A field sent twice is not plain: the lean lane hands the connection to node:http.
for (const [name, gw, extra] of [
  ['the lean lane', () => lean!, ''],
  ['handed to node:http', () => lean!, 'X-Twice: 1\r\nX-Twice: 2\r\n'],
  ['node:http', () => node!, ''],
] as const) {
  const tag = name.replace(/[^a-z]/g, '');

  test(`${name}: a body cut by the client's FIN is answered 400 saying so, and logged 400 with that answer's size`, async () => {
    const raw = await endAfter(portOf(gw()), `POST /ends/cut-${tag} HTTP/1.1\r\nHost: x\r\n${extra}Content-Length: 100\r\n\r\n0123456789`);
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*\r\n\r\n400 Bad Request\nthe connection ended before the whole request came\n$/);
    const size = raw.length - raw.indexOf('\r\n\r\n') - 4;
    const line = new RegExp(`"POST /ends/cut-${tag} HTTP/1\\.1" 400 ${size} "-" "-" app=ends `);
    await waitFor(() => line.test(gw().output()), 3000, `the line ${line} in\n${gw().output()}`);
    assert.not.match(gw().output(), new RegExp(`/ends/cut-${tag} HTTP/1\\.1" 499`));
  });

  test(`${name}: a head cut by the client's FIN is answered 400 and logged 400, with its request line as far as it came`, async () => {
    // The lane holds a request line until its LF, and gives it to node:http at the FIN.
    const sent = name === 'the lean lane' ? `GET /ends/head-${tag} HT` : `GET /ends/head-${tag} HTTP/1.1\r\nHost: x\r\n${extra}`;
    const logged = sent.split('\r\n')[0];
    const count = (): number => gw().output().split('\n').filter((l) => l.includes(`"${logged}" 400 `)).length;
    const before = count();
    const raw = await endAfter(portOf(gw()), sent);
    assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*the connection ended before the whole request came\n$/);
    await waitFor(() => count() === before + 1, 3000, `a line for "${logged}" in\n${gw().output()}`);
  });

  test(`${name}: a request line with a method llhttp does not know, cut by the client's FIN before its LF: 400, logged with the line as far as it came`, async () => {
    // node:http holds such a line from its parser until the LF (net/unknown-method.ts), which
    // never comes; handed over, after a request node:http answered.
    const before = extra === '' ? '' : `GET /ends/ HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
    const line = `FOO /ends/held-${tag} HT`;
    const count = (): number => gw().output().split('\n').filter((l) => l.includes(`"${line}" 400 `)).length;
    const already = count();
    const raw = await endAfter(portOf(gw()), before + line);
    assert.match(raw, /HTTP\/1\.1 400 Bad Request\r\n[\s\S]*the connection ended before the whole request came\n$/);
    await waitFor(() => count() === already + 1, 3000, `a line for "${line}" in\n${gw().output()}`);
  });

  test(`${name}: a whole request, then a half-close while the app is slow: the answer is written and logged 200`, async () => {
    const raw = await endAfter(portOf(gw()), `POST /ends/slow-${tag} HTTP/1.1\r\nHost: x\r\n${extra}Content-Length: 3\r\n\r\nabc`);
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nread 3$/);
    const line = new RegExp(`"POST /ends/slow-${tag} HTTP/1\\.1" 200 6 "-" "-" app=ends `);
    await waitFor(() => line.test(gw().output()), 3000, `the line ${line} in\n${gw().output()}`);
  });
}

test.run();
