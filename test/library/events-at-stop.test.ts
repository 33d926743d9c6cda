// A client of the admin listener's /events (the status page, `status --watch`, a script) saw the
// gateway's stop as ECONNRESET: the listener destroyed the stream's socket in the middle of its
// chunked body, as a crash would. The stream now ends as HTTP ends one, its last chunk and the
// trailer saying the gateway stopped (stream-end.ts), before the socket goes: the library's
// gateway.stop() and the CLI's SIGTERM alike.
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { startCli, tempDir, within } from '../helpers/process.js';

const test = suite('an /events stream ends cleanly when the gateway stops');
const work = tempDir('apppkg-events-at-stop-');
test.after(() => work.remove());

interface Ending {
  /** The stream's first bytes came (its head and the first event). */
  opened: Promise<void>;
  /** How it ended: 'end' with its trailers, or the error the client got. */
  ended: Promise<{ how: 'end'; trailers: NodeJS.Dict<string> } | { how: 'error'; code: string }>;
}

/** GET /events on `adminUrl`, with how its stream ends. */
function watch(adminUrl: string): Ending {
  let opened!: () => void;
  const openedP = new Promise<void>((resolve) => (opened = resolve));
  const ended = new Promise<{ how: 'end'; trailers: NodeJS.Dict<string> } | { how: 'error'; code: string }>((resolve) => {
    const req = http.get(`${adminUrl}/events`, (res) => {
      res.once('data', () => opened());
      res.on('data', () => {});
      res.once('end', () => resolve({ how: 'end', trailers: res.trailers }));
      res.once('error', (err: NodeJS.ErrnoException) => resolve({ how: 'error', code: err.code ?? err.message }));
    });
    req.once('error', (err: NodeJS.ErrnoException) => resolve({ how: 'error', code: err.code ?? err.message }));
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
  });
  return { opened: openedP, ended };
}

test('a library Gateway: gateway.stop() ends the stream with its terminator and the trailer', async () => {
  const apps = join(work.path, 'lib-apps');
  mkdirSync(apps);
  const gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'lib-state'), listen: '127.0.0.1:0', admin: '127.0.0.1:0', watchIntervalMs: 0, settleMs: 0, say: () => {} }));
  let stopped = false;
  try {
    const stream = watch(gateway.adminUrl!);
    await within(20_000, 'the first event', stream.opened);
    await within(30_000, 'gateway.stop()', gateway.stop());
    stopped = true;
    const ending = await within(10_000, 'the stream to end', stream.ended);
    assert.equal(ending, { how: 'end', trailers: { 'apppkg-stream-end': 'gateway-stopped' } });
  } finally {
    if (!stopped) await gateway.stop();
  }
});

test('the CLI gateway: its stop (SIGTERM) ends the stream the same way', async () => {
  const apps = join(work.path, 'cli-apps');
  mkdirSync(apps);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'cli-state'), '--access-log', 'off']);
  let stopped = false;
  try {
    const stream = watch(gw.adminUrl!);
    await within(20_000, 'the first event', stream.opened);
    await gw.stop();
    stopped = true;
    const ending = await within(10_000, 'the stream to end', stream.ended);
    assert.equal(ending, { how: 'end', trailers: { 'apppkg-stream-end': 'gateway-stopped' } });
  } finally {
    if (!stopped) await gw.stop();
  }
});

test.run();
