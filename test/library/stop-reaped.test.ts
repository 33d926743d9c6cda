// `await gateway.stop()` leaves no process behind (SPEC 5.7), not even an unreaped one: once it
// resolves, the embedding process has no child left, zombies included. Each process the gateway
// starts has a guard shell beside it (supervisor/process-group.ts); the guard was killed last and
// not waited for, so a program that looked at its children right after stop() (ps, /proc) found
// `[sh] <defunct>` until Node's next turn reaped it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway } from '../../src/index.js';
import { processTable, tempDir } from '../helpers/process.js';

const test = suite('Gateway.stop reaps');
const PYTHON = '/usr/bin/python3';
const work = tempDir('apppkg-lib-stop-reaped-');
const apps = join(work.path, 'apps');

test.after(() => work.remove());

/**
 * This process's children as `pid state command`, read from /proc at once (no turn of the event
 * loop); esbuild's service, which may load this test's TypeScript (scripts/ts-hooks.mjs), is not the gateway's.
 */
function children(): string[] {
  return processTable().filter((p) => p.ppid === process.pid && p.comm !== 'esbuild').map((p) => `${p.pid} ${p.state} ${p.comm}`);
}

test('after stop() resolves, the embedding process has no child left, zombie or not', async () => {
  // A WSGI app with a background and a routed process, an ASGI app, a command app: every kind
  // of guarded tree the gateway starts.
  const write = (dir: string, files: Record<string, string>) => {
    mkdirSync(join(apps, dir), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(join(apps, dir, name), text);
  };
  const server = 'import http.server, os\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n' +
    '        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")\n' +
    'http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()\n';
  write('busy', {
    'app.yaml': 'platform: python, wsgi\napp: web:application\nprocesses:\n  bg:\n    command: exec python3 -c "import time; time.sleep(600)"\n  live:\n    command: python3 server.py\n    route: /live\n',
    'web.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
    'server.py': server,
  });
  write('events', {
    'app.yaml': 'platform: python, asgi\napp: web:app\n',
    'web.py': 'async def app(scope, receive, send):\n    if scope["type"] == "http":\n        await send({"type": "http.response.start", "status": 200, "headers": []})\n        await send({"type": "http.response.body", "body": b"ok"})\n',
  });
  write('own', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: python3 server.py\n', 'server.py': server });
  // Debian's Python, not pyenv's: the rounds start ~35 Pythons, which start in half the CPU
  // there, and no pyenv shim is probed; which Python they are is no matter here.
  writeFileSync(join(work.path, 'environment.yaml'), `python: ${PYTHON}\napps:\n  busy: {workers: 2}\n`);
  // Several rounds: each stop ends several guarded trees, and one guard left is enough.
  for (let round = 0; round < 5; round++) {
    const gateway = await Gateway.start({
      apps, listen: '127.0.0.1:0', admin: false, environment: join(work.path, 'environment.yaml'), stateDir: join(work.path, 'state'), watchIntervalMs: 0, say: () => {},
    });
    for (const path of ['/busy/', '/busy/live', '/events/', '/own/']) {
      const res = await fetch(`${gateway.urls[0]}${path}`, { signal: AbortSignal.timeout(10_000) });
      assert.is(await res.text(), 'ok', path);
    }
    assert.ok(children().length >= 4, `the workers and the process run as children: ${children().join(', ')}`);
    await gateway.stop();
    assert.equal(children(), [], `round ${round}: children left once stop() resolved`);
  }
});

test.run();
