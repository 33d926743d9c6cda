// `apppkg-gateway check` (SPEC §3) as a report: the environment checks (os, python, deb, rpm,
// pip, settings), then the app object imported and called as a worker would, then
// commands.check. Each outcome is handed to `onCheck` as it happens, so the CLI prints its
// lines live, and collected into the report a library caller reads.
import type { Writable } from 'node:stream';
import { resolveApp } from '../app-context.js';
import type { Description } from '../description/types.js';
import { runEnvironmentChecks } from '../environment/checks.js';
import { overridesFor, type HostEnvironment } from '../environment/host-file.js';
import { resolveStateRoot } from '../environment/state-root.js';
import { isGatewayError, type ErrorCode } from '../errors.js';
import { checkAppImport } from '../link/check-app.js';
import { runInAppEnvironment } from './run-command.js';

/** One line of the check: `ok  python  /usr/bin/python3 3.11.2` or `FAIL` with its fix. */
export interface CheckItem {
  /** os, python, deb, rpm, pip, settings, app or commands.check. */
  name: string;
  ok: boolean;
  /** Not applicable here (nothing listed, no dpkg-query): ok, with a note in `detail`. */
  skipped?: boolean;
  /** What was found; a failure about a key of app.yaml begins with its `file:line:column: `. */
  detail: string;
  /** How to fix a failure; "" when ok (or when there is nothing to fix until others are). */
  fix: string;
  /** The GatewayError code of a failure, when one says why. */
  code?: ErrorCode;
  /** A failed import: Python's traceback, to show before this line. */
  traceback?: string;
}

export interface CheckReport {
  /** The app's name. */
  name: string;
  /** Every check passed. */
  ok: boolean;
  /** How many did not. */
  failed: number;
  /** In the order they ran. */
  checks: CheckItem[];
}

export interface CheckAppOptions {
  desc: Description;
  hostEnv: HostEnvironment;
  stateDir?: string;
  /** Where commands.check's output goes; default: ours. */
  output?: Writable;
  /** Kill commands.check's process tree past this; default: no limit. */
  timeoutMs?: number;
  onCheck?: (check: CheckItem) => void;
  /** commands.check is about to run (its output follows). */
  onHookStart?: (command: string) => void;
}

export async function checkApp(opts: CheckAppOptions): Promise<CheckReport> {
  const { desc, hostEnv } = opts;
  const overrides = overridesFor(hostEnv, desc.name);
  const checks: CheckItem[] = [];
  const report = (check: CheckItem) => {
    checks.push(check);
    opts.onCheck?.(check);
  };

  // check runs from a shell, like serve and run: a required setting exported there counts.
  const results = await runEnvironmentChecks(desc, {
    pythonOverride: overrides.python ?? undefined,
    settings: overrides.settings,
    processEnv: process.env,
    settingsFromEnv: true,
    stateRoot: resolveStateRoot({ flag: opts.stateDir }),
  });
  for (const r of results) {
    // Failures about a key of app.yaml point at its line, as the loader's errors do.
    const at = !r.ok ? desc.positions[r.name] : undefined;
    const where = at ? `${desc.file}:${at.line}:${at.column}: ` : '';
    report({ name: r.name, ok: r.ok, ...(r.skipped ? { skipped: true } : {}), detail: `${where}${r.detail}`, fix: r.fix, code: r.code });
  }

  if (checks.some((c) => !c.ok)) {
    // Importing needs the interpreter and settings the failures above are about.
    report({ name: 'app', ok: false, detail: 'not tried: fix the failures above first', fix: '' });
    return summary(desc, checks);
  }
  try {
    const ctx = await resolveApp({ dir: desc.dir, desc, hostEnv, mode: 'development', stateDir: opts.stateDir, settingsFromProcessEnv: true });
    if (desc.kind === 'wsgi' || desc.kind === 'asgi') {
      const result = await checkAppImport(ctx.appEnv, desc.app!, undefined, desc.kind);
      report({ name: 'app', ok: true, detail: `${desc.app} imports and is callable (${result.detail})`, fix: '' });
    }
    const hook = desc.commands.check;
    if (hook) {
      opts.onHookStart?.(hook);
      const status = await runInAppEnvironment(ctx, { shell: hook, output: opts.output, timeoutMs: opts.timeoutMs });
      report({ name: 'commands.check', ok: status === 0, detail: `exited ${status}`, fix: status === 0 ? '' : 'read its output above' });
    }
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    const traceback = err.details.traceback;
    report({
      name: 'app',
      ok: false,
      detail: err.message,
      fix: err.hint,
      code: err.code,
      ...(typeof traceback === 'string' ? { traceback } : {}),
    });
  }
  return summary(desc, checks);
}

function summary(desc: Description, checks: CheckItem[]): CheckReport {
  const failed = checks.filter((c) => !c.ok).length;
  return { name: desc.name, ok: failed === 0, failed, checks };
}
