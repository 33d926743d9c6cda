// The lock on the default admin address (test/helpers/default-admin.ts): a test file that needs
// 127.0.0.1:8099 free and a gateway given no --admin, in two test processes of one run, took
// turns by chance; status-command's cases were reported skipped when another file's gateway held
// the address. Here real processes hold and wait for the lock, in a directory of this test's own
// (APPPKG_TEST_SHARED_CACHE names where it is), never the run's.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultAdminLockFile, libraryGatewaysOnDefaultAdmin, takesDefaultAdmin } from './helpers/default-admin.js';
import { SHARED_CACHE_VARIABLE } from './helpers/shared-cache.js';
import { BIN, isAlive, orAfter, ROOT, tempDir, TS_REGISTER, waitFor } from './helpers/process.js';

const test = suite('the lock on the default admin address');
const work = tempDir('apppkg-admin-lock-');
const started: ChildProcess[] = [];

test.after(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  work.remove();
});

/**
 * A test process holding the lock (waiting `ms` for it): prints "held" or the error, then
 * releases it when a line comes on its stdin and prints "released".
 */
function holder(ms: number): { child: ChildProcess; output: () => string; ended: Promise<number | null> } {
  const script = [
    "import { holdDefaultAdmin } from './test/helpers/default-admin.ts';",
    `const release = await holdDefaultAdmin(${ms}).catch((err) => (console.log(String(err.message)), process.exit(3)));`,
    "console.log('held');",
    "process.stdin.once('data', async () => { await release(); console.log('released'); process.exit(0); });",
  ].join('\n');
  const child = spawn(process.execPath, ['--import', TS_REGISTER, '--input-type=module', '-e', script], {
    cwd: ROOT,
    env: { ...process.env, [SHARED_CACHE_VARIABLE]: work.path },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  started.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, ended };
}

/** Whether it said it holds the lock (its error, "... held by pid N", is not that). */
const holds = (h: ReturnType<typeof holder>) => /^held$/m.test(h.output());
const ends = (h: ReturnType<typeof holder>, what: string) => orAfter(60_000, () => `${what} did not end: ${h.output()}`, h.ended);

test('a second holder waits for the first; past its bound it fails naming the first; released, the lock is the next one\'s', async () => {
  const first = holder(30_000);
  await waitFor(() => holds(first), 30_000, () => `the first to hold: ${first.output()}`);
  const second = holder(1_000);
  assert.is(await ends(second, 'the second'), 3, second.output());
  assert.match(second.output(), `the lock on 127.0.0.1:8099 (${work.path}/apppkg-test-default-admin.lock) was not free in 1 s: held by pid ${first.child.pid}: `);

  const third = holder(30_000);
  // It waits: still not holding a moment after it started (as long as the first holds).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.not.ok(holds(third), 'the third held the lock beside the first');
  first.child.stdin!.write('go\n');
  assert.is(await ends(first, 'the first'), 0, first.output());
  assert.match(first.output(), 'released');
  await waitFor(() => holds(third), 30_000, () => `the third to hold once the first released: ${third.output()}`);
  third.child.stdin!.write('go\n');
  assert.is(await ends(third, 'the third'), 0, third.output());
});

test('a holder killed with SIGKILL holds nothing: its flock ends with its pipe, and the next one holds', async () => {
  const killed = holder(30_000);
  await waitFor(() => holds(killed), 30_000, () => `the holder to hold: ${killed.output()}`);
  killed.child.kill('SIGKILL');
  await ends(killed, 'the killed holder');
  const next = holder(15_000);
  await waitFor(() => holds(next) || next.child.exitCode !== null, 30_000, () => `the next holder: ${next.output()}`);
  assert.match(next.output(), /^held$/m, next.output());
  next.child.stdin!.write('go\n');
  assert.is(await ends(next, 'the next holder'), 0, next.output());
  assert.not.ok(isAlive(killed.child.pid!), 'the killed holder');
});

test('the lock file: in the run\'s shared directory, else in TMPDIR', () => {
  const saved = process.env[SHARED_CACHE_VARIABLE];
  try {
    process.env[SHARED_CACHE_VARIABLE] = work.path;
    assert.is(defaultAdminLockFile(), `${work.path}/apppkg-test-default-admin.lock`);
    delete process.env[SHARED_CACHE_VARIABLE];
    assert.ok(defaultAdminLockFile().endsWith('/apppkg-test-default-admin.lock'));
    assert.not.ok(defaultAdminLockFile().startsWith(work.path));
  } finally {
    if (saved === undefined) delete process.env[SHARED_CACHE_VARIABLE];
    else process.env[SHARED_CACHE_VARIABLE] = saved;
  }
  assert.ok(existsSync(`${work.path}/apppkg-test-default-admin.lock`), 'the tests above held it there');
});

test('which CLI runs take the lock: a gateway given --apps and no --admin, as itself or after a wrapper', () => {
  const takes: Array<[string[], boolean]> = [
    [['--apps', '/a', '--listen', '127.0.0.1:0'], true],
    [['--apps', '/a', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0'], false],
    [['--apps', '/a', '--admin=unix:/x.sock'], false],
    [['-u', 'nobody', '--', 'timeout', '15', BIN, '--apps', '/a', '--listen', '0'], true],
    [['-u', 'nobody', '--', 'timeout', '15', BIN, '--apps', '/a', '--admin', '0'], false],
    [['export', 'kubernetes', '--apps', '/a', '--image', 'r/{name}:1'], false],
    [['serve', '/a/blog', '--port', '0'], false],
    [['status'], false],
  ];
  for (const [args, expected] of takes) assert.is(takesDefaultAdmin(args), expected, args.join(' '));
});

// A library gateway given no `admin` listens on 127.0.0.1:8099 in the test's own process, where
// no startCli takes the lock for it: beside another file's, one of them failed to start, or a
// file that needs the address free was skipped. None does today; this keeps it so.
test('no test starts a library gateway on the default admin address: each gives admin (false, or an address of its own)', () => {
  const judged: Array<[string, number[]]> = [
    ["await Gateway.start({ apps, listen: '127.0.0.1:0', stateDir })", [1]],
    ["x;\nconst g = await Gateway.start({\n  apps: dir,\n  listen: '127.0.0.1:0',\n})", [2]],
    ["Gateway.start({ apps, listen: '127.0.0.1:0', admin: false })", []],
    ["Gateway.start({ apps, listen: '127.0.0.1:0', admin: '127.0.0.1:0' })", []],
    ["Gateway.start({ app, listen: '127.0.0.1:0' })", []],
    ["Gateway.start({ app: dir, listen: '127.0.0.1:0' })", []],
    ["Gateway.start({ apps: work.path, stateDir: 42 })", []],
  ];
  for (const [source, lines] of judged) assert.equal(libraryGatewaysOnDefaultAdmin(source), lines, source);
  // Not the scanner's own file, nor this one: their samples are such calls.
  const files = (readdirSync(join(ROOT, 'test'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'default-admin-lock.test.ts' && f !== join('helpers', 'default-admin.ts'));
  const found = files.flatMap((f) => libraryGatewaysOnDefaultAdmin(readFileSync(join(ROOT, 'test', f), 'utf8')).map((line) => `test/${f}:${line}`));
  assert.equal(found, [], `give these admin: false (or '127.0.0.1:0'): ${found.join(', ')}`);
});

test.run();
