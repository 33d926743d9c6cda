// An answer the app gave before its request's body was in waits for that body (lean-connection.ts
// holdForBody, node-body-hold.ts): --header-timeout for the body's first byte, the app's `timeout`
// from the last byte on. Both readers must hold it alike: node:http took a body begun in the
// head's own read for one not begun, and let the answer go at --header-timeout (20 s) where the
// lane held it the app's timeout (60 s). Here --header-timeout is 2 s and the app's timeout 8 s,
// so that the two bounds are told apart by what comes back, not by a clock read in the test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, statusesOf, type BothReaders } from '../helpers/both-readers.js';
import { recorded, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('an answer held for its body: the same bound from both readers');
const apps = tempDir('apppkg-stall-hold-apps-');
const config = tempDir('apppkg-stall-hold-env-');
let both: BothReaders | null = null;

/** Answers without reading its body: the answer is whole before the body is in. */
const NO_READ = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
`;

test.before(async () => {
  writePackage(apps.path, 'noread', { 'app.yaml': 'platform: python, wsgi\napp: noread:application\n', 'noread.py': NO_READ });
  const envFile = join(config.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  noread:\n    mount: /\n    workers: 1\n    timeout: 8\n', { mode: 0o600 });
  both = await startBothReaders(apps, ['--environment', envFile, '--header-timeout', '2']);
});

test.after(async () => {
  await both?.stop();
  config.remove();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `first` (a head and a part of its body, in one write), then, once past --header-timeout and
 * well within the app's timeout, what came back; then the rest of the body and a second request.
 */
async function heldThenServed(gw: RunningGateway, first: string, rest: string, path: string): Promise<{ early: string; got: string; closed: boolean }> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  const seen = recorded(socket);
  try {
    socket.write(Buffer.from(first, 'latin1'));
    await sleep(4000);
    const early = seen.got;
    socket.write(Buffer.from(`${rest}GET ${path}-next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`, 'latin1'));
    await waitFor(() => seen.closed, 10_000, `the close after the second answer, got ${JSON.stringify(seen.got)}`);
    return { early, got: seen.got, closed: seen.closed };
  } finally {
    socket.destroy();
  }
}

test('a body begun in the head\'s own read, then stalled past --header-timeout: the answer waits the app\'s timeout on both readers, and goes once the body is in', async () => {
  for (const [name, gw] of [['lean lane', both!.lean], ['node:http', both!.node]] as const) {
    const r = await heldThenServed(gw, 'POST /h1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab', 'cdefghij', '/h1');
    assert.not.match(r.early, /\r\n\r\nok/, `${name}: the answer went before its body was in: ${JSON.stringify(r.early)}`);
    assert.equal(statusesOf(r.got), [200, 200], `${name}: ${JSON.stringify(r.got)}`);
  }
});

test.run();
