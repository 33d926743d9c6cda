// A real Node http server on port 0 forwarding every request to real Python workers through
// forward-wsgi: the link without the rest of the gateway. Used by test/link and bench/.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Worker } from '../../src/supervisor/worker.js';
import { routeFromRequest } from '../../src/proxy/forward-wsgi.js';

export const APPS = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'apps');

export interface LinkHarnessOptions {
  workers?: number;
  threads?: number;
  development?: boolean;
  /** SCRIPT_NAME for every request ('' by default). */
  mount?: string;
  startDeadlineMs?: number;
  python?: string;
}

export interface LinkHarness {
  url: string;
  port: number;
  workers: Worker[];
  /** Every line the workers wrote on stdout and stderr. */
  output: string[];
  server: http.Server;
  stop(): Promise<void>;
}

/** `app:` of a fixture's app.yaml (fixtures use the flat form). */
export function fixtureApp(name: string): { dir: string; app: string } {
  const dir = join(APPS, name);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  const m = /^app:\s*(\S+)/m.exec(yaml);
  if (!m) throw new Error(`${dir}/app.yaml has no app: line`);
  return { dir, app: m[1] };
}

export function workerFor(name: string, opts: LinkHarnessOptions = {}, output: string[] = []): Worker {
  const { dir, app } = fixtureApp(name);
  const sink = (line: string): void => {
    output.push(line);
    if (process.env.LINK_DEBUG) process.stderr.write(`[${name}] ${line}\n`);
  };
  return new Worker({
    python: opts.python ?? 'python3',
    env: { ...(process.env as Record<string, string>) },
    cwd: dir,
    app,
    sysPath: [dir],
    threads: opts.threads ?? 8,
    multiprocess: (opts.workers ?? 1) > 1,
    development: opts.development ?? false,
    name,
    stdout: sink,
    stderr: sink,
  });
}

export async function startLinkHarness(name: string, opts: LinkHarnessOptions = {}): Promise<LinkHarness> {
  const output: string[] = [];
  const workers = Array.from({ length: opts.workers ?? 1 }, () => workerFor(name, opts, output));
  const started = await Promise.allSettled(workers.map((w) => w.start(opts.startDeadlineMs ?? 15_000)));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(workers.map((w) => w.stop(1000)));
    throw failed.reason;
  }
  const mount = opts.mount ?? '';
  let next = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // Least in flight, round-robin among equals.
    let best: Worker | null = null;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[(next + i) % workers.length];
      if (w.available && (best === null || w.inFlight < best.inFlight)) best = w;
    }
    next++;
    if (best === null) {
      res.writeHead(503).end('no worker\n');
      return;
    }
    best.handle(req, res, routeFromRequest(req, mount));
  };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  server.on('checkContinue', handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    workers,
    output,
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(workers.map((w) => w.stop(3000)));
    },
  };
}
