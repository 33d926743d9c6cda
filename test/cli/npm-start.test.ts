// `npm start` (scripts/start.mjs) in a terminal, stopped with one ^C: the terminal sends SIGINT to
// its whole foreground process group, the gateway included, so the script must not pass its own
// on too. It did, and the gateway took the second SIGINT for a second ^C: "SIGINT again:
// stopping at once; requests still in flight are cut", killed by the signal. Driven through a
// real pseudo-terminal (Python's pty: Node has none), whose ^C the line discipline turns into
// the group's SIGINT, as a user's key does. The same with SIGTERM to the script's process group
// (`timeout`, a systemd unit), which the script does pass on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { SAME_SIGTERM_MS } from '../../src/cli/run-loop.js';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { canConnect } from '../helpers/servers.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, EXAMPLES, guardsEnded, pidsByArgs, processesBelow, ROOT, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
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
function startScriptTree(work: string, fillExamples = (examples: string) => cpSync(join(EXAMPLES, 'hello'), join(examples, 'hello'), { recursive: true })): string {
  const root = join(work, 'root');
  mkdirSync(join(root, 'scripts'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts', 'start.mjs'), join(root, 'scripts', 'start.mjs'));
  mkdirSync(join(root, 'bin'));
  symlinkSync(join(ROOT, 'bin', 'apppkg-gateway'), join(root, 'bin', 'apppkg-gateway')); // the launcher follows it to dist/
  fillExamples(join(root, 'examples'));
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

/** Answers its worker's pid, after sleeping the seconds its query string gives, said in its log first. */
const SLOW_APP = {
  'app.yaml': 'platform: python, wsgi\napp: slow:application\n',
  'slow.py': 'import os, sys, time\n\ndef application(environ, start_response):\n    seconds = float(environ["QUERY_STRING"] or 0)\n    if seconds:\n        print("sleeping", seconds, file=sys.stderr, flush=True)\n        time.sleep(seconds)\n    start_response("200 OK", [])\n    return [str(os.getpid()).encode()]\n',
};

/**
 * The script on examples/ of the slow app alone, as `timeout N npm start` or a systemd unit runs
 * it: in a process group of its own; a request held in flight (SECONDS) once its worker serves.
 */
async function slowRequestUnderGroup(work: string, seconds: number): Promise<{ gw: RunningGateway; gateway: number | undefined; pid: number; held: Promise<string> }> {
  const root = startScriptTree(work, (examples) => writePackage(examples, 'slow', SLOW_APP));
  const state = join(work, 'state');
  const args = [join(root, 'scripts', 'start.mjs'), '--listen', '127.0.0.1:0', '--state-dir', state, '--admin', '127.0.0.1:0', '--access-log', 'off', ...oneWorkerEach(work)];
  const gw = await startCli(args, { bin: process.execPath, cwd: root, ms: 120_000, group: true });
  const pid = Number(await waitFor(async () => {
    const r = await request(`${gw.url}/slow/`);
    return r.statusCode === 200 ? r.body.text() : (await r.body.dump(), undefined);
  }, 60_000, 'slow to serve', ASK_GATEWAY_EVERY_MS));
  const held = request(`${gw.url}/slow/?${seconds}`).then(async (r) => `${r.statusCode} ${await r.body.text()}`, (e: Error) => `cut: ${e.message}`);
  const appLog = join(state, 'apps', 'slow', 'log', 'app.log');
  await waitFor(() => existsSync(appLog) && readFileSync(appLog, 'utf8').includes(`sleeping ${seconds}`), 10_000, 'the slow request in flight');
  return { gw, gateway: gatewayBelow(gw.child.pid!), pid, held };
}

/** The gateway process the script runs (gw.child is the script's): the CLI's process below `script`. */
function gatewayBelow(script: number): number | undefined {
  const below = new Set(processesBelow(script).map((p) => p.pid));
  return pidsByArgs((args) => args.some((arg) => arg.endsWith('/dist/cli/main.js'))).find((pid) => below.has(pid));
}

/** Its exit status, or the signal that ended it. */
function exitOf(gw: RunningGateway): Promise<number | string | null> {
  return new Promise((resolve) => gw.child.once('exit', (code, signal) => resolve(signal ?? code)));
}

// Under `timeout N npm start`, a systemd unit whose ExecStart is `npm start`, or `kill -TERM
// -PGID`, the group's SIGTERM reaches the gateway, and the script passes its own on (npm too):
// the gateway took the second for a second stop, "SIGTERM again: stopping at once", cutting the
// request it was finishing (H244). A SIGINT to the group with no terminal (a CI job cancelled,
// `timeout -s INT N npm start`, `kill -INT -PGID`) comes the same way: the script passes SIGINT
// on where no terminal could have sent it, and the gateway took the copy for a second ^C,
// "SIGINT again: stopping at once", cutting the request in flight and leaving its cgroup behind.
for (const [signal, who] of [['SIGTERM', '(timeout, a systemd unit)'], ['SIGINT', 'with no terminal']] as const) {
  test(`npm start stopped by a ${signal} to its process group ${who}: the gateway, which gets it from the group and from the script, stops as for one: the request in flight answered, "stopped", status 0`, async () => {
    const work = tempDir(`apppkg-npm-start-${signal.toLowerCase()}-`);
    try {
      const { gw, pid, held } = await slowRequestUnderGroup(work.path, 2);
      try {
        const exited = exitOf(gw);
        process.kill(-gw.child.pid!, signal);
        assert.match(await held, /^200 \d+$/, gw.output());
        assert.is(await within(30_000, 'npm start to exit', exited), 0, gw.output());
        await waitFor(() => gw.output().includes('apppkg-gateway: stopped'), 5000, () => `the stopped line:\n${gw.output()}`);
        assert.not.match(gw.output(), /again/, gw.output());
        await assertNoOrphans([pid]);
      } finally {
        await gw.stop();
      }
    } finally {
      work.remove();
    }
  });
}

test(`a second SIGTERM to npm start's group more than ${SAME_SIGTERM_MS} ms into the stop (sent on purpose) still ends the gateway at once, as it says, the request in flight cut`, async () => {
  const work = tempDir('apppkg-npm-start-group2-');
  try {
    const { gw, gateway, pid, held } = await slowRequestUnderGroup(work.path, 30);
    try {
      const exited = exitOf(gw);
      process.kill(-gw.child.pid!, 'SIGTERM');
      await waitFor(() => gw.output().includes('SIGTERM: stopping'), 10_000, () => `the stop to begin; the output:\n${gw.output()}`);
      // The copies of the group's SIGTERM have come by now; the next one is a second stop.
      await new Promise((resolve) => setTimeout(resolve, SAME_SIGTERM_MS));
      process.kill(-gw.child.pid!, 'SIGTERM');
      assert.match(await within(15_000, 'the request to be cut', held), /^cut: /, gw.output());
      // The gateway ends by its own SIGTERM, and the script by the status a shell gives for it.
      assert.is(await within(15_000, 'npm start to exit', exited), 143, gw.output());
      await waitFor(() => gw.output().includes('apppkg-gateway: SIGTERM again: stopping at once; requests still in flight are cut'), 5000, () => `the gateway to say it stops at once:\n${gw.output()}`);
      await assertNoOrphans([pid], 15_000);
      // Stopped at once, it left the worker to its guard, which the test must not outlive.
      assert.ok(gateway, 'the gateway below the script was found');
      await guardsEnded(gateway);
    } finally {
      await gw.stop();
    }
  } finally {
    work.remove();
  }
});

test.run();
