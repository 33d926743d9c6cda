// A real Node http server on port 0 forwarding every request to real Python workers through
// forward-wsgi: the link without the rest of the gateway. Used by test/link and bench/.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo, Socket } from 'node:net';
import { LeanLane } from '../../src/proxy/lean-lane.js';
import { Worker } from '../../src/supervisor/worker.js';
import { forwardWsgi } from '../../src/proxy/forward-wsgi.js';
import { routeFromRequest } from '../../src/proxy/request-route.js';
import { Frame, MAX_BODY_FRAME, RESPONSE_WINDOW, encodeU32Frame } from '../../src/link/frames.js';
import type { RequestLine } from '../../src/link/request-frame.js';
import type { WorkerLink } from '../../src/link/worker-link.js';
import { assertNoOrphans } from './process.js';

export const APPS = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'apps');

export interface LinkHarnessOptions {
  workers?: number;
  threads?: number;
  development?: boolean;
  /** SCRIPT_NAME for every request ('' by default). */
  mount?: string;
  startDeadlineMs?: number;
  python?: string;
  /** module:object; default: the fixture's app.yaml's `app`. */
  app?: string;
  /** The app's kind; default: `asgi` when the fixture's app.yaml says `platform: python, asgi`. */
  kind?: 'wsgi' | 'asgi';
  /** Added to the worker's environment. */
  env?: Record<string, string>;
  /** The gateway's heartbeat period (Worker's default when unset). */
  heartbeatMs?: number;
  /** How long a PING may go unanswered before the worker is killed as hung (Worker's default when unset). */
  hungAfterMs?: number;
  /** The worker prints its counters (`stats {...}`) when it stops (Worker's `stats`). */
  stats?: boolean;
  /**
   * Read plain requests as the gateway's front does, on its lean lane (raw sockets,
   * src/proxy/lean-lane.ts): a body that came with its head goes in the request's own frame
   * (REQUEST_FULL). Others are handed to the node:http server as the front hands them.
   */
  lean?: boolean;
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

/** `app:` of a fixture's app.yaml (fixtures use the flat form), and its kind from `platform:`. */
export function fixtureApp(name: string): { dir: string; app: string; kind: 'wsgi' | 'asgi' } {
  const dir = join(APPS, name);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  const m = /^app:\s*(\S+)/m.exec(yaml);
  if (!m) throw new Error(`${dir}/app.yaml has no app: line`);
  const platform = /^platform:(.*)$/m.exec(yaml)?.[1] ?? '';
  return { dir, app: m[1], kind: /\basgi\b/.test(platform) ? 'asgi' : 'wsgi' };
}

export function workerFor(name: string, opts: LinkHarnessOptions = {}, output: string[] = []): Worker {
  const { dir, app, kind } = fixtureApp(name);
  const sink = (line: string): void => {
    output.push(line);
    if (process.env.LINK_DEBUG) process.stderr.write(`[${name}] ${line}\n`);
  };
  return new Worker({
    python: opts.python ?? process.env.APPPKG_TEST_PYTHON ?? 'python3',
    env: { ...(process.env as Record<string, string>), ...opts.env },
    cwd: dir,
    app: opts.app ?? app,
    kind: opts.kind ?? kind,
    sysPath: [dir],
    threads: opts.threads ?? 8,
    multiprocess: (opts.workers ?? 1) > 1,
    development: opts.development ?? false,
    name,
    stdout: sink,
    stderr: sink,
    heartbeatMs: opts.heartbeatMs,
    hungAfterMs: opts.hungAfterMs,
    stats: opts.stats,
  });
}

/**
 * A worker of fixture `name` started before a suite's cases and stopped after them, no process
 * of its left behind: `worker()` is the started one.
 */
export function workerForSuite(test: { before: (fn: () => Promise<void>) => void; after: (fn: () => Promise<void>) => void }, name: string, opts: LinkHarnessOptions = {}, output: string[] = []): () => Worker {
  let worker: Worker | undefined;
  test.before(async () => {
    worker = workerFor(name, opts, output);
    await worker.start(15_000);
  });
  test.after(async () => {
    const pid = worker?.pid;
    await worker?.stop(1000);
    if (pid !== undefined && pid !== null) await assertNoOrphans([pid]);
  });
  return () => worker!;
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
    const route = routeFromRequest(req, mount);
    if (route === null) {
      res.writeHead(400).end('not a request path\n');
      return;
    }
    if (best === null || !forwardWsgi(best.link!, req, res, route, { development: opts.development })) {
      res.writeHead(503, { 'Retry-After': '1' }).end('no worker\n');
    }
  };
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  server.on('checkContinue', handler);
  // node:http's closeAllConnections() knows only the connections it reads.
  const leanSockets = new Set<Socket>();
  if (opts.lean === true) {
    const toNode = server.listeners('connection') as Array<(socket: Socket) => void>;
    server.removeAllListeners('connection');
    const lane = new LeanLane({
      maxHeaderSize: 16 * 1024,
      headersTimeoutMs: 20_000,
      keepAliveTimeoutMs: 30_000,
      take: (req, res) => {
        handler(req, res);
        return true;
      },
      toNode: (socket) => toNode.forEach((listener) => listener.call(server, socket)),
    });
    server.on('connection', (socket: Socket) => {
      leanSockets.add(socket);
      socket.once('close', () => leanSockets.delete(socket));
      lane.accept(socket);
    });
  }
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
      for (const socket of leanSockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(workers.map((w) => w.stop(3000)));
    },
  };
}

/** The checksum the upload fixtures answer with: every 4096th byte, summed modulo 65521. */
export function sampledChecksum(body: Buffer): number {
  let check = 0;
  for (let i = 0; i < body.length; i += 4096) check = (check + body[i]) % 65521;
  return check;
}

/**
 * Sends a chunked body of at least 2 MiB on `c` (whose request head is written), in uneven
 * pieces (1 byte to 150,000) and the last chunk: its length and sampledChecksum.
 */
export function sendUnevenChunks(c: RawConnection): { total: number; check: number } {
  const all: Buffer[] = [];
  let total = 0;
  for (let n = 1; total < 2 << 20; n = ((n * 31 + 7) % 150_000) + 1) {
    const piece = Buffer.alloc(n, total & 255);
    all.push(piece);
    total += n;
    c.write(`${n.toString(16)}\r\n`);
    c.write(piece);
    c.write('\r\n');
  }
  c.write('0\r\n\r\n');
  return { total, check: sampledChecksum(Buffer.concat(all)) };
}

/** A raw TCP connection for what fetch cannot do: chunked uploads, Expect, pipelining, cut connections. */
export class RawConnection {
  private chunks: Buffer[] = [];
  closed = false;
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: import('node:net').Socket) {
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number, ms = 5000): Promise<RawConnection> {
    const net = await import('node:net');
    const socket = net.connect(port, '127.0.0.1');
    await withDeadline(new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    }), ms, 'connect');
    return new RawConnection(socket);
  }

  get text(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Resolves with everything received so far once pred(text) holds; rejects past ms. */
  async waitFor(pred: (text: string) => boolean, ms: number, what = 'data'): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const text = this.text;
      if (pred(text)) return text;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(text.slice(0, 400))}`);
      if (this.closed) throw new Error(`connection closed while waiting for ${what}; got ${JSON.stringify(text.slice(0, 400))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitClosed(ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${ms} ms; got ${JSON.stringify(this.text.slice(-400))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.text;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** Count the complete HTTP/1.1 responses in `text` (Content-Length bodies only). */
export function countResponses(text: string): number {
  let count = 0;
  let pos = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', pos);
    if (end === -1) return count;
    const head = text.slice(pos, end);
    const m = /content-length:\s*(\d+)/i.exec(head);
    const length = m && !/^HTTP\/1\.1 1\d\d/.test(head) ? Number(m[1]) : 0;
    if (end + 4 + length > text.length) return count;
    if (!/^HTTP\/1\.1 1\d\d/.test(head)) count++;
    pos = end + 4 + length;
  }
}

export function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

/** fetch with a deadline (uvu has no per-test timeout). */
export async function get(url: string, init: RequestInit = {}, ms = 10_000): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** Polls until `pid` is gone (ESRCH); rejects with a message naming it past ms. */
export async function waitGone(pid: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} still running after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request line for a REQUEST frame written by hand (RawExchange): `method path?query`, no body. */
export function requestLine(path: string, query = '', method = 'GET'): RequestLine {
  return {
    method, scheme: 'http', serverName: 'localhost', serverPort: 80, remoteAddr: '127.0.0.1', remotePort: 1,
    scriptName: '', pathInfo: path, queryString: query, requestUri: query ? `${path}?${query}` : path, protocol: 'HTTP/1.1', body: '',
  };
}

/** One request id driven by hand on a worker's link: the frames the worker sends for it, in order. */
export class RawExchange {
  readonly frames: Array<{ type: number; payload: Buffer }> = [];
  linkFailed: string | null = null;
  readonly id: number;
  private waiters: Array<() => void> = [];

  constructor(readonly link: WorkerLink) {
    this.id = link.open({
      // The worker's frames as it sent them, which is what these tests look at.
      wholeBodyPieces: true,
      onFrame: (type, payload) => {
        this.frames.push({ type, payload: Buffer.from(payload) });
        this.wake();
      },
      onLinkFailed: (reason) => {
        this.linkFailed = reason;
        this.wake();
      },
    });
    if (this.id === 0) throw new Error('the link takes no more requests');
  }

  /** Frames of `type` so far. */
  of(type: number): Buffer[] {
    return this.frames.filter((f) => f.type === type).map((f) => f.payload);
  }

  /** Resolves with the first frame of `type` at or after index `from`; rejects past ms. */
  async next(type: number, ms = 5000, from = 0): Promise<Buffer> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex((f, n) => n >= from && f.type === type);
      if (i !== -1) return this.frames[i].payload;
      const left = deadline - Date.now();
      if (left <= 0 || this.linkFailed !== null) {
        const seen = this.frames.map((f) => `0x${f.type.toString(16)}`).join(' ');
        throw new Error(`no frame 0x${type.toString(16)} for request ${this.id} within ${ms} ms (seen: ${seen || 'none'}${this.linkFailed ? `; link failed: ${this.linkFailed}` : ''})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  write(frame: Buffer): void {
    this.link.write(frame);
  }

  /** Resolves once `done()` holds, checked at each frame; rejects past ms, naming `what` and the frames seen. */
  async until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0 || this.linkFailed !== null) {
        const seen = this.frames.map((f) => `0x${f.type.toString(16)}`).join(' ');
        throw new Error(`no ${what} for request ${this.id} within ${ms} ms (seen: ${seen || 'none'}${this.linkFailed ? `; link failed: ${this.linkFailed}` : ''})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** How long a worker that waits for credit must stay silent to count as waiting. */
const QUIET_MS = 200;

/**
 * The response to `x`'s request (written already), taken as a client that reads slowly would
 * take it: credit (RESPONSE_CREDIT) is given only once the worker has sent more than the response
 * window past the last credit, and stays silent: it must wait there. Asserts the response streams
 * (RESPONSE, RESPONSE_BODY pieces of at most MAX_BODY_FRAME, RESPONSE_END) and never gets more
 * than the window plus a piece ahead of the credit. `stalls`: how many times the worker waited.
 */
export async function creditedByHand(x: RawExchange, ms = 10_000): Promise<{ head: string[]; body: Buffer; stalls: number }> {
  await x.until(() => x.frames.length > 0, ms, 'first frame');
  const first = x.frames[0];
  if (first.type !== Frame.RESPONSE) throw new Error(`the response came as frame 0x${first.type.toString(16)} (${first.payload.length} bytes), not as RESPONSE and pieces`);
  let [got, acked, stalls, seen] = [0, 0, 0, 1];
  const pieces: Buffer[] = [];
  for (;;) {
    await x.until(() => x.frames.length > seen || got - acked > RESPONSE_WINDOW, ms, 'frame or wait for credit');
    for (; seen < x.frames.length; seen++) {
      const { type, payload } = x.frames[seen];
      if (type === Frame.RESPONSE_END) return { head: first.payload.toString('latin1').split('\0'), body: Buffer.concat(pieces), stalls };
      if (type !== Frame.RESPONSE_BODY) throw new Error(`frame 0x${type.toString(16)} in the body`);
      if (payload.length > MAX_BODY_FRAME) throw new Error(`a piece of ${payload.length} bytes, over ${MAX_BODY_FRAME}`);
      pieces.push(payload);
      got += payload.length;
      if (got - acked > RESPONSE_WINDOW + MAX_BODY_FRAME) throw new Error(`${got - acked} bytes sent past the credit`);
    }
    if (got - acked > RESPONSE_WINDOW) {
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
      if (x.frames.length > seen) throw new Error(`the worker sent on with ${got - acked} bytes not credited, past the window`);
      stalls++;
      x.write(encodeU32Frame(Frame.RESPONSE_CREDIT, x.id, got - acked));
      acked = got;
    }
  }
}
