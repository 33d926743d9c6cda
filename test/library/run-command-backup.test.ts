// AppPackage.runCommand('backup') gets the directory ready as `backup APP --to DIR` does: made
// (0700) when missing, refused when it holds something else, and, as root, the app user's, so
// that commands.backup can write there; a backup made is marked, and restore checks the mark.
// Its refusals name env.APPPKG_BACKUP_DIR, which the program gave, not the CLI's --to and --from.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, type GatewayError } from '../../src/index.js';
import { withDeadline } from '../helpers/link-harness.js';
import { tempDir } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';

const test = suite('library runCommand backup');
const work = tempDir('apppkg-lib-backup-');
test.after(() => work.remove());

const NOBODY = 65534;
const PYTHON = '/usr/bin/python3'; // an interpreter any user may run (pyenv's under /root is not)
const HOOK = 'echo dumped > "$APPPKG_BACKUP_DIR/dump"';

function pkg(name: string): string {
  const dir = join(work.path, 'pkgs', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), `app: wsgi:application\ncommands:\n  backup: ${HOOK}\n  restore: ${HOOK}\n`);
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    return []\n');
  return dir;
}

async function backUp(app: AppPackage, to: string): Promise<number> {
  const output = new PassThrough().resume();
  return withDeadline(app.runCommand('backup', { env: { APPPKG_BACKUP_DIR: to }, output, timeoutMs: 30_000 }), 35_000, 'runCommand backup');
}

test('a directory holding something else is refused before the hook runs; a backup made is marked as the app\'s, and restore refuses another app\'s', async () => {
  const app = await AppPackage.open(pkg('careful'), { stateDir: join(work.path, 'state-careful') });
  const busy = join(work.path, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'precious.txt'), 'keep me\n');
  const err = await backUp(app, busy).then(() => null, (e: GatewayError) => e);
  assert.is(err?.code, 'APPPKG_BACKUP_NOT_EMPTY');
  // In the program's words: it gave env.APPPKG_BACKUP_DIR, no --to (found by H277).
  assert.is(err!.message, `runCommand('backup'): APPPKG_BACKUP_DIR ${busy}: expected a new or empty directory (or an earlier backup of careful), found 1 entry and no apppkg-backup.json`);
  assert.is(err!.hint, "choose a new directory, e.g. runCommand('backup', { env: { APPPKG_BACKUP_DIR: '/var/backups/careful-YYYY-MM-DD' } })");
  assert.equal(readdirSync(busy), ['precious.txt'], 'the hook ran in a refused directory');

  const to = join(work.path, 'backups', 'careful');
  assert.is(await backUp(app, to), 0);
  assert.is(JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8')).app, 'careful');
  const other = await AppPackage.open(pkg('other'), { stateDir: join(work.path, 'state-other') });
  const output = new PassThrough().resume();
  const foreign = await other.runCommand('restore', { env: { APPPKG_BACKUP_DIR: to }, output }).then(() => null, (e: GatewayError) => e);
  assert.is(foreign?.code, 'APPPKG_BACKUP_FOREIGN');
  assert.is(foreign!.message, `runCommand('restore'): APPPKG_BACKUP_DIR ${to}: expected a backup of other, found a backup of "careful"`);
  assert.is(foreign!.hint, "name a directory written by runCommand('backup') (or `apppkg-gateway backup`) for this app (it holds apppkg-backup.json); nothing was changed");
  const none = await other.runCommand('restore', { env: { APPPKG_BACKUP_DIR: join(work.path, 'no-such-backup') }, output }).then(() => null, (e: GatewayError) => e);
  assert.is(none?.code, 'APPPKG_BACKUP_EMPTY');
  assert.not.match(`${none!.message} ${none!.hint}`, '--from');
  assert.not.match(`${none!.message} ${none!.hint}`, ' --to ');
});

test('a missing backup directory is made, 0700, and the hook writes into it', async () => {
  const app = await AppPackage.open(pkg('mine'), { stateDir: join(work.path, 'state-mine') });
  const to = join(work.path, 'backups', 'mine');
  assert.is(await backUp(app, to), 0, 'the hook could not write into the backup directory');
  assert.is(statSync(to).mode & 0o777, 0o700);
  assert.is(readFileSync(join(to, 'dump'), 'utf8'), 'dumped\n');
});

const ifRootAndPython = runIf(test, isRoot && existsSync(PYTHON), isRoot ? `needs ${PYTHON}, an interpreter any user may run` : 'needs root to run the hook as another user');

ifRootAndPython('as root, the backup directory is the app user\'s for the hook, run as that user, which writes into it; root\'s again once it has exited', async () => {
  // nobody must reach the app and the backup directory's parent.
  chmodSync(work.path, 0o711);
  const env = join(work.path, 'env.yaml');
  writeFileSync(env, `python: ${PYTHON}\ndefaults:\n  user: nobody\n`);
  const app = await AppPackage.open(pkg('theirs'), { stateDir: join(work.path, 'state-theirs'), environment: env });
  const parent = join(work.path, 'backups-theirs');
  mkdirSync(parent, { mode: 0o755 });
  const to = join(parent, 'theirs');
  assert.is(await backUp(app, to), 0, 'the hook, run as nobody, could not write into the backup directory');
  // Taken back before the gateway writes there (lifecycle/backup.ts): the app's workers run on as its user.
  const st = statSync(to);
  assert.equal([st.uid, st.gid, st.mode & 0o777], [0, 0, 0o700]);
  assert.is(statSync(join(to, 'dump')).uid, NOBODY);
});

test.run();
