// Short answers the gateway itself gives. One place maps each failure to its status, so the
// same failure always looks the same to a client (caddy's statusError).
import type { ServerResponse } from 'node:http';

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export interface ErrorResponseOptions {
  /** One line for the client, e.g. "no app is mounted at /nope". */
  detail?: string;
  /** Shown only in development (SPEC §4): a Python traceback, say. */
  debug?: string;
  development?: boolean;
  headers?: Record<string, string>;
}

export function sendError(res: ServerResponse, status: number, opts: ErrorResponseOptions = {}): void {
  if (res.destroyed || res.writableEnded) return; // the client left, or an answer went already
  if (res.headersSent) {
    // Too late for a status: cut the connection so a partial body never looks complete.
    res.destroy();
    return;
  }
  let body = `${status} ${REASONS[status] ?? 'Error'}\n`;
  if (opts.detail) body += `${opts.detail}\n`;
  if (opts.development && opts.debug) body += `\n${opts.debug}\n`;
  const payload = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(payload.length),
    'Cache-Control': 'no-store',
    ...opts.headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : payload);
}
