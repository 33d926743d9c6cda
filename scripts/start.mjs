// `npm start`: the gateway on the bundled examples. examples/vendored carries its dependencies in
// vendor/, which is made, not committed (issue 19): made here first, from the wheels of
// test/fixtures/vendor, when Debian's python3 can build them; otherwise that one example is
// refused with its reason and the rest serve.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'apppkg-gateway');
const vendored = join(root, 'examples', 'vendored');
const BUILD_PYTHON = '/usr/bin/python3';

function vendorTheExample() {
  if (existsSync(join(vendored, 'vendor', '.apppkg-vendor.json'))) return;
  const work = mkdtempSync(join(tmpdir(), 'apppkg-start-'));
  try {
    const sources = ['demo-greeting', 'demo-words'].map((name) => {
      cpSync(join(root, 'test', 'fixtures', 'vendor', name), join(work, name), { recursive: true });
      return join(work, name);
    });
    const wheels = join(work, 'wheels');
    const built = spawnSync(BUILD_PYTHON, ['-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', wheels, ...sources], { encoding: 'utf8' });
    if (built.status !== 0) {
      console.log(`npm start: cannot build the wheels of examples/vendored (${BUILD_PYTHON} needs python3-pip, python3-setuptools, python3-wheel); it will be refused`);
      return;
    }
    const vendor = spawnSync(bin, ['vendor', vendored, '--find-links', wheels, '--no-index'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (vendor.status !== 0) console.log('npm start: `apppkg-gateway vendor examples/vendored` failed (above); that example will be refused');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

vendorTheExample();
// The gateway's flags after `npm start --`. A --listen of the user's replaces 127.0.0.1:8000, as it
// replaces the gateway's own default: added to it (--listen repeats), `npm start -- --listen 8080`
// listened on 8000 as well, and failed where 8000 was taken.
const given = process.argv.slice(2);
const listens = given.some((arg) => arg === '--listen' || arg.startsWith('--listen=') || /^-l/.test(arg));
const gateway = spawn(bin, ['--apps', join(root, 'examples'), ...(listens ? [] : ['--listen', '127.0.0.1:8000']), ...given], { stdio: 'inherit' });
// ^C from a terminal reaches the gateway without us: it runs in the terminal's process group, as
// we do. Passed on as well (and npm passes its own on to us), it came two or three times, and the
// gateway took the second for a second ^C, "stop at once", cutting the requests in flight. So
// SIGINT is passed on only where no terminal could have sent it, as `run` passes it
// (src/lifecycle/run-command.ts); it is still caught, so that we wait for the gateway's stop.
// SIGTERM is passed on always: sent to us alone (npm's own), it would not reach the gateway
// otherwise; the copy a group's kill also gives it, the gateway takes for the same stop
// (SAME_SIGTERM_MS, src/cli/run-loop.ts).
const fromTerminal = process.stdin.isTTY === true || process.stdout.isTTY === true || process.stderr.isTTY === true;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    if (signal !== 'SIGINT' || !fromTerminal) gateway.kill(signal);
  });
}
// Ended by a signal, the status a shell gives (143 for SIGTERM, 130 for SIGINT): 128 alone told
// whatever runs `npm start` (timeout, systemd) no signal from another.
gateway.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
