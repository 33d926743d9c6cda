// Jupyter Notebook (Debian's python3-notebook) as a `platform: python, command` app, written as
// the README says: under `mount: /nb` its base_url is $APPPKG_MOUNT, `health:` passes under
// the mount, a kernel started through the gateway runs a cell over its websocket, at the mount
// and at a virtual host, its files land in the app's data and tmp directories (not the app
// directory), and the kernel, a child of the server in a session of its own, is gone after stop.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { runIf } from '../helpers/skip.js';
import { appStatus } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, type RunningGateway } from '../helpers/process.js';
import { openSocket } from '../helpers/websocket.js';

const test = suite('Jupyter Notebook behind a mount');
const NOTEBOOK = '/usr/bin/jupyter-notebook';
const ifJupyter = runIf(test, existsSync(NOTEBOOK), `no ${NOTEBOOK} (apt-get install python3-notebook)`);
const TOKEN = 'test-token';
const dir = tempDir('apppkg-jupyter-');
const apps = join(dir.path, 'apps');
const state = join(dir.path, 'state');
let gw: RunningGateway | null = null;

// The README's app.yaml, but for --allow-root: the tests run as root, and the app directory is root's.
const APP_YAML = `platform: python, command
deb: python3-notebook
settings: [NOTEBOOK_TOKEN]
processes:
  web:
    command: >-
      exec env HOME=$APPPKG_DATA_DIR JUPYTER_RUNTIME_DIR=$TMPDIR/jupyter
      python -m notebook --no-browser --allow-root --ip 127.0.0.1 --port $PORT
      --NotebookApp.base_url=$APPPKG_MOUNT/ --notebook-dir=$APPPKG_DATA_DIR
      --NotebookApp.allow_remote_access=True --NotebookApp.token=$NOTEBOOK_TOKEN
health: /api
`;

test.after(async () => {
  await gw?.stop();
  dir.remove();
});

const auth = { authorization: `token ${TOKEN}` };

/** Runs `code` in kernel `id` over its channels websocket (Jupyter's messaging protocol 5.3); its stdout. */
async function runCell(wsUrl: string, code: string, host?: string): Promise<string> {
  const socket = await openSocket(wsUrl, { host, ms: 15_000 });
  const msgId = randomUUID();
  socket.ws.send(JSON.stringify({
    header: { msg_id: msgId, username: 'test', session: randomUUID(), msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
    parent_header: {}, metadata: {}, channel: 'shell', buffers: [],
    content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
  }));
  for (;;) {
    const message = JSON.parse(await socket.next(15_000));
    if (message.parent_header?.msg_id !== msgId) continue;
    if (message.msg_type === 'error') throw new Error(`the cell raised ${message.content.ename}: ${message.content.evalue}`);
    if (message.msg_type === 'stream') {
      socket.ws.close(1000);
      await socket.closed();
      return String(message.content.text).trim();
    }
  }
}

ifJupyter('its page, a kernel and a cell run over the websocket, at the mount and at a virtual host; its files in its data and tmp directories; nothing left after stop', async () => {
  writePackage(apps, 'nb', { 'app.yaml': APP_YAML });
  const envFile = join(dir.path, 'environment.yaml');
  writeFileSync(envFile, `apps:\n  nb:\n    mount: /nb\n    hosts: [nb.example.com]\n    settings: {NOTEBOOK_TOKEN: ${TOKEN}}\n`);
  gw = await startCli([
    '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile, '--access-log', 'off',
  ], { ms: 20_000 });
  const status = await appStatus(gw, 'nb');
  assert.is(status.state, 'ready', gw.output());
  const server = status.processes[0].pid as number;

  const tree = await request(`${gw.url}/nb/tree`, { headers: auth });
  assert.is(tree.statusCode, 200);
  assert.match(await tree.body.text(), /data-base-url="\/nb\/"/);

  const started = await request(`${gw.url}/nb/api/kernels`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"name": "python3"}' });
  assert.is(started.statusCode, 201);
  const kernel = ((await started.body.json()) as { id: string }).id;
  const wsBase = gw.url.replace(/^http/, 'ws');
  const channels = `/api/kernels/${kernel}/channels?token=${TOKEN}`;
  const seen = (await runCell(`${wsBase}/nb${channels}`, 'import os; print(os.getpid(), os.environ["APPPKG_MOUNT"], os.environ["HOME"])')).split(' ');
  const kernelPid = Number(seen[0]);
  assert.equal(seen.slice(1), ['/nb', join(state, 'apps', 'nb', 'data')]);
  // At the virtual host the path is passed on unchanged: the server answers under its mount there too.
  assert.is(await runCell(`${wsBase}/nb${channels}`, 'print(6 * 7)', 'nb.example.com'), '42');

  const saved = await request(`${gw.url}/nb/api/contents/hello.txt`, {
    method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'file', format: 'text', content: 'hi' }),
  });
  assert.is(saved.statusCode, 201);
  await saved.body.dump();
  assert.ok(existsSync(join(state, 'apps', 'nb', 'data', 'hello.txt')), 'the notebook directory is the data directory');
  assert.equal(readdirSync(join(apps, 'nb')), ['app.yaml'], 'nothing written into the app directory');
  assert.ok(existsSync(join(state, 'apps', 'nb', 'tmp', 'jupyter', `kernel-${kernel}.json`)), 'runtime files in TMPDIR');

  assert.is(await gw.stop(), 0);
  gw = null;
  await assertNoOrphans([server, kernelPid], 10_000);
});

test.run();
