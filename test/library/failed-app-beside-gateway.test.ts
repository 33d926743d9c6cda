// H310: a program whose Gateway holds a state root (apps: DIR) and whose second, one-app Gateway
// (app: DIR) fails to start beside it on that root: the failed one took the empty apps/ it had
// made, which the first holds (its apps start under it). Judged as for another process, by the
// lock the first holds in this one, not skipped because the pid in gateway.lock is ours.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Gateway, isGatewayError } from '../../src/index.js';
import { writePackage } from '../helpers/apps-dir.js';
import { tempDir, within } from '../helpers/process.js';

const test = suite('a failed Gateway beside one of this process on its state root');
const work = tempDir('apppkg-lib-failed-beside-');
const state = join(work.path, 'state');
const none = join(work.path, 'no-apps');
mkdirSync(none);
const app = writePackage(join(work.path, 'one'), 'hello', {
  'app.yaml': 'platform: python, wsgi\napp: hello:application\n',
  'hello.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hello"]\n',
});
let holder: Gateway | null = null;

test.after(async () => {
  await holder?.stop();
  work.remove();
});

test('the failed one takes back its own app directory, and leaves the root\'s apps/ to the gateway holding it', async () => {
  holder = await within(60_000, 'the gateway of no apps', Gateway.start({ apps: none, listen: '127.0.0.1:0', admin: false, stateDir: state, watchIntervalMs: 0, say: () => {} }));
  assert.not.ok(existsSync(join(state, 'apps')), `made already: ${readdirSync(state).join(', ')}`);
  const err = await within(60_000, 'the failing start', Gateway.start({ app, listen: '127.0.0.1:0', environment: join(work.path, 'no-such.yaml'), stateDir: state, say: () => {} })).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isGatewayError(err) && err.code === 'APPPKG_ENVFILE_NOT_FOUND', String(err));
  assert.ok(existsSync(join(state, 'apps')), `apps/ taken from under the holding gateway: ${readdirSync(state).join(', ')}`);
  assert.not.ok(existsSync(join(state, 'apps', 'hello')), 'its own app directory left behind');
});

test.run();
