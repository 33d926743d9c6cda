import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppLog } from '../../src/log/app-log.js';
import { noteRefusalInLog } from '../../src/supervisor/refusal.js';
import { fill } from '../helpers/full-disk.js';
import { tempDir } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';

const ifRoot = runIf(test, isRoot, 'needs root to make a directory another user\'s');
const ifNotRoot = runIf(test, !isRoot, 'root writes through any directory mode (the /dev/full case covers the error path)');
const ifDevFull = runIf(test, existsSync('/dev/full'), 'no /dev/full on this host');
const ifTmpfs = runIf(test, isRoot && hasProgram('mount'), 'needs root to mount a small tmpfs that fills up');

function finish(log: AppLog): Promise<void> {
  return new Promise((resolve) => log.end(resolve));
}

test('a FIFO the app put under its log\'s name is not written into, nor waited on: said through onError, and the log goes on once a file is back', async () => {
  // Its open waited for a reader, and held the gateway (every app) until one came: an app that
  // made one and exited hung the gateway at its next start.
  const dir = tempDir('apppkg-applog-');
  try {
    const file = join(dir.path, 'app.log');
    execFileSync('mkfifo', [file]);
    const errors: Error[] = [];
    const nobodyReads = new AppLog(dir.path, { onError: (e) => errors.push(e) });
    nobodyReads.write('lost\n');
    assert.is(errors.length, 1);
    assert.match(errors[0].message, 'not a file: remove it');
    await new Promise<void>((resolve) => nobodyReads.end(resolve));
    // A refusal's lines, written into the app's log by the supervisor, skip it too.
    noteRefusalInLog(file, 'refused', 'fix it');
    // One with a reader: opened before, and written into.
    const reader = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const withReader: Error[] = [];
      const log = new AppLog(dir.path, { onError: (e) => withReader.push(e) });
      log.write('into the fifo?\n');
      assert.is(withReader.length, 1, 'a FIFO with a reader is refused too');
      assert.match(withReader[0].message, 'a FIFO, not a file');
      rmSync(file);
      assert.ok(log.reopen(), 'reopen with a file possible again');
      log.write('written\n');
      await new Promise<void>((resolve) => log.end(resolve));
      assert.is(readFileSync(file, 'utf8'), 'written\n');
    } finally {
      closeSync(reader);
    }
  } finally {
    dir.remove();
  }
});

test('the app log rotates by size and keeps a bounded number of files', async () => {
  const dir = tempDir('apppkg-applog-');
  try {
    const log = new AppLog(dir.path, { maxBytes: 1000, keep: 2 });
    for (let i = 0; i < 50; i++) log.write(`line ${i} ${'x'.repeat(90)}\n`);
    await finish(log);
    assert.ok(statSync(join(dir.path, 'app.log')).size <= 1000);
    assert.ok(existsSync(join(dir.path, 'app.log.1')));
    assert.ok(existsSync(join(dir.path, 'app.log.2')));
    assert.not.ok(existsSync(join(dir.path, 'app.log.3')), 'only `keep` old files');
    assert.match(readFileSync(join(dir.path, 'app.log'), 'utf8'), /line 49 /);
  } finally {
    dir.remove();
  }
});

test('two logs of one app.log (a deploy\'s two versions, a hook beside the running app): one rotation for both, each writing on into the new app.log, no file past the size', async () => {
  const dir = tempDir('apppkg-applog-two-');
  try {
    const old = new AppLog(dir.path, { maxBytes: 1000, keep: 3 });
    const next = new AppLog(dir.path, { maxBytes: 1000, keep: 3 });
    const line = (who: string, i: number) => `${who}-${String(i).padStart(2, '0')} ${'x'.repeat(80)}\n`;
    for (let i = 0; i < 30; i++) {
      old.write(line('old', i));
      next.write(line('new', i));
    }
    await Promise.all([finish(old), finish(next)]);
    const files = ['app.log', 'app.log.1', 'app.log.2', 'app.log.3'].map((f) => join(dir.path, f));
    for (const file of files) assert.ok(statSync(file).size <= 1000, `${file}: ${statSync(file).size} bytes`);
    // Oldest file first, each writer's lines in the order written, every one since the oldest kept.
    const kept = ['app.log.3', 'app.log.2', 'app.log.1', 'app.log'].map((f) => readFileSync(join(dir.path, f), 'utf8')).join('');
    for (const who of ['old', 'new']) {
      const seen = [...kept.matchAll(new RegExp(`^${who}-(\\d+) `, 'gm'))].map((m) => Number(m[1]));
      assert.equal(seen, Array.from({ length: seen.length }, (_, i) => 30 - seen.length + i), `${who}: ${seen.join(',')}`);
    }
    // Both write into app.log now: the one that did not rotate is not left in app.log.1.
    assert.match(readFileSync(join(dir.path, 'app.log'), 'utf8'), /^old-29 /m);
    assert.match(readFileSync(join(dir.path, 'app.log'), 'utf8'), /^new-29 /m);
  } finally {
    dir.remove();
  }
});

ifNotRoot('a log directory that cannot be written is reported once and never throws', async () => {
  const dir = tempDir('apppkg-applog-ro-');
  try {
    chmodSync(dir.path, 0o500);
    const errors: Error[] = [];
    const log = new AppLog(join(dir.path, 'sub'), { onError: (e) => errors.push(e) });
    log.write('lost\n');
    await finish(log);
    assert.is(errors.length, 1);
  } finally {
    chmodSync(dir.path, 0o700);
    dir.remove();
  }
});

ifDevFull('a full disk (/dev/full) is reported once and the writer keeps going', async () => {
  const errors: Error[] = [];
  // AppLog opens <dir>/app.log; /dev/full stands in through a directory holding a link to it.
  const dir = tempDir('apppkg-applog-full-');
  try {
    const { symlinkSync } = await import('node:fs');
    symlinkSync('/dev/full', join(dir.path, 'app.log'));
    const log = new AppLog(dir.path, { onError: (e) => errors.push(e) });
    for (let i = 0; i < 5; i++) log.write(`line ${i}\n`);
    await finish(log);
    assert.is(errors.length, 1);
    assert.match(String((errors[0] as NodeJS.ErrnoException).code), /ENOSPC/);
  } finally {
    dir.remove();
  }
});

ifTmpfs('a disk that fills, frees and fills again: each outage said once, the log written again when there is room, and that said', async () => {
  const dir = tempDir('apppkg-applog-tmpfs-');
  const logDir = join(dir.path, 'log');
  mkdirSync(logDir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', logDir], { timeout: 10_000 });
  try {
    const said: string[] = [];
    const log = new AppLog(logDir, {
      onError: (e, retrying) => said.push(`${(e as NodeJS.ErrnoException).code} retrying=${retrying}`),
      onRecover: (dropped) => said.push(`again after ${dropped} bytes`),
    });
    // Lines longer than a page: a shorter one could still go into the last page's room.
    const line = (what: string) => `${what} ${'x'.repeat(8192)}\n`;
    log.write(line('before'));
    fill(join(logDir, 'filler'));
    for (let i = 0; i < 10; i++) log.write(line(`lost ${i}`));
    assert.equal(said, ['ENOSPC retrying=true'], 'said once for ten lines');
    rmSync(join(logDir, 'filler'));
    log.write(line('after'));
    assert.equal(said, ['ENOSPC retrying=true', `again after ${10 * line('lost 0').length} bytes`]);
    fill(join(logDir, 'filler'));
    log.write(line('lost again'));
    assert.equal(said.length, 3, `a second outage is said again: ${said.join('; ')}`);
    assert.is(said[2], 'ENOSPC retrying=true');
    rmSync(join(logDir, 'filler'));
    await finish(log);
    const kept = readFileSync(join(logDir, 'app.log'), 'utf8');
    assert.match(kept, /^before x+\nafter x+\n$/);
  } finally {
    execFileSync('umount', ['-l', logDir], { timeout: 10_000 });
    dir.remove();
  }
});


test('a log whose directory is removed while the app runs is made again at the next rotation point, and says so there', async () => {
  const dir = tempDir('apppkg-applog-gone-');
  try {
    const logDir = join(dir.path, 'log');
    const errors: Error[] = [];
    const log = new AppLog(logDir, { maxBytes: 1000, keep: 2, onError: (e) => errors.push(e) });
    log.write('before\n');
    rmSync(logDir, { recursive: true });
    for (let i = 0; i < 12; i++) log.write(`line ${i} ${'x'.repeat(90)}\n`);
    await finish(log);
    const text = readFileSync(join(logDir, 'app.log'), 'utf8');
    assert.match(text, /\[apppkg-gateway\] .*was removed while the app ran: made again/);
    assert.match(text, /line 11 /);
    assert.equal(errors, [], 'nothing failed');
    assert.is(statSync(logDir).mode & 0o777 & ~0o022, 0o750, 'made as state-root.ts makes it, no wider');
  } finally {
    dir.remove();
  }
});

test('reopen (SIGUSR1) opens app.log again under its name after logrotate moved it away, and makes a removed directory again', async () => {
  const dir = tempDir('apppkg-applog-reopen-');
  try {
    const logDir = join(dir.path, 'log');
    const log = new AppLog(logDir);
    log.write('first\n');
    renameSync(join(logDir, 'app.log'), join(logDir, 'app.log-20261204'));
    assert.ok(log.reopen());
    log.write('second\n');
    rmSync(logDir, { recursive: true });
    assert.ok(log.reopen());
    log.write('third\n');
    await finish(log);
    assert.is(readFileSync(join(logDir, 'app.log'), 'utf8'), 'third\n');
  } finally {
    dir.remove();
  }
});

ifRoot('a log directory made again under a root gateway is the app user\'s, 0750, as its start made it', async () => {
  const dir = tempDir('apppkg-applog-owner-');
  try {
    const logDir = join(dir.path, 'log');
    const log = new AppLog(logDir, { othersDir: true, owner: { uid: 65534, gid: 65534 } });
    rmSync(logDir, { recursive: true });
    assert.ok(log.reopen());
    log.write('again\n');
    await finish(log);
    const made = statSync(logDir);
    assert.is(made.uid, 65534, 'the app can write its own files into APPPKG_LOG_DIR again');
    assert.is(made.gid, 65534);
    assert.is((made.mode & 0o777).toString(8), '750');
  } finally {
    dir.remove();
  }
});

test('a log that cannot be opened again at a rotation is said once, and tried again at the next rotation point', async () => {
  const dir = tempDir('apppkg-applog-retry-');
  try {
    const logDir = join(dir.path, 'log');
    const errors: Array<[Error, boolean]> = [];
    const recovered: number[] = [];
    const log = new AppLog(logDir, { maxBytes: 1000, keep: 2, onError: (e, retrying) => errors.push([e, retrying]), onRecover: (n) => recovered.push(n) });
    log.write('before\n');
    // A file where the directory was: no user, root included, can make it again.
    rmSync(logDir, { recursive: true });
    writeFileSync(logDir, '');
    for (let i = 0; i < 25; i++) log.write(`lost ${i} ${'x'.repeat(90)}\n`);
    assert.is(errors.length, 1, 'said once');
    assert.ok(errors[0][1], 'as tried again');
    rmSync(logDir);
    for (let i = 0; i < 12; i++) log.write(`kept ${i} ${'x'.repeat(90)}\n`);
    await finish(log);
    assert.is(recovered.length, 1);
    assert.match(readFileSync(join(logDir, 'app.log'), 'utf8'), /kept 11 /);
  } finally {
    dir.remove();
  }
});
test.run();
