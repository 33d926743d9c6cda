// A hand run of one test file (`node --import tsx node_modules/uvu/bin.js test/<dir>`) shows a
// test that failed with a GatewayError as FAIL, with its code, message and fix, and exits 1.
// uvu 0.5.6 alone could not print such an error (its `details` is an object) and said nothing:
// "(0 / 2)" in green, exit 0 (test/helpers/uvu.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, TS_REGISTER } from './helpers/process.js';

test('a GatewayError thrown by a test or its before hooks is a FAIL with its code and fix; uvu\'s own assertions print as uvu prints them', () => {
  const r = spawnSync(process.execPath, ['--import', TS_REGISTER, join(ROOT, 'node_modules', 'uvu', 'bin.js'), join('test', 'fixtures', 'uvu')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = `${r.stdout}\n${r.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  assert.is(r.status, 1, out);
  assert.match(out, /FAIL\s+"thrown by the test"\n\s+APPPKG_ADDR_INVALID: address: expected PORT, HOST:PORT or unix:\/path, found "nine"\n\s+fix: write e\.g\. 8000/, out);
  assert.match(out, /gateway-error\.test\.ts:8:/, out);
  assert.match(out, /\(1 \/ 2\)/, out);
  assert.match(out, /FAIL\s+hooked\s+"under a before hook that threw"\n\s+the suite's before hook threw: APPPKG_ADDR_INVALID: .*found "ten"/, out);
  assert.match(out, /FAIL\s+each\s+"under a before.each hook that threw"\n\s+APPPKG_ADDR_INVALID: .*found "eleven"/, out);
  // Its details are false: uvu skips them, and prints the operator after the message.
  assert.match(out, /FAIL\s+asserted\s+"an assertion of uvu"\n\s+Expected value to match `\/x\/` pattern\s+\(match\)\n/, out);
  assert.match(out, /Total:\s+5\s+Passed:\s+1\b/, out);
});

test.run();
