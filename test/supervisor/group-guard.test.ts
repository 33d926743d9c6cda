// A SIGKILLed gateway's trees are ended by their guards (process-group.ts): SIGTERM, then
// SIGKILL to what is left 5 s later. The guard slept those 5 s whatever was left, and outlived
// by seconds the gateway, and the test or the program that embedded it. Now it ends once its
// tree has; a tree that ignores the SIGTERM still has its 5 s, then the SIGKILL.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus } from '../helpers/status.js';
import { assertNoOrphans, guardsOfGateway, isAlive, pidsByArgs, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('group guard');
const work = tempDir('apppkg-group-guard-');
let gw: RunningGateway | undefined;
const started: number[] = [];

test.after(async () => {
  await gw?.stop();
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  work.remove();
});

/** A command app whose process ignores SIGTERM: only a SIGKILL ends it. */
const HOLDS = {
  'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: exec python server.py\nhealth: /healthz\n',
  'server.py': `import os, signal
from http.server import BaseHTTPRequestHandler, HTTPServer

signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`,
};

/** The guard shells of the tree that `pid` belongs to, by the mark in its environment. */
function guardsOfTree(pid: number): number[] {
  const mark = /(?:^|\0)APPPKG_TREE=([^\0]*)/.exec(readFileSync(`/proc/${pid}/environ`, 'latin1'))?.[1];
  assert.ok(mark, `process ${pid} carries a tree mark`);
  return pidsByArgs((args) => args[0] === '/bin/sh' && args.includes(mark)).filter(isAlive);
}

test('a SIGKILLed gateway: a guard whose tree ended at its SIGTERM goes at once; one whose tree ignores it KILLs it after its 5 s', async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'command-server', 'ends');
  writePackage(apps, 'holds', HOLDS);
  // Without cgroups: the guard is all there is then, and as root any gateway that starts on the
  // host meanwhile kills what a dead one left in its cgroups, guards and trees at once.
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', '--settle', '0'], { ms: 60_000, env: { APPPKG_CGROUPS: 'off' } });
  const status = await waitFor(
    async () => {
      const body = await gatewayStatus(gw!);
      return body.apps.length === 2 && body.apps.every((a: any) => a.state === 'ready') ? body : null;
    },
    30_000,
    'both apps ready',
  );
  const pidOf = (name: string): number => status.apps.find((a: any) => a.name === name).processes[0].pid;
  const ends = pidOf('ends');
  const holds = pidOf('holds');
  started.push(ends, holds);
  const endsGuards = guardsOfTree(ends);
  const holdsGuards = guardsOfTree(holds);
  assert.is(endsGuards.length, 1, 'one guard for the tree that ends at SIGTERM');
  assert.is(holdsGuards.length, 1, 'one guard for the tree that ignores it');

  gw.child.kill('SIGKILL');
  await assertNoOrphans([ends], 5_000);
  // Its guard's SIGKILL was due 5 s after its SIGTERM: gone well before, it did not wait for it.
  await waitFor(() => !endsGuards.some(isAlive), 3_000, 'the guard of the tree that ended to go before its 5 s were up');
  // Meanwhile the other had its SIGTERM only: the grace is kept for a tree that is still there.
  assert.ok(isAlive(holds), 'the process that ignores SIGTERM is not killed before its 5 s');
  assert.ok(holdsGuards.some(isAlive), 'its guard waits');
  await assertNoOrphans([holds], 15_000);
  await waitFor(() => !holdsGuards.some(isAlive), 5_000, 'the guard that sent its SIGKILL to go');
  assert.equal(guardsOfGateway(gw.child.pid!), [], 'no guard of the gateway left');
});

test.run();
