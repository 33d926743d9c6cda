// The gateway's own stdout and stderr are not what it serves for: a reader of them that leaves
// (`2>&1 | head`, a log pipe whose program ended, a terminal closed) or a file on a full disk
// (`2>>gateway.err`) loses the gateway's lines, as nginx's and gunicorn's are lost then, but the
// gateway serves on and stops as it would otherwise. Its first write after the loss ended it
// (EPIPE, ENOSPC or EIO: Node's unhandled 'error' event), the apps' requests with it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, BIN, ROOT, assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';

const test = suite('the gateway without its stdout or stderr');

const APP = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]
`;

function appsDir(work: { path: string }): string {
  const apps = join(work.path, 'apps');
  writePackage(apps, 'hello', { 'app.yaml': 'platform: python, wsgi\napp: hello:application\n', 'hello.py': APP });
  return apps;
}

/** Sends SIGHUP (its rescan writes a line on stderr) and waits for that rescan's end (`scan` of /status). */
async function hangUpAndServe(pid: number, url: string, adminUrl: string): Promise<void> {
  const scan = async () => ((await (await request(`${adminUrl}/status`)).body.json()) as { scan: { started: number; finished: number } }).scan;
  const { started } = await scan();
  process.kill(pid, 'SIGHUP');
  // The line goes out as the rescan begins; its requests after it are what a user would miss.
  await waitFor(async () => !isAlive(pid) || (await scan()).finished > started, 15_000, 'the rescan of the SIGHUP to end', ASK_GATEWAY_EVERY_MS);
  assert.ok(isAlive(pid), 'the gateway ended after its SIGHUP line could not be written');
  const { statusCode, body } = await request(`${url}/hello/`);
  assert.equal([statusCode, await body.text()], [200, 'hello']);
}

test('the reader of its stderr leaves: it serves on, SIGHUP and all, and SIGTERM stops it with status 0', async () => {
  const work = tempDir('apppkg-stdio-gone-');
  let gw: RunningGateway | null = null;
  try {
    const apps = appsDir(work);
    gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', join(work.path, 'access.log')]);
    const pids = statusPids(await gatewayStatus(gw));
    gw.child.stderr!.destroy(); // `2>&1 | head -3` once head has its lines
    await hangUpAndServe(gw.child.pid!, gw.url, gw.adminUrl!);
    await hangUpAndServe(gw.child.pid!, gw.url, gw.adminUrl!); // the writes after the first failed one too
    assert.equal(await gw.stop(), 0);
    gw = null;
    await assertNoOrphans(pids);
    assert.match(readFileSync(join(work.path, 'access.log'), 'utf8'), /"GET \/hello\/ HTTP\/1.1" 200 5 .*\n.*"GET \/hello\/ HTTP\/1.1" 200 5 /);
  } finally {
    await gw?.stop();
    work.remove();
  }
});

test('its stderr a file on a full disk (/dev/full): it starts, serves, and stops with status 0', async () => {
  const work = tempDir('apppkg-stdio-full-');
  const full = openSync('/dev/full', 'w');
  try {
    const apps = appsDir(work);
    const child = spawn(BIN, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', join(work.path, 'access.log')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', full],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let out = '';
    child.stdout!.on('data', (chunk) => (out += chunk));
    try {
      const { url } = await waitFor(() => {
        const listening = /listening on (http:\S+)\//.exec(out)?.[1];
        return listening ? { url: listening } : child.exitCode !== null ? { url: null } : undefined;
      }, 30_000, 'the gateway to listen');
      assert.ok(url, `the gateway ended before it listened (status ${child.exitCode}); its stdout:\n${out}`);
      const admin = await waitFor(() => /admin on (http:\S+)\//.exec(out)?.[1], 5000, 'the admin line');
      const pids = statusPids(await (await request(`${admin}/status`)).body.json());
      await hangUpAndServe(child.pid!, url, admin);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      assert.equal(await exited, 0);
      clearTimeout(timer);
      await assertNoOrphans(pids);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  } finally {
    closeSync(full);
    work.remove();
  }
});

test.run();
