// A stop reads the tree it stops from /proc synchronously, just before its SIGTERM
// (process-group.ts `stopping`, `killTree`). It read every process's /proc/PID/stat to find
// the tree: 65-110 ms with 2,000 processes on the machine, the event loop blocked meanwhile
// for every app of the gateway (SPEC 5.6: hundreds of apps). Now it walks down the tree
// (process-tree.ts), and reads only what belongs to it. The reads are counted, not timed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { procScans } from '../../src/supervisor/marked-processes.js';
import { GuardedTree } from '../../src/supervisor/process-group.js';
import { descendantsOf } from '../../src/supervisor/process-tree.js';
import { assertNoOrphans, isAlive, waitFor } from '../helpers/process.js';

const test = suite('the process tree a stop reads');
const seen: number[] = [];
test.after(() => {
  for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
});

/** The /proc/PID/... files `fn` reads with readFileSync or readdirSync, by PID ('self' aside). */
function procFilesRead(fn: () => void): string[] {
  const { readFileSync, readdirSync } = fs;
  const read: string[] = [];
  const note = (path: unknown) => typeof path === 'string' && /^\/proc\/\d+\//.test(path) && read.push(path);
  fs.readFileSync = ((path: fs.PathOrFileDescriptor, ...rest: never[]) => (note(path), readFileSync(path, ...rest))) as typeof fs.readFileSync;
  fs.readdirSync = ((path: fs.PathLike, ...rest: never[]) => (note(path), readdirSync(path, ...rest))) as typeof fs.readdirSync;
  syncBuiltinESMExports();
  try {
    fn();
  } finally {
    fs.readFileSync = readFileSync;
    fs.readdirSync = readdirSync;
    syncBuiltinESMExports();
  }
  return read;
}

test('a stop reads its own tree from /proc, not every process of the host, and ends what of it neither its group nor its mark reaches', async () => {
  const tree = new GuardedTree();
  // A child in the group, and one in a session of its own with its environment cleared, with a child of its own.
  const leader = spawn('sh', ['-c', 'sleep 60 & setsid env -i sh -c "sleep 60 & wait" & wait'], { env: tree.env(process.env), stdio: 'ignore', detached: true });
  tree.watch(leader.pid);
  const exited = new Promise((resolve) => leader.once('exit', resolve));
  const pid = leader.pid!;
  seen.push(pid);
  const descendants = await waitFor(() => {
    const found = descendantsOf(pid);
    return found !== null && found.length === 3 && found.every((one) => one.start !== '') ? found : undefined;
  }, 10_000, () => `the tree under ${pid}: ${JSON.stringify(descendantsOf(pid))}`);
  seen.push(...descendants.map((one) => one.pid));
  const [sleeper, outside, outsideChild] = [
    descendants.find((one) => one.pgid === pid && one.pid !== pid)!,
    descendants.find((one) => one.pgid !== pid && one.pgid === one.pid)!,
    descendants.find((one) => one.pgid !== pid && one.pgid !== one.pid)!,
  ];
  assert.ok(sleeper && outside && outsideChild, JSON.stringify(descendants));
  // Nearest first: the session's leader before its child.
  assert.ok(descendants.indexOf(outside) < descendants.indexOf(outsideChild), JSON.stringify(descendants));

  const read = procFilesRead(() => tree.stopping(pid));
  const ours = new Set([pid, ...descendants.map((one) => one.pid)]);
  const others = read.filter((path) => !ours.has(Number(path.split('/')[2])));
  assert.equal(others, [], `files of processes outside the tree read: ${others.slice(0, 5).join(' ')} ... (${others.length} of ${read.length})`);

  tree.stop(pid);
  await exited;
  await tree.end(pid, 3000);
  await assertNoOrphans([...ours], 5000);
});

test('the end of a tree waits for what it left through the grace by their pids, not a scan of every environ of the host each 100 ms', async () => {
  const tree = new GuardedTree();
  // A marked child, deaf to SIGTERM, that exits by itself 1.5 s after its leader has.
  const leader = spawn('sh', ['-c', 'python3 -c "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(1.5)" & read _'], { env: tree.env(process.env), stdio: ['pipe', 'pipe', 'ignore'], detached: true });
  tree.watch(leader.pid);
  const pid = leader.pid!;
  seen.push(pid);
  // Its first line: the handler is in place.
  await new Promise((resolve) => leader.stdout!.once('data', resolve));
  const child = descendantsOf(pid)!.map((one) => one.pid);
  seen.push(...child);
  const exited = new Promise((resolve) => leader.once('exit', resolve));
  leader.stdin!.end();
  await exited;
  const scans = procScans();
  const started = Date.now();
  await tree.end(pid, 5000);
  const took = Date.now() - started;
  assert.ok(took >= 1000 && took < 4000, `the end waited ${took} ms for a child that exits 1.5 s after its SIGTERM`);
  await assertNoOrphans(child, 1000);
  // One scan to send the SIGTERM, one to see that nothing carries the mark any more.
  assert.ok(procScans() - scans <= 3, `${procScans() - scans} scans of /proc during the grace`);
});

test.run();
