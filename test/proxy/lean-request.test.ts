// LeanRequest (src/proxy/lean-request.ts) as the Readable the exchange reads: a body flows
// once a 'data' listener comes, in order, across pauses; what arrives meanwhile is held, and
// its connection is told to stop reading while anything is held, or, before any listener (the
// request waits in the app's queue), once QUEUED_BODY_BYTES is; a dumped body is dropped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { parsePlainHead } from '../../src/net/plain-head.js';
import { LeanRequest, QUEUED_BODY_BYTES } from '../../src/proxy/lean-request.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function request(length: number): { req: LeanRequest; holds: boolean[] } {
  const head = parsePlainHead(`POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}`)!;
  const holds: boolean[] = [];
  const req: LeanRequest = new LeanRequest(head, new net.Socket(), { bodyFlowChanged: () => holds.push(req.holdsBack) });
  return { req, holds };
}

test('bytes that come before a listener are held, then flow in order, then end', async () => {
  const { req } = request(6);
  req.receive(Buffer.from('ab'));
  assert.not.ok(req.holdsBack, 'never listened to, within QUEUED_BODY_BYTES: read on');
  const got: string[] = [];
  let ended = false;
  req.on('data', (c: Buffer) => got.push(c.toString()));
  req.on('end', () => (ended = true));
  req.receive(Buffer.from('cd')); // behind what is held: waits its turn
  await tick();
  assert.equal(got, ['ab', 'cd']);
  req.receive(Buffer.from('ef'));
  assert.equal(got, ['ab', 'cd', 'ef']);
  assert.ok(ended && req.complete && !req.holdsBack);
});

test('a pause holds what comes and tells the connection; a resume lets it go', async () => {
  const { req, holds } = request(4);
  const got: string[] = [];
  req.on('data', (c: Buffer) => got.push(c.toString()));
  req.pause();
  assert.ok(req.isPaused());
  assert.is(holds[holds.length - 1], true);
  req.receive(Buffer.from('ab'));
  assert.equal(got, []);
  req.resume();
  assert.equal(got, [], 'not inside the resume() call');
  await tick();
  assert.equal(got, ['ab']);
  assert.is(holds[holds.length - 1], false);
});

test('never listened to: the connection reads on until QUEUED_BODY_BYTES is held, counting each piece\'s cost, then holds back', () => {
  const { req } = request(QUEUED_BODY_BYTES * 4);
  let pieces = 0;
  while (!req.holdsBack && pieces < QUEUED_BODY_BYTES) {
    req.receive(Buffer.from('z'));
    pieces++;
  }
  assert.ok(req.holdsBack, 'held back within QUEUED_BODY_BYTES pieces of 1 byte');
  assert.ok(pieces < QUEUED_BODY_BYTES / 16, `${pieces} pieces of 1 byte: each costs more than its byte`);
  const big = request(QUEUED_BODY_BYTES * 4).req;
  big.receive(Buffer.alloc(QUEUED_BODY_BYTES - 1024));
  assert.not.ok(big.holdsBack);
  big.receive(Buffer.alloc(1024));
  assert.ok(big.holdsBack, 'past QUEUED_BODY_BYTES');
});

test('once listened to and paused, anything held holds the connection back (the bound is for a request nobody reads yet)', async () => {
  const { req } = request(4);
  req.on('data', () => {});
  req.pause();
  req.receive(Buffer.from('a'));
  assert.ok(req.holdsBack);
});

test('dump: what is held and what still comes is dropped, and nothing is held back', async () => {
  const { req } = request(4);
  req.receive(Buffer.from('ab'));
  req.dump();
  assert.not.ok(req.holdsBack);
  const got: string[] = [];
  req.on('data', (c: Buffer) => got.push(c.toString()));
  req.receive(Buffer.from('cd'));
  await tick();
  assert.equal(got, []);
  assert.ok(req.complete);
});

test.run();
