// A Node process's CPU seconds with those of the children it has reaped, for scripts/test.mjs's
// account of what each test file costs. Read from /proc once a second while the process runs,
// that missed what a child added in the process's last second: cutime grows only when a child
// is reaped, and after the process has gone /proc has nothing. typecheck.test.ts waits for tsc
// (~17 s of CPU) with spawnSync and ends at once after it: it was recorded at 0 s, and so ran
// in the lanes of the files that mostly wait. Node gives no rusage of a child, so the process
// itself reports its figure as it exits (cpu-report-at-exit.mjs), into a file this names.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Names the file a process started by spawnNodeMeasured writes its CPU seconds to at exit. */
export const CPU_REPORT_ENV = 'APPPKG_TEST_CPU_REPORT';

const REPORTER = new URL('./cpu-report-at-exit.mjs', import.meta.url).href;

/** Where the reports go: made at the first spawn, removed when this process exits (an interrupted run's too). */
let reports;
let reported = 0;
/** The directory the reports' own is made in (scripts/test.mjs: the run's, so a run killed leaves one directory). */
let reportsIn;

/** Makes the reports' directory in DIR rather than TMPDIR; before the first spawn. */
export function reportCpuIn(dir) {
  reportsIn = dir;
}

function reportFile() {
  if (reports === undefined) {
    const dir = mkdtempSync(join(reportsIn ?? tmpdir(), 'apppkg-test-cpu-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    reports = dir;
  }
  return join(reports, String(++reported));
}

/**
 * A process's CPU seconds with those of its children it has waited for, from /proc (Linux):
 * `pid`, or `self`; undefined where there is none or the process has gone.
 */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime, stime, cutime, cstime: fields 14 to 17 of proc(5), in ticks of 1/100 s.
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
  } catch {
    return undefined;
  }
}

/**
 * `node ARGS` (spawn's options), with its CPU seconds: `read()` now, and once it has ended, in
 * `ended`, the figure it reported at its exit (or, killed by a signal, the last reading).
 */
export function spawnNodeMeasured(args, options) {
  const report = reportFile();
  const child = spawn(process.execPath, ['--import', REPORTER, ...args], { ...options, env: { ...(options.env ?? process.env), [CPU_REPORT_ENV]: report } });
  let cpu = 0;
  const read = () => (cpu = cpuSeconds(child.pid) ?? cpu);
  // While it runs, for a reader that asks for none (and a process that reports nothing).
  const watch = setInterval(read, 1000);
  const ended = new Promise((resolve) => child.on('close', (code, signal) => {
    clearInterval(watch);
    let atExit;
    try {
      atExit = Number(readFileSync(report, 'latin1'));
    } catch {
      atExit = NaN; // killed, or no /proc: the readings stand
    }
    rmSync(report, { force: true });
    if (Number.isFinite(atExit)) cpu = Math.max(cpu, atExit);
    resolve({ code, signal, cpu });
  }));
  return { child, read, ended };
}
