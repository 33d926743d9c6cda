// A version whose commands.update failed is refused again at the gateway's next start without
// running the hook (version-judge.ts refuseKeptFailures); to a program running a Gateway its
// line said "change a file in it, or send SIGHUP, to run it again" (a Gateway installs no
// handler: the signal would end the program) and its history "until ... SIGHUP asks". Both
// now name the Gateway's calls, and rescan() does run the hook again; the CLI's words are
// checked by gateway/start-updates. Imported by the package's own name, as a program does.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('library: a failed update kept across starts names rescan() and reload(), not SIGHUP');
const work = tempDir('apppkg-lib-kept-update-');
const apps = join(work.path, 'apps');
const stateDir = join(work.path, 'state');
const environment = join(work.path, 'environment.yaml');
const updates = join(work.path, 'updates.log');
const seen = new Set<number>();
test.after(() => work.remove());

const start = (said: string[]): Promise<Gateway> =>
  within(120_000, 'Gateway.start', Gateway.start({ apps, stateDir, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
const stop = async (gateway: Gateway): Promise<void> => {
  for (const pid of gateway.pids) seen.add(pid);
  await within(60_000, 'stop()', gateway.stop());
};
const updatesRun = (): number => (existsSync(updates) ? readFileSync(updates, 'utf8').length : 0);

test('refused at the next start without running its hook: the line says rescan(), the history reload(); rescan() runs it again', async () => {
  writeFileSync(environment, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  wsgiPackage(apps, 'blog.1', 'platform: python, wsgi\napp: wsgi:application\n');
  const first: string[] = [];
  let gateway = await start(first);
  try {
    wsgiPackage(apps, 'blog.2', `platform: python, wsgi\napp: wsgi:application\ncommands:\n  update: ${JSON.stringify(`printf u >> ${updates}; exit 7`)}\n`);
    await within(60_000, 'rescan()', gateway.rescan());
    await waitFor(() => first.some((l) => l.startsWith('blog: version 2 refused')), 30_000, () => `version 2 refused:\n${first.join('\n')}`);
    assert.is(updatesRun(), 1);
  } finally {
    await stop(gateway);
  }
  const said: string[] = [];
  gateway = await start(said);
  try {
    const line = said.find((l) => l.startsWith('blog: version 2 refused: its commands.update failed at '));
    assert.ok(line?.includes('with these same files; it is not run again (change a file in it, or call `gateway.rescan()`, to run it again):\n'), said.join('\n'));
    const history = (gateway.status() as any).apps.find((a: any) => a.name === 'blog').history;
    const event = history.find((e: any) => e.kind === 'refused' && e.message.includes('is not run again until'));
    assert.match(event?.message ?? JSON.stringify(history), 'is not run again until a file in it changes or you call `gateway.reload()`: ');
    assert.is(updatesRun(), 1, 'not run at the start');
    await within(60_000, 'rescan()', gateway.rescan());
    await waitFor(() => updatesRun() === 2, 30_000, 'the hook run again by rescan()');
    assert.not.match(said.join('\n'), 'SIGHUP');
  } finally {
    await stop(gateway);
  }
  await assertNoOrphans([...seen]);
});

test.run();
