// An app's workers write into one log. A line printed in two writes (an unbuffered print of
// several parts, the worker's default) must reach the log whole even while another worker
// prints at the same moment, in the file and in status's log tail; a line no newline follows
// is written after a moment (or at its worker's exit) and ended there with a mark, not lost and
// never spliced onto by the next line, another worker's. A read of a pipe may end inside a
// UTF-8 character: the log has the character, whichever process wrote it and whenever.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, clientLoop, writePackage } from '../helpers/apps-dir.js';
import { request } from 'undici';
import { statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('log lines');

test('two workers printing lines in pieces at once: every line whole in app.log and in the tail', async () => {
  const apps = tempDir('apppkg-log-lines-apps-');
  const state = tempDir('apppkg-log-lines-state-');
  addPackage(apps.path, 'split-lines', 'split');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  split:\n    mount: /\n    workers: 2\n');
  // The log tail is shown only to a client with the admin token.
  const tokenFile = join(state.path, 'admin-token');
  writeFileSync(tokenFile, 'log-lines-token\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', tokenFile, '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
  const status = async (): Promise<any> =>
    (await request(`${gw.adminUrl}/status`, { headers: { authorization: 'Bearer log-lines-token' } })).body.json();
  let pids: number[] = [];
  try {
    pids = statusPids(await status());
    const logFile = join(state.path, 'apps', 'split', 'log', 'app.log');
    const log = await waitFor(() => {
      const text = readFileSync(logFile, 'utf8');
      return (text.match(/no newline: /g)?.length ?? 0) === 2 ? text : null;
    }, 10_000, 'both workers\' lines, the unended ones included');
    const says = log.split('\n').filter((line) => line.includes(' says '));
    assert.is(says.length, 2, log);
    for (const line of says) assert.match(line, /^worker \d+ says hello$/, log);
    assert.is(log.match(/^then a prompt with no newline:  \[no newline\]$/gm)?.length, 2, log);
    const tail = (await status()).apps.find((a: any) => a.name === 'split').log.lines.map((l: any) => l.text);
    assert.is(tail.filter((t: string) => /^worker \d+ says hello$/.test(t)).length, 2, JSON.stringify(tail));
  } finally {
    await gw.stop();
    await assertNoOrphans(pids);
    state.remove();
    apps.remove();
  }
});

test('a line a worker leaves unended (it lives on, or exits) is ended in app.log: the next line, any worker\'s, starts its own', async () => {
  const apps = tempDir('apppkg-log-unended-apps-');
  const state = tempDir('apppkg-log-unended-state-');
  addPackage(apps.path, 'unended-lines', 'unended');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  unended:\n    mount: /\n    workers: 2\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
  const logFile = join(state.path, 'apps', 'unended', 'log', 'app.log');
  const logWhen = (what: string, ok: (text: string) => boolean) => waitFor(() => {
    const text = readFileSync(logFile, 'utf8');
    return ok(text) ? text : null;
  }, 10_000, what);
  const imported = (text: string) => text.match(/^imported pid \d+$/gm)?.length ?? 0;
  let pids: number[] = [];
  try {
    pids = statusPids(await (await request(`${gw.adminUrl}/status`)).body.json());
    await logWhen('both workers imported', (text) => imported(text) === 2);
    // A worker that lives on: its piece is ended by the mark once it has waited for its newline.
    assert.is(await (await request(`${gw.url}/unended`)).body.text(), 'ok');
    await logWhen('the unended piece, marked', (text) => /^unended from pid \d+ \[no newline\]$/m.test(text));
    assert.is(await (await request(`${gw.url}/line`)).body.text(), 'ok');
    let log = await logWhen('the next line', (text) => text.includes('line from pid'));
    assert.match(log, /^line from pid \d+$/m);
    // A worker that exits right after its piece: the piece is ended at its exit, and its
    // replacement's first line is a line of its own.
    const cut = await request(`${gw.url}/unended-exit`).then((r) => r.body.text().then(() => r.statusCode), () => 'cut');
    assert.ok(cut === 502 || cut === 'cut', String(cut));
    log = await logWhen('the replacement imported', (text) => imported(text) === 3);
    assert.is(log.match(/^unended from pid \d+ \[no newline\]$/gm)?.length, 2, log);
    for (const line of log.split('\n').filter((l) => /pid \d+/.test(l))) {
      assert.match(line, /^(imported pid \d+|unended from pid \d+ \[no newline\]|line from pid \d+)$/, log);
    }
    pids = [...new Set([...pids, ...statusPids(await (await request(`${gw.adminUrl}/status`)).body.json())])];
  } finally {
    await gw.stop();
    await assertNoOrphans(pids);
    state.remove();
    apps.remove();
  }
});

test('a character split across two writes reaches the log whole: loading, serving, a process', async () => {
  const apps = tempDir('apppkg-log-utf8-apps-');
  const state = tempDir('apppkg-log-utf8-state-');
  addPackage(apps.path, 'split-utf8', 'utf8');
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, 'apps:\n  utf8:\n    mount: /\n    workers: 1\n');
  const gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off']);
  let pids: number[] = [];
  try {
    pids = statusPids(await (await request(`${gw.adminUrl}/status`)).body.json());
    const res = await request(`${gw.url}/`);
    assert.is(await res.body.text(), 'ok');
    const logFile = join(state.path, 'apps', 'utf8', 'log', 'app.log');
    const log = await waitFor(() => {
      const text = readFileSync(logFile, 'utf8');
      return ['while loading', 'while serving', 'from a process'].every((w) => text.includes(w)) ? text : null;
    }, 10_000, 'the three split lines');
    assert.not.ok(log.includes('\ufffd'), log);
    assert.match(log, /^café while loading$/m);
    assert.match(log, /^café while serving$/m);
    assert.match(log, /^\[printer\] café from a process$/m);
  } finally {
    await gw.stop();
    await assertNoOrphans(pids);
    state.remove();
    apps.remove();
  }
});

test('a process that prints one endless line: app.log gets it in marked pieces as it comes, and the gateway serves another app meanwhile', async () => {
  const work = tempDir('apppkg-log-endless-');
  const apps = join(work.path, 'apps');
  writePackage(apps, 'steady', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': 'import json\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [json.dumps({"version": 1}).encode()]\n',
  });
  writePackage(apps, 'endless', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\nprocesses:\n  spinner:\n    command: exec python3 spinner.py\n',
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    // A progress bar that only ever writes \r, at full speed.
    'spinner.py': 'import sys\nwhile True:\n    sys.stdout.write("\\r" + "y" * 65535)\n    sys.stdout.flush()\n',
  });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--settle', '0']);
  const loop = clientLoop(`${gw.url}/steady/`, 2);
  try {
    // Held whole until its newline, it was copied again at each read: the gateway spent its time
    // there, the other app's requests timed out and its workers were killed as hung.
    const logFile = join(work.path, 'state', 'apps', 'endless', 'log', 'app.log');
    const log = await waitFor(() => {
      const text = readFileSync(logFile, 'utf8');
      return (text.match(/ \[no newline\]\n/g)?.length ?? 0) >= 3 ? text : null;
    }, 20_000, 'pieces of the line in app.log while the process runs');
    const pieces = log.split('\n').filter((line) => line.startsWith('[spinner] '));
    assert.ok(pieces.length >= 3, log.slice(0, 300));
    // At most 64 KiB held, and the read that passed it.
    for (const piece of pieces) assert.ok(piece.length <= 192 * 1024, `a piece of ${piece.length} bytes`);
    const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
    const steady = status.apps.find((a: any) => a.name === 'steady');
    assert.ok(steady.workers.every((w: any) => w.restarts === undefined || w.restarts === 0), JSON.stringify(steady.workers));
    assert.not.match(gw.output(), /hung/);
  } finally {
    const result = await loop.stop();
    const pids = statusPids((await (await request(`${gw.adminUrl}/status`)).body.json()) as any);
    await gw.stop();
    await assertNoOrphans(pids);
    work.remove();
    assert.ok(result.sent > 0);
    assert.is(result.failed, 0, result.failures.slice(0, 3).join('\n'));
  }
});

test.run();
