// The peers `npm run bench` measures, and how each is started: every one fresh in every round,
// on a free port, serving the same app file (bench/app/bench_app.py, or bench_asgi.py for the
// ASGI servers: the same bytes and headers) or the same static file (bench/app/static/16k.txt).
// A peer says what it serves, which of its processes are its app workers (for RSS/worker), and
// why it cannot run here (`unavailable()`), so the report says "not available" instead of
// leaving it out.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const APP_DIR = join(ROOT, 'bench', 'app');
export const SYSTEM_PYTHON = '/usr/bin/python3';
/** The WSGI endpoints every Python peer serves; the static row is the gateway's and nginx's. */
const APP_ENDPOINTS = ['hello', '16k', 'post64k'];

// Debian packages the peers need; installed (quietly) when missing and running as root, as
// scripts/test.mjs does for the tests.
const DEBIAN_PACKAGES = ['wrk', 'nginx', 'gunicorn', 'uwsgi', 'uwsgi-plugin-python3', 'python3-uvicorn', 'python3-httptools', 'python3-uvloop'];

export function ensureDebianPackages() {
  const probe = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...DEBIAN_PACKAGES], { encoding: 'utf8' });
  if (probe.error) return; // not Debian: each peer says what it misses
  const installed = new Set(probe.stdout.split('\n').filter((l) => l.endsWith('install ok installed')).map((l) => l.split(' ')[0]));
  const missing = DEBIAN_PACKAGES.filter((p) => !installed.has(p));
  if (missing.length === 0 || process.getuid?.() !== 0) return;
  console.log(`bench: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) console.log('bench: apt-get install failed; the peers that need those packages are reported as not available');
}

export function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

function hasPythonModules(...names) {
  return spawnSync(SYSTEM_PYTHON, ['-c', `import ${names.join(', ')}`], { stdio: 'ignore' }).status === 0;
}

function needsCommands(...names) {
  return () => {
    const missing = names.filter((n) => !hasCommand(n));
    return missing.length ? `${missing.join(', ')} not installed` : null;
  };
}

// ---- processes -------------------------------------------------------------------------------

const children = new Set();

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A loopback port nothing listens on now. */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** wrk --latency's output: req/s, the requests it made, p50 and p99 in ms, non-2xx/3xx answers, and its socket errors line (or null). */
export function parseWrk(out) {
  const pct = (p) => {
    const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)\\b`).exec(out);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in /.exec(out)?.[1] ?? NaN),
    p50: pct(50),
    p99: pct(99),
    errors: errors ? Number(errors) : 0,
    socketErrors: /Socket errors: (.*)/.exec(out)?.[1] ?? null,
  };
}

/** A peer's process in its own process group (stopProcess signals the whole group). */
export function startProcess(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  child.on('error', (err) => (out += `${err.message}\n`));
  child.output = () => out;
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** TERM to the group, up to 5 s, then KILL. */
export async function stopProcess(child) {
  if (!child || child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  for (let i = 0; i < 100 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
}

export async function stopAllProcesses() {
  for (const c of children) await stopProcess(c);
}

// ---- nginx -----------------------------------------------------------------------------------

/** A throwaway nginx prefix under `work`: its config, logs and temp dirs. */
function nginxConf(work, port, { workers = 'auto', http = '', server }) {
  const prefix = join(work, `nginx-${port}`);
  mkdirSync(join(prefix, 'logs'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, `worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi;
  uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  client_max_body_size 10m;
  ${http}
  server {
    listen 127.0.0.1:${port};
    ${server}
  }
}
`);
  return { prefix, conf };
}

function startNginx(work, port, config) {
  const { prefix, conf } = nginxConf(work, port, config);
  return startProcess('nginx', ['-p', prefix, '-c', conf, '-g', 'daemon off;']);
}

// ---- NGINX Unit ------------------------------------------------------------------------------
// Not packaged for Debian 12; the bench uses one found at $BENCH_UNIT (the unitd binary) and
// says "not available" otherwise. Built from the public repository in about a minute on 2 cores:
//   apt-get install -y build-essential python3-dev libssl-dev libpcre2-dev
//   git clone https://github.com/nginx/unit && cd unit && git checkout 1.35.0
//   ./configure --prefix=/opt/unit --statedir=/opt/unit/state --logdir=/opt/unit/log \
//     --runstatedir=/opt/unit/run --control=unix:/opt/unit/control.sock --tmpdir=/tmp
//   ./configure python --config=/usr/bin/python3.11-config
//   make -j2 unitd python3.11 && make install
// then: BENCH_UNIT=/opt/unit/sbin/unitd npm run bench
const UNITD = process.env.BENCH_UNIT ?? '';

/** PUTs `config` to Unit's control socket, retrying until the socket answers (or 10 s pass). */
async function configureUnit(control, config, child) {
  const body = JSON.stringify(config);
  const deadline = performance.now() + 10_000;
  for (;;) {
    const answer = await new Promise((resolve) => {
      const req = http.request({ socketPath: control, method: 'PUT', path: '/config', headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, text }));
      });
      req.on('error', (err) => resolve({ status: 0, text: err.message }));
      req.end(body);
    });
    if (answer.status === 200) return;
    if (answer.status !== 0) throw new Error(`Unit refused the config: ${answer.status} ${answer.text.replace(/\s+/g, ' ')}`);
    if (child.exitCode !== null) throw new Error(`unitd exited with ${child.exitCode}: ${child.output().slice(-500)}`);
    if (performance.now() > deadline) throw new Error(`Unit's control socket not answering: ${answer.text}`);
    await sleep(20);
  }
}

/** VmRSS of a process, in bytes (NaN when it is gone). */
export function rssOf(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}

/** Every process below `pid`, children first. */
export function descendants(pid) {
  const all = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      all.push([Number(e), ppid]);
    } catch {}
  }
  const out = [];
  const walk = (p) => {
    for (const [c, pp] of all) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

// ---- the peers -------------------------------------------------------------------------------

/**
 * Every peer, in the order a round measures them: nginx's static file right after the gateway's
 * (the machine's speed drifts over minutes: a ratio holds best between neighbours), then
 * threads: 1 and uvicorn. `id` is what the report's targets refer to;
 * `serves` the endpoints measured (names in run.mjs's ENDPOINTS); `workers` matches the
 * cmdline of its app worker processes among the descendants of `main` (for RSS/worker and each
 * worker's share of the CPU), and `front` the process whose RSS is the front's (`main` itself
 * when absent). `start` resolves with the processes it started (`children`, each stopped after
 * the peer's run), `main`, and `servers` when some of its children are clients of the peer, not
 * part of it: the peer's CPU is that of the trees under `servers` (`children` when absent).
 */
export function definePeers(work) {
  // watched: the status page open through it all, as an SSE client of /events (issue 14's bound:
  // the page costs the proxy nothing measurable).
  const gateway = (id, name, threads, kind = 'wsgi', loop = null, watched = false) => ({
    id,
    name,
    serves: threads === null && kind === 'wsgi' ? [...APP_ENDPOINTS, 'static16k'] : APP_ENDPOINTS,
    workers: /python/,
    unavailable: () => null,
    async start(port) {
      const apps = join(work, kind === 'wsgi' ? 'apps' : 'apps-asgi');
      mkdirSync(apps, { recursive: true });
      if (kind === 'wsgi' && !existsSync(join(apps, 'bench'))) symlinkSync(APP_DIR, join(apps, 'bench'));
      if (kind === 'asgi' && !existsSync(join(apps, 'bench'))) {
        // The same bench_asgi.py uvicorn serves, as an ASGI package of its own.
        mkdirSync(join(apps, 'bench'));
        symlinkSync(join(APP_DIR, 'bench_asgi.py'), join(apps, 'bench', 'bench_asgi.py'));
        writeFileSync(join(apps, 'bench', 'app.yaml'), 'platform: python, asgi\napp: bench_asgi:app\n');
      }
      const envFile = join(work, `environment-${id}.yaml`);
      const settings = loop === null ? '' : `    settings:\n      APPPKG_ASGI_LOOP: ${loop}\n`;
      writeFileSync(envFile, `python: ${SYSTEM_PYTHON}\napps:\n  bench:\n    mount: /\n    workers: 2\n${threads === null ? '' : `    threads: ${threads}\n`}${settings}`);
      const admin = watched ? `127.0.0.1:${await freePort()}` : '127.0.0.1:0';
      const child = startProcess(join(ROOT, 'bin', 'apppkg-gateway'), ['--apps', apps, '--listen', `127.0.0.1:${port}`,
        '--admin', admin, '--environment', envFile, '--state-dir', join(work, `state-${id}`), '--access-log', 'off']);
      if (!watched) return { children: [child], main: child };
      // curl holds the stream as a browser's EventSource would, into a file (a pipe would fill
      // while wrk's spawnSync blocks this process); the file counts the events.
      const events = join(work, `events-${id}.txt`);
      const watcher = startProcess('curl', ['-sN', '-o', events, '--retry', '100', '--retry-connrefused', '--retry-delay', '0', `http://${admin}/events`]);
      // servers: the curl is a client of the gateway, not a process of it, for its CPU per request.
      return { children: [child, watcher], servers: [child], main: child, events };
    },
  });
  return [
    gateway('gateway', 'apppkg-gateway', null),
    {
      // The static row's reference: nginx as one would set it up for files, nothing tuned.
      id: 'nginx-static',
      name: 'nginx (static file)',
      serves: ['static16k'],
      workers: null,
      unavailable: needsCommands('nginx'),
      async start(port) {
        const n = startNginx(work, port, {
          workers: 2,
          http: 'include /etc/nginx/mime.types; sendfile on;',
          server: `location /static/ { root ${APP_DIR}; }`,
        });
        return { children: [n], main: n };
      },
    },
    gateway('gateway-watched', 'apppkg-gateway, status page open', null, 'wsgi', null, true),
    gateway('gateway-t1', 'apppkg-gateway, threads: 1', 1),
    // The ASGI worker takes uvloop when the interpreter has it (Debian's does), as uvicorn here.
    gateway('gateway-asgi', 'apppkg-gateway (ASGI, uvloop)', null, 'asgi'),
    gateway('gateway-asgi-asyncio', 'apppkg-gateway (ASGI, asyncio)', null, 'asgi', 'asyncio'),
    {
      id: 'uvicorn',
      name: 'uvicorn --workers 2 (ASGI)',
      serves: APP_ENDPOINTS,
      workers: /multiprocessing\.spawn/,
      unavailable: () => (hasPythonModules('uvicorn', 'httptools', 'uvloop') ? null : 'python3-uvicorn, python3-httptools or python3-uvloop not installed'),
      async start(port) {
        const child = startProcess(SYSTEM_PYTHON, ['-m', 'uvicorn', '--workers', '2', '--host', '127.0.0.1', '--port', String(port),
          '--no-access-log', '--loop', 'uvloop', '--http', 'httptools', '--app-dir', APP_DIR, 'bench_asgi:app']);
        return { children: [child], main: child };
      },
    },
    {
      id: 'unit',
      name: 'NGINX Unit, processes 2 (WSGI)',
      serves: APP_ENDPOINTS,
      workers: /application/,
      front: /unit: router/,
      unavailable: () => (UNITD && existsSync(UNITD) ? null : `BENCH_UNIT ${UNITD ? `(${UNITD}) not found` : 'not set'}: how to build Unit is in bench/peers.mjs`),
      async start(port) {
        const dir = join(work, `unit-${port}`);
        mkdirSync(join(dir, 'state'), { recursive: true });
        mkdirSync(join(dir, 'tmp'), { recursive: true });
        // Unit's router (an unprivileged user) writes request bodies past 8 KiB to files here.
        chmodSync(join(dir, 'tmp'), 0o1777);
        const control = join(dir, 'control.sock');
        const modules = join(dirname(dirname(UNITD)), 'lib', 'unit', 'modules');
        const child = startProcess(UNITD, ['--no-daemon', '--control', `unix:${control}`, '--pid', join(dir, 'unit.pid'),
          '--log', join(dir, 'unit.log'), '--statedir', join(dir, 'state'), '--tmpdir', join(dir, 'tmp'),
          ...(existsSync(modules) ? ['--modulesdir', modules] : [])]);
        await configureUnit(control, {
          listeners: { [`127.0.0.1:${port}`]: { pass: 'applications/bench' } },
          applications: { bench: { type: 'python', path: APP_DIR, module: 'bench_app', callable: 'application', processes: 2 } },
        }, child);
        return { children: [child], main: child };
      },
    },
    {
      id: 'gunicorn',
      name: 'gunicorn -w 2',
      serves: APP_ENDPOINTS,
      workers: /python|gunicorn/,
      unavailable: needsCommands('gunicorn'),
      async start(port) {
        const child = startProcess('gunicorn', ['-w', '2', '-b', `127.0.0.1:${port}`, '--chdir', APP_DIR, 'bench_app:application']);
        return { children: [child], main: child };
      },
    },
    {
      id: 'nginx-gunicorn',
      name: 'nginx + gunicorn -w 2',
      serves: APP_ENDPOINTS,
      workers: /python|gunicorn/,
      unavailable: needsCommands('nginx', 'gunicorn'),
      async start(port) {
        const sock = join(work, `gunicorn-${port}.sock`);
        const g = startProcess('gunicorn', ['-w', '2', '-b', `unix:${sock}`, '--chdir', APP_DIR, 'bench_app:application']);
        const n = startNginx(work, port, {
          http: `upstream app { server unix:${sock}; }`,
          server: 'location / { proxy_pass http://app; proxy_set_header Host $host; }',
        });
        return { children: [n, g], main: g };
      },
    },
    {
      id: 'nginx-uwsgi',
      name: 'nginx + uWSGI --processes 2',
      serves: APP_ENDPOINTS,
      workers: /uwsgi/,
      unavailable: needsCommands('nginx', 'uwsgi'),
      async start(port) {
        const sock = join(work, `uwsgi-${port}.sock`);
        const u = startProcess('uwsgi', ['--plugin', 'python3', '--socket', sock, '--processes', '2', '--master', '--chdir', APP_DIR,
          '--module', 'bench_app:application', '--disable-logging', '--die-on-term', '--chmod-socket=666']);
        const n = startNginx(work, port, {
          http: `upstream app { server unix:${sock}; }`,
          server: 'location / { include /etc/nginx/uwsgi_params; uwsgi_pass app; }',
        });
        return { children: [n, u], main: u };
      },
    },
  ];
}
