// LeanRequest (src/proxy/lean-request.ts) as the Readable the exchange reads: a body flows
// once a 'data' listener comes, in order, across pauses; what arrives meanwhile is held, and
// its connection is told to stop reading while anything is held; a dumped body is dropped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { parsePlainHead } from '../../src/net/plain-head.js';
import { LeanRequest } from '../../src/proxy/lean-request.js';

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
  assert.ok(req.holdsBack);
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
