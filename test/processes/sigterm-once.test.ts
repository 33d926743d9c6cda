// What the gateway ends gets one SIGTERM from it (SPEC 4): a second can turn a graceful exit
// into a hasty one (uvicorn and celery take it as "now"). A `processes:` entry or a hook that
// exited by itself had its group SIGTERMed and then every process carrying the tree's mark, the
// group's members included, so each of them got two; and what `run` passed a SIGTERM to got
// another when the command had exited.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, BIN, isAlive, orAfter, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('one SIGTERM for each process the gateway ends');
const work = tempDir('apppkg-sigterm-once-');
/** Every pid a test read, killed after it whatever happened. */
const seen: number[] = [];
test.after(() => {
  for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  work.remove();
});

/**
 * A Python process that notes `started PID` once its handler is in place, `term PID` at each
 * SIGTERM, and exits a second after the first: long enough for a second one to come.
 */
const COUNTER = join(work.path, 'counter.py');
writeFileSync(
  COUNTER,
  `import os, signal, sys, time
notes = sys.argv[1]
def note(line):
    with open(notes, "a") as f:
        f.write("%s %d\\n" % (line, os.getpid()))
until = []
def term(*_):
    note("term")
    until.append(time.monotonic() + 1)
signal.signal(signal.SIGTERM, term)
note("started")
while not until or time.monotonic() < until[0]:
    time.sleep(0.02)
`,
);

/** Each counter that started, with how many SIGTERMs it noted. */
function termsIn(notes: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const [, what, pid] of (existsSync(notes) ? readFileSync(notes, 'utf8') : '').matchAll(/^(started|term) (\d+)$/gm)) {
    if (what === 'started') seen.push(Number(pid));
    counts.set(Number(pid), (counts.get(Number(pid)) ?? 0) + (what === 'term' ? 1 : 0));
  }
  return counts;
}

const MAIN = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';

test('a processes: entry and a hook that exit by themselves: what they leave in their group gets one SIGTERM', async () => {
  const dir = join(work.path, 'exits');
  const apps = join(dir, 'apps');
  const processNotes = join(dir, 'process-notes');
  const hookNotes = join(dir, 'hook-notes');
  // The counter stays in the leader's group, carrying the tree's mark; the leader exits first,
  // once the counter's handler is in place (a loaded machine can take longer than any sleep).
  const leaves = (notes: string) => `python3 ${COUNTER} ${notes} & until grep -qx "started $!" ${notes} 2>/dev/null; do sleep 0.05; done; exit 0`;
  writePackage(apps, 'process', { 'app.yaml': `platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: ${leaves(processNotes)}\n`, 'main.py': MAIN });
  writePackage(apps, 'hook', { 'app.yaml': `platform: python, wsgi\napp: main:application\ncommands:\n  install: ${leaves(hookNotes)}\n`, 'main.py': MAIN });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  try {
    // The first of each has had its SIGTERM and exited (the entry is restarted meanwhile).
    const ended = (notes: string) => [...termsIn(notes)].some(([pid, terms]) => terms > 0 && !isAlive(pid));
    await waitFor(() => ended(processNotes) && ended(hookNotes), 30_000, () => `the counters to end\n${gw.output()}`);
    assert.is(await gw.stop(), 0, gw.output());
    for (const notes of [processNotes, hookNotes]) {
      const counts = termsIn(notes);
      await assertNoOrphans([...counts.keys()], 5000);
      for (const [pid, terms] of counts) assert.is(terms, 1, `SIGTERMs counter ${pid} got:\n${readFileSync(notes, 'utf8')}`);
    }
  } finally {
    await gw.stop();
  }
});

test("a processes: entry that starts a child while handling the gateway's SIGTERM, and exits: the child, born after the group's SIGTERM, gets one of its own", async () => {
  const dir = join(work.path, 'late');
  const apps = join(dir, 'apps');
  const notes = join(dir, 'notes');
  // The child is started in the handler, in the leader's group, and left behind running.
  const script = `trap 'python3 ${COUNTER} ${notes} & until grep -qx "started $!" ${notes} 2>/dev/null; do sleep 0.05; done; exit 0' TERM\necho up > ${join(dir, 'up')}\nwhile :; do sleep 0.1; done\n`;
  writePackage(apps, 'late', { 'app.yaml': 'platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: sh late.sh\n', 'late.sh': script, 'main.py': MAIN });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  try {
    await waitFor(() => existsSync(join(dir, 'up')), 30_000, () => `the entry to start\n${gw.output()}`);
    assert.is(await gw.stop(), 0, gw.output());
    const counts = termsIn(notes);
    assert.is(counts.size, 1, gw.output());
    await assertNoOrphans([...counts.keys()], 5000);
    // SIGKILL alone, 3 s after the entry exited, it noted none.
    for (const [pid, terms] of counts) assert.is(terms, 1, `SIGTERMs the late child ${pid} got:\n${readFileSync(notes, 'utf8')}`);
  } finally {
    await gw.stop();
  }
});

test('run: the SIGTERM passed on to the command is the one its processes get, none again once it has exited', async () => {
  const notes = join(work.path, 'run-notes');
  const app = writePackage(join(work.path, 'run'), 'app', { 'app.yaml': 'platform: python, wsgi\napp: main:application\n', 'main.py': MAIN });
  const cli = spawn(BIN, ['run', app, '--state-dir', join(work.path, 'run', 'state'), '--', 'sh', '-c', `python3 ${COUNTER} ${notes} & wait`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  cli.stdout!.on('data', (chunk) => (output += chunk));
  cli.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => termsIn(notes).size === 1, 20_000, () => `the counter to start\n${output}`);
    cli.kill('SIGTERM');
    const status = await orAfter(15_000, () => 'still running after 15 s', exited);
    assert.is(status, 143, `${status}\n${output}`);
    const counts = termsIn(notes);
    await assertNoOrphans([...counts.keys()], 5000);
    assert.equal([...counts.values()], [1], readFileSync(notes, 'utf8'));
  } finally {
    cli.kill('SIGKILL');
  }
});

test.run();
