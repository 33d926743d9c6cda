// app.yaml and the environment file are UTF-8 (a byte order mark allowed, as YAML allows one):
// a file saved as Latin-1 is refused at its first bad byte with the fix, never read with
// U+FFFD in place of what its author wrote.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startCli, tempDir } from '../helpers/process.js';
import { gatewayStatus, stopGatewayChecked } from '../helpers/status.js';

const test = suite('description encoding');
const state = tempDir('apppkg-encoding-state-');
const work = tempDir('apppkg-encoding-work-');
test.after(() => {
  state.remove();
  work.remove();
});

/** A package under `apps` whose app.yaml is these bytes, with a WSGI module answering `name`. */
function pkg(apps: string, name: string, yaml: Buffer): string {
  const dir = join(apps, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), `def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"${name}"]\n`);
  return dir;
}

const LATIN1 = Buffer.concat([Buffer.from('app: wsgi:application\nname: caf'), Buffer.from([0xe9]), Buffer.from('\n')]);
const BOM = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('app: wsgi:application\nname: bom\n')]);
const REFUSED = /app\.yaml:2:10: name: expected UTF-8 text, found the byte 0xE9 \("é" in Latin-1\), which is not UTF-8 \(at byte offset 31\)\n {2}fix: save the file as UTF-8 .*iconv -f latin1 -t utf-8 app\.yaml > app\.yaml\.new && mv app\.yaml\.new app\.yaml\n/;

test('check, describe and serve refuse a Latin-1 app.yaml at its first bad byte, with the fix; a UTF-8 byte order mark is fine', async () => {
  const apps = join(work.path, 'one');
  const latin = pkg(apps, 'latin', LATIN1);
  for (const args of [['check', latin, '--state-dir', state.path], ['describe', latin], ['serve', latin, '--port', '0', '--state-dir', state.path]]) {
    const r = await runCli(args);
    assert.is(r.status, 1, `${args[0]}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, REFUSED, args[0]);
    assert.not.match(r.stdout + r.stderr, '\uFFFD', args[0]);
  }
  const bom = pkg(apps, 'bom', BOM);
  const described = await runCli(['describe', bom]);
  assert.is(described.status, 0, described.stderr);
  assert.is((JSON.parse(described.stdout) as { name: string }).name, 'bom');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, Buffer.concat([Buffer.from('settings:\n  GREETING: caf'), Buffer.from([0xe9]), Buffer.from('\n')]));
  const checked = await runCli(['check', bom, '--environment', env, '--state-dir', state.path]);
  assert.is(checked.status, 1, checked.stderr);
  assert.match(checked.stderr, /environment\.yaml:2:16: settings\.GREETING: expected UTF-8 text, found the byte 0xE9/);
});

test('a byte order mark takes no column: a problem on the first line is placed where an editor shows it', async () => {
  const apps = join(work.path, 'columns');
  const marked = pkg(apps, 'marked', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('bogus: 1\napp: wsgi:application\n')]));
  const described = await runCli(['describe', marked]);
  assert.is(described.status, 1, described.stdout);
  assert.match(described.stderr, /app\.yaml:1:1: bogus: expected one of the known keys/);
  const env = join(work.path, 'marked-environment.yaml');
  writeFileSync(env, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('settings: {GREETING: caf'), Buffer.from([0xe9]), Buffer.from('}\n')]));
  const checked = await runCli(['check', pkg(apps, 'bom', BOM), '--environment', env, '--state-dir', state.path]);
  assert.is(checked.status, 1, checked.stderr);
  assert.match(checked.stderr, /marked-environment\.yaml:1:25: settings\.GREETING: expected UTF-8 text, found the byte 0xE9/);
});

test('--apps refuses the Latin-1 app alone, saying why, and serves the others (one with a byte order mark)', async () => {
  const apps = join(work.path, 'many');
  pkg(apps, 'latin', LATIN1);
  pkg(apps, 'bom', BOM);
  pkg(apps, 'good', Buffer.from('app: wsgi:application\n'));
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'gw')]);
  try {
    for (const name of ['good', 'bom']) {
      const res = await fetch(`${gw.url}/${name}/`);
      assert.is(await res.text(), name);
    }
    const refused = await fetch(`${gw.url}/latin/`);
    assert.is(refused.status, 503);
    await refused.text();
    // The gateway's log hangs a refusal's lines under the line that names the app (4cd3034).
    assert.match(gw.output(), new RegExp(REFUSED.source.replace(' {2}fix', ' {4}fix')));
    assert.match(JSON.stringify(await gatewayStatus(gw)), 'expected UTF-8 text, found the byte 0xE9');
  } finally {
    await stopGatewayChecked(gw);
  }
});

test.run();
