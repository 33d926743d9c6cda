// SPEC 5.2: credentials "kept under the state root". A gateway starting several apps on a fresh
// state root made its id (STATE/services/state-root-id) from each app's first start at once,
// all through one temporary file named by the process: one app read it half written and was
// refused ("it does not hold a state root id ... it was changed by hand"), or the id on disk
// changed after another app had stamped it on its role. Each making now has a file of its own.
// An app's first password, made by two processes at once (a gateway starting a new app while
// `install` runs beside it), was two: the last write won, and the other process set its own on
// the role, so the app it served could not log in. It is made under a lock now.
import { existsSync, mkdirSync, readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ensurePassword, stateRootId } from '../../src/services/credentials-store.js';
import { tempDir } from '../helpers/process.js';

const test = suite('services: the credentials store under concurrent starts');
const work = tempDir('apppkg-credentials-');

test.after(() => work.remove());

// As the apps of a starting gateway reach it: a little apart, never all in one tick.
const apart = <T>(job: () => Promise<T>) => new Promise((resolve) => setTimeout(resolve, Math.random() * 4)).then(job);

test('apps making the state root id at once all get the one on disk, whole', async () => {
  for (let round = 0; round < 40; round++) {
    const root = join(work.path, `root-${round}`);
    const got = await Promise.allSettled(Array.from({ length: 8 }, () => apart(() => stateRootId(root))));
    const failed = got.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.equal(failed, [], `round ${round}`);
    const onDisk = readFileSync(join(root, 'services', 'state-root-id'), 'utf8').trim();
    assert.equal(new Set(got.map((r) => (r as PromiseFulfilledResult<string>).value)), new Set([onDisk]), `round ${round}`);
  }
});

test('an app\'s first password made by several at once is one, the one kept', async () => {
  for (let round = 0; round < 20; round++) {
    const root = join(work.path, `passwords-${round}`);
    const settled = await Promise.allSettled(Array.from({ length: 6 }, () => apart(() => ensurePassword(root, 'blog', 'postgresql'))));
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.equal(failed, [], `round ${round}`);
    const got = settled.map((r) => (r as PromiseFulfilledResult<{ password: string; created: boolean }>).value);
    const kept = JSON.parse(readFileSync(join(root, 'services', 'blog.json'), 'utf8')).postgresql.password;
    assert.equal(new Set(got.map((g) => g.password)), new Set([kept]), `round ${round}`);
    assert.is(got.filter((g) => g.created).length, 1, `round ${round}`);
    assert.not.ok(existsSync(join(root, 'services', 'blog.json.lock')), `round ${round}: lock left behind`);
  }
});

test('a lock left by a crash before the clock stepped back (its time ahead of the clock) is taken within its bound, not the step\'s', async () => {
  const root = join(work.path, 'ahead');
  const lock = join(root, 'services', 'blog.json.lock');
  mkdirSync(lock, { recursive: true });
  const anHourAhead = Date.now() / 1000 + 3600;
  utimesSync(lock, anHourAhead, anHourAhead);
  const started = performance.now();
  const made = await Promise.race([
    ensurePassword(root, 'blog', 'postgresql'),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 30_000).unref()),
  ]);
  assert.ok(made !== null, 'still waiting for the lock after 30 s');
  assert.ok(performance.now() - started >= 9_000, 'a lock seen for less than its bound is not taken');
  assert.is(made!.created, true);
});

test.run();
