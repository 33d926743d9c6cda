// Liveness of a routed process (src/supervisor/liveness.ts): one that is alive but answers
// nothing — here SIGSTOPped, so its port's backlog still completes connections — is killed
// after LIVENESS_FAILURES probes in a row and restarted as after a crash, its history and the
// log saying it was unresponsive, its websockets closed 1012 (come back); one that answers is
// left alone. The probe reaches no app code: its log gets no line for it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from '../helpers/apps-dir.js';
import { EVERY_MS, FAILURES, LIVENESS_ENV, TIMEOUT_MS } from '../helpers/liveness.js';
import { appStatus } from '../helpers/status.js';
import { openSocket } from '../helpers/websocket.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('process liveness');
const apps = tempDir('apppkg-liveness-apps-');
const state = tempDir('apppkg-liveness-state-');
let gw: RunningGateway;
const seen = new Set<number>();
/** Long enough for the probes that judge it, the restart's back-off and the new one's start. */
const JUDGED_MS = EVERY_MS * (FAILURES + 1) + TIMEOUT_MS + 30_000;

test.before(async () => {
  addPackage(apps.path, 'ws-echo', 'echo');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off'], { env: LIVENESS_ENV });
});

test.after(async () => {
  for (const p of (await appStatus(gw, 'echo').catch(() => null))?.processes ?? []) if (p.pid) seen.add(p.pid);
  // A process still stopped would take its SIGTERM only once continued.
  for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

async function wsProcess(): Promise<{ pid: number; state: string; restarts: number }> {
  return (await appStatus(gw, 'echo')).processes.find((p: { name: string }) => p.name === 'ws');
}

/** The pid that answers a plain GET on the route: the process the proxy sends to. */
async function answeringPid(): Promise<number> {
  const res = await fetch(`${gw.url}/echo/ws/`, { signal: AbortSignal.timeout(10_000) });
  assert.is(res.status, 200);
  return ((await res.json()) as { pid: number }).pid;
}

test('a routed process that answers is left alone through more rounds than it takes to judge one, and its log gets no line from the probe', async () => {
  await waitFor(async () => (await wsProcess())?.state === 'ready', 30_000, 'processes.ws to be ready');
  const { pid } = await wsProcess();
  seen.add(pid);
  assert.is(await answeringPid(), pid);
  const appLog = join(state.path, 'apps', 'echo', 'log', 'app.log');
  // The GET's own line first: the log is written as the process's output is read.
  await waitFor(() => readFileSync(appLog, 'utf8').includes('"GET /echo/ws/ HTTP/1.1" 200'), 5000, "the GET's line in the app's log");
  const logBefore = readFileSync(appLog, 'utf8');
  await new Promise((resolve) => setTimeout(resolve, EVERY_MS * (FAILURES + 0.5)));
  const now = await wsProcess();
  assert.is(now.pid, pid, `replaced: ${gw.output()}`);
  assert.is(now.restarts, 0);
  assert.not.match(gw.output(), 'unresponsive');
  // http.server logs every request it answers: the probe must not be one.
  const logAfter = readFileSync(appLog, 'utf8');
  assert.is(logAfter.slice(logBefore.length).split('\n').filter((l) => l.startsWith('[ws] ')).join('\n'), '');
});

test('a routed process SIGSTOPped is killed for not answering and restarted; the log and the history say it was unresponsive, its websockets are closed 1012', async () => {
  const { pid: victim } = await wsProcess();
  seen.add(victim);
  const sock = await openSocket(`${gw.url.replace(/^http/, 'ws')}/echo/ws/held`);
  sock.ws.send('hello');
  assert.is(await sock.next(), 'hello');
  process.kill(victim, 'SIGSTOP');
  try {
    await waitFor(async () => {
      const now = await wsProcess();
      return now?.state === 'ready' && now.pid !== victim ? now : undefined;
    }, JUDGED_MS, 'the stopped process to be replaced');
    await assertNoOrphans([victim], 10_000);
  } finally {
    // Never left behind stopped: continued, then killed, whatever the test found.
    if (isAlive(victim)) {
      process.kill(victim, 'SIGCONT');
      process.kill(victim, 'SIGKILL');
    }
  }
  // Told to come back, not cut (1006).
  assert.is(await sock.closed(10_000), 1012);
  const next = await wsProcess();
  seen.add(next.pid);
  assert.is(next.restarts, 1);
  assert.is(await answeringPid(), next.pid, 'the route is served by the new process');
  const said = new RegExp(`echo: processes\\.ws ${victim} unresponsive: 127\\.0\\.0\\.1:\\d+ accepted no connection within ${TIMEOUT_MS / 1000} s \\(ours waited in its listen queue\\), ${FAILURES} times in a row over \\d+ s; killing it`);
  assert.match(gw.output(), said);
  assert.match(gw.output(), new RegExp(`echo: processes\\.ws ${victim} exited \\(unresponsive: .*\\); restarting in \\d+ ms`));
  const exited = (await appStatus(gw, 'echo')).history.find((e: { kind: string }) => e.kind === 'exited');
  assert.ok(exited, 'an exited event in the history');
  assert.match(exited.message, new RegExp(`processes\\.ws ${victim} exited \\(unresponsive: `));
});

test.run();
