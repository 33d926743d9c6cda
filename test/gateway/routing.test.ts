import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway routing');
const apps = tempDir('apppkg-apps-');
const state = tempDir('apppkg-state-');
const envFile = join(state.path, 'environment.yaml');
const shared = tempDir('apppkg-shared-js-');
let gw: RunningGateway;

test.before(async () => {
  addPackage(apps.path, 'environ', 'alpha');
  addPackage(apps.path, 'environ', 'beta');
  addPackage(apps.path, 'environ', 'gamma.2.0');
  addPackage(apps.path, 'environ', 'delta');
  addPackage(apps.path, 'environ', 'Delta');
  addPackage(apps.path, 'environ', 'café');
  addPackage(apps.path, 'environ', '日記');
  addPackage(apps.path, 'environ', '_x');
  addPackage(apps.path, 'environ', 'mount-owner');
  addPackage(apps.path, 'environ', 'mount-taker');
  addPackage(apps.path, 'environ', 'under-named', { 'app.yaml': [[/^/, 'name: _y_\n']] });
  const guestbook = addPackage(apps.path, 'examples/guestbook', 'guestbook');
  // As a Debian package links its static files into /usr/share/javascript (issue 13, item 8).
  mkdirSync(join(shared.path, 'jquery'));
  writeFileSync(join(shared.path, 'jquery', 'jquery.js'), 'window.jQuery = 1;\n');
  chmodSync(shared.path, 0o755);
  symlinkSync(shared.path, join(guestbook, 'static', 'javascript'));
  symlinkSync(join(guestbook, 'gone.js'), join(guestbook, 'static', 'broken.js'));
  writePackage(apps.path, 'broken', { 'app.yaml': 'platform: python, wsgi\napp: nocolon\n' });
  // SPEC 1.1: os is checked against the host; this host is no windows.
  writePackage(apps.path, 'other-os', {
    'app.yaml': 'platform: python, wsgi\nos: windows\napp: hello:application\n',
    'hello.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ran"]\n',
  });
  writePackage(apps.path, 'no-import', {
    'app.yaml': 'platform: python, wsgi\napp: boom:application\n',
    'boom.py': 'raise RuntimeError("cannot start")\n',
  });
  writeFileSync(
    envFile,
    // alpha's and delta's hosts: name another app's default NAME.localhost, one sorting after it
    // and one before, so that the rule, not the order of the apps, decides who gets them.
    'settings:\n  GREETING: hello-all\napps:\n  alpha:\n    hosts: [gamma.localhost, "*.deep.example.com"]\n  beta:\n    mount: /b\n    hosts: [beta.example.com, my_beta.example]\n    workers: 1\n  delta:\n    mount: /dé\n    hosts: [beta.localhost, "*.example.com"]\n  _x:\n    workers: 1\n    threads: 1\n    settings:\n      GREETING: hello-x\n  mount-taker:\n    mount: /mount-owner/\n',
  );
  gw = await startCli([
    '--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path,
    '--environment', envFile,
  ]);
});

test.after(() => stopGatewayChecked(gw, apps, state, shared));

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await request(`${gw.url}${path}`, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}


test('wsgi.multithread and wsgi.multiprocess tell the truth of the app\'s workers and threads (SPEC 2.2): 2 workers of 8 threads by default, beta 1 worker, _x 1 worker of 1 thread', async () => {
  const of = async (path: string) => {
    const env = (await get(path)).json();
    return [env['wsgi.multiprocess'], env['wsgi.multithread']];
  };
  assert.equal(await of('/alpha/'), [true, true], 'alpha: the defaults');
  assert.equal(await of('/b/'), [false, true], 'beta: workers: 1');
  assert.equal(await of('/_x/'), [false, false], '_x: workers: 1, threads: 1');
});

test('each app at /NAME with SCRIPT_NAME and PATH_INFO split there', async () => {
  const r = await get('/alpha/some/path?x=1');
  assert.is(r.status, 200);
  const env = r.json();
  assert.is(env.app, 'alpha');
  assert.is(env.SCRIPT_NAME, '/alpha');
  assert.is(env.PATH_INFO, '/some/path');
  assert.is(env.QUERY_STRING, 'x=1');
  assert.is(env.setting, 'hello-all');
  const bare = (await get('/alpha')).json();
  assert.is(bare.SCRIPT_NAME, '/alpha');
  assert.is(bare.PATH_INFO, '');
});

test('a versioned directory serves under its name', async () => {
  const env = (await get('/gamma/')).json();
  assert.is(env.app, 'gamma');
});

test('NAME.localhost and the environment file\'s hosts and mount', async () => {
  const byHost = (await get('/x', { host: 'alpha.localhost' })).json();
  assert.is(byHost.app, 'alpha');
  assert.is(byHost.SCRIPT_NAME, '');
  assert.is(byHost.PATH_INFO, '/x');
  const vhost = (await get('/y', { host: 'BETA.example.com:8080' })).json();
  assert.is(vhost.app, 'beta');
  assert.is(vhost.PATH_INFO, '/y');
  // A `_` in a host name, as mail_domains takes it (an app named my_app is my_app.localhost).
  const underscored = (await get('/u', { host: 'My_Beta.example' })).json();
  assert.is(underscored.app, 'beta');
  assert.is(underscored.PATH_INFO, '/u');
  const mounted = (await get('/b/z')).json();
  assert.is(mounted.app, 'beta');
  assert.is(mounted.SCRIPT_NAME, '/b');
  assert.is((await get('/beta/z')).status, 404, 'the mount replaces the default /NAME');
});

test('a wildcard host takes every name under its domain that no app names itself, the longest wildcard first, as nginx\'s server_name', async () => {
  assert.is((await get('/y', { host: 'beta.example.com' })).json().app, 'beta', 'a name beats a wildcard');
  const wild = (await get('/w', { host: 'WWW.Example.com:8080' })).json();
  assert.is(wild.app, 'delta');
  assert.is(wild.SCRIPT_NAME, '', 'a virtual host is the app\'s root');
  assert.is(wild.PATH_INFO, '/w');
  assert.is((await get('/w', { host: 'deep.example.com' })).json().app, 'delta', '*.deep.example.com does not take deep.example.com');
  assert.is((await get('/w', { host: 'x.deep.example.com' })).json().app, 'alpha');
  assert.is((await get('/w', { host: 'a.b.deep.example.com.' })).json().app, 'alpha', 'any depth under the domain');
  assert.is((await get('/b/z', { host: 'example.com' })).json().app, 'beta', '*.example.com does not take example.com: it goes by mounts');
  assert.is((await get('/w', { host: 'example.com.evil' })).status, 404);
});

test('an app\'s hosts: naming another app\'s default NAME.localhost takes it, whichever app comes first, and the log says so once', async () => {
  assert.is((await get('/x', { host: 'gamma.localhost' })).json().app, 'alpha');
  assert.is((await get('/x', { host: 'beta.localhost' })).json().app, 'delta');
  assert.is((await get('/gamma/x')).json().app, 'gamma', 'the owner still answers at its mount');
  const said = gw.output().match(/host gamma\.localhost is gamma's default, and alpha's hosts: in the environment file names it: requests for it go to alpha; gamma still answers at its mount/g) ?? [];
  assert.is(said.length, 1, gw.output());
  assert.match(gw.output(), /host beta\.localhost is beta's default, and delta's hosts: .* go to delta/);
});

test('Delta beside delta: one default host, since host names compare without case; the first takes it, and the log says so once', async () => {
  assert.is((await get('/x', { host: 'delta.localhost' })).json().app, 'Delta');
  assert.is((await get('/Delta/x')).json().app, 'Delta');
  assert.is((await get('/dé/x')).json().app, 'delta', 'the other still answers at its mount');
  const said = gw.output().match(/host delta\.localhost is the default of both Delta and delta \(host names compare without case\): requests for it go to Delta; delta still answers at its mount; rename one, or give it hosts: of its own in the environment file/g) ?? [];
  assert.is(said.length, 1, gw.output());
});

test('an app\'s mount: naming another app\'s default /NAME takes it, though that app comes first, and the log says so once', async () => {
  assert.is((await get('/mount-owner/x')).json().app, 'mount-taker');
  assert.is((await get('/x', { host: 'mount-owner.localhost' })).json().app, 'mount-owner', 'the owner still answers at NAME.localhost');
  const said = gw.output().match(/mount \/mount-owner is mount-owner's default, and mount-taker's mount: in the environment file names it: requests under it go to mount-taker; mount-owner still answers at mount-owner\.localhost/g) ?? [];
  assert.is(said.length, 1, gw.output());
});

test('the longest mount wins and nothing else matches', async () => {
  assert.is((await get('/alphabet')).status, 404);
  const r = await get('/nothing-here');
  assert.is(r.status, 404);
  assert.match(r.text, /no app is mounted/);
});

test('slashes in a row are kept as sent (RFC 3986), not merged as nginx merges them: //alpha/x is a 404 naming /alpha/x (lean lane and node:http)', async () => {
  const port = Number(new URL(gw.url).port);
  for (const [version, twice] of [['HTTP/1.1', ''], ['HTTP/1.0', ''], ['HTTP/1.1', 'Accept: a\r\nAccept: b\r\n']]) {
    const send = (path: string) => rawRequest(port, `GET ${path} ${version}\r\nHost: x\r\n${twice}Connection: close\r\n\r\n`);
    const doubled = await send('//alpha/x?q=1');
    assert.match(doubled.split('\r\n')[0], / 404 /, `${version}: ${doubled}`);
    assert.ok(doubled.endsWith('\r\n\r\n404 Not Found\nno app is mounted at //alpha/x: slashes in a row are kept as sent, not merged into one as nginx merges them, so it is under no mount; did you mean /alpha/x?\n'), `${version}: ${doubled}`);
    const inner = await send('/alpha//x');
    assert.is(JSON.parse(inner.slice(inner.indexOf('\r\n\r\n') + 4)).PATH_INFO, '//x', `${version}: past the mount the app has them as sent`);
    // Merged, it would be under no mount either: nothing to suggest.
    const nowhere = await send('//nothing//here');
    assert.ok(nowhere.endsWith('\r\n\r\n404 Not Found\nno app is mounted at //nothing//here\n'), `${version}: ${nowhere}`);
  }
});

test('an encoded slash is data, not a separator: /alpha%2Fscope is not under /alpha (lean lane and node:http)', async () => {
  const port = Number(new URL(gw.url).port);
  // HTTP/1.1 and HTTP/1.0 are the lean lane's; a field sent twice is not plain, and node:http reads it.
  for (const [version, twice] of [['HTTP/1.1', ''], ['HTTP/1.0', ''], ['HTTP/1.1', 'Accept: a\r\nAccept: b\r\n']]) {
    const send = (path: string) => rawRequest(port, `GET ${path} ${version}\r\nHost: x\r\n${twice}Connection: close\r\n\r\n`);
    const outside = await send('/alpha%2Fscope');
    assert.match(outside.split('\r\n')[0], / 404 /, `${version}: ${outside}`);
    // Shown as sent, with why: decoded (`/alpha/scope`) it read as a path the app at /alpha serves.
    assert.ok(outside.endsWith('\r\n\r\n404 Not Found\nno app is mounted at /alpha%2Fscope: an encoded slash (%2F) is data, not a path separator, so it does not reach a mount; write / there\n'), `${version}: ${outside}`);
    const lower = await send('/alpha%2fscope/x');
    assert.match(lower.split('\r\n')[0], / 404 /, `${version}: ${lower}`);
    // Past the mount it is the app's: PATH_INFO is decoded (PEP 3333), %2F as `/`.
    const inside = await send('/alpha/a%2Fb');
    const env = JSON.parse(inside.slice(inside.indexOf('\r\n\r\n') + 4));
    assert.is(env.app, 'alpha', version);
    assert.is(env.SCRIPT_NAME, '/alpha', version);
    assert.is(env.PATH_INFO, '/a/b', version);
    // Unreserved chars encoded are the same chars (RFC 3986 §6.2.2.2): the mount still matches.
    const tilde = await send('/%61lpha/x');
    assert.is(JSON.parse(tilde.slice(tilde.indexOf('\r\n\r\n') + 4)).SCRIPT_NAME, '/alpha', version);
  }
});

test('a directory name that is not ASCII is refused naming the rule, and answers 503 at its URL; a mount may be any path', async () => {
  // As a browser sends them: UTF-8, percent-encoded.
  for (const [dir, url] of [['café', '/caf%C3%A9/'], ['日記', '/%E6%97%A5%E8%A8%98/x']]) {
    const r = await get(url);
    assert.is(r.status, 503, url);
    assert.ok(r.text.includes(`${dir} is not serving: it was refused (APPPKG_DESC_INVALID)`), r.text);
  }
  const out = gw.output();
  assert.ok(out.includes('café/app.yaml:2:1: name: expected an app name of ASCII letters (a-z, A-Z), digits, ".", "-" and "_"'), out);
  assert.ok(out.includes('found "café" (the directory name; "é" is not ASCII)'), out);
  assert.ok(out.includes('fix: add `name: cafe` to app.yaml, or rename the directory to cafe'), out);
  assert.ok(out.includes('found "日記" (the directory name; "日記" is not ASCII)'), out);
  const mounted = (await get('/d%C3%A9/x')).json();
  assert.is(mounted.app, 'delta');
  assert.is(mounted.SCRIPT_NAME, '/d\xc3\xa9', 'the mount\'s UTF-8 octets, one latin-1 char each (PEP 3333)');
  assert.is(mounted.PATH_INFO, '/x');
});

test('a name may begin or end with _ (docs/description.md): _x by its directory, _y_ by name:, and under apps: in the environment', async () => {
  const x = (await get('/_x/p')).json();
  assert.is(x.app, '_x');
  assert.is(x.SCRIPT_NAME, '/_x');
  assert.is(x.PATH_INFO, '/p');
  assert.is(x.setting, 'hello-x', 'its apps: entry in the environment file is its own');
  assert.is((await get('/q', { host: '_x.localhost' })).json().app, '_x');
  assert.is((await get('/_y_/')).json().app, '_y_');
});

test('a broken description and an app that fails to import are skipped; the rest serve', async () => {
  // A description that does not load answers at the routes of its directory's name, as a refused app does.
  const broken = await get('/broken/');
  assert.is(broken.status, 503);
  assert.match(broken.text, /broken is not serving: it was refused \(APPPKG_DESC_INVALID\)/);
  // A refused app is there and does not serve: 503 (as a proxy says of a down upstream), not 404.
  const refused = await get('/no-import/');
  assert.is(refused.status, 503);
  assert.ok(refused.headers['retry-after'], 'Retry-After');
  assert.match(refused.text, /no-import is not serving: it was refused \(APPPKG_APP_IMPORT_FAILED\); `apppkg-gateway status` says why/);
  assert.not.match(refused.text, /cannot start|Traceback/, 'the reason itself is the admin\'s');
  // A websocket asked of it is told the same, Retry-After included (a client's reconnect loop may read it).
  const upgrade = await rawRequest(Number(new URL(gw.url).port), 'GET /no-import/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  assert.match(upgrade, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  assert.match(upgrade, /\r\nRetry-After: 2\r\n/i, upgrade);
  assert.match(upgrade, /no-import is not serving: it was refused \(APPPKG_APP_IMPORT_FAILED\)/);
  assert.match(gw.output(), /broken\/app\.yaml:2:\d+: app: expected/);
  assert.match(gw.output(), /no-import.*refused|cannot import boom:application/);
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  assert.ok(status.broken.some((b: any) => b.dir.endsWith('/broken') && b.code === 'APPPKG_DESC_INVALID'));
  const failed = status.apps.find((a: any) => a.name === 'no-import');
  assert.is(failed.state, 'failed');
  assert.is(failed.problem.code, 'APPPKG_APP_IMPORT_FAILED');
});

test('an app whose os: excludes this host is refused at start, with the line; the rest serve', async () => {
  assert.is((await get('/other-os/')).status, 503);
  assert.match(gw.output(), /other-os\/app\.yaml:2:\d+: os: the app needs windows, this host is linux/);
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  const refused = status.apps.find((a: any) => a.name === 'other-os');
  assert.is(refused.state, 'failed');
  assert.is(refused.problem.code, 'APPPKG_OS_MISMATCH');
  assert.is((await get('/b/')).status, 200, 'another app serves');
});

test('over TCP, SERVER_NAME is the address the connection reached, whatever Host says (PEP 3333: the server\'s, as gunicorn and uvicorn give it); the name asked for is HTTP_HOST', async () => {
  const port = Number(new URL(gw.url).port);
  const raw = await rawRequest(port, 'GET /alpha/x HTTP/1.1\r\nHost: blog.example.com:8443\r\nConnection: close\r\n\r\n');
  const env = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
  assert.is(env.SERVER_NAME, '127.0.0.1');
  assert.is(env.HTTP_HOST, 'blog.example.com:8443');
});

test('dot segments resolve before routing, as nginx: %2e%2e too, // merged first; above the root or beside %2F, 400 (lean lane and node:http)', async () => {
  const port = Number(new URL(gw.url).port);
  for (const [version, twice] of [['HTTP/1.1', ''], ['HTTP/1.0', ''], ['HTTP/1.1', 'Accept: a\r\nAccept: b\r\n']]) {
    const send = (path: string) => rawRequest(port, `GET ${path} ${version}\r\nHost: x\r\n${twice}Connection: close\r\n\r\n`);
    const environ = async (path: string) => {
      const raw = await send(path);
      assert.match(raw.split('\r\n')[0], / 200 /, `${version} ${path}: ${raw}`);
      const env = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
      return [env.app, env.SCRIPT_NAME, env.PATH_INFO, env.QUERY_STRING];
    };
    // Out of one app's mount and into another's: routed by where the path ends up, never to
    // alpha with a PATH_INFO that climbs out of it.
    for (const path of ['/alpha/../b/x', '/alpha/%2e%2e/b/x', '/alpha/.%2E/b/x', '/alpha/y/%2E./../b/x']) {
      assert.equal(await environ(`${path}?q=1`), ['beta', '/b', '/x', 'q=1'], `${version} ${path}`);
    }
    assert.equal(await environ('/alpha/x/../y'), ['alpha', '/alpha', '/y', ''], version);
    assert.equal(await environ('/alpha/x/..'), ['alpha', '/alpha', '/', ''], `${version}: a trailing .. leaves the directory`);
    // Slashes in a row are one before a .. is resolved, as nginx merges them: behind nginx (it
    // passes the target on as sent) a `location /b/` that denies sees /alpha/x and lets this through.
    assert.equal(await environ('/b//../alpha/x'), ['alpha', '/alpha', '/x', ''], `${version}: // then .., as nginx`);
    assert.equal(await environ('/alpha//x/./y'), ['alpha', '/alpha', '/x/y', ''], `${version}: a dot segment's path has its // merged`);
    assert.equal(await environ('/alpha//x'), ['alpha', '/alpha', '//x', ''], `${version}: no dot segment, the path as sent`);
    assert.equal(await environ('/b/%2e/x/./'), ['beta', '/b', '/x/', ''], version);
    for (const path of ['/..', '/../alpha/x', '/alpha/../../alpha/x', '/%2e%2e/alpha/x', '/alpha/..%2Fb/x', '/alpha/x%2f../y']) {
      const raw = await send(path);
      assert.match(raw.split('\r\n')[0], / 400 /, `${version} ${path}: ${raw}`);
      assert.match(raw, /no \.\. that climbs above the root or stands beside an encoded slash %2F/, `${version} ${path}`);
    }
    // A static mapping is reached by the resolved path too, and a .. out of it leaves it for the app.
    const css = await send('/guestbook/static/x/%2e%2e/style.css');
    assert.match(css.split('\r\n')[0], / 200 /, `${version}: ${css}`);
    assert.match(String(css.split('\r\n').find((l) => /^content-type:/i.test(l))), /text\/css/, version);
    const out = await send('/guestbook/static/../app.yaml');
    assert.match(out.split('\r\n')[0], / 404 /, `${version}: ${out}`);
    assert.ok(out.endsWith('\r\n\r\nnot found\n'), `${version}: the app's own 404, not the file: ${out}`);
  }
});

test('static files: type, ETag, Range, HEAD, 304 and no way out', async () => {
  const full = await get('/guestbook/static/style.css');
  assert.is(full.status, 200);
  assert.match(String(full.headers['content-type']), /^text\/css/);
  const etag = String(full.headers.etag);
  assert.ok(etag.startsWith('"'));
  const part = await get('/guestbook/static/style.css', { range: 'bytes=0-3' });
  assert.is(part.status, 206);
  assert.is(part.text, full.text.slice(0, 4));
  assert.match(String(part.headers['content-range']), /^bytes 0-3\/\d+$/);
  assert.is((await get('/guestbook/static/style.css', { 'if-none-match': etag })).status, 304);
  assert.is((await get('/guestbook/static/style.css', { range: 'bytes=99999-' })).status, 416);
  const head = await request(`${gw.url}/guestbook/static/style.css`, { method: 'HEAD' });
  assert.is(head.statusCode, 200);
  assert.is(head.headers['content-length'], String(full.text.length));
  await head.body.text();
  const port = Number(new URL(gw.url).port);
  for (const path of ['/guestbook/static/../app.yaml', '/guestbook/static/%2e%2e/app.yaml', '/guestbook/static/..%2fapp.yaml', '/guestbook/static/%2e%2e%2f%2e%2e%2fetc/passwd']) {
    const raw = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    assert.not.match(raw, /platform: python/, path);
    assert.not.match(raw, /root:/, path);
    assert.not.match(raw.split('\r\n')[0], / 200 /, path);
  }
});

test('static symlinks: one out to a world-readable tree is followed; a broken one is a 404 said in the app log', async () => {
  const js = await get('/guestbook/static/javascript/jquery/jquery.js');
  assert.is(js.status, 200);
  assert.is(js.text, 'window.jQuery = 1;\n');
  assert.is((await get('/guestbook/static/broken.js')).status, 404);
  const log = join(state.path, 'apps', 'guestbook', 'log', 'app.log');
  await waitFor(() => existsSync(log) && /broken\.js is a broken symlink/.test(readFileSync(log, 'utf8')), 5000, 'the app log to say so');
});

test('/status and /metrics answer on the admin listener only', async () => {
  const status = (await (await request(`${gw.adminUrl}/status`)).body.json()) as any;
  assert.ok(Array.isArray(status.apps));
  const alpha = status.apps.find((a: any) => a.name === 'alpha');
  assert.is(alpha.state, 'ready');
  assert.is(alpha.workers.length, 2);
  assert.ok(alpha.workers.every((w: any) => typeof w.pid === 'number'));
  assert.ok(alpha.requests >= 1);
  const beta = status.apps.find((a: any) => a.name === 'beta');
  assert.is(beta.workers.length, 1, 'workers: 1 from the environment file');
  const metrics = await (await request(`${gw.adminUrl}/metrics`)).body.text();
  assert.match(metrics, /apppkg_requests_total\{app="alpha",code="2xx"\} \d+/);
  for (const path of ['/status', '/metrics', '/alpha/../status']) {
    assert.is((await get(path)).status, 404, path);
    assert.is((await get(path, { host: new URL(gw.adminUrl!).host })).status, 404, `${path} with the admin Host`);
  }
});

test.run();
