// The link's table of requests in flight (src/link/id-table.ts) on its own: ids rising and
// freed out of order, slots shared by ids that are a capacity apart, growth, ids past 2^31.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { IdTable } from '../../src/link/id-table.js';

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
  assert.equal(table.list().sort(), [...model.values()].sort());
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
  assert.equal(table.list(), []);
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

test.run();
