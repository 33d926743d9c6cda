// A program whose working directory was removed while it ran in it (a deploy replacing the
// directory, an `rm -rf` in another terminal), calling Gateway.start or AppPackage.open with a
// relative path: it was thrown Node's raw "ENOENT: no such file or directory, uv_cwd", naming
// neither the directory nor the path. It is APPPKG_CWD_GONE, as the CLI's (cli/commands-usage),
// in the library's words: the program entered it, and what it does is a call, not `cd`.
// Imported by the package's own name, as a program does.
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage, Gateway, isGatewayError, type GatewayError } from 'apppkg-gateway';
import { tempDir, within } from '../helpers/process.js';

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

test.run();
