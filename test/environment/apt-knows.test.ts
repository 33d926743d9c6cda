// Whether apt knows a package (the fix of a deb: package not installed, init's and check's
// guesses): read from apt's indexes and dpkg's status where that is plain, apt-cache asked
// otherwise. The answers must be apt-cache's own.
import { spawn } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { aptKnows } from '../../src/environment/apt-knows.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('environment: whether apt knows a package');

/** apt-cache's own answer, as apt-knows.ts has always asked it. */
function aptCacheKnows(pkg: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('apt-cache', ['show', '--no-all-versions', pkg], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve(status === 0 && /^Package: /m.test(out));
    });
  });
}

runIf(test, hasProgram('apt-cache') && hasProgram('dpkg'), 'needs apt-cache and dpkg (a Debian host)')(
  "apt-cache's answer for an installed package, a name apt never heard of, and a purely virtual name (deb-unlisted's guess: one apt knows, not installed)",
  async () => {
    // Each apt-cache run is ~1.4 s of CPU where apt keeps no package cache: three of them.
    const names = ['python3', 'python3-apppkg-does-not-exist', 'awk'];
    const expected = await Promise.all(names.map(aptCacheKnows));
    assert.equal(await Promise.all(names.map((name) => aptKnows(name))), expected, names.join(', '));
    assert.is(expected[0], true, 'python3 is installed here');
    assert.is(expected[1], false, 'no apt knows python3-apppkg-does-not-exist');
  },
);

test.run();
