import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createWriteStream } from 'node:fs';
import { APP_OPTIONS, APP_OPTION_HELP, parseAddr, type CommandSpec, type ParsedCommand } from '../args.js';
import { loadHostEnvironment } from '../../app-context.js';
import { GatewayError } from '../../errors.js';
import { Gateway } from '../../gateway.js';
import { Registry } from '../../supervisor/registry.js';
import { AppsWatcher } from '../../supervisor/watcher.js';
import { waitForStopSignal } from '../run-loop.js';

export const spec: CommandSpec = {
  name: '',
  summary: 'Serve every app package under DIR behind one listener (APPPKG_ENV=production).',
  usage: 'apppkg-gateway --apps DIR [--listen ADDR]... [--admin ADDR] [--environment FILE] [--trust-proxy]',
  optionHelp: [
    ['--apps DIR', 'the directory holding the app packages (each a directory with app.yaml)'],
    ['-l, --listen ADDR', 'PORT, HOST:PORT or unix:/path; repeatable (default 127.0.0.1:8000)'],
    ['--access-log FILE', 'where the access log goes: a file, - for stdout (default), off'],
    ['--grace SECONDS', 'how long requests in flight may take to finish on SIGTERM (default 30)'],
    ...APP_OPTION_HELP,
  ],
  options: {
    apps: { type: 'string' },
    listen: { type: 'string', short: 'l', multiple: true },
    'access-log': { type: 'string' },
    grace: { type: 'string' },
    ...APP_OPTIONS,
  },
  allowPositionals: 0,
};

const say = (line: string) => process.stderr.write(`apppkg-gateway: ${line}\n`);

export async function run(args: ParsedCommand): Promise<number> {
  const appsDir = args.values.apps as string | undefined;
  if (!appsDir) throw new GatewayError('APPPKG_USAGE', { reason: '--apps DIR is required', command: '' });
  const root = resolve(appsDir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new GatewayError('APPPKG_USAGE', { reason: `--apps: expected a directory, found ${JSON.stringify(appsDir)}`, command: '' });
  }
  const listen = ((args.values.listen as string[] | undefined) ?? ['127.0.0.1:8000']).map((a) => parseAddr(a, '--listen'));
  const graceSeconds = Number(args.values.grace ?? 30);
  const accessLogTarget = (args.values['access-log'] as string | undefined) ?? '-';
  const accessLog = accessLogTarget === 'off' ? null : accessLogTarget === '-' ? process.stdout : createWriteStream(accessLogTarget, { flags: 'a' });
  const environmentFile = args.values.environment as string | undefined;
  const hostEnv = await loadHostEnvironment(environmentFile);

  const gateway = new Gateway({ listen, development: false, accessLog, say });
  const registry = new Registry({
    appsDir: root,
    hostEnv,
    stateDir: args.values['state-dir'] as string | undefined,
    gateway,
    say,
    drainMs: graceSeconds * 1000,
    hookTimeoutMs: 10 * 60 * 1000,
  });
  // Every app that can start is up before the first request is accepted.
  await registry.reconcile();
  let urls: string[];
  try {
    urls = await gateway.start();
  } catch (err) {
    await registry.stop(1000);
    throw err;
  }
  const watcher = new AppsWatcher(root, () => void registry.reconcile());
  watcher.start();
  const onHangup = () => {
    say('SIGHUP: rescanning the apps directory');
    void registry.reconcile(true);
  };
  process.on('SIGHUP', onHangup);
  for (const url of urls) process.stdout.write(`listening on ${url}/\n`);

  const signal = await waitForStopSignal();
  say(`${signal}: stopping (finishing requests in flight, at most ${graceSeconds} s)`);
  process.off('SIGHUP', onHangup);
  watcher.stop();
  await gateway.stop(graceSeconds * 1000);
  await registry.stop(5000);
  say('stopped');
  return 0;
}
