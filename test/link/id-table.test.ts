// The link's table of requests in flight (src/link/id-table.ts) on its own: ids rising and
// freed out of order, slots shared by ids that are a capacity apart, growth, ids past 2^31,
// and the order the link lists them in (oldest first: its timeouts count on it).
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IdTable } from '../../src/link/id-table.js';
import { WorkerLink, type LinkExchange } from '../../src/link/worker-link.js';

/** As the link does: the next id whose slot is free. */
function take(table: IdTable<string>, from: number): number {
  let id = from;
  while (!table.canTake(id)) id++;
  return id;
}

test('ids held, found and freed out of order, as a Map would', () => {
  const table = new IdTable<string>();
  const model = new Map<number, string>();
  let next = 1;
  // A long-running request holds its id while thousands pass: later ids that share its slot
  // are skipped, never mixed up with it.
  const slow = take(table, next);
  table.set(slow, 'slow');
  model.set(slow, 'slow');
  next = slow + 1;
  const open: number[] = [];
  for (let round = 0; round < 5000; round++) {
    const id = take(table, next);
    assert.is.not(id, slow);
    table.set(id, `r${id}`);
    model.set(id, `r${id}`);
    open.push(id);
    next = id + 1;
    // Up to 40 in flight, finishing in a scrambled order.
    if (open.length > 40 || round % 7 === 0) {
      const done = open.splice((round * 13) % open.length, 1)[0];
      assert.ok(table.delete(done));
      model.delete(done);
      assert.is(table.get(done), undefined);
      assert.not.ok(table.delete(done), 'a second delete finds nothing');
    }
    assert.is(table.size, model.size);
  }
  for (const [id, value] of model) assert.is(table.get(id), value);
  assert.equal(table.list(next), [...model.values()], 'oldest first, as a Map in insertion order');
  assert.is(table.get(slow), 'slow');
  // An id that shares a held one's slot is not mistaken for it.
  assert.is(table.get(slow + 64 * 1024), undefined);
});

test('grows past its first capacity, keeping what it holds', () => {
  const table = new IdTable<string>();
  const ids: number[] = [];
  let next = 1;
  for (let i = 0; i < 1000; i++) {
    const id = take(table, next);
    table.set(id, `r${id}`);
    ids.push(id);
    next = id + 1;
  }
  assert.is(table.size, 1000);
  for (const id of ids) assert.is(table.get(id), `r${id}`);
  table.clear();
  assert.is(table.size, 0);
  assert.equal(table.list(next), []);
  for (const id of ids) assert.ok(table.canTake(id));
});

test('ids up to 0xffffffff: the link wraps there', () => {
  const table = new IdTable<string>();
  // Four apart in their low bits (0x7fffffff would share 0xffffffff's slot).
  const high = [0xffffffff, 0xfffffffe, 0x80000000, 0x7ffffffd];
  for (const id of high) {
    assert.ok(table.canTake(id));
    table.set(id, `r${id}`);
  }
  for (const id of high) assert.is(table.get(id), `r${id}`);
  assert.throws(() => table.set(0xffffffff, 'again'), /taken/);
  for (const id of high) assert.ok(table.delete(id));
  assert.is(table.size, 0);
});

test('listed oldest first when the ids wrap around the table and past 0xffffffff', () => {
  const table = new IdTable<number>();
  // Ids 0xffffffc0.. up to the wrap, then 1, 2, ...: the newest sit in the lowest slots.
  let next = 0xffffffc0;
  const order: number[] = [];
  for (let i = 0; i < 100; i++) {
    let id = next;
    while (!table.canTake(id)) id = id === 0xffffffff ? 1 : id + 1;
    table.set(id, id);
    order.push(id);
    next = id === 0xffffffff ? 1 : id + 1;
    // Free the older half now and then, so that slots are reused by newer ids.
    if (i % 10 === 9) for (const old of order.splice(0, 5)) table.delete(old);
  }
  assert.ok(order.includes(0xffffffff) || order.some((id) => id > 0xffffff00), 'some ids from before the wrap are still held');
  assert.ok(order.includes(1), 'and some after it');
  assert.equal(table.list(next), order);
});

/** A link over a real unix socket whose other end only reads: its bookkeeping, no worker. */
async function bareLink(): Promise<{ link: WorkerLink; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-idtable-'));
  const path = join(dir, 'link.sock');
  const server = net.createServer((peer) => peer.resume());
  server.listen(path);
  await once(server, 'listening', { signal: AbortSignal.timeout(5000) });
  const socket = net.connect(path);
  await once(socket, 'connect', { signal: AbortSignal.timeout(5000) });
  const link = new WorkerLink(socket);
  let closed = false;
  return {
    link,
    close: () => {
      if (closed) return;
      closed = true;
      link.fail('test over');
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('the link lists its requests in flight in the order they were opened, past the table\'s first wrap', async () => {
  const { link, close } = await bareLink();
  try {
    const opened: Array<{ id: number; exchange: LinkExchange }> = [];
    const failed: LinkExchange[] = [];
    const exchange = (): LinkExchange => {
      const e: LinkExchange = { onFrame: () => {}, onLinkFailed: () => failed.push(e) };
      return e;
    };
    // A long-running request holds id 1 while 150 others come and go, 40 at a time: the table
    // has 128 slots then, and the ones open at the end (ids 111-150) wrap around its last slot.
    for (let i = 0; i < 150; i++) {
      const e = exchange();
      opened.push({ id: link.open(e), exchange: e });
      if (opened.length > 40) link.forget(opened.splice(1, 1)[0].id);
    }
    assert.is(opened[0].id, 1);
    assert.ok(opened.some(({ id }) => (id & 127) < (opened[1].id & 127)), 'a newer request sits in a lower slot than an older one');
    assert.equal([...link.requestsInFlight()], opened.map((o) => o.exchange));
    close();
    assert.equal(failed, opened.map((o) => o.exchange), 'failed in the same order');
  } finally {
    close();
  }
});

test.run();
