// A lifecycle hook (`commands.install`, `backup`, `restore`, `uninstall`) run from the CLI
// exactly as the gateway runs one under --apps: in the app's environment, as the app's user
// when we are root, with APPPKG_ENV=production (these commands act on the installed app).
import type { Writable } from 'node:stream';
import { resolveApp, type AppContext } from '../app-context.js';
import type { CommandName } from '../description/types.js';
import { GatewayError } from '../errors.js';
import { quiet, seconds, type LifecycleOptions, type Say } from './progress.js';
import { HOOK_ENV, runInAppEnvironment } from './run-command.js';

export function resolveForHook(opts: LifecycleOptions): Promise<AppContext> {
  return resolveApp({
    dir: opts.dir,
    mode: 'production',
    environmentFile: opts.environmentFile,
    hostEnv: opts.hostEnv,
    desc: opts.desc,
    stateDir: opts.stateDir,
    // Like run/check: a setting exported in the operator's shell counts.
    settingsFromProcessEnv: true,
    switchUser: process.getuid?.() === 0,
  });
}

/** Runs commands.NAME if the app has one; false when it has none. Non-zero exit: APPPKG_COMMAND_FAILED naming the hook. */
export async function runHook(
  ctx: AppContext,
  name: CommandName,
  opts: { extraEnv?: Record<string, string>; say?: Say; output?: Writable } = {},
): Promise<boolean> {
  const say = opts.say ?? quiet;
  const command = ctx.desc.commands[name];
  if (!command) return false;
  say(`==> commands.${name}: ${command}`);
  const started = performance.now();
  const status = await runInAppEnvironment(ctx, { shell: command, key: `commands.${name}`, extraEnv: { ...opts.extraEnv, ...HOOK_ENV }, output: opts.output });
  if (status !== 0) throw new GatewayError('APPPKG_COMMAND_FAILED', { command: `commands.${name} (${command})`, status });
  say(`==> commands.${name} done in ${seconds(started)}`);
  return true;
}
