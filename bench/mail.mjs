#!/usr/bin/env node
// Incoming mail throughput (issue 16): 10 KB messages sent over SMTP to the gateway's mail
// listener by --connections clients at once (several transactions per connection, as an MTA
// does), each delivered to a WSGI app (test/fixtures/apps/mail-sink, 2 workers) through the
// gateway's public listener. Reports messages/s accepted (250: written and fsynced) and
// messages/s delivered end to end (the app answered 2xx), from /status of the admin listener.
//
//   npx tsc -p tsconfig.json && node bench/mail.mjs [--messages 1000] [--connections 8] [--size 10240]
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000' }, connections: { type: 'string', default: '8' }, size: { type: 'string', default: '10240' } } });
const MESSAGES = Number(values.messages);
const CONNECTIONS = Number(values.connections);
const SIZE = Number(values.size);

const work = mkdtempSync(join(tmpdir(), 'apppkg-bench-mail-'));
cpSync(join(ROOT, 'test', 'fixtures', 'apps', 'mail-sink'), join(work, 'apps', 'sink'), { recursive: true });
// The sink appends every delivery to a file and rereads it to spot repeats: fine for tests, not
// what is measured here, so the bench's copy only verifies the signature and answers.
writeFileSync(join(work, 'apps', 'sink', 'mail_sink.py'), `import hashlib, hmac, os
KEY = os.environ["APPPKG_MAIL_SECRET"].encode()
def application(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":  # the health probe
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    ok = hmac.compare_digest(hmac.new(KEY, body, hashlib.sha256).hexdigest(), environ.get("HTTP_X_APPPKG_SIGNATURE", ""))
    start_response("200 OK" if ok else "403 Forbidden", [("Content-Length", "0")])
    return [b""]
`);
writeFileSync(join(work, 'env.yaml'), 'mail:\n  listen: 127.0.0.1:0\napps:\n  sink:\n    workers: 2\n');

const gateway = spawn(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', join(work, 'apps'), '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work, 'state'), '--environment', join(work, 'env.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
let output = '';
gateway.stdout.on('data', (c) => (output += c));
gateway.stderr.on('data', (c) => (output += c));

async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One connection sending `count` messages, one transaction after another, pipelining nothing. */
async function client(port, count, body) {
  const socket = net.connect(port, '127.0.0.1');
  let buffered = '';
  let wake = null;
  socket.on('data', (c) => {
    buffered += c.toString('latin1');
    wake?.();
  });
  const reply = async () => {
    for (;;) {
      const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buffered);
      if (m) {
        buffered = buffered.slice(m.index + m[0].length);
        return Number(m[1]);
      }
      await new Promise((r) => (wake = r));
    }
  };
  const expect = async (code) => {
    const got = await reply();
    if (got !== code) throw new Error(`expected ${code}, got ${got}`);
  };
  await expect(220);
  socket.write('EHLO bench\r\n');
  await expect(250);
  for (let i = 0; i < count; i++) {
    socket.write('MAIL FROM:<bench@example.org>\r\n');
    await expect(250);
    socket.write('RCPT TO:<in@sink.localhost>\r\n');
    await expect(250);
    socket.write('DATA\r\n');
    await expect(354);
    socket.write(body);
    await expect(250);
  }
  socket.end('QUIT\r\n');
}

try {
  const port = Number((await until(() => /mail: SMTP on \S+:(\d+)/.exec(output), 60_000, 'the mail listener'))[1]);
  const admin = (await until(() => /admin on (http:\S+)/.exec(output), 10_000, 'the admin listener'))[1].replace(/\/$/, '');
  const line = `${'x'.repeat(78)}\r\n`;
  const head = 'From: bench@example.org\r\nTo: in@sink.localhost\r\nSubject: bench\r\n\r\n';
  const body = head + line.repeat(Math.ceil((SIZE - head.length) / line.length)) + '.\r\n';
  const started = performance.now();
  const per = Math.ceil(MESSAGES / CONNECTIONS);
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => client(port, Math.min(per, MESSAGES - i * per), body)));
  const accepted = performance.now();
  const status = async () => (await (await fetch(`${admin}/status`)).json()).mail;
  await until(async () => (await status()).delivered >= MESSAGES, 300_000, 'every delivery');
  const delivered = performance.now();
  const final = await status();
  const rate = (ms) => (MESSAGES / (ms / 1000)).toFixed(0);
  console.log(`mail: ${MESSAGES} messages of ${body.length} bytes, ${CONNECTIONS} SMTP connections, 1 app (2 workers)`);
  console.log(`  accepted (250, fsynced): ${rate(accepted - started)} msg/s`);
  console.log(`  delivered (app 2xx):     ${rate(delivered - started)} msg/s end to end`);
  console.log(`  failed attempts: ${final.failedAttempts}, dead letters: ${final.deadLetters}`);
} finally {
  gateway.kill('SIGTERM');
  await new Promise((r) => gateway.once('exit', r));
  rmSync(work, { recursive: true, force: true });
}
