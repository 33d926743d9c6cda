// pip keeps the output of the subprocesses it runs (the install of a project's build
// dependencies, its build backend, `setup.py develop`) off its console whenever a log file takes
// everything (`--log`, which install-venv gives it): the console then says "See above for output"
// with nothing above, and the log goes with the failed build directory. A project that offline
// pip could not build (`-e .` of a Pyramid app whose pyproject.toml wants setuptools) failed with
// no reason a user could see. This reads that output back from the log.

/** pip's log prefixes each line with its time: "2026-12-04T05:03:34,996 ". */
const STAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d+ /;
/** The colours a subprocess's pip gives its errors when FORCE_COLOR or a terminal asks for them. */
const SGR = /\x1b\[[0-9;]*m/g;
const RUNNING = /^\s*Running command (.+)$/;
/** pip's InstallationSubprocessError as its log writes it. */
const FAILED = /^\s*ERROR: (?:\[present-rich\] )?(.+) exited with (\d+)\s*$/;

/**
 * What each subprocess that failed wrote, as pip logged it: for each, the line "Running command
 * DESC", its output (unindented as far as all of it allows), and "DESC exited with N". Empty
 * when no subprocess of pip failed.
 */
export function failedSubprocessOutput(pipLog: string): string[] {
  const out: string[] = [];
  let running: { command: string; lines: string[] } | null = null;
  for (const raw of pipLog.split('\n')) {
    const line = raw.replace(STAMP, '').replace(SGR, '').replace(/\r$/, '');
    const started = RUNNING.exec(line);
    if (started) {
      // One that succeeded is followed by the next one's start, never by its failure.
      running = { command: started[1], lines: [] };
      continue;
    }
    if (running === null) continue;
    const failed = FAILED.exec(line);
    if (failed) {
      out.push(`Running command ${running.command}`);
      for (const kept of lastOf(unindent(running.lines))) out.push(kept);
      out.push(`${failed[1]} exited with ${failed[2]}`);
      running = null;
      continue;
    }
    running.lines.push(line);
  }
  return out;
}

/**
 * A failed build's last KEPT_LINES, where its error is: a C extension's compiler can write
 * thousands before it, more than a terminal's scrollback.
 */
const KEPT_LINES = 200;

function lastOf(lines: string[]): string[] {
  if (lines.length <= KEPT_LINES) return lines;
  return [`  (${lines.length - KEPT_LINES} earlier lines left out)`, ...lines.slice(-KEPT_LINES)];
}

function unindent(all: string[]): string[] {
  const lines = [...all];
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  // A reduce, not Math.min(...): a C extension's failed build can log more lines than a call's arguments may be.
  const cut = lines.reduce((least, l) => (l.trim() === '' ? least : Math.min(least, /^\s*/.exec(l)![0].length)), Infinity);
  return lines.map((l) => `  ${cut === Infinity ? l : l.slice(cut)}`);
}
