// A library Gateway with an admin listener and watchIntervalMs: 0: asked over the listener for the
// log or a restart of a package whose app.yaml does not load, the 409 told its client to "send
// SIGHUP" (the CLI's words), which a Gateway installs no handler for: the signal would have ended
// the program, whose gateway has rescan(). The listener's fixes now name the rescan of the gateway
// it runs in, and still the CLI's commands for what goes through it (status); the CLI gateway's
// own are checked by cli/admin-commands. Imported by the package's own name, as a program does.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Gateway } from 'apppkg-gateway';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { stopGatewayAndWork } from '../helpers/gateway-after.js';
import { tempDir, within } from '../helpers/process.js';

const test = suite("library: the admin listener's fix for a broken package names gateway.rescan(), not SIGHUP");
const work = tempDir('apppkg-lib-admin-words-');
const apps = join(work.path, 'apps');
const token = 'a-token-for-the-admin-listener-words-test';
let gateway: Gateway | null = null;

test.before(async () => {
  // Broken: `wsgii` is no key of app.yaml. Nothing of it starts, so no Python runs here.
  wsgiPackage(apps, 'wiki', 'platform: python, wsgi\napp: wsgi:application\nwsgii: 1\n');
  const tokenFile = join(work.path, 'admin-token');
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  // The token: a root gateway (the suite's) answers an app's log and actions only with it.
  gateway = await within(60_000, 'Gateway.start', Gateway.start({ apps, stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', admin: '127.0.0.1:0', adminTokenFile: tokenFile, watchIntervalMs: 0, settleMs: 0, say: () => {} }));
});

test.after(() => stopGatewayAndWork(gateway, work));

for (const [method, route] of [['GET', 'log'], ['POST', 'restart'], ['POST', 'rollback']] as const) {
  test(`${method} /apps/wiki/${route}: 409 APPPKG_ADMIN_APP_BROKEN whose fix calls gateway.rescan()`, async () => {
    const res = await request(`${gateway!.adminUrl}/apps/wiki/${route}`, { method, headers: { authorization: `Bearer ${token}` }, headersTimeout: 30_000, bodyTimeout: 30_000 });
    const text = await res.body.text();
    assert.is(res.statusCode, 409, text);
    const { error } = JSON.parse(text) as { error: { code: string; message: string; hint: string } };
    assert.is(error.code, 'APPPKG_ADMIN_APP_BROKEN', text);
    assert.match(error.message, /^wiki is not served: its package \S+wiki is broken: APPPKG_DESC_INVALID: .*wsgii/s);
    assert.is(error.hint, `fix ${join(apps, 'wiki', 'app.yaml')} as said above, then call \`gateway.rescan()\`: the gateway does not watch its apps directory (watchIntervalMs 0), so it loads the package again only then; \`apppkg-gateway status\` shows it served`);
    assert.not.match(text, 'SIGHUP');
  });
}

test.run();
