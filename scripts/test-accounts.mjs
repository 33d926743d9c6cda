// The users and groups the tests make on the host (as root, apps run as their own user): each
// one a test of a suite run made (useradd or groupadd said so, not "exists") is written to the
// file MADE_ACCOUNTS_ENV names, and the run's end removes those and only those, once its last
// test file has ended (scripts/test.mjs). A host that had one before the run keeps it; a test
// run by hand (no such file) leaves what it made, as before, for the next run to find.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';

export const MADE_ACCOUNTS_ENV = 'APPPKG_TEST_MADE_ACCOUNTS';

/** Notes that this process made the user or group `name` (a line each: appends do not mix). */
export function recordMade(kind, name) {
  const file = process.env[MADE_ACCOUNTS_ENV];
  if (file) appendFileSync(file, `${kind} ${name}\n`);
}

/**
 * Removes every account `file` lists: the users first (userdel takes a user's own group with it
 * and its place in the others), then the groups. Returns a line for each it could not remove
 * (a process still running as the user: userdel refuses), for the run's notes.
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
  const failed = [];
  for (const [kind, command] of [['user', 'userdel'], ['group', 'groupdel']]) {
    for (const name of made[kind]) {
      const r = spawnSync(command, [name], { encoding: 'utf8' });
      if (r.status !== 0) failed.push(`note: the ${kind} ${name} a test made is left on the host: ${command} said ${(r.stderr || r.error?.message || `status ${r.status}`).trim()}`);
    }
  }
  return failed;
}
