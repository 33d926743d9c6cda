// The Django example under a mount, through the real gateway: commands.install migrated the
// database in APPPKG_DATA_DIR and collected the static files; the admin's login page carries
// the mount in its links (SCRIPT_NAME, no FORCE_SCRIPT_NAME), and a login POST with its CSRF
// token is accepted. Reached by its host (blog.localhost) as well, its static links carry no
// mount there, whichever way a worker was reached first.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { gatewayStatus } from '../helpers/status.js';
import { runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('examples/django-blog');
const apps = tempDir('apppkg-django-apps-');
const state = tempDir('apppkg-django-state-');
let gw: RunningGateway;
let dir: string;

test.before(async () => {
  dir = addPackage(apps.path, 'examples/django-blog', 'blog');
  // One worker: the page asked by its host below meets the process the /blog pages warmed.
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  blog: {workers: 1}\n');
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', environment], { ms: 60_000 });
  await waitFor(
    async () => (await gatewayStatus(gw)).apps[0]?.state === 'ready',
    90_000,
    'the blog to serve',
  );
});

test.after(async () => {
  await gw?.stop();
  apps.remove();
  state.remove();
});

/** `name=value` pairs of the Set-Cookie headers, for a Cookie header. */
function cookiesOf(setCookie: string | string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of [setCookie ?? []].flat()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

test('the admin login page answers under /blog, its links carrying the mount; its static files are served', async () => {
  const res = await request(`${gw.url}/blog/admin/login/`);
  assert.is(res.statusCode, 200);
  const html = await res.body.text();
  assert.match(html, /<form action="\/blog\/admin\/login\/" method="post" id="login-form">/);
  assert.match(html, /href="\/blog\/static\/admin\/css\/base\.css"/);
  const css = await request(`${gw.url}/blog/static/admin/css/base.css`);
  assert.is(css.statusCode, 200);
  assert.match(String(css.headers['content-type']), /^text\/css/);
  await css.body.dump();
  const home = await request(`${gw.url}/blog/`);
  assert.match(await home.body.text(), /href="\/blog\/admin\/"/);
});

test('by its host after /blog, the admin links its static files at /static, not /blog/static', async () => {
  const mounted = await request(`${gw.url}/blog/admin/login/`);
  assert.match(await mounted.body.text(), /href="\/blog\/static\/admin\/css\/base\.css"/);
  // Django's static storage kept the first request's SCRIPT_NAME for the life of the worker, so
  // every page asked by host pointed at /blog/static/..., which is 404 there.
  const res = await request(`${gw.url}/admin/login/`, { headers: { host: 'blog.localhost' } });
  assert.is(res.statusCode, 200);
  const html = await res.body.text();
  assert.match(html, /href="\/static\/admin\/css\/base\.css"/);
  const css = await request(`${gw.url}/static/admin/css/base.css`, { headers: { host: 'blog.localhost' } });
  await css.body.dump();
  assert.is(css.statusCode, 200);
  const again = await request(`${gw.url}/blog/admin/login/`);
  assert.match(await again.body.text(), /href="\/blog\/static\/admin\/css\/base\.css"/);
});

test('a login POST with its CSRF token is accepted (302 into the admin); without the token, 403', async () => {
  const created = await runCli(
    [
      'run', '--state-dir', state.path, dir, '--',
      'python', 'manage.py', 'shell', '-c',
      "from django.contrib.auth.models import User; User.objects.create_superuser('admin', 'admin@example.com', 's3cret-pass')",
    ],
    { ms: 60_000 },
  );
  assert.is(created.status, 0, created.stderr);

  const page = await request(`${gw.url}/blog/admin/login/?next=/blog/admin/`);
  const html = await page.body.text();
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(token, 'the form carries a CSRF token');
  const cookies = cookiesOf(page.headers['set-cookie']);
  assert.ok(cookies.csrftoken, 'a csrftoken cookie is set');
  const form = new URLSearchParams({ csrfmiddlewaretoken: token!, username: 'admin', password: 's3cret-pass', next: '/blog/admin/' });
  const login = await request(`${gw.url}/blog/admin/login/?next=/blog/admin/`, {
    method: 'POST',
    body: form.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `csrftoken=${cookies.csrftoken}` },
  });
  await login.body.dump();
  assert.is(login.statusCode, 302);
  assert.is(login.headers.location, '/blog/admin/');
  const session = cookiesOf(login.headers['set-cookie']).sessionid;
  assert.ok(session, 'logged in: a session cookie');
  const admin = await request(`${gw.url}/blog/admin/`, { headers: { cookie: `sessionid=${session}` } });
  assert.is(admin.statusCode, 200);
  assert.match(await admin.body.text(), /href="\/blog\/admin\/posts\/post\/"/);

  const forged = await request(`${gw.url}/blog/admin/login/`, {
    method: 'POST',
    body: 'username=admin&password=s3cret-pass',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  await forged.body.dump();
  assert.is(forged.statusCode, 403);
});

test('issue 13 item 5: serve on a fresh state runs commands.install first, so the pages answer (no "no such table")', async () => {
  // A copy: collectstatic writes static/ into the app directory.
  const work = tempDir('apppkg-django-serve-');
  const fresh = tempDir('apppkg-django-serve-state-');
  let dev: RunningGateway | null = null;
  try {
    const copy = addPackage(work.path, 'examples/django-blog', 'django-blog');
    dev = await startCli(['serve', copy, '--port', '0', '--state-dir', fresh.path], { ms: 90_000 });
    assert.match(dev.output(), /running commands\.install/);
    for (const path of ['/', '/admin/login/']) {
      const res = await request(`${dev.url}${path}`);
      const body = await res.body.text();
      assert.is(res.statusCode, 200, `${path}: ${body.slice(0, 300)}`);
      assert.not.match(body, /no such table/);
    }
    const css = await request(`${dev.url}/static/admin/css/base.css`);
    await css.body.dump();
    assert.is(css.statusCode, 200, 'collectstatic ran too');
  } finally {
    await dev?.stop();
    work.remove();
    fresh.remove();
  }
});

test("issue 13 item 7: createsuperuser --noinput through run takes DJANGO_SUPERUSER_PASSWORD from the caller's environment", async () => {
  const created = await runCli(
    ['run', '--state-dir', state.path, dir, '--', 'python', 'manage.py', 'createsuperuser', '--noinput', '--username', 'editor', '--email', 'editor@example.com'],
    { ms: 60_000, env: { DJANGO_SUPERUSER_PASSWORD: 'from-the-shell-9' } },
  );
  assert.is(created.status, 0, created.stderr);
  // Before the fix the variable was dropped and Django silently made a user with an unusable password.
  const login = await runCli(
    [
      'run', '--state-dir', state.path, dir, '--',
      'python', 'manage.py', 'shell', '-c',
      "from django.contrib.auth import authenticate; print(authenticate(username='editor', password='from-the-shell-9') is not None)",
    ],
    { ms: 60_000 },
  );
  assert.is(login.status, 0, login.stderr);
  assert.is(login.stdout.trim(), 'True');
});

test.run();
