// A Gateway's log spoke the CLI's words to the program running it: an empty apps directory said
// `apppkg-gateway init DIR` writes a package (the library has no such call) and, with
// watchIntervalMs: 0, to "send SIGHUP once they are there" (a Gateway installs no handler: the
// signal would end the program); maxWorkers was called --max-workers where it caps an app's
// workers and where it puts an app to sleep to make room. An idle app woken while every worker
// maxWorkers allows holds a request is answered a 503 that says so (untested until now). Each
// now says the library's words, as command-words.test.ts has its fixes; the CLI's are checked
// by gateway/idle-apps. A delivery waiting in the spool of a gateway with no environment file was
// told to "start the gateway with --environment FILE", as gateway.retryMail() "(--environment)":
// both name `environment` now (the CLI's, mail/mail-restart), and retryMail()'s fix says its dead letters are
// then listed in `gateway.status()`, not `status`. Imported by the package's own name,
// as a program does.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { wsgiPackage, writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('library: the log says watchIntervalMs\'s rescan() and maxWorkers, not SIGHUP, init and --max-workers');
const work = tempDir('apppkg-lib-gateway-words-');
const apps = join(work.path, 'apps');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;

test.before(async () => {
  mkdirSync(apps);
  // A delivery left in the spool by an earlier run with mail: (its content is not read here).
  mkdirSync(join(work.path, 'state', 'mail', 'queue'), { recursive: true });
  writeFileSync(join(work.path, 'state', 'mail', 'queue', 'd-left.json'), '{}\n');
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, workers: 2, maxWorkers: 1, say: (line) => said.push(line) }));
});

test.after(() => stopGatewayAndWork(gateway, work, seen));

const log = (): string => said.join('\n');

test('no app packages, not watched: the line names gateway.rescan(), not SIGHUP, and no init', () => {
  const line = said.find((l) => l.startsWith('no app packages in '));
  assert.is(line, `no app packages in ${apps}: a package is a directory holding app.yaml, e.g. ${join(apps, 'hello', 'app.yaml')}; call \`gateway.rescan()\` once they are there`, log());
  assert.not.match(log(), 'apppkg-gateway');
  assert.not.match(log(), 'SIGHUP');
});

test('a delivery waiting with no environment file: the line and retryMail() name environment, not --environment', async () => {
  const queue = join(work.path, 'state', 'mail', 'queue');
  assert.ok(said.includes(`mail: 1 delivery waits in ${queue}, but there is no environment file (environment), so none is tried: start the gateway with environment: FILE holding mail: {listen: ...}; it is delivered then, with its delivery id`), log());
  const err = await gateway!.retryMail({ all: true, app: null }).then(() => null, (e: unknown) => e as { code?: string; message?: string; hint?: string });
  assert.is(err?.code, 'APPPKG_MAIL_OFF', String(err));
  assert.match(err!.message!, 'this gateway runs no mail listener (there is no environment file (environment))');
  // Where its dead letters are listed then: the library's status(), not the CLI's `status`.
  assert.is(err!.hint, "put `mail: {listen: ...}` in the gateway's environment file and restart it; its dead letters are then listed in `gateway.status()` and can be retried");
  assert.not.match(log(), '--environment');
});

test('workers past maxWorkers, and an app put to sleep to make room: both say maxWorkers', async () => {
  for (const name of ['first', 'second']) {
    wsgiPackage(apps, name, 'platform: python, wsgi\napp: wsgi:application\n');
    await within(60_000, `rescan for ${name}`, gateway!.rescan());
    const res = await request(`${gateway!.urls[0]}/${name}/`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
    await res.body.text();
    assert.is(res.statusCode, 200, log());
    for (const pid of gateway!.pids) seen.add(pid);
  }
  assert.ok(said.includes('first: workers 2 is more than maxWorkers 1; it runs 1'), log());
  await waitFor(() => said.includes('first: maxWorkers 1 reached; making room for second; stopping its workers until the next request'), 30_000, () => `first put to sleep for second:\n${log()}`);
  assert.not.match(log(), '--max-workers');
});

test('an idle app woken while the only worker maxWorkers allows holds a request: a 503 that says so and names maxWorkers', async () => {
  const asked = join(work.path, 'holder-asked');
  const release = join(work.path, 'holder-release');
  // Its request is held until the test lets it go (30 s at most), so that no app can sleep.
  writePackage(apps, 'holder', {
    'app.yaml': 'platform: python, wsgi\napp: wsgi:application\n',
    'wsgi.py': `import os, time\n\ndef application(environ, start_response):\n    open(${JSON.stringify(asked)}, "w").close()\n    deadline = time.monotonic() + 30\n    while not os.path.exists(${JSON.stringify(release)}) and time.monotonic() < deadline:\n        time.sleep(0.05)\n    start_response("200 OK", [])\n    return [b"held"]\n`,
  });
  await within(60_000, 'rescan for holder', gateway!.rescan());
  for (const pid of gateway!.pids) seen.add(pid);
  const held = request(`${gateway!.urls[0]}/holder/`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  try {
    await waitFor(() => existsSync(asked), 30_000, () => `holder's request to reach the app:\n${log()}`);
    const res = await request(`${gateway!.urls[0]}/first/`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
    const body = await res.body.text();
    assert.is(res.statusCode, 503, body);
    assert.match(body, 'first could not be started: the gateway runs as many workers as maxWorkers allows, and every running app holds a request or an open websocket, so none can sleep to make room: try again in a moment, or raise maxWorkers');
  } finally {
    writeFileSync(release, '');
  }
  const res = await held;
  assert.is(await res.body.text(), 'held');
  assert.not.match(log(), '--max-workers');
});

test.run();
