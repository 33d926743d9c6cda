// A Gateway's log spoke the CLI's words to the program running it: an empty apps directory said
// `apppkg-gateway init DIR` writes a package (the library has no such call) and, with
// watchIntervalMs: 0, to "send SIGHUP once they are there" (a Gateway installs no handler: the
// signal would end the program); maxWorkers was called --max-workers where it caps an app's
// workers and where it puts an app to sleep to make room. Each now says the library's words, as
// command-words.test.ts has its fixes; the CLI's are checked by gateway/idle-apps. Imported by the
// package's own name, as a program does.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('library: the log says watchIntervalMs\'s rescan() and maxWorkers, not SIGHUP, init and --max-workers');
const work = tempDir('apppkg-lib-gateway-words-');
const apps = join(work.path, 'apps');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;

test.before(async () => {
  mkdirSync(apps);
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, workers: 2, maxWorkers: 1, say: (line) => said.push(line) }));
});

test.after(async () => {
  for (const pid of gateway?.pids ?? []) seen.add(pid);
  await gateway?.stop();
  await assertNoOrphans([...seen]);
  work.remove();
});

const log = (): string => said.join('\n');

test('no app packages, not watched: the line names gateway.rescan(), not SIGHUP, and no init', () => {
  const line = said.find((l) => l.startsWith('no app packages in '));
  assert.is(line, `no app packages in ${apps}: a package is a directory holding app.yaml, e.g. ${join(apps, 'hello', 'app.yaml')}; call \`gateway.rescan()\` once they are there`, log());
  assert.not.match(log(), 'apppkg-gateway');
  assert.not.match(log(), 'SIGHUP');
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

test.run();
