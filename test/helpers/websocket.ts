// A websocket client for tests (undici's, which runs on Node 20), every wait with a deadline.
import { Agent, WebSocket } from 'undici';

export interface TestSocket {
  ws: WebSocket;
  /** The next message (text), in order; rejects past `ms` or when the socket closes first. */
  next(ms?: number): Promise<string>;
  /** Resolves with the close code once the socket is closed (by either side). */
  closed(ms?: number): Promise<number>;
  /** The close's reason once the socket is closed, else null: what a page is told of why. */
  closeReason(): string | null;
}

/**
 * Opens `url`; with `host`, the Host header says that name while the connection still goes to
 * the URL's address (a virtual host such as NAME.localhost that DNS need not know).
 */
export async function openSocket(url: string, opts: { host?: string; ms?: number } = {}): Promise<TestSocket> {
  const dispatcher = opts.host
    ? new Agent({
        connect: {
          // Every name resolves to the loopback address the gateway listens on.
          lookup: (_name: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) =>
            options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4),
        } as object,
      })
    : undefined;
  const target = opts.host ? url.replace(/^(wss?:\/\/)[^/:]+/, `$1${opts.host}`) : url;
  const ws = new WebSocket(target, dispatcher ? { dispatcher } : undefined);
  const queue: string[] = [];
  const waiters: Array<(message: string | null) => void> = [];
  let closeCode: number | null = null;
  let reason: string | null = null;
  const closeWaiters: Array<(code: number) => void> = [];
  ws.onmessage = (event) => {
    const text = typeof event.data === 'string' ? event.data : Buffer.from(event.data as ArrayBuffer).toString('utf8');
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else queue.push(text);
  };
  ws.onclose = (event) => {
    closeCode = event.code;
    reason = event.reason;
    for (const waiter of waiters.splice(0)) waiter(null);
    for (const waiter of closeWaiters.splice(0)) waiter(event.code);
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`websocket ${target}: not open after ${opts.ms ?? 10_000} ms`)), opts.ms ?? 10_000);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.onerror = (event) => {
      clearTimeout(timer);
      reject(new Error(`websocket ${target}: ${(event as unknown as { message?: string }).message ?? 'failed to open'}`));
    };
  });
  return {
    ws,
    next(ms = 10_000) {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (closeCode !== null) return Promise.reject(new Error(`websocket closed (${closeCode}) before a message`));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no websocket message within ${ms} ms`)), ms);
        waiters.push((message) => {
          clearTimeout(timer);
          if (message === null) reject(new Error(`websocket closed (${closeCode}) before a message`));
          else resolve(message);
        });
      });
    },
    closed(ms = 10_000) {
      if (closeCode !== null) return Promise.resolve(closeCode);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`websocket not closed within ${ms} ms`)), ms);
        closeWaiters.push((code) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
    },
    closeReason: () => reason,
  };
}
