// A library gateway over many small WSGI apps and one package whose app.yaml does not load, once
// every app serves: what the tests that count work per app (publishes, status builds) start from.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { writePackage } from './apps-dir.js';
import { waitFor } from './process.js';

/** `count` apps (app0, app1, ...) and `broken` under `workDir/apps`, one worker each, served by a gateway once all are ready. */
export async function startManyApps(workDir: string, count: number): Promise<{ gateway: Gateway; apps: string }> {
  const apps = join(workDir, 'apps');
  mkdirSync(apps);
  for (let i = 0; i < count; i++) {
    writePackage(apps, `app${i}`, {
      'app.yaml': 'platform: python, wsgi\napp: app:application\n',
      'app.py': "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    });
  }
  writePackage(apps, 'broken', { 'app.yaml': 'platform: python, wsgi\napp: [app:application\n' });
  const envFile = join(workDir, 'environment.yaml');
  writeFileSync(envFile, 'defaults:\n  workers: 1\n', { mode: 0o600 });
  const gateway = await Gateway.start({ apps, listen: '127.0.0.1:0', admin: false, environment: envFile, stateDir: join(workDir, 'state'), settleMs: 0, say: () => {} });
  try {
    await waitFor(() => gateway.status().apps.length === count && gateway.status().apps.every((a) => a.state === 'ready'), 60_000, () => `every app ready: ${gateway.status().apps.map((a) => a.state).join(' ')}`);
  } catch (err) {
    await gateway.stop();
    throw err;
  }
  return { gateway, apps };
}
