// An ASGI app hears a client close its side of the connection (CLIENT_END, docs/protocol.md):
// a long poll waiting on receive() gets http.disconnect at once, as under uvicorn, instead of
// at the app's timeout (a 504, and its worker replaced with every other request it held). What
// the app still answers reaches a client that only half-closed; an app that just returns has
// the connection closed (499 in the access log), not a 500. On the lean lane and on node:http.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { RawConnection } from '../helpers/link-harness.js';

const test = suite('ASGI: the client closing its side');
const apps = tempDir('apppkg-client-end-apps-');
const state = tempDir('apppkg-client-end-state-');
const accessLog = join(state.path, 'access.log');
let gw: RunningGateway | null = null;

test.before(async () => {
  addPackage(apps.path, 'asgi-http', 'poll');
  // One worker: the app's counters are a process's (two would each count their own).
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  poll:\n    workers: 1\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'root'), '--access-log', accessLog, '--environment', environment]);
});

test.after(() => stopGatewayChecked(gw, apps, state));

const port = (): number => Number(new URL(gw!.url).port);

async function disconnects(): Promise<number> {
  const res = await request(`${gw!.url}/poll/count`);
  return ((await res.body.json()) as { long_poll_disconnects?: number }).long_poll_disconnects ?? 0;
}

// A field sent twice is not plain: node:http takes the connection instead of the lean lane.
for (const [lane, extra] of [['the lean lane', ''], ['node:http', 'X-Twice: 1\r\nX-Twice: 2\r\n']] as const) {
  test(`${lane}: a long poll hears the client leave at once; the connection is closed, logged 499`, async () => {
    const before = await disconnects();
    const c = await RawConnection.open(port());
    c.write(`GET /poll/long-poll HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    await new Promise((r) => setTimeout(r, 300));
    c.socket.end(); // FIN, as curl's timeout or a closed tab sends it
    await waitFor(async () => (await disconnects()) === before + 1, 3000, 'the app to hear http.disconnect');
    await waitFor(() => c.closed, 3000, 'the gateway to close the connection');
    assert.is(c.text, '', 'no 500 (nor anything) to a client that left');
    await waitFor(() => readFileSync(accessLog, 'utf8').split('\n').some((l) => l.includes('"GET /poll/long-poll HTTP/1.1" 499')), 3000, 'the access log line');
  });

  test(`${lane}: a client that only half-closed reads what the app answers after http.disconnect`, async () => {
    const c = await RawConnection.open(port());
    c.write(`GET /poll/long-poll-answer HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    c.socket.end();
    const text = await c.waitFor((t) => t.includes('heard you leave'), 3000, 'the answer');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  });
}

test('20 requests pipelined on one connection: each listens for the client\'s end, and Node warns of no leak', async () => {
  const c = await RawConnection.open(port());
  c.write('GET /poll/count HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(19) + 'GET /poll/count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await waitFor(() => c.closed, 10_000, 'the 20 answers, then the close');
  assert.is(c.text.match(/HTTP\/1\.1 200 /g)?.length, 20);
  assert.not.match(gw!.output(), /MaxListenersExceededWarning/);
});

test('a streamed response the app stops when it hears the client leave: 499, and no app failure in its log', async () => {
  const c = await RawConnection.open(port());
  c.write('GET /poll/disconnect HTTP/1.1\r\nHost: x\r\n\r\n');
  await c.waitFor((t) => t.includes('waiting'), 3000, 'the first piece');
  c.socket.end();
  await waitFor(() => c.closed, 3000, 'the connection to close');
  await waitFor(() => readFileSync(accessLog, 'utf8').split('\n').some((l) => l.includes('"GET /poll/disconnect HTTP/1.1" 499')), 3000, 'the access log line');
  const appLog = readFileSync(join(state.path, 'root', 'apps', 'poll', 'log', 'app.log'), 'utf8');
  assert.not.match(appLog, /failed on GET \/poll\/disconnect/);
});

test('the app\'s timeout no longer decides: the worker that held the long poll is the one still serving', async () => {
  const pids = async () => ((await (await request(`${gw!.adminUrl}/status`)).body.json()) as any).apps[0].workers.map((w: any) => w.pid).sort();
  const before = await pids();
  const c = await RawConnection.open(port());
  c.write('GET /poll/long-poll HTTP/1.1\r\nHost: x\r\n\r\n');
  c.socket.end();
  await waitFor(() => c.closed, 3000, 'the connection to close');
  assert.equal(await pids(), before);
});

test.run();
