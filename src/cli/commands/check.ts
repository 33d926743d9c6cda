import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { describeApp, resolveApp } from '../../app-context.js';
import { runEnvironmentChecks } from '../../environment/checks.js';
import { resolveStateRoot } from '../../environment/state-root.js';
import { checkAppImport } from '../../link/check-app.js';
import { runInAppEnvironment } from '../../lifecycle/run-command.js';
import { isGatewayError, type GatewayError } from '../../errors.js';

export const spec: CommandSpec = {
  name: 'check',
  summary:
    "Verify an app's environment, one line per check with ok/FAIL and the fix: os, python, deb (dpkg-query),\n" +
    'rpm (where rpm exists), pip requirements, settings, the app object importable and callable, then commands.check.\n' +
    'Exits 1 when any check fails.',
  usage: 'apppkg-gateway check [APP_DIR]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
};

interface Line {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

function print(line: Line): void {
  process.stdout.write(`${line.ok ? 'ok  ' : 'FAIL'}  ${line.name.padEnd(9)} ${line.detail}\n`);
  if (!line.ok && line.fix) process.stdout.write(`      fix: ${line.fix}\n`);
}

export async function run(args: ParsedCommand): Promise<number> {
  const dir = resolve(args.positionals[0] ?? '.');
  const environmentFile = args.values.environment as string | undefined;
  const stateDir = args.values['state-dir'] as string | undefined;
  // A description that does not load is the one failure that stops every other check.
  const { desc, overrides } = await describeApp({ dir, mode: 'development', environmentFile });
  let failures = 0;
  const report = (line: Line) => {
    if (!line.ok) failures++;
    print(line);
  };

  const results = await runEnvironmentChecks(desc, {
    pythonOverride: overrides.python ?? undefined,
    settings: overrides.settings,
    processEnv: process.env,
    settingsFromEnv: true,
    stateRoot: resolveStateRoot({ flag: stateDir }),
  });
  for (const r of results) {
    // Failures about a key of app.yaml point at its line, as the loader's errors do.
    const at = !r.ok ? desc.positions[r.name] : undefined;
    const where = at ? `${desc.file}:${at.line}:${at.column}: ` : '';
    report({ name: r.name, ok: r.ok, detail: `${where}${r.detail}`, fix: r.fix });
  }

  if (failures === 0) {
    try {
      const ctx = await resolveApp({ dir, mode: 'development', environmentFile, stateDir, settingsFromProcessEnv: true });
      if (desc.kind === 'wsgi') {
        const result = await checkAppImport(ctx.appEnv, desc.app!);
        report({ name: 'app', ok: true, detail: `${desc.app} imports and is callable (${result.detail})` });
      }
      const hook = desc.commands.check;
      if (hook) {
        process.stdout.write(`---- commands.check: ${hook}\n`);
        const status = await runInAppEnvironment(ctx, { shell: hook });
        report({ name: 'commands.check', ok: status === 0, detail: `exited ${status}`, fix: 'read its output above' });
      }
    } catch (err) {
      if (!isGatewayError(err)) throw err;
      const e = err as GatewayError;
      const traceback = e.details.traceback;
      if (typeof traceback === 'string') process.stdout.write(`${traceback.trimEnd()}\n`);
      report({ name: 'app', ok: false, detail: e.message, fix: e.hint });
    }
  } else {
    report({ name: 'app', ok: false, detail: 'not tried: fix the failures above first', fix: '' });
  }
  process.stdout.write(failures === 0 ? `${desc.name}: every check passed\n` : `${desc.name}: ${failures} check(s) failed\n`);
  return failures === 0 ? 0 : 1;
}
