// SPEC 4's stop (SIGTERM): every answer given during it says Connection: close, since the
// connection closes after it. Requests that waited for an app still starting, or for an idle
// app's wake, were answered as the stop began saying keep-alive (then the connection closed),
// and node:http's answer to a request in flight did the same; whichever reader read them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import getPort from 'get-port';
import { acceptedBy, BIN, guardsEnded, orAfter, tempDir, waitFor } from '../helpers/process.js';

const test = suite('answers during a stop');
const work = tempDir('apppkg-stop-answers-');
const children = new Set<ChildProcess>();
test.after(() => {
  for (const child of children) child.kill('SIGKILL');
  work.remove();
});

type Case = 'starting' | 'waking' | 'in flight';

/**
 * The files the app and the test wait on, in place of sleeps that a loaded host outlasted: with
 * GATE there, the import says so in IMPORTING and waits for RELEASE; with `hold`, each request
 * says so in ARRIVED and waits for RELEASE (60 s at most each).
 */
interface Gates { gate: string; importing: string; arrived: string; release: string }

/** An app whose import and (with `hold`) requests wait as `gates` says. */
function slowApp(apps: string, gates: Gates, hold: boolean): void {
  mkdirSync(join(apps, 'slow'), { recursive: true });
  writeFileSync(join(apps, 'slow', 'app.yaml'), 'platform: python, wsgi\napp: main:application\n');
  writeFileSync(
    join(apps, 'slow', 'main.py'),
    [
      'import os, time',
      'def wait_for(path):',
      '    until = time.monotonic() + 60',
      '    while not os.path.exists(path) and time.monotonic() < until:',
      '        time.sleep(0.02)',
      `if os.path.exists(${JSON.stringify(gates.gate)}):`,
      `    open(${JSON.stringify(gates.importing)}, "w").close()`,
      `    wait_for(${JSON.stringify(gates.release)})`,
      'def application(environ, start_response):',
      ...(hold ? [`    open(${JSON.stringify(gates.arrived)}, "w").close()`, `    wait_for(${JSON.stringify(gates.release)})`] : []),
      '    start_response("200 OK", [("Content-Length", "4")])',
      '    return [b"slow"]',
      '',
    ].join('\n'),
  );
}

/** The raw answer to one request sent on a connection of its own, once the gateway closed it; the connection's own port, once it is connected. */
function rawRequest(port: number): { answer: Promise<string>; localPort: Promise<number> } {
  let connected!: (port: number) => void;
  const localPort = new Promise<number>((resolve) => (connected = resolve));
  const answer = new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      connected(socket.localPort!);
      socket.write('GET /slow/ HTTP/1.1\r\nHost: example.test\r\n\r\n');
    });
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (raw += c));
    socket.on('error', (err) => reject(new Error(`${(err as NodeJS.ErrnoException).code ?? err.message} after ${JSON.stringify(raw)}`)));
    socket.on('close', () => resolve(raw));
    socket.setTimeout(30_000, () => socket.destroy(new Error('no close within 30 s')));
  });
  return { answer, localPort };
}

/** A gateway under `reader`'s lane with `args`, its stdout and stderr gathered; the suite's end kills it if a test did not. */
function startGateway(reader: 'lean' | 'node', args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, APPPKG_LEAN_LANE: reader === 'lean' ? '1' : '0' } });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (c) => (output += c));
  child.stderr!.on('data', (c) => (output += c));
  return { child, output: () => output };
}

async function answerDuringStop(reader: 'lean' | 'node', which: Case): Promise<{ answer: string; output: string; code: number | null }> {
  const dir = join(work.path, `${reader}-${which.replace(' ', '-')}`);
  const apps = join(dir, 'apps');
  const state = join(dir, 'state');
  mkdirSync(dir, { recursive: true });
  const gates: Gates = { gate: join(dir, 'gate'), importing: join(dir, 'importing'), arrived: join(dir, 'arrived'), release: join(dir, 'release') };
  slowApp(apps, gates, which === 'in flight');
  // The first import waits when starting; when waking, the one the request makes (the gate is
  // put once the app is idle).
  if (which === 'starting') writeFileSync(gates.gate, '');
  writeFileSync(join(dir, 'environment.yaml'), `apps:\n  slow:\n    workers: 1\n${which === 'waking' ? '    idle_timeout: 1\n' : ''}`);
  const port = await getPort();
  const admin = await getPort();
  const { child, output } = startGateway(reader, ['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--state-dir', state, '--environment', join(dir, 'environment.yaml'), '--settle', '0', '--access-log', 'off']);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const appState = async (): Promise<string | undefined> => {
    const res = await fetch(`http://127.0.0.1:${admin}/status`).catch(() => null);
    const status = res?.ok ? ((await res.json()) as { apps: Array<{ name: string; state: string }> }) : null;
    return status?.apps.find((a) => a.name === 'slow')?.state;
  };
  try {
    if (which === 'starting') {
      await waitFor(() => existsSync(gates.importing), 30_000, () => `slow to be importing:\n${output()}`);
      await waitFor(async () => (await appState()) === 'starting', 20_000, () => `slow starting in /status:\n${output()}`);
    } else {
      await waitFor(async () => (which === 'waking' ? (await appState()) === 'idle' : (await appState()) === 'ready'), 30_000, () => `slow ${which === 'waking' ? 'idle' : 'ready'}:\n${output()}`);
      if (which === 'waking') writeFileSync(gates.gate, '');
    }
    const { answer, localPort } = rawRequest(port);
    // It waits (for the start, the wake, or its answer) when the stop begins: in the app, or in
    // the import it woke; for the start, nothing tells, but the gateway has its connection (its
    // request, sent with the connect, is read at once).
    if (which === 'in flight') await waitFor(() => existsSync(gates.arrived), 20_000, () => `the request to reach the app:\n${output()}`);
    else if (which === 'waking') await waitFor(() => existsSync(gates.importing), 20_000, () => `the request to wake the app:\n${output()}`);
    else await waitFor(async () => acceptedBy(child.pid!, await localPort), 20_000, () => `the gateway to accept the request's connection:\n${output()}`);
    child.kill('SIGTERM');
    // Let go once the stop has begun: answered before, it would not be an answer during it.
    await waitFor(() => /SIGTERM: stopping/.test(output()), 10_000, () => `the stop to begin:\n${output()}`);
    writeFileSync(gates.release, '');
    const raw = await answer;
    const code = await orAfter(20_000, () => 'late' as const, exited);
    return { answer: raw, output: output(), code: code === 'late' ? null : code };
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
    await guardsEnded(child.pid);
  }
}

for (const reader of ['lean', 'node'] as const) {
  for (const which of ['starting', 'waking', 'in flight'] as const) {
    test(`${reader}: a request ${which === 'in flight' ? 'in flight' : `waiting for an app ${which}`} when SIGTERM comes is answered with Connection: close`, async () => {
      const { answer, output, code } = await answerDuringStop(reader, which);
      assert.is(code, 0, output);
      const head = answer.slice(0, answer.indexOf('\r\n\r\n') + 2);
      assert.match(head, /^HTTP\/1\.1 (200|503) /, JSON.stringify(answer));
      if (which !== 'starting') assert.match(head, /^HTTP\/1\.1 200 /, JSON.stringify(answer));
      assert.match(head, /\r\nConnection: close\r\n/i, JSON.stringify(head));
      assert.not.match(head, /keep-alive/i, JSON.stringify(head));
    });
  }
}

/**
 * A client whose connection the gateway accepted before SIGTERM, and whose request comes a
 * moment after it (a loop of connects around a stop meets this): the request is answered, with
 * Connection: close, not met with a reset. (One the kernel completed and nobody accepted yet is
 * reset by the kernel when the listener closes: not the gateway's to answer.)
 */
async function requestJustAfterStop(reader: 'lean' | 'node'): Promise<{ answer: string; output: string; code: number | null }> {
  const dir = join(work.path, `${reader}-accepted`);
  const apps = join(dir, 'apps');
  slowApp(apps, { gate: join(dir, 'gate'), importing: join(dir, 'importing'), arrived: join(dir, 'arrived'), release: join(dir, 'release') }, false);
  const port = await getPort();
  const { child, output } = startGateway(reader, ['--apps', apps, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--settle', '0', '--access-log', 'off']);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /listening on/.test(output()), 30_000, () => `the gateway to listen:\n${output()}`);
    const socket = net.connect(port, '127.0.0.1');
    let raw = '';
    socket.setEncoding('latin1');
    socket.on('data', (c: string) => (raw += c));
    const ended = new Promise<string>((resolve) => {
      socket.on('error', (err) => resolve(`${raw}[${(err as NodeJS.ErrnoException).code ?? err.message}]`));
      socket.on('close', () => resolve(raw));
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    // Accepted (a loaded host's gateway accepts late: not yet accepted, the connection is the
    // kernel's to reset as the listener closes); the gateway has read nothing of it.
    await waitFor(() => acceptedBy(child.pid!, socket.localPort!), 10_000, () => `the gateway to accept the connection:\n${output()}`);
    child.kill('SIGTERM');
    await waitFor(() => /SIGTERM: stopping/.test(output()), 10_000, 'the stop to begin');
    socket.write('GET /slow/ HTTP/1.1\r\nHost: example.test\r\n\r\n');
    const answer = await orAfter(20_000, () => `${raw}[no close within 20 s]`, ended);
    // Its stop ends too, before the SIGKILL below: killed midway, it left its workers to their
    // guards, which outlived the test.
    const code = await orAfter(20_000, () => 'late' as const, exited);
    return { answer, output: output(), code: code === 'late' ? null : code };
  } finally {
    child.kill('SIGKILL');
    children.delete(child);
    await guardsEnded(child.pid);
  }
}

for (const reader of ['lean', 'node'] as const) {
  test(`${reader}: a connection accepted before SIGTERM whose request comes just after it is answered with Connection: close, not reset`, async () => {
    const { answer, output, code } = await requestJustAfterStop(reader);
    assert.is(code, 0, output);
    assert.match(answer, /^HTTP\/1\.1 (200|503) /, `${JSON.stringify(answer)}\n${output}`);
    assert.match(answer.slice(0, answer.indexOf('\r\n\r\n') + 2), /\r\nConnection: close\r\n/i, JSON.stringify(answer));
  });
}

test.run();
