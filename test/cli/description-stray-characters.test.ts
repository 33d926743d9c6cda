// What YAML refuses that its parser said in its own words, or let through: a NUL or another
// control character in app.yaml or the environment file (a binary file, a colour code pasted
// from a terminal) was "Implicit map keys need to be followed by map values", an unknown key
// "\u0000app", or nothing at all (in a comment, in a command); a complex key (`? [a, b]`) was
// placed at 1:1, and Node printed yaml's "Keys with collection values will be stringified"
// warning on the CLI's stderr. Each is now one problem at its line and column, and stderr holds
// the gateway's own words only.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('description: stray control characters and complex keys');
const work = tempDir('apppkg-stray-chars-');
const state = join(work.path, 'state');
test.after(() => work.remove());

const HEAD = 'platform: python, wsgi\napp: wsgi:application\n';

function pkg(name: string, yaml: string | Buffer): string {
  const dir = join(work.path, 'apps', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
  return dir;
}

test('a NUL or another control character anywhere in app.yaml: one problem at its place, saying which character and how to remove it', async () => {
  const cases: Array<[string, string | Buffer, RegExp]> = [
    // A NUL alone on a line was "Implicit map keys need to be followed by map values".
    ['nul-line', `${HEAD}\0\n`, /app\.yaml:3:1: YAML: expected valid YAML, found the control character U\+0000 \(NUL\), which YAML does not allow in a file: the file is binary, or has a stray control character here\n {2}fix: remove the character \(`cat -A app\.yaml` shows it as \^@\)/],
    // Before a key: an unknown key "\u0000app".
    ['nul-key', `platform: python, wsgi\n\0app: wsgi:application\n`, /app\.yaml:2:1: app: expected valid YAML, found the control character U\+0000 \(NUL\)/],
    // In a comment it was read without a word.
    ['nul-comment', `${HEAD}# a comm\0ent\n`, /app\.yaml:3:9: YAML: expected valid YAML, found the control character U\+0000 \(NUL\)/],
    ['escape', `${HEAD}commands:\n  check: echo \x1b[31mred\n`, /app\.yaml:4:15: commands\.check: expected valid YAML, found the control character U\+001B \(ESC\).*\n {2}fix: remove the character \(`cat -A app\.yaml` shows it as \^\[\), or, to keep it in the value, write it as an escape inside double quotes: "\\x1b"/],
    ['c1', `${HEAD}x-note: a\u0086b\n`, /app\.yaml:3:10: x-note: expected valid YAML, found the control character U\+0086/],
    // An executable saved as app.yaml: no "expected a mapping of keys" about its bytes.
    ['binary', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00]), /app\.yaml:1:1: YAML: expected valid YAML, found the control character U\+007F \(DEL\)/],
  ];
  for (const [name, yaml, said] of cases) {
    const r = await runCli(['check', pkg(name, yaml), '--state-dir', state]);
    assert.is(r.status, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, said, name);
    assert.is(r.stderr.split('\n').filter((l) => l.startsWith('apppkg-gateway: ')).length, 1, `${name}: one problem\n${r.stderr}`);
  }
  // A tab, a CR LF and characters past ASCII are text; an escape written as one is too.
  const fine = pkg('fine', `${HEAD}x-note:\t"caf\u00e9 \\x1b \u00a0"\r\n`);
  const ok = await runCli(['describe', fine]);
  assert.is(ok.status, 0, ok.stderr);
});

test('a control character in the environment file is refused at its place, its value not shown', async () => {
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, 'settings:\n  GREETING: se\x07cret\n', { mode: 0o600 });
  const r = await runCli(['check', pkg('env', HEAD), '--environment', env, '--state-dir', state]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /environment\.yaml:2:15: settings\.GREETING: expected valid YAML, found the control character U\+0007 \(BEL\)/);
  assert.not.match(r.stderr, 'secret');
});

test('a complex key (`? [a, b]`, `{a: 1}: x`) is placed at the key, and Node prints no warning of yaml\'s', async () => {
  const cases: Array<[string, string, RegExp]> = [
    ['list-key', `${HEAD}? [a, b]\n: x\n`, /app\.yaml:3:3: YAML: expected valid YAML, found a key that is a list \(\[a, b\]\)/],
    ['map-key', `${HEAD}processes:\n  {a: 1}: x\n`, /app\.yaml:4:3: processes: expected valid YAML, found a key that is a mapping \(\{a: 1\}\)/],
    ['alias-key', `${HEAD}x-list: &l [a]\n? *l\n: x\n`, /app\.yaml:4:3: YAML: expected valid YAML, found a key that is a list \(\*l\)/],
  ];
  for (const [name, yaml, said] of cases) {
    const r = await runCli(['check', pkg(name, yaml), '--state-dir', state]);
    assert.is(r.status, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, said, name);
    assert.not.match(r.stderr, /Warning|stringified|--trace-warnings/, `${name}: ${r.stderr}`);
  }
});

test.run();
