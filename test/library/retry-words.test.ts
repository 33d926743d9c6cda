// Two fixes named the gateway's SIGHUP to a program running a Gateway, which installs no handler
// for it (the signal would end the program): an import past its start_timeout "gets more time
// with start_timeout ... in the environment file (SIGHUP reads it)", and a version refused for
// want of open files is tried again "then at SIGHUP". Each now names the Gateway's call, and the
// call does what the fix says. The CLI's words are checked by supervisor/import-hangs and
// gateway/open-files-limit. Imported by the package's own name, as a program does.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, waitFor, within } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('library: the fixes that retry an app name the Gateway\'s calls, not SIGHUP');
const ifPrlimit = runIf(test, hasProgram('prlimit'), 'needs prlimit (util-linux)');
const work = tempDir('apppkg-lib-retry-words-');
const apps = join(work.path, 'apps');
const environment = join(work.path, 'environment.yaml');
const said: string[] = [];
const seen = new Set<number>();
let gateway: Gateway | null = null;

const HELLO = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"up"]\n';
// The import takes 4 s: past a start_timeout of 1 s, within one of 30.
writePackage(apps, 'slow', { 'app.yaml': 'platform: python, wsgi\napp: main:application\n', 'main.py': `import time\ntime.sleep(4)\n\n${HELLO}` });
writeFileSync(environment, 'defaults:\n  workers: 1\napps:\n  slow:\n    start_timeout: 1\n', { mode: 0o600 });

test.before(async () => {
  gateway = await within(120_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
});

test.after(() => stopGatewayAndWork(gateway, work, seen));

const app = (name: string): any => (gateway!.status() as any).apps.find((a: any) => a.name === name);
const answers = async (path: string): Promise<number> => {
  const res = await request(`${gateway!.urls[0]}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000, reset: true });
  await res.body.text();
  return res.statusCode;
};

test('an import past start_timeout: the fix says reload(), not SIGHUP, and reload() with more time serves it', async () => {
  const problem = await waitFor(() => (app('slow')?.problem?.code === 'APPPKG_WORKER_START_FAILED' ? app('slow').problem : null), 60_000, () => `slow refused:\n${said.join('\n')}`);
  assert.match(problem.hint, 'gets more time with start_timeout under apps.slow in the environment file, then call `gateway.reload()`');
  assert.not.match(problem.hint, 'SIGHUP');
  writeFileSync(environment, 'defaults:\n  workers: 1\napps:\n  slow:\n    start_timeout: 30\n', { mode: 0o600 });
  await within(60_000, 'reload()', gateway!.reload());
  await waitFor(async () => (await answers('/slow/')) === 200, 60_000, () => `slow to serve after reload():\n${said.join('\n')}`, 200);
});

/**
 * A shell that runs prlimit on this process: started while there are files to spare, it is
 * told what to run down the pipe it already has, where a spawn under the lowered limit would
 * itself fail for want of them.
 */
function limiter(): { set(soft: string | number, hard: string): Promise<void>; end(): void } {
  const sh: ChildProcessWithoutNullStreams = spawn('sh', [], { stdio: 'pipe' });
  seen.add(sh.pid!);
  let out = '';
  sh.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  let asked = 0;
  return {
    async set(soft, hard) {
      const mark = `done-${++asked}`;
      sh.stdin.write(`prlimit --pid ${process.pid} --nofile=${soft}:${hard} && echo ${mark} || echo failed-${mark}\n`);
      await waitFor(() => out.includes(mark), 10_000, `prlimit (${mark})`);
      assert.ok(!out.includes(`failed-${mark}`), `prlimit failed: ${out}`);
    },
    end: () => sh.stdin.end(),
  };
}

ifPrlimit('a version refused for want of open files: the fix says rescan(), not SIGHUP', async () => {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!;
  const [soft, hard] = line.slice('Max open files'.length).trim().split(/\s+/);
  writePackage(apps, 'late', { 'app.yaml': 'platform: python, wsgi\napp: main:application\n', 'main.py': HELLO });
  const limit = limiter();
  let problem: any = null;
  try {
    // Room to read the new app.yaml, not for a worker's pipes.
    await limit.set(readdirSync('/proc/self/fd').length + 3, hard);
    let looked: Promise<void> | null = null;
    try {
      looked = gateway!.rescan();
      problem = await waitFor(() => app('late')?.problem ?? null, 30_000, () => `late refused:\n${said.join('\n')}`);
    } finally {
      await limit.set(soft, hard);
    }
    await within(60_000, 'rescan()', looked);
  } finally {
    limit.end();
  }
  assert.match(problem.message, 'EMFILE', JSON.stringify(problem));
  assert.match(problem.hint, 'LimitNOFILE=65536');
  assert.match(problem.hint, 'a version refused for it by itself (6 times, 1 s doubling to 32 s) or at once when you call `gateway.rescan()`');
  assert.not.match(problem.hint, 'SIGHUP');
  // Tried again by itself, with room now.
  await waitFor(async () => (await answers('/late/')) === 200, 60_000, () => `late to serve with room again:\n${said.join('\n')}`, 200);
});

test.run();
