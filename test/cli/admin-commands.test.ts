// Issue 14: `logs`, `restart`, `rollback` and `status --watch` as a user runs them: the real
// CLI against a real gateway (--apps, its admin listener on a port of its own, a token), an
// app that prints what it is asked to, and a real pipe behind `logs -f`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { clientLoop, oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, BIN, childPids, installForOtherUsers, ROOT, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';

const test = suite('issue 14: logs, restart, rollback, status --watch');
const ifRoot = runIf(test, isRoot, 'needs root: apps run as other users, and logs and actions need a token, only when the gateway is root');
const ifRootWithOpenssl = runIf(test, isRoot && hasProgram('openssl'), 'needs root (a root gateway wants the token) and openssl (the README makes the token with it)');
const work = tempDir('apppkg-admin-cmds-');
const TOKEN = 'test-token-3f9c2a7e51d04b8e';
const tokenFile = join(work.path, 'admin-token');
writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });

/** Prints a line when imported, each /say/TEXT to stdout and /warn/TEXT to stderr; answers its version and pid. */
const APP = `import json, os, sys
VERSION = "1"
print("imported version %s pid %d" % (VERSION, os.getpid()), flush=True)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/say/"):
        print(path[5:], flush=True)
    elif path.startswith("/warn/"):
        print(path[6:], file=sys.stderr, flush=True)
    body = json.dumps({"version": VERSION, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`;

interface Gateway {
  gw: RunningGateway;
  /** `--admin` as the CLI takes it: 127.0.0.1:PORT. */
  admin: string;
  state: string;
  /** Every worker pid /status named while the test ran: none may outlive the gateway. */
  pids: Set<number>;
}
const opened: Gateway[] = [];
const children: ChildProcess[] = [];

function addApp(appsDir: string, dirName: string, version = '1'): void {
  writePackage(appsDir, dirName, {
    'app.yaml': 'platform: python, wsgi\napp: app:application\n',
    'app.py': APP.replace('VERSION = "1"', `VERSION = "${version}"`),
  });
}

/** A gateway under --apps with its admin listener on a free port and --admin-token; `extra`: more of its arguments, given its directory. */
async function openGateway(setup: (appsDir: string) => void, extra: (dir: string) => string[] = () => []): Promise<Gateway> {
  const dir = tempDir('apppkg-admin-cmds-gw-');
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  setup(apps);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state, '--access-log', 'off', ...extra(dir.path)]);
  const g: Gateway = { gw, admin: new URL(gw.adminUrl!).host, state, pids: new Set() };
  opened.push(g);
  const stop = gw.stop.bind(gw);
  gw.stop = async (ms?: number) => {
    const code = await stop(ms);
    dir.remove();
    return code;
  };
  await waitFor(async () => (await appOf(g, 'blog'))?.state === 'ready', 30_000, 'blog to be ready', ASK_GATEWAY_EVERY_MS);
  return g;
}

test.after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const g of opened) await g.gw.stop();
  await assertNoOrphans([...opened.flatMap((g) => [...g.pids]), ...children.map((c) => c.pid!).filter(Boolean)], 15_000);
  work.remove();
});

async function statusOf(g: Gateway): Promise<any> {
  const res = await request(`${g.gw.adminUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` }, headersTimeout: 5000, bodyTimeout: 5000 });
  assert.is(res.statusCode, 200, `GET /status: ${res.statusCode}`);
  const status = (await res.body.json()) as any;
  for (const app of status.apps) for (const w of app.workers) if (w.pid) g.pids.add(w.pid);
  return status;
}

async function appOf(g: Gateway, name: string): Promise<any> {
  return (await statusOf(g)).apps.find((a: any) => a.name === name);
}

async function workerPids(g: Gateway): Promise<number[]> {
  return (await appOf(g, 'blog')).workers.map((w: any) => w.pid).filter(Boolean).sort();
}

async function get(g: Gateway, path: string): Promise<{ version: string; pid: number }> {
  const res = await request(`${g.gw.url}${path}`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  assert.is(res.statusCode, 200, `GET ${path}`);
  return (await res.body.json()) as { version: string; pid: number };
}

/** The CLI, pointed at `g`'s admin listener with the token. */
function cli(g: Gateway, args: string[], ms = 30_000) {
  return runCli([...args, '--admin', g.admin, '--admin-token', tokenFile], { ms });
}

/**
 * The gateway the tests below share with blog in two versions, an app that writes nothing
 * (quiet) and a package that does not load (shop), opened by the first of them: none of them
 * needs it fresh, and each gateway costs a start and its workers. One worker an app: what they
 * read (a version's pids kept or replaced, an empty log) one shows, and each restart and
 * rollback starts them all again.
 */
let others: Promise<Gateway> | undefined;
function otherApps(): Promise<Gateway> {
  others ??= openGateway((apps) => {
    addApp(apps, 'blog.1', '1');
    addApp(apps, 'blog.2', '2');
    writePackage(apps, 'quiet', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n' });
    writePackage(apps, 'shop', { 'app.yaml': 'platform: python, wsgi\napp: app:application\nwsgii: 2\n', 'app.py': APP });
    // Not watched: a broken package's fix then says what loads it again (main's, watched, says it does so by itself).
  }, (dir) => [...oneWorkerEach(dir), '--watch-interval', '0']);
  return others;
}

/** GET /status on the admin socket `socket` (unix:PATH): a test's own wait, not the CLI's (a CLI run per poll costs a Node start). */
async function statusAt(socket: string): Promise<any> {
  const agent = new Agent({ connect: { socketPath: socket.slice('unix:'.length) } });
  try {
    const res = await request('http://localhost/status', { dispatcher: agent, headersTimeout: 5000, bodyTimeout: 5000 });
    return await res.body.json();
  } finally {
    await agent.destroy();
  }
}

const appLog = (g: Gateway) => join(g.state, 'apps', 'blog', 'log', 'app.log');

/** The CLI with its stdout a real pipe into `reader` (cat, head): nothing of ours in between. */
function pipeInto(reader: string[], args: string[]) {
  const out = { piped: '', stderr: '' };
  const sink = spawn(reader[0], reader.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  const child = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', sink.stdin!, 'pipe'] });
  for (const p of [sink, child]) p.on('error', (err) => (out.stderr += `could not start: ${err.message}`));
  // The CLI holds the pipe's write end now; ours would keep the reader from seeing its end.
  sink.stdin!.destroy();
  children.push(sink, child);
  sink.stdout!.on('data', (c) => (out.piped += c));
  child.stderr!.on('data', (c) => (out.stderr += c));
  const exited = (p: ChildProcess) =>
    new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
      else p.once('exit', (code, signal) => resolve({ code, signal }));
    });
  return { child, sink, out, cliExit: exited(child), sinkExit: exited(sink) };
}

let main: Gateway;

test.before(async () => {
  main = await openGateway((apps) => addApp(apps, 'blog'));
});

test('logs NAME --lines 5 prints the last five lines of the app\'s log', async () => {
  for (let i = 1; i <= 8; i++) await get(main, `/blog/say/line-${i}-of-eight`);
  await waitFor(() => readFileSync(appLog(main), 'utf8').includes('line-8-of-eight'), 10_000, 'the lines in app.log');
  const r = await cli(main, ['logs', 'blog', '--lines', '5']);
  assert.is(r.status, 0, r.stderr);
  const file = readFileSync(appLog(main), 'utf8').split('\n').filter(Boolean);
  assert.is(r.stdout, `${file.slice(-5).join('\n')}\n`);
  assert.match(r.stdout, /line-8-of-eight/);
  assert.match(r.stdout, /line-4-of-eight/);
  assert.not.match(r.stdout, /line-3-of-eight/);
  // The default is 100 lines: the import line is among them.
  const all = await cli(main, ['logs', 'blog']);
  assert.is(all.status, 0, all.stderr);
  assert.match(all.stdout, /imported version 1 pid \d+/);
  assert.match(all.stdout, /line-1-of-eight[\s\S]*line-8-of-eight/);
});

test('logs NAME -f through a pipe shows what the app writes after, as it comes; SIGTERM ends it with 0', async () => {
  const run = pipeInto(['cat'], ['logs', 'blog', '-f', '--lines', '2', '--admin', main.admin, '--admin-token', tokenFile]);
  await waitFor(() => run.out.piped.includes('\n'), 10_000, 'the last lines through the pipe');
  assert.not.match(run.out.piped, /after-follow/);
  await get(main, '/blog/say/after-follow-stdout');
  await get(main, '/blog/warn/after-follow-stderr');
  // Seen while the CLI still runs: written as it arrived, not when it exited.
  await waitFor(() => run.out.piped.includes('after-follow-stdout') && run.out.piped.includes('after-follow-stderr'), 10_000, 'the new lines through the pipe');
  assert.is(run.child.exitCode, null, 'logs -f still follows');
  run.child.kill('SIGTERM');
  assert.equal(await within(5000, 'logs -f to exit', run.cliExit), { code: 0, signal: null });
  assert.is(run.out.stderr, '');
  assert.equal(await within(5000, 'cat to see the end of the pipe', run.sinkExit), { code: 0, signal: null });
  await assertNoOrphans([run.child.pid!, run.sink.pid!]);
});

test('logs NAME -f across a log rotation (logrotate moves app.log, lines go on into the moved file, then SIGUSR1) and a restart of the app: every line once, in order', async () => {
  const run = pipeInto(['cat'], ['logs', 'blog', '-f', '--lines', '0', '--admin', main.admin, '--admin-token', tokenFile]);
  try {
    await waitFor(() => run.child.exitCode === null && existsSync(appLog(main)), 5000, 'logs -f to run');
    // A line written before the follower opened the log is not followed (--lines 0): lines that
    // are not part of the sequence until one comes through, however long a loaded machine takes.
    let warmups = 0;
    await waitFor(async () => run.out.piped.includes('warmup-') || (await get(main, `/blog/say/warmup-${warmups++}`), false), 20_000, () => `logs -f to follow the log: ${run.out.piped}${run.out.stderr}`);
    const said: string[] = [];
    const say = async (tag: string) => {
      said.push(tag);
      await get(main, `/blog/say/${tag}`);
    };
    await say('seq-1-before-rotation');
    await waitFor(() => run.out.piped.includes('seq-1-before-rotation'), 10_000, () => `the first line through the pipe: ${run.out.piped}${run.out.stderr}`);
    // logrotate's rename, then the app writes on into the moved file until SIGUSR1, past polls of the follower.
    renameSync(appLog(main), `${appLog(main)}.1`);
    await say('seq-2-into-the-moved-file');
    await new Promise((resolve) => setTimeout(resolve, 600));
    await say('seq-3-into-the-moved-file');
    main.gw.child.kill('SIGUSR1');
    await waitFor(() => existsSync(appLog(main)), 10_000, 'SIGUSR1 to open app.log again');
    await say('seq-4-after-reopen');
    await waitFor(() => run.out.piped.includes('seq-4-after-reopen'), 10_000, () => `the line after the reopen: ${run.out.piped}${run.out.stderr}`);
    // A restart of the app: its old workers go, new ones import (and print) into the same log.
    const restarted = await cli(main, ['restart', 'blog'], 60_000);
    assert.is(restarted.status, 0, restarted.stderr);
    await say('seq-5-after-restart');
    await waitFor(() => run.out.piped.includes('seq-5-after-restart'), 10_000, () => `the line after the restart: ${run.out.piped}${run.out.stderr}`);
    assert.is(run.child.exitCode, null, 'logs -f still follows');
    const seen = run.out.piped.split('\n').filter((l) => /^seq-\d/.test(l));
    assert.equal(seen, said, `each line once, in order:\n${run.out.piped}`);
    // The new workers' import lines came too, after the restart was asked.
    const lines = run.out.piped.split('\n');
    assert.ok(lines.findIndex((l) => /^imported version 1 pid \d+$/.test(l)) > lines.indexOf('seq-4-after-reopen'), run.out.piped);
    assert.is(run.out.stderr, '');
  } finally {
    run.child.kill('SIGTERM');
    await within(5000, 'logs -f to exit', run.cliExit);
  }
});

test('logs NAME -f into a reader that leaves (| head -n 1) exits 0 once it writes again', async () => {
  const run = pipeInto(['head', '-n', '1'], ['logs', 'blog', '-f', '--lines', '1', '--admin', main.admin, '--admin-token', tokenFile]);
  await within(10_000, 'head to take its line and leave', run.sinkExit);
  // The CLI learns the reader left on its next write (EPIPE): make the app write until it has.
  await waitFor(async () => {
    await get(main, '/blog/say/anyone-there');
    return run.child.exitCode !== null || run.child.signalCode !== null;
  }, 15_000, 'logs -f to notice the reader left', ASK_GATEWAY_EVERY_MS);
  assert.equal(await run.cliExit, { code: 0, signal: null });
  assert.not.match(run.out.stderr, /internal error|EPIPE/);
});

// An empty log printed nothing and exited 0: a user could not tell it from output still to come.
test('logs of an app whose log is empty: nothing on stdout, exit 0, and stderr says the log is empty, naming its file', async () => {
  const g = await otherApps();
  await waitFor(async () => (await appOf(g, 'quiet'))?.state === 'ready', 30_000, 'quiet to be ready', ASK_GATEWAY_EVERY_MS);
  const file = join(g.state, 'apps', 'quiet', 'log', 'app.log');
  assert.is(readFileSync(file, 'utf8'), '', 'the quiet app wrote nothing');
  const r = await cli(g, ['logs', 'quiet']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr, `apppkg-gateway: the log of quiet, ${file}, is empty: the app has written nothing to its stdout or stderr yet (\`apppkg-gateway logs quiet -f\` waits for what it writes)\n`);
  // Asked for no lines, it printed what was asked.
  const none = await cli(main, ['logs', 'blog', '--lines', '0']);
  assert.is(none.status, 0, none.stderr);
  assert.is(none.stdout + none.stderr, '');
});

// A log removed while the app ran (rm to free the disk) was said to be empty, "the app has
// written nothing yet", while the app wrote on into the removed file.
test('logs of an app whose log file was removed: stderr says it is not there, where the app\'s output goes and that SIGUSR1 opens it again; after SIGUSR1 it is an empty log again', async () => {
  const g = await otherApps();
  await waitFor(async () => (await appOf(g, 'quiet'))?.state === 'ready', 30_000, 'quiet to be ready', ASK_GATEWAY_EVERY_MS);
  const file = join(g.state, 'apps', 'quiet', 'log', 'app.log');
  rmSync(file);
  const r = await cli(g, ['logs', 'quiet']);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.is(r.stderr, `apppkg-gateway: the log of quiet, ${file}, is not there: it was removed, and what the app writes goes into the removed file until the gateway opens the log again: send it SIGUSR1 (systemctl kill -s USR1 apppkg-gateway), as after logrotate\n`);
  process.kill(g.gw.child.pid!, 'SIGUSR1');
  await waitFor(() => existsSync(file), 10_000, 'app.log made again at SIGUSR1');
  const again = await cli(g, ['logs', 'quiet']);
  assert.match(again.stderr, `the log of quiet, ${file}, is empty`);
});

test('logs of an app the gateway does not have: exit 1, naming the apps it has', async () => {
  const r = await cli(main, ['logs', 'nosuch']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `the gateway at ${main.admin} has no app named nosuch`);
  assert.match(r.stderr, /fix: its apps: blog/);
  const f = await cli(main, ['logs', 'nosuch', '-f']);
  assert.is(f.status, 1, f.stderr);
  assert.match(f.stderr, /no app named nosuch/);
});

test('logs, restart and rollback of a version\'s directory name (blog.2.0) or a near misspelling (blgo): exit 1, naming the app meant', async () => {
  for (const command of ['logs', 'restart', 'rollback']) {
    const r = await cli(main, [command, 'blog.2.0']);
    assert.is(r.status, 1, r.stderr);
    assert.match(r.stderr, `has no app named blog.2.0\n  fix: blog.2.0 is the directory of a version of blog: commands take the app's name, blog; its apps: blog`);
  }
  const near = await cli(main, ['logs', 'blgo']);
  assert.is(near.status, 1, near.stderr);
  assert.match(near.stderr, /fix: did you mean blog\? Its apps: blog/);
});

test('logs, restart and rollback of a package whose app.yaml does not load: exit 1, saying it is broken, why, and the fix', async () => {
  const g = await otherApps();
  for (const args of [['logs', 'shop'], ['logs', 'shop', '-f'], ['restart', 'shop'], ['rollback', 'shop']]) {
    const r = await cli(g, args);
    assert.is(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.not.match(r.stderr, /no app named/, args.join(' '));
    assert.match(r.stderr, /shop is not served: its package \S+shop is broken/, args.join(' '));
    assert.match(r.stderr, /wsgii: .*did you mean "wsgi"/, args.join(' '));
    assert.match(r.stderr, /fix: fix \S+shop\/app\.yaml as said above, then send the gateway SIGHUP \(`systemctl reload apppkg-gateway` under systemd\): the gateway does not watch its apps directory \(--watch-interval 0\), so it loads the package again only then; `apppkg-gateway status` shows it served\n/, args.join(' '));
  }
});

test('restart NAME: exit 0, new worker pids, and no request fails meanwhile', async () => {
  const before = await workerPids(main);
  assert.ok(before.length > 0, 'blog has workers');
  const loop = clientLoop(`${main.gw.url}/blog/`, 4, 120_000);
  await waitFor(() => loop.result.sent > 20, 10_000, 'the client loop to run');
  const r = await cli(main, ['restart', 'blog'], 120_000);
  const sent = loop.result.sent;
  await waitFor(() => loop.result.sent > sent + 20, 10_000, 'requests after the restart');
  const result = await loop.stop();
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^blog: .*restart/);
  const after = await workerPids(main);
  assert.ok(after.length > 0, 'blog has workers after the restart');
  assert.equal(after.filter((p) => before.includes(p)), [], `old ${before} new ${after}`);
  assert.is(result.failed, 0, result.failures.slice(0, 5).join('\n'));
  await assertNoOrphans(before, 15_000);
});

test('restart NAME whose serving version\'s files no longer start: exit 1, that version keeps serving, never the one below it', async () => {
  const g = await otherApps();
  const serving = await get(g, '/blog/');
  assert.is(serving.version, '2');
  const servingPids = await workerPids(g);
  const module = join(g.state, '..', 'apps', 'blog.2', 'app.py');
  const good = readFileSync(module, 'utf8');
  writeFileSync(module, `raise RuntimeError("broken in place")\n${good}`);
  const r = await cli(g, ['restart', 'blog'], 120_000);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /broken in place/);
  // The refusal's own fix, not only where to look.
  assert.match(r.stderr, /fix: fix the error in the traceback .*`apppkg-gateway check [^`]*blog\.2`/, r.stderr);
  // The same workers answer, not new ones.
  const after = await get(g, '/blog/');
  assert.is(after.version, '2');
  assert.equal(await workerPids(g), servingPids, 'the running workers of version 2 serve on');
  assert.ok(servingPids.includes(after.pid), `${after.pid} is one of ${servingPids}`);
  assert.not.match(g.gw.output(), /version 1 takes over/);
  // Mended: the next restart restarts version 2.
  writeFileSync(module, good);
  const again = await cli(g, ['restart', 'blog'], 120_000);
  assert.is(again.status, 0, again.stderr);
  const fresh = await get(g, '/blog/');
  assert.is(fresh.version, '2');
  assert.not.ok(servingPids.includes(fresh.pid), `${fresh.pid} is a new worker, not one of ${servingPids}`);
});

test('rollback NAME with one version: exit 1, says there is nothing to go back to', async () => {
  const r = await cli(main, ['rollback', 'blog']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /rollback of blog failed: \S/);
  assert.not.match(r.stderr, /failed: .*failed:/);
  assert.match(r.stderr, /fix: /);
  assert.is((await get(main, '/blog/')).version, '1');
});

// The last test on otherApps(): it leaves version 2 rolled back.
test('rollback NAME with versions 1 and 2: version 1 serves', async () => {
  const g = await otherApps();
  assert.is((await get(g, '/blog/')).version, '2');
  const r = await cli(g, ['rollback', 'blog'], 120_000);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^blog: /);
  await waitFor(async () => (await get(g, '/blog/')).version === '1', 5000, 'version 1 to serve', ASK_GATEWAY_EVERY_MS);
  assert.is((await appOf(g, 'blog')).version, '1');
  // Nothing below 1: a second rollback refuses, and 1 keeps serving.
  const again = await cli(g, ['rollback', 'blog']);
  assert.is(again.status, 1, again.stderr);
  assert.match(again.stderr, /rollback of blog failed: \S/);
  assert.not.match(again.stderr, /failed: .*failed:/);
  assert.is((await get(g, '/blog/')).version, '1');
  await g.gw.stop();
});

test('status --watch into a pipe: a table, then another after a change, no escape codes; SIGTERM ends it with 0', async () => {
  const child = spawn(BIN, ['status', '--watch', '--admin', main.admin, '--admin-token', tokenFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stamps = () => out.match(/^-- \d{4}-\d\d-\d\dT\S+$/gm)?.length ?? 0;
  await waitFor(() => stamps() >= 1 && /^blog\s+ready/m.test(out), 10_000, `the first table\n${out}${err}`);
  const first = out;
  assert.match(first, /^NAME\s+STATE\s+VERSION/m);
  const r = await cli(main, ['restart', 'blog'], 120_000);
  assert.is(r.status, 0, r.stderr);
  const pids = await workerPids(main);
  await waitFor(() => stamps() >= 2 && pids.every((p) => out.slice(first.length).includes(String(p))), 10_000, `a table with the new pids ${pids}\n${out}`);
  assert.not.match(out, /\x1b/);
  child.kill('SIGTERM');
  assert.equal(await within(5000, 'status --watch to exit', exit), { code: 0, signal: null });
  assert.is(err, '');
});

/**
 * `command` (a shell line) in a pseudo-terminal of util-linux script(1) (-e: its exit status is
 * the CLI's): what it draws, its exit, and the CLI's own pid (node .../main.js, below script and
 * its shell).
 */
function inTerminal(command: string) {
  const term = spawn('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(term);
  const drawn = { out: '' };
  term.on('error', (err) => (drawn.out += `could not start script(1): ${err.message}`));
  term.stdout!.on('data', (c) => (drawn.out += c));
  const exit = new Promise<number | null>((resolve) => term.once('exit', (code) => resolve(code)));
  const below = async (pid: number): Promise<number[]> => {
    const kids = await childPids(pid);
    return [...kids, ...(await Promise.all(kids.map(below))).flat()];
  };
  const cliPid = () => waitFor(async () => (await below(term.pid!)).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('main.js')), 5000, 'the CLI under script');
  return { term, drawn, exit, cliPid };
}

test('status --watch in a terminal redraws the table in place; SIGTERM ends it with 0', async () => {
  const { term, drawn, exit, cliPid: findCli } = inTerminal([BIN, 'status', '--watch', '--admin', main.admin, '--admin-token', tokenFile].join(' '));
  await waitFor(() => /\x1b\[2J\x1b\[Hgateway pid \d+[\s\S]*blog\s+ready/.test(drawn.out), 10_000, `the table drawn on a cleared screen\n${drawn.out}`);
  assert.not.match(drawn.out, /^-- \d{4}/m);
  const cliPid = await findCli();
  const before = (drawn.out.match(/\x1b\[2J\x1b\[H/g) ?? []).length;
  await get(main, '/blog/say/a-request-changes-the-table');
  await waitFor(() => (drawn.out.match(/\x1b\[2J\x1b\[H/g) ?? []).length > before, 10_000, 'a redraw after a request');
  process.kill(cliPid, 'SIGTERM');
  assert.is(await within(5000, 'status --watch in a terminal to exit', exit), 0);
  await assertNoOrphans([cliPid, term.pid!]);
});

// A table taller than the window scrolled at every redraw (the header and the apps' rows off the
// screen, only the last app's details left) and its long lines wrapped into the ones below.
test('status --watch in a terminal of 40 columns by 6 rows draws what fits: the header and the apps\' rows, each line cut to 40, then how many lines are left out; a window made larger is drawn again whole at once', async () => {
  const { term, drawn, exit, cliPid: findCli } = inTerminal(['stty cols 40 rows 6;', 'exec', BIN, 'status', '--watch', '--admin', main.admin, '--admin-token', tokenFile].join(' '));
  /** The screen as the last redraw left it: its lines, without script's carriage returns. */
  const screen = (): string[] => (drawn.out.split('\x1b[2J\x1b[H').at(-1) ?? '').replace(/\r/g, '').replace(/\n$/, '').split('\n');
  await waitFor(() => drawn.out.includes('\x1b[2J\x1b[H') && /more lines/.test(drawn.out), 10_000, `the table drawn, cut to the window\n${drawn.out}`);
  const small = screen();
  assert.ok(small.length <= 5, `at most the window's rows but the cursor's: ${JSON.stringify(small)}`);
  for (const line of small) assert.ok([...line].length <= 40, `a line wider than the window: ${JSON.stringify(line)}`);
  assert.match(small[0], /^gateway pid \d+/);
  assert.ok(small.some((l) => l.startsWith('NAME ')), `the table's header on the screen: ${JSON.stringify(small)}`);
  assert.ok(small.some((l) => /^blog\s+ready/.test(l)), `the app's row on the screen: ${JSON.stringify(small)}`);
  assert.match(small.at(-1)!, /^\.\.\. \d+ more lines/);
  // The CLI's terminal made larger from outside, as a window is: the kernel sends it SIGWINCH.
  const cliPid = await findCli();
  const tty = readlinkSync(`/proc/${cliPid}/fd/1`);
  const redraws = (drawn.out.match(/\x1b\[2J\x1b\[H/g) ?? []).length;
  const resized = spawn('stty', ['-F', tty, 'cols', '200', 'rows', '60'], { stdio: 'ignore' });
  assert.is(await new Promise((resolve) => resized.once('exit', resolve)), 0, `stty -F ${tty}`);
  // The redraw counted may be one a status change made just before the resize reached the CLI
  // (still 40 by 6), or the resize's own with its lines still on their way: the wait is for a
  // whole screen drawn at the new size, which never comes if the resize is not seen.
  const wholeAtNewSize = (): boolean => {
    const large = screen();
    return !/more lines/.test(large.join('\n')) && large.some((l) => /^blog\s+ready\s+.*\/blog$/.test(l));
  };
  await waitFor(() => (drawn.out.match(/\x1b\[2J\x1b\[H/g) ?? []).length > redraws && wholeAtNewSize(), 10_000, `a redraw at the resize, the table whole\n${JSON.stringify(screen())}`);
  process.kill(cliPid, 'SIGTERM');
  assert.is(await within(5000, 'status --watch in a terminal to exit', exit), 0);
  await assertNoOrphans([cliPid, term.pid!]);
});

test('status --watch --json: one JSON status per line', async () => {
  const child = spawn(BIN, ['status', '--watch', '--json', '--admin', main.admin, '--admin-token', tokenFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await waitFor(() => out.includes('\n'), 10_000, 'the first line');
  const first = JSON.parse(out.split('\n')[0]);
  assert.equal(first.apps.map((a: any) => a.name), ['blog']);
  child.kill('SIGINT');
  assert.is(await within(5000, 'status --watch --json to exit', exit), 0);
});

// status --watch exited at the first restart (an upgrade, `systemctl restart`), saying the stream
// ended, where a user who left it open expects to see the gateway that came back, as `tail -F`
// does. logs -f exited 1 (APPPKG_ADMIN_GONE) there, where `status --watch` waited for the new
// one: a user tailing an app through an upgrade lost the very lines of its start. Both watch the
// same gateway's restarts: each restart is a gateway start and its workers.
test('status --watch and logs -f across restarts of the gateway on the same admin socket: each says it lost it and waits; status --watch then shows the new one\'s apps; logs -f goes on from where it was left, says when the log is another file; SIGINT ends each with 0', async () => {
  const dir = tempDir('apppkg-watch-restart-');
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  const socket = `unix:${join(dir.path, 'admin.sock')}`;
  const log = join(state, 'apps', 'blog', 'log', 'app.log');
  addApp(apps, 'blog');
  // One worker an app: three gateway starts start them all, and one shows what the CLI does.
  const args = ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', socket, '--state-dir', state, '--access-log', 'off', ...oneWorkerEach(dir.path)];
  const pids = new Set<number>();
  /** Once `app` is ready (and blog): the status, each pid it names noted to be gone at the end. */
  const ready = async (gw: RunningGateway, app: string): Promise<any> => {
    const status = await waitFor(async () => {
      const s = await statusAt(socket);
      return [app, 'blog'].every((name) => s.apps?.find((a: any) => a.name === name)?.state === 'ready') ? s : undefined;
    }, 30_000, `${app} to be ready`, ASK_GATEWAY_EVERY_MS);
    for (const a of status.apps) for (const w of a.workers) if (w.pid) pids.add(w.pid);
    pids.add(gw.child.pid!);
    return status;
  };
  const blogWorkers = (status: any): number[] => status.apps.find((a: any) => a.name === 'blog').workers.map((w: any) => w.pid).filter(Boolean);
  const say = async (gw: RunningGateway, text: string) => assert.is((await request(`${gw.url}/blog/say/${text}`, { headersTimeout: 10_000 })).statusCode, 200);
  const count = (text: string, what: string) => text.split(what).length - 1;
  /** The CLI with `args`, its stdout and stderr kept as they come. */
  const watch = (cliArgs: string[]) => {
    const child = spawn(BIN, [...cliArgs, '--admin', socket], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const w = { child, out: '', err: '', exit: new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))) };
    child.stdout!.on('data', (c) => (w.out += c));
    child.stderr!.on('data', (c) => (w.err += c));
    return w;
  };
  // The gateway's stop ends the streams with the trailer saying so (stream-end.ts), not by cutting them.
  const lost = new RegExp(`^apppkg-gateway: lost the gateway at ${socket} \\(it stopped\\); waiting for it to come back, trying every 1 s \\(Ctrl-C stops\\)\\n$`);
  // Nobody at the address when they start is still the error it was, not a wait.
  for (const command of [['status', '--watch'], ['logs', 'blog', '-f']]) {
    const nobody = await runCli([...command, '--admin', socket], { ms: 15_000 });
    assert.is(nobody.status, 1, `${command.join(' ')}: ${nobody.stderr}`);
    assert.match(nobody.stderr, `no gateway answers on ${socket}`);
  }
  let gw = await startCli(args);
  let watcher: ReturnType<typeof watch> | undefined;
  let follower: ReturnType<typeof watch> | undefined;
  try {
    const first = blogWorkers(await ready(gw, 'blog'));
    watcher = watch(['status', '--watch']);
    follower = watch(['logs', 'blog', '-f']);
    const [w, f] = [watcher, follower];
    await say(gw, 'before-the-restart');
    await waitFor(() => /^blog\s+ready/m.test(w.out), 10_000, () => `the first table\n${w.out}${w.err}`);
    await waitFor(() => f.out.includes('before-the-restart\n') && first.every((p) => f.out.includes(`pid ${p}\n`)), 10_000, () => `the log so far\n${f.out}${f.err}`);
    await gw.stop();
    await waitFor(() => w.err.includes('lost the gateway') && f.err.includes('lost the gateway'), 10_000, () => `the lost lines\n${w.err}${f.err}`);
    // The reason is how the stream ended: closed, or the connection cut, as the stop went.
    assert.match(w.err, lost);
    assert.match(f.err, lost);
    // Tries that find no socket, or one nobody accepts on, are waited out, and said once.
    await new Promise((r) => setTimeout(r, 2500));
    assert.is(w.child.exitCode, null, `status --watch still waits\n${w.err}`);
    assert.is(w.err.split('\n').length, 2, w.err);
    assert.is(f.child.exitCode, null, `logs -f still waits\n${f.err}`);
    assert.is(f.err.split('\n').length, 2, f.err);

    // status --watch: the new gateway's table, with the app it did not have.
    addApp(apps, 'shop');
    const before = w.out.length;
    gw = await startCli(args);
    const back = await ready(gw, 'shop');
    const second = blogWorkers(back);
    await waitFor(() => /^shop\s+ready/m.test(w.out.slice(before)) && w.out.slice(before).includes(`gateway pid ${back.pid},`), 30_000, () => `the new gateway's table\n${w.out.slice(before)}${w.err}`);
    assert.match(w.err, new RegExp(`\\napppkg-gateway: the gateway at ${socket} is back \\(pid ${back.pid}, up since \\S+\\)\\n$`));
    w.child.kill('SIGINT');
    assert.equal(await within(5000, 'status --watch to exit', w.exit), { code: 0, signal: null });

    // logs -f: the same app.log: the new workers' first lines, written before or after it came back, and nothing twice.
    await waitFor(() => f.err.includes('is back'), 15_000, () => `the back line\n${f.err}`);
    assert.match(f.err, new RegExp(`\\napppkg-gateway: the gateway at ${socket} is back; following the log of blog from where it was left\\n$`));
    await say(gw, 'after-the-restart');
    await waitFor(() => f.out.includes('after-the-restart\n') && second.every((p) => f.out.includes(`pid ${p}\n`)), 10_000, () => `the new lines\n${f.out}${f.err}`);
    assert.is(count(f.out, 'before-the-restart\n'), 1, f.out);
    for (const p of first) assert.is(count(f.out, `imported version 1 pid ${p}\n`), 1, f.out);
    // What it printed is the file, once, in order (the gateway's own notes in it included).
    await waitFor(() => f.out === readFileSync(log, 'utf8'), 10_000, () => `the whole file printed once\n${f.out}\n--- the file:\n${readFileSync(log, 'utf8')}`);

    // Rotated while the gateway was away: the new file is followed, and stderr says so.
    await gw.stop();
    await waitFor(() => count(f.err, 'lost the gateway') === 2, 10_000, () => `the second lost line\n${f.err}`);
    renameSync(log, `${log}.1`);
    gw = await startCli(args);
    await ready(gw, 'blog');
    await waitFor(() => count(f.err, 'is back') === 2, 15_000, () => `the second back line\n${f.err}`);
    assert.match(f.err, new RegExp(`\\napppkg-gateway: the gateway at ${socket} is back; following the log of blog from its end: it is not the file followed before \\(rotated or started anew\\)\\n$`));
    await say(gw, 'in-the-new-file');
    await waitFor(() => f.out.includes('in-the-new-file\n'), 10_000, () => `the new file's line\n${f.out}${f.err}`);
    assert.is(count(f.out, 'before-the-restart\n'), 1, f.out);
    f.child.kill('SIGINT');
    assert.equal(await within(5000, 'logs -f to exit', f.exit), { code: 0, signal: null });
  } finally {
    await gw.stop();
    dir.remove();
  }
  await assertNoOrphans([...pids, watcher?.child.pid ?? 0, follower?.child.pid ?? 0].filter(Boolean), 15_000);
});

test('a gateway with --admin-token: without the token refused (exit 1, the fix named), with it served', async () => {
  const without = await runCli(['status', '--admin', main.admin], { ms: 15_000 });
  assert.is(without.status, 1, without.stderr);
  assert.match(without.stderr, `${main.admin} refused GET /status: HTTP 401`);
  assert.match(without.stderr, /fix: .*--admin-token/);
  const wrong = join(work.path, 'wrong-token');
  writeFileSync(wrong, 'not-the-token\n');
  const bad = await runCli(['restart', 'blog', '--admin', main.admin, '--admin-token', wrong], { ms: 15_000 });
  assert.is(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /refused POST \/apps\/blog\/restart: HTTP 401/);
  const logs = await runCli(['logs', 'blog', '--admin', main.admin], { ms: 15_000 });
  assert.is(logs.status, 1, logs.stderr);
  assert.match(logs.stderr, /refused GET \/apps\/blog\/log\?lines=100: HTTP 401/);
  // A refused token is not waited out as a gateway that went away would be.
  const watching = await runCli(['status', '--watch', '--admin', main.admin], { ms: 15_000 });
  assert.is(watching.status, 1, watching.stderr);
  assert.match(watching.stderr, `${main.admin} refused GET /events: HTTP 401`);
  const withToken = await cli(main, ['status']);
  assert.is(withToken.status, 0, withToken.stderr);
  assert.match(withToken.stdout, /^blog\s+ready/m);
  // An empty or missing token file is refused before anything is sent, with 1 as a missing
  // --environment file is (6916716): the command line is right, the file is not.
  const empty = join(work.path, 'empty-token');
  writeFileSync(empty, '  \n');
  const e = await runCli(['status', '--admin', main.admin, '--admin-token', empty], { ms: 15_000 });
  assert.is(e.status, 1, e.stderr);
  assert.match(e.stderr, `${empty}: cannot use it as the admin token: the file is empty`);
  const missing = await runCli(['status', '--admin', main.admin, '--admin-token', join(work.path, 'nothing')], { ms: 15_000 });
  assert.is(missing.status, 1, missing.stderr);
  assert.match(missing.stderr, `${join(work.path, 'nothing')}: cannot use it as the admin token: there is no such file (ENOENT)`);
  assert.match(missing.stderr, 'fix: give --admin-token a readable file holding the token');
  const directory = await runCli(['status', '--admin', main.admin, '--admin-token', work.path], { ms: 15_000 });
  assert.is(directory.status, 1, directory.stderr);
  assert.match(directory.stderr, `${work.path}: cannot use it as the admin token: it is a directory, not a file (EISDIR)`);
});

// A token past ASCII started the gateway, and then the CLI (undici sends it as Latin-1) and a
// browser's login got in while curl's Bearer (UTF-8) was refused 401 "needs its token".
test('an --admin-token file whose token is not printable ASCII (tökén, a control character) is refused at the gateway\'s start and by the CLI: exit 1, the character named and how to make one', async () => {
  const dir = tempDir('apppkg-admin-cmds-odd-token-');
  try {
    // No app: a gateway that started all the same (the defect) is killed with nothing of its own to leave.
    const apps = join(dir.path, 'apps');
    mkdirSync(apps);
    for (const [token, shown] of [['tökén', '"ö" (U+00F6)'], ['ab\u0001cd', '"\\u0001" (U+0001)']]) {
      const file = join(dir.path, 'token');
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      const reason = `${file}: cannot use it as the admin token: the token holds ${shown}, which is not printable ASCII`;
      const gw = await runCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', file, '--state-dir', join(dir.path, 'state'), '--access-log', 'off'], { ms: 15_000 });
      assert.is(gw.status, 1, gw.stderr);
      assert.match(gw.stderr, reason);
      assert.match(gw.stderr, `make one of printable ASCII (openssl rand -hex 32 > ${file})`);
      assert.not.match(gw.stdout + gw.stderr, /listening on/);
      const status = await runCli(['status', '--admin', main.admin, '--admin-token', file], { ms: 15_000 });
      assert.is(status.status, 1, status.stderr);
      assert.match(status.stderr, reason);
    }
  } finally {
    dir.remove();
  }
});

ifRoot('a root gateway without a token, an app run as nobody: logs and actions refused with the fix that gives it one, not a file it never had', async () => {
  const dir = tempDir('apppkg-admin-cmds-root-');
  const apps = join(dir.path, 'apps');
  addApp(apps, 'blog');
  // blog runs as nobody (a root gateway guards logs and actions only then): it enters the
  // directories, and runs a python3 outside /root.
  chmodSync(dir.path, 0o755);
  const chown = spawnSync('chown', ['-R', 'nobody:', join(apps, 'blog')], { encoding: 'utf8', timeout: 10_000 });
  assert.is(chown.status, 0, chown.stderr);
  const environment = join(dir.path, 'as-nobody.yaml');
  writeFileSync(environment, 'python: /usr/bin/python3\ndefaults:\n  workers: 1\n', { mode: 0o600 });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir.path, 'state'), '--access-log', 'off', '--environment', environment], { bin: installForOtherUsers().bin });
  const g: Gateway = { gw, admin: new URL(gw.adminUrl!).host, state: join(dir.path, 'state'), pids: new Set() };
  opened.push(g);
  try {
    await waitFor(async () => (await appOf(g, 'blog'))?.state === 'ready', 30_000, 'blog to be ready', ASK_GATEWAY_EVERY_MS);
    // Root's way first (this gateway's admin.key, which a command given another state root, or
    // none, does not read); then how to make the token, and the command run again with it: the README's steps.
    const fix = (command: string) =>
      `  fix: run the command as root on this host: it reads ${g.state}/admin.key, which only root may read (give it the gateway's --state-dir when the gateway has one); ` +
      'or make a token, `(umask 077 && openssl rand -hex 32 > FILE)`, start the gateway with --admin-token FILE and pass the same --admin-token FILE here, ' +
      `or start it with --admin unix:/path (a 0600 socket: no token needed) and pass that --admin here; this command with it: \`apppkg-gateway ${command} --admin-token FILE\`\n`;
    // Said again with every option given, in its order: one without its --admin or --state-dir
    // would ask another gateway, or none.
    for (const args of [['restart', 'blog', '--admin', g.admin], ['logs', '--state-dir', join(dir.path, 'another-state'), 'blog', '-n', '5', '--admin', g.admin], ['rollback', '--admin', g.admin, 'blog']]) {
      const r = await runCli(args, { ms: 15_000 });
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, /: HTTP 403: /);
      assert.ok(r.stderr.endsWith(fix(args.join(' '))), r.stderr);
    }
  } finally {
    await gw.stop();
    dir.remove();
  }
});

ifRootWithOpenssl('the README\'s steps for a root gateway: the token made as it says, then logs and restart given it', async () => {
  const dir = tempDir('apppkg-admin-cmds-readme-');
  const apps = join(dir.path, 'apps');
  const state = join(dir.path, 'state');
  const token = join(dir.path, 'admin-token');
  addApp(apps, 'blog');
  const made = spawnSync('sh', ['-c', '(umask 077 && openssl rand -hex 32 > "$1")', 'sh', token], { timeout: 10_000 });
  assert.is(made.status, 0, String(made.stderr));
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', token, '--state-dir', state, '--access-log', 'off', ...oneWorkerEach(dir.path)]);
  opened.push({ gw, admin: new URL(gw.adminUrl!).host, state, pids: new Set() });
  try {
    // No warning that others may read the file: umask 077 made it 0600.
    assert.not.match(gw.output(), /can be read by other users/);
    await waitFor(async () => (await runCli(['status', '--json', '--state-dir', state, '--admin-token', token], { ms: 15_000 })).stdout.includes('"ready"'), 30_000, 'blog to be ready', ASK_GATEWAY_EVERY_MS);
    // Given no --admin, as the README's line: the state root's admin.address finds the gateway.
    const logs = await runCli(['logs', 'blog', '--state-dir', state, '--admin-token', token], { ms: 15_000 });
    assert.is(logs.status, 0, logs.stderr);
    const restart = await runCli(['restart', 'blog', '--state-dir', state, '--admin-token', token], { ms: 60_000 });
    assert.is(restart.status, 0, restart.stderr);
  } finally {
    await gw.stop();
    dir.remove();
  }
});

// The last test on main: it leaves main's token file empty. main has had no SIGHUP before.
test('SIGHUP reads --admin-token FILE again: the new token is in force, the old refused; a broken file keeps the old', async () => {
  const gw = main.gw;
  const file = tokenFile;
  const statusWith = async (token: string) => (await request(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${token}` }, headersTimeout: 5000 })).statusCode;
  assert.not.match(gw.output(), 'SIGHUP');
  assert.is(await statusWith(TOKEN), 200);
  writeFileSync(file, 'second-token-2222\n');
  gw.child.kill('SIGHUP');
  await waitFor(async () => (await statusWith('second-token-2222')) === 200, 10_000, 'the new token to be in force', ASK_GATEWAY_EVERY_MS);
  assert.is(await statusWith(TOKEN), 401);
  assert.match(gw.output(), 'SIGHUP: the admin token was read again');
  // The same token again is no rotation, and not said to be one.
  const rotations = () => gw.output().split('the admin token was read again').length - 1;
  gw.child.kill('SIGHUP');
  await waitFor(() => gw.output().split('SIGHUP: rescanning').length - 1 === 2, 10_000, 'the second SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  assert.is(rotations(), 1, gw.output());
  // An empty file is no token: the one in force stays, and the log says why.
  writeFileSync(file, '\n');
  gw.child.kill('SIGHUP');
  await waitFor(() => gw.output().includes('the old admin token stays in force'), 10_000, 'the refusal to be logged');
  assert.match(gw.output(), `${file}: cannot use it as the admin token: the file is empty`);
  assert.is(await statusWith('second-token-2222'), 200);
  const res = await request(`${gw.adminUrl}/status`, { headers: { authorization: 'Bearer second-token-2222' } });
  for (const app of ((await res.body.json()) as any).apps) for (const w of app.workers) if (w.pid) main.pids.add(w.pid);
});

test.run();
