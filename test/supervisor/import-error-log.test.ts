// An app that fails to import: its traceback appears once per failing worker in the app log (the
// record), and under serve once per distinct failure on the terminal, each other worker that
// failed the same way a line; under --apps the gateway's log has the error, the log file's name
// and the traceback's last lines once (issue 13). The APPPKG-IMPORT-ERROR marker line is
// protocol between the shim and the gateway and never shows. An ASGI app's failed lifespan startup
// (APPPKG-LIFESPAN-FAILED) is shown the same way.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { FIXTURES, runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { appStatus } from '../helpers/status.js';

const test = suite('import error output');
const state = tempDir('apppkg-import-log-');

test.after(() => state.remove());

const count = (text: string, what: string): number => text.split(what).length - 1;

test('serve with 2 workers: the traceback once on the terminal, the other worker a line; twice in the log, no marker', async () => {
  const r = await runCli(['serve', join(FIXTURES, 'apps', 'crash-on-import'), '--port', '0', '--workers', '2', '--state-dir', state.path], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.is(count(r.stderr, 'Traceback (most recent call last)'), 1, r.stderr);
  assert.is(r.stderr.match(/^ZeroDivisionError: division by zero$/gm)?.length, 1, r.stderr);
  assert.match(r.stderr, /^ZeroDivisionError: division by zero\napppkg-gateway: crash-on-import: worker [12] failed the same way \(the traceback above\)\n/m);
  assert.is(count(r.stderr, 'failed the same way'), 1, r.stderr);
  assert.not.match(r.stderr, /APPPKG-IMPORT-ERROR/);
  assert.match(r.stderr, /cannot import app:application \(.*helper\.py:4\)/);
  const log = readFileSync(join(state.path, 'apps', 'crash-on-import', 'log', 'app.log'), 'utf8');
  assert.is(count(log, 'Traceback (most recent call last)'), 2, log);
  assert.is(log.match(/^ZeroDivisionError: division by zero$/gm)?.length, 2, log);
  assert.not.match(log, /APPPKG-IMPORT-ERROR|failed the same way/);
});

test('serve with 3 workers: once, and a line for each of the two others', async () => {
  const r = await runCli(['serve', join(FIXTURES, 'apps', 'crash-on-import'), '--port', '0', '--workers', '3', '--state-dir', state.path], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.is(count(r.stderr, 'Traceback (most recent call last)'), 1, r.stderr);
  const folded = [...r.stderr.matchAll(/^apppkg-gateway: crash-on-import: (worker \d) failed the same way \(the traceback above\)$/gm)].map((m) => m[1]);
  assert.is(folded.length, 2, r.stderr);
  assert.is(new Set(folded).size, 2, r.stderr);
});

test('serve: failures that differ are each shown whole', async () => {
  const apps = tempDir('apppkg-import-log-differ-');
  try {
    // Each worker's message holds its pid: no two tracebacks are the same.
    const dir = addPackage(apps.path, 'crash-on-import', 'differ', { 'helper.py': [[/^RATIO = LIMIT \/ 0$/m, 'import os\nraise RuntimeError("worker pid %d" % os.getpid())']] });
    const r = await runCli(['serve', dir, '--port', '0', '--workers', '2', '--state-dir', state.path], { ms: 30_000 });
    assert.is(r.status, 1, r.stderr);
    assert.is(count(r.stderr, 'Traceback (most recent call last)'), 2, r.stderr);
    assert.is(r.stderr.match(/^RuntimeError: worker pid \d+$/gm)?.length, 2, r.stderr);
    assert.not.match(r.stderr, /failed the same way/);
  } finally {
    apps.remove();
  }
});

test("serve of an ASGI app whose lifespan startup raises: its traceback once on the terminal, a line for the other worker; each worker's in the log", async () => {
  const apps = tempDir('apppkg-import-log-lifespan-');
  try {
    const dir = addPackage(apps.path, 'asgi-lifespan-fail', 'startup-raises', { 'app.yaml': [[/^app: app:application$/m, 'app: app:raises']] });
    const r = await runCli(['serve', dir, '--port', '0', '--workers', '2', '--state-dir', state.path], { ms: 30_000 });
    assert.is(r.status, 1, r.stderr);
    assert.is(count(r.stderr, 'Traceback (most recent call last)'), 1, r.stderr);
    assert.match(r.stderr, /^ConnectionRefusedError: cannot reach the database\napppkg-gateway: startup-raises: worker [12] failed the same way \(the traceback above\)\n/m);
    assert.not.match(r.stderr, /APPPKG-LIFESPAN-FAILED/);
    assert.match(r.stderr, /failed its lifespan startup: ConnectionRefusedError: cannot reach the database/);
    // The fix points at the traceback above, not at a log and at the very command that ran.
    assert.match(r.stderr, /\n  fix: fix what the app's startup handler needs \(its traceback is above\), then try again\n/);
    assert.not.match(r.stderr, /the app log|shows it in the terminal/);
    const log = readFileSync(join(state.path, 'apps', 'startup-raises', 'log', 'app.log'), 'utf8');
    assert.is(count(log, 'Traceback (most recent call last)'), 2, log);
    assert.not.match(log, /APPPKG-LIFESPAN-FAILED|failed the same way/);
  } finally {
    apps.remove();
  }
});

test('serve with 1 worker: once', async () => {
  const r = await runCli(['serve', join(FIXTURES, 'apps', 'crash-on-import'), '--port', '0', '--workers', '1', '--state-dir', state.path], { ms: 30_000 });
  assert.is(r.status, 1, r.stderr);
  assert.is(count(r.stderr, 'Traceback (most recent call last)'), 1, r.stderr);
  assert.not.match(r.stderr, /APPPKG-IMPORT-ERROR|failed the same way/);
});

test('under --apps: the traceback once per worker in the app log; the gateway log has the error, the log file and the traceback\'s end once', async () => {
  const apps = tempDir('apppkg-import-log-apps-');
  const gwState = tempDir('apppkg-import-log-gw-');
  try {
    addPackage(apps.path, 'crash-on-import', 'broken');
    // Refused before any process of it ran: its log had nothing to say why.
    const unserved = addPackage(apps.path, 'crash-on-import', 'unserved');
    appendFileSync(join(unserved, 'app.yaml'), 'services:\n  database: postgresql\n');
    const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', gwState.path, '--access-log', 'off']);
    try {
      await waitFor(() => /broken: .*refused/.test(gw.output()), 10_000, 'the refusal');
      assert.match(gw.output(), /APPPKG_APP_IMPORT_FAILED|cannot import app:application \(.*helper\.py:4\)/);
      assert.not.match(gw.output(), /APPPKG-IMPORT-ERROR/);
      const logFile = join(gwState.path, 'apps', 'broken', 'log', 'app.log');
      assert.ok(gw.output().includes(`last lines of ${logFile}:`), gw.output());
      assert.is(gw.output().match(/^ {6}\| ZeroDivisionError: division by zero$/gm)?.length, 1, gw.output());
      const log = readFileSync(logFile, 'utf8');
      assert.is(count(log, 'Traceback (most recent call last)'), 2, log);
      assert.not.match(log, /APPPKG-IMPORT-ERROR/);
      // The refusal itself is in the app's log too, where `logs NAME` looks, after the traceback.
      assert.match(log, /Traceback[^]*\n\[apppkg-gateway\] \S+ refused: app: cannot import app:application[^\n]*\n\[apppkg-gateway\]   fix: /);
      await waitFor(() => /unserved: .*refused/.test(gw.output()), 10_000, 'the refusal for want of a service');
      const unservedLog = readFileSync(join(gwState.path, 'apps', 'unserved', 'log', 'app.log'), 'utf8');
      assert.match(unservedLog, /^\[apppkg-gateway\] \S+ refused: \S+app\.yaml:\d+:\d+: unserved asks for services\.database: postgresql, but the host offers no postgresql server\n\[apppkg-gateway\]   fix: set `services\.postgresql`/);
    } finally {
      await gw.stop();
    }
  } finally {
    apps.remove();
    gwState.remove();
  }
});

// A host that reloads every few minutes (a config-management run) found the same refusal, whole,
// in the gateway's log and the app's at every SIGHUP, though nothing about the version changed.
test('under --apps: SIGHUP tries a refused version again, and the same refusal of the same files is one "still refused" line, not the whole of it; a changed file is said whole again', async () => {
  const apps = tempDir('apppkg-import-log-hup-');
  const gwState = tempDir('apppkg-import-log-hup-gw-');
  try {
    const dir = addPackage(apps.path, 'crash-on-import', 'broken');
    // --watch-interval 0: nothing but the SIGHUP looks at the apps again.
    const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', gwState.path, '--access-log', 'off', '--watch-interval', '0']);
    try {
      const logFile = join(gwState.path, 'apps', 'broken', 'log', 'app.log');
      const whole = () => count(gw.output(), `last lines of ${logFile}:`);
      const still = () => gw.output().match(/^apppkg-gateway: broken: \S+ still refused: .*$/gm) ?? [];
      await waitFor(() => whole() === 1, 10_000, 'the refusal');
      const tracebacks = () => count(readFileSync(logFile, 'utf8'), 'Traceback (most recent call last)');
      const once = tracebacks();
      for (const n of [1, 2]) {
        gw.child.kill('SIGHUP');
        await waitFor(() => still().length === n, 20_000, () => `still refused line ${n}\n${gw.output()}`);
      }
      assert.is(whole(), 1, gw.output());
      for (const line of still()) {
        assert.match(line, new RegExp(`^apppkg-gateway: broken: ${dir} still refused: APPPKG_APP_IMPORT_FAILED: app: cannot import app:application \\(.*helper\\.py:4\\).* \\(unchanged since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: the same files, the same error; the whole refusal was logged then, \`apppkg-gateway status\` shows it; change a file in it to deploy it anew\\)$`));
      }
      // Tried again it was: the workers imported anew each time (their tracebacks are the record).
      const log = readFileSync(logFile, 'utf8');
      assert.is(tracebacks(), 3 * once, log);
      assert.is(count(log, `[apppkg-gateway] ${dir} refused: `), 1, log);
      assert.is(log.match(/^\[apppkg-gateway\] \S+ still refused, the same way as at \S+ \(APPPKG_APP_IMPORT_FAILED\): its files are unchanged$/gm)?.length, 2, log);
      // One event in the history, counted, not three.
      const history = (await appStatus(gw, 'broken')).history.filter((e: any) => e.kind === 'refused');
      assert.equal(history.map((e: any) => e.times), [3]);
      // A file changed: a new deploy of it, and a refusal said whole.
      appendFileSync(join(dir, 'app.py'), '\n# edited\n');
      gw.child.kill('SIGHUP');
      await waitFor(() => whole() === 2, 20_000, () => `the refusal said whole again\n${gw.output()}`);
      assert.is(still().length, 2);
    } finally {
      await gw.stop();
    }
  } finally {
    apps.remove();
    gwState.remove();
  }
});

test("under --apps: a refusal's lines after its first hang under it in the gateway's log, the message's own lines deeper than its fix (an exception's nested fields, a description's several problems)", async () => {
  const apps = tempDir('apppkg-import-log-apps-');
  const gwState = tempDir('apppkg-import-log-gw-');
  try {
    // As pydantic's ValidationError reads, raised in a nested call while the module imports.
    addPackage(apps.path, 'crash-on-import', 'shop', {
      'helper.py': [[/^RATIO = LIMIT \/ 0$/m, [
        'def load():',
        '    raise ValueError("2 validation errors for Settings\\n  database\\n    field required (type=value_error.missing)\\n  secret\\n    field required (type=value_error.missing)")',
        '',
        '',
        'RATIO = load()',
      ].join('\n')]],
    });
    writePackage(apps.path, 'wiki', { 'app.yaml': 'platform: python, wsgi\npython: three\napp: app:application\nworkerz: 2\n' });
    const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', gwState.path, '--access-log', 'off']);
    try {
      await waitFor(() => /shop: .*refused/.test(gw.output()) && /skipping .*wiki/.test(gw.output()), 10_000, 'the refusal and the broken package');
      const out = gw.output();
      assert.match(out, new RegExp([
        String.raw`(?:^|\n)apppkg-gateway: shop: \S+ refused:`,
        String.raw`  app: cannot import app:application \(\S+helper\.py:5\): ValueError: 2 validation errors for Settings`,
        String.raw`        database`,
        String.raw`          field required \(type=value_error\.missing\)`,
        String.raw`        secret`,
        String.raw`          field required \(type=value_error\.missing\)`,
        String.raw`    fix: fix the error in the traceback[^\n]*`,
        String.raw`    last lines of \S+app\.log:`,
        String.raw`      \| `,
      ].join('\n')), out);
      assert.match(out, new RegExp([
        String.raw`(?:^|\n)apppkg-gateway: skipping \S+wiki:`,
        String.raw`  \S+wiki/app\.yaml:2:9: python: expected a PEP 440 specifier[^\n]*`,
        String.raw`    fix: [^\n]*`,
        String.raw`  \S+wiki/app\.yaml:4:1: workerz: [^\n]*`,
        String.raw`    fix: [^\n]*\n`,
      ].join('\n')), out);
      // Every line is the gateway's (its prefix) or hangs under one: none passes for a line of its own.
      const loose = out.split('\n').filter((l) => l !== '' && !/^(apppkg-gateway: | |listening on |admin on )/.test(l));
      assert.equal(loose, [], out);
      // The app's log has the refusal too, its lines after the first hung as in the gateway's.
      const log = readFileSync(join(gwState.path, 'apps', 'shop', 'log', 'app.log'), 'utf8');
      assert.match(log, /\n\[apppkg-gateway\] \S+ refused: app: cannot import [^\n]*Settings\n\[apppkg-gateway\] {7}database\n\[apppkg-gateway\] {9}field required[^]*\n\[apppkg-gateway\] {3}fix: /, log);
    } finally {
      await gw.stop();
    }
  } finally {
    apps.remove();
    gwState.remove();
  }
});

test.run();
