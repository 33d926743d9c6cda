// A fixed GatewayStatus for the admin tests: plain data, as a gateway's provider would return.
import type { GatewayStatus } from '../../src/admin/status-types.js';

export function fakeStatus(): GatewayStatus {
  return {
    pid: 4242,
    version: '0.1.0',
    startedAt: '2026-01-02T03:04:05.000Z',
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
        versions: [{ version: '2026.11.24', dir: '/var/apps/blog.2026.11.24', state: 'serving', reason: null, websockets: 0 }],
        workers: [
          { pid: 1001, state: 'ready', inFlight: 2, websockets: 0, requests: 40, startedAt: '2026-01-02T03:04:06.000Z', rssBytes: 30_000_000 },
          { pid: 1002, state: 'starting', inFlight: 0, websockets: 0, requests: 0, startedAt: '2026-01-02T03:04:07.000Z', rssBytes: null },
        ],
        processes: [],
        restarts: 3,
        websockets: 0,
        requests: 120,
        errors: 4,
        queued: 5,
        latency: { p50: 0.0123, p90: 0.05, p99: 0.25 },
        problem: null,
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
        processes: [],
        restarts: 7,
        websockets: 0,
        requests: 0,
        errors: 0,
        queued: 0,
        latency: { p50: null, p90: null, p99: null },
        problem: { code: 'APPPKG_APP_IMPORT_FAILED', message: 'app: cannot import shop.wsgi:app: No module named shop' },
      },
    ],
    broken: [{ dir: '/var/apps/wiki', code: 'APPPKG_DESC_INVALID', message: '/var/apps/wiki/app.yaml: 1 problem(s) in the description' }],
  };
}
