// The shipped nginx site config (examples/deploy/nginx-site.conf) in front of the gateway on
// a unix socket, with Debian's nginx started by the test with its own prefix (never as a
// system service).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { join } from 'node:path';
import http from 'node:http';
import zlib from 'node:zlib';
import { request } from 'undici';
import { addPackage, clientLoop } from '../helpers/apps-dir.js';
import { openSocket } from '../helpers/websocket.js';
import { assertNoOrphans, ROOT, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('behind nginx');
const hasNginx = hasProgram('nginx');
const ifNginx = runIf(test, hasNginx, 'nginx is not on PATH (Debian: apt-get install nginx)');
const work = tempDir('apppkg-nginx-');
chmodSync(work.path, 0o755); // nginx's workers run as an unprivileged user
const apps = join(work.path, 'apps');
const socket = join(work.path, 'gateway.sock');
let gw: RunningGateway;
let nginx: ChildProcess;
let port = 0;
let tlsPort = 0;
let gzipPort = 0;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The shipped site, pointed at our socket and ports; a second server block stands for TLS termination. */
function nginxConfig(prefix: string): string {
  const site = readFileSync(join(ROOT, 'examples', 'deploy', 'nginx-site.conf'), 'utf8')
    .replaceAll('unix:/run/apppkg-gateway/gateway.sock', `unix:${socket}`)
    .replace('listen [::]:80;', '')
    .replace('listen 80;', `listen 127.0.0.1:${port};`);
  const server = site.slice(site.indexOf('server {'));
  const tls = server.replace(`listen 127.0.0.1:${port};`, `listen 127.0.0.1:${tlsPort};`).replace('X-Forwarded-Proto $scheme', 'X-Forwarded-Proto https');
  // A site that compresses event streams too (the shipped one compresses nothing): nginx then
  // holds a stream's bytes until its gzip buffers fill, unless the app says otherwise.
  const gzip = server.replace(`listen 127.0.0.1:${port};`, `listen 127.0.0.1:${gzipPort};\n    gzip on;\n    gzip_types text/event-stream;`);
  return `pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 256; }
http {
  access_log ${prefix}/access.log;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  ${site}
  ${tls}
  ${gzip}
}
`;
}

test.before(async () => {
  if (!hasNginx) return; // every case is skipped (ifNginx)
  mkdirSync(apps);
  addPackage(apps, 'environ', 'blog.1.0', {
    'environ_app.py': [
      [/VERSION = "1"/, 'VERSION = "1.0"'],
      [/"SERVER_NAME",/, '"SERVER_NAME", "SERVER_PORT",'],
      // PEP 3333's URL reconstruction, as an app builds its absolute links.
      [/data\["version"\] = VERSION/, 'data["version"] = VERSION\n    import wsgiref.util\n    data["request_uri"] = wsgiref.util.request_uri(environ)'],
    ],
  });
  addPackage(apps, 'ws-echo', 'echo');
  addPackage(apps, 'examples/asgi-hello', 'asgi');
  addPackage(apps, 'sse', 'sse');
  gw = await startCli([
    '--apps', apps, '--listen', `unix:${socket}`, '--socket-mode', '0666', '--trust-proxy',
    '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'),
  ]);
  // A socket is a path: said as it is, with no URL's slash after it.
  assert.match(gw.output(), new RegExp(`listening on unix:${socket}\n`));
  port = await freePort();
  tlsPort = await freePort();
  gzipPort = await freePort();
  const prefix = join(work.path, 'nginx');
  mkdirSync(prefix);
  writeFileSync(join(prefix, 'nginx.conf'), nginxConfig(prefix));
  nginx = spawn('nginx', ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  nginx.stderr!.on('data', (c) => (out += c));
  await waitFor(async () => {
    if (nginx.exitCode !== null) throw new Error(`nginx exited: ${out}`);
    return (await request(`http://127.0.0.1:${port}/blog/`)).statusCode === 200;
  }, 15_000, 'nginx to answer');
});

test.after(async () => {
  if (nginx?.pid) {
    try {
      process.kill(-nginx.pid, 'SIGTERM');
    } catch {}
    await assertNoOrphans([nginx.pid], 5000).catch(() => process.kill(-nginx.pid!, 'SIGKILL'));
  }
  await gw?.stop();
  work.remove();
});

/** `rawPath`, when given, is sent as it is: a URL's own path has its dot segments resolved by WHATWG URL parsing. */
function getFrom127002(url: string, headers: Record<string, string> = {}, rawPath?: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { localAddress: '127.0.0.2', headers, timeout: 10_000, ...(rawPath === undefined ? {} : { path: rawPath }) }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      // Thrown in this callback, a body that is no JSON (another app answered) would end the run with nginx left behind.
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`${url}: expected JSON, got ${JSON.stringify(body.slice(0, 200))}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

test('the shipped upstream closes its idle connections before the gateway does', () => {
  // The gateway closes a keep-alive connection idle for 5 s (front.ts, keepAliveTimeoutMs). If
  // nginx kept its own longer (its default is 60 s), a POST it sends on one the gateway is
  // closing at that moment would get a 502, since nginx retries only idempotent requests.
  const site = readFileSync(join(ROOT, 'examples', 'deploy', 'nginx-site.conf'), 'utf8');
  const upstream = site.slice(site.indexOf('upstream '), site.indexOf('}', site.indexOf('upstream ')));
  const timeout = /^\s*keepalive_timeout\s+(\d+)s;/m.exec(upstream);
  assert.ok(timeout !== null, 'the upstream block sets keepalive_timeout');
  assert.ok(Number(timeout![1]) < 5, `keepalive_timeout ${timeout![1]}s is below the gateway's 5 s`);
});

ifNginx('a request reaches the app with the client\'s address and scheme', async () => {
  // The client comes from 127.0.0.2, so the address cannot be nginx's own by accident.
  const env = await getFrom127002(`http://127.0.0.1:${port}/blog/where?x=1`, { 'x-forwarded-for': '6.6.6.6' });
  assert.is(env.REMOTE_ADDR, '127.0.0.2', JSON.stringify(env));
  assert.is(env['wsgi.url_scheme'], 'http');
  assert.is(env.SCRIPT_NAME, '/blog');
  assert.is(env.PATH_INFO, '/where');
  // nginx on a port of its own (not 80): the app builds its absolute URLs for that port, which
  // nginx's $host would have dropped (probe-l finding 5).
  assert.is(env.HTTP_HOST, `127.0.0.1:${port}`, 'nginx passes the Host sent, the gateway believes it');
  assert.is(env.SERVER_NAME, '127.0.0.1');
  assert.is(env.SERVER_PORT, String(port));
  assert.is(env.request_uri, `http://127.0.0.1:${port}/blog/where?x=1`, 'wsgiref.util.request_uri: the URL the client asked for');
  const tlsEnv = await getFrom127002(`http://127.0.0.1:${tlsPort}/blog/a%20b?y=2`);
  assert.is(tlsEnv['wsgi.url_scheme'], 'https');
  assert.is(tlsEnv.SERVER_PORT, String(tlsPort));
  assert.is(tlsEnv.request_uri, `https://127.0.0.1:${tlsPort}/blog/a%20b?y=2`, 'behind TLS termination: https, the port the client reached');
  assert.is(tlsEnv.REMOTE_ADDR, '127.0.0.2');
  // The access log names the client the app was told, not "-" (the unix socket's peer).
  await waitFor(() => /^127\.0\.0\.2 - - \[[^\]]+\] "GET \/blog\/where\?x=1 HTTP\/1\.[01]" 200 /m.test(gw.output()), 5000, 'the access log line');
});

ifNginx('a path with // and .. reaches the app as nginx resolved it: nginx passes the target on as sent, the gateway merges // as nginx did', async () => {
  // nginx routes `/asgi//../blog/where` as /blog/where (merge_slashes) and passes it on as
  // sent; had the gateway kept the empty segment, the app behind a `location /blog/` that nginx
  // allowed would have been asgi, and one behind a `location /asgi/` that nginx denied reached.
  const env = await getFrom127002(`http://127.0.0.1:${port}/`, {}, '/asgi//../blog/where?x=1');
  assert.is(env.SCRIPT_NAME, '/blog', JSON.stringify(env));
  assert.is(env.PATH_INFO, '/where');
});

ifNginx('a websocket echo works through nginx', async () => {
  const sock = await openSocket(`ws://127.0.0.1:${port}/echo/ws/room`);
  sock.ws.send('through nginx');
  assert.is(await sock.next(), 'through nginx');
  sock.ws.send('path?');
  assert.is(await sock.next(), '/echo/ws/room');
  sock.ws.close(1000);
  assert.is(await sock.closed(), 1000);
});

ifNginx("an ASGI app's own websocket and its scope through nginx: the mount, the client's address", async () => {
  const info = (await getFrom127002(`http://127.0.0.1:${port}/asgi/info`)) as unknown as { root_path: string; path: string; client: [string, number] };
  assert.is(info.root_path, '/asgi');
  assert.is(info.path, '/info');
  assert.is(info.client[0], '127.0.0.2', 'nginx\'s X-Forwarded-For, believed with --trust-proxy');
  const sock = await openSocket(`ws://127.0.0.1:${port}/asgi/ws`);
  sock.ws.send('held by the app');
  assert.is(await sock.next(), 'held by the app');
  sock.ws.close(1000);
  assert.is(await sock.closed(), 1000);
});

interface Streamed {
  /** ms from the request to the first event's arrival, and to the end of the stream. */
  firstEventMs: number;
  endMs: number;
  text: string;
}

/** Reads an event stream to its end, noting when its first event could be read (gzip or not). */
function readStream(url: string): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let firstEventMs = -1;
    const req = http.get(url, { headers: { 'accept-encoding': 'gzip' }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      const text = (): string => {
        const all = Buffer.concat(chunks);
        // What has come so far: a gzip stream is read up to its last flush.
        return res.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(all, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString() : all.toString();
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        if (firstEventMs < 0 && text().includes('data: ')) firstEventMs = Date.now() - t0;
      });
      res.on('end', () => resolve({ firstEventMs, endMs: Date.now() - t0, text: text() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

const FIVE_EVENTS = 'n=5&gap=0.4'; // 1.6 s from the first event to the last

ifNginx('server-sent events pass through the shipped site as they are sent, not at the end', async () => {
  const got = await readStream(`http://127.0.0.1:${port}/sse/events?${FIVE_EVENTS}&tag=plain`);
  assert.is(got.text, [0, 1, 2, 3, 4].map((i) => `data: plain ${i}\n\n`).join(''));
  // nginx's proxy_buffering (on, its default) passes on what it reads while the client keeps up.
  assert.ok(got.endMs - got.firstEventMs > 800, `the first event came ${got.endMs - got.firstEventMs} ms before the end`);
});

ifNginx('a site that gzips event streams holds them to the end, unless the app sends X-Accel-Buffering: no', async () => {
  const held = await readStream(`http://127.0.0.1:${gzipPort}/sse/events?${FIVE_EVENTS}&tag=held`);
  assert.ok(held.text.includes('data: held 4'), held.text);
  assert.ok(held.endMs - held.firstEventMs < 800, `held: the first event came ${held.endMs - held.firstEventMs} ms before the end`);
  const flowing = await readStream(`http://127.0.0.1:${gzipPort}/sse/events?${FIVE_EVENTS}&tag=flowing&accel=no`);
  assert.is(flowing.text, [0, 1, 2, 3, 4].map((i) => `data: flowing ${i}\n\n`).join(''));
  assert.ok(flowing.endMs - flowing.firstEventMs > 800, `X-Accel-Buffering: no: the first event came ${flowing.endMs - flowing.firstEventMs} ms before the end`);
});

/** A raw client of nginx's port, what it has received so far, and whether it has closed. */
async function watchedClient(): Promise<{ client: net.Socket; got: () => string; closed: () => boolean }> {
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  client.setNoDelay(true);
  let got = '';
  let closed = false;
  client.on('data', (c: Buffer) => (got += c.toString('latin1')));
  client.on('close', () => (closed = true));
  client.on('error', () => {});
  return { client, got: () => got, closed: () => closed };
}

ifNginx('a POST answered before its body reached the app keeps the client\'s connection through the shipped site, a body sent over more than a second too', async () => {
  // The body comes in a later segment than the head, as from clients that send them apart, and
  // the app answers without reading it. nginx (proxy_request_buffering off) that got the whole
  // answer while it was still sending the body closed the client's connection after it, without
  // Connection: close: the next request on it failed. The gateway holds such an answer until
  // the body is in (lean-connection.ts holdForBody), for as long as the body keeps coming (the
  // app's timeout): 1.5 s, past the fixed second it once held for, failed so.
  for (const delayMs of [300, 1500]) {
    const { client, got, closed } = await watchedClient();
    try {
      client.write(`POST /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 5\r\n\r\n`);
      await new Promise((r) => setTimeout(r, delayMs));
      client.write('hello');
      await waitFor(() => got().includes('Hello from ASGI!') || closed(), 10_000, 'the first answer');
      client.write(`GET /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
      await waitFor(() => closed(), 10_000, 'the connection to close after the second answer');
      assert.is(got().split('Hello from ASGI!').length - 1, 2, `body ${delayMs} ms after the head: both requests answered on the one connection: ${JSON.stringify(got())}`);
    } finally {
      client.destroy();
    }
  }
});

ifNginx('the same on an upstream connection node:http reads (the lean lane handed it over at a field sent twice): the early answer waits for the body there too', async () => {
  // nginx passes a repeated field on, and the lane hands the pooled connection it came on to
  // node:http for good; nginx reuses that connection for the requests after it, from any client.
  const { client, got, closed } = await watchedClient();
  try {
    client.write(`GET /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n`);
    await waitFor(() => got().includes('Hello from ASGI!') || closed(), 10_000, 'the answer to the request with a field twice');
    for (let i = 0; i < 3; i++) {
      client.write(`POST /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 5\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 300));
      client.write('hello');
      await waitFor(() => got().split('Hello from ASGI!').length - 1 === i + 2 || closed(), 10_000, `answer ${i + 2}`);
    }
    client.write(`GET /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    await waitFor(() => closed(), 10_000, 'the connection to close after the last answer');
    assert.is(got().split('Hello from ASGI!').length - 1, 5, `every request answered on the one connection: ${JSON.stringify(got())}`);
  } finally {
    client.destroy();
  }
});

ifNginx('a streamed answer to a POST whose body comes late and is never read: its first parts pass at once, and the client\'s connection goes on', async () => {
  // The gateway sends the head and the parts before the body is in, holding only the answer's
  // end (lean-connection.ts holdForBody): nginx goes on passing the body up meanwhile, then gets the
  // end, and keeps the client's connection.
  const { client, got, closed } = await watchedClient();
  try {
    client.write(`POST /sse/events?n=2&gap=0.2&tag=late-body HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 5\r\n\r\n`);
    await waitFor(() => got().includes('data: late-body 1') || closed(), 10_000, 'the parts before the body is sent');
    assert.not.ok(got().endsWith('0\r\n\r\n'), `the answer's end waits for the body: ${JSON.stringify(got())}`);
    client.write('hello');
    await waitFor(() => got().endsWith('0\r\n\r\n') || closed(), 10_000, 'the end of the answer');
    client.write(`GET /asgi/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    await waitFor(() => closed(), 10_000, 'the connection to close after the second answer');
    assert.ok(got().includes('Hello from ASGI!'), `the next request answered on the one connection: ${JSON.stringify(got())}`);
  } finally {
    client.destroy();
  }
});

ifNginx('a new version deployed behind nginx loses no request', async () => {
  const loop = clientLoop(`http://127.0.0.1:${port}/blog/`, 4);
  await waitFor(() => loop.result.sent > 50, 10_000, 'the loop to run');
  addPackage(apps, 'environ', 'blog.1.1', { 'environ_app.py': [[/VERSION = "1"/, 'VERSION = "1.1"']] });
  await waitFor(() => loop.result.versions.includes('1.1'), 30_000, 'version 1.1 behind nginx');
  const sent = loop.result.sent;
  await waitFor(() => loop.result.sent > sent + 100, 10_000, 'more requests');
  const result = await loop.stop();
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  // Answers of the draining version may interleave with the new one's around the switch.
  assert.is(result.versions[0], '1.0');
  assert.is(result.versions.at(-1), '1.1');
});

test.run();
