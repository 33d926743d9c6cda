// The real gateway CLI serving one fixture app at a mount, shaped like the link harness so
// that the same tests run through both.
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage } from './apps-dir.js';
import { startCli, tempDir } from './process.js';

export interface GatewayHarnessOptions {
  workers?: number;
  threads?: number;
  mount?: string;
}

export async function startGatewayHarness(fixture: string, opts: GatewayHarnessOptions = {}) {
  const work = tempDir('apppkg-gw-harness-');
  const apps = join(work.path, 'apps');
  addPackage(apps, fixture, fixture);
  const envFile = join(work.path, 'environment.yaml');
  writeFileSync(
    envFile,
    `apps:\n  ${fixture}:\n    mount: ${opts.mount ?? '/'}\n    workers: ${opts.workers ?? 2}\n    threads: ${opts.threads ?? 8}\n`,
  );
  const state = join(work.path, 'state');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off']);
  const log = join(state, 'apps', fixture, 'log', 'app.log');
  return {
    url: gw.url,
    port: Number(new URL(gw.url).port),
    get output(): string[] {
      return existsSync(log) ? readFileSync(log, 'utf8').split('\n') : [];
    },
    async stop() {
      await gw.stop();
      work.remove();
    },
  };
}
