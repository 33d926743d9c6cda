// `apppkg-gateway serve [APP_DIR]`: one app at /, for development: a Gateway over that one
// directory (src/gateway.ts), its output echoed, commands.install run on its first run,
// --reload replacing its workers on a change (and waiting for one when the app cannot start).
import { isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, commandLineAgain, hookTimeoutOption, intOption, isHostSyntax, parseAddr, parseUrlAddr, type CommandSpec, type ParsedCommand } from '../args.js';
import { Gateway } from '../../gateway.js';
import { sayOnStderr } from '../../gateway-options.js';
import { GatewayError } from '../../errors.js';
import { countOf } from '../../count.js';
import { GATEWAY_FLAGS } from './gateway-spec.js';
import { SERVE_COMMAND_WORDS } from '../../command-words.js';
import { closeCgroupRun, openCgroupRun, reapDeadRuns } from '../../supervisor/cgroup-tree.js';
import { outliveStdio } from '../stdio.js';
import { announced, printAppError, watchStopSignals } from '../run-loop.js';

/**
 * `serve --admin ADDR`, typed by a user of the gateway's: serve has no admin listener, so it
 * writes no STATE/admin.address either (docs/admin.md: serves share a state root, one app
 * each). Its terminal is what status and logs give, Ctrl-C and --reload its restart.
 */
const SERVE_HAS_NO_ADMIN = "serve has no admin listener: its terminal shows the app's log, Ctrl-C stops it and --reload restarts it at each change; status, logs, restart and rollback reach a gateway started with --apps DIR (--admin ADDR)";

export const spec: CommandSpec = {
  name: 'serve',
  summary:
    'Serve one app, mounted at /, for development (APPPKG_ENV=development: tracebacks in 500 answers).\n' +
    "Builds its virtualenv (pip: requirements not installed yet) and runs commands.install on the app's first run; your environment is passed on beneath the app's variables.",
  usage: 'apppkg-gateway serve [APP_DIR] [--port N] [--host HOST] [--reload] [--workers N] [--threads N] [--hook-timeout SECONDS] [--environment FILE] [--state-dir DIR]',
  optionHelp: [
    ['-p, --port N', 'port to listen on (default 8000; 0 picks a free one)'],
    ['--host HOST', 'address to listen on (default 127.0.0.1)'],
    ['--reload', 'restart the workers when a .py or .pth file or app.yaml under APP_DIR changes; an app that fails to start is retried then'],
    ['--workers N', 'Python worker processes (default 2)'],
    ['--threads N', 'concurrent requests per worker (default 8)'],
    ['--hook-timeout SECONDS', "how long commands.install may run at the app's first run before it is stopped, with what it started, and serve exits 1 (default 600)"],
    ...APP_OPTION_HELP,
  ],
  options: {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    reload: { type: 'boolean' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    'hook-timeout': { type: 'string' },
    ...APP_OPTIONS,
  },
  allowPositionals: 1,
  otherSpellings: {
    '--listen': "serve listens on --host HOST --port N (default 127.0.0.1, 8000); --listen ADDR is the gateway's, with --apps DIR",
    '--bind': "gunicorn's --bind HOST:PORT is --host HOST --port N here",
    '-b': "gunicorn's -b HOST:PORT is --host HOST --port N here",
    '--apps': 'serve runs the one app in APP_DIR (apppkg-gateway serve APP_DIR); a directory of apps is served by apppkg-gateway --apps DIR',
    '--admin': SERVE_HAS_NO_ADMIN,
    '--admin-token': SERVE_HAS_NO_ADMIN,
  },
};

// The gateway's own log: a line's lines after its first hang under it.
const say = sayOnStderr;
/** How long a stop waits for the requests in flight: a development server has no --grace. */
const GRACE_S = 10;

/** The TCP address `text` names as --listen takes it (`HOST:PORT`, `http://HOST:PORT/`), or null. */
function addressIn(text: string): { host: string; port: number } | null {
  try {
    const addr = parseUrlAddr(text, '--port', 'no path');
    return addr.kind === 'tcp' ? addr : null;
  } catch {
    return null;
  }
}

export async function run(args: ParsedCommand): Promise<number> {
  const portText = (args.values.port as string | undefined) ?? '8000';
  // Said about what was typed: parseAddr would name the HOST:PORT built from it.
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
    // An address copied from a gateway's `listening on` line: said as the two flags it is.
    const copied = addressIn(portText);
    const fix = copied === null ? 'give --port a number from 0 to 65535, e.g. --port 8000; the host goes in --host (e.g. --host 0.0.0.0)' : `write --host ${copied.host} --port ${copied.port}`;
    throw new GatewayError('APPPKG_USAGE', { reason: `--port: expected a port number (0-65535; 0 picks a free one), found ${JSON.stringify(portText)}`, command: 'serve', fix });
  }
  const host = (args.values.host as string | undefined) ?? '127.0.0.1';
  // Said about --host, which is what was mistyped: parseAddr would name --port and HOST:PORT.
  if (host.includes(':') ? !isIPv6(host) || host.includes('%') : !isHostSyntax(host)) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--host: expected an IP address or a host name, found ${JSON.stringify(host)}`,
      command: 'serve',
      fix: 'give --host an address of this host: 127.0.0.1 (the default), 0.0.0.0 for every interface, ::1, or localhost',
    });
  }
  const listen = parseAddr(`${host.includes(':') ? `[${host}]` : host}:${portText}`, '--port');
  const dir = resolve(args.positionals[0] ?? '.');
  // Read before the start, as the gateway's: a mistyped value is bad usage, not a hook stopped at once.
  const hookTimeoutMs = hookTimeoutOption(args.values['hook-timeout'], 'serve');
  // From here, not from "listening on": a Ctrl-C while a slow import or an install hook runs
  // stops them, as it would later, instead of Node's default killing us with them running.
  // SIGHUP too: to a development server it is its terminal closed (it reloads nothing, unlike
  // the gateway's), and Node's default ended it at once, unsaid, cutting the requests it held.
  const { stopped, stopWaiting } = watchStopSignals(['SIGHUP']);
  outliveStdio();
  const shellMode = process.env.APPPKG_ENV;
  if (shellMode !== undefined && shellMode !== 'development') {
    // SPEC §2.1 gives the app development under serve, and the gateway answers as development
    // (tracebacks): an app told `production` beside it ran in neither mode. Said, as the user
    // who exported it meant something by it.
    say(`APPPKG_ENV=${shellMode} in your environment is not passed on: serve runs the app in development (APPPKG_ENV=development, tracebacks in its 500 answers); ` +
      `to run it as it runs deployed (production), serve the directory that holds it with \`apppkg-gateway --apps DIR\`, or unset APPPKG_ENV to silence this`);
  }
  // Held from before the first spawn (an install hook) to after the last process is gone.
  await openCgroupRun();
  try {
    let gateway: Gateway;
    try {
      gateway = await Gateway.start({
        stopWaiting,
        app: dir,
        listen,
        environment: args.values.environment as string | undefined,
        stateDir: args.values['state-dir'] as string | undefined,
        accessLog: process.stdout,
        reload: args.values.reload === true,
        workers: intOption(args.values.workers, '--workers', 1, 'serve', 2),
        threads: intOption(args.values.threads, '--threads', 1, 'serve', 8),
        hookTimeoutMs,
        graceMs: GRACE_S * 1000,
        say,
        // serve's address is --host and --port, each named for the failures that are its; a SIGHUP
        // stops it, which a fix that says the gateway's signal must not tell its user to send.
        optionNames: { ...GATEWAY_FLAGS, listen: '--port', listenHost: '--host', commands: SERVE_COMMAND_WORDS, startedAs: commandLineAgain('serve', args, ['environment']) },
      });
    } catch (err) {
      printAppError(err);
      throw err;
    }
    const status = gateway.status().apps[0];
    if (!stopWaiting.aborted) {
      // With --reload an app that could not start is waited for; the gateway has said so.
      if (status?.dir) say(`serving ${status.name} (${status.dir}) with ${servedBy(status)}`);
      process.stdout.write(`listening on ${announced(gateway.urls[0], listen)}\n`);
    }
    await reapDeadRuns(say);

    const signal = await stopped;
    // Said as the gateway (--apps) says its stop, in the same words: a `stopped` line missing
    // here left the user to guess whether the requests it was finishing had ended.
    say(`${signal}: stopping (finishing requests in flight, at most ${GRACE_S} s)`);
    await gateway.stop();
    say('stopped');
    return 0;
  } finally {
    await closeCgroupRun();
  }
}

/**
 * What answers the app's requests: its workers, or for `platform: python, command` its own
 * server, which "0 workers" made look like an app that had failed to start.
 */
function servedBy(status: { workers: unknown[]; processes: Array<{ name: string; pid: number | null }> }): string {
  const web = status.processes.find((p) => p.name === 'web');
  if (status.workers.length === 0 && web !== undefined) return `its own server (processes.web${web.pid === null ? '' : `, pid ${web.pid}`})`;
  return countOf(status.workers.length, 'worker');
}
