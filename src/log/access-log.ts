// One line per request: the combined log format (the size column counts every byte written
// for the response, its head included), plus the app and the duration, e.g.
// 127.0.0.1 - - [25/Nov/2026:11:43:58 +0000] "GET /blog/ HTTP/1.1" 200 14 "-" "curl/8" app=blog dur=0.0012
// Lines are batched and written once per event-loop turn: a write per request costs a
// syscall each, which shows at tens of thousands of requests per second.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => (n < 10 ? `0${n}` : String(n));

let cachedSecond = -1;
let cachedStamp = '';
function clfTime(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    cachedStamp = `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
    cachedSecond = second;
  }
  return cachedStamp;
}

const quote = (v: string | undefined) => (v ? `"${v.replace(/["\\]/g, '\\$&').replace(/[\x00-\x1f\x7f]/g, '')}"` : '"-"');

export class AccessLog {
  private pending: string[] = [];
  private scheduled = false;

  constructor(private readonly out: Writable | null) {}

  /** `bytesBefore`: the socket's bytesWritten when the request began (the size column is the difference). */
  record(req: IncomingMessage, res: ServerResponse, app: string, startedAt: number, bytesBefore: number, status = res.statusCode): void {
    if (!this.out) return;
    const now = Date.now();
    const length = req.socket.bytesWritten - bytesBefore;
    const line =
      `${req.socket.remoteAddress ?? '-'} - - [${clfTime(now)}] ${quote(`${req.method} ${req.url} HTTP/${req.httpVersion}`)} ` +
      `${status} ${length ?? '-'} ${quote(req.headers.referer)} ${quote(req.headers['user-agent'])} ` +
      `app=${app || '-'} dur=${((performance.now() - startedAt) / 1000).toFixed(4)}\n`;
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0 || !this.out) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.out.write(chunk);
  }
}
