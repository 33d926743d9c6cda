// bin/apppkg-gateway, the command as npm installs it (a symlink in node_modules/.bin or
// /usr/bin): it must find dist/ through the symlink, become the gateway process itself (exec:
// signals and pids are the gateway's), and give Node the V8 heap flags the proxy's latency needs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, EXAMPLES, tempDir, waitFor } from '../helpers/process.js';

const test = suite('cli launcher');
const work = tempDir('apppkg-launcher-');
test.after(() => work.remove());

test('through a symlink elsewhere, the launcher execs Node on dist/ with its V8 heap flags', async () => {
  const link = join(work.path, 'apppkg-gateway');
  symlinkSync(BIN, link);
  const child = spawn(link, ['serve', join(EXAMPLES, 'hello'), '--port', '0'], { cwd: work.path, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  try {
    const url = await waitFor(() => /listening on (http:\S+)/.exec(out)?.[1], 20_000, `serve to listen (output: ${out})`);
    const res = await fetch(url);
    assert.is(res.status, 200);
    // exec: the pid we spawned is Node itself, not a shell waiting on it.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    assert.match(argv[0], /node$/);
    assert.ok(argv.includes('--max-semi-space-size=8'), argv.join(' '));
    assert.ok(argv.includes('--initial-old-space-size=64'), argv.join(' '));
    assert.ok(argv.some((a) => a.endsWith(join('dist', 'cli', 'main.js'))), argv.join(' '));
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
});

test.run();
