// A worker's interpreter starts with glibc's malloc told to keep up to 4 MiB of its heap's top
// (MALLOC_TRIM_THRESHOLD_, src/supervisor/worker.ts): read at exec, then taken out of
// os.environ by the shim, so the app and what it starts never see it; an app whose settings
// tune malloc keeps its own value, in its environment as it set it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { get, startLinkHarness, type LinkHarness } from '../helpers/link-harness.js';
import { assertNoOrphans } from '../helpers/process.js';

const test = suite('worker malloc tuning');
const NAME = 'MALLOC_TRIM_THRESHOLD_';
let harness: LinkHarness | null = null;

test.after.each(async () => {
  const pids = harness?.workers.map((w) => w.pid).filter((p): p is number => p !== undefined && p !== null) ?? [];
  await harness?.stop();
  harness = null;
  await assertNoOrphans(pids);
});

/** The variables the process was started with (/proc keeps the exec's block; unsetenv does not rewrite it). */
function execEnv(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
  return new Map(entries.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
}

test('the interpreter starts with the tuning, and the app does not see it', async () => {
  harness = await startLinkHarnessWithout(NAME);
  const pid = harness.workers[0].pid!;
  assert.is(execEnv(pid).get(NAME), String(4 * 1024 * 1024));
  const seen = await get(`${harness.url}/osenv?${NAME}`);
  assert.is(seen.status, 200, seen.body);
  assert.is(JSON.parse(seen.body), null);
});

test("an app's own setting wins and stays in its environment", async () => {
  harness = await startLinkHarness('faults', { env: { [NAME]: '262144' } });
  const pid = harness.workers[0].pid!;
  assert.is(execEnv(pid).get(NAME), '262144');
  const seen = await get(`${harness.url}/osenv?${NAME}`);
  assert.is(JSON.parse(seen.body), '262144');
});

/** The harness passes the test runner's environment; the first test needs it without `name`. */
async function startLinkHarnessWithout(name: string): Promise<LinkHarness> {
  const saved = process.env[name];
  delete process.env[name];
  try {
    return await startLinkHarness('faults');
  } finally {
    if (saved !== undefined) process.env[name] = saved;
  }
}

test.run();
