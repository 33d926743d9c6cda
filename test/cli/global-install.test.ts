// `npm install -g` of the packed package, as a user installs it (into a prefix of the test's own,
// so that the host's global tree is not touched), and the command it installs run from a directory
// that is not the checkout. Found by H261: npm linked no man page for a tarball or a directory
// (package.json's "man" as a string, which npm 11 links only as an array), and the package had
// none of the example apps README's first screen and Usage name (only examples/deploy).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { assertNoOrphans, processesBelow, ROOT, startCli, tempDir } from '../helpers/process.js';
import { giveSharedCaches } from '../helpers/shared-cache.js';

const test = suite('cli global install');
const work = tempDir('apppkg-global-');
const prefix = join(work.path, 'prefix');
const installed = join(prefix, 'lib', 'node_modules', 'apppkg-gateway');
const bin = join(prefix, 'bin', 'apppkg-gateway');

function npm(args: string[], cwd: string, ms: number): void {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', timeout: ms, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' } });
  assert.is(r.status, 0, `npm ${args.join(' ')}: ${r.error ? String(r.error) : ''}\n${r.stdout}\n${r.stderr}`);
}

test.before(() => {
  // --ignore-scripts: the test's run has built dist/; pack only packs. The dependencies come from
  // npm's cache, filled by the `npm install` that built this checkout.
  npm(['pack', '--ignore-scripts', '--pack-destination', work.path], ROOT, 120_000);
  const tarball = readdirSync(work.path).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `no tarball in ${work.path}`);
  npm(['install', '-g', '--prefix', prefix, '--prefer-offline', join(work.path, tarball!)], work.path, 300_000);
});

test.after(() => work.remove());

test('`man apppkg-gateway`: npm links the package\'s man page into PREFIX/share/man/man1', () => {
  const linked = join(prefix, 'share', 'man', 'man1', 'apppkg-gateway.1');
  assert.ok(existsSync(linked), `${linked} is not there: npm linked no man page`);
  assert.is(realpathSync(linked), realpathSync(join(installed, 'man', 'apppkg-gateway.1')));
});

test('the examples README names ship, and copied out they serve through the installed command from another directory', async () => {
  const copy = join(work.path, 'apppkg-examples');
  cpSync(join(installed, 'examples'), copy, { recursive: true });
  for (const app of ['hello', 'guestbook', 'flask-hello', 'django-blog']) {
    assert.ok(existsSync(join(copy, app, 'app.yaml')), `examples/${app} is not in the installed package`);
  }
  // Its vendor/ is made by `npm start` from the test suite's wheels, which the package has not.
  assert.not.ok(existsSync(join(copy, 'vendored')), 'examples/vendored ships, refused for want of its vendor/');
  const state = join(work.path, 'state');
  giveSharedCaches(state);
  const elsewhere = join(work.path, 'cwd');
  mkdirSync(elsewhere);
  const gw = await startCli(['serve', join(copy, 'guestbook'), '--port', '0', '--state-dir', state], { bin, cwd: elsewhere, ms: 60_000 });
  try {
    const res = await request(`${gw.url}/`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    const body = await res.body.text();
    assert.is(res.statusCode, 200, body);
    assert.match(body, /<title>Guestbook<\/title>/);
  } finally {
    const pids = [gw.child.pid!, ...processesBelow(gw.child.pid!).map((p) => p.pid)];
    assert.is(await gw.stop(), 0, gw.output());
    await assertNoOrphans(pids);
  }
});

test.run();
