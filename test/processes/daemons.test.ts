// No orphan processes, ever (SPEC 4), daemons included: a process that leaves its worker's
// process group with setsid() (subprocess.Popen(start_new_session=True), the double fork of
// a classic daemon, `setsid` in a hook) escaped every group signal and outlived the gateway,
// stopped or SIGKILLed. Each guarded tree is now marked (process-group.ts).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('daemons an app starts');
const work = tempDir('apppkg-daemons-');
test.after(() => work.remove());

/** An app whose every worker starts two daemons at import, and whose install hook starts a third; each writes its pid to `pidFile`. */
function daemonApp(apps: string, pidFile: string): void {
  writePackage(apps, 'spawner', {
    'app.yaml': `platform: python, wsgi\napp: main:application\ncommands:\n  install: setsid sh -c 'echo $$ >> ${pidFile}; exec sleep 600' </dev/null >/dev/null 2>&1 & while [ ! -s ${pidFile} ]; do sleep 0.05; done\n`,
    'main.py': `import os, subprocess

PIDS = ${JSON.stringify(pidFile)}

def note(pid):
    with open(PIDS, "a") as f:
        f.write(f"{pid}\\n")

# A session of its own, its parent the worker.
note(subprocess.Popen(["sleep", "600"], start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)

# The classic daemon: fork, setsid, fork again, the middle one exits; init is its parent.
r, w = os.pipe()
middle = os.fork()
if middle == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.write(w, str(os.getpid()).encode())
        os.execvp("sleep", ["sleep", "600"])
    os._exit(0)
os.close(w)
os.waitpid(middle, 0)
note(os.read(r, 32).decode())
os.close(r)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`,
  });
}

/** What a failing test may have left running. */
function killLeft(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
}

/**
 * An environment file in `dir`: `workers` for each app (a worker is a Python start and stop, ~0.15
 * s of CPU, that the tests of processes and hooks never ask anything), and Debian's Python, not
 * pyenv's, which starts at twice the CPU after its shim's probe: which Python is no matter here.
 */
function environmentIn(dir: string, workers: number): string {
  const file = join(dir, 'environment.yaml');
  writeFileSync(file, `python: /usr/bin/python3\ndefaults:\n  workers: ${workers}\n`);
  return file;
}

function daemonPids(pidFile: string): number[] {
  return readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number);
}

for (const [how, end] of [
  ['stopped (SIGTERM)', 'SIGTERM'],
  ['SIGKILLed', 'SIGKILL'],
] as const) {
  test(`a gateway ${how} leaves none of the daemons its workers started; a hook's end with the hook`, async () => {
    const dir = join(work.path, end);
    const apps = join(dir, 'apps');
    const pidFile = join(dir, 'pids');
    daemonApp(apps, pidFile);
    const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(dir, 2), '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
    let pids: number[] = [];
    try {
      // Two workers, two daemons each, and the install hook's.
      pids = await waitFor(() => {
        const found = daemonPids(pidFile);
        return found.length >= 5 ? found : undefined;
      }, 20_000, 'five daemons').catch((err) => {
        throw new Error(`${(err as Error).message}\n${readFileSync(pidFile, 'utf8')}\n${gw.output()}`);
      });
      // The hook ran first: its daemon ended with the hook, as the rest of its group did.
      await assertNoOrphans([pids[0]], 5_000);
      assert.ok(pids.slice(1).every(isAlive), "the workers' daemons run while the gateway does");
      if (end === 'SIGKILL') gw.child.kill('SIGKILL');
      else assert.is(await gw.stop(), 0);
      await assertNoOrphans(pids, 15_000);
    } finally {
      await gw.stop();
      killLeft(pids);
    }
  });
}

test('a daemon that cleared its environment and holds the worker\'s stdout does not keep a stopped gateway running', async () => {
  const dir = join(work.path, 'held');
  const apps = join(dir, 'apps');
  const pidFile = join(dir, 'pids');
  writePackage(apps, 'holder', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': `import subprocess

def application(environ, start_response):
    # Out of the mark's reach (no environment), and holding the worker's stdout and stderr.
    p = subprocess.Popen(["sleep", "600"], start_new_session=True, env={"PATH": "/usr/bin:/bin"})
    with open(${JSON.stringify(pidFile)}, "a") as f:
        f.write(f"{p.pid}\\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`,
  });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(dir, 1), '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  let pids: number[] = [];
  try {
    const { request } = await import('undici');
    const res = await request(`${gw.url}/holder/`);
    assert.is(await res.body.text(), 'ok');
    pids = daemonPids(pidFile);
    assert.is(pids.length, 1);
    // stop() SIGKILLs past its 15 s and then answers null: a clean exit is 0.
    assert.is(await gw.stop(), 0, gw.output());
    assert.match(gw.output(), /stopped/);
  } finally {
    await gw.stop();
    killLeft(pids);
  }
});

test('a worker SIGKILLed at the end of the stop\'s grace takes along the child it started in a session of its own with its environment cleared', async () => {
  const dir = join(work.path, 'killed');
  const apps = join(dir, 'apps');
  const pidFile = join(dir, 'pids');
  const busy = join(dir, 'busy');
  writePackage(apps, 'stuck', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': `import subprocess, time

# Neither the worker's group nor the mark reaches it: only the worker's tree, while it runs.
p = subprocess.Popen(["sleep", "600"], start_new_session=True, env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open(${JSON.stringify(pidFile)}, "a") as f:
    f.write(f"{p.pid}\\n")

def application(environ, start_response):
    open(${JSON.stringify(busy)}, "w").close()
    time.sleep(600)  # a WSGI request is never cancelled: the stop's grace ends with SIGKILL
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`,
  });
  const env = environmentIn(dir, 1);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0', '--grace', '1'], { ms: 60_000 });
  let pids: number[] = [];
  try {
    const { request } = await import('undici');
    const cut = request(`${gw.url}/stuck/`).then((res) => res.body.text()).catch(() => '');
    await waitFor(() => existsSync(busy), 20_000, () => `the request to reach the app\n${gw.output()}`);
    pids = daemonPids(pidFile);
    assert.is(pids.length, 1);
    assert.is(await gw.stop(), 0, gw.output());
    assert.match(gw.output(), /cutting 1 request in flight/);
    await cut;
    await assertNoOrphans(pids, 5_000);
  } finally {
    await gw.stop();
    killLeft(pids);
  }
});

test('a worker that exits at the stop ends the children it started in a session of their own with their environment cleared, one deaf to SIGTERM too', async () => {
  const dir = join(work.path, 'exits');
  const apps = join(dir, 'apps');
  const notes = join(dir, 'notes');
  writePackage(apps, 'unmarked', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\n',
    'main.py': `import subprocess, sys

NOTES = ${JSON.stringify(notes)}
HELPER = """
import os, signal, sys, time
def note(line):
    with open(%r, "a") as f:
        f.write(line + "\\\\n")
if sys.argv[1] == "deaf":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: (note("terminated %%d" %% os.getpid()), os._exit(0)))
note("started %%s %%d" %% (sys.argv[1], os.getpid()))
time.sleep(600)
""" % NOTES
# Neither the worker's group nor the mark reaches them once the worker has exited.
for kind in ("polite", "deaf"):
    subprocess.Popen([sys.executable, "-c", HELPER, kind], start_new_session=True, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`,
  });
  const env = environmentIn(dir, 1);
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', env, '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  const noted = (): string => (existsSync(notes) ? readFileSync(notes, 'utf8') : '');
  let pids: number[] = [];
  try {
    const started = await waitFor(() => {
      const found = [...noted().matchAll(/^started (\w+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
      return found.length === 2 ? new Map(found) : undefined;
    }, 20_000, () => `the worker's two children\n${gw.output()}`);
    pids = [...started.values()];
    assert.is(await gw.stop(), 0, gw.output());
    assert.ok(noted().includes(`terminated ${started.get('polite')}`), `the polite child got no SIGTERM\n${noted()}`);
    await assertNoOrphans(pids, 5_000);
  } finally {
    await gw.stop();
    killLeft(pids);
  }
});

test('a processes: entry and a hook stopped with the gateway take along the children they started in a session of their own with their environment cleared', async () => {
  const dir = join(work.path, 'stopped-leaders');
  const apps = join(dir, 'apps');
  const pidFile = join(dir, 'pids');
  // Neither the leader's group nor the mark reaches the child, and the leader's exit (SIGTERM
  // from the stop) hands it to init: only the leader's tree, read before the stop, finds it.
  const unmarked = `setsid env -i sh -c 'echo $$ >> ${pidFile}; exec sleep 600' </dev/null >/dev/null 2>&1 & exec sleep 600`;
  const main = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
  writePackage(apps, 'process', {
    'app.yaml': `platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: ${unmarked}\n`,
    'main.py': main,
  });
  writePackage(apps, 'hook', {
    'app.yaml': `platform: python, wsgi\napp: main:application\ncommands:\n  install: ${unmarked}\n`,
    'main.py': main,
  });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(dir, 1), '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  let pids: number[] = [];
  try {
    pids = await waitFor(() => {
      const found = existsSync(pidFile) ? daemonPids(pidFile) : [];
      return found.length === 2 ? found : undefined;
    }, 20_000, () => `the two children\n${gw.output()}`);
    assert.ok(pids.every(isAlive), 'the children run while their leaders do');
    assert.is(await gw.stop(), 0, gw.output());
    await assertNoOrphans(pids, 5_000);
  } finally {
    await gw.stop();
    killLeft(pids);
  }
});

test('a processes: entry and a hook that exit by themselves take along the children they started in a session of their own with their environment cleared, read while they ran', async () => {
  const dir = join(work.path, 'exited-leaders');
  const apps = join(dir, 'apps');
  const pidFiles = { hook: join(dir, 'hook-pids'), process: join(dir, 'process-pids') };
  // The leader outlives a read of its tree (every 5 s), then exits by itself: its exit hands the
  // child to init before the gateway hears of it, so only a read made while it ran finds it.
  const unmarked = (pidFile: string, status: number) => `setsid env -i sh -c 'echo $$ >> ${pidFile}; exec sleep 600' </dev/null >/dev/null 2>&1 & sleep 7; exit ${status}`;
  const main = 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
  writePackage(apps, 'process', { 'app.yaml': `platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: ${unmarked(pidFiles.process, 1)}\n`, 'main.py': main });
  writePackage(apps, 'hook', { 'app.yaml': `platform: python, wsgi\napp: main:application\ncommands:\n  install: ${unmarked(pidFiles.hook, 0)}\n`, 'main.py': main });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(dir, 1), '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  const firsts: number[] = [];
  try {
    for (const pidFile of Object.values(pidFiles)) {
      const first = await waitFor(() => existsSync(pidFile) && daemonPids(pidFile)[0], 20_000, () => `the child in ${pidFile}\n${gw.output()}`);
      firsts.push(first);
    }
    // The leaders exit 7 s after they start; what they left has 3 s after SIGTERM.
    await assertNoOrphans(firsts, 20_000);
  } finally {
    assert.is(await gw.stop(), 0, gw.output());
    killLeft([...firsts, ...Object.values(pidFiles).flatMap((pidFile) => (existsSync(pidFile) ? daemonPids(pidFile) : []))]);
  }
});

test('a processes: entry stopped with the gateway gives the daemon it started in a session of its own SIGTERM, not SIGKILL alone', async () => {
  const dir = join(work.path, 'marked-daemon');
  const apps = join(dir, 'apps');
  const pidFile = join(dir, 'pids');
  const notes = join(dir, 'notes');
  // Out of the group, its environment (and so the tree's mark) kept: the stop's SIGTERM to the
  // group missed it, and the end after counted it as told, so SIGKILL came 3 s later.
  const daemon = `setsid sh -c 'echo $$ >> ${pidFile}; trap "echo got-term >> ${notes}; exit 0" TERM; while :; do sleep 0.1; done' </dev/null >/dev/null 2>&1 & exec sleep 600`;
  writePackage(apps, 'daemon', {
    'app.yaml': `platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: ${daemon}\n`,
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(dir, 1), '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
  let pids: number[] = [];
  try {
    // Its pid once written: the shell's `>>` makes the file before it writes to it.
    pids = await waitFor(() => {
      const found = existsSync(pidFile) ? daemonPids(pidFile) : [];
      return found.length > 0 ? found : undefined;
    }, 20_000, () => `the daemon\n${gw.output()}`);
    assert.ok(readFileSync(`/proc/${pids[0]}/environ`, 'latin1').includes('APPPKG_TREE='), 'the daemon carries the mark');
    assert.is(await gw.stop(), 0, gw.output());
    assert.is(existsSync(notes) ? readFileSync(notes, 'utf8') : '', 'got-term\n', 'the daemon got one SIGTERM before anything else');
    await assertNoOrphans(pids, 5_000);
  } finally {
    await gw.stop();
    killLeft(pids);
  }
});

test.run();

// Two processes that end at once with status 0, one app each, in one gateway: each test waits for
// its own app's line in the log, and the last one stops it.
const atOnce = suite('processes that exit 0 at once');
const atOnceDir = tempDir('apppkg-daemons-at-once-');
let atOnceGw: RunningGateway | null = null;

atOnce.before(async () => {
  const apps = join(atOnceDir.path, 'apps');
  writePackage(apps, 'forker', {
    'app.yaml': "platform: python, wsgi\napp: main:application\nprocesses:\n  bg:\n    command: sh -c 'sleep 600 </dev/null >/dev/null 2>&1 & exit 0'\n",
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  });
  writePackage(apps, 'refused', {
    'app.yaml': 'platform: python, wsgi\napp: main:application\nprocesses:\n  worker:\n    command: python fails.py\n',
    'main.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'fails.py': 'import sys, traceback\ntry:\n    raise PermissionError("this user has no permissions")\nexcept PermissionError:\n    traceback.print_exc()\nsys.exit(0)\n',
  });
  atOnceGw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environmentIn(atOnceDir.path, 1), '--state-dir', join(atOnceDir.path, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000 });
});

atOnce.after(async () => {
  await atOnceGw?.stop();
  atOnceDir.remove();
});

atOnce('a process that forks into the background and exits 0 is restarted, and the log says it must stay in the foreground', async () => {
  const gw = atOnceGw!;
  await waitFor(() => /forker: processes\.bg \d+ exited \(status 0\); it ended at once with status 0: a process must stay in the foreground/.test(gw.output()), 20_000, () => `the hint in\n${gw.output()}`);
});

atOnce('a process that exits 0 at once after an error (as Celery does when Redis refuses it) is said to have failed with that error, not to have gone to the background', async () => {
  const gw = atOnceGw!;
  try {
    await waitFor(() => /refused: processes\.worker \d+ exited \(status 0\); it ended at once with status 0 after an error: PermissionError: this user has no permissions; restarting/.test(gw.output()), 20_000, () => `the error in\n${gw.output()}`);
    assert.not.match(gw.output(), /refused: .*must stay in the foreground/);
  } finally {
    assert.is(await gw.stop(), 0);
  }
});

atOnce.run();
