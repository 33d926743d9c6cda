// Talking to the gateway's mail listener in tests (issue 16): a raw SMTP/LMTP conversation over
// `net` (for what a library would not send: garbage, no SIZE, silence, LMTP's per-recipient
// replies), and Python's smtplib and Debian's swaks as real clients. Every wait has a deadline.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { runCli } from './process.js';

export interface SmtpReply {
  code: number;
  text: string;
}

/** One connection; `reply()` reads the next whole reply (multi-line ones joined). */
export class SmtpTalk {
  private buffered = '';
  private closed = false;
  private waiter: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk) => {
      this.buffered += chunk.toString('latin1');
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => {});
  }

  /** `port` a string: the path of a unix socket. */
  static connect(port: number | string, host = '127.0.0.1', ms = 5000): Promise<SmtpTalk> {
    return new Promise((resolve, reject) => {
      const socket = typeof port === 'string' ? net.connect(port) : net.connect(port, host);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${typeof port === 'string' ? port : `${host}:${port}`} within ${ms} ms`));
      }, ms);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new SmtpTalk(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, ms = 5000): Promise<SmtpReply> {
    this.write(`${line}\r\n`);
    return this.reply(ms);
  }

  /**
   * DATA, then `text` and the lone dot that ends it, in one write: the reply to the message
   * (LMTP's first; one per recipient follows). `ms` bounds each reply. Throws unless DATA is
   * answered 354.
   */
  async data(text: string, ms = 5000): Promise<SmtpReply> {
    const go = await this.command('DATA', ms);
    if (go.code !== 354) throw new Error(`DATA was answered ${JSON.stringify(go.text)}, not 354`);
    this.write(`${text}\r\n.\r\n`);
    return this.reply(ms);
  }

  /**
   * DATA, then `wire` as it is (the caller stuffs its dots and ends it: awkwardMessage()), in
   * one write: the reply to the message (LMTP's first). Throws unless DATA is answered 354.
   */
  async dataBytes(wire: Buffer, ms = 5000): Promise<SmtpReply> {
    const go = await this.command('DATA', ms);
    if (go.code !== 354) throw new Error(`DATA was answered ${JSON.stringify(go.text)}, not 354`);
    this.write(wire);
    return this.reply(ms);
  }

  /** The next reply: lines `NNN-...` then `NNN ...`. Throws when the server closes or `ms` passes first. */
  async reply(ms = 5000): Promise<SmtpReply> {
    const deadline = Date.now() + ms;
    for (;;) {
      const end = /^(\d{3}) [^\r\n]*\r\n/m.exec(this.buffered);
      if (end) {
        const upto = end.index + end[0].length;
        const text = this.buffered.slice(0, upto);
        this.buffered = this.buffered.slice(upto);
        return { code: Number(end[1]), text: text.trim() };
      }
      if (this.closed) throw new Error(`the server closed the connection (had: ${JSON.stringify(this.buffered)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${ms} ms (had: ${JSON.stringify(this.buffered)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  /** Resolves once the server has closed the connection; false if it has not within `ms`. */
  async waitClosed(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.closed;
  }

  /** Everything received and not yet read as a reply. */
  get rest(): string {
    return this.buffered;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A message as a client writes it (CRLF line ends). */
export function message(opts: { from?: string; to?: string; subject: string; body?: string; size?: number }): string {
  const head = `From: ${opts.from ?? 'ann@example.org'}\r\nTo: ${opts.to ?? 'help@example.org'}\r\nSubject: ${opts.subject}\r\nMessage-ID: <${Math.random().toString(36).slice(2)}@test>\r\n\r\n`;
  let body = opts.body ?? 'Hello.\r\n';
  if (opts.size !== undefined) {
    const line = `${'x'.repeat(76)}\r\n`;
    body = line.repeat(Math.ceil(opts.size / line.length));
  }
  return head + body;
}

/**
 * A message with what SMTP carries and a library would tidy: lines that begin with a dot (one
 * of a dot alone), a bare LF, 8-bit bytes that are no UTF-8, a tab, a trailing space, a
 * client's own Received: field naming apppkg-gateway first (a relay's, or a forgery: the app
 * gets it as sent), and a last line with no line end. `wire`: DATA's bytes as a client sends
 * them, each line's leading dot doubled (RFC 5321 4.5.2) and the end `CRLF.CRLF` added;
 * `received`: the message the server has then (RFC 5321 4.1.1.4: the CRLF before the end's dot
 * ends the last line, so that line has one).
 */
export function awkwardMessage(subject: string, to: string): { wire: Buffer; received: Buffer } {
  const lines = [
    'Received: from relay.example (relay.example [192.0.2.1])',
    '\tby mx.example (apppkg-gateway) with ESMTP id upstream;',
    '\tMon, 7 Dec 2026 10:00:00 +0000',
    'From: ann@example.org',
    `To: ${to}`,
    `Subject: ${subject}`,
    'Content-Type: text/plain; charset=latin1',
    '',
    '.a line that began with a dot',
    '..one that began with two',
    '.',
    'a bare LF\nin the middle of a line, and a lone CR\rtoo',
    'tab\tand a trailing space ',
    '',
  ].map((line) => Buffer.from(line, 'latin1'));
  lines.push(Buffer.from([0x38, 0x2d, 0x62, 0x69, 0x74, 0x3a, 0x20, 0xe9, 0xff, 0x80, 0x00, 0x7f]));
  lines.push(Buffer.from('the last line, sent with no line end', 'latin1'));
  const crlf = Buffer.from('\r\n');
  const join = (parts: Buffer[]) => Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [crlf, part])));
  const stuffed = lines.map((line) => (line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line));
  return {
    wire: Buffer.concat([join(stuffed), Buffer.from('\r\n.\r\n')]),
    received: Buffer.concat([join(lines), crlf]),
  };
}

/**
 * Sends awkwardMessage(subject), addressed to the first of `to`, in one transaction on `talk`
 * (its greeting and EHLO or LHLO read) to each of `to`, and closes `talk`: MAIL FROM with
 * BODY=8BITMIME, every RCPT and the message answered 250 (`lmtp`: a reply for each recipient).
 * Returns the message as the server has it, for assertDeliveredAsSent.
 */
export async function sendAwkwardMessage(talk: SmtpTalk, subject: string, to: string[], lmtp = false): Promise<Buffer> {
  const { wire, received } = awkwardMessage(subject, to[0]);
  assert.is((await talk.command('MAIL FROM:<ann@example.org> BODY=8BITMIME')).code, 250);
  for (const rcpt of to) assert.is((await talk.command(`RCPT TO:<${rcpt}>`)).code, 250);
  const replies = [await talk.dataBytes(wire, 10_000)];
  while (lmtp && replies.length < to.length) replies.push(await talk.reply());
  talk.close();
  assert.equal(replies.map((r) => r.code), replies.map(() => 250), replies.map((r) => r.text).join(' / '));
  return received;
}

/** What the mail-sink fixture app says of a delivery it took (GET /deliveries). */
export interface SinkDelivery {
  body_b64: string;
  signature: string;
  signature_ok: boolean;
  received: string | null;
}

/**
 * That the POST `got` (an app's delivery, as the mail-sink fixture tells it) carried `sent` byte
 * for byte, signed with HMAC-SHA256 over exactly those bytes keyed by the app's secret in
 * STATE/apps/APP/mail-secret, which the app's APPPKG_MAIL_SECRET is too; and that the gateway's
 * trace came in X-Apppkg-Received (`trace`: the whole text, or what it holds). `label` begins
 * each assertion's message (the app's name unless given).
 */
export function assertDeliveredAsSent(got: SinkDelivery, sent: Buffer, opts: { state: string; app: string; trace: string | RegExp; label?: string }): void {
  const { state, app, trace } = opts;
  const label = opts.label ?? app;
  const body = Buffer.from(got.body_b64, 'base64');
  assert.is(body.toString('latin1'), sent.toString('latin1'), `${label}: the POSTed body is the message as received`);
  assert.ok(body.equals(sent), `${label}: the POSTed body is the message as received, byte for byte`);
  const key = readFileSync(join(state, 'apps', app, 'mail-secret'), 'utf8').trim();
  assert.is(got.signature, createHmac('sha256', key).update(sent).digest('hex'), `${label}: the HMAC of the bytes sent, keyed by its secret`);
  assert.ok(got.signature_ok, `${label}: and its APPPKG_MAIL_SECRET is that key`);
  if (typeof trace === 'string') assert.is(got.received, trace, `${label}: the gateway's trace in X-Apppkg-Received`);
  else assert.match(got.received ?? '', trace, `${label}: the gateway's trace in X-Apppkg-Received`);
}

const SMTPLIB_SEND = `
import json, smtplib, sys
port, sender, rcpts, lmtp = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4] == "lmtp"
msg = sys.stdin.buffer.read()
out = {}
try:
    cls = smtplib.LMTP if lmtp else smtplib.SMTP
    # local_hostname: smtplib would ask socket.getfqdn(), seconds of DNS on some hosts.
    with cls("127.0.0.1", port, local_hostname="client.test", timeout=20) as s:
        refused = s.sendmail(sender, rcpts, msg)
        out["refused"] = {k: [v[0], v[1].decode()] for k, v in refused.items()}
except smtplib.SMTPRecipientsRefused as e:
    out["error"] = "recipients refused"
    out["refused"] = {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}
except smtplib.SMTPResponseException as e:
    out["error"] = type(e).__name__
    out["code"] = e.smtp_code
    out["message"] = e.smtp_error.decode(errors="replace")
print(json.dumps(out))
`;

/** Sends with Python's smtplib: `refused` per recipient, or the error that ended the transaction. */
export async function sendWithSmtplib(port: number, from: string, to: string[], data: string): Promise<{ refused?: Record<string, [number, string]>; error?: string; code?: number; message?: string }> {
  const result = await runCli(['-c', SMTPLIB_SEND, String(port), from, JSON.stringify(to), 'smtp'], { bin: 'python3', ms: 30_000, input: data });
  if (result.status !== 0) throw new Error(`smtplib failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

/** The mail listener's port, from the gateway's `mail: SMTP on HOST:PORT` line. */
export function mailPort(output: string): number {
  const m = /mail: (?:SMTP|LMTP) on \S+:(\d+)/.exec(output);
  if (!m) throw new Error(`no mail listener line in the gateway's output:\n${output}`);
  return Number(m[1]);
}

/** One whole transaction over a raw connection (EHLO, MAIL, RCPT..., DATA, QUIT): the reply to the message. */
export async function sendRaw(port: number, from: string, to: string[], data: string): Promise<SmtpReply> {
  const talk = await SmtpTalk.connect(port);
  try {
    await talk.reply(10_000);
    await talk.command('EHLO client.test', 10_000);
    const mail = await talk.command(`MAIL FROM:<${from}>`, 10_000);
    if (mail.code !== 250) return mail;
    for (const rcpt of to) {
      const reply = await talk.command(`RCPT TO:<${rcpt}>`, 10_000);
      if (reply.code !== 250) return reply;
    }
    const go = await talk.command('DATA', 10_000);
    if (go.code !== 354) return go;
    talk.write(`${data.replace(/^\./gm, '..')}\r\n.\r\n`);
    const reply = await talk.reply(30_000);
    talk.write('QUIT\r\n');
    return reply;
  } finally {
    talk.close();
  }
}
