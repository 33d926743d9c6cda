// What pip's console left out of a failed build, read back from its log (pip-hidden-output.ts):
// a C extension's compiler can log more lines than a terminal holds, or than a call's arguments
// may be; the end, where the error is, is what is shown.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { failedSubprocessOutput } from '../../src/lifecycle/pip-hidden-output.js';

const test = suite("pip's hidden output");

test('a failed build of 200,000 lines: its last 200, unindented, with how many were left out', () => {
  const log = ['2026-12-04T05:03:34,996 Running command build wheel'];
  for (let i = 0; i < 200_000; i++) log.push(`2026-12-04T05:03:35,001     gcc line ${i}`);
  log.push('2026-12-04T05:03:36,000 ERROR: build wheel exited with 1');
  const out = failedSubprocessOutput(log.join('\n'));
  assert.is(out.length, 203);
  assert.equal(out.slice(0, 3), ['Running command build wheel', '  (199800 earlier lines left out)', '  gcc line 199800']);
  assert.equal(out.slice(-2), ['  gcc line 199999', 'build wheel exited with 1']);
});

test('a build that succeeded before the one that failed: only the failed one', () => {
  const out = failedSubprocessOutput(['Running command first', '  fine', 'Running command second', '    boom', 'ERROR: second exited with 2'].join('\n'));
  assert.equal(out, ['Running command second', '  boom', 'second exited with 2']);
});

test.run();
