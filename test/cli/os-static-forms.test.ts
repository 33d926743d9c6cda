// Two keys whose value was written in another key's form: `os: "linux, darwin"` (a string, as
// platform: takes one) and `static: static/` (the directory alone). Their fixes said to "change
// os to an OS name ... or a list of them" and to "write the prefix with a leading slash:
// /static/: ...": now the list to write, and the mapping static: takes for that directory.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { wsgiPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: os: and static: written in another form');
const work = tempDir('apppkg-os-static-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const refusal = async (name: string, line: string): Promise<string> => {
  const dir = wsgiPackage(work.path, name, `platform: python, wsgi\napp: wsgi:application\n${line}\n`);
  const r = await runCli(['check', dir, '--state-dir', state]);
  assert.is(r.status, 1, r.stderr);
  return r.stderr.replace(`${join(dir, 'app.yaml')}:`, 'app.yaml:');
};

test('os: "linux, darwin": the list to write', async () => {
  const said = await refusal('os-string', 'os: "linux, macOS"');
  assert.match(said, 'app.yaml:3:5: os: expected an OS name (posix, linux, darwin, freebsd, openbsd, netbsd, sunos, aix, windows) or a list of them, found "linux, macOS"\n');
  assert.match(said, '  fix: write a list: os: [linux, darwin]\n');
});

test('static: static/: what static: takes, in the form to write for that directory', async () => {
  for (const [value, name] of [['static/', 'static'], ['/assets', 'assets']]) {
    const said = await refusal(`static-${name}`, `static: ${value}`);
    assert.match(said, `app.yaml:3:9: static: expected a mapping of URL prefixes to directories, e.g. /static: static/, found "${value}"\n`);
    assert.match(said, `  fix: static: maps URL prefixes to directories of the app, one per line under it: write static: {/${name}: ${name}/}, or static: and under it the line "  /${name}: ${name}/"\n`);
  }
});

test.run();
