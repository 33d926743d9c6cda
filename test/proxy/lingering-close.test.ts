// A refusal that closes the connection (a 400 for a bad head, a 413) while the client is still
// sending: closing a socket with unread bytes makes the kernel send a RST, which can destroy
// the answer before the client reads it. The gateway closes as nginx's lingering_close does:
// its answer, its FIN, then what the client sends is read and dropped (for a bounded time and
// number of bytes) before the close. Both readers: the lean lane and node:http.
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { LINGER_MS, LINGER_TOTAL_MS } from '../../src/net/lingering-close.js';
import { startBothReaders, portOf, type BothReaders } from '../helpers/both-readers.js';
import { tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { kernelQueues } from '../helpers/forced-reads.js';
import { stalled } from '../helpers/stall.js';

const test = suite('lingering close');
const apps = tempDir('apppkg-lingering-apps-');
const environment = tempDir('apppkg-lingering-env-');
let both: BothReaders | null = null;

const WSGI = `def application(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;

test.before(async () => {
  writePackage(apps.path, 'w', { 'app.yaml': 'platform: python, wsgi\napp: w:application\n', 'w.py': WSGI });
  writeFileSync(join(environment.path, 'environment.yaml'), 'apps:\n  w:\n    max_body: 1000\n');
  both = await startBothReaders(apps, ['--environment', join(environment.path, 'environment.yaml')]);
  for (const gw of [both.lean, both.node]) await waitFor(async () => (await fetch(`${gw.url}/w/`)).status === 200, 20_000, () => `the app ready in\n${gw.output()}`);
});

test.after(async () => {
  await both?.stop();
  environment.remove();
});

/**
 * Sends `head`, then writes `piece` 50 times, a turn apart, before it reads anything (as a
 * client busy uploading does), then reads until the gateway's close: what it read by then.
 */
function keepSending(port: number, head: string, piece: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let got = '';
    let left = 50;
    const more = (): void => {
      if (left-- === 0 || !socket.writable) {
        socket.on('data', (c) => (got += c.toString('latin1')));
        return;
      }
      socket.write(piece, () => setTimeout(more, 1));
    };
    socket.on('connect', () => {
      socket.write(head);
      more();
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    // The gateway's own bound is 5 s: a close that never comes fails the test, not hangs it.
    const deadline = setTimeout(() => socket.destroy(), 15_000);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(got);
    });
  });
}

/**
 * Sends `head`, then a byte a second for `seconds` without reading (its socket paused: the answer
 * waits in its kernel's buffer, where a RST would destroy it), then reads until the close.
 */
function sendSlowly(port: number, head: string, seconds: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.pause();
    let got = '';
    let left = seconds;
    const more = (): void => {
      if (left-- === 0 || !socket.writable) {
        socket.on('data', (c) => (got += c.toString('latin1')));
        socket.resume();
        return;
      }
      socket.write('x', () => setTimeout(more, 1000));
    };
    socket.on('connect', () => {
      socket.write(head);
      setTimeout(more, 1000);
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
    const deadline = setTimeout(() => socket.destroy(), seconds * 1000 + 15_000);
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(got);
    });
  });
}

/** The answer is whole: its head and as many body bytes as its Content-Length says. */
function whole(raw: string, status: number): boolean {
  const at = raw.indexOf('\r\n\r\n');
  const length = /\r\ncontent-length: (\d+)/i.exec(raw);
  return raw.startsWith(`HTTP/1.1 ${status} `) && at !== -1 && length !== null && raw.length - at - 4 === Number(length[1]);
}

for (const reader of ['lean', 'node'] as const) {
  const gw = (): RunningGateway => both![reader];

  test(`R1.24b ${reader}: a client still sending after a refused head reads the whole 400, every time`, async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => keepSending(portOf(gw()), 'POST /.. HTTP/1.1\r\nHost: h\r\nHost: a@b\r\n\r\n', 'x')));
    for (const raw of answers) assert.ok(whole(raw, 400), JSON.stringify(raw.slice(0, 200)));
  });

  test(`R1.24b ${reader}: a client still uploading past max_body reads the whole 413, every time`, async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => keepSending(portOf(gw()), 'POST /w/up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n', 'y'.repeat(4096))));
    for (const raw of answers) assert.ok(whole(raw, 413), JSON.stringify(raw.slice(0, 200)));
  });

  test(`R1.24b ${reader}: a client sending a byte a second for 7 s after a refused head, reading only then, reads the whole 400 (5 s is the wait between its bytes, not for all of them, as nginx's lingering_timeout)`, async () => {
    const answers = await Promise.all(Array.from({ length: 3 }, () => sendSlowly(portOf(gw()), 'POST /.. HTTP/1.1\r\nHost: h\r\nHost: a@b\r\n\r\n', 7)));
    for (const raw of answers) assert.ok(whole(raw, 400), JSON.stringify(raw.slice(0, 200)));
  });

  test(`R1.24b ${reader}: no connection is left open once such clients are gone`, async () => {
    const port = portOf(gw());
    await Promise.all(Array.from({ length: 30 }, (_, i) => keepSending(port, i % 2 ? 'GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n' : 'POST /w/up HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n', 'z'.repeat(1000))));
    const open = (): string => execFileSync('ss', ['-Htn', 'state', 'established', `sport = :${port}`], { encoding: 'utf8' }).trim();
    await waitFor(() => open() === '', 3000, () => `no connection of port ${port} open:\n${open()}`);
  });
}

/**
 * Sends a refused head, not reading (the 400 waits in its kernel's buffer); once the 400 is
 * there, `gw` is stopped past its 5 s wait for the client, which sends a byte 1 s into the stop,
 * in time. Then reads until the close: what it read, whether the connection was reset, and
 * whether the gateway had closed its end with the byte unread (a RST sent, which can destroy an
 * answer the client has not read; on loopback the FIN before it kept the 400 readable).
 */
async function sendDuringStall(gw: RunningGateway): Promise<{ got: string; reset: boolean; destroyedUnread: boolean }> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  socket.setNoDelay(true);
  socket.pause();
  let got = '';
  let reset = false;
  let destroyedUnread = false;
  socket.on('error', (err: NodeJS.ErrnoException) => (reset ||= err.code === 'ECONNRESET' || err.code === 'EPIPE'));
  let closed = false;
  socket.on('close', () => (closed = true));
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('POST /.. HTTP/1.1\r\nHost: h\r\nHost: a@b\r\n\r\n');
    await waitFor(() => (kernelQueues(socket)?.clientUnread ?? 0) > 0, 10_000, 'the 400 in the client\'s kernel');
    await stalled(gw.child.pid!, LINGER_MS + 1500, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      socket.write('x');
    });
    // A request served after the stop is a turn of the gateway's loop after it: had it judged
    // the client silent first, its end of the connection is gone (destroyed with the byte
    // unread: a RST), not waiting for the client's FIN.
    assert.is((await fetch(`${gw.url}/w/`)).status, 200);
    const queues = kernelQueues(socket);
    if (queues === null || queues.serverUnread > 0) destroyedUnread = true;
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    socket.on('end', () => socket.end());
    socket.resume();
    await waitFor(() => closed, 15_000, () => `the close, ${JSON.stringify(got)} read`);
    return { got, reset, destroyedUnread };
  } finally {
    socket.destroy();
  }
}

test('R1.24b lean and node: a byte the client sent in time while the gateway\'s loop was stalled past the 5 s wait is read, the connection not closed with it unread (a RST, which can lose the 400)', async () => {
  const [lean, node] = await Promise.all([sendDuringStall(both!.lean), sendDuringStall(both!.node)]);
  for (const [reader, seen] of [['the lane', lean], ['node:http', node]] as const) {
    assert.ok(!seen.destroyedUnread && !seen.reset && whole(seen.got, 400), `${reader}: ${seen.destroyedUnread ? 'closed with the byte unread, ' : ''}${seen.reset ? 'reset, ' : ''}${JSON.stringify(seen.got.slice(0, 200))}`);
  }
});

/**
 * Sends a refused head, then a byte every 200 ms, never reading, until the gateway closes the
 * connection (or `ms`): lingering, the gateway reads and drops the bytes, its 5 s of silence never
 * reached. Resolves once the gateway has read the first bytes after its 400: the linger is under way.
 */
async function lingerOn(gw: RunningGateway, ms: number): Promise<{ closed: Promise<void>; sending: () => boolean }> {
  const socket = net.connect(portOf(gw), '127.0.0.1');
  socket.setNoDelay(true);
  socket.pause();
  socket.on('error', () => {});
  let sending = true;
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    sending = false;
    resolve();
  }));
  const deadline = setTimeout(() => socket.destroy(), ms);
  void closed.then(() => clearTimeout(deadline));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('POST /.. HTTP/1.1\r\nHost: h\r\nHost: a@b\r\n\r\n');
  const more = (): void => {
    if (!socket.destroyed) socket.write('x', () => setTimeout(more, 200));
  };
  await waitFor(() => (kernelQueues(socket)?.clientUnread ?? 0) > 0, 10_000, 'the 400 in the client\'s kernel');
  more();
  await new Promise((resolve) => setTimeout(resolve, 600));
  assert.is(kernelQueues(socket)?.serverUnread, 0, 'the gateway reads what comes after its 400 (it lingers)');
  return { closed, sending: () => sending };
}

test('R1.24b lean and node: a stop cuts lingering connections with the rest, not waiting for the client to stop sending (up to 30 s)', async () => {
  const empty = tempDir('apppkg-lingering-stop-apps-');
  const pair = await startBothReaders(empty);
  try {
    for (const [reader, gw] of [['the lane', pair.lean], ['node:http', pair.node]] as const) {
      const lingering = await lingerOn(gw, LINGER_TOTAL_MS + 15_000);
      // Past this the helper kills the gateway (exit code null): a stop that waited for the
      // client, until the linger's own bound, would be killed here.
      const code = await gw.stop(LINGER_TOTAL_MS - 10_000);
      assert.is(code, 0, `${reader}: the stop ended by itself\n${gw.output()}`);
      await waitFor(() => !lingering.sending(), 5000, `${reader}: the lingering connection closed by the stop`);
      await lingering.closed;
    }
  } finally {
    await pair.stop();
  }
});

test.run();
