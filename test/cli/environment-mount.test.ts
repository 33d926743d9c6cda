// An app's `mount:` in the environment file (SPEC §2) is compared with a request's decoded
// path, which a query, a fragment, a percent sign or a dot segment never reaches. Such a mount
// used to be accepted and its app left unreachable (`/a/../b`: requests with dot segments get
// 400), or reachable only by an odd spelling (`/q?x` as /q%3Fx, `/p%41th` as /p%2541th).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: the environment file\'s mount');
const work = tempDir('apppkg-environment-mount-');
test.after(() => work.remove());

const app = join(work.path, 'blog');
mkdirSync(app, { recursive: true });
writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\n');

async function describeWith(mount: string): Promise<{ status: number | null; stderr: string; file: string }> {
  const file = join(work.path, 'environment.yaml');
  writeFileSync(file, `apps:\n  blog:\n    mount: ${JSON.stringify(mount)}\n`);
  const ran = await runCli(['describe', app, '--environment', file]);
  return { status: ran.status, stderr: ran.stderr, file };
}

test('a mount no decoded request path can match is refused at its line, with the mount to write', async () => {
  const cases: Array<[string, string]> = [
    ['/q?x', 'write the path alone, mount: /q (a query or fragment never takes part in routing)'],
    ['/p%41th', 'write the path decoded, mount: /pAth (requests are routed by their decoded path, as SCRIPT_NAME gives it)'],
    ['/a/../b', 'write the path without "." or ".." segments (a request path has none: they are resolved before routing, as nginx does)'],
    // Served as SCRIPT_NAME //x, the app's own links named the host x.
    ['//x', "write mount: /x (the app's links under //x would be //x/..., a URL of the host x)"],
    ['//', 'write mount: / (nginx merges the slashes of a request path, so none behind it would reach //)'],
    ['/a//b/', 'write mount: /a/b/ (nginx merges the slashes of a request path, so none behind it would reach /a//b/)'],
  ];
  for (const [mount, fix] of cases) {
    const { status, stderr, file } = await describeWith(mount);
    assert.is(status, 1, `${mount}: ${stderr}`);
    assert.match(stderr, `${file}:3:12: apps.blog.mount: expected a URL path starting with '/', e.g. /blog, as requests' decoded paths read (no '?', '#', '%', control characters, '.' or '..' segments, or '//'), found ${JSON.stringify(mount)}\n  fix: ${fix}\n`);
  }
});

test('mounts a decoded path can match are taken as they are', async () => {
  for (const mount of ['/blog/', '/.well-known/blog', '/café', '/']) {
    const { status, stderr } = await describeWith(mount);
    assert.is(status, 0, `${mount}: ${stderr}`);
  }
});

test.run();
