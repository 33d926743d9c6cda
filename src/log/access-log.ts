// One line per request: the combined log format (the size column is the body's bytes, as %b and
// nginx's $body_bytes_sent; an upgrade's, every byte of its tunnel), plus the app and the
// duration, e.g.
// 127.0.0.1 - - [25/Nov/2026:11:43:58 +0000] "GET /blog/ HTTP/1.1" 200 14 "-" "curl/8" app=blog dur=0.0012
// Lines are batched and written once per event-loop turn: a write per request costs a
// syscall each, which shows at tens of thousands of requests per second.
import { chmodSync, chownSync, createWriteStream, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import { targetAsSent } from '../net/request-head.js';
import { versionAsSent } from '../net/request-line-version.js';

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

/**
 * The combined format's %u: the user of HTTP Basic auth, as Apache and nginx ($remote_user) log
 * it, or "-". Its bytes outside the visible ASCII (a space, a quote) are written \xHH, so that a
 * user name cannot shift the line's fields.
 */
function remoteUser(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth === undefined || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== 'basic ') return '-';
  const credentials = Buffer.from(auth.slice(6).trim(), 'base64').toString('latin1');
  const colon = credentials.indexOf(':');
  const user = colon === -1 ? '' : credentials.slice(0, colon);
  if (user === '') return '-';
  return user.replace(/[^\x21-\x7e]|["\\]/g, hexEscaped);
}

/**
 * A character of a request's head as `\xHH`, nginx's escape: each is one octet as sent (latin1,
 * as node:http and the lean lane read heads). One past 0xFF (none comes from a head) as its UTF-8
 * octets, each so escaped.
 */
function hexEscaped(c: string): string {
  const code = c.charCodeAt(0);
  if (code <= 0xff) return `\\x${code < 16 ? '0' : ''}${code.toString(16).toUpperCase()}`;
  let out = '';
  for (const octet of Buffer.from(c, 'utf8')) out += `\\x${octet.toString(16).toUpperCase()}`;
  return out;
}

const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;
/**
 * `v` with `"` and `\` escaped as the combined format has them (`\"`, `\\`), and every octet
 * outside printable ASCII (a control character, a raw UTF-8 or latin-1 byte) as `\xHH`, as
 * nginx and Apache write them: each octet sent can be read back from the line (written as
 * UTF-8, a raw `café` in a User-Agent came out `cafÃ©`, and a tab was dropped), and no octet
 * of the client's can drive the terminal that shows the log. Itself, without a copy, when it has none.
 */
const escaped = (v: string): string => (NEEDS_ESCAPE.test(v) ? v.replace(/["\\]/g, '\\$&').replace(/[\x00-\x1f\x7f-\uffff]/g, hexEscaped) : v);
const orDash = (v: string | undefined): string => (v ? escaped(v) : '-');
const quote = (v: string | undefined) => `"${orDash(v)}"`;

/** A line of record()'s, the fixed pieces in place and the others filled in per request. */
const linePieces: Array<string | number> = [
  '', ' - ', '', ' [', '', '] "', '', ' ', '', '', '', '" ', 0, ' ', 0, ' "', '', '" "', '', '" app=', '', ' dur=', '', '\n',
];

/**
 * Said once when the access log cannot be written; the gateway's own log line by default. A
 * file's says what takes it up again: nothing retries it meanwhile (reopen()).
 */
const sayOnStderr = (err: Error, file: string | null): void => {
  const { code = err.message, syscall, path } = err as NodeJS.ErrnoException;
  if (syscall === 'mkdir' && file !== null) {
    process.stderr.write(`apppkg-gateway: cannot make the access log's directory ${path ?? dirname(file)} again (${code}); requests are served without the access log ${file} until SIGUSR1 opens it again: make the directory, writable by the gateway, then send SIGUSR1\n`);
    return;
  }
  const until = file === null ? '' : ' until SIGUSR1 opens it again: free space (or bring its directory back), then send SIGUSR1';
  process.stderr.write(`apppkg-gateway: cannot write the access log${file === null ? '' : ` ${file}`} (${code}); requests are served without it${until}\n`);
};

/**
 * The mode of an access log file the gateway creates: every app's request lines are in it
 * (query strings with their tokens, Basic-auth users), and as root the apps run as other users
 * of this host, so the umask's 0644 let one app read another's traffic. A file that exists
 * keeps what its owner and group may do (logrotate's `create 0640 root adm` gives a group of
 * log readers), not what others may: closeToOthers.
 */
export const ACCESS_LOG_MODE = 0o600;

/**
 * Takes others' permissions off an access log file of the gateway's own (at the start): one an
 * older gateway made with the umask's 0644 stayed readable by every app's user until a rotation
 * made a new one. Another user's file, or no regular file (/dev/null), is left as it is. The
 * modes before and after when it changed one, else null; a failure is the open's to say.
 */
export function closeToOthers(file: string): { from: number; to: number } | null {
  try {
    const st = statSync(file);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o007) === 0) return null;
    const from = st.mode & 0o7777;
    chmodSync(file, from & ~0o007);
    return { from, to: from & ~0o007 };
  } catch {
    return null;
  }
}

/** The access log's directory as the start found it: what a reopen makes again when it was removed. */
interface DirShape {
  mode: number;
  uid: number;
  gid: number;
}

/** Made by hand when the start found none to copy (it was removed meanwhile): as systemd's LogsDirectory= makes it. */
const DEFAULT_DIR_MODE = 0o755;

function dirShape(dir: string): DirShape | null {
  try {
    const st = statSync(dir);
    return { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
  } catch {
    return null;
  }
}

export class AccessLog {
  private pending: string[] = [];
  private scheduled = false;
  private out: Writable | null;
  /** The file it appends to, when it was given one by name: what reopen() opens again. */
  private readonly file: string | null;
  /** Its directory's mode and owner at the start, for a reopen that must make it again. */
  private readonly dirAtStart: DirShape | null;

  /** `out`: a stream, a file name (appended to), or null for no log. */
  constructor(
    out: Writable | string | null,
    private readonly onError: (err: Error, file: string | null) => void = sayOnStderr,
  ) {
    this.file = typeof out === 'string' ? out : null;
    this.dirAtStart = this.file === null ? null : dirShape(dirname(this.file));
    this.out = typeof out === 'string' ? this.open(out) : out;
    if (this.out !== null && this.file === null) this.watch(this.out);
  }

  private open(file: string): Writable {
    const out = createWriteStream(file, { flags: 'a', mode: ACCESS_LOG_MODE });
    this.watch(out);
    return out;
  }

  // A full disk or an unwritable file (`--access-log /dev/full`) makes the stream emit 'error',
  // which without a listener ends the gateway (issue 6). Logging must never stop serving
  // (SPEC §4): say so once, then drop the log (an errored stream is destroyed).
  private watch(out: Writable): void {
    out.on('error', (err: Error) => {
      if (this.out !== out) return;
      this.out = null;
      this.pending = [];
      this.onError(err, this.file);
    });
  }

  /**
   * Opens the file again under its name, after a log rotation moved it away (SIGUSR1, as nginx
   * and gunicorn do): lines written so far go to the old file, the next ones to the new. Also
   * takes up a log dropped after an error (the disk had filled). False when the log is a
   * stream (stdout) or off: nothing to reopen. `onOpened` is called once the file is open, and
   * never when the open fails (onError says why): "opened again" is not said before it is so.
   * Its directory, removed (a logrotate script, a user cleaning up), is made again as the start
   * found it: otherwise every line was lost until a restart. `onOpened` is told which directory
   * was made, or null.
   */
  reopen(onOpened?: (madeDir: string | null) => void): boolean {
    if (this.file === null) return false;
    this.flush();
    const old = this.out;
    let made: string | null;
    try {
      made = this.makeDirectoryAgain(dirname(this.file));
    } catch (err) {
      old?.end();
      this.out = null;
      this.pending = [];
      this.onError(err as Error, this.file);
      return true;
    }
    this.out = this.open(this.file);
    if (onOpened) this.out.once('open', () => onOpened(made));
    old?.end();
    return true;
  }

  /**
   * `dir` made again when it is gone (or a file took its place: mkdir then says EEXIST), with the
   * mode (and, as root, the owner) it had at the start; null when it is there. Throws mkdir's error.
   */
  private makeDirectoryAgain(dir: string): string | null {
    try {
      if (statSync(dir).isDirectory()) return null;
    } catch (err) {
      // Gone, or a file in place of one above it: mkdir says so. Anything else (EACCES) is the open's to say.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return null;
    }
    const shape = this.dirAtStart;
    mkdirSync(dir, { recursive: true, mode: shape?.mode ?? DEFAULT_DIR_MODE });
    chmodSync(dir, shape?.mode ?? DEFAULT_DIR_MODE); // mkdir's mode went through the umask
    // Root gives it back to its owner (the user a logrotate `su` stanza rotates as); another user cannot.
    if (shape !== null && process.geteuid?.() === 0) chownSync(dir, shape.uid, shape.gid);
    return dir;
  }

  /**
   * `client`: the address the app was told (behind a trusted proxy, the forwarded one).
   * `bytes`: the size column. For an upgrade, the line is written when the connection closes:
   * its status is the 101 (or the refusal), its size what went through the tunnel after the
   * head (a refusal's body), its duration the whole tunnel's.
   */
  record(req: IncomingMessage, client: string, status: number, app: string, startedAt: number, bytes: number): void {
    if (!this.out) return;
    const version = versionAsSent(req);
    // The line is joined from its pieces in one go: made with a template (twenty-odd joins, the
    // quoted fields flattened to be searched) it was ~1 KB of garbage per request, twice what
    // this leaves (docs/performance.md, 2026-12-03). Escaping goes character by character, so
    // quoting the request field's pieces one by one gives what quoting it whole gave.
    const p = linePieces;
    p[0] = client || '-';
    p[2] = remoteUser(req);
    p[4] = clfTime(Date.now());
    p[6] = escaped(String(req.method));
    p[8] = escaped(String(targetAsSent(req)));
    p[9] = version === '' ? '' : ' HTTP/';
    p[10] = version;
    p[12] = status;
    p[14] = bytes;
    p[16] = orDash(req.headers.referer);
    p[18] = orDash(req.headers['user-agent']);
    p[20] = app || '-';
    p[22] = ((performance.now() - startedAt) / 1000).toFixed(4);
    this.add(p.join(''));
  }

  /**
   * A request refused before node:http could make one of it (a head it cannot parse): the line
   * has what there is, the first line as sent in the request field. `seconds`: from the head's
   * first byte (or the connection's start, for its first head) to the answer.
   */
  recordRejected(client: string, requestLine: string, status: number, bodyBytes = 0, seconds = 0): void {
    if (!this.out) return;
    this.add(`${client || '-'} - - [${clfTime(Date.now())}] ${quote(requestLine)} ${status} ${bodyBytes} "-" "-" app=- dur=${seconds.toFixed(4)}\n`);
  }

  /** Written with the turn's other lines (one write per event-loop turn, not per request). */
  private add(line: string): void {
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
