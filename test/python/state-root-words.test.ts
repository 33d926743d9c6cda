// Python's AppPackage and the state root, in the caller's words: APPPKG_STATE_DIR set to "" (a
// script's unset variable) is refused as the CLI refuses it, not taken for the default root; and
// the CLI's refusals that reach a Python caller (run_command passes its stderr on) name the
// `state_dir=` the caller gave, not the `--state-dir` it never had.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { BIN, EXAMPLES, runCli, tempDir } from '../helpers/process.js';

const test = suite('python: the state root in the caller\'s words');
const work = tempDir('apppkg-py-state-words-');
test.after(() => work.remove());

const python = (script: string, args: string[], env: NodeJS.ProcessEnv) =>
  runCli(['-c', script, ...args], { bin: 'python3', env: { PYTHONPATH: SHIM_DIR, APPPKG_GATEWAY: BIN, ...env }, ms: 60_000, cwd: work.path });

test('APPPKG_STATE_DIR="" with no state_dir: EmptyPath naming the variable, nothing described', async () => {
  // Before: the gateway refused it with status 2, which the library took for a gateway too old
  // for --sys-path; before that, it was the default root (/var/lib/apppkg-gateway as root).
  const script = 'import sys, apppkg\ntry:\n    apppkg.AppPackage(sys.argv[1])\nexcept apppkg.AppPackageError as exc:\n    print(type(exc).__name__, isinstance(exc, ValueError))\n    print(exc)\n';
  const r = await python(script, [join(EXAMPLES, 'hello')], { APPPKG_STATE_DIR: '' });
  assert.is(r.status, 0, r.stderr);
  assert.is(
    r.stdout,
    'EmptyPath True\nAppPackage: APPPKG_STATE_DIR is set, to an empty value, which names no state root\n' +
      '  fix: set it to the state root to use, pass state_dir=DIR, or unset it for the default: an empty value is never taken for the default\n',
  );
});

test('a state root run_command cannot make: the CLI\'s refusal names state_dir=, not --state-dir', async () => {
  const aFile = join(work.path, 'a-file');
  writeFileSync(aFile, 'not a directory\n');
  // check only reads the root; run (what run_command asks) makes the app's directories there.
  const script = 'import sys, apppkg\nprint("STATUS", apppkg.AppPackage(sys.argv[1], state_dir=sys.argv[2]).run_command("check"))\n';
  const r = await python(script, [join(EXAMPLES, 'guestbook'), aFile], {});
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'STATUS 1\n');
  assert.match(r.stderr, `apppkg-gateway: cannot prepare ${join(aFile, 'apps')}: ENOTDIR: not a directory\n  fix: choose a writable state root with state_dir=DIR (or APPPKG_STATE_DIR)\n`);
  assert.not.match(r.stderr, '--state-dir');
});

test.run();
