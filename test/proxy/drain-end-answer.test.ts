// A request still without a response head when its worker's drain ends (docs/reliability.md
// R2.7f): the worker is stopped then (an ASGI worker's tasks cancelled, a WSGI worker killed),
// and the client gets the gateway's 502 saying so, whichever kind the worker is; a response
// under way is cut there as before (444: test/gateway/sse-streams.test.ts). Until 2026-12-07 an
// ASGI worker's such request was closed with no answer at all (444). The request is an upload
// trickling a byte every 200 ms: each piece keeps its 504 clock young, so the drain's end
// (after the recycle that max_requests: 1 asks for) comes first. Real CLI, real Python
// workers, raw sockets. Fixtures: test/fixtures/apps/asgi-timeout, test/fixtures/apps/faults.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { tricklingPost } from '../helpers/trickling-post.js';

const test = suite('a request with no head at its worker\'s drain\'s end');
const work = tempDir('apppkg-drain-end-');
const accessLog = join(work.path, 'access.log');
let gw: RunningGateway;
const pids = new Set<number>();

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-timeout', 'as');
  addPackage(apps, 'faults', 'ws');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  as:\n    workers: 1\n    max_requests: 1\n    timeout: 2\n  ws:\n    workers: 1\n    threads: 1\n    max_requests: 1\n    timeout: 2\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', accessLog, '--environment', env]);
});

test.after(async () => {
  await gw?.stop(30_000);
  await assertNoOrphans([...pids], 10_000);
  work.remove();
});

async function pidOf(app: string): Promise<number> {
  const res = await request(`${gw.url}/${app}/pid`, { headersTimeout: 30_000 });
  const pid = Number(await res.body.text());
  pids.add(pid);
  return pid;
}

const logged = (line: string): boolean => readFileSync(accessLog, 'utf8').split('\n').some((l) => l.includes(line));

for (const [app, path, kind] of [['as', '/as/hang', 'ASGI'], ['ws', '/ws/sleep?t=60', 'WSGI']] as const) {
  test(`R2.7f ${kind}: 502 with the gateway's short body, logged 502`, async () => {
    await pidOf(app); // the worker up before the request that recycles it (max_requests: 1)
    const answer = await tricklingPost(Number(new URL(gw.url).port), path);
    assert.match(answer, /^HTTP\/1\.1 502 Bad Gateway\r\n/, `the answer: ${JSON.stringify(answer)}`);
    assert.ok(answer.endsWith('\r\n\r\n502 Bad Gateway\nthe app\'s worker was stopped at the end of its drain before it answered\n'), answer);
    await waitFor(() => logged(`"POST ${path} HTTP/1.1" 502`), 5000, () => `the access log line, in:\n${readFileSync(accessLog, 'utf8')}`);
    await waitFor(() => new RegExp(`${app}: worker \\d+ has drained for \\d+ s; 1 request with no answer yet is answered 502`).test(gw.output()), 5000, () => `the drain's line, in:\n${gw.output()}`);
    await pidOf(app); // its replacement, for the orphan check
  });
}

test.run();
