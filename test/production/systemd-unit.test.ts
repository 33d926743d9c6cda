// The shipped systemd unit (examples/deploy/apppkg-gateway.service): its ExecStart is a command
// line the gateway accepts, and its admin listener is the unix socket that SPEC 5.4 says the
// unit uses (mode 0600, no token needed), never a TCP port the apps could reach.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommand } from '../../src/cli/args.js';
import { spec } from '../../src/cli/commands/gateway.js';
import { parseAddr } from '../../src/net/address.js';
import { ROOT, runCli } from '../helpers/process.js';

const test = suite('systemd unit');

test('ExecStart parses as the gateway command, with the admin listener on a unix socket under /run', () => {
  const unit = readFileSync(join(ROOT, 'examples', 'deploy', 'apppkg-gateway.service'), 'utf8');
  const line = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit)?.[1];
  assert.ok(line, 'an ExecStart line');
  const [program, ...args] = line.replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean);
  assert.is(program, '/usr/bin/apppkg-gateway');
  const parsed = parseCommand(spec, args);
  assert.is(parsed.values.apps, '/var/apps');
  const admin = parseAddr(String(parsed.values.admin), '--admin');
  assert.equal(admin, { kind: 'unix', path: '/run/apppkg-gateway/admin.sock' });
  assert.is(parsed.values['admin-token'], undefined, 'the socket needs no token');
});

test('a command line the gateway refuses (exit 2) is not restarted every 2 s for ever', async () => {
  const unit = readFileSync(join(ROOT, 'examples', 'deploy', 'apppkg-gateway.service'), 'utf8');
  assert.match(unit, /^Restart=on-failure$/m);
  const prevented = /^RestartPreventExitStatus=(.*)$/m.exec(unit)?.[1].split(/\s+/) ?? [];
  const refused = await runCli(['--apps', '/var/apps', '--no-such-flag']);
  assert.is(refused.status, 2, refused.stderr);
  assert.ok(prevented.includes(String(refused.status)), `RestartPreventExitStatus=${prevented.join(' ')}`);
});

test('the package ships the unit, with the nginx site and logrotate beside it, as `npm install -g` puts it', () => {
  // --dry-run lists what `npm pack` (and so a registry's tarball) would hold, building nothing.
  const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.is(packed.status, 0, packed.stderr);
  const files = new Set((JSON.parse(packed.stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
  for (const file of ['apppkg-gateway.service', 'nginx-site.conf', 'logrotate']) {
    assert.ok(files.has(`examples/deploy/${file}`), `examples/deploy/${file} is not in the package`);
  }
});

test.run();
