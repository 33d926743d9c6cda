import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, ROOT, runCli, tempDir, type CliResult } from '../helpers/process.js';

const test = suite('cli commands');
const state = tempDir('apppkg-cli-state-');
const work = tempDir('apppkg-cli-work-');
test.after(() => {
  state.remove();
  work.remove();
});

/** A package directory with this app.yaml and a trivial WSGI module. */
function pkg(name: string, yaml: string): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(
    join(dir, 'wsgi.py'),
    'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n',
  );
  return dir;
}

const COMMANDS = ['serve', 'check', 'install', 'backup', 'restore', 'uninstall', 'test', 'run', 'describe', 'init', 'status', 'logs', 'restart', 'rollback'];

const helpRuns = new Map<string, Promise<CliResult>>();
/**
 * `COMMAND --help`, or the general `--help` without one, run once per file: its text depends on
 * nothing a test does, and every run is a Node start; the help tests read each several times.
 */
function helpOf(command?: string): Promise<CliResult> {
  const key = command ?? '';
  let run = helpRuns.get(key);
  if (run === undefined) helpRuns.set(key, (run = runCli(command === undefined ? ['--help'] : [command, '--help'])));
  return run;
}

test('--help on every command prints its usage and exits 0', async () => {
  for (const command of COMMANDS) {
    const r = await helpOf(command);
    assert.is(r.status, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`usage: apppkg-gateway ${command}`));
  }
  const top = await helpOf();
  assert.is(top.status, 0);
  assert.match(top.stdout, /--apps DIR/);
  // The gateway's own options, where a user looks first, not only under `--apps X --help`.
  for (const flag of ['--state-dir DIR', '--grace SECONDS', '--access-log FILE', '--max-workers N']) assert.match(top.stdout, `\n  ${flag}`);
  // A command's usage line names the options its list has.
  for (const command of ['check', 'test', 'run']) assert.match((await helpOf(command)).stdout.split('\n')[0], '[--state-dir DIR]', command);
  for (const command of [...COMMANDS, 'export', 'vendor']) {
    const help = (await helpOf(command)).stdout;
    const usage = help.slice(0, help.indexOf('\n\n'));
    const listed = [...help.slice(help.indexOf('\noptions:\n')).matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]).filter((flag) => flag !== '--help');
    assert.equal(listed.filter((flag) => !usage.includes(flag)), [], `${command}: options missing from its usage line`);
  }
});

test('help prints the general help, help COMMAND its --help; help of no command is bad usage with the list', async () => {
  const general = await runCli(['help']);
  assert.is(general.status, 0, general.stderr);
  assert.is(general.stdout, (await helpOf()).stdout);
  for (const command of ['check', 'export']) {
    const r = await runCli(['help', command]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, (await helpOf(command)).stdout, command);
  }
  const unknown = await runCli(['help', 'nosuch']);
  assert.is(unknown.status, 2);
  assert.is(unknown.stdout, '');
  assert.match(unknown.stderr, /unknown command "nosuch"; the commands: serve, check, install, .*, help\n/);
  const typo = await runCli(['chek']);
  assert.is(typo.status, 2);
  assert.match(typo.stderr, /unknown command "chek" \(did you mean "check"\?\)/);
});

test('bad usage exits 2 and says how to get help', async () => {
  const unknownOption = await runCli(['describe', '--frobnicate']);
  assert.is(unknownOption.status, 2);
  assert.match(unknownOption.stderr, /--frobnicate/);
  assert.match(unknownOption.stderr, /--help/);
  // Said as our other messages are, not as node:util's advice on positionals after `--`.
  const usage = async (args: string[], says: string): Promise<CliResult> => {
    const r = await runCli(args);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.split('\n')[0], `apppkg-gateway: ${says}`);
    return r;
  };
  await usage(['serve', '--prot', '8000'], 'unknown option --prot (did you mean --port?)');
  await usage(['status', '--jsn'], 'unknown option --jsn (did you mean --json?)');
  await usage(['serve', '-p'], '--port: expected a value after it, found none');
  await usage(['serve', '--reload=yes'], '--reload takes no value, found "--reload=yes"');
  // The other mode's options, or another server's: said with ours, not sent to the nearest name
  // (--listen's nearest under serve was nothing; gunicorn's --bind had none either).
  await usage(['serve', '--listen', '127.0.0.1:9000'], "unknown option --listen: serve listens on --host HOST --port N (default 127.0.0.1, 8000); --listen ADDR is the gateway's, with --apps DIR");
  await usage(['serve', '-b', '0.0.0.0:8000'], "unknown option -b: gunicorn's -b HOST:PORT is --host HOST --port N here");
  await usage(['--apps', EXAMPLES, '--port', '8080'], "unknown option --port: the gateway listens on --listen HOST:PORT (--listen 127.0.0.1:8080; given again for more addresses); --host and --port are serve's");
  await usage(['--apps', EXAMPLES, '--workers=4'], 'unknown option --workers: under --apps each app has its own: `workers: N` under apps.NAME, or under defaults: for every app, in the environment file (--environment FILE)');
  await usage(['serve', '-p', '-5'], '--port: expected a value after it, found "-5", which reads as an option (write --port=-5 to give it as the value)');
  // run's command without the `--` before it: told where the command goes, its own options too.
  await usage(['run', EXAMPLES, 'python', 'manage.py', 'migrate'], 'expected -- before the command, found "python" (write apppkg-gateway run APP_DIR -- python ...)');
  await usage(['run', EXAMPLES, 'python', '-V'], 'expected -- before the command, found "python" (write apppkg-gateway run APP_DIR -- python ...)');
  await usage(['run', EXAMPLES, '--frobnicate'], 'unknown option --frobnicate');
  // What is missing is said, with a line to follow: "expected APP_DIR -- CMD" named neither.
  const noCommand = await usage(['run', EXAMPLES], 'expected APP_DIR -- CMD, found no CMD, the command to run after --');
  await usage(['run', EXAMPLES, '--'], 'expected APP_DIR -- CMD, found no CMD, the command to run after --');
  await usage(['run', '--', 'python', '-V'], 'expected APP_DIR -- CMD, found no APP_DIR, the app');
  assert.is(noCommand.stderr.split('\n')[1], '  fix: write e.g. `apppkg-gateway run /var/apps/blog -- python manage.py migrate`');
  const unknownCommand = await runCli(['frobnicate']);
  assert.is(unknownCommand.status, 2);
  // No arguments at all is bad usage too: the usage goes where errors go (stderr), as argparse
  // and click put it, so that `apppkg-gateway >out` still shows it and leaves out empty.
  const nothing = await runCli([]);
  assert.is(nothing.status, 2);
  assert.is(nothing.stdout, '');
  assert.match(nothing.stderr, /^usage: apppkg-gateway --apps DIR/);
  const noApps = await runCli(['--listen', '8000']);
  assert.is(noApps.status, 2);
  assert.match(noApps.stderr, /--apps DIR is required\n  fix: name the directory holding one directory per app: `apppkg-gateway --apps \/var\/apps`, or for one app `apppkg-gateway serve APP_DIR`/);
  const badAddr = await runCli(['--apps', EXAMPLES, '--listen', 'nowhere:port']);
  assert.is(badAddr.status, 2);
  assert.match(badAddr.stderr, /expected PORT, HOST:PORT or unix:\/path/);
  // serve --port takes a number, and is told about what was typed.
  const badPort = await runCli(['serve', join(EXAMPLES, 'hello'), '--port', 'abc', '--state-dir', state.path]);
  assert.is(badPort.status, 2);
  assert.match(badPort.stderr, /--port: expected a port number \(0-65535; 0 picks a free one\), found "abc"/);
  // A number of the wrong form is told the accepted form by example, not only to read --help.
  assert.is(badPort.stderr.split('\n')[1], '  fix: give --port a number from 0 to 65535, e.g. --port 8000; the host goes in --host (e.g. --host 0.0.0.0)');
  const fixes: Array<[string[], string]> = [
    [['serve', join(EXAMPLES, 'hello'), '--workers', 'two', '--state-dir', state.path], 'give --workers a whole number of at least 1, e.g. --workers 2'],
    [['serve', join(EXAMPLES, 'hello'), '--threads', '1.5', '--state-dir', state.path], 'give --threads a whole number of at least 1, e.g. --threads 8'],
    [['logs', 'blog', '--lines', 'all'], 'give --lines a whole number of at least 0, e.g. --lines 100'],
    [['--apps', EXAMPLES, '--grace', '30s'], 'give --grace a number of seconds (a fraction is fine), e.g. --grace 30'],
    [['--apps', EXAMPLES, '--max-workers', 'many'], 'give --max-workers a whole number of at least 1, e.g. --max-workers 8'],
    // The peers after a space, as another flag's value: said as "unexpected argument" with --help only.
    [['--apps', EXAMPLES, '--trust-proxy', '10.0.0.1,loopback'], 'write --trust-proxy=10.0.0.1,loopback: its peers follow "=" (--trust-proxy alone trusts any peer)'],
    // Empty (an unset shell variable) is no 0, nor are forms Number() reads: 0 seconds of grace
    // cut every request at the stop, and a --watch-interval of 0 never rescans.
    ...(['--grace', '--watch-interval', '--settle'] as const).flatMap((flag) =>
      ['', ' 5', '1e1'].map((value): [string[], string] => [
        ['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, flag, value],
        `give ${flag} a number of seconds (a fraction is fine), e.g. ${flag} ${{ '--grace': 30, '--watch-interval': 2, '--settle': 1 }[flag]}`,
      ]),
    ),
  ];
  for (const [args, fix] of fixes) {
    const r = await runCli(args);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.split('\n')[1], `  fix: ${fix}`, args.join(' '));
  }
});

test('an option that takes one value, given twice, is bad usage naming it and both values; --listen and flags may repeat', async () => {
  // node:util kept the last: `status --admin A --admin B` asked B unsaid, and the gateway served
  // one admin listener where two may have been meant. Refused before anything listens or runs.
  const usage = async (args: string[], says: string, fix: string) => {
    const r = await runCli(args);
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.equal(r.stderr.split('\n').slice(0, 2), [`apppkg-gateway: ${says}`, `  fix: ${fix}`], args.join(' '));
  };
  const hello = join(EXAMPLES, 'hello');
  await usage(['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin=127.0.0.1:9', '--state-dir', state.path], '--admin: given twice (--admin 127.0.0.1:0, then --admin 127.0.0.1:9), and it takes one value', 'give --admin once, with the value you mean (e.g. --admin 127.0.0.1:9)');
  await usage(['status', '--admin', '127.0.0.1:1', '--admin', '127.0.0.1:2', '--admin', '127.0.0.1:3'], '--admin: given 3 times (--admin 127.0.0.1:1, then --admin 127.0.0.1:2, then --admin 127.0.0.1:3), and it takes one value', 'give --admin once, with the value you mean (e.g. --admin 127.0.0.1:3)');
  await usage(['serve', hello, '-p', '0', '--port=0', '--state-dir', state.path], '--port: given twice (--port 0, then --port 0), and it takes one value', 'give --port once, with the value you mean (e.g. --port 0)');
  await usage(['check', hello, '--state-dir', state.path, '-e', 'a.yaml', '--environment', ''], '--environment: given twice (--environment a.yaml, then --environment=""), and it takes one value', 'give --environment once, with the value you mean (e.g. --environment="")');
  await usage(['--apps', EXAMPLES, '--trust-proxy', '--trust-proxy=10.0.0.1'], '--trust-proxy: given twice (--trust-proxy, then --trust-proxy="10.0.0.1"), and it takes one value', 'give --trust-proxy once, with the value you mean (e.g. --trust-proxy="10.0.0.1")');
  await usage(['run', hello, '--state-dir', state.path, '--state-dir', state.path, '--', 'true'], `--state-dir: given twice (--state-dir ${state.path}, then --state-dir ${state.path}), and it takes one value`, `give --state-dir once, with the value you mean (e.g. --state-dir ${state.path})`);
  // What follows run's -- is the command's own, options included.
  const passed = await runCli(['run', hello, '--state-dir', state.path, '--', 'python', '-c', 'import sys; print(sys.argv[1:])', '--state-dir', 'a', '--state-dir', 'b']);
  assert.is(passed.status, 0, passed.stderr);
  assert.is(passed.stdout.trim(), "['--state-dir', 'a', '--state-dir', 'b']");
  // A flag without a value given twice says the same thing twice: accepted.
  const flags = await runCli(['describe', hello, '--sys-path', '--sys-path', '--state-dir', state.path]);
  assert.is(flags.status, 0, flags.stderr);
  assert.is(JSON.parse(flags.stdout).name, 'hello');
});

test('a short option written with = (-e=FILE, -p=8000) is bad usage with the two spellings that work, not a value beginning with =', async () => {
  // node:util, as getopt, gave -e the value "=env.yaml": "/DIR/=env.yaml: no such file".
  for (const [args, says, fix] of [
    [['describe', join(EXAMPLES, 'hello'), '-e=env.yaml'], '-e=env.yaml', 'write -e env.yaml, or --environment=env.yaml'],
    [['serve', join(EXAMPLES, 'hello'), '-p=8000', '--state-dir', state.path], '-p=8000', 'write -p 8000, or --port=8000'],
    [['logs', 'blog', '-n=5'], '-n=5', 'write -n 5, or --lines=5'],
    [['--apps', EXAMPLES, '-l=127.0.0.1:0'], '-l=127.0.0.1:0', 'write -l 127.0.0.1:0, or --listen=127.0.0.1:0'],
  ] as const) {
    const r = await runCli([...args]);
    assert.is(r.status, 2, r.stderr);
    assert.equal(r.stderr.split('\n').slice(0, 2), [`apppkg-gateway: ${says}: a short option's value follows it after a space, found "=" before it`, `  fix: ${fix}`], args.join(' '));
  }
  // Joined without "=" is getopt's other form, and works.
  const joined = await runCli(['describe', join(EXAMPLES, 'hello'), `-e${join(work.path, 'no-such.yaml')}`]);
  assert.is(joined.status, 1);
  assert.match(joined.stderr, `${join(work.path, 'no-such.yaml')}: no such file`);
});

test('an ADDR whose HOST is no IP address or host name is bad usage (exit 2) for --listen, --admin, status --admin and serve --host', async () => {
  // Before, the bind met ENOTFOUND (exit 1, "an address of this host"), and status could not
  // build a URL of it, said as "no gateway answers ... start one".
  const cases: Array<[string[], string]> = [
    [['--apps', EXAMPLES, '--listen', 'bad host:8000', '--admin', '127.0.0.1:0', '--state-dir', state.path], '--listen: expected HOST:PORT with HOST an IP address or a host name ("bad host" is neither), found "bad host:8000"'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin', '256.1.1.1:9000', '--state-dir', state.path], '--admin: expected HOST:PORT with HOST an IP address or a host name ("256.1.1.1" is neither), found "256.1.1.1:9000"'],
    [['--apps', EXAMPLES, '--listen', '[:::1]:8000', '--admin', '127.0.0.1:0', '--state-dir', state.path], '--listen: expected HOST:PORT with HOST an IP address or a host name (":::1" is neither), found "[:::1]:8000"'],
    [['status', '--admin', 'bad host:8099'], '--admin: expected HOST:PORT with HOST an IP address or a host name ("bad host" is neither), found "bad host:8099"'],
    [['status', '--admin', 'http://10.0.0.300:8099/'], '--admin: expected HOST:PORT with HOST an IP address or a host name ("10.0.0.300" is neither), found "http://10.0.0.300:8099/"'],
    [['serve', join(EXAMPLES, 'hello'), '--host', 'bad host', '--port', '0', '--state-dir', state.path], '--host: expected an IP address or a host name, found "bad host"'],
  ];
  for (const [args, says] of cases) {
    const r = await runCli(args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.is(r.stderr.split('\n')[0], `apppkg-gateway: ${says}`);
  }
  // The fix writes the forms out; the admin's leaves 0.0.0.0 out, which needs --admin-token.
  const admin = await runCli(['status', '--admin', 'bad host:8099']);
  assert.is(admin.stderr.split('\n')[1], '  fix: write e.g. --admin 127.0.0.1:8099, --admin [::1]:8099 or --admin localhost:8099');
  // A well-formed name stays the resolver's to judge: a name that does not resolve ran and failed.
  const unresolved = await runCli(['--apps', EXAMPLES, '--listen', 'no-such-host.invalid:0', '--admin', '127.0.0.1:0', '--state-dir', state.path]);
  assert.is(unresolved.status, 1, unresolved.stderr);
  assert.match(unresolved.stderr, /cannot listen on no-such-host\.invalid:0: (ENOTFOUND|EAI_AGAIN)/);
});

test('a missing --environment FILE is named once, with the fix; a directory given for it is said to be one', async () => {
  const missing = join(work.path, 'no-such-environment.yaml');
  for (const args of [['serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', state.path], ['check', join(EXAMPLES, 'hello'), '--state-dir', state.path]]) {
    const r = await runCli([...args, '--environment', missing]);
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr.split(missing).length - 1, 1, `the path once: ${r.stderr}`);
    assert.match(r.stderr, `apppkg-gateway: ${missing}: no such file; it was given as the environment file (--environment)\n  fix: pass an existing YAML file to --environment, or leave the flag out\n`);
  }
  // A directory given for it is there: said as the directory it is, under --apps too.
  const dir = join(work.path, 'environment-dir');
  mkdirSync(dir, { recursive: true });
  for (const args of [['check', join(EXAMPLES, 'hello'), '--state-dir', state.path], ['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path]]) {
    const r = await runCli([...args, '--environment', dir]);
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, `apppkg-gateway: ${dir}: a directory, not a file; it was given as the environment file (--environment)\n  fix: pass the YAML file itself to --environment (e.g. /etc/apppkg-gateway/environment.yaml, not its directory), or leave the flag out\n`);
  }
});

test('a reader that leaves early (| head -1) does not turn a command that succeeds into a crash', async () => {
  const { spawn } = await import('node:child_process');
  for (const args of [['check', join(EXAMPLES, 'hello'), '--state-dir', state.path], ['init', join(work.path, 'head-init')]]) {
    if (args[0] === 'init') {
      mkdirSync(args[1], { recursive: true });
      writeFileSync(join(args[1], 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');
    }
    const child = spawn(join(ROOT, 'bin', 'apppkg-gateway'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // As head does: the first bytes, then the read end closed.
    child.stdout.once('data', () => child.stdout.destroy());
    const status = await new Promise<number | null>((resolve, reject) => {
      const deadline = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${args[0]} did not finish within 30 s once its reader left: ${stderr}`));
      }, 30_000);
      child.on('close', (code) => {
        clearTimeout(deadline);
        resolve(code);
      });
    });
    assert.is(status, 0, `${args[0]}: ${stderr}`);
    assert.not.match(stderr, /EPIPE|Unhandled/, stderr);
  }
});

test('describe prints the normalised description as JSON', async () => {
  const r = await runCli(['describe', join(EXAMPLES, 'guestbook')]);
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.is(d.name, 'guestbook');
  assert.is(d.app, 'guestbook.app:application');
  assert.equal(d.static, { '/static': 'static' });
});

test('describe names an app by its directory minus the version suffix', async () => {
  const dir = pkg('blog.2026.11.24', 'platform: python, wsgi\napp: wsgi:application\n');
  const d = JSON.parse((await runCli(['describe', dir])).stdout);
  assert.is(d.name, 'blog');
  assert.is(d.version, '2026.11.24');
});

test('describe shows every x- key under extensions, those inside wsgi, a process or commands at their place', async () => {
  const dir = pkg('extended', 'x-team: blog\nwsgi:\n  app: wsgi:application\n  x-note: keep\nprocesses:\n  ws:\n    command: python -m live\n    route: /live\n    x-replicas: 2\ncommands:\n  check: "true"\n  x-nightly: python -m tasks\n');
  const r = await runCli(['describe', dir]);
  assert.is(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.extensions, { 'x-team': 'blog', wsgi: { 'x-note': 'keep' }, commands: { 'x-nightly': 'python -m tasks' }, processes: { ws: { 'x-replicas': 2 } } });
  assert.equal(d.processes, { ws: { command: 'python -m live', route: '/live' } });
  assert.equal(d.commands, { check: 'true' });
});

const BAD: Array<[string, string, RegExp, number]> = [
  ['bad-indent', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\n   /media: media/\n', /app\.yaml:5:\d+/, 5],
  ['unknown-key', 'platform: python, wsgi\napp: wsgi:application\nhealth_check: /healthz\n', /app\.yaml:3:1: health_check/, 3],
  ['nocolon', 'platform: python, wsgi\napp: nocolon\n', /app\.yaml:2:\d+: app: expected/, 2],
  ['glued-colon', 'platform: python, wsgi\napp:wsgi:application\n', /app\.yaml:2:1: app: expected valid YAML, found "app:wsgi:application", a key with no space after its ":"\n {2}fix: write a space after the colon: app: wsgi:application\n/, 2],
  // How the host runs the app, written where Gunicorn's users write it: the fix says where it goes.
  ['host-key', 'platform: python, wsgi\napp: wsgi:application\nworkers: 4\n', /app\.yaml:3:1: workers: expected one of the known keys, found a key of the host's environment file, not of app\.yaml\n {2}fix: move it to the environment file the gateway is given with --environment FILE, under the app's name: apps: \{host-key: \{workers: 4\}\} \(serve also takes --workers 4\)\n/, 3],
  // A key's problem is labelled with its whole path, as keyLabel spells it, not its parent or its bare name.
  ['dup-static', 'app: wsgi:application\nstatic:\n  /a: a/\n  /a: b/\n', /app\.yaml:4:3: static\["\/a"\]: expected valid YAML, found the key "\/a" a second time\n/, 4],
  ['dup-static-slash', 'app: wsgi:application\nstatic:\n  /a: a/\n  /a/: b/\n', /app\.yaml:4:3: static\["\/a\/"\]: expected each URL prefix once/, 4],
  ['dup-process-key', 'app: wsgi:application\nprocesses:\n  ws:\n    command: a\n    command: b\n', /app\.yaml:5:5: processes\.ws\.command: expected valid YAML/, 5],
  // Python requirements as Poetry and npm write them, and an interpreter named where versions go: the fix spells them in PEP 440.
  ['python-caret', 'app: wsgi:application\npython: "^3.9"\n', /app\.yaml:2:9: python: expected a PEP 440 specifier like ">=3\.9", found "\^3\.9"\n {2}fix: write it as PEP 440 does: python: ">=3\.9,<4"\n/, 2],
  ['python-spaced', 'app: wsgi:application\npython: ">=3.9 <3.12"\n', /fix: write it as PEP 440 does: python: ">=3\.9,<3\.12"\n/, 2],
  // A list, as deb: takes one: its clauses joined by commas; `~=3` (a compatible release needs two numbers) as its series.
  ['python-list', 'app: wsgi:application\npython: [">=3.9", "<3.13"]\n', /app\.yaml:2:9: python: expected a PEP 440 specifier like ">=3\.9", found a list \[>=3\.9, <3\.13\]\n {2}fix: write one quoted specifier, its clauses joined by commas: python: ">=3\.9,<3\.13"\n/, 2],
  ['python-compatible-major', 'app: wsgi:application\npython: "~=3"\n', /fix: write it as PEP 440 does: python: "==3\.\*"\n/, 2],
  ['python-interpreter', 'app: wsgi:application\npython: python3.11\n', /fix: python: is the versions the app runs on, e\.g\. python: "==3\.11\.\*"; the interpreter itself is the host's choice: python: in the environment file\n/, 2],
  // Blank commands: a process that would exit at once and be restarted for ever, a hook that does nothing.
  ['blank-process-command', 'app: wsgi:application\nprocesses:\n  worker:\n    command: "  "\n', /app\.yaml:4:14: processes\.worker\.command: expected a shell command, e\.g\. python -m blog\.live --port \$PORT, found " {2}"\n/, 4],
  ['blank-hook', 'app: wsgi:application\ncommands:\n  update: " "\n', /app\.yaml:3:11: commands\.update: expected a shell command, found " "\n/, 3],
  ['bad-process-name', 'app: wsgi:application\nprocesses:\n  "bad name":\n    command: sleep 1\n', /app\.yaml:3:3: processes\["bad name"\]: expected a process name of letters, digits, '-' and '_', e\.g\. ws, found "bad name"\n {2}fix: rename the key to a process name/, 3],
];

test('bad descriptions exit non-zero with the file, line, key and a fix', async () => {
  for (const [name, yaml, where] of BAD) {
    const dir = pkg(name, yaml);
    for (const command of ['describe', 'check']) {
      const r = await runCli([command, dir, '--state-dir', state.path].slice(0, command === 'describe' ? 2 : 4));
      assert.is(r.status, 1, `${command} ${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr + r.stdout, where, `${command} ${name}`);
      assert.match(r.stderr + r.stdout, /fix: /, `${command} ${name}`);
    }
  }
});

test('python: "<3" fails with the line and the interpreters found', async () => {
  const dir = pkg('old-python', 'platform: python, wsgi\npython: "<3"\napp: wsgi:application\n');
  // Without pyenv's shims: every interpreter is probed when none satisfies, and a shim for a
  // version pyenv lacks is a second of bash to fail (interpreters.test.ts covers the shims).
  const PATH = (process.env.PATH ?? '').split(':').filter((dir) => !/\/\.pyenv\/(plugins\/[^/]+\/)?shims$/.test(dir)).join(':');
  // describe --sys-path asks for the interpreter too (the Python library's describe).
  for (const command of ['check', 'serve', 'describe']) {
    const extra = command === 'serve' ? ['--port', '0'] : command === 'describe' ? ['--sys-path'] : [];
    const r = await runCli([command, dir, '--state-dir', state.path, ...extra], { env: { PATH } });
    assert.is(r.status, 1, `${command}: ${r.stderr}`);
    const out = r.stdout + r.stderr;
    assert.match(out, /app\.yaml:2:\d+/);
    assert.match(out, /<3/);
    // The version as the interpreter reports it, micro included: `python3 3.11.2 (/usr/bin/python3)`.
    assert.match(out, /\/usr\/bin\/python3 3\.\d+|python3 3\.\d+(\.\d+)* \(\/usr\/bin\/python3\)/);
    assert.match(out, /fix: /);
  }
});

test('a missing required setting refuses to start, naming it, its line and the fix', async () => {
  const dir = pkg('needs-setting', 'platform: python, wsgi\napp: wsgi:application\nsettings: [GW_TEST_SECRET_NOT_SET]\n');
  const r = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /app\.yaml:3:\d+/);
  assert.match(r.stderr, /GW_TEST_SECRET_NOT_SET/);
  assert.match(r.stderr, /fix: /);
  const ok = await runCli(['run', dir, '--state-dir', state.path, '--', 'sh', '-c', 'echo "$GW_TEST_SECRET_NOT_SET"'], {
    env: { GW_TEST_SECRET_NOT_SET: 'from-the-shell' },
  });
  assert.is(ok.status, 0, ok.stderr);
  assert.is(ok.stdout.trim(), 'from-the-shell');
});

test('an app whose os: excludes this host: serve and run refuse it, naming the line and the fix', async () => {
  const dir = pkg('other-os', 'platform: python, wsgi\nos: [windows, aix]\napp: wsgi:application\n');
  // run first: without the check, serve would serve (until the runner's timeout).
  for (const args of [['run', dir, '--', 'true'], ['serve', dir, '--port', '0']]) {
    const r = await runCli([...args.slice(0, 2), '--state-dir', state.path, ...args.slice(2)]);
    assert.is(r.status, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, /app\.yaml:2:\d+: os: the app needs windows or aix, this host is linux/);
    assert.match(r.stderr, /fix: /);
  }
});

test('check and run on the Flask example use Debian\'s interpreter', async () => {
  const dir = join(EXAMPLES, 'flask-hello');
  const check = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+python\s.*\/usr\/bin\/python3/);
  assert.match(check.stdout, /ok\s+deb\s.*python3-flask/);
  assert.match(check.stdout, /ok\s+app\s/);
  const run = await runCli(['run', dir, '--state-dir', state.path, '--', 'python', '-c', 'import sys, flask, os; print(sys.executable); print(os.environ["APPPKG_NAME"])']);
  assert.is(run.status, 0, run.stderr);
  const [exe, name] = run.stdout.trim().split('\n');
  assert.match(exe, /^\/usr\/bin\/python3/);
  assert.is(name, 'flask-hello');
});

test('check runs an ASGI app\'s lifespan startup: FAIL app when it fails, does not complete within 5 s, or holds the loop; passes when it completes', async () => {
  const app = (name: string, lifespan: string): string => {
    const dir = pkg(name, 'platform: python, asgi\napp: app:app\n');
    writeFileSync(join(dir, 'app.py'), `import asyncio\n\nasync def app(scope, receive, send):\n    await receive()\n${lifespan}`);
    return dir;
  };
  // At once: two of them wait out check's 5 s bound.
  let blockedMs = 0;
  const timeBlocked = async (run: Promise<Awaited<ReturnType<typeof runCli>>>) => {
    const started = Date.now();
    const result = await run;
    blockedMs = Date.now() - started;
    return result;
  };
  const [failed, raised, hung, blocked, ok, silent] = await Promise.all([
    runCli(['check', app('lifespan-fails', '    await send({"type": "lifespan.startup.failed", "message": "cannot reach the database at db:5432"})\n'), '--state-dir', state.path]),
    runCli(['check', app('lifespan-raises', '    raise RuntimeError("no database")\n'), '--state-dir', state.path]),
    runCli(['check', app('lifespan-hangs', '    await asyncio.sleep(3600)\n'), '--state-dir', state.path]),
    timeBlocked(runCli(['check', app('lifespan-blocks', '    import time\n    time.sleep(120)\n'), '--state-dir', state.path])),
    runCli(['check', app('lifespan-ok', '    await send({"type": "lifespan.startup.complete"})\n    await receive()\n    await send({"type": "lifespan.shutdown.complete"})\n'), '--state-dir', state.path]),
    runCli(['check', app('lifespan-silent', '    await send({"type": "lifespan.startup.failed"})\n'), '--state-dir', state.path]),
  ]);
  assert.is(failed.status, 1, failed.stdout + failed.stderr);
  assert.match(failed.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: cannot reach the database at db:5432\n/);
  // check keeps no app log to send the user to: the app's message, or its traceback, is above.
  assert.match(failed.stdout, /fix: fix what the app's startup handler reported \(its message is in check's output, above\)/);
  // No message: the event's name is not quoted as the app's words, nor is a message "above".
  assert.is(silent.status, 1, silent.stdout + silent.stderr);
  assert.match(silent.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it sent lifespan\.startup\.failed with no message\n/);
  assert.match(silent.stdout, /fix: the app's startup handler sent lifespan\.startup\.failed with no message, so the app gave no reason: give it one/);
  assert.is(raised.status, 1, raised.stdout + raised.stderr);
  assert.match(raised.stdout, /RuntimeError: no database[\s\S]*FAIL\s+app\s+app: app:app failed its lifespan startup[\s\S]*the traceback is in check's output, above/);
  assert.is(hung.status, 1, hung.stdout + hung.stderr);
  assert.match(hung.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it did not complete within 5 s \(check's bound\); it waits at \S*app\.py:5 in app \(await asyncio\.sleep\(3600\)\)\n/);
  assert.match(hung.stdout, /fix: the app's lifespan startup waits for something that does not come/);
  // Sync code in the handler holds the loop, whose own timeout then never runs: the same
  // precise text, from the shim's watchdog thread, instead of the import's deadline.
  assert.is(blocked.status, 1, blocked.stdout + blocked.stderr);
  assert.match(blocked.stdout, /FAIL\s+app\s+app: app:app failed its lifespan startup: it did not complete within 5 s \(check's bound\); it holds the event loop at \S*app\.py:6 in app \(time\.sleep\(120\)\)\n/);
  assert.match(blocked.stdout, /fix: the app's lifespan startup runs blocking code in an async function/);
  // Well before the import's own deadline (60 s), which a held loop would otherwise wait out.
  assert.ok(blockedMs < 30_000, `check took ${blockedMs} ms`);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok\s+app\s+app:app imports and is callable \(function, Python [\d.]+\); its lifespan startup and shutdown complete\n/);
});

test('check fails, with the fix, when a deb package is missing', async () => {
  const dir = pkg('missing-deb', 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-flask, python3-apppkg-does-not-exist]\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1);
  // At the missing package's own entry of the list, not at the list.
  assert.match(r.stdout, /FAIL\s+deb\s+\S*app\.yaml:3:22: deb: package not installed: python3-apppkg-does-not-exist/);
  assert.match(r.stdout, /fix: .*apt-get install/);
});

test('check says a paths: entry that is a file is one, at its line, with no vendor failure beside it', async () => {
  const dir = pkg('paths-file', 'platform: python, wsgi\napp: wsgi:application\npaths: wsgi.py\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+paths\s+\S*app\.yaml:3:8: paths: wsgi\.py is a file, not a directory: paths: names directories to put on sys\.path\n\s+fix: name the directory that holds its modules .*, or take wsgi\.py out of paths:/);
  // The file is no vendor directory: ENOTDIR and "vendor --into wsgi.py/" sent the user astray.
  assert.not.match(r.stdout, /vendor\s.*(ENOTDIR|stale)/);
  assert.match(r.stdout, /2 checks failed/);
});

test('check fails, with the fix, on an environment file\'s unknown user and on a paths: or static: directory that is not there', async () => {
  const dir = pkg('gaps', 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\n');
  mkdirSync(join(dir, 'lib'), { recursive: true });
  const env = join(work.path, 'gaps-env.yaml');
  writeFileSync(env, 'apps:\n  gaps:\n    user: apppkg-no-such-user\n');
  const r = await runCli(['check', dir, '--environment', env, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout);
  // At the key that names it in the environment file, as every mistake there is placed.
  assert.match(r.stdout, new RegExp(`FAIL\\s+user\\s+${env.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11: user: "apppkg-no-such-user" \\(for gaps\\) is not a user of this host`));
  if (process.getuid?.() === 0) {
    // As root `run` switches to the user, and says where it is named when there is none.
    const run = await runCli(['run', dir, '--environment', env, '--state-dir', state.path, '--', 'true']);
    assert.is(run.status, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`${env.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:11: user: "apppkg-no-such-user"`));
  }
  assert.match(r.stdout, /FAIL\s+paths\s.*app\.yaml:3:\d+: paths: nothere is not a directory in /);
  assert.match(r.stdout, /fix: create it/);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:5:\d+: static\["\/assets"\]: public\/? is not a directory in .*, so every request under \/assets would get 404/);
  // A user that exists, and paths and static directories that are there, pass.
  writeFileSync(env, 'apps:\n  gaps:\n    user: root\n');
  mkdirSync(join(dir, 'nothere'));
  // A hook that may make it (Django's collectstatic): said, not failed.
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\ncommands:\n  install: mkdir public\n');
  const hooked = await runCli(['check', dir, '--environment', env, '--state-dir', state.path]);
  assert.match(hooked.stdout, /ok\s+static\s+static\["\/assets"\]: public\/? is not there yet; commands\.install must create it/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [lib/, nothere/]\nstatic:\n  /assets: public/\n');
  mkdirSync(join(dir, 'public'));
  const ok = await runCli(['check', dir, '--environment', env, '--state-dir', state.path]);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok\s+user\s+root \(uid 0\)/);
  assert.match(ok.stdout, /ok\s+paths\s+lib, nothere/);
});

test('check places each failure at its own entry: the second static directory, the setting nobody gives, the service', async () => {
  const dir = pkg('entries', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\n  /assets/: assets/\nsettings:\n  - H1_GIVEN\n  - H1_NOT_GIVEN\nservices:\n  redis: redis\n');
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: { H1_GIVEN: 'yes' } });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:4:3: static\["\/static"\]: static is not a directory/);
  assert.match(r.stdout, /FAIL\s+static\s.*app\.yaml:5:3: static\["\/assets"\]: assets is not a directory/);
  assert.match(r.stdout, /FAIL\s+settings\s.*app\.yaml:8:5: settings: the app requires H1_NOT_GIVEN/);
  assert.match(r.stdout, /FAIL\s+services\.redis\s.*app\.yaml:10:3: /);
});

test('check names every service the host cannot give, each at its own entry, and still tries the ones it can', async () => {
  const dir = pkg('two-services', 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+services\.database\s.*app\.yaml:4:3: two-services asks for services\.database: postgresql, but the host offers no postgresql server/);
  assert.match(r.stdout, /FAIL\s+services\.redis\s.*app\.yaml:5:3: two-services asks for services\.redis: redis, but the host offers no redis server/);
  // A host that offers one of the two: that one is tried, the other still named.
  const env = join(work.path, 'redis-only.yaml');
  writeFileSync(env, 'services:\n  redis: redis://127.0.0.1:1\n');
  const one = await runCli(['check', dir, '--environment', env, '--state-dir', state.path]);
  assert.match(one.stdout, /FAIL\s+services\.database\s.*app\.yaml:4:3: .*offers no postgresql server/);
  assert.match(one.stdout, /FAIL\s+services\.redis\s+redis at 127\.0\.0\.1:1 \(services\.redis\): /);
});

test('check lines up the detail of every line, services.*, processes.* and commands.* rows included, while it streams', async () => {
  const dir = pkg('aligned', 'app: wsgi:application\nservices:\n  database: sqlite\nprocesses:\n  worker:\n    command: python3 -c pass\ncommands:\n  check: "true"\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, r.stdout);
  const rows = r.stdout.split('\n').filter((line) => /^(ok|FAIL) /.test(line));
  assert.ok(rows.some((row) => row.includes(' services.database ')), r.stdout);
  assert.ok(rows.some((row) => row.includes(' commands.check ')), r.stdout);
  const columns = rows.map((row) => /^(?:ok|FAIL) +\S+ +/.exec(row)![0].length);
  assert.equal([...new Set(columns)], ['ok    services.database  '.length], r.stdout);
});

test('describe names every service the host cannot give in provides.problem, and describes the others', async () => {
  const dir = pkg('two-described', 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
  const r = await runCli(['describe', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, r.stderr);
  const problem = String(JSON.parse(r.stdout).provides.problem);
  assert.match(problem, /asks for services\.database: postgresql, but the host offers no postgresql server/);
  assert.match(problem, /asks for services\.redis: redis, but the host offers no redis server/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\nservices:\n  database: sql\n  redis: redis\n');
  const provides = JSON.parse((await runCli(['describe', dir, '--state-dir', state.path])).stdout).provides;
  assert.is(provides.database, 'sqlite');
  assert.match(provides.env.DATABASE_URL, /^sqlite:\/\/\//);
  assert.match(String(provides.problem), /services\.redis/);
});

test('an app: naming nothing there, or nothing callable, fails at the line of app: in check and serve; an error inside the module at its own line', async () => {
  const dir = pkg('app-key', 'platform: python, wsgi\napp: wsgi:nothere\n');
  const missing = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(missing.status, 1, missing.stdout);
  assert.match(missing.stdout, /FAIL\s+app\s+\S*app\.yaml:2:6: app: cannot import wsgi:nothere: AttributeError/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\nwsgi: {app: "wsgi:NUMBER"}\n');
  writeFileSync(join(dir, 'wsgi.py'), 'NUMBER = 5\n');
  assert.match((await runCli(['check', dir, '--state-dir', state.path])).stdout, /FAIL\s+app\s+\S*app\.yaml:2:8: app: wsgi:NUMBER is int 5, expected a WSGI or ASGI callable/);
  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, /app\.yaml:2:8: app: wsgi:NUMBER is int 5/);
  // Raised inside the module: the Python file's line, not app.yaml's.
  writeFileSync(join(dir, 'wsgi.py'), 'import nosuchmodule_h2\n');
  const inside = await runCli(['check', dir, '--state-dir', state.path]);
  assert.match(inside.stdout, /FAIL\s+app\s+app: cannot import wsgi:NUMBER \(\S*wsgi\.py:1\): ModuleNotFoundError/);
  // The fix names the command for this very app, not `check DIR`.
  assert.match(inside.stdout, `fix: fix the error shown in the traceback, then try again (\`apppkg-gateway check ${dir}\` repeats the import)`);
  const servedInside = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(servedInside.status, 1, servedInside.stderr);
  assert.match(servedInside.stderr, `\`apppkg-gateway check ${dir}\` repeats the import`);
});

test('a process that does not start: the fix\'s run command names the app\'s directory', async () => {
  const dir = pkg('web-exits', 'platform: python, command\nprocesses:\n  web:\n    command: sh -c "echo nope; exit 1"\n');
  const r = await runCli(['serve', dir, '--port', '0', '--state-dir', state.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, 'processes.web of web-exits did not start (it exited with status 1; its last output: nope)');
  assert.match(r.stderr, `try it with \`apppkg-gateway run ${dir} -- sh -c 'PORT=8080 ...'\``);
  // Under serve its output is on the terminal, just above.
  assert.match(r.stderr, /^\[web\] nope$/m);
  assert.match(r.stderr, 'fix: read its output above (its lines begin with [web])');
});

test('check still imports the app when only static directories are missing, not when a setting is', async () => {
  const dir = pkg('static-only', 'platform: python, wsgi\napp: wsgi:application\nstatic:\n  /static: static/\nsettings: [H1_SETTING]\n');
  // Python never reads a static directory: the import is tried, and says whether it works.
  const r = await runCli(['check', dir, '--state-dir', state.path], { env: { H1_SETTING: 'yes' } });
  assert.is(r.status, 1, r.stdout);
  assert.match(r.stdout, /FAIL\s+static\s/);
  assert.match(r.stdout, /ok\s+app\s+wsgi:application imports and is callable/);
  // A missing setting holds it back: the app may read it at import time.
  const unset = await runCli(['check', dir, '--state-dir', state.path], { env: { H1_SETTING: undefined } });
  assert.match(unset.stdout, /FAIL\s+app\s+not tried: fix the failures above first/);
});

test("check imports the app with its commands' python: a subprocess the import starts runs the app's interpreter and sys.path, as a worker's does", async () => {
  const dir = pkg('check-subprocess', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', 'vendored.py'), 'WHERE = "vendor/"\n');
  // An import that shells out (a version probe, a migration check) must find what the app finds.
  writeFileSync(
    join(dir, 'wsgi.py'),
    [
      'import subprocess',
      'subprocess.run(["python", "-c", "import vendored"], check=True)',
      'def application(environ, start_response):',
      '    start_response("200 OK", [])',
      '    return [b""]',
      '',
    ].join('\n'),
  );
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+app\s+wsgi:application imports and is callable/);
});

test('check finds the program each process and hook runs: a missing one fails at its entry with the fix, what the shell decides is not judged', async () => {
  const dir = pkg('programs', [
    'platform: python, command',
    'processes:',
    '  web:',
    '    command: python -m http.server $PORT',
    '  worker:',
    '    command: celery -A blog worker',
    '  tick:',
    '    command: FOO=1 exec ./bin/tick.sh',
    'commands:',
    '  backup: pg_dump_nowhere "$APPPKG_BACKUP_DIR/db"',
    '  update: cd sub && ./migrate',
    '  test: python -m unittest',
    '',
  ].join('\n'));
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+processes\.worker\s+\S+app\.yaml:6:5: processes\.worker\.command: `celery -A blog worker` runs celery, which is not on the app's PATH/);
  assert.match(r.stdout, /FAIL\s+processes\.tick\s+\S+app\.yaml:8:5: .*runs \.\/bin\/tick\.sh, which is not an executable file under/);
  assert.match(r.stdout, /FAIL\s+commands\.backup\s+\S+app\.yaml:10:3: .*runs pg_dump_nowhere/);
  assert.match(r.stdout, /fix: install it for the app/);
  assert.match(r.stdout, /ok\s+programs\s+found: processes\.web: python -m http\.server, commands\.test: python -m unittest\n/);
  assert.not.match(r.stdout, /commands\.update/, 'cd is the shell\'s: not judged');
  // Put right, every line passes: a relative program is found in the app directory.
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'tick.sh'), '#!/bin/sh\nsleep 1\n', { mode: 0o755 });
  writeFileSync(join(dir, 'blog_worker.py'), 'print("working")\n');
  writeFileSync(join(dir, 'app.yaml'), readFileSync(join(dir, 'app.yaml'), 'utf8').replace('celery -A blog worker', 'python -m blog_worker').replace('pg_dump_nowhere', 'sh -c true'));
  const fixed = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(fixed.status, 0, fixed.stdout + fixed.stderr);
  assert.match(fixed.stdout, /ok\s+programs\s+found: processes\.web: python -m http\.server, processes\.worker: python -m blog_worker, processes\.tick: \.\/bin\/tick\.sh, commands\.backup: sh, commands\.test: python -m unittest\n/);
});

test('check asks the app\'s interpreter for each `python -m MODULE`: a module not installed (celery) or a package with no __main__ fails at its entry; one on the app\'s sys.path (paths:) passes', async () => {
  const dir = pkg('modules', [
    'platform: python, wsgi',
    'app: wsgi:application',
    'paths: vendor/',
    'processes:',
    '  worker:',
    '    command: python -m celery -A blog worker',
    '  live:',
    '    command: exec python3 -u -W ignore -m tasks.live',
    '  vendored:',
    '    command: python -m vendored_tool --port $PORT',
    'commands:',
    '  update: python -m tasks',
    '  test: python -c "import tasks"',
    '',
  ].join('\n'));
  mkdirSync(join(dir, 'tasks'));
  writeFileSync(join(dir, 'tasks', '__init__.py'), '');
  writeFileSync(join(dir, 'tasks', 'live.py'), 'print("live")\n');
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', 'vendored_tool.py'), 'print("tool")\n');
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  // What the process would crash-loop on ("No module named celery"), at its line, with the fix.
  assert.match(r.stdout, /FAIL\s+processes\.worker\s+\S+app\.yaml:6:5: processes\.worker\.command: `python -m celery -A blog worker` runs the module celery, which \/\S+python\S* does not find on the app's sys\.path\n\s+fix: install the distribution that provides celery for the app/);
  assert.not.match(r.stdout, /apppkg-check-/, 'the interpreter named is the app\'s, not the helper of a scratch directory');
  assert.match(r.stdout, /FAIL\s+commands\.update\s+\S+app\.yaml:12:3: commands\.update: `python -m tasks` runs the package tasks, which has no __main__ module to run\n\s+fix: name the module to run \(`python -m tasks\.MODULE`\), or add tasks\/__main__\.py/);
  assert.match(r.stdout, /ok\s+programs\s+found: processes\.live: python3 -m tasks\.live, processes\.vendored: python -m vendored_tool, commands\.test: python\n/);
  assert.match(r.stdout, /modules: 2 checks failed/);
});

test('check looks through `env NAME=value ...` (the README\'s Jupyter line) to the program and module it runs; env with options is not judged', async () => {
  const dir = pkg('through-env', [
    'platform: python, command',
    'processes:',
    '  web:',
    '    command: exec env HOME=$APPPKG_DATA_DIR JUPYTER_RUNTIME_DIR=$TMPDIR/jupyter python -m apppkg_no_such_notebook --port $PORT',
    '  other:',
    '    command: env -i no_such_program_x',
    '',
  ].join('\n'));
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+processes\.web\s+\S+app\.yaml:4:5: processes\.web\.command: `[^`]+` runs the module apppkg_no_such_notebook, which \/\S+python\S* does not find/);
  assert.not.match(r.stdout, /found: processes\.web: env/);
  assert.not.match(r.stdout, /no_such_program_x|processes\.other/, 'env -i decides what runs: not judged');
});

test('run passes the exit status on and gives the app its private directories', async () => {
  const dir = join(EXAMPLES, 'hello');
  // APPPKG_ENV is development under run, unless the caller says production (a pod's run): the
  // caller's unset here, said below.
  const r = await runCli(
    [
      'run', dir, '--state-dir', state.path, '--',
      'python', '-c', 'import os, sys, stat; print(os.environ["APPPKG_DATA_DIR"]); print(oct(stat.S_IMODE(os.stat(os.environ["TMPDIR"]).st_mode))); print(sys.path[1] if sys.path[0] == "" else sys.path[0]); print(os.environ.get("APPPKG_ENV")); sys.exit(3)',
    ],
    { env: { APPPKG_ENV: undefined } },
  );
  assert.is(r.status, 3, r.stderr);
  const [data, tmpMode, first, unsaid] = r.stdout.trim().split('\n');
  assert.is(data, join(state.path, 'apps', 'hello', 'data'));
  assert.ok(existsSync(data) && statSync(data).isDirectory());
  assert.is(tmpMode, '0o700');
  assert.is(first, dir);
  assert.is(unsaid, 'development');
  const production = await runCli(['run', dir, '--state-dir', state.path, '--', 'sh', '-c', 'echo "$APPPKG_ENV"'], { env: { APPPKG_ENV: 'production' } });
  assert.is(production.stdout.trim(), 'production', production.stderr);
});

test("run and test take the interpreters' answers from the state root's probe cache, as a gateway's start does: a second run probes none", async () => {
  // Each run had probed every python3.N on PATH afresh (a pyenv shim's probe is 0.4 s of bash).
  const root = tempDir('apppkg-cli-probe-cache-');
  try {
    const dir = join(EXAMPLES, 'hello');
    const cache = join(root.path, 'cache', 'interpreters.json');
    const first = await runCli(['run', dir, '--state-dir', root.path, '--', 'python', '-c', 'pass']);
    assert.is(first.status, 0, first.stderr);
    assert.ok(existsSync(cache), 'run wrote no probe cache under the state root');
    const written = readFileSync(cache, 'utf8');
    assert.ok(Object.keys(JSON.parse(written).entries).length > 0, written);
    const before = statSync(cache).mtimeMs;
    // Every answer found there, nothing probed, nothing written.
    const again = await runCli(['test', pkg('probe-cache-test', 'app: wsgi:application\ncommands:\n  test: python -c pass\n'), '--state-dir', root.path]);
    assert.is(again.status, 0, again.stderr);
    assert.is(statSync(cache).mtimeMs, before);
    assert.is(readFileSync(cache, 'utf8'), written);
  } finally {
    root.remove();
  }
});

test("run of a command that is not there says why, with the app's PATH it searched, and exits 127 (126: not executable) as a shell does", async () => {
  const dir = pkg('run-missing', 'platform: python, wsgi\napp: wsgi:application\n');
  const S = ['--state-dir', state.path];
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  const missing = await runCli(['run', dir, ...S, '--', 'nosuchcmd', '--flag'], { env });
  assert.is(missing.status, 127, missing.stderr);
  assert.match(missing.stderr, `apppkg-gateway: nosuchcmd: not on the app's PATH, which searches ${join(state.path, 'apps', 'run-missing', 'run')}`);
  // Its interpreter's directory (/usr/bin for Debian's, where a deb package's scripts are) comes first, then the caller's PATH.
  assert.match(missing.stderr, /\/bin, (\/\S+\/bin, )?\/usr\/local\/bin, \/usr\/bin, \/bin\n|\/bin, \/usr\/bin, \/usr\/local\/bin, \/bin\n/);
  assert.match(missing.stderr, "fix: install it for the app (deb:, pip: or vendor/ with `apppkg-gateway vendor`), give its path, or run a module with the app's interpreter: `python -m MODULE`");
  assert.not.match(missing.stderr, /ENOENT/);
  // A relative path is taken from the app directory, not from where run was typed.
  const relative = await runCli(['run', dir, ...S, '--', './nosuch.sh'], { env });
  assert.is(relative.status, 127, relative.stderr);
  assert.match(relative.stderr, `./nosuch.sh: no such file in ${dir} (the app directory, where commands run)`);
  writeFileSync(join(dir, 'old.py'), '#!/nonexistent/python2\nprint(1)\n', { mode: 0o755 });
  const interpreter = await runCli(['run', dir, ...S, '--', './old.py'], { env });
  assert.is(interpreter.status, 127, interpreter.stderr);
  assert.match(interpreter.stderr, './old.py: its #! line names /nonexistent/python2, which is not there');
  assert.match(interpreter.stderr, 'or run it with its interpreter: `python ./old.py`');
  writeFileSync(join(dir, 'plain.sh'), 'echo hi\n', { mode: 0o644 });
  const mode = await runCli(['run', dir, ...S, '--', './plain.sh'], { env });
  assert.is(mode.status, 126, mode.stderr);
  assert.match(mode.stderr, './plain.sh: not executable');
  assert.match(mode.stderr, '`chmod +x ./plain.sh`');
});

test('init: a src layout gets paths: [src/] and the module without src.; an annotated `app: FastAPI = FastAPI()` is found', async () => {
  const dir = join(work.path, 'src-layout');
  mkdirSync(join(dir, 'src', 'shop'), { recursive: true });
  writeFileSync(join(dir, 'src', 'shop', '__init__.py'), '');
  writeFileSync(join(dir, 'src', 'shop', 'views.py'), 'def hello():\n    return b"hi"\n');
  // Imports its own package by name, as src-layout code does: only src/ on sys.path makes it work.
  writeFileSync(
    join(dir, 'src', 'shop', 'wsgi.py'),
    'from shop.views import hello\n\n\ndef application(environ, start_response):\n    start_response("200 OK", [])\n    return [hello()]\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^app: shop\.wsgi:application$/m);
  assert.match(yaml, /^paths: \[src\/\]$/m);
  const check = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(check.status, 0, check.stdout + check.stderr);

  const typed = join(work.path, 'typed-fastapi');
  mkdirSync(typed, { recursive: true });
  writeFileSync(join(typed, 'main.py'), 'from fastapi import FastAPI\n\napp: FastAPI = FastAPI(title="typed")\n');
  assert.is((await runCli(['init', typed])).status, 0);
  const typedYaml = readFileSync(join(typed, 'app.yaml'), 'utf8');
  assert.match(typedYaml, /^app: main:app$/m);
  assert.match(typedYaml, /^platform: python, asgi$/m);
  assert.match(typedYaml, /^deb: python3-fastapi$/m);
});

test('init writes a commented app.yaml that describe and check accept', async () => {
  const dir = join(work.path, 'existing-project');
  mkdirSync(join(dir, 'mysite'), { recursive: true });
  writeFileSync(join(dir, 'mysite', '__init__.py'), '');
  writeFileSync(
    join(dir, 'mysite', 'wsgi.py'),
    'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hi"]\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^app: mysite\.wsgi:application$/m);
  assert.match(yaml, /^# /m);
  assert.is((await runCli(['check', dir, '--state-dir', state.path])).status, 0);
  const again = await runCli(['init', dir]);
  assert.is(again.status, 1);
  assert.match(again.stderr, /already exists/);
});

test('init beside a misnamed description (app.yml, App.yaml) writes no second one: it says what check says, the mv to make, exit 1, --force or not', async () => {
  for (const misnamed of ['app.yml', 'App.yaml']) {
    const dir = join(work.path, `misnamed-${misnamed}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, misnamed), 'platform: python, wsgi\napp: wsgi:application\n');
    writeFileSync(join(dir, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"hi"]\n');
    const checked = await runCli(['check', dir, '--state-dir', state.path]);
    assert.is(checked.status, 1, checked.stderr);
    const says = `${dir}/${misnamed}: expected the description to be named app.yaml, found it named ${misnamed}\n  fix: rename it: mv ${dir}/${misnamed} ${dir}/app.yaml`;
    assert.ok(checked.stderr.includes(says), checked.stderr);
    for (const force of [[], ['--force']]) {
      const r = await runCli(['init', dir, ...force]);
      assert.is(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(says), r.stderr);
      assert.is(r.stdout, '');
      assert.equal(readdirSync(dir).sort(), [misnamed, 'wsgi.py'].sort());
    }
  }
});

test('init of a path that is no directory fails as check and describe do: exit 1, not usage', async () => {
  const missing = join(work.path, 'no-such-project');
  const said = new Map<string, CliResult>();
  for (const command of ['init', 'check', 'describe', 'serve']) {
    const args = command === 'init' ? [command, missing] : [command, missing, '--state-dir', state.path];
    said.set(command, await runCli(command === 'serve' ? [...args, '--port', '0'] : args));
  }
  for (const command of ['init', 'check', 'describe']) assert.is(said.get(command)!.status, 1, `${command}: ${said.get(command)!.stderr}`);
  const r = said.get('init')!;
  assert.match(r.stderr, /no-such-project is not a directory/);
  assert.not.match(r.stderr, /--help/);
  // The others say the directory is not there, not that it lacks an app.yaml; serve says it once.
  for (const command of ['check', 'serve']) {
    const { status, stderr } = said.get(command)!;
    assert.is(status, 1, stderr);
    assert.is(stderr.match(/no-such-project does not exist \(no such directory\)/g)?.length, 1, `${command}: ${stderr}`);
    assert.not.match(stderr, /skipping|init DIR/, command);
  }
});

test('a directory with no app.yaml: the fix is the init command for that very directory, quoted when the shell needs it', async () => {
  for (const name of ['bare-project', "it's a project"]) {
    const dir = join(work.path, name);
    mkdirSync(dir);
    const quoted = name.includes(' ') ? `'${dir.replace(/'/g, "'\\''")}'` : dir;
    for (const command of ['check', 'describe']) {
      const r = await runCli([command, dir, '--state-dir', state.path].slice(0, command === 'describe' ? 2 : 4));
      assert.is(r.status, 1, r.stderr);
      assert.match(r.stderr, `no app.yaml in ${dir}`);
      assert.match(r.stderr, `fix: run \`apppkg-gateway init ${quoted}\` to write one`, `${command}: ${r.stderr}`);
    }
  }
});

test('an app.yaml that is a directory, or a symlink to nothing, is said to be that, not missing', async () => {
  const asDir = join(work.path, 'yaml-is-a-dir');
  mkdirSync(join(asDir, 'app.yaml'), { recursive: true });
  const dangling = join(work.path, 'yaml-link-to-nothing');
  mkdirSync(dangling);
  symlinkSync('/srv/shared/no-such-app.yaml', join(dangling, 'app.yaml'));
  for (const [dir, found] of [[asDir, 'a directory'], [dangling, 'a symlink to /srv/shared/no-such-app.yaml, which is not there']]) {
    for (const command of ['check', 'describe']) {
      const r = await runCli([command, dir, '--state-dir', state.path].slice(0, command === 'describe' ? 2 : 4));
      assert.is(r.status, 1, r.stderr);
      assert.ok(r.stderr.includes(`${join(dir, 'app.yaml')}: expected app.yaml to be a file, found ${found}\n`), `${command}: ${r.stderr}`);
      assert.not.match(r.stderr, /no app\.yaml in/);
    }
  }
});

test('a directory named on the command line that does not exist is a failed run (exit 1) with the path and the fix, for every command taking one', async () => {
  const missing = join(work.path, 'no-such-dir');
  const hello = join(EXAMPLES, 'hello');
  const S = ['--state-dir', state.path];
  const commands: string[][] = [
    ['describe', missing], ['check', missing, ...S], ['install', missing, ...S], ['serve', missing, '--port', '0', ...S],
    ['test', missing, ...S], ['run', missing, ...S, '--', 'true'], ['uninstall', missing, ...S],
    ['backup', missing, '--to', join(work.path, 'backup-of-nothing'), ...S], ['restore', missing, '--from', hello, ...S],
    ['vendor', missing], ['init', missing], ['export', 'containerfile', missing], ['export', 'venv', missing, ...S],
    // export kubernetes and the gateway read a directory of packages: the same rule (it was 2).
    ['export', 'kubernetes', '--apps', missing, '--image', 'registry.test/{name}:{version}'],
    ['--apps', missing, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...S],
  ];
  for (const args of commands) {
    const r = await runCli(args, { ms: 30_000 });
    const what = args.slice(0, args[0] === 'export' ? 2 : 1).join(' ');
    // On stderr for every command: install's step log (stdout) has no step yet.
    const out = r.stdout + r.stderr;
    assert.is(r.status, 1, `${what}: ${out}`);
    assert.match(r.stderr, missing, what);
    assert.match(r.stderr, /\n\s+fix: \S/, what);
    assert.not.match(out, /--help/, `${what}: not a usage error`);
  }
  // A usage mistake is still 2: the directory left out.
  assert.is((await runCli(['export', 'kubernetes', '--image', 'x'])).status, 2);
  assert.is((await runCli(['export', 'containerfile'])).status, 2);
});

test('init finds an ASGI app (FastAPI, Starlette, async def app) and writes platform: python, asgi', async () => {
  const fast = join(work.path, 'fastapi-project');
  mkdirSync(fast, { recursive: true });
  writeFileSync(join(fast, 'main.py'), 'from fastapi import FastAPI\n\napi = FastAPI(title="notes")\n');
  const r = await runCli(['init', fast]);
  assert.is(r.status, 0, r.stderr);
  const yaml = readFileSync(join(fast, 'app.yaml'), 'utf8');
  assert.match(yaml, /^platform: python, asgi$/m);
  assert.match(yaml, /^app: main:api$/m);
  assert.match(yaml, /^deb: python3-fastapi$/m);
  assert.match(r.stdout, /ASGI/);

  const plain = join(work.path, 'raw-asgi');
  mkdirSync(plain, { recursive: true });
  writeFileSync(
    join(plain, 'server.py'),
    'async def app(scope, receive, send):\n    await send({"type": "http.response.start", "status": 200, "headers": []})\n    await send({"type": "http.response.body", "body": b"hi"})\n',
  );
  assert.is((await runCli(['init', plain])).status, 0);
  assert.match(readFileSync(join(plain, 'app.yaml'), 'utf8'), /^platform: python, asgi\napp: server:app$|^app: server:app$/m);
  const check = await runCli(['check', plain, '--state-dir', state.path]);
  assert.is(check.status, 0, check.stdout + check.stderr);
});

test('init finds a plain WSGI function by its name app, or by its (environ, start_response) signature, and the app it writes passes check', async () => {
  const body = '    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"hi"]\n';
  const cases: Array<[string, string, string, string]> = [
    // [project, file, its code, app:]
    ['wsgi-def-app', 'app.py', `def app(environ, start_response):\n${body}`, 'app:app'],
    ['wsgi-def-app-short', 'hello.py', `import os\n\n\ndef app(env, start):\n    start("200 OK", [])\n    return [b"hi"]\n`, 'hello:app'],
    ['wsgi-simple-app', 'server.py', `def simple_app(environ, start_response):\n${body}`, 'server:simple_app'],
  ];
  for (const [name, file, code, app] of cases) {
    const dir = join(work.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), code);
    const r = await runCli(['init', dir]);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    assert.match(yaml, new RegExp(`^app: ${app}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, /^platform: python, wsgi$/m, `${name}: ${yaml}`);
    const check = await runCli(['check', dir, '--state-dir', state.path]);
    assert.is(check.status, 0, `${name}: ${check.stdout}${check.stderr}`);
  }
});

test('init knows Quart, Falcon (WSGI and ASGI), Bottle, Pyramid and CherryPy apps: their kind and their Debian package', async () => {
  const cases: Array<[string, string, string, string, string]> = [
    // [project, file, its code, app:, platform: and deb: lines]
    ['quart-project', 'main.py', 'from quart import Quart\n\napp = Quart(__name__)\n', 'main:app', 'asgi python3-quart'],
    ['falcon-wsgi', 'main.py', 'import falcon\n\napp = falcon.App()\n', 'main:app', 'wsgi python3-falcon'],
    ['falcon-asgi', 'main.py', 'import falcon.asgi\n\napp = falcon.asgi.App()\n', 'main:app', 'asgi python3-falcon'],
    ['falcon-asgi-from', 'service.py', 'from falcon.asgi import App\n\napi = App()\n', 'service:api', 'asgi python3-falcon'],
    ['bottle-project', 'app.py', 'from bottle import Bottle\n\nweb = Bottle()\n', 'app:web', 'wsgi python3-bottle'],
    ['bottle-default', 'web.py', 'import bottle\n\napplication = bottle.default_app()\n', 'web:application', 'wsgi python3-bottle'],
    [
      'pyramid-project', 'hello.py',
      'from pyramid.config import Configurator\n\nconfig = Configurator()\nconfig.scan()\nwsgi_app = config.make_wsgi_app()\n',
      'hello:wsgi_app', 'wsgi python3-pyramid',
    ],
    ['cherrypy-project', 'root.py', 'import cherrypy\n\n\nclass Root:\n    pass\n\n\napplication = cherrypy.Application(Root())\n', 'root:application', 'wsgi python3-cherrypy3'],
    ['cherrypy-tree', 'root.py', 'import cherrypy\n\ncherrypy.tree.mount(object(), "/")\napp = cherrypy.tree\n', 'root:app', 'wsgi python3-cherrypy3'],
  ];
  for (const [name, file, code, app, expected] of cases) {
    const dir = join(work.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), code);
    const r = await runCli(['init', dir]);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    const [kind, deb] = expected.split(' ');
    assert.match(yaml, new RegExp(`^app: ${app}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, new RegExp(`^platform: python, ${kind}$`, 'm'), `${name}: ${yaml}`);
    assert.match(yaml, new RegExp(`^deb: ${deb}$`, 'm'), `${name}: ${yaml}`);
  }
  // Pyramid's project layout: the package's main(global_config, **settings), called by a wsgi.py
  // that imports no framework itself.
  const paste = join(work.path, 'pyramid-paste');
  mkdirSync(join(paste, 'shop'), { recursive: true });
  writeFileSync(
    join(paste, 'shop', '__init__.py'),
    'from pyramid.config import Configurator\n\n\ndef main(global_config, **settings):\n    with Configurator(settings=settings) as config:\n        config.scan()\n    return config.make_wsgi_app()\n',
  );
  // As the cookiecutter leaves it: nothing to name, and the refusal says what wsgi.py to add.
  const noWsgi = await runCli(['init', paste]);
  assert.is(noWsgi.status, 1, noWsgi.stderr);
  assert.match(noWsgi.stderr, "fix: shop/__init__.py has Pyramid's `main(global_config, **settings)`");
  assert.match(noWsgi.stderr, 'add wsgi.py at the top of the project, `from shop import main` and `application = main({})`');
  writeFileSync(join(paste, 'wsgi.py'), 'from shop import main\n\napplication = main({})\n');
  assert.is((await runCli(['init', paste])).status, 0);
  const pasteYaml = readFileSync(join(paste, 'app.yaml'), 'utf8');
  assert.match(pasteYaml, /^app: wsgi:application$/m);
  assert.match(pasteYaml, /^deb: python3-pyramid$/m);
});

test('init picks the asgi.py of a Django Channels project over its wsgi.py, and says its in-memory channel layer needs one worker', async () => {
  const dir = join(work.path, 'chat.1.0');
  mkdirSync(join(dir, 'chat'), { recursive: true });
  writeFileSync(join(dir, 'manage.py'), 'import os\nimport sys\n\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "chat.settings")\n');
  writeFileSync(join(dir, 'chat', '__init__.py'), '');
  writeFileSync(join(dir, 'chat', 'settings.py'), 'INSTALLED_APPS = ["channels"]\nCHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}\n');
  writeFileSync(join(dir, 'chat', 'wsgi.py'), 'from django.core.wsgi import get_wsgi_application\n\napplication = get_wsgi_application()\n');
  writeFileSync(
    join(dir, 'chat', 'asgi.py'),
    'from django.core.asgi import get_asgi_application\n\ndjango_app = get_asgi_application()\n\nfrom channels.routing import ProtocolTypeRouter, URLRouter\n\n' +
      'application = ProtocolTypeRouter({"http": django_app, "websocket": URLRouter([])})\n',
  );
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, '(app: chat.asgi:application, ASGI)');
  assert.match(r.stdout, 'note: chat/settings.py gives Channels the InMemoryChannelLayer, whose groups live in one process: give the app one worker (apps: {chat: {workers: 1}} in the environment file; `serve --workers 1`)');
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^platform: python, asgi$/m, yaml);
  assert.match(yaml, /^app: chat\.asgi:application$/m, yaml);
  assert.match(yaml, /^# other candidates found: chat\.wsgi:application$/m, yaml);
  assert.match(yaml, '# sender\'s worker. Give the app one worker in the environment file, apps: {chat: {workers: 1}},');
  // A plain Django project keeps WSGI, as Django's docs deploy it.
  writeFileSync(join(dir, 'chat', 'asgi.py'), 'from django.core.asgi import get_asgi_application\n\napplication = get_asgi_application()\n');
  writeFileSync(join(dir, 'chat', 'settings.py'), 'INSTALLED_APPS = []\n');
  const plain = await runCli(['init', dir, '--force']);
  assert.match(plain.stdout, '(app: chat.wsgi:application, WSGI)', plain.stdout);
  assert.not.match(plain.stdout, /InMemoryChannelLayer/);
});

test('init writes an aiohttp app (neither WSGI nor ASGI) as platform: python, command, run by gunicorn with aiohttp\'s worker', async () => {
  for (const [name, code] of [
    ['aiohttp-web', 'from aiohttp import web\n\napp = web.Application()\n'],
    ['aiohttp-from', 'from aiohttp.web import Application\n\napp = Application()\n'],
  ]) {
    const dir = join(work.path, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'server.py'), code);
    const r = await runCli(['init', dir]);
    assert.is(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(r.stdout, '(processes.web: server:app under gunicorn, an aiohttp app)');
    const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
    assert.match(yaml, /^platform: python, command$/m, `${name}: ${yaml}`);
    assert.not.match(yaml, /^app:/m, `${name}: ${yaml}`);
    assert.match(yaml, /^processes:\n {2}web:\n {4}command: exec gunicorn -k aiohttp\.GunicornWebWorker -b 127\.0\.0\.1:\$PORT server:app$/m, `${name}: ${yaml}`);
    assert.match(yaml, /^deb: \[python3-aiohttp, python3-gunicorn\]$/m, `${name}: ${yaml}`);
  }
});

test("issue 13 item 7: run, test and check pass the caller's environment beneath the app's own variables", async () => {
  const dir = pkg(
    'caller-env',
    [
      'platform: python, wsgi',
      'app: wsgi:application',
      'commands:',
      '  test: test "$FOO" = bar',
      '  check: test "$FOO" = bar',
      '',
    ].join('\n'),
  );
  const envFile = join(work.path, 'caller-env.yaml');
  writeFileSync(envFile, 'apps:\n  caller-env:\n    settings: {GREETING: from-file}\n');
  const env = { FOO: 'bar', GREETING: 'from-shell', APPPKG_DATA_DIR: '/nope', PYTHONPATH: '/elsewhere', VIRTUAL_ENV: '/elsewhere/venv' };
  const common = ['--state-dir', state.path, '--environment', envFile];

  const run = await runCli(
    [
      'run', dir, ...common, '--',
      'python', '-c',
      'import json, os, sys; print(json.dumps({k: os.environ.get(k) for k in ("FOO", "GREETING", "APPPKG_DATA_DIR", "VIRTUAL_ENV")} | {"elsewhere": "/elsewhere" in sys.path}))',
    ],
    { env },
  );
  assert.is(run.status, 0, run.stderr);
  assert.equal(JSON.parse(run.stdout), {
    FOO: 'bar',
    GREETING: 'from-file',
    APPPKG_DATA_DIR: join(state.path, 'apps', 'caller-env', 'data'),
    VIRTUAL_ENV: null,
    elsewhere: false,
  });

  // Django's createsuperuser --noinput reads DJANGO_SUPERUSER_PASSWORD this way (a shell variable).
  const tested = await runCli(['test', dir, ...common], { env });
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
  const checked = await runCli(['check', dir, ...common], { env });
  assert.is(checked.status, 0, checked.stdout + checked.stderr);
  assert.match(checked.stdout, /ok\s+commands\.check/);
  // The same hook fails when the caller's FOO is not bar: it is the caller's variable it saw.
  assert.is((await runCli(['test', dir, ...common], { env: { FOO: '' } })).status, 1);
});

test("run and test: the caller's PORT and the gateway's APPPKG_* never reach the command (SPEC 2.1: the gateway's to give); APPPKG_GATEWAY, a gateway's own setting, does", async () => {
  const dir = pkg('caller-port', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  test: test -z "$PORT$APPPKG_MOUNT"', ''].join('\n'));
  const env = { PORT: '1234', APPPKG_DATA_DIR: '/tmp/x', APPPKG_MOUNT: '/x', APPPKG_BACKUP_DIR: '/tmp/x', APPPKG_GATEWAY: '/opt/gw/bin/apppkg-gateway' };
  const run = await runCli(['run', dir, '--state-dir', state.path, '--', 'env'], { env });
  assert.is(run.status, 0, run.stderr);
  const seen = new Map(run.stdout.split('\n').filter((line) => line.includes('=')).map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  assert.is(seen.get('PORT'), undefined, 'a PORT in the shell is no port the gateway gave');
  assert.is(seen.get('APPPKG_DATA_DIR'), join(state.path, 'apps', 'caller-port', 'data'));
  assert.is(seen.get('APPPKG_MOUNT'), undefined, 'processes: alone are told a mount');
  assert.is(seen.get('APPPKG_BACKUP_DIR'), undefined, 'backup and restore alone are told a backup directory');
  assert.is(seen.get('APPPKG_GATEWAY'), env.APPPKG_GATEWAY, "the command apppkg's library runs is the caller's choice");
  const tested = await runCli(['test', dir, '--state-dir', state.path], { env });
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
});

test('test: a suite that fails exits 1 whatever its own status (2 is bad usage, SPEC §3), and says the status', async () => {
  const dir = pkg('suite-exit', ['platform: python, wsgi', 'app: wsgi:application', 'commands:', '  test: echo ran; exit 2', ''].join('\n'));
  const r = await runCli(['test', dir, '--state-dir', state.path]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /ran/);
  assert.match(r.stderr, /commands\.test of suite-exit failed \(exit status 2\)/);
});

test.run();
