// CPU and RSS of real processes as status shows them (src/admin/process-sampler.ts): the first
// reading of a pid, as a lone `apppkg-gateway status` makes, must already tell a busy process
// from an idle one.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { ProcessSampler } from '../../src/admin/process-sampler.js';
import type { GatewayStatus } from '../../src/admin/status-types.js';

const test = suite('process sampler');

const children: ChildProcess[] = [];
test.after.each(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function node(code: string): number {
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  children.push(child);
  return child.pid!;
}

/** A status holding the pids as one app's workers, as the gateway's has them. */
function statusOf(pids: number[]): GatewayStatus {
  const workers = pids.map((pid) => ({ pid, rssBytes: null, cpuPercent: null }));
  return { apps: [{ workers, versions: [], processes: [] }] } as unknown as GatewayStatus;
}

test('the first sample of a spinning process shows its CPU, and of an idle one little', async () => {
  const busy = node('for (;;) {}');
  const idle = node('setTimeout(() => {}, 60_000)');
  // Both well past their start (busy for either) before they are read.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const sampler = new ProcessSampler();
  await sampler.refresh([busy, idle]);
  const [b, i] = sampler.fill(statusOf([busy, idle])).apps[0].workers;
  // Relative, not a share of a core: with the suite's four lanes on two cores a spinning process
  // got 15% of one. The idle one's figure is its start alone, diluted over a second.
  assert.ok(b.cpuPercent !== null && i.cpuPercent !== null, `busy: ${b.cpuPercent}%, idle: ${i.cpuPercent}%`);
  assert.ok(b.cpuPercent > 2 * i.cpuPercent && b.cpuPercent > 5, `busy: ${b.cpuPercent}%, idle: ${i.cpuPercent}%`);
  assert.ok(b.rssBytes !== null && b.rssBytes > 0);
});

/** The /proc files of `pids` this process holds open. */
function procFilesOpen(pids: number[]): string[] {
  const held: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // readdir's own descriptor, closed by now
    }
    if (pids.some((pid) => target.startsWith(`/proc/${pid}/`))) held.push(target);
  }
  return held;
}

test('a sample holds no descriptor once read: with many processes sampled, a tight open-files limit is not used up', async () => {
  const pids = [node('setTimeout(() => {}, 60_000)'), node('setTimeout(() => {}, 60_000)'), node('setTimeout(() => {}, 60_000)')];
  await new Promise((resolve) => setTimeout(resolve, 200));
  const sampler = new ProcessSampler();
  await sampler.refresh(pids);
  assert.ok(sampler.fill(statusOf(pids)).apps[0].workers.every((w) => w.rssBytes !== null && w.rssBytes > 0), 'every one was read');
  assert.equal(procFilesOpen(pids), []);
});

test.run();
