// SPEC 4's stop (SIGTERM) while requests wait on a wake that has no room under --max-workers
// (the room held by another app's slow lifespan shutdown): no wake starts during a stop, so each
// is answered 503 "the gateway is stopping", with Connection: close, as the stop begins, as what
// waits for a starting app is. Both ways to wait: queue: 0 (answerAsleep holds its answer until
// the room is known) and queue: 1 (in the queue behind the wake), a websocket handshake held for
// the wake too; and a request read during the stop for such an app gets the same. Until 2026-12-08 each was cut at the end of --grace with no
// status line. Through the real CLI, raw bytes, real workers.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { acceptedBy, ASK_GATEWAY_EVERY_MS, isAlive, waitFor } from '../helpers/process.js';
import { idleGateways, writeSlowstop } from '../helpers/idle-gateways.js';

const test = suite('a stop answers what waits for a wake with no room');
const gateways = idleGateways('apppkg-idle-stop-');
const { open, app, get } = gateways;

test.after.each(async () => {
  await gateways.stopAll();
});

/** A WSGI app `name` that answers its name. */
function plainApp(apps: string, name: string): void {
  writePackage(apps, name, {
    'app.yaml': `platform: python, wsgi\napp: ${name}:application\n`,
    [`${name}.py`]: `def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"${name}"]\n`,
  });
}

/** An ASGI app `one` that answers its name and takes websockets. */
function asgiApp(apps: string): void {
  writePackage(apps, 'one', {
    'app.yaml': 'platform: python, asgi\napp: one:app\n',
    'one.py': [
      'async def app(scope, receive, send):',
      '    if scope["type"] == "lifespan":',
      '        while True:',
      '            message = await receive()',
      '            await send({"type": message["type"] + ".complete"})',
      '            if message["type"] == "lifespan.shutdown":',
      '                return',
      '    if scope["type"] == "websocket":',
      '        await receive()',
      '        await send({"type": "websocket.accept"})',
      '        return',
      '    await send({"type": "http.response.start", "status": 200, "headers": []})',
      '    await send({"type": "http.response.body", "body": b"one"})',
      '',
    ].join('\n'),
  });
}

/**
 * A connection of its own: `send` writes a GET of `path` with `fields` (at once unless `later`);
 * `answer`, the raw bytes until the gateway closes it (30 s at most).
 */
function rawGet(port: number, path: string, later = false, fields = ''): { socket: net.Socket; send: () => void; answer: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  const send = (): void => void socket.write(`GET ${path} HTTP/1.1\r\nHost: example.test\r\n${fields}\r\n`);
  if (!later) socket.once('connect', send);
  const answer = new Promise<string>((resolve) => {
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (raw += c));
    socket.on('error', (err) => resolve(`${raw}[${(err as NodeJS.ErrnoException).code ?? err.message}]`));
    socket.on('close', () => resolve(raw));
    socket.setTimeout(30_000, () => socket.destroy(new Error('no close within 30 s')));
  });
  return { socket, send, answer };
}

test('R3.8 --max-workers 1, --grace 3: SIGTERM while a queue: 0 and a queue: 1 request and a websocket handshake wait for wakes with no room: each gets 503 "the gateway is stopping" with Connection: close as the stop begins, not a cut at the grace\'s end', async () => {
  const env = await open([], 'defaults:\n  workers: 1\napps:\n  slowstop:\n    idle_timeout: 1\n  zero: {queue: 0, idle_timeout: 1}\n  one: {queue: 1, idle_timeout: 1}\n', ['--max-workers', '1', '--grace', '3'], (apps) => {
    plainApp(apps, 'zero');
    asgiApp(apps);
    writeSlowstop(apps, 30, true);
  });
  const port = Number(new URL(env.gw.url).port);
  await waitFor(async () => (await get(env, '/slowstop/hold')).status === 200, 60_000, 'slowstop to serve /hold', ASK_GATEWAY_EVERY_MS);
  const [stopping] = (await app(env, 'slowstop')).workers.map((w: any) => w.pid);
  await waitFor(async () => (await app(env, 'slowstop')).state === 'idle', 20_000, 'slowstop to go idle', ASK_GATEWAY_EVERY_MS);
  for (const name of ['zero', 'one']) assert.is((await app(env, name)).state, 'idle', name);
  assert.ok(isAlive(stopping), 'slowstop\'s worker is in its lifespan shutdown, holding the room');
  const zero = rawGet(port, '/zero/');
  const one = rawGet(port, '/one/');
  await waitFor(async () => (await app(env, 'zero'))?.state === 'waking' && (await app(env, 'one'))?.state === 'waking', 10_000, 'both wakes to wait for room', ASK_GATEWAY_EVERY_MS);
  const handshake = rawGet(port, '/one/ws', false, 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n');
  await waitFor(() => handshake.socket.localPort !== undefined && acceptedBy(env.gw.child.pid!, handshake.socket.localPort), 10_000, 'the gateway to accept the handshake\'s connection');
  // Accepted before the stop, its request read during it (the stop gives such a connection a
  // moment): it finds the wake still without room, and no wake to wait for either.
  const late = rawGet(port, '/one/', true);
  await waitFor(() => late.socket.localPort !== undefined && acceptedBy(env.gw.child.pid!, late.socket.localPort), 10_000, 'the gateway to accept the late connection');
  env.gw.child.kill('SIGTERM');
  await waitFor(() => /SIGTERM: stopping/.test(env.gw.output()), 10_000, () => `the stop to begin:\n${env.gw.output()}`);
  late.send();
  for (const [name, answer] of Object.entries({ zero: zero.answer, one: one.answer, 'one\'s websocket': handshake.answer, 'one, asked during the stop': late.answer })) {
    const raw = await answer;
    const head = raw.slice(0, raw.indexOf('\r\n\r\n') + 2);
    assert.match(head, /^HTTP\/1\.1 503 /, `${name}: ${JSON.stringify(raw)}\n${env.gw.output()}`);
    assert.match(raw, /the gateway is stopping/, `${name}: ${JSON.stringify(raw)}`);
    assert.match(head, /\r\nConnection: close\r\n/i, `${name}: ${JSON.stringify(head)}`);
    // Answered as the stop began, not cut when its grace was over.
    assert.not.match(env.gw.output(), /the grace \(3 s\) is over/, `${name}: ${env.gw.output()}`);
  }
  // Its stop ends before the after-each's stop(), whose SIGTERM would otherwise be a second one.
  await waitFor(() => env.gw.child.exitCode !== null || env.gw.child.signalCode !== null, 30_000, () => `the gateway to exit:\n${env.gw.output()}`);
});

test.run();
