// A program whose working directory was removed while it ran in it (a deploy replacing the
// directory, an `rm -rf` in another terminal), calling Gateway.start or AppPackage.open with a
// relative path: it was thrown Node's raw "ENOENT: no such file or directory, uv_cwd", naming
// neither the directory nor the path. It is APPPKG_CWD_GONE, as the CLI's (cli/commands-usage),
// in the library's words: the program entered it, and what it does is a call, not `cd`.
// Imported by the package's own name, as a program does.
import { spawn } from 'node:child_process';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError, type GatewayError } from 'apppkg-gateway';
import { ROOT, tempDir, within } from '../helpers/process.js';

const test = suite('library: a call given a relative path in a working directory removed since is APPPKG_CWD_GONE, in the library\'s words');
const work = tempDir('apppkg-lib-cwd-gone-');
const started = process.cwd();

test.after(() => {
  process.chdir(started);
  work.remove();
});

/** `call`'s rejection, run while the process is in a directory removed after it entered it. */
async function inRemovedDirectory(what: string, call: () => Promise<unknown>): Promise<{ err: GatewayError; gone: string }> {
  const gone = join(work.path, `gone-${what.replace(/\W+/g, '-')}`);
  mkdirSync(gone);
  process.chdir(gone);
  rmdirSync(gone);
  let result: unknown;
  try {
    result = await within(30_000, what, call().then((v) => v, (e: unknown) => e));
  } finally {
    process.chdir(started);
  }
  if (result instanceof Gateway) await result.stop();
  assert.ok(isGatewayError(result), `${what}: expected a GatewayError, got ${String(result)}`);
  return { err: result as GatewayError, gone };
}

const calls: Array<[string, () => Promise<unknown>]> = [
  ['Gateway.start apps relative', () => Gateway.start({ apps: 'apps', stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', admin: false, say: () => {} })],
  ['Gateway.start stateDir relative', () => Gateway.start({ apps: work.path, stateDir: 'state', listen: '127.0.0.1:0', admin: false, say: () => {} })],
  ['Gateway.start app relative', () => Gateway.start({ app: 'blog', stateDir: join(work.path, 'state'), listen: '127.0.0.1:0', say: () => {} })],
  ['AppPackage.open relative', () => AppPackage.open('blog')],
];

for (const [what, call] of calls) {
  test(`${what}: APPPKG_CWD_GONE naming the directory, with the library's fix`, async () => {
    const { err, gone } = await inRemovedDirectory(what, call);
    assert.is(err.code, 'APPPKG_CWD_GONE', err.format());
    assert.is(err.message, `the current directory ${gone} no longer exists: it was removed after the program entered it`);
    assert.is(err.hint, `give the call absolute paths, or move the program to a directory that exists first (\`process.chdir(DIR)\`; \`process.chdir(${JSON.stringify(gone)})\` enters the one made again at that path, if a deploy replaced it), and call it again`);
    assert.not.match(err.format(), /uv_cwd|\bcd\b/);
  });
}

// A program that imports the library (dist/, as a user's would) from a directory removed before
// the import, then calls runCommand('backup') or ('restore') with a relative APPPKG_BACKUP_DIR:
// the path was resolved against the removed directory, and the raw ENOENT of uv_cwd reached it.
test('a program in a removed directory: runCommand(\'backup\') and (\'restore\') with a relative APPPKG_BACKUP_DIR are APPPKG_CWD_GONE too', async () => {
  const pkg = join(work.path, 'hooks');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\ncommands:\n  backup: "true"\n  restore: "true"\n');
  writeFileSync(join(pkg, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  const gone = join(work.path, 'gone-child');
  const program = join(work.path, 'program.mjs');
  writeFileSync(program, `import { mkdirSync, rmdirSync } from 'node:fs';
mkdirSync(${JSON.stringify(gone)});
process.chdir(${JSON.stringify(gone)});
rmdirSync(${JSON.stringify(gone)});
const { AppPackage } = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)});
const app = await AppPackage.open(${JSON.stringify(pkg)}, { stateDir: ${JSON.stringify(join(work.path, 'state'))} });
const said = [];
for (const name of ['backup', 'restore']) {
  said.push(await app.runCommand(name, { env: { APPPKG_BACKUP_DIR: 'backups' } }).then((status) => ({ status }), (e) => ({ code: e.code, message: e.message, hint: e.hint })));
}
console.log(JSON.stringify(said));
`);
  const child = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const status = await within(60_000, 'the program to end', new Promise<number | null>((resolve) => child.on('close', resolve))).finally(() => child.kill('SIGKILL'));
  assert.is(status, 0, out);
  const said = JSON.parse(out) as Array<{ code?: string; message?: string; hint?: string; status?: number }>;
  for (const [i, name] of ['backup', 'restore'].entries()) {
    assert.is(said[i].code, 'APPPKG_CWD_GONE', `${name}: ${out}`);
    assert.is(said[i].message, `the current directory ${gone} no longer exists: it was removed after the program entered it`);
    assert.is(said[i].hint, `give the call absolute paths, or move the program to a directory that exists first (\`process.chdir(DIR)\`; \`process.chdir(${JSON.stringify(gone)})\` enters the one made again at that path, if a deploy replaced it), and call it again`);
  }
});

test.run();
