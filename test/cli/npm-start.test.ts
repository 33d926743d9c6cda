// `npm start` (scripts/start.mjs) in a terminal, stopped with one ^C: the terminal sends SIGINT to
// its whole foreground process group, the gateway included, so the script must not pass its own
// on too. It did, and the gateway took the second SIGINT for a second ^C: "SIGINT again:
// stopping at once; requests still in flight are cut", killed by the signal. Driven through a
// real pseudo-terminal (Python's pty: Node has none), whose ^C the line discipline turns into
// the group's SIGINT, as a user's key does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { canConnect } from '../helpers/servers.js';
import { EXAMPLES, ROOT, startCli, tempDir, within } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

/** start.mjs listens on 127.0.0.1:8000 (it says so in the README): another server there is not ours to stop. */
const ifPortFree = runIf(test, !(await canConnect(8000)), 'something listens on 127.0.0.1:8000, where npm start serves');

/**
 * Runs ARGV in a new pseudo-terminal as its foreground job, waits for "admin on", types ^C, reads
 * to the end; prints JSON: the exit status (or -signal) and everything the terminal showed.
 */
const DRIVER = `
import json, os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
def read_until(done, seconds):
    global out
    end = time.monotonic() + seconds
    while not done() and time.monotonic() < end:
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
started = read_until(lambda: b"admin on" in out, 150) or b"admin on" in out
if started:
    os.write(fd, b"\\x03")
    read_until(lambda: False, 60)
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
print(json.dumps({"started": started, "status": code, "output": out.decode("utf-8", "replace")}))
`;

/**
 * The script as the checkout has it, in a tree of its own under `work`: the checkout's launcher,
 * examples/ the hello example alone, not the checkout's (its hooks write into them: django-blog's
 * static files, the vendored example's vendor/), and that example's vendor/ marked made.
 */
function startScriptTree(work: string): string {
  const root = join(work, 'root');
  mkdirSync(join(root, 'scripts'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts', 'start.mjs'), join(root, 'scripts', 'start.mjs'));
  mkdirSync(join(root, 'bin'));
  symlinkSync(join(ROOT, 'bin', 'apppkg-gateway'), join(root, 'bin', 'apppkg-gateway')); // the launcher follows it to dist/
  cpSync(join(EXAMPLES, 'hello'), join(root, 'examples', 'hello'), { recursive: true });
  mkdirSync(join(root, 'examples', 'vendored', 'vendor'), { recursive: true });
  writeFileSync(join(root, 'examples', 'vendored', 'vendor', '.apppkg-vendor.json'), '{}\n');
  return root;
}

ifPortFree('npm start stopped by one ^C in its terminal: the gateway stops as for one SIGINT (requests finished, "stopped"), never "SIGINT again"', async () => {
  const work = tempDir('apppkg-npm-start-');
  try {
    const root = startScriptTree(work.path);
    const args = [join(root, 'scripts', 'start.mjs'), '--state-dir', join(work.path, 'state'), '--admin', '127.0.0.1:0', '--access-log', 'off'];
    const driver = spawn('python3', ['-c', DRIVER, process.execPath, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let json = '';
    driver.stdout!.on('data', (chunk) => (json += chunk));
    await within(240_000, 'the pty driver to end', new Promise((resolve) => driver.on('close', resolve)));
    const { started, status, output } = JSON.parse(json) as { started: boolean; status: number; output: string };
    assert.ok(started, `npm start did not get to "admin on":\n${output}`);
    assert.match(output, /apppkg-gateway: SIGINT: stopping/, output);
    assert.not.match(output, /SIGINT again/, output);
    assert.match(output, /\napppkg-gateway: stopped\r?\n/, output);
    assert.is(status, 0, output);
  } finally {
    work.remove();
  }
});

// `npm start -- --listen 8080` (H242, a new user whose port 8000 was taken): the script's own
// --listen 127.0.0.1:8000 came first and --listen repeats, so it listened on both, and where 8000
// was taken it failed with EADDRINUSE on the address the user had just replaced.
test('npm start -- --listen ADDR listens there instead of 127.0.0.1:8000, not beside it', async () => {
  const work = tempDir('apppkg-npm-start-listen-');
  try {
    const root = startScriptTree(work.path);
    const gw = await startCli([join(root, 'scripts', 'start.mjs'), '--listen', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--admin', '127.0.0.1:0', '--access-log', 'off'], { bin: process.execPath, cwd: root, ms: 120_000 });
    try {
      assert.match(gw.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.not.match(gw.url, /:8000$/);
      assert.not.match(gw.output(), /127\.0\.0\.1:8000/, gw.output());
    } finally {
      assert.is(await gw.stop(), 0, gw.output());
    }
  } finally {
    work.remove();
  }
});

test.run();
