// A gateway SIGKILLed (a crash, an OOM kill) leaves its trees to their guards: SIGTERM at once,
// SIGKILL 5 s later (process-group.ts guardGroup). A gateway started meanwhile, as systemd's
// Restart= does within a second, reaped the dead run's cgroups at its start (cgroup-tree.ts
// reapDeadRuns) with cgroup.kill: the app's processes were SIGKILLed in the middle of their
// SIGTERM handlers, their shutdown hooks cut. It now lets the guards' grace run, and kills what
// is left after it.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GUARD_GRACE_MS, ownCgroup } from '../../src/supervisor/cgroup-tree.js';
import { writePackage } from '../helpers/apps-dir.js';
import { BIN, isAlive, orAfter, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('a dead gateway\'s trees keep their grace when the next one starts');
const held = runIf(test, ownCgroup().dir !== null, `process trees are not held by cgroups here: ${ownCgroup().why}`);
const work = tempDir('apppkg-dead-run-grace-');
test.after(() => work.remove());

/**
 * A `processes:` command whose SIGTERM handler notes it began, waits for the test's word (GO,
 * written once the next gateway listens) and notes that it ended: a handler cut by a SIGKILL
 * never writes DONE. Bounded by the guard's SIGKILL.
 */
const TERM_PY = `import os, signal, sys, time
here = sys.argv[1]
def on_term(signum, frame):
    open(os.path.join(here, "term"), "w").close()
    while not os.path.exists(os.path.join(here, "go")):
        time.sleep(0.02)
    open(os.path.join(here, "done"), "w").close()
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(os.path.join(here, "pid.tmp"), "w") as f:
    f.write(str(os.getpid()))
os.rename(os.path.join(here, "pid.tmp"), os.path.join(here, "pid"))
while True:
    time.sleep(1)
`;

/** A gateway serving `appsDir` in the cgroup `parent`, where no other test's gateway judges its runs. */
function gatewayIn(parent: string, appsDir: string, dir: string): Promise<RunningGateway> {
  mkdirSync(dir, { recursive: true });
  const env = join(dir, 'environment.yaml');
  writeFileSync(env, 'python: /usr/bin/python3\ndefaults:\n  workers: 1\n', { mode: 0o600 });
  const bin = join(dir, 'in-cgroup');
  writeFileSync(bin, `#!/bin/sh\necho $$ > ${join(parent, 'cgroup.procs')} && exec ${BIN} "$@"\n`, { mode: 0o755 });
  return startCli(['--apps', appsDir, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0', '--watch-interval', '0'], { ms: 60_000, bin });
}

held('R3.7 a gateway started within a SIGKILLed one\'s grace lets its app\'s SIGTERM handler finish, then nothing of the dead run is left', async () => {
  const marks = join(work.path, 'marks');
  mkdirSync(marks);
  const apps = join(work.path, 'apps');
  writePackage(apps, 'term', {
    'app.yaml': `platform: python, wsgi\napp: main:application\nprocesses:\n  side:\n    command: exec /usr/bin/python3 term.py ${marks}\n`,
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'term.py': TERM_PY,
  });
  const noApps = join(work.path, 'no-apps');
  mkdirSync(noApps);
  const parent = join(ownCgroup().dir!, `apppkg-test-dead-run-grace.${process.pid}`);
  mkdirSync(parent);
  let first: RunningGateway | null = null;
  let second: RunningGateway | null = null;
  let pid = 0;
  try {
    first = await gatewayIn(parent, apps, join(work.path, 'first'));
    await waitFor(() => existsSync(join(marks, 'pid')), 30_000, () => `the command to run\n${first!.output()}`);
    pid = Number(readFileSync(join(marks, 'pid'), 'utf8'));
    const run = /process trees: held by the cgroup (\S+)/.exec(first.output())?.[1];
    const died = new Promise((resolve) => first!.child.once('exit', resolve));
    first.child.kill('SIGKILL');
    await orAfter(10_000, () => 'the first gateway to die', died);
    // Its guard's SIGTERM reached the command: its handler waits for the word.
    await waitFor(() => existsSync(join(marks, 'term')), GUARD_GRACE_MS, 'the command\'s SIGTERM handler to begin');
    // An empty apps directory: the next gateway listens, and reaps, as soon as it can.
    second = await gatewayIn(parent, noApps, join(work.path, 'second'));
    assert.ok(isAlive(pid), `the command, in its handler, outlives the next gateway's start\n${second.output()}`);
    writeFileSync(join(marks, 'go'), '');
    await waitFor(() => existsSync(join(marks, 'done')), GUARD_GRACE_MS, () => `the handler to finish\n${second!.output()}`);
    await waitFor(() => !isAlive(pid), GUARD_GRACE_MS, 'the command to exit');
    await waitFor(() => /was left by a gateway that did not stop: its processes ended in their grace/.test(second!.output()), GUARD_GRACE_MS + 5000, () => `the dead run reaped\n${second!.output()}`);
    assert.match(second.output(), `process trees: ${run} was left by a gateway that did not stop, its guards giving its processes their grace (SIGTERM, then SIGKILL 5 s later): killed after it`);
    assert.not.ok(existsSync(run!), `${run} is removed`);
  } finally {
    if (pid !== 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    await first?.stop();
    await second?.stop();
    rmdirSync(parent);
  }
});

test.run();
