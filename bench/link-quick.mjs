// Quick throughput check of the Node <-> Python link: wrk against a plain Node http server
// forwarding every request through forward-wsgi to N Python workers running
// test/fixtures/apps/link-bench. Measures the compiled code the gateway ships:
//
//   npm run build && node bench/link-quick.mjs [--workers 2] [--threads 8] [--duration 5]
//   node --import ./scripts/ts-register.mjs bench/link-quick.mjs --src   (the TypeScript sources)
//
// Prints req/s for hello (14 bytes), a 16 KiB body and a 64 KiB POST. Numbers drift between
// runs and machines; compare within one run (PERF-NOTES.md). Needs wrk on PATH.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '2' },
    threads: { type: 'string', default: '8' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
    src: { type: 'boolean', default: false },
  },
});

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = values.src ? join(root, 'src') : join(root, 'dist');
const ext = values.src ? '.ts' : '.js';
if (!existsSync(join(modules, `supervisor/worker${ext}`))) {
  console.error(values.src ? 'src/ not found' : 'dist/ not built: run `npm run build` first (or --src under node --import ./scripts/ts-register.mjs)');
  process.exit(2);
}
const { Worker } = await import(join(modules, `supervisor/worker${ext}`));
const { forwardWsgi } = await import(join(modules, `proxy/forward-wsgi${ext}`));
const { routeFromRequest } = await import(join(modules, `proxy/request-route${ext}`));
const appDir = join(root, 'test', 'fixtures', 'apps', 'link-bench');

async function startHarness(count, threads) {
  const workers = Array.from({ length: count }, () =>
    new Worker({
      python: process.env.PYTHON ?? 'python3',
      env: { ...process.env },
      cwd: appDir,
      app: 'app:application',
      sysPath: [appDir],
      threads,
      multiprocess: count > 1,
      development: false,
      name: 'link-bench',
      stderr: (line) => process.stderr.write(`[link-bench] ${line}\n`),
    }),
  );
  await Promise.all(workers.map((w) => w.start(15000)));
  let next = 0;
  const server = http.createServer({ keepAliveTimeout: 30000 }, (req, res) => {
    let best = null;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[(next + i) % workers.length];
      if (w.available && (best === null || w.inFlight < best.inFlight)) best = w;
    }
    next++;
    forwardWsgi(best.link, req, res, routeFromRequest(req));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async stop() {
      server.closeAllConnections();
      server.close();
      await Promise.all(workers.map((w) => w.stop(3000)));
    },
  };
}

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (err) {
  if (err.code === 'ENOENT') {
    console.error('wrk is not installed (apt-get install wrk)');
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'link-bench-'));
const postLua = join(dir, 'post.lua');
writeFileSync(postLua, 'wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\nwrk.headers["Content-Type"] = "application/octet-stream"\n');

function wrk(url, script) {
  const args = ['-t1', `-c${values.connections}`, `-d${values.duration}s`, '--latency'];
  if (script) args.push('-s', script);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', () => {
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const p99 = /99%\s+([\d.]+\w+)/.exec(out);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
      resolve({ rps: rps ? Number(rps[1]) : 0, p99: p99 ? p99[1] : '?', errors: errors ? errors[0] : '' });
    });
  });
}

const harness = await startHarness(Number(values.workers), Number(values.threads));
try {
  const cases = [
    ['hello', '/', null],
    ['16k', '/16k', null],
    ['post64k', '/post', postLua],
  ].filter(([name]) => !values.only || values.only.split(',').includes(name));
  await wrk(`${harness.url}/`, null); // warm-up (also the JITs)
  for (const [name, path, script] of cases) {
    const r = await wrk(`${harness.url}${path}`, script);
    console.log(`${name.padEnd(8)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99}${r.errors ? `  ${r.errors}` : ''}`);
  }
} finally {
  await harness.stop();
  rmSync(dir, { recursive: true, force: true });
}
