import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, EXAMPLES, ROOT, pathWithoutPyenvShims, runCli, tempDir, type CliResult } from '../helpers/process.js';
import { COMMANDS as CLI_COMMANDS } from '../../src/cli/main.js';

// The commands as a user first meets them: --help and help, bad usage (exit 2) and its fixes,
// directories named on the command line that are not there or hold no app.yaml, and a reader
// that leaves early. commands-check.test.ts and commands-init-run.test.ts hold the rest of what
// was one file.
const test = suite('cli commands: usage');
const state = tempDir('apppkg-cli-state-');
const work = tempDir('apppkg-cli-work-');
test.after(() => {
  state.remove();
  work.remove();
});

const COMMANDS = ['serve', 'check', 'install', 'backup', 'restore', 'uninstall', 'test', 'run', 'describe', 'init', 'status', 'logs', 'restart', 'rollback', 'mail'];

const runs = new Map<string, Promise<CliResult>>();
/**
 * `apppkg-gateway ARGS`, run once per file: for what depends on nothing a test does (the help
 * texts; a directory that is not there), read by several tests, as every run is a Node start.
 */
function runOnce(args: string[]): Promise<CliResult> {
  const key = JSON.stringify(args);
  let run = runs.get(key);
  if (run === undefined) runs.set(key, (run = runCli(args)));
  return run;
}

/** `COMMAND --help`, or the general `--help` without one (runOnce). */
const helpOf = (command?: string): Promise<CliResult> => runOnce(command === undefined ? ['--help'] : [command, '--help']);

/** A directory no test makes: the commands that take one are run on it once (runOnce). */
const missingDir = join(work.path, 'no-such-dir');

test('--help and -h on every command prints its usage and exits 0, help\'s own included: `help --help` is help\'s, not the general list', async () => {
  // Every command the CLI dispatches to (main.ts's table), and help, which it answers itself.
  for (const command of [...Object.keys(CLI_COMMANDS), 'help']) {
    for (const flag of ['--help', '-h']) {
      const r = await runOnce([command, flag]);
      assert.is(r.status, 0, `${command} ${flag}: ${r.stderr}`);
      assert.is(r.stderr, '', `${command} ${flag}`);
      assert.ok(r.stdout.startsWith(`usage: apppkg-gateway ${command} `), `${command} ${flag}: ${r.stdout.split('\n')[0]}`);
      // The same text as `help COMMAND` gives.
      assert.is(r.stdout, (await runOnce(['help', command])).stdout, `${command} ${flag}`);
    }
  }
  assert.ok((await runOnce(['help', '--help'])).stdout.startsWith('usage: apppkg-gateway help [COMMAND]\n'));
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

test("the general help's line for a command says what the command's own help says it does", async () => {
  // Each pair: what the command does (its --help, SPEC §3), and the words its line in the list
  // left out (check's "then commands.check", restart's processes, export's venv, ...).
  const top = (await helpOf()).stdout;
  const lineOf = (command: string): string => {
    const at = top.indexOf(`\n  ${command.padEnd(12)}`);
    assert.ok(at >= 0, `${command}: no line in the general help`);
    // A line may go on, indented under its text.
    return top.slice(at + 1).split(/\n(?! {14})/)[0].replace(/\s+/g, ' ');
  };
  const said: Array<[string, string[]]> = [
    ['check', ['os, python, deb/rpm, pip, settings, services', 'the app object importable and callable, then commands.check']],
    ['install', ['and services, then commands.install']],
    ['backup', ['its database']],
    ['uninstall', ['virtualenv and services']],
    ['restart', ['workers and processes']],
    ['export', ['Kubernetes', 'Containerfile', 'venv']],
  ];
  for (const [command, words] of said) {
    const line = lineOf(command);
    for (const word of words) assert.ok(line.includes(word), `${command}: ${JSON.stringify(line)} lacks ${JSON.stringify(word)}`);
  }
});

// `--version` (and -V) answered, but no help named it, nor the man page rendered from the help,
// nor the README: a user had to guess it.
test('the general help names --version, which (as -V) prints the version of the package', async () => {
  const usage = (await helpOf()).stdout.split('\n\n')[0];
  assert.match(usage, /\n {7}apppkg-gateway --version\b/, usage);
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runOnce([flag]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, `apppkg-gateway ${version}\n`, flag);
  }
});

// `--version --anything` printed the version and exited 0: a script's mistyped line passed.
test('--version (and -V) with anything after it is bad usage (exit 2), and --version given to a command says where it goes', async () => {
  for (const args of [['--version', '--anything'], ['-V', 'extra'], ['--version', '--help']]) {
    const r = await runOnce(args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.is(r.stdout, '', args.join(' '));
    assert.match(r.stderr, `apppkg-gateway: unexpected ${args[1].startsWith('-') ? 'option' : 'argument'} ${args[1]} after ${args[0]}, which takes none\n  fix: run \`apppkg-gateway ${args[0]}\` alone`);
  }
  for (const args of [['status', '--version'], ['check', '-V'], ['--apps', 'apps', '--version']]) {
    const r = await runOnce(args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, `apppkg-gateway: unknown option ${args[args.length - 1]}: the version is \`apppkg-gateway --version\`, alone\n`);
  }
  const help = await runOnce(['--help', '--anything']);
  assert.is(help.status, 2, help.stdout + help.stderr);
  assert.match(help.stderr, 'unknown option --anything');
});

// status, logs, restart, rollback and mail find the gateway by its state root, the same default
// as the gateway's (state-root.ts): their help left out $XDG_STATE_HOME, which a user's gateway
// honours, so a user who set it was told the wrong directory.
test("every command's --state-dir help names the default the gateway takes, $XDG_STATE_HOME included", async () => {
  for (const command of [undefined, ...COMMANDS]) {
    const line = (await helpOf(command)).stdout.split('\n').find((l) => l.startsWith('  --state-dir DIR'));
    if (line === undefined) continue;
    assert.match(line, '$XDG_STATE_HOME/apppkg-gateway', `${command ?? 'the gateway'}: ${line}`);
  }
});

test('help prints the general help, help COMMAND its --help; help of no command, or with more after it, is bad usage with the fix', async () => {
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
  // `help help` says what help does, not the list again.
  const helpHelp = await runCli(['help', 'help']);
  assert.is(helpHelp.status, 0, helpHelp.stderr);
  assert.match(helpHelp.stdout, /^usage: apppkg-gateway help \[COMMAND\]\n\n.*as `apppkg-gateway COMMAND --help` does/s);
  // And `help --help` (-h) is the same, as `help COMMAND` is `COMMAND --help` for every other.
  for (const flag of ['--help', '-h']) {
    const r = await runCli(['help', flag]);
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stdout, helpHelp.stdout, `help ${flag}`);
  }
  // An argument after COMMAND is bad usage, as it is after any command (SPEC §3), said with the fix.
  for (const [args, fix] of [
    [['help', 'check', 'extra'], '  fix: run `apppkg-gateway help check` (or `apppkg-gateway check --help`)'],
    [['help', 'export', 'kubernetes'], '  fix: run `apppkg-gateway help export` (or `apppkg-gateway export --help`)'],
    [['help', 'help', 'check'], '  fix: run `apppkg-gateway help help`'],
  ] as Array<[string[], string]>) {
    const r = await runCli(args);
    assert.is(r.status, 2, args.join(' '));
    assert.is(r.stdout, '', args.join(' '));
    assert.is(r.stderr, `apppkg-gateway: unexpected argument ${JSON.stringify(args[2])}: help takes one COMMAND at most\n${fix}\n`, args.join(' '));
  }
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
  // serve has no admin listener (and writes no admin.address): said so, not "unknown option" alone.
  for (const flag of ['--admin', '--admin-token']) {
    await usage(['serve', EXAMPLES, flag, 'x'], `unknown option ${flag}: serve has no admin listener: its terminal shows the app's log, Ctrl-C stops it and --reload restarts it at each change; status, logs, restart and rollback reach a gateway started with --apps DIR (--admin ADDR)`);
  }
  await usage(['--apps', EXAMPLES, '--port', '8080'], "unknown option --port: the gateway listens on --listen HOST:PORT (--listen 127.0.0.1:8080; given again for more addresses); --host and --port are serve's");
  await usage(['--apps', EXAMPLES, '--workers=4'], 'unknown option --workers: under --apps each app has its own: `workers: N` under apps.NAME, or under defaults: for every app, in the environment file (--environment FILE)');
  await usage(['serve', '-p', '-5'], '--port: expected a value after it, found "-5", which reads as an option (write --port=-5 to give it as the value)');
  // run's command without the `--` before it: told where the command goes, its own options too.
  await usage(['run', EXAMPLES, 'python', 'manage.py', 'migrate'], 'expected -- before the command, found "python" (write apppkg-gateway run APP_DIR -- python ...)');
  await usage(['run', EXAMPLES, 'python', '-V'], 'expected -- before the command, found "python" (write apppkg-gateway run APP_DIR -- python ...)');
  await usage(['run', EXAMPLES, '--frobnicate'], 'unknown option --frobnicate');
  // What is missing is said, with a line to follow: "expected APP_DIR -- CMD" named neither.
  const noCommand = await usage(['run', EXAMPLES], 'expected APP_DIR -- CMD, found no CMD, the command to run after -- (or --command NAME)');
  await usage(['run', EXAMPLES, '--'], 'expected APP_DIR -- CMD, found no CMD, the command to run after -- (or --command NAME)');
  await usage(['run', '--', 'python', '-V'], 'expected APP_DIR -- CMD, found no APP_DIR, the app');
  assert.is(noCommand.stderr.split('\n')[1], '  fix: write e.g. `apppkg-gateway run /var/apps/blog -- python manage.py migrate`, or `apppkg-gateway run /var/apps/blog --command install`');
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
  // What follows run's -- is the command's own, options included. Without pyenv's shims, as
  // below: run's first use of a root probes each python3 on PATH (~0.6 s of CPU here), and which
  // one runs the command is not what this is about.
  const passed = await runCli(['run', hello, '--state-dir', state.path, '--', 'python', '-c', 'import sys; print(sys.argv[1:])', '--state-dir', 'a', '--state-dir', 'b'], { env: { PATH: pathWithoutPyenvShims() } });
  assert.is(passed.status, 0, passed.stderr);
  assert.is(passed.stdout.trim(), "['--state-dir', 'a', '--state-dir', 'b']");
  // A flag without a value given twice says the same thing twice: accepted. Without pyenv's
  // shims, which --sys-path would probe afresh for ~0.5 s of CPU (pathWithoutPyenvShims).
  const flags = await runCli(['describe', hello, '--sys-path', '--sys-path', '--state-dir', state.path], { env: { PATH: pathWithoutPyenvShims() } });
  assert.is(flags.status, 0, flags.stderr);
  assert.is(JSON.parse(flags.stdout).name, 'hello');
});

test('an empty value ("$UNSET") is bad usage naming the option and what it takes, for every path-valued flag, and nothing is written into the state root it fell back to', async () => {
  // Before: --state-dir "" was taken for none (a script's unset variable wrote into
  // /var/lib/apppkg-gateway as root), --environment "" read no file, --socket-owner "" gave no
  // owner, --admin-token "" and --access-log "" failed on the working directory.
  const hello = join(EXAMPLES, 'hello');
  const fallback = join(work.path, 'empty-fallback-root');
  const cases: Array<[string[], string, string]> = [
    [['describe', hello, '--state-dir', ''], '--state-dir', 'DIR'],
    [['check', hello, '--state-dir='], '--state-dir', 'DIR'],
    [['install', hello, '--state-dir', ''], '--state-dir', 'DIR'],
    [['run', hello, '--state-dir', '', '--', 'true'], '--state-dir', 'DIR'],
    [['serve', hello, '--port', '0', '--state-dir', ''], '--state-dir', 'DIR'],
    [['uninstall', hello, '--state-dir', ''], '--state-dir', 'DIR'],
    [['describe', hello, '-e', ''], '--environment', 'FILE'],
    [['run', hello, '--environment=', '--', 'true'], '--environment', 'FILE'],
    [['--apps', ''], '--apps', 'DIR'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin-token', ''], '--admin-token', 'FILE'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--access-log', ''], '--access-log', 'FILE'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--socket-owner', ''], '--socket-owner', 'USER[:GROUP]'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--environment', ''], '--environment', 'FILE'],
    [['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--state-dir', ''], '--state-dir', 'DIR'],
    // Not paths, read as given all the same: -n "" was 0 lines.
    [['logs', 'hello', '-n', ''], '--lines', 'N'],
    [['status', '--admin-token', ''], '--admin-token', 'FILE'],
    // The admin commands' --state-dir names the root whose admin.address they read: "" is none.
    [['status', '--state-dir', ''], '--state-dir', 'DIR'],
    [['status', '--watch', '--state-dir='], '--state-dir', 'DIR'],
    [['logs', 'hello', '-f', '--state-dir', ''], '--state-dir', 'DIR'],
    [['restart', 'hello', '--state-dir', ''], '--state-dir', 'DIR'],
    [['rollback', 'hello', '--state-dir='], '--state-dir', 'DIR'],
    [['mail', 'retry', 'x', '--state-dir', ''], '--state-dir', 'DIR'],
  ];
  for (const [args, flag, what] of cases) {
    const r = await runCli(args, { env: { APPPKG_STATE_DIR: fallback }, ms: 20_000 });
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stderr.split('\n')[0], `apppkg-gateway: ${flag}: expected ${what}, found an empty value ("")`, args.join(' '));
    assert.is(r.stderr.split('\n')[1], `  fix: give ${flag} ${what}, not "" (as a script's variable that is unset or empty gives it): an empty value is never taken for the default`, args.join(' '));
  }
  // --trust-proxy's peers follow "=": its fix is written so.
  const trust = await runCli(['--apps', EXAMPLES, '--trust-proxy=']);
  assert.is(trust.status, 2, trust.stderr);
  assert.match(trust.stderr, '  fix: give --trust-proxy=ADDR,..., not ""');
  // The test's helper may seed the root's cache; what the commands make in it is apps/ and the gateway's lock.
  for (const made of ['apps', 'gateway.lock']) assert.not.ok(existsSync(join(fallback, made)), `the state root an empty value fell back to was used: ${join(fallback, made)}`);
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
  const said = new Map<string, CliResult>();
  for (const [args, says] of cases) {
    const r = await runCli(args);
    said.set(args.join(' '), r);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.is(r.stdout, '');
    assert.is(r.stderr.split('\n')[0], `apppkg-gateway: ${says}`);
  }
  // The fix writes the forms out; the admin's leaves 0.0.0.0 out, which needs --admin-token.
  const admin = said.get('status --admin bad host:8099')!;
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
    // Without pyenv's shims: check would probe each afresh (~0.5 s of CPU), and which
    // interpreter imports hello is not what this is about.
    const child = spawn(join(ROOT, 'bin', 'apppkg-gateway'), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: pathWithoutPyenvShims() } });
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

test('init of a path that is no directory fails as check and describe do: exit 1, not usage', async () => {
  // The same runs as the test of every command's missing directory below (runOnce).
  const said = new Map<string, CliResult>();
  for (const command of ['init', 'check', 'describe', 'serve']) {
    const args = { init: [command, missingDir], describe: [command, missingDir], check: [command, missingDir, '--state-dir', state.path], serve: [command, missingDir, '--port', '0', '--state-dir', state.path] }[command]!;
    said.set(command, await runOnce(args));
  }
  for (const command of ['init', 'check', 'describe']) assert.is(said.get(command)!.status, 1, `${command}: ${said.get(command)!.stderr}`);
  const r = said.get('init')!;
  assert.match(r.stderr, /no-such-dir is not a directory/);
  assert.not.match(r.stderr, /--help/);
  // The others say the directory is not there, not that it lacks an app.yaml; serve says it once.
  for (const command of ['check', 'serve']) {
    const { status, stderr } = said.get(command)!;
    assert.is(status, 1, stderr);
    assert.is(stderr.match(/no-such-dir does not exist \(no such directory\)/g)?.length, 1, `${command}: ${stderr}`);
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
  const missing = missingDir;
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
    // Once: init, check, describe and serve's are read by the test of init above too.
    const r = await runOnce(args);
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

test('a working directory removed after the shell entered it: exit 1 naming it, for a command with APP_DIR, one without and the gateway; --help still answers', async () => {
  const S = ['--state-dir', state.path];
  const cases: string[][] = [
    ['describe'],
    // check reads no path relative to it, but asks pyenv's .python-version from it upwards.
    ['check', join(EXAMPLES, 'hello'), ...S],
    // It started and refused every app, each worker "exited before it was ready (... uv_cwd)".
    ['--apps', EXAMPLES, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', ...S],
    ['describe', '--help'],
  ];
  for (const [i, args] of cases.entries()) {
    const gone = join(work.path, `gone-${i}`);
    mkdirSync(gone);
    // As a user meets it: the shell is in the directory when another removes it.
    const r = await runCli(['-c', 'd="$1" b="$2"; shift 2; cd "$d" && rmdir "$d" && exec "$b" "$@"', 'sh', gone, BIN, ...args], { bin: '/bin/sh', ms: 30_000 });
    const what = args.join(' ');
    if (args.includes('--help')) {
      assert.is(r.status, 0, `${what}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: apppkg-gateway describe/, what);
      continue;
    }
    assert.is(r.status, 1, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, `apppkg-gateway: the current directory ${gone} no longer exists`, what);
    assert.match(r.stderr, `fix: cd to a directory that exists and run the command again (\`cd ${gone}\``, what);
    assert.not.match(r.stderr, /internal error|uv_cwd/, what);
    assert.not.match(r.stdout, /listening on/, what);
  }
});

test.run();
