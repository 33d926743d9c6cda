// The tests are type-checked with the sources (tsconfig.test.json): tsconfig.json builds src
// alone, and the test processes load .ts through esbuild, which strips types and checks none,
// so a test calling a helper another change had removed was found only when it ran (and
// failed there), and a wrong signature not at all.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './helpers/process.js';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// One run of tsc over src and test (~25 s of CPU), the whole program at once.
test('src and test type-check together (npm run typecheck:tests)', () => {
  const r = spawnSync(process.execPath, [TSC, '-p', join(ROOT, 'tsconfig.test.json'), '--pretty', 'false'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 300_000,
  });
  assert.is(r.error, undefined, String(r.error));
  const said = `${r.stdout}${r.stderr}`.trim();
  const errors = said.split('\n').filter((line) => / error TS\d+:/.test(line)).length;
  assert.is(r.status, 0, `tsc -p tsconfig.test.json found ${errors} error${errors === 1 ? '' : 's'}:\n${said}`);
});

test.run();
