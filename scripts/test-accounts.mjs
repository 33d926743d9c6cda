// The users and groups the tests make on the host (as root, apps run as their own user): each
// one a test made (useradd or groupadd said so, not "exists") is removed once the run that made
// it is over, and only those; a host that had one before keeps it. In a suite run, the accounts
// are shared by its test files: each is written to the file MADE_ACCOUNTS_ENV names, and the
// run's end removes them, once its last test file has ended (scripts/test.mjs). A test file run
// by hand (no such file) removes what it made as its process exits: helpers' runs left
// apppkg-test-* accounts on the host for every later run to find.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';

export const MADE_ACCOUNTS_ENV = 'APPPKG_TEST_MADE_ACCOUNTS';

/** What this process made, when no suite run lists it: removed at its exit. */
const madeHere = { user: new Set(), group: new Set() };

/** Notes that this process made the user or group `name` (in the suite's file, a line each: appends do not mix). */
export function recordMade(kind, name) {
  const file = process.env[MADE_ACCOUNTS_ENV];
  if (file) return appendFileSync(file, `${kind} ${name}\n`);
  // At the exit, not in a test's teardown: the next test file of the same hand run may use it.
  if (madeHere.user.size === 0 && madeHere.group.size === 0) {
    process.once('exit', () => {
      for (const note of removeAccounts(madeHere)) process.stderr.write(`${note}\n`);
    });
  }
  madeHere[kind].add(name);
}

/**
 * Removes every account `file` lists: see removeAccounts. Returns a line for each it could not
 * remove, for the run's notes.
 */
export function removeMadeAccounts(file) {
  let lines;
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    return []; // nothing was made
  }
  const made = { user: new Set(), group: new Set() };
  for (const line of lines) {
    const [kind, name] = line.split(' ');
    if (name && made[kind] !== undefined) made[kind].add(name);
  }
  return removeAccounts(made);
}

/**
 * Removes the users, then the groups, of `made` (userdel takes a user's own group with it and its
 * place in the others). Returns a line for each it could not remove (a process still running as
 * the user: userdel refuses).
 */
function removeAccounts(made) {
  const failed = [];
  for (const [kind, command] of [['user', 'userdel'], ['group', 'groupdel']]) {
    for (const name of made[kind]) {
      const r = spawnSync(command, [name], { encoding: 'utf8' });
      if (r.status !== 0) failed.push(`note: the ${kind} ${name} a test made is left on the host: ${command} said ${(r.stderr || r.error?.message || `status ${r.status}`).trim()}`);
    }
  }
  return failed;
}
