// The import rules of docs/architecture.md hold in the code: the supervisor and the proxy know
// nothing of each other, nothing below the CLI imports from it, and no module is in an import
// cycle (.dependency-cruiser.cjs, type-only imports included).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/process.js';

const CRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

test('no import breaks a rule of .dependency-cruiser.cjs', () => {
  const r = spawnSync(process.execPath, [CRUISE, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.is(r.error, undefined, String(r.error));
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
});

test('the check fails on a tree that breaks the rules, naming each break', () => {
  // test/fixtures/architecture/src is a small house built wrong on purpose.
  const r = spawnSync(process.execPath, [CRUISE, 'src', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], {
    cwd: join(ROOT, 'test', 'fixtures', 'architecture'),
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  assert.is(r.status !== 0, true, out);
  assert.match(out, /supervisor-knows-no-proxy: src\/supervisor\/uses-proxy\.ts → src\/proxy\/front\.ts/);
  assert.match(out, /only-the-cli-uses-the-cli: src\/net\/uses-cli\.ts → src\/cli\/args\.ts/);
  assert.match(out, /no-circular: src\/proxy\/(front|cycle-b)\.ts/);
});

test.run();
