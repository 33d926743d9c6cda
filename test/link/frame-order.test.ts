// A worker that sends a request's body (or its end) before its head, or a second head after it,
// breaks the link's protocol (docs/protocol.md §4): a shim fault, or the app's bytes on fd 4
// that happened to frame. The body went to `res.write`, and Node made up a `200` chunked head
// the app never sent; an end was a `200` with no body. Now: 502 (a cut once the head is out),
// the worker killed saying what it sent, as for bytes that are no frames. The fixtures write the frame themselves, on fd 4, for the request id the test
// names: the first request on a fresh link is 1 (WorkerLink's nextId), so each case has its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawConnection, startLinkHarness } from '../helpers/link-harness.js';
import { waitFor } from '../helpers/process.js';

const BEFORE_HEAD = (name: string) => `${name} for request 1 before its response head`;
const cases = [
  ['frame-order', 'body', BEFORE_HEAD('RESPONSE_BODY')],
  ['frame-order', 'end', BEFORE_HEAD('RESPONSE_END')],
  ['frame-order-asgi', 'body', BEFORE_HEAD('RESPONSE_BODY')],
  ['frame-order-asgi', 'end', BEFORE_HEAD('RESPONSE_END')],
  // Frames too short for what they carry: a read of them threw from the link's socket and
  // ended the whole gateway (an app can write them on fd 4).
  ['frame-order', 'short-full', 'a RESPONSE_FULL of 2 bytes for request 1, shorter than the head it announces'],
  ['frame-order', 'long-head', 'a RESPONSE_FULL of 12 bytes for request 1, shorter than the head it announces'],
  ['frame-order', 'short-credit', 'a frame \\(type 0x17, 2 bytes\\) for request 1 that the gateway could not read \\('],
] as const;

/**
 * What the client read of `/?frame=FRAME&id=1` on a fresh worker of `fixture`, and the line its
 * worker was killed with; the worker gone.
 */
async function askForFrame(fixture: string, frame: string): Promise<{ text: string; killing: string }> {
  const h = await startLinkHarness(fixture, { workers: 1, threads: 1 });
  try {
    const worker = h.workers[0];
    const killed: string[] = [];
    worker.on('killing', (why: string, fix?: string) => killed.push(`${why}: ${fix ?? ''}`));
    const c = await RawConnection.open(h.port);
    let text: string;
    try {
      c.write(`GET /?frame=${frame}&id=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      text = await c.waitClosed(10_000);
    } finally {
      c.destroy();
    }
    const killing = await waitFor(() => killed[0], 5000, `the worker's killing (the client read: ${JSON.stringify(text)})`);
    await waitFor(() => worker.state === 'exited', 5000, 'the worker gone');
    return { text, killing };
  } finally {
    await h.stop();
  }
}

function assertKilledFor(killing: string, said: string): void {
  assert.match(killing, new RegExp(`^sent ${said}.* on its link to the gateway: `));
  assert.match(killing, /write only to descriptors the app opened itself/);
}

for (const [fixture, frame, said] of cases) {
  test(`${fixture}: ${frame}: 502, never a made-up 200, and the worker is killed saying what it sent`, async () => {
    const { text, killing } = await askForFrame(fixture, frame);
    assert.match(text, /^HTTP\/1\.1 502 /, text);
    assert.not.match(text, /made-up body|the app's own answer/, text);
    assertKilledFor(killing, said);
  });
}

// A second head, after the app's own went out with its first piece: Node's writeHead refused it,
// and it was said as the app's invalid head (a warning), the worker kept serving.
const AFTER_HEAD = (name: string) => `${name} for request 1 after its response head`;
const secondHeads = [
  ['frame-order', 'second-head', AFTER_HEAD('RESPONSE')],
  ['frame-order', 'second-full', AFTER_HEAD('RESPONSE_FULL')],
  ['frame-order-asgi', 'second-head', AFTER_HEAD('RESPONSE')],
  ['frame-order-asgi', 'second-full', AFTER_HEAD('RESPONSE_FULL')],
] as const;

for (const [fixture, frame, said] of secondHeads) {
  test(`${fixture}: ${frame}: the answer cut after the app's first piece, and the worker is killed saying what it sent`, async () => {
    const { text, killing } = await askForFrame(fixture, frame);
    assert.match(text, /^HTTP\/1\.1 200 [^]*\r\ntransfer-encoding: chunked\r\n[^]*the app's first piece\n\r\n/i, text);
    // Cut, so never read as whole: no last chunk, nothing of the second head or after it.
    assert.not.ok(text.endsWith('\r\n0\r\n\r\n'), text);
    assert.not.match(text, /X-Second|made-up body|the app's own answer/, text);
    assertKilledFor(killing, said);
  });
}

test('a streamed head Node refuses: 502 for it, its body pieces dropped, the worker kept and serving', async () => {
  // writeHead's refusal left the exchange on the link without a head, so the body piece after
  // it was taken for a body before any head: the worker was killed and every request on its
  // link failed, for an answer the gateway had already given its 502.
  const h = await startLinkHarness('frame-order', { workers: 1, threads: 1 });
  try {
    const worker = h.workers[0];
    const killed: string[] = [];
    worker.on('killing', (why: string) => killed.push(why));
    const ask = async (target: string): Promise<string> => {
      const c = await RawConnection.open(h.port);
      try {
        c.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
        return await c.waitClosed(10_000);
      } finally {
        c.destroy();
      }
    };
    const refused = await ask('/?frame=refused-head&id=1');
    assert.match(refused, /^HTTP\/1\.1 502 /, refused);
    assert.not.match(refused, /made-up body/, refused);
    const next = await ask('/');
    assert.match(next, /^HTTP\/1\.1 200 [^]*the app's own answer/, next);
    assert.equal(killed, []);
    assert.is(worker.state, 'ready');
  } finally {
    await h.stop();
  }
});

test.run();
