// GET /status of a running gateway (test/helpers/process.ts startCli with --admin), as JSON.
import { request } from 'undici';
import { assertNoOrphans, type RunningGateway } from './process.js';

export async function gatewayStatus(gw: RunningGateway): Promise<any> {
  return (await request(`${gw.adminUrl}/status`)).body.json();
}

export async function appStatus(gw: RunningGateway, name: string): Promise<any> {
  return (await gatewayStatus(gw)).apps.find((a: any) => a.name === name);
}

/** Every pid /status names: workers' and processes'. */
export function statusPids(status: any): number[] {
  return status.apps.flatMap((a: any) => [...a.workers.map((w: any) => w.pid), ...a.processes.map((p: any) => p.pid)]).filter(Boolean);
}

/**
 * A suite's end: stops the gateway (started with --admin), checks that every process its
 * /status named is gone, and removes the suite's directories.
 */
export async function stopGatewayChecked(gw: RunningGateway | null | undefined, ...dirs: Array<{ remove(): void }>): Promise<void> {
  // An answer that is no status (a gateway out of files answers with an error, or not at all)
  // must not keep the gateway from being stopped: it outlived its suite, and the next suite in
  // the process found it among its children.
  const status = gw ? await gatewayStatus(gw).catch(() => null) : null;
  const pids = Array.isArray(status?.apps) ? statusPids(status) : [];
  await gw?.stop();
  await assertNoOrphans(pids);
  for (const dir of dirs) dir.remove();
}
