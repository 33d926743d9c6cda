// `man apppkg-gateway` (issue 13): man/apppkg-gateway.1 is rendered from the CLI's own help
// texts by scripts/man-page.mjs, so it must be what the generator renders now; npm installs it
// (package.json "man"), and man(1) must render it without a warning.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAN_PAGE, currentCli, renderManPage } from '../../scripts/man-page.mjs';
import { ROOT } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('cli man page');

test('man/apppkg-gateway.1 is what scripts/man-page.mjs renders from the help texts now', async () => {
  assert.fixture(readFileSync(MAN_PAGE, 'utf8'), renderManPage(await currentCli()), 'man/apppkg-gateway.1 is stale: run `npm run docs:man`');
});

test('package.json installs it as the man page, and ships it', () => {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { man: string[]; files: string[] };
  // A list: npm 11 links a lone string into no man1 (cli/global-install installs it so).
  assert.equal(pkg.man, ['./man/apppkg-gateway.1']);
  assert.ok(pkg.files.includes('man'));
});

runIf(test, hasProgram('man'), 'needs man(1)')('man renders it: every command with its usage, no roff warnings', () => {
  const r = spawnSync('man', ['-l', '--warnings', MAN_PAGE], { encoding: 'utf8', env: { ...process.env, MANWIDTH: '100', MAN_KEEP_FORMATTING: '' }, timeout: 20_000 });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr.trim(), '', 'no warnings');
  for (const command of ['serve', 'check', 'install', 'backup', 'restore', 'uninstall', 'test', 'run', 'describe', 'init', 'status']) {
    assert.match(r.stdout, new RegExp(`apppkg-gateway ${command}\\b`), command);
  }
  assert.match(r.stdout, /--trust-proxy/);
});

test.run();
