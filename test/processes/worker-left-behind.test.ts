// What a worker leaves behind when it exits (a recycle, a crash, the gateway's stop) gets
// SIGTERM and a moment before SIGKILL, as systemd and `docker stop` give a unit's processes:
// it used to be SIGKILLed at once, so an app's helper or multiprocessing pool never ran its
// cleanup (shared memory, semaphores, temporary files stayed), and the worker, stopped by the
// shim's own SIGTERM handling, never stopped it either.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor } from '../helpers/process.js';

const test = suite('what a worker leaves behind');
const work = tempDir('apppkg-worker-left-');
test.after(() => work.remove());

/** A helper that notes its pid, and on SIGTERM notes that it got it and exits; or ignores it (`deaf`). */
const HELPER = `
import os, signal, sys, time
notes = sys.argv[1]
def note(line):
    with open(notes, "a") as f:
        f.write(line + "\\n")
if sys.argv[2] == "deaf":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: (note("terminated %d" % os.getpid()), os._exit(0)))
note("started %s %d" % (sys.argv[2], os.getpid()))
while True:
    time.sleep(60)
`;

function helperApp(apps: string, notes: string): void {
  writePackage(apps, 'helpers', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'helper.py': HELPER,
    'main.py': `import os, subprocess, sys
HERE = os.path.dirname(os.path.abspath(__file__))
for kind in ("polite", "deaf"):
    subprocess.Popen([sys.executable, os.path.join(HERE, "helper.py"), ${JSON.stringify(notes)}, kind])

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
`,
  });
}

function notesOf(file: string): { started: Map<number, string>; terminated: Set<number> } {
  const started = new Map<number, string>();
  const terminated = new Set<number>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // not yet written
  }
  for (const line of text.split('\n')) {
    const [what, a, b] = line.split(' ');
    if (what === 'started') started.set(Number(b), a);
    if (what === 'terminated') terminated.add(Number(a));
  }
  return { started, terminated };
}

test('a recycled worker\'s helpers get SIGTERM, one that ignores it is killed after the grace; the gateway\'s stop likewise', async () => {
  const apps = join(work.path, 'apps');
  const notes = join(work.path, 'notes');
  helperApp(apps, notes);
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'apps:\n  helpers:\n    workers: 1\n    max_requests: 1\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  const all: number[] = [];
  try {
    const first = await waitFor(() => {
      const { started } = notesOf(notes);
      return started.size >= 2 ? [...started.keys()] : undefined;
    }, 20_000, 'the first worker\'s helpers');
    all.push(...first);
    const res = await request(`${gw.url}/helpers/`);
    assert.is(res.statusCode, 200);
    await res.body.text();
    // max_requests: 1, so that worker recycles; its successor starts two helpers of its own.
    await waitFor(() => notesOf(notes).started.size >= 4, 20_000, () => `the next worker's helpers\n${gw.output()}`);
    const kindOf = (pid: number) => notesOf(notes).started.get(pid);
    const polite = first.find((pid) => kindOf(pid) === 'polite')!;
    const deaf = first.find((pid) => kindOf(pid) === 'deaf')!;
    await waitFor(() => notesOf(notes).terminated.has(polite), 10_000, () => `SIGTERM for the recycled worker's helper\n${readFileSync(notes, 'utf8')}`);
    await assertNoOrphans([polite, deaf], 10_000);

    const second = [...notesOf(notes).started.keys()].filter((pid) => !first.includes(pid));
    all.push(...second);
    assert.is(await gw.stop(), 0, gw.output());
    const politeSecond = second.find((pid) => kindOf(pid) === 'polite')!;
    assert.ok(notesOf(notes).terminated.has(politeSecond), `the stopped gateway's worker's helper got no SIGTERM\n${readFileSync(notes, 'utf8')}`);
    await assertNoOrphans(second, 5_000);
  } finally {
    await gw.stop();
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone, as it should be
      }
    }
  }
});

test.run();
