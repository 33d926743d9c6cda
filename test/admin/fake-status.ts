// A fixed GatewayStatus for the admin tests: plain data, as a gateway's provider would return,
// and an admin server over such a provider.
import type { GatewayStatus, WorkerStatus } from '../../src/admin/status-types.js';
import { startAdminServer, type AdminProvider, type AdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';

function blogWorkers(): WorkerStatus[] {
  return [
    { pid: 1001, state: 'ready', inFlight: 2, queued: 1, websockets: 0, requests: 40, failed: 1, latency: { p50: 0.012, p90: 0.04, p95: 0.09, p99: 0.2, windowSeconds: 60 }, startedAt: '2026-01-02T03:04:06.000Z', rssBytes: 30_000_000, cpuPercent: 1.5, restarts: 3, lastExit: { pid: 999, code: null, signal: 'SIGKILL', at: '2026-01-02T03:04:05.500Z', uptimeSeconds: 12.5, reason: null, failedToStart: null }, stoppingSince: null, stoppedStarting: null, recycled: 0, lastRecycle: null, memoryNote: null },
    { pid: 1002, state: 'starting', inFlight: 0, queued: 0, websockets: 0, requests: 0, failed: 0, latency: { p50: null, p90: null, p95: null, p99: null, windowSeconds: 60 }, startedAt: '2026-01-02T03:04:07.000Z', rssBytes: null, cpuPercent: null, restarts: 0, lastExit: null, stoppingSince: null, stoppedStarting: null, recycled: 0, lastRecycle: null, memoryNote: null },
  ];
}

/**
 * A provider over fakeStatus for the admin server's tests: the actions answer as a gateway
 * would (blog restarts; rollback has nowhere to go) and record what was asked.
 */
export function fakeProvider(logDir = '/nonexistent'): AdminProvider & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    status: fakeStatus,
    sample: async () => {},
    logFileOf: (name) => (['blog', 'shop'].includes(name) ? `${logDir}/${name}.log` : null),
    restart: async (name) => {
      asked.push(`restart ${name}`);
      return { version: '2026.11.24', message: `${name}: version 2026.11.24 restarted; the old workers drain` };
    },
    rollback: async (name) => {
      asked.push(`rollback ${name}`);
      const { GatewayError } = await import('../../src/errors.js');
      throw new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action: 'rollback', app: name, reason: 'version 2026.11.24 is the oldest version that can serve' });
    },
  };
}

/** The admin server on a loopback port over `provider` (`token`: every route needs it), with no process metrics. */
export function fakeAdminServer(provider: AdminProvider, token?: string): Promise<AdminServer> {
  return startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider, token, metrics: new GatewayMetrics({ processMetrics: false }) });
}

export function fakeStatus(): GatewayStatus {
  // No processTrees: the status of a gateway older than the field, whose table has no line for
  // it (status-table.ts); the tests of that line add it.
  const status: Omit<GatewayStatus, 'processTrees'> = {
    pid: 4242,
    version: '0.1.0',
    startedAt: '2026-01-02T03:04:05.000Z',
    state: 'running',
    stoppingSince: null,
    now: '2026-01-02T03:05:05.000Z',
    listen: ['http://127.0.0.1:8000'],
    apps: [
      {
        name: 'blog',
        state: 'ready',
        version: '2026.11.24',
        dir: '/var/apps/blog.2026.11.24',
        mount: '/blog',
        hosts: ['blog.localhost'],
        user: null,
        runsAsRoot: false,
        versions: [{
          version: '2026.11.24', dir: '/var/apps/blog.2026.11.24', state: 'serving', reason: null, websockets: 0,
          inFlight: 2, queued: 1, requests: 120, failed: 4, latency: { p50: 0.0123, p90: 0.05, p95: 0.1, p99: 0.25, windowSeconds: 60 },
          workers: blogWorkers(),
        }],
        workers: blogWorkers(),
        restarting: [],
        processes: [],
        restarts: 3,
        websockets: 0,
        requests: 120,
        errors: 4,
        failed: 4,
        refusedForRoom: 0,
        websocketsRefusedForRoom: 0,
        queued: 5,
        inFlight: 2,
        latency: { p50: 0.0123, p90: 0.05, p95: 0.1, p99: 0.25, windowSeconds: 60 },
        problem: null,
        health: { path: '/healthz', at: '2026-01-02T03:04:07.000Z', ok: true, status: 200, error: null, pid: 1001 },
        history: [{ at: '2026-01-02T03:04:07.500Z', kind: 'serving', version: '2026.11.24', from: null, message: 'version 2026.11.24 serving at /blog', reason: null, times: 1, lastAt: null }],
        log: {
          file: '/var/lib/apppkg/apps/blog/log/app.log',
          lines: [
            { at: '2026-01-02T03:04:07.000Z', stream: 'stdout', text: 'blog ready' },
            { at: '2026-01-02T03:04:08.000Z', stream: 'stderr', text: 'WARNING: slow query' },
          ],
        },
        canRollBack: false,
        idle: { timeoutSeconds: null, lastActive: '2026-01-02T03:04:08.000Z', coldStarts: 0, lastColdStartMs: null, coldStartSecondsTotal: 0, wakeFailure: null, nextWakeAt: null },
        services: [{ name: 'database', kind: 'sqlite', state: 'ready', reason: null }],
        mail: null,
      },
      {
        name: 'shop',
        state: 'crash-loop',
        version: null,
        dir: '/var/apps/shop',
        mount: '/shop',
        hosts: ['shop.localhost'],
        user: null,
        runsAsRoot: false,
        versions: [],
        workers: [],
        restarting: [],
        processes: [],
        restarts: 7,
        websockets: 0,
        requests: 0,
        errors: 0,
        failed: 0,
        refusedForRoom: 0,
        websocketsRefusedForRoom: 0,
        queued: 0,
        inFlight: 0,
        latency: { p50: null, p90: null, p95: null, p99: null, windowSeconds: 60 },
        problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import shop.wsgi:app: No module named shop' },
        health: null,
        history: [],
        log: { file: '/var/lib/apppkg/apps/shop/log/app.log', lines: [] },
        canRollBack: false,
        idle: null,
        services: [],
        mail: null,
      },
    ],
    broken: [{ dir: '/var/apps/wiki', code: 'APPPKG_DESC_INVALID', message: '/var/apps/wiki/app.yaml: 1 problem(s) in the description' }],
  };
  return status as GatewayStatus;
}
