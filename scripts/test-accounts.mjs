// The users and groups the tests make on the host (as root, apps run as their own user): each
// one a test made (useradd or groupadd said so, not "exists") is removed once the run that made
// it is over, and only those; a host that had one before keeps it. In a suite run, the accounts
// are shared by its test files: each is written to the file MADE_ACCOUNTS_ENV names, and the
// run's end removes them, once its last test file has ended (scripts/test.mjs). A test file run
// by hand (no such file) removes what it made as its process exits: helpers' runs left
// apppkg-test-* accounts on the host for every later run to find. What an interrupted run (or a
// hand run killed) left anyway, a run's start removes (removeLeftAccounts), but never an account
// a running process has or a live run lists.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveRunRoots } from './test-tmp.mjs';

export const MADE_ACCOUNTS_ENV = 'APPPKG_TEST_MADE_ACCOUNTS';
/** What the tests' own accounts are called (host-accounts.ts); an app's user, apppkg-NAME, is the gateway's. */
export const TEST_ACCOUNT_PREFIX = 'apppkg-test-';
/** Where scripts/test.mjs lists what its run makes: MADE_ACCOUNTS_ENV names ACCOUNTS_DIR-XXXXXX/made in the run's directory. */
export const ACCOUNTS_DIR = 'accounts-';

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

/** Each entry of /etc/passwd or /etc/group as { name, id, gid, members }. */
function localAccounts(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => {
    const fields = line.split(':');
    return { name: fields[0], id: Number(fields[2]), gid: Number(fields[3]) };
  });
}

/**
 * The uids and gids the running processes have (real, effective, saved, filesystem; for gids
 * the supplementary groups too), from /proc/PID/status: a user or group in either is in use.
 */
function idsInUse() {
  const uids = new Set();
  const gids = new Set();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'latin1');
    } catch {
      continue; // ended meanwhile
    }
    const ids = (field) => (new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);
    for (const uid of ids('Uid')) uids.add(uid);
    for (const gid of [...ids('Gid'), ...ids('Groups')]) gids.add(gid);
  }
  return { uids, gids };
}

/** The accounts the live runs in RUNS (the system's TMPDIR) list as made by their tests: theirs to remove. */
function listedByLiveRuns(runs) {
  const listed = new Set();
  for (const root of liveRunRoots(runs)) {
    let dirs = [];
    try {
      dirs = readdirSync(root).filter((name) => name.startsWith(ACCOUNTS_DIR));
    } catch {
      continue;
    }
    for (const dir of dirs) {
      try {
        for (const line of readFileSync(join(root, dir, 'made'), 'utf8').split('\n')) {
          const [kind, name] = line.split(' ');
          if (name) listed.add(`${kind} ${name}`);
        }
      } catch {
        // that run made none yet
      }
    }
  }
  return listed;
}

/**
 * At a run's start: removes the users, then the groups, named PREFIX... that an earlier run or
 * a file run by hand left on the host (an interrupted run removes none; a hand run's exit
 * missed), so that each run starts as a fresh host would and a test that makes one finds it
 * missing. Never one in use: a user or group a running process has (another run's app, or a
 * test between its steps, may run as it), nor one a live run in RUNS lists as made by it
 * (that run removes it at its end). Returns a line for each it removed or could not remove.
 * @param {{ prefix?: string, runs?: string }} [options] RUNS: where the runs' directories are (the system's TMPDIR)
 */
export function removeLeftAccounts({ prefix = TEST_ACCOUNT_PREFIX, runs } = {}) {
  const notes = [];
  const listed = listedByLiveRuns(runs);
  const { uids, gids } = idsInUse();
  for (const [kind, file, command, inUse] of [
    ['user', '/etc/passwd', 'userdel', (a) => uids.has(a.id)],
    // Read after the users went: userdel takes a user's own group with it.
    ['group', '/etc/group', 'groupdel', (a) => gids.has(a.id)],
  ]) {
    for (const account of localAccounts(file).filter((a) => a.name.startsWith(prefix))) {
      if (listed.has(`${kind} ${account.name}`) || inUse(account)) continue;
      if (kind === 'group' && localAccounts('/etc/passwd').some((u) => u.gid === account.id)) continue; // a user's primary group: groupdel refuses
      const r = spawnSync(command, [account.name], { encoding: 'utf8' });
      notes.push(r.status === 0
        ? `removed the ${kind} ${account.name}, left on the host by an earlier test run (no process runs as it)`
        : `note: the ${kind} ${account.name} an earlier test run left is still on the host: ${command} said ${(r.stderr || r.error?.message || `status ${r.status}`).trim()}`);
    }
  }
  return notes;
}
