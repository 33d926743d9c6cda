// `logs -f` and `status --watch` outlive a gateway that goes away, as `tail -F` does (docs/admin.md):
// the wait says so on stderr (no silent hang), and Ctrl-C ends it at once with 0, as it ends a
// follow that streams. The built CLI against a real gateway killed with SIGKILL (no trailer: the
// connection cut), then against a listener that takes the connection and never answers, as a
// hung gateway would: a try in flight then must not hold Ctrl-C up.
//
// The admin listener is a unix socket in the test's own directory (H310): on a TCP port freed by
// the kill, the silent listener, and the gateway started again, listened a moment later, and
// met EADDRINUSE whenever another process had been given that port meanwhile. No other process
// makes a socket at this path, so it is the test's until it is done.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, BIN, ROOT, runCli, startCli, tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('follow: the wait for a gateway that went away');

interface Follower {
  child: ChildProcess;
  out: string;
  err: string;
  exit: Promise<{ code: number | null; signal: string | null }>;
}

function follow(args: string[]): Follower {
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const f: Follower = { child, out: '', err: '', exit: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
  child.stdout!.on('data', (c) => (f.out += c));
  child.stderr!.on('data', (c) => (f.err += c));
  return f;
}

test('a gateway killed: logs -f and status --watch say they wait for it, and Ctrl-C ends the wait at once with 0, a try in flight too', async () => {
  const dir = tempDir('apppkg-follow-wait-');
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  // A line in its log as it loads: logs -f has printed it once it follows.
  addPackage(apps, 'environ', 'blog', { 'environ_app.py': [[/^import json$/m, 'import json\nprint("blog loading", flush=True)']] });
  const followers: Follower[] = [];
  let silent: net.Server | null = null;
  const held = new Set<net.Socket>();
  let pids: number[] = [];
  const socket = join(dir.path, 'admin.sock');
  const admin = `unix:${socket}`;
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', admin, '--state-dir', state, '--access-log', 'off', '--settle', '0', ...oneWorkerEach(dir.path)]);
  try {
    await waitFor(async () => {
      const r = await runCli(['status', '--json', '--admin', admin], { ms: 15_000 });
      const status = r.status === 0 ? JSON.parse(r.stdout) : null;
      pids = status?.apps.flatMap((a: any) => a.workers.map((w: any) => w.pid)).filter(Boolean) ?? [];
      return status?.apps[0]?.state === 'ready';
    }, 60_000, 'blog ready', ASK_GATEWAY_EVERY_MS);
    // Two of each: one pair stopped between two tries, the other while a try hangs.
    const pair = () => [follow(['logs', 'blog', '-f', '--admin', admin]), follow(['status', '--watch', '--admin', admin])];
    const between = pair();
    const inFlight = pair();
    followers.push(...between, ...inFlight);
    const named = (f: Follower) => f.child.spawnargs.slice(1, 4).join(' ');
    for (const [logs, watch] of [between, inFlight]) {
      await waitFor(() => /^blog\s+ready/m.test(watch.out) && logs.out.includes('blog loading'), 15_000, () => `both following\n${watch.out}${watch.err}\n${logs.out}${logs.err}`);
    }

    gw.child.kill('SIGKILL');
    await gw.stop();
    // Said at once, not a silent hang: the connection was cut (no trailer from a stop).
    const lost = `apppkg-gateway: lost the gateway at ${admin} (the connection closed); waiting for it to come back, trying every 1 s (Ctrl-C stops)\n`;
    await waitFor(() => followers.every((f) => f.err.includes(lost)), 10_000, () => `the lost lines\n${followers.map((f) => f.err).join('\n')}`);
    // Nobody on the socket: each try is refused at once, and the wait is between tries.
    await new Promise((r) => setTimeout(r, 2500));
    for (const f of followers) {
      assert.is(f.child.exitCode, null, `${named(f)} still waits\n${f.err}`);
      // Said once however many tries fail.
      assert.is(f.err, lost, named(f));
    }
    for (const f of between) f.child.kill('SIGINT');
    // A bound, not a figure: well under the client's 5 s connect bound.
    for (const f of between) assert.equal(await within(3000, `${named(f)} to end at Ctrl-C between tries`, f.exit), { code: 0, signal: null });

    // Something takes the address and never answers (a gateway hung as it starts): a try hangs
    // in it, and a followed answer has no answer bound of its own. The killed gateway's socket
    // file is still there (refusing), as a gateway started again would find it.
    rmSync(socket, { force: true });
    silent = net.createServer((conn) => held.add(conn));
    await new Promise<void>((resolve, reject) => silent!.once('error', reject).listen(socket, resolve));
    await waitFor(() => held.size >= 2, 10_000, 'both tries connected to the silent listener');
    for (const f of inFlight) {
      assert.is(f.child.exitCode, null, `${named(f)} still waits\n${f.err}`);
      assert.is(f.err, lost, named(f));
    }
    for (const f of inFlight) f.child.kill('SIGINT');
    for (const f of inFlight) assert.equal(await within(3000, `${named(f)} to end at Ctrl-C with a try in flight`, f.exit), { code: 0, signal: null });
  } finally {
    for (const f of followers) if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
    for (const s of held) s.destroy();
    await new Promise((resolve) => (silent === null ? resolve(null) : silent.close(resolve)));
    await gw.stop();
    dir.remove();
  }
  await assertNoOrphans([...pids, ...followers.map((f) => f.child.pid!)], 15_000);
});

// A retry that connected to something that never answered waited there for ever: the followed
// answer set no bound at all, its head's included. The head is bounded now (5 s, as every other
// admin request's), the try given up, said once, and made again: a gateway started on that
// address later is found, though the silent connection stays open.
test('a retry that connects and gets no answer: given up after the head bound, said once, tried again, and the gateway started later is followed', async () => {
  const dir = tempDir('apppkg-follow-silent-');
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  addPackage(apps, 'environ', 'blog');
  const followers: Follower[] = [];
  let silent: net.Server | null = null;
  const held = new Set<net.Socket>();
  const gateways: Array<Awaited<ReturnType<typeof startCli>>> = [];
  const start = async (admin: string) => {
    const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', admin, '--state-dir', state, '--access-log', 'off', '--settle', '0', ...oneWorkerEach(dir.path)]);
    gateways.push(gw);
    return gw;
  };
  try {
    const socket = join(dir.path, 'admin.sock');
    const admin = `unix:${socket}`;
    const first = await start(admin);
    const watch = follow(['status', '--watch', '--admin', admin]);
    const logs = follow(['logs', 'blog', '-f', '--admin', admin]);
    followers.push(watch, logs);
    await waitFor(() => /^blog\s+/m.test(watch.out), 60_000, () => `status --watch following\n${watch.out}${watch.err}`);
    first.child.kill('SIGKILL');
    await first.stop();
    await waitFor(() => followers.every((f) => f.err.includes('lost the gateway')), 15_000, () => followers.map((f) => f.err).join('\n'));
    rmSync(socket, { force: true });
    silent = net.createServer((conn) => held.add(conn));
    await new Promise<void>((resolve, reject) => silent!.once('error', reject).listen(socket, resolve));
    const silentLine = `apppkg-gateway: the gateway at ${admin} took the connection and did not answer (no answer within 5 s); trying again every 1 s\n`;
    // A first try given up, and at least one more made after it, while the listener stays silent.
    await waitFor(() => followers.every((f) => f.err.includes(silentLine)) && held.size >= 4, 30_000, () => `the silent line, and tries made again (${held.size} connections)\n${followers.map((f) => f.err).join('\n')}`);
    // A plain status there is refused as a gateway that does not answer: it was an internal
    // error (err.format is not a function), the client's own timeout taken for a GatewayError.
    const once = await runCli(['status', '--admin', admin], { ms: 30_000 });
    assert.is(once.status, 1, once.stdout + once.stderr);
    assert.not.match(once.stderr, 'internal error');
    assert.match(once.stderr, 'no answer within 5 s');
    // The listener goes, its connections stay (a hung process keeps them): the gateway takes the
    // address. close()'s callback waits for those connections: the socket is gone once it is called.
    silent.close();
    silent = null;
    await start(admin);
    await waitFor(() => followers.every((f) => f.err.includes(`the gateway at ${admin} is back`)), 30_000, () => `back\n${followers.map((f) => f.err).join('\n')}`);
    for (const f of followers) {
      assert.is(f.child.exitCode, null, f.err);
      assert.is(f.err.split(silentLine).length - 1, 1, `said once\n${f.err}`);
    }
    for (const f of followers) f.child.kill('SIGINT');
    for (const f of followers) assert.equal(await within(5000, 'the follower to end at Ctrl-C', f.exit), { code: 0, signal: null });
  } finally {
    for (const f of followers) if (f.child.exitCode === null && f.child.signalCode === null) f.child.kill('SIGKILL');
    for (const sock of held) sock.destroy();
    await new Promise((resolve) => (silent === null ? resolve(null) : silent.close(resolve)));
    for (const gw of gateways) await gw.stop();
    dir.remove();
  }
  await assertNoOrphans(followers.map((f) => f.child.pid!), 15_000);
});

test.run();
