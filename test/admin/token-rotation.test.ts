// A rotated admin token (a new one in the --admin-token file, then SIGHUP) revokes what the old
// one opened: the event streams and followed logs let in by it end, each saying why, as its
// next request is refused 401 (docs/admin.md "To rotate the token"). They streamed on, the
// apps' logs included, for as long as whoever held the leaked token kept them open. A SIGHUP
// that leaves the token as it was cuts nothing. One gateway, one app, for every case.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { sseParser } from '../../src/cli/admin-client.js';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, BIN, ROOT, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';

const test = suite('admin: a rotated token ends the streams the old one opened');
const work = tempDir('apppkg-token-rotation-');
const OLD = 'old-token-7c1e94d2';
const NEW = 'new-token-0b5fa316';
const gatewayFile = join(work.path, 'admin-token');
const oldFile = join(work.path, 'old-token');
writeFileSync(gatewayFile, `${OLD}\n`, { mode: 0o600 });
writeFileSync(oldFile, `${OLD}\n`, { mode: 0o600 });

/** Prints each /say/TEXT to its log. */
const APP = `def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/say/"):
        print(path[5:], flush=True)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`;

const WAIT_MS = 15_000;
let gw: RunningGateway | undefined;
const children: ChildProcess[] = [];
const streams: Array<{ destroy(): void }> = [];

test.after(async () => {
  for (const stream of streams) stream.destroy();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await gw?.stop();
  work.remove();
});

/** A command (the CLI, curl) left running: its output so far, and its exit once it came. */
function running(file: string, args: string[]): { child: ChildProcess; out(): string; err(): string; exit: Promise<number | null> } {
  const child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** GET /events as a browser logged in sends it (Basic): its events, its end and its trailers. */
async function eventStream(admin: string, token: string) {
  const res = await request(`${admin}/events`, { headers: { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` } });
  assert.is(res.statusCode, 200);
  streams.push(res.body);
  const events: string[] = [];
  res.body.on('data', sseParser((event) => events.push(event)));
  const ended = new Promise<Record<string, string | string[] | undefined>>((resolve) => res.body.once('end', () => resolve(res.trailers)));
  return { events, ended, open: () => !res.body.readableEnded };
}

test('SIGHUP with a new token ends the old one\'s event streams and followed logs, each saying why; the same token again cuts nothing', async () => {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'blog', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': APP });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', gatewayFile, '--state-dir', join(work.path, 'state'), '--access-log', 'off', ...oneWorkerEach(work.path)]);
  const admin = gw.adminUrl!;
  const addr = new URL(admin).host;
  const statusWith = async (token: string) => (await request(`${admin}/status`, { headers: { authorization: `Bearer ${token}` } })).statusCode;
  const blogReady = async () => {
    const res = await request(`${admin}/status`, { headers: { authorization: `Bearer ${OLD}` } });
    return ((await res.body.json()) as { apps: Array<{ name: string; state: string }> }).apps.find((a) => a.name === 'blog')?.state === 'ready';
  };
  await waitFor(blogReady, 30_000, 'blog to be ready', ASK_GATEWAY_EVERY_MS);
  const say = async (text: string) => assert.is((await request(`${gw!.url}/blog/say/${text}`)).statusCode, 200);

  // Four streams opened with the old token: the CLI's two, curl's followed log, a browser's events.
  const logs = running(BIN, ['logs', 'blog', '-f', '--lines', '0', '--admin', addr, '--admin-token', oldFile]);
  const watch = running(BIN, ['status', '--watch', '--json', '--admin', addr, '--admin-token', oldFile]);
  const curl = running('curl', ['-sSN', '-H', `Authorization: Bearer ${OLD}`, `${admin}/apps/blog/log?lines=0&follow=1`]);
  const events = await eventStream(admin, OLD);
  await waitFor(() => watch.out() !== '' && events.events.length > 0, WAIT_MS, 'the event streams to begin');
  // The followers are told apart from ones that have not connected yet by a line each prints.
  await waitFor(async () => {
    await say('before-the-sighup');
    return logs.out().includes('before-the-sighup') && curl.out().includes('before-the-sighup');
  }, WAIT_MS, 'the followed logs to begin', ASK_GATEWAY_EVERY_MS);

  // The same token again: no rotation. Each stream, once the SIGHUP was handled (the token is read
  // before the line is written), still carries what comes after it.
  const hangups = () => gw!.output().split('rescanning the apps directory').length - 1;
  gw.child.kill('SIGHUP');
  await waitFor(() => hangups() === 1, WAIT_MS, 'the first SIGHUP');
  const seen = events.events.length;
  await say('after-the-same-token');
  await waitFor(() => logs.out().includes('after-the-same-token') && curl.out().includes('after-the-same-token'), WAIT_MS, () => `the followed logs to go on\n${logs.err()}${curl.err()}`);
  await waitFor(() => events.events.length > seen && watch.out().split('\n').length > 2, WAIT_MS, 'the event streams to go on');
  assert.not.match(gw.output(), 'the admin token was read again');
  assert.ok(events.open());
  for (const command of [logs, watch, curl]) assert.is(command.child.exitCode, null, command.err());

  // A new token: every stream the old one opened ends, and says why where a client can read it.
  writeFileSync(gatewayFile, `${NEW}\n`);
  gw.child.kill('SIGHUP');
  assert.is(await within(WAIT_MS, 'logs -f to end', logs.exit), 1, logs.err());
  const said = 'the gateway at ' + addr + ' ended GET /apps/blog/log?lines=0&follow=1: its admin token changed (rotated at SIGHUP), and the one this command sent is no longer accepted\n';
  assert.match(logs.err(), said);
  assert.match(logs.err(), 'fix: run the command again with --admin-token FILE naming a file that holds the new token');
  assert.not.match(logs.err(), 'lost the gateway', 'not waited for as a gateway that went away');
  assert.is(await within(WAIT_MS, 'status --watch to end', watch.exit), 1, watch.err());
  assert.match(watch.err(), 'ended GET /events: its admin token changed');
  assert.is(await within(WAIT_MS, 'curl to end', curl.exit), 0, curl.err());
  assert.equal(await within(WAIT_MS, 'the event stream to end', events.ended), { 'apppkg-stream-end': 'token-changed' });
  assert.match(gw.output(), 'SIGHUP: the admin token was read again');

  // The old token is refused from now on, the new one let in, its streams too.
  assert.is(await statusWith(OLD), 401);
  assert.is(await statusWith(NEW), 200);
  const again = await eventStream(admin, NEW);
  await waitFor(() => again.events.length > 0, WAIT_MS, 'a stream with the new token to begin');
  const refused = await request(`${admin}/apps/blog/log?lines=0&follow=1`, { headers: { authorization: `Bearer ${OLD}` } });
  assert.is(refused.statusCode, 401);
  await refused.body.dump();
});

test.run();
