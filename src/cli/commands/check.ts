import { APP_OPTIONS, APP_OPTION_HELP, appOptionNamesFor, commandLineAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage, type CheckItem } from '../../app-package.js';
import { countOf } from '../../count.js';
import { hangingLines } from '../../log/hanging-lines.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';

export const spec: CommandSpec = {
  name: 'check',
  summary:
    "Verify an app's environment, one line per check with ok/FAIL and the fix: os, python, deb (dpkg-query),\n" +
    'rpm (where rpm exists), pip requirements, settings, whether each service (services:) is reachable,\n' +
    'the app object importable and callable, then commands.check.\n' +
    'Creates nothing under the state root (it says whether the app\'s data and log directories exist yet; it\n' +
    'reads the interpreters\' answers install and the gateway keep there, cache/interpreters.json, never writes them).\n' +
    'Exits 1 when any check fails.',
  usage: 'apppkg-gateway check [APP_DIR] [--environment FILE] [--state-dir DIR]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
};

/** Prints each check as it comes, its detail in a column as wide as the longest name allows. */
function printer(names: string[]): (check: CheckItem) => void {
  const width = Math.max(...names.map((name) => name.length)) + 1;
  return (check) => {
    if (check.traceback) process.stdout.write(`${check.traceback.trimEnd()}\n`);
    // A detail of several lines (an exception whose message has lines of its own) hangs in its
    // column, as status prints a problem: flush left, its lines would read as checks of their own.
    const detail = hangingLines(check.detail, ' '.repeat(7 + width)).join('\n');
    process.stdout.write(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name.padEnd(width)} ${detail}\n`);
    if (!check.ok && check.fix) process.stdout.write(`      fix: ${check.fix}\n`);
  };
}

export async function run(args: ParsedCommand): Promise<number> {
  // Read-only: check creates nothing under the state root, the probe cache included.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-only');
  // A description that does not load is the one failure that stops every other check: open()
  // rejects and cli/main.ts prints every problem.
  const app = await AppPackage.open(args.positionals[0] ?? '.', {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    // A fix that gives it an environment file says this command line again, --state-dir kept.
    // A fix that gives it an environment file says this command line again, --state-dir kept;
    // one that has it run again once a server is up, this command line as given.
    optionNames: { ...appOptionNamesFor('check'), startedAs: commandLineAgain(spec.name, args, ['environment']), commandLine: commandLineAgain(spec.name, args) },
  });
  const report = await app.check({
    onCheck: printer(app.checkNames()),
    onHookStart: (command) => process.stdout.write(`---- commands.check: ${command}\n`),
  });
  process.stdout.write(report.ok ? `${app.name}: every check passed\n` : `${app.name}: ${countOf(report.failed, 'check')} failed\n`);
  return report.ok ? 0 : 1;
}
