// A delivery's Host is one the app answers to (SPEC 5.3 routes it by the app's name, not by
// Host): the first exact name of its `hosts:`, else NAME.localhost. An app that refuses every
// other Host with 400, as Django's ALLOWED_HOSTS does, took no delivery of a real SMTP message
// while the Host was always NAME.localhost: each was its 400, retried until give_up.
// The path is the app's `mail:` under its mount (SPEC 5.3): SCRIPT_NAME the mount, PATH_INFO
// the path. At prefix '' a `platform: command` app, whose server routes under $APPPKG_MOUNT,
// got every delivery outside its routes: 404, retried until give_up.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { writePackage } from '../helpers/apps-dir.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { mailPort, message, sendWithSmtplib } from '../helpers/smtp.js';
import { runIf } from '../helpers/skip.js';

const test = suite('mail delivery Host');
const HAS_DJANGO = spawnSync('/usr/bin/python3', ['-c', 'import django'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const ifDjango = runIf(test, HAS_DJANGO, 'needs python3-django (npm test installs it as root)');
const apps = tempDir('apppkg-mail-host-apps-');
const state = tempDir('apppkg-mail-host-state-');
const envFile = join(state.path, 'environment.yaml');
let gw: RunningGateway;
let port: number;

/** A stdlib WSGI app that answers the Host `allowed` alone (400 to any other, as Django), and records each delivery attempt. */
function hostCheckingApp(name: string, allowed: string): void {
  writePackage(apps.path, name, {
    'app.yaml': 'platform: python, wsgi\napp: app:application\nmail: /inbound/mail\n',
    'app.py': `import json, os
ALLOWED = ${JSON.stringify(allowed)}
LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "attempts.jsonl")


def application(environ, start_response):
    host = environ.get("HTTP_HOST", "").split(":")[0]
    if environ["PATH_INFO"] == "/inbound/mail":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status = "204 No Content" if host == ALLOWED else "400 Bad Request"
        with open(LOG, "a") as f:
            f.write(json.dumps({"host": environ.get("HTTP_HOST"), "script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"], "status": int(status[:3])}) + "\\n")
        start_response(status, [("Content-Length", "0")])
        return [b""]
    if host != ALLOWED:
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"DisallowedHost"]
    body = json.dumps([json.loads(l) for l in open(LOG)] if os.path.exists(LOG) else []).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
`,
  });
}

/**
 * A `platform: command` app whose own server (http.server) serves under $APPPKG_MOUNT alone, as
 * the README tells such a server to (its routes under the mount): it records each delivery's path.
 */
function mountedCommandApp(name: string): void {
  writePackage(apps.path, name, {
    'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: python3 server.py\nmail: /inbound/mail\n',
    'server.py': `import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

MOUNT = os.environ["APPPKG_MOUNT"]
LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "attempts.jsonl")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = 204 if self.path == MOUNT + "/inbound/mail" else 404
        with open(LOG, "a") as f:
            f.write(json.dumps({"path": self.path, "status": status}) + "\\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        body = json.dumps([json.loads(l) for l in open(LOG)] if os.path.exists(LOG) else []).encode()
        self.send_response(200 if self.path == MOUNT + "/attempts" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
`,
  });
}

/** Django (Debian's python3-django) with ALLOWED_HOSTS = [`allowed`]: its DisallowedHost is the 400. */
function djangoApp(name: string, allowed: string): void {
  writePackage(apps.path, name, {
    'app.yaml': 'platform: python, wsgi\ndeb: python3-django\napp: djmail:application\nmail: /inbound/mail\n',
    'djmail.py': `import json, os
from django.conf import settings

settings.configure(DEBUG=False, SECRET_KEY="test", ALLOWED_HOSTS=[${JSON.stringify(allowed)}], ROOT_URLCONF=__name__, MIDDLEWARE=[])
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

LOG = os.path.join(os.environ["APPPKG_DATA_DIR"], "attempts.jsonl")


@csrf_exempt
def inbound(request):
    request.body
    with open(LOG, "a") as f:
        f.write(json.dumps({"host": request.get_host(), "script_name": request.META["SCRIPT_NAME"], "path_info": request.path_info, "status": 204}) + "\\n")
    return HttpResponse(status=204)


def attempts(request):
    lines = open(LOG).read().splitlines() if os.path.exists(LOG) else []
    return HttpResponse(json.dumps([json.loads(l) for l in lines]), content_type="application/json")


urlpatterns = [path("inbound/mail", inbound), path("attempts", attempts)]
application = get_wsgi_application()
`,
  });
}

test.before(async () => {
  // blog's hosts: a wildcard first (it names no one host), then its name; mounted at a prefix of
  // its own, under which its deliveries come.
  hostCheckingApp('blog', 'blog.example.com');
  hostCheckingApp('plain', 'plain.localhost');
  mountedCommandApp('served');
  if (HAS_DJANGO) djangoApp('dj', 'dj.example.com');
  writeFileSync(envFile, [
    'mail:',
    '  listen: 127.0.0.1:0',
    '  retry: [0.3]',
    '  give_up: 3',
    'defaults:',
    '  workers: 1',
    'apps:',
    '  blog:',
    "    hosts: ['*.blog.example.com', blog.example.com]",
    '    mount: /b',
    '  dj:',
    '    hosts: [dj.example.com]',
    '',
  ].join('\n'), { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off'], { ms: 60_000 });
  port = mailPort(gw.output());
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

/** The delivery attempts `app` recorded, asked by the Host it answers (through the gateway, by Host). */
async function attempts(host: string): Promise<Array<{ host: string; script_name: string; path_info: string; status: number }>> {
  const res = await request(`${gw.url}/attempts`, { headers: { host } });
  assert.is(res.statusCode, 200, `GET /attempts with Host ${host}`);
  return (await res.body.json()) as any;
}

test('an app that refuses other Hosts with 400 takes its mail at the first attempt: Host its first exact hosts: name, else NAME.localhost; the mail: path under its mount', async () => {
  for (const app of ['blog', 'plain']) {
    assert.equal(await sendWithSmtplib(port, 'ann@example.org', [`box@${app}.localhost`], message({ subject: `for ${app}` })), { refused: {} });
  }
  const blog = await waitFor(async () => (await attempts('blog.example.com'))[0], 15_000, 'the first delivery attempt to blog');
  assert.equal(blog, { host: 'blog.example.com', script_name: '/b', path_info: '/inbound/mail', status: 204 });
  const plain = await waitFor(async () => (await attempts('plain.localhost'))[0], 15_000, 'the first delivery attempt to plain');
  assert.equal(plain, { host: 'plain.localhost', script_name: '/plain', path_info: '/inbound/mail', status: 204 });
  // A client's request still goes by its Host: blog's own name reaches blog, another is its 400.
  const other = await request(`${gw.url}/b/attempts`, { headers: { host: 'blog.localhost' } });
  await other.body.dump();
  assert.is(other.statusCode, 400, 'blog refuses a Host not its own');
});

ifDjango('a Django app whose ALLOWED_HOSTS names its hosts: entry alone takes its mail (no DisallowedHost 400)', async () => {
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['box@dj.localhost'], message({ subject: 'for dj' })), { refused: {} });
  const got = await waitFor(async () => (await attempts('dj.example.com'))[0], 15_000, 'the delivery to dj');
  assert.equal(got, { host: 'dj.example.com', script_name: '/dj', path_info: '/inbound/mail', status: 204 });
});

test('a platform: command app whose server routes under $APPPKG_MOUNT takes its mail at MOUNT + its mail: path', async () => {
  assert.equal(await sendWithSmtplib(port, 'ann@example.org', ['box@served.localhost'], message({ subject: 'for served' })), { refused: {} });
  const got = await waitFor(async () => {
    const res = await request(`${gw.url}/served/attempts`);
    assert.is(res.statusCode, 200, 'GET /served/attempts');
    return ((await res.body.json()) as Array<{ path: string; status: number }>)[0];
  }, 15_000, 'the first delivery attempt to served');
  assert.equal(got, { path: '/served/inbound/mail', status: 204 });
});

test.run();
