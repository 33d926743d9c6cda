// init on a module that wraps its framework's app in middleware under another name
// (`api = FastAPI()`, then `app = Middleware(api)`, as python-socketio's `socketio.ASGIApp(sio,
// other_asgi_app=api)` and hand-written ASGI middleware are written): the wrapper is the app
// to serve; the framework's object alone would skip what the wrapper does (its denials, its
// Socket.IO endpoint) with no error anywhere.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const HAS_FASTAPI = spawnSync('/usr/bin/python3', ['-c', 'import fastapi'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('init: an app wrapped in middleware');
const ifFastapi = runIf(test, HAS_FASTAPI, 'needs python3-fastapi (apt-get install python3-fastapi)');
const work = tempDir('apppkg-init-wrapped-');
test.after(() => work.remove());

const DENY = `class Deny:
    def __init__(self, app, path="/private"):
        self.app = app
        self.path = path

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and scope["path"] == self.path:
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app(scope, receive, send)
`;

async function initAt(name: string, code: string): Promise<string> {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'main.py'), code);
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  return readFileSync(join(dir, 'app.yaml'), 'utf8');
}

test('the wrapper, not the object it wraps, is the app: on one line, over several, through a second wrapper', async () => {
  const head = `from fastapi import FastAPI\n\n${DENY}\n\napi = FastAPI(title="notes")\n\n\n@api.get("/")\nasync def index():\n    return {}\n\n\n`;
  const cases: Array<[string, string]> = [
    ['one-line', 'app = Deny(api)\n'],
    ['keyword-over-lines', 'app = Deny(\n    app=api,\n    path="/secret",\n)\n'],
    ['two-wrappers', 'denied = Deny(api)\napp = Deny(denied, "/other")\n'],
  ];
  for (const [name, tail] of cases) {
    const yaml = await initAt(name, head + tail);
    assert.match(yaml, /^app: main:app$/m, `${name}: ${yaml}`);
    assert.match(yaml, /^platform: python, asgi$/m, `${name}: ${yaml}`);
    assert.match(yaml, /^deb: python3-fastapi$/m, `${name}: ${yaml}`);
  }
});

test('an app name that only mentions the object, or an attribute of that name, is no wrapper: the framework object stays the app', async () => {
  const head = `from fastapi import FastAPI\n\napi = FastAPI(title="notes")\n`;
  for (const [name, tail] of [
    ['alias-call', 'app = print("api")\n'],
    ['attribute', 'app = dict(x=settings.api)\n'],
  ] as const) {
    const yaml = await initAt(name, head + tail);
    assert.match(yaml, /^app: main:api$/m, `${name}: ${yaml}`);
  }
});

ifFastapi('check serves what init picked: the wrapper (its class named on the app line)', async () => {
  const dir = join(work.path, 'checked');
  await initAt('checked', `from fastapi import FastAPI\n\n${DENY}\n\napi = FastAPI()\napp = Deny(api)\n`);
  const check = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /main:app imports and is callable \(Deny, /);
});

test.run();
