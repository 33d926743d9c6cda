// A command stopped by ^C or SIGTERM (check waiting on a slow import) ends by that signal, as
// before, and takes its scratch directory under TMPDIR along: each interrupted check left an
// apppkg-check-XXXXXX there (its `finally` never ran), and its import's processes end as well.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, ROOT, assertNoOrphans, tempDir, waitFor } from '../helpers/process.js';

const test = suite('cli: an interrupted command leaves nothing behind');
const work = tempDir('apppkg-interrupted-');
test.after(() => work.remove());

const app = join(work.path, 'slow-import');
mkdirSync(app);
writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: main:app\n');
// The import writes its pid, then takes its time: the check is interrupted while it waits.
writeFileSync(join(app, 'main.py'), 'import os, time\nopen(os.environ["IMPORT_PID_FILE"], "w").write(str(os.getpid()))\ntime.sleep(60)\n\ndef app(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');

function importPidIn(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8')) || null;
  } catch {
    return null;
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`check stopped by ${signal} while the app imports ends by it and removes its scratch directory`, async () => {
    const tmp = join(work.path, `tmp-${signal}`);
    mkdirSync(tmp);
    const pidFile = join(work.path, `import-${signal}.pid`);
    const child = spawn(BIN, ['check', app, '--state-dir', join(work.path, 'state')], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: tmp, IMPORT_PID_FILE: pidFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, sig) => resolve({ code, signal: sig })));
    try {
      await waitFor(() => readdirSync(tmp).some((e) => e.startsWith('apppkg-check-')) && importPidIn(pidFile) !== null, 30_000, () => `the check to make its scratch directory and start the import\n${out}`);
      const importPid = importPidIn(pidFile)!;
      child.kill(signal);
      const end = await exited;
      assert.equal(end, { code: null, signal }, out);
      assert.equal(readdirSync(tmp), [], 'the scratch directory is gone with the command');
      await assertNoOrphans([importPid]);
    } finally {
      child.kill('SIGKILL');
    }
  });
}

test.run();
