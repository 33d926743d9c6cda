// The admin listener (SPEC §4): GET /status (JSON) and GET /metrics (Prometheus text) on an
// http server of its own, never the public one, so no route or Host header on the public
// listener can reach it. Loopback by default; a unix socket (mode 0660) is the way to let a
// group of users read it without opening a port.
import { listenOn } from '../net/listen.js';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { addrUrl, type ListenAddress } from '../net/address.js';
import type { GatewayMetrics } from './metrics.js';
import type { GatewayStatus } from './status-types.js';

/** Where the gateway serves its admin listener unless --admin says otherwise, and where `status` looks. */
export const DEFAULT_ADMIN = '127.0.0.1:8099';

export interface AdminServerOptions {
  listen: ListenAddress;
  status: () => GatewayStatus;
  metrics: GatewayMetrics;
}

export interface AdminServer {
  /** `http://host:port` (port 0 resolved) or `unix:/path`. */
  url: string;
  close(): Promise<void>;
}

const INDEX = `apppkg-gateway admin
  /status   the gateway's apps, versions, workers and counters (JSON)
  /metrics  the same as Prometheus metrics (text format 0.0.4)
`;

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const sockets = new Set<Socket>();
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => void answer(req, res, options));

  await listenOn(server, options.listen, {}, '--admin');
  const actual = server.address();
  const url =
    options.listen.kind === 'tcp' && actual !== null && typeof actual === 'object'
      ? addrUrl({ ...options.listen, port: actual.port })
      : addrUrl(options.listen);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      // server.close() alone waits for keep-alive clients to hang up; destroy them (vite's
      // createServerCloseFn). The admin endpoints are reads, so nothing of value is cut short.
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }).then(() => {
        if (options.listen.kind === 'unix') rmSync(options.listen.path, { force: true });
      });
      return closing;
    },
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return send(res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? ''} not allowed; the admin listener is read-only\n`, { Allow: 'GET, HEAD' });
  }
  const path = (req.url ?? '/').split('?')[0];
  try {
    switch (path) {
      case '/':
        return send(res, 200, 'text/plain; charset=utf-8', INDEX);
      case '/status':
        return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(options.status(), null, 2)}\n`);
      case '/metrics':
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await options.metrics.render());
      default:
        return send(res, 404, 'text/plain; charset=utf-8', `no such admin endpoint: ${path.slice(0, 200)}; try /status or /metrics\n`);
    }
  } catch (err) {
    // A provider bug must not take the admin listener down: answer 500 and keep serving.
    return send(res, 500, 'text/plain; charset=utf-8', `internal error: ${(err as Error)?.message ?? String(err)}\n`);
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...headers });
  res.end(body);
}

