// commands.backup runs as the app's user in APPPKG_BACKUP_DIR, given to that user; what the
// gateway (root) writes there afterwards (the manifest, DIR/database/) never goes where a link
// the hook left there leads. Before, root wrote the manifest over the file a symlink at its
// temporary name named (/etc/shadow), and removed and wrote the database's dumps wherever a
// symlink at `database` pointed. Needs root to run the hook as another user: skipped otherwise.
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { installForOtherUsers, runCli, tempDir } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { makeApp } from './lifecycle-apps.js';

const test = suite('lifecycle: backup under links a hook leaves');
const ifRoot = runIf(test, isRoot, 'needs root to run commands.backup as another user');
const USER = 'apppkg-iso-b';
const work = isRoot ? tempDir('apppkg-backup-links-') : null;
test.after(() => work?.remove());

/** An app of USER's whose commands.backup is `hook`, backed up by root into a new DIR. */
async function backUp(name: string, yaml: string[], hook: string) {
  const root = work!.path;
  const app = makeApp(root, name, [...yaml, 'commands:', `  backup: ${hook}`, ''].join('\n'));
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const to = join(root, `${name}-backup`);
  const cli = await runCli(['backup', app, '--to', to, '--state-dir', join(root, 'state'), '--environment', join(root, 'environment.yaml')], { bin: installForOtherUsers().bin });
  return { cli, to };
}

test.before(() => {
  if (!isRoot) return;
  spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER], { stdio: 'ignore' });
  chmodSync(work!.path, 0o755);
  writeFileSync(join(work!.path, 'environment.yaml'), 'python: /usr/bin/python3\n');
});

ifRoot('a symlink at the manifest\'s temporary name: the manifest is written in DIR, the file it names untouched', async () => {
  const victim = join(work!.path, 'victim');
  writeFileSync(victim, 'root\'s file\n');
  const { cli, to } = await backUp('clobber', ['app: wsgi:application'], `ln -s ${victim} "$APPPKG_BACKUP_DIR/.apppkg-backup.json.tmp"`);
  assert.is(cli.status, 0, cli.stdout + cli.stderr);
  assert.is(readFileSync(victim, 'utf8'), 'root\'s file\n', 'root wrote the manifest through the hook\'s symlink');
  assert.ok(lstatSync(join(to, 'apppkg-backup.json')).isFile(), 'the manifest is a file of DIR');
  assert.is(JSON.parse(readFileSync(join(to, 'apppkg-backup.json'), 'utf8')).app, 'clobber');
});

ifRoot('DIR/database left as a symlink by the hook: refused, naming it, and nothing where it leads is removed', async () => {
  const elsewhere = join(work!.path, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'db.sqlite3'), 'not the app\'s\n');
  const { cli, to } = await backUp('away', ['app: wsgi:application', 'services:', '  database: sqlite'], `ln -s ${elsewhere} "$APPPKG_BACKUP_DIR/database"`);
  assert.is(cli.status, 1, cli.stdout + cli.stderr);
  assert.match(cli.stderr, new RegExp(`cannot write the app's database into ${join(to, 'database')}: it is a symlink \\(to ${elsewhere}\\)`));
  assert.match(cli.stderr, /fix: let commands\.backup leave database\/ to the gateway/);
  assert.is(readFileSync(join(elsewhere, 'db.sqlite3'), 'utf8'), 'not the app\'s\n', 'root removed a file where the hook\'s symlink leads');
});

test.run();
