import { watch, type FSWatcher } from 'node:fs';
import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, intOption, parseAddr, type CommandSpec, type ParsedCommand } from '../args.js';
import { resolveApp, type AppContextOptions } from '../../app-context.js';
import { isGatewayError, type GatewayError } from '../../errors.js';
import { Gateway } from '../../gateway.js';
import { startApp } from '../../supervisor/start-app.js';
import type { AppInstance } from '../../supervisor/app-instance.js';
import { printAppError, waitForStopSignal } from '../run-loop.js';

export const spec: CommandSpec = {
  name: 'serve',
  summary: 'Serve one app, mounted at /, for development (APPPKG_ENV=development: tracebacks in 500 answers).',
  usage: 'apppkg-gateway serve [APP_DIR] [--port N] [--host HOST] [--reload]',
  optionHelp: [
    ['-p, --port N', 'port to listen on (default 8000; 0 picks a free one)'],
    ['--host HOST', 'address to listen on (default 127.0.0.1)'],
    ['--reload', 'restart the workers when a .py file or app.yaml under APP_DIR changes'],
    ['--workers N', 'Python worker processes (default 2)'],
    ['--threads N', 'concurrent requests per worker (default 8)'],
    ...APP_OPTION_HELP,
  ],
  options: {
    port: { type: 'string', short: 'p' },
    host: { type: 'string' },
    reload: { type: 'boolean' },
    workers: { type: 'string' },
    threads: { type: 'string' },
    ...APP_OPTIONS,
  },
  allowPositionals: 1,
};

const say = (line: string) => process.stderr.write(`apppkg-gateway: ${line}\n`);

export async function run(args: ParsedCommand): Promise<number> {
  const portText = (args.values.port as string | undefined) ?? '8000';
  const host = (args.values.host as string | undefined) ?? '127.0.0.1';
  const listen = parseAddr(`${host.includes(':') ? `[${host}]` : host}:${portText}`, '--port');
  const workers = intOption(args.values.workers, '--workers', 1, 'serve');
  const threads = intOption(args.values.threads, '--threads', 1, 'serve');
  const contextOptions: AppContextOptions = {
    dir: resolve(args.positionals[0] ?? '.'),
    mode: 'development',
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    settingsFromProcessEnv: true,
  };
  const launch = async (): Promise<AppInstance> => {
    const ctx = await resolveApp(contextOptions);
    return startApp(ctx, { development: true, say, echoLogs: true, workers, threads });
  };

  let instance: AppInstance;
  try {
    instance = await launch();
  } catch (err) {
    printAppError(err);
    throw err;
  }
  const gateway = new Gateway({ listen: [listen], development: true, accessLog: process.stdout, say });
  gateway.setApps([{ instance, routes: [{ host: null, prefix: '' }] }]);
  let urls: string[];
  try {
    urls = await gateway.start();
  } catch (err) {
    await instance.stop(1000);
    throw err;
  }
  say(`serving ${instance.name} (${instance.desc.dir}) with ${instance.pids.length} workers`);
  process.stdout.write(`listening on ${urls[0]}/\n`);

  let watcher: FSWatcher | null = null;
  if (args.values.reload === true) {
    watcher = watchForReload(instance.desc.dir, async () => {
      say('change detected; restarting workers');
      try {
        const next = await launch();
        const previous = instance;
        instance = next;
        gateway.setApps([{ instance: next, routes: [{ host: null, prefix: '' }] }]);
        await previous.stop(5000);
        say(`reloaded ${next.name}`);
      } catch (err) {
        printAppError(err);
        say(isGatewayError(err) ? `reload failed: ${(err as GatewayError).format()}\n  (still serving the previous workers)` : `reload failed: ${String(err)}`);
      }
    });
  }

  const signal = await waitForStopSignal();
  say(`${signal}: stopping`);
  watcher?.close();
  await gateway.stop(10_000);
  await instance.stop(5_000);
  return 0;
}

/** Calls `onChange` (debounced, never two at once) when a .py file or app.yaml changes. */
function watchForReload(dir: string, onChange: () => Promise<void>): FSWatcher {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  let again = false;
  const fire = () => {
    if (running) {
      again = true;
      return;
    }
    running = onChange().finally(() => {
      running = null;
      if (again) {
        again = false;
        fire();
      }
    });
  };
  return watch(dir, { recursive: true }, (_event, filename) => {
    if (!filename) return;
    const name = filename.toString();
    if (!(name.endsWith('.py') || name === 'app.yaml' || name.endsWith('/app.yaml') || name.endsWith('.pth'))) return;
    if (name.includes('__pycache__')) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, 250);
  });
}
