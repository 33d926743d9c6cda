// The users and groups the tests make on the host (apps run as their own user) are removed at
// the end of the suite run that made them, and only those: every run left apppkg-test-app and
// apppkg-test-readers behind (scripts/test-accounts.mjs, test/helpers/host-accounts.ts). Needs
// root: skipped otherwise. Real useradd and groupadd, under names no other test uses.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MADE_ACCOUNTS_ENV, removeMadeAccounts } from '../scripts/test-accounts.mjs';
import { hostGroup, hostUser } from './helpers/host-accounts.js';
import { tempDir } from './helpers/process.js';
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

test.run();
