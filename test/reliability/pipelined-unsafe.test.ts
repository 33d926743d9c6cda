// R6.27 (docs/reliability.md): requests pipelined behind answers not complete yet (RFC 9112
// §9.3.2, §9.6). Each waits, unrun, for the answers before it, whatever its method, as nginx and
// gunicorn run them: so a request behind an answer that closes the connection is never run. The
// gateway ran an unsafe one at once until 2026-12-03 (the app saw the POST, its answer was
// dropped and the access log said 499 as if the client had left), and a safe one until
// 2026-12-06 (a GET behind the app's `Connection: close`). On both readers (the lean lane;
// node:http: APPPKG_LEAN_LANE=0, or after an absolute-form request the lane hands over), for a
// WSGI and an ASGI app.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, logLinesOf, type BothReaders, statusesOf } from '../helpers/both-readers.js';
import { rawRequest, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('unsafe requests pipelined behind answers not complete yet');
const apps = tempDir('apppkg-unsafe-apps-');
const config = tempDir('apppkg-unsafe-env-');
const seenLog = join(config.path, 'seen.log');
let both: BothReaders | null = null;

/**
 * Each app writes `start M /path` and `end M /path` around each request to seenLog. `/close...`
 * answers with Connection: close; `/slow...` takes 0.3 s, so that a request run beside it would
 * start before its end.
 */
const WSGI = `import threading, time
LOG = ${JSON.stringify(seenLog)}
lock = threading.Lock()

def note(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\\n")

def application(environ, start_response):
    what = "%s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    note("start " + what)
    if environ["PATH_INFO"].startswith("/slow"):
        time.sleep(0.3)
    out = (what + "\\n").encode()
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))]
    if environ["PATH_INFO"].startswith("/close"):
        headers.append(("Connection", "close"))
    note("end " + what)
    start_response("200 OK", headers)
    return [out]
`;

const ASGI = `import asyncio
LOG = ${JSON.stringify(seenLog)}

def note(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")

async def application(scope, receive, send):
    if scope["type"] != "http":
        return
    what = "%s %s" % (scope["method"], scope["path"])
    while (await receive()).get("more_body"):
        pass
    note("start " + what)
    if scope["path"].startswith("/slow"):
        await asyncio.sleep(0.3)
    out = (what + "\\n").encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(out)).encode())]
    if scope["path"].startswith("/close"):
        headers.append((b"connection", b"close"))
    note("end " + what)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})
`;

test.before(async () => {
  writePackage(apps.path, 'w', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': WSGI });
  writePackage(apps.path, 'a', { 'app.yaml': 'platform: python, asgi\napp: app:application\n', 'app.py': ASGI });
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  w:\n    workers: 1\n    threads: 4\n  a:\n    workers: 1\n');
  both = await startBothReaders(apps, ['--environment', envFile]);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

const seen = (tag: string): string[] => (existsSync(seenLog) ? readFileSync(seenLog, 'utf8').split('\n').filter((l) => l.includes(tag)) : []);
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;
/** The last request of a case: its answer closes the connection, and rawRequest returns. */
const getClose = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`;
const post = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi`;

/**
 * Each case's app (WSGI, ASGI) and connection: from the lean lane, from it handed to node:http
 * by an absolute-form first request, and from node:http alone; `tag` names its requests.
 */
const cases = (prefix: string): Array<{ what: string; gw: RunningGateway; first: (path: string) => string; app: string; tag: string }> =>
  ['w', 'a'].flatMap((app, a) =>
    (
      [
        ['lean lane', both!.lean, get],
        ['lean lane, handed over', both!.lean, (path: string) => `GET http://h${path} HTTP/1.1\r\nHost: h\r\n\r\n`],
        ['node:http', both!.node, get],
      ] as const
    ).map(([reader, gw, first], r) => ({ what: `${app}, ${reader}`, gw, first, app, tag: `${prefix}${a}${r}` })),
  );

const loggedStatuses = (gw: RunningGateway, tag: string): number[] => logLinesOf(gw, tag).map((l) => Number(/" (\d{3}) /.exec(l)![1]));

test('R6.27 behind an answer that closes the connection, a POST and what follows it are never run, nor logged', async () => {
  for (const { what, gw, first, app, tag } of cases('c')) {
    const raw = await rawRequest(portOf(gw), `${first(`/${app}/close/${tag}`)}${post(`/${app}/p/${tag}`)}${get(`/${app}/g/${tag}`)}`, 5000);
    assert.equal(statusesOf(raw), [200], `${what}: ${raw}`);
    assert.match(raw, /connection: close\r\n/i);
    await waitFor(() => loggedStatuses(gw, `/close/${tag}`).length === 1, 5000, () => `the access-log line of /close/${tag}\n${gw.output()}`);
    // The app's answer to the first is out and logged: what was behind it would have run by now.
    assert.equal(seen(tag), [`start GET /close/${tag}`, `end GET /close/${tag}`], what);
    assert.equal(logLinesOf(gw, `/p/${tag}`), [], `${what}: the POST is not logged`);
    assert.equal(logLinesOf(gw, `/g/${tag}`), [], `${what}: nor the GET behind it`);
  }
});

test('R6.27 behind an answer the app closes, a GET (a safe request) is never run either, nor logged', async () => {
  for (const { what, gw, first, app, tag } of cases('s')) {
    const raw = await rawRequest(portOf(gw), `${first(`/${app}/close/${tag}`)}${get(`/${app}/g/${tag}`)}${get(`/${app}/h/${tag}`)}`, 5000);
    assert.equal(statusesOf(raw), [200], `${what}: ${raw}`);
    assert.match(raw, /connection: close\r\n/i);
    await waitFor(() => loggedStatuses(gw, `/close/${tag}`).length === 1, 5000, () => `the access-log line of /close/${tag}\n${gw.output()}`);
    assert.equal(seen(tag), [`start GET /close/${tag}`, `end GET /close/${tag}`], `${what}: the app ran only the first`);
    assert.equal(logLinesOf(gw, `/g/${tag}`), [], `${what}: the GET is not logged (it was, 499)`);
    assert.equal(logLinesOf(gw, `/h/${tag}`), [], `${what}: nor the one behind it`);
  }
});

test('R6.27 GETs behind a slow GET are run in turn, each after the answer before it, all answered in order', async () => {
  for (const { what, gw, first, app, tag } of cases('t')) {
    const raw = await rawRequest(portOf(gw), `${first(`/${app}/slow/${tag}`)}${get(`/${app}/g/${tag}`)}${getClose(`/${app}/h/${tag}`)}`, 5000);
    assert.equal(statusesOf(raw), [200, 200, 200], `${what}: ${raw}`);
    await waitFor(() => seen(tag).length === 6, 5000, () => `six lines of ${tag}: ${seen(tag).join('; ')}`);
    const ran = [`GET /slow/${tag}`, `GET /g/${tag}`, `GET /h/${tag}`].flatMap((r) => [`start ${r}`, `end ${r}`]);
    assert.equal(seen(tag), ran, what);
  }
});

test('R6.27 a POST behind an answer under way waits for it, and a GET behind the POST waits for the POST: run in order, all answered', async () => {
  for (const { what, gw, first, app, tag } of cases('o')) {
    const raw = await rawRequest(portOf(gw), `${first(`/${app}/slow/${tag}`)}${post(`/${app}/p/${tag}`)}${getClose(`/${app}/g/${tag}`)}`, 5000);
    assert.equal(statusesOf(raw), [200, 200, 200], `${what}: ${raw}`);
    assert.ok(raw.indexOf(`GET /slow/${tag}\n`) < raw.indexOf(`POST /p/${tag}\n`) && raw.indexOf(`POST /p/${tag}\n`) < raw.indexOf(`GET /g/${tag}\n`), raw);
    await waitFor(() => seen(tag).length === 6, 5000, () => `six lines of ${tag}: ${seen(tag).join('; ')}`);
    const ran = [`GET /slow/${tag}`, `POST /p/${tag}`, `GET /g/${tag}`].flatMap((r) => [`start ${r}`, `end ${r}`]);
    assert.equal(seen(tag), ran, what);
  }
});

test.run();
