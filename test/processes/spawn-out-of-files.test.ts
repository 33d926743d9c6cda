// A spawn refused for want of file descriptors leaves none behind (src/spawn-process.ts). Node
// returns on EMFILE before it wraps the pipes libuv opened for the child, so a spawn that met
// the limit with room for its socketpairs but not for libuv's exec pipe kept one socket per
// pipe for good. A Node process under a limit of 64 spawns with 0 to 16 descriptors free, and
// counts what is left after each.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, TS_REGISTER } from '../helpers/process.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('spawn out of files');
const ifPrlimit = runIf(test, hasProgram('prlimit'), 'needs prlimit (util-linux)');

/** Spawns with `free` descriptors left for 0..16, by `how`; prints the descriptors left each time and how many spawns failed. */
const SCRIPT = (how: string) => `
import { readdirSync, openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { spawnProcess } from ${JSON.stringify(`${ROOT}/src/spawn-process.ts`)};
const start = ${how};
const open = () => readdirSync('/proc/self/fd').length - 1;
let left = 0, failed = 0;
for (let free = 0; free <= 16; free++) {
  const before = open();
  // Filled until the limit refuses, then \`free\` given back: a count of /proc/self/fd would
  // need a descriptor of its own at the limit, and counts descriptors inherited above it.
  const held = [];
  for (;;) {
    try { held.push(openSync('/dev/null', 'r')); } catch (error) { if (error.code === 'EMFILE') break; throw error; }
  }
  for (const fd of held.splice(held.length - free, free)) closeSync(fd);
  const child = start('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
  const ended = new Promise((resolve) => { child.once('error', resolve); child.once('close', resolve); });
  for (const fd of held) closeSync(fd);
  if (child.pid === undefined) failed++;
  await ended;
  await new Promise((resolve) => setTimeout(resolve, 20));
  left += open() - before;
}
console.log(JSON.stringify({ left, failed }));
`;

function run(how: string): { left: number; failed: number } {
  const out = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--import', TS_REGISTER, '--input-type=module', '-e', SCRIPT(how)], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.is(out.status, 0, out.stderr);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

ifPrlimit('a spawn refused with EMFILE leaves no descriptor open, where Node\'s own leaves its pipes', () => {
  const node = run('spawn');
  // The case itself: Node's spawn keeps some (if it ever stops, the window is gone, and so is the need).
  assert.ok(node.left > 0, `Node's spawn left ${node.left} after ${node.failed} refused spawns`);
  const ours = run('spawnProcess');
  assert.ok(ours.failed > 0, 'some spawns were refused');
  assert.is(ours.left, 0, `left after ${ours.failed} refused spawns`);
});

test.run();
