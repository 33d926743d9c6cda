// A URL written where a path goes (`health: http://localhost:8000/healthz`, a route, a static
// prefix, an environment file's mount) is refused at its line, as any path without its leading
// `/` is; the fix used to put a `/` before the whole URL (`write route: /http://x/live`), a
// value the same rules refuse (its `//`) and never the path meant. It now gives the URL's path.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: a URL where a path goes');
const work = tempDir('apppkg-url-for-path-');
test.after(() => work.remove());

const app = join(work.path, 'blog');
mkdirSync(app, { recursive: true });

async function describeApp(yaml: string, env?: string): Promise<{ status: number | null; stderr: string }> {
  writeFileSync(join(app, 'app.yaml'), yaml);
  const args = ['describe', app];
  if (env !== undefined) {
    const file = join(work.path, 'environment.yaml');
    writeFileSync(file, env);
    args.push('--environment', file);
  }
  const ran = await runCli(args);
  return { status: ran.status, stderr: ran.stderr };
}

const WSGI = 'platform: python, wsgi\napp: wsgi:application\n';

test('app.yaml: health:, a route: and a static: prefix written as URLs get their path as the fix', async () => {
  const cases: Array<[string, string]> = [
    [`${WSGI}health: http://localhost:8000/healthz\n`, 'write the path alone, without the scheme and host: health: /healthz'],
    [`${WSGI}processes:\n  ws:\n    command: python -m live\n    route: https://blog.example.com/live\n`, 'write the path alone, without the scheme and host: route: /live'],
    [`${WSGI}static:\n  http://blog.example.com/static: static/\n`, 'write the path alone, without the scheme and host: /static: ...'],
    // A path alone without its slash keeps the fix it had.
    [`${WSGI}health: healthz\n`, 'write health: /healthz'],
  ];
  for (const [yaml, fix] of cases) {
    const { status, stderr } = await describeApp(yaml);
    assert.is(status, 1, `${yaml}: ${stderr}`);
    assert.match(stderr, `\n  fix: ${fix}\n`);
    assert.not.match(stderr, /\/https?:\/\//, 'no fix puts a slash before the URL');
  }
});

test('the environment file: a mount written as a URL gets its path as the fix', async () => {
  const { status, stderr } = await describeApp(WSGI, 'apps:\n  blog:\n    mount: http://example.com/blog\n');
  assert.is(status, 1, stderr);
  assert.match(stderr, ':3:12: apps.blog.mount: expected a URL path starting with');
  assert.match(stderr, '\n  fix: write the path alone, without the scheme and host: mount: /blog\n');
});

test.run();
