// A stop while the gateway lingers on a connection it refused a body on (413): the client keeps
// the connection open, sending the rest of its upload or nothing, and never reads. The stop cuts
// it with the other connections (Front.stop's final cut; closeIdleNodeConnections before it, on
// node:http), neither waiting for the linger's own bounds (5 s of silence, 30 s in all) nor
// leaving it open. In the test's own process, through the library: a CLI's exit would close the
// connection whatever the stop did, the library's stop() must itself. Both readers. And through
// the CLI's SIGTERM: its process ends once nothing is left to run (main.ts exitWhenIdle), so a
// lingering connection the stop left open held the exit until the linger's own bound.
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from '../../src/index.js';
import { LINGER_TOTAL_MS } from '../../src/net/lingering-close.js';
import { writePackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, startCli, tempDir, waitFor, within } from '../helpers/process.js';

const test = suite('a stop during a lingering close after a 413');
const work = tempDir('apppkg-stop-linger-413-');
test.after(() => work.remove());

const WSGI = `def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
`;

/** Past max_body (1000) and, on node:http, within the body its answer's end waits for (node-body-hold.ts). */
const HEAD = 'POST /w/ HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n';

interface Client {
  /** Its writes were refused (a reset: the gateway's end is gone), or it closed. */
  cut: () => boolean;
  /** Writes a byte every 100 ms from now on, whatever `drip` was: a closed end answers one with a reset. */
  probe: () => void;
  destroy: () => void;
}

/**
 * Sends HEAD and 2000 bytes of body, then, with `drip`, a byte every 200 ms; never reads, never
 * closes. A gateway lingering on it reads and drops those bytes; one that has closed its end
 * answers the next with a reset, which the write here fails with.
 */
async function refusedUpload(port: number, drip: boolean): Promise<Client> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.pause();
  socket.on('error', () => {});
  let closed = false;
  socket.once('close', () => (closed = true));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(HEAD + 'y'.repeat(2000));
  let gapMs = drip ? 200 : 0;
  let timer: NodeJS.Timeout | null = null;
  const more = (): void => {
    if (gapMs > 0 && !socket.destroyed) socket.write('y', () => (timer = setTimeout(more, gapMs)));
  };
  more();
  return {
    cut: () => closed || socket.destroyed,
    probe: () => {
      const wasIdle = gapMs === 0;
      gapMs = 100;
      if (wasIdle) more();
    },
    destroy: () => {
      gapMs = 0;
      if (timer !== null) clearTimeout(timer);
      socket.destroy();
    },
  };
}

for (const [reader, lane] of [['the lean lane', '1'], ['node:http', '0']] as const) {
  for (const drip of [true, false]) {
    test(`${reader}: a 413's connection the client keeps open${drip ? ', still uploading,' : ', silent,'} is cut by the stop, which does not wait for it`, async () => {
      const dir = join(work.path, `${lane}-${drip ? 'drip' : 'silent'}`);
      const apps = join(dir, 'apps');
      writePackage(apps, 'w', { 'app.yaml': 'platform: python, wsgi\napp: w:application\n', 'w.py': WSGI });
      const environment = join(dir, 'environment.yaml');
      writeFileSync(environment, 'apps:\n  w:\n    max_body: 1000\n', { mode: 0o600 });
      const before = process.env.APPPKG_LEAN_LANE;
      process.env.APPPKG_LEAN_LANE = lane;
      const said: string[] = [];
      let gateway: Gateway;
      try {
        // A grace longer than the linger's bound: a stop that waited for the client would show.
        gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, environment, stateDir: join(dir, 'state'), listen: '127.0.0.1:0', admin: false, workers: 1, watchIntervalMs: 0, settleMs: 0, graceMs: LINGER_TOTAL_MS + 10_000, accessLog: null, say: (line) => said.push(line) }));
      } finally {
        if (before === undefined) delete process.env.APPPKG_LEAN_LANE;
        else process.env.APPPKG_LEAN_LANE = before;
      }
      const pids = gateway.pids;
      const port = Number(new URL(gateway.urls[0]).port);
      const client = await refusedUpload(port, drip);
      try {
        // Into the linger (the lane's 413 went at once; node:http's end waits for the body).
        await new Promise((resolve) => setTimeout(resolve, 1000));
        assert.not.ok(client.cut(), `${reader}: the connection is open before the stop`);
        // Short of the linger's own bound (30 s) and of the grace: a stop that waited for it fails here.
        await within(LINGER_TOTAL_MS - 10_000, `${reader}: stop()`, gateway.stop());
        client.probe();
        await waitFor(() => client.cut(), 5000, `${reader}: the connection closed by the stop (the process goes on), a byte sent after it reset\n${said.join('\n')}`);
      } finally {
        client.destroy();
      }
      await assertNoOrphans(pids);
    });
  }
}

// A client still uploading only: a silent one's linger ends after 5 s without a byte (LINGER_MS),
// which an exit held by it would wait for, within any bound this test could set without timing.
for (const [reader, lane] of [['the lean lane', '1'], ['node:http', '0']] as const) {
  test(`the CLI, ${reader}: SIGTERM with a 413's connection the client keeps open, still uploading, exits without waiting for it, and the connection is closed`, async () => {
    const dir = join(work.path, `cli-${lane}`);
    const apps = join(dir, 'apps');
    writePackage(apps, 'w', { 'app.yaml': 'platform: python, wsgi\napp: w:application\n', 'w.py': WSGI });
    const environment = join(dir, 'environment.yaml');
    writeFileSync(environment, 'defaults:\n  workers: 1\napps:\n  w:\n    max_body: 1000\n', { mode: 0o600 });
    // A grace longer than the linger's bound: an exit that waited for the client would show.
    const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--environment', environment, '--state-dir', join(dir, 'state'), '--access-log', 'off', '--settle', '0', '--watch-interval', '0', '--grace', String((LINGER_TOTAL_MS + 10_000) / 1000)], { env: { APPPKG_LEAN_LANE: lane }, ms: 60_000 });
    const client = await refusedUpload(Number(new URL(gw.url).port), true);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      assert.not.ok(client.cut(), `${reader}: the connection is open before the SIGTERM`);
      // Short of the linger's own bound (30 s) and of the grace: past it, SIGKILL, and no status 0.
      assert.is(await gw.stop(LINGER_TOTAL_MS - 10_000), 0, `${reader}: the gateway exits by itself after SIGTERM\n${gw.output()}`);
      client.probe();
      await waitFor(() => client.cut(), 5000, `${reader}: the connection closed by the exit, a byte sent after it reset\n${gw.output()}`);
    } finally {
      client.destroy();
    }
  });
}

test.run();
