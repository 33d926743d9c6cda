// APPPKG_VENV_FAILED where a deploy builds the virtualenv: an app with pip: under --apps (the
// CLI) and under a Gateway's apps (the library), refused with the reason in status and a fix in
// each one's words; and `install`, where the same failure is the command's own. The interpreter
// named by python: is a real one whose `-m venv` fails: a virtualenv of the test's Python whose
// .pth puts a `venv` package of its own first on sys.path, one that exits 1 (as a Debian python3
// without python3-venv does, with its message on stderr).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { stopGatewayChecked } from '../helpers/status.js';

const test = suite('VENV_FAILED at a deploy: refused with its reason in status, the fix in the words of --apps, a Gateway and install');
const work = tempDir('apppkg-venv-failed-');
const apps = join(work.path, 'apps');
const broken = join(work.path, 'no-venv-python');
const python = join(broken, 'bin', 'python');
const environment = join(work.path, 'environment.yaml');
const SAYS = 'venv: this interpreter makes no virtualenvs (the test\'s)';
const said: string[] = [];
let cli: RunningGateway | null = null;
let gateway: Gateway | null = null;

const shop = wsgiPackage(apps, 'shop', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
writeFileSync(join(shop, 'requirements.txt'), '');

test.before(() => {
  const made = spawnSync('python3', ['-m', 'venv', '--without-pip', broken], { encoding: 'utf8', timeout: 60_000 });
  assert.is(made.status, 0, `python3 -m venv: ${made.stderr}`);
  const shadow = join(work.path, 'shadow');
  mkdirSync(join(shadow, 'venv'), { recursive: true });
  writeFileSync(join(shadow, 'venv', '__init__.py'), '');
  writeFileSync(join(shadow, 'venv', '__main__.py'), `import sys\nsys.stderr.write(${JSON.stringify(`${SAYS}\n`)})\nsys.exit(1)\n`);
  const site = spawnSync(python, ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(site.status, 0, site.stderr);
  writeFileSync(join(site.stdout.trim(), 'shadow-venv.pth'), `import sys; sys.path.insert(0, ${JSON.stringify(shadow)})\n`);
  // The interpreter runs, and its -m venv fails: what the tests below stand on.
  const tried = spawnSync(python, ['-m', 'venv', join(work.path, 'tried')], { encoding: 'utf8', timeout: 30_000, cwd: work.path });
  assert.is(tried.status, 1, `${tried.stdout}${tried.stderr}`);
  writeFileSync(environment, `python: ${python}\ndefaults:\n  workers: 1\n`, { mode: 0o600 });
});

test.after(async () => {
  await stopGatewayChecked(cli);
  await stopGatewayAndWork(gateway, work);
});

/** The refusal's reason, as status has it on the version's row and as the app's problem. */
function assertRefused(app: any, stateDir: string): { hint: string } {
  assert.is(app.state, 'failed', JSON.stringify(app));
  const [version] = app.versions;
  assert.is(version.state, 'failed', JSON.stringify(version));
  assert.is(version.reason.code, 'APPPKG_VENV_FAILED');
  assert.match(version.reason.message, new RegExp(`^pip: cannot create the virtualenv ${join(stateDir, 'apps', 'shop', 'venv-')}\\S+ with ${python}: \`-m venv\` exited with status 1$`));
  assert.ok(version.reason.tail.includes(SAYS), JSON.stringify(version.reason));
  assert.equal(app.problem, version.reason);
  assert.ok(version.reason.hint.startsWith(`read the output in ${join(stateDir, 'apps', 'shop', 'log', 'app.log')}; on Debian the system python3 needs \`apt-get install -y python3-venv\`; or name another interpreter with \`python:\` in the environment file; `), version.reason.hint);
  return version.reason;
}

test('--apps: the version is refused, and the fix says `apppkg-gateway install DIR` builds the virtualenv in the terminal', async () => {
  const state = join(work.path, 'state-cli');
  // The unix socket: it shows the app's output (the tail) whoever the app runs as, where a loopback
  // port without a token withholds it while some app runs as another user.
  const socket = join(work.path, 'admin.sock');
  cli = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', `unix:${socket}`, '--state-dir', state, '--environment', environment], { ms: 120_000 });
  const agent = new Agent({ connect: { socketPath: socket } });
  try {
    const app = await waitFor(async () => {
      const res = await request('http://localhost/status', { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
      const s = ((await res.body.json()) as any).apps.find((a: any) => a.name === 'shop');
      return s?.state === 'failed' && s;
    }, 120_000, () => `shop to be refused:\n${cli!.output()}`);
    const { hint } = assertRefused(app, state);
    assert.ok(hint.endsWith(`; \`apppkg-gateway install ${shop}\` builds the virtualenv in the terminal`), hint);
  } finally {
    await agent.close();
  }
  await within(60_000, 'the CLI gateway\'s stop', stopGatewayChecked(cli));
  cli = null;
});

test('a Gateway\'s apps: the version is refused, and the fix names AppPackage\'s install() with its output shown, no CLI command', async () => {
  const state = join(work.path, 'state-library');
  gateway = await within(120_000, 'Gateway.start', Gateway.start({ apps, stateDir: state, environment, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 0, settleMs: 0, say: (line) => said.push(line) }));
  const app = await waitFor(() => {
    const s = (gateway!.status() as any).apps.find((a: any) => a.name === 'shop');
    return s?.state === 'failed' && s;
  }, 120_000, () => `shop to be refused:\n${said.join('\n')}`);
  const { hint } = assertRefused(app, state);
  assert.ok(hint.endsWith("; AppPackage's `install({ output: process.stderr })` builds the virtualenv with its output shown"), hint);
  assert.not.match(hint, 'apppkg-gateway');
});

test('install: the failure is the command\'s own, its output above, and the fix names no other command', async () => {
  const state = join(work.path, 'state-install');
  const r = await runCli(['install', shop, '--environment', environment, '--state-dir', state], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  assert.match(out, SAYS);
  assert.match(out, new RegExp(`pip: cannot create the virtualenv ${join(state, 'apps', 'shop', 'venv-')}\\S+ with ${python}: \`-m venv\` exited with status 1`));
  assert.match(out, 'fix: read the output above; on Debian the system python3 needs `apt-get install -y python3-venv`; or name another interpreter with `python:` in the environment file\n');
});

test.run();
