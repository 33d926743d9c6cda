// `apppkg-gateway --apps DIR`: argv -> Gateway.start -> the addresses printed -> SIGHUP reloads
// the environment file and rescans -> SIGTERM/SIGINT stops. Everything else is the library's (src/gateway.ts).
import { resolve } from 'node:path';
import { commandLineAgain, hookTimeoutOption, parseUrlAddr, type ParsedCommand } from '../args.js';
import { GatewayError, isGatewayError } from '../../errors.js';
import { Gateway } from '../../gateway.js';
import { sayOnStderr } from '../../gateway-options.js';
import { parseOwner } from '../../net/listen.js';
import { DEFAULT_ADMIN } from '../../admin/default-admin.js';
import { validateAppsDir } from '../../description/apps-dir.js';
import { closeCgroupRun, holdLine, openCgroupRun, reapDeadRuns } from '../../supervisor/cgroup-tree.js';
import { outliveStdio } from '../stdio.js';
import { announced, watchStopSignals } from '../run-loop.js';
import { GATEWAY_FLAGS, spec } from './gateway-spec.js';

// main() reads a command's spec from its module (CommandModule), as for every other command.
export { spec };

/** Digits with an optional fraction: Number() also takes "" (0), " 5", "0x1e" and "1e3". */
const SECONDS = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function seconds(value: unknown, key: string, fallback: number): number {
  if (value === undefined) return fallback;
  // An empty value (`--grace "$GRACE"` with GRACE unset) read as 0 cut every request at the stop,
  // and --watch-interval "" never looked at --apps again.
  const n = typeof value === 'string' && SECONDS.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n < 0) {
    throw new GatewayError('APPPKG_USAGE', { reason: `${key}: expected a number of seconds >= 0, found ${JSON.stringify(value)}`, command: '', fix: `give ${key} a number of seconds (a fraction is fine), e.g. ${key} ${fallback}` });
  }
  return n;
}

// The gateway's own log: a line's lines after its first hang under it.
const say = sayOnStderr;

export async function run(args: ParsedCommand): Promise<number> {
  const appsDir = args.values.apps as string | undefined;
  if (!appsDir) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: '--apps DIR is required',
      fix: 'name the directory holding one directory per app: `apppkg-gateway --apps /var/apps`, or for one app `apppkg-gateway serve APP_DIR`',
    });
  }
  // Checked here too, not only in Gateway.start: before the flags below, whose own errors would hide it.
  validateAppsDir(resolve(appsDir));
  // As the gateway prints its own addresses (`listening on http://127.0.0.1:8000/`), which a user copies.
  const listen = ((args.values.listen as string[] | undefined) ?? ['127.0.0.1:8000']).map((a) => parseUrlAddr(a, '--listen', 'a listener takes no path (an app\'s path is its mount: in the environment file)'));
  const grace = seconds(args.values.grace, '--grace', 30);
  // The slowloris bound: a client sending its head a byte at a time holds a connection this long.
  const headerTimeout = seconds(args.values['header-timeout'], '--header-timeout', 20);
  if (headerTimeout === 0) {
    throw new GatewayError('APPPKG_USAGE', { reason: '--header-timeout: expected a number of seconds > 0, found "0"', command: '', fix: 'give --header-timeout a number of seconds above 0, e.g. --header-timeout 20' });
  }
  const watchInterval = seconds(args.values['watch-interval'], '--watch-interval', 2);
  const settle = seconds(args.values.settle, '--settle', 1);
  const hookTimeoutMs = hookTimeoutOption(args.values['hook-timeout'], '');
  const maxWorkersText = args.values['max-workers'] as string | undefined;
  if (maxWorkersText !== undefined && !/^[1-9][0-9]*$/.test(maxWorkersText)) {
    throw new GatewayError('APPPKG_USAGE', { reason: `--max-workers: expected a whole number of at least 1, found ${JSON.stringify(maxWorkersText)}`, command: '', fix: 'give --max-workers a whole number of at least 1, e.g. --max-workers 8' });
  }
  const accessLog = (args.values['access-log'] as string | undefined) ?? '-';
  const modeText = args.values['socket-mode'] as string | undefined;
  if (modeText !== undefined && !/^0?[0-7]{3}$/.test(modeText)) {
    throw new GatewayError('APPPKG_USAGE', { reason: `--socket-mode: expected an octal mode like 0660, found ${JSON.stringify(modeText)}`, command: '', fix: 'give --socket-mode three octal digits, e.g. --socket-mode 0660' });
  }
  const ownerText = args.values['socket-owner'] as string | undefined;
  const trustText = args.values['trust-proxy'] as string | undefined;

  const admin = parseUrlAddr((args.values.admin as string | undefined) ?? DEFAULT_ADMIN, '--admin', 'the admin listener answers at its root');
  // Signals count from here, not from "listening on": a SIGTERM while the apps start stops the
  // gateway as it would later (Node's default would kill it, cutting what it holds), and a SIGHUP
  // then is no kill either. Nor is it dropped: the start's scan may have read the directory
  // before the copy the SIGHUP was sent for (`start; cp -r blog.1.1 apps/; kill -HUP`), so it
  // is answered once the gateway has started, as one sent then would be.
  const { stopped, stopWaiting } = watchStopSignals();
  outliveStdio();
  let hangupOwed = false;
  const hangupWhileStarting = () => {
    if (!hangupOwed) say('SIGHUP: the gateway is starting; the apps directory and the environment file are read again once it has started');
    hangupOwed = true;
  };
  process.on('SIGHUP', hangupWhileStarting);
  // Held from before the first spawn (an install hook) to after the last process is gone; said
  // once the gateway started, so that a usage error (a bad --environment) stays the first line.
  const held = await openCgroupRun();
  try {
    const gateway = await Gateway.start({
      stopWaiting,
      apps: appsDir,
      listen,
      admin,
      adminTokenFile: args.values['admin-token'] as string | undefined,
      environment: args.values.environment as string | undefined,
      stateDir: args.values['state-dir'] as string | undefined,
      trustProxy: trustText === undefined ? false : trustText === '*' ? true : trustText.split(',').filter(Boolean),
      accessLog: accessLog === 'off' ? null : accessLog === '-' ? process.stdout : accessLog,
      unixSocket: { mode: modeText ? parseInt(modeText, 8) : undefined, ...(ownerText ? parseOwner(ownerText) : {}) },
      graceMs: grace * 1000,
      headerTimeoutMs: Math.round(headerTimeout * 1000),
      watchIntervalMs: watchInterval * 1000,
      settleMs: settle * 1000,
      hookTimeoutMs,
      maxWorkers: maxWorkersText === undefined ? undefined : Number(maxWorkersText),
      say,
      // A fix that has the gateway started with an environment file says this line with it.
      optionNames: { ...GATEWAY_FLAGS, startedAs: commandLineAgain(spec.name, args, ['environment']) },
    });
    say(holdLine(held));
    await reapDeadRuns(say);
    const environmentFile = args.values.environment as string | undefined;
    const onHangup = () => {
      say(`SIGHUP: ${environmentFile === undefined ? '' : `reading ${environmentFile} again, `}rescanning the apps directory`);
      try {
        if (gateway.reloadAdminToken()) say('SIGHUP: the admin token was read again; the old one is refused from now on');
      } catch (err) {
        say(`SIGHUP: the old admin token stays in force; ${String(args.values['admin-token'])}: ${isGatewayError(err) ? err.message : String(err)}`);
      }
      // The environment first, then one look at the apps: a version refused for a setting the new
      // file gives is retried with it.
      void gateway.reload();
    };
    // The new listener first: with none, even for a moment, a SIGHUP would kill the gateway (run-loop.ts).
    process.on('SIGHUP', onHangup);
    process.off('SIGHUP', hangupWhileStarting);
    if (hangupOwed && !stopWaiting.aborted) onHangup();
    // As nginx and gunicorn: logrotate moves the file away, then SIGUSR1 (cli/debug-signal.ts).
    const onUser1 = () => {
      const reopening = gateway.reopenAccessLog((madeDir) => say(`SIGUSR1: the access log ${accessLog} was opened again${madeDir === null ? '' : ` (its directory ${madeDir} was gone: made again)`}`));
      if (!reopening) say(`SIGUSR1: the access log is not a file (--access-log ${accessLog}): nothing to reopen`);
      // A directory removed is made again: the apps' logs are the gateway's, under its state root.
      // One that cannot be opened says why itself (cannot write ...) and is tried again at its rotation.
      const { reopened, failed } = gateway.reopenAppLogs();
      say(`SIGUSR1: ${reopened} app log${reopened === 1 ? '' : 's'} opened again${failed > 0 ? `; ${failed} could not be (the lines above say why)` : ''}`);
    };
    process.on('SIGUSR1', onUser1);
    if (!stopWaiting.aborted) {
      // Front.start's URLs are in the order of its addresses.
      gateway.urls.forEach((url, i) => process.stdout.write(`listening on ${announced(url, listen[i])}\n`));
      process.stdout.write(`admin on ${gateway.adminUrl === null ? 'none' : announced(gateway.adminUrl, admin)}\n`);
    }

    const signal = await stopped;
    say(`${signal}: stopping (finishing requests in flight, at most ${grace} s)`);
    // Without a listener, Node's default for SIGHUP kills the gateway there (exit 129), cutting the
    // requests it is finishing: a reload racing `systemctl stop`, a terminal closed after Ctrl-C.
    process.on('SIGHUP', () => say('SIGHUP: the gateway is stopping; nothing is read again'));
    process.off('SIGHUP', onHangup);
    process.off('SIGUSR1', onUser1);
    await gateway.stop();
    say('stopped');
    return 0;
  } finally {
    await closeCgroupRun();
  }
}
