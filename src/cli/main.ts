#!/usr/bin/env node
// A thin CLI over the programmatic API: argv -> command module -> exit status.
// 0 = success, 1 = the command ran and failed, 2 = bad usage (SPEC §3).
import './debug-signal.js';
import { fileURLToPath } from 'node:url';
import { helpText, optionLines, parseCommand, type CommandSpec, type ParsedCommand } from './args.js';
import { closest } from '../closest.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { packageVersion } from '../package-version.js';
import { watchStdio } from './stdio.js';
import { assertWorkingDirectory } from '../working-directory.js';

export interface CommandModule {
  spec: CommandSpec;
  run(args: ParsedCommand): Promise<number>;
}

// Loaded on demand so `apppkg-gateway describe` does not pay for the proxy's imports.
// Exported with GLOBAL_HELP for scripts/man-page.mjs: the man page is rendered from these texts.
export const COMMANDS: Record<string, () => Promise<CommandModule>> = {
  serve: () => import('./commands/serve.js'),
  check: () => import('./commands/check.js'),
  install: () => import('./commands/install.js'),
  backup: () => import('./commands/backup.js'),
  restore: () => import('./commands/restore.js'),
  uninstall: () => import('./commands/uninstall.js'),
  test: () => import('./commands/test.js'),
  run: () => import('./commands/run.js'),
  describe: () => import('./commands/describe.js'),
  init: () => import('./commands/init.js'),
  status: () => import('./commands/status.js'),
  logs: () => import('./commands/logs.js'),
  restart: () => import('./commands/restart.js'),
  rollback: () => import('./commands/rollback.js'),
  mail: () => import('./commands/mail.js'),
  export: () => import('./commands/export.js'),
  vendor: () => import('./commands/vendor.js'),
};

export const GLOBAL_HELP = `usage: apppkg-gateway --apps DIR [--listen ADDR] [--admin ADDR] [--environment FILE] [--trust-proxy]
       apppkg-gateway COMMAND [ARGS] [--help]
       apppkg-gateway help [COMMAND]
       apppkg-gateway --version

Serves Python web apps, each a directory with an app.yaml.

commands:
  (none)      serve every app under --apps DIR behind one listener
  serve       one app, mounted at /, for development
  check       verify an app's environment: os, python, deb/rpm, pip, settings, services, the programs
              its commands run, the app object importable and callable, then commands.check
  install     set up dependencies (virtualenv + pip, apt with --system) and services, then commands.install
  vendor      bundle the requirements in vendor/ (pip --target, relocatable scripts, a manifest for check)
  backup      commands.backup with APPPKG_BACKUP_DIR=DIR (default: copy the data directory), and its database
  restore     commands.restore from a backup (default: the data directory replaced by its copy)
  uninstall   commands.uninstall, then remove the app's data, tmp, logs, virtualenv and services
  test        commands.test in the app's environment
  run         any command in the app's environment, or its commands.NAME (--command NAME)
  describe    the normalised description as JSON
  init        write a commented app.yaml for an existing WSGI or ASGI project
  status      apps, versions, workers, restarts, requests, from a running gateway (--watch follows)
  logs        an app's log from a running gateway; -f follows it
  restart     replace an app's workers and processes with fresh ones, with no failed request
  rollback    serve the previous version of an app
  mail        mail retry / mail delete: deliver dead letters again, or delete them (ID..., or --all [APP])
  export      the apps on Kubernetes (manifests), an app's image recipe (Containerfile) and its venv for it
  help        this help, or a command's: \`help COMMAND\` is \`COMMAND --help\`

Run \`apppkg-gateway help COMMAND\` (or \`apppkg-gateway COMMAND --help\`) for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') {
    // Bad usage as any extra word is (SPEC §3): `--version --anything` printed the version and 0,
    // so a script's mistyped line passed.
    if (rest.length > 0) {
      return reportError(new GatewayError('APPPKG_USAGE', {
        reason: `unexpected ${rest[0].startsWith('-') ? 'option' : 'argument'} ${rest[0]} after ${first}, which takes none`,
        fix: `run \`apppkg-gateway ${first}\` alone; \`apppkg-gateway --help\` for the usage`,
      }));
    }
    process.stdout.write(`apppkg-gateway ${packageVersion()}\n`);
    return 0;
  }
  if (first === undefined || ((first === '--help' || first === '-h') && rest.length === 0)) {
    // Asked for, the help is the output (stdout, 0); with no arguments at all it is bad usage,
    // said where errors go (stderr, 2), as argparse and click do.
    await printGlobalHelp(first === undefined ? process.stderr : process.stdout);
    return first === undefined ? 2 : 0;
  }
  if (first === 'help') return help(rest);
  const isCommand = Object.hasOwn(COMMANDS, first);
  if (!isCommand && !first.startsWith('-')) return unknownCommand(first);
  const command: CommandModule = isCommand ? await COMMANDS[first]() : await import('./commands/gateway.js');
  const args = isCommand ? rest : argv;
  try {
    const parsed = parseCommand(command.spec, args);
    if (parsed.help) {
      process.stdout.write(`${helpText(command.spec)}\n`);
      return 0;
    }
    assertWorkingDirectory();
    return await command.run(parsed);
  } catch (err) {
    return reportError(err);
  }
}

async function printGlobalHelp(out: NodeJS.WritableStream = process.stdout): Promise<void> {
  // The gateway itself (no COMMAND) has options of its own: listed here, where a user looks first.
  // Its spec alone: the gateway's own module loads the supervisor, the proxy and the admin server.
  const { spec } = await import('./commands/gateway-spec.js');
  out.write(`${GLOBAL_HELP}\n\noptions of the gateway (no COMMAND):\n${optionLines(spec)}\n`);
}

/** What `help help` answers: what the word does, not the list it prints. */
const HELP_HELP = `usage: apppkg-gateway help [COMMAND]

Prints the general help (the commands and the gateway's own options) without COMMAND, or with it
COMMAND's help, as \`apppkg-gateway COMMAND --help\` does. One COMMAND at most: its help covers its
forms too (\`help export\` for export kubernetes, containerfile and venv).`;

/** `help [COMMAND]`: users of git, npm and docker type it before they think of `COMMAND --help`. */
async function help(args: string[]): Promise<number> {
  const [name, ...more] = args;
  if (name === undefined) {
    await printGlobalHelp();
    return 0;
  }
  // `help --help` is `help help`, as `help COMMAND` is `COMMAND --help` (the general help says
  // so): it printed the general help, which names no option of help's own.
  const aboutHelp = name === 'help' || name === '--help' || name === '-h';
  if (!aboutHelp && !Object.hasOwn(COMMANDS, name)) return unknownCommand(name);
  // Bad usage as every other extra argument is (SPEC §3): exit 0 would let `help check extra`
  // pass in a script for a command line that means nothing.
  if (more.length > 0) {
    const topic = aboutHelp ? 'help' : name;
    return reportError(new GatewayError('APPPKG_USAGE', {
      reason: `unexpected argument ${JSON.stringify(more[0])}: help takes one COMMAND at most`,
      fix: `run \`apppkg-gateway help ${topic}\`${topic === 'help' ? '' : ` (or \`apppkg-gateway ${topic} --help\`)`}`,
    }));
  }
  process.stdout.write(`${aboutHelp ? HELP_HELP : helpText((await COMMANDS[name]()).spec)}\n`);
  return 0;
}

/** Bad usage: the commands there are, and the nearest when the name looks mistyped. */
function unknownCommand(name: string): number {
  const names = Object.keys(COMMANDS);
  const near = closest(name, [...names, 'help']);
  process.stderr.write(
    `apppkg-gateway: unknown command ${JSON.stringify(name)}${near ? ` (did you mean "${near}"?)` : ''}; the commands: ${names.join(', ')}, help\n` +
      '  fix: run `apppkg-gateway help` for what each does, `apppkg-gateway help COMMAND` for its options\n',
  );
  return 2;
}

export function reportError(err: unknown): number {
  if (isGatewayError(err)) {
    process.stderr.write(`apppkg-gateway: ${(err as GatewayError).format().replace(/\n(?=\S)/g, '\napppkg-gateway: ')}\n`);
    return (err as GatewayError).exitStatus;
  }
  process.stderr.write(`apppkg-gateway: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  return 1;
}

/**
 * bin/apppkg-gateway sets variables for this process alone (malloc's tuning, read by glibc at
 * exec) and names them in APPPKG_LAUNCHER_ENV: out of the environment that apps started by
 * `serve` and `run` inherit.
 */
function forgetLauncherEnv(): void {
  for (const name of (process.env.APPPKG_LAUNCHER_ENV ?? '').split(',')) if (name) delete process.env[name];
  delete process.env.APPPKG_LAUNCHER_ENV;
}

const invokedDirectly = process.argv[1] && fileURLToPath(import.meta.url) === (await import('node:fs')).realpathSync(process.argv[1]);
if (invokedDirectly) {
  forgetLauncherEnv();
  watchStdio();
  main(process.argv.slice(2))
    .then(
      (status) => {
        process.exitCode = status;
      },
      (err) => {
        process.exitCode = reportError(err);
      },
    )
    .finally(exitWhenIdle);
}

/**
 * Once the command is done, the process ends as soon as nothing is left to run: 'beforeExit'
 * comes only when the event loop is empty (every write, child, timer and socket finished, as
 * for an exit left to Node), and process.exit() there skips what Node does after it, tearing
 * V8's heap down and unmapping it page by page: 10-20 ms of CPU at a gateway's stop, for
 * nobody (docs/performance.md, "The start's CPU"; a one-shot command's small heap, no gain seen).
 */
function exitWhenIdle(): void {
  process.once('beforeExit', () => process.exit());
}
