// The users and groups the tests make on the host (apps run as their own user) are removed at
// the end of the suite run that made them, and only those: every run left apppkg-test-app and
// apppkg-test-readers behind (scripts/test-accounts.mjs, test/helpers/host-accounts.ts). A test
// file run by hand removes what it made at its process's exit. Needs root: skipped otherwise.
// Real useradd and groupadd, under names no other test uses.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MADE_ACCOUNTS_ENV, removeLeftAccounts, removeMadeAccounts } from '../scripts/test-accounts.mjs';
import { hostGroup, hostUser } from './helpers/host-accounts.js';
import { isAlive, orAfter, ROOT, TS_REGISTER, tempDir } from './helpers/process.js';
import { hasProgram, isRoot, runIf } from './helpers/skip.js';

const test = suite('accounts the tests make');
const ifRoot = runIf(test, isRoot && hasProgram('useradd'), 'needs root (and useradd) to make users');
const USER = 'apppkg-test-made';
const GROUP = 'apppkg-test-made-readers';
const HOSTS = 'apppkg-test-host-group';

const exists = (db: 'passwd' | 'group', name: string): boolean => spawnSync('getent', [db, name], { stdio: 'ignore' }).status === 0;

ifRoot('what a run\'s tests made is removed at its end; what the host had before is kept', () => {
  const work = tempDir('apppkg-accounts-');
  const saved = process.env[MADE_ACCOUNTS_ENV];
  const made = join(work.path, 'made');
  process.env[MADE_ACCOUNTS_ENV] = made;
  try {
    spawnSync('groupadd', ['--system', HOSTS], { stdio: 'ignore' }); // the host's, before the run
    const first = hostUser(USER);
    assert.ok(first.uid > 0, 'made');
    assert.equal(hostUser(USER), first, 'a second test finds it');
    hostGroup(GROUP, [USER]);
    hostGroup(HOSTS, [USER]);
    const groups = spawnSync('id', ['-Gn', USER], { encoding: 'utf8' }).stdout.trim().split(' ');
    assert.ok(groups.includes(GROUP) && groups.includes(HOSTS), groups.join(' '));

    assert.equal(removeMadeAccounts(made), []);
    assert.not.ok(exists('passwd', USER), `the user ${USER} is left`);
    assert.not.ok(exists('group', USER), `the user's own group ${USER} is left`);
    assert.not.ok(exists('group', GROUP), `the group ${GROUP} is left`);
    assert.ok(exists('group', HOSTS), 'a group the host had before the run is kept');
  } finally {
    if (saved === undefined) delete process.env[MADE_ACCOUNTS_ENV];
    else process.env[MADE_ACCOUNTS_ENV] = saved;
    spawnSync('userdel', [USER], { stdio: 'ignore' });
    for (const group of [GROUP, HOSTS]) spawnSync('groupdel', [group], { stdio: 'ignore' });
    work.remove();
  }
});

/**
 * A test process, as a run's: it makes the user and a group, says whether they are there at its
 * end, and exits. With `list`, a suite run's file lists what it makes.
 */
function makeInChild(list?: string): string {
  const env = { ...process.env };
  delete env[MADE_ACCOUNTS_ENV];
  if (list !== undefined) env[MADE_ACCOUNTS_ENV] = list;
  const script = [
    "import { spawnSync } from 'node:child_process';",
    "import { hostGroup, hostUser } from './test/helpers/host-accounts.ts';",
    `hostUser('${USER}');`,
    `hostGroup('${GROUP}', ['${USER}']);`,
    "const there = (db, name) => spawnSync('getent', [db, name], { stdio: 'ignore' }).status === 0;",
    `process.stdout.write(String(there('passwd', '${USER}') && there('group', '${GROUP}')));`,
  ].join('\n');
  const run = spawnSync(process.execPath, ['--import', TS_REGISTER, '--input-type=module', '-e', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, run.stderr);
  return run.stdout;
}

ifRoot('a test file run by hand removes what it made as its process exits; a suite run\'s test process leaves them to the run', () => {
  const work = tempDir('apppkg-accounts-');
  try {
    assert.is(makeInChild(), 'true', 'made, and there until the exit');
    assert.not.ok(exists('passwd', USER), `the user ${USER} is left`);
    assert.not.ok(exists('group', USER), `the user's own group ${USER} is left`);
    assert.not.ok(exists('group', GROUP), `the group ${GROUP} is left`);
    // Shared by the run's later test files: kept past the exit, until the run's end.
    const made = join(work.path, 'made');
    assert.is(makeInChild(made), 'true');
    assert.ok(exists('passwd', USER) && exists('group', GROUP), 'kept for the rest of the suite run');
    assert.equal(removeMadeAccounts(made), []);
    assert.not.ok(exists('passwd', USER) || exists('group', GROUP));
  } finally {
    spawnSync('userdel', [USER], { stdio: 'ignore' });
    spawnSync('groupdel', [GROUP], { stdio: 'ignore' });
    work.remove();
  }
});

// An interrupted run, or a hand run killed, left its accounts: each later run found them made
// (so a test of making one saw "exists"), and no run removed them, as none had made them. Names of
// this test's own (LEFT...), so that no account of another run on this host is ever looked at.
const LEFT = 'apppkg-test-left-';
const left = { idle: `${LEFT}idle`, idleGroup: `${LEFT}idle-readers`, busy: `${LEFT}busy`, busyGroup: `${LEFT}busy-readers`, listed: `${LEFT}listed` };

ifRoot('accounts apppkg-test-* left on the host are removed at a run\'s start, but one a process runs as, or that a live run lists', async () => {
  const work = tempDir('apppkg-accounts-left-');
  const sleepers: ChildProcess[] = [];
  try {
    for (const user of [left.idle, left.busy, left.listed]) spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user], { stdio: 'ignore' });
    for (const group of [left.idleGroup, left.busyGroup]) spawnSync('groupadd', ['--system', group], { stdio: 'ignore' });
    for (const [db, name] of [['passwd', left.idle], ['passwd', left.busy], ['passwd', left.listed], ['group', left.idleGroup], ['group', left.busyGroup]] as const) {
      assert.ok(exists(db, name), `made ${name} by hand`);
    }
    const id = (flag: string, name: string) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
    const busyGid = Number(spawnSync('getent', ['group', left.busyGroup], { encoding: 'utf8' }).stdout.split(':')[2]);
    // A process as the busy user; one as root whose group is the busy group (an app's reader).
    sleepers.push(spawn('sleep', ['120'], { uid: id('-u', left.busy), gid: id('-g', left.busy), stdio: 'ignore' }));
    sleepers.push(spawn('sleep', ['120'], { gid: busyGid, stdio: 'ignore' }));
    // A live run (this process, by its pid and start time) that lists the third user as its own.
    const runs = join(work.path, 'runs');
    const run = join(runs, 'apppkg-run-live');
    mkdirSync(join(run, 'accounts-1'), { recursive: true });
    const stat = readFileSync('/proc/self/stat', 'latin1');
    writeFileSync(join(run, 'owner'), `${process.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    writeFileSync(join(run, 'accounts-1', 'made'), `user ${left.listed}\n`);

    const notes = removeLeftAccounts({ prefix: LEFT, runs });
    assert.not.ok(exists('passwd', left.idle), `the user ${left.idle} is left: ${notes.join('; ')}`);
    assert.not.ok(exists('group', left.idle), `its own group is left: ${notes.join('; ')}`);
    assert.not.ok(exists('group', left.idleGroup), `the group ${left.idleGroup} is left: ${notes.join('; ')}`);
    assert.ok(notes.includes(`removed the user ${left.idle}, left on the host by an earlier test run (no process runs as it)`), notes.join('\n'));
    assert.ok(exists('passwd', left.busy), 'a user a process runs as was removed');
    assert.ok(exists('group', left.busyGroup), 'a group a process has was removed');
    assert.ok(exists('passwd', left.listed), 'a user a live run lists was removed');

    // Once its processes are gone the busy ones go too; the live run's stays its own.
    for (const sleeper of sleepers) sleeper.kill('SIGKILL');
    for (const sleeper of sleepers) await orAfter(10_000, () => assert.unreachable(`sleep ${sleeper.pid} did not end`), new Promise((resolve) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? resolve(null) : sleeper.once('exit', resolve))));
    const again = removeLeftAccounts({ prefix: LEFT, runs });
    assert.not.ok(exists('passwd', left.busy) || exists('group', left.busyGroup), again.join('\n'));
    assert.ok(exists('passwd', left.listed), 'a user a live run lists was removed');
  } finally {
    for (const sleeper of sleepers) if (sleeper.pid !== undefined && isAlive(sleeper.pid)) sleeper.kill('SIGKILL');
    for (const user of [left.idle, left.busy, left.listed]) spawnSync('userdel', [user], { stdio: 'ignore' });
    for (const group of [left.idleGroup, left.busyGroup, left.idle, left.busy, left.listed]) spawnSync('groupdel', [group], { stdio: 'ignore' });
    work.remove();
  }
});

test.run();
