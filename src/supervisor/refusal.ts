// A version refused under --apps, told where its output really is. Under `serve` the app's
// traceback and a hook's output reach the terminal; under --apps they reach only the app's log
// (STATE/apps/NAME/log/app.log), so "fix the error shown in the traceback" pointed at nothing
// (issue 13). Here the error is rebuilt with `log` (the hints in errors.ts then name the file)
// and `tail`, the last lines of the traceback or of the log, which the gateway's own log and
// /status (the version's reason) carry.
import { closeSync, constants, openSync, readSync, fstatSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { GatewayError, type ErrorCode } from '../errors.js';
import { hangingLines } from '../log/hanging-lines.js';

/** How many lines of a traceback or a log a refusal carries. */
export const TAIL_LINES = 12;
const TAIL_BYTES = 16 * 1024;

// Failures whose explanation is the output of what ran (a hook, pip, a worker), in the log.
const EXPLAINED_BY_LOG = new Set<ErrorCode>([
  'APPPKG_COMMAND_FAILED',
  'APPPKG_COMMAND_TIMEOUT',
  'APPPKG_PIP_INSTALL_FAILED',
  'APPPKG_VENV_FAILED',
  'APPPKG_WORKER_START_FAILED',
  'APPPKG_PROCESS_START_FAILED',
  'APPPKG_APP_PROBE_FAILED',
]);

/** The app log of `name` under the state root (`--state-dir`, else the default root). */
export function appLogFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).log, 'app.log');
}

/** Where an app's rollbacks are kept across the gateway's restarts (app-record.ts saveRolledBack). */
export function rolledBackFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).app, 'rolled-back.json');
}

/** The size of `file` now (0 when there is none): where a version's own output will begin. */
export function logOffset(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * `error` with `log` and `tail` in its details; its hint now names the log file. The tail is
 * what was written from `since` on (logOffset() when the version began): the lines before are
 * another version's, and a refusal that quoted an earlier version's traceback sent its reader
 * to a bug in another directory.
 */
export function refusalUnderApps(error: GatewayError, logFile: string, since = 0): GatewayError {
  const traceback = typeof error.details.traceback === 'string' ? error.details.traceback : null;
  const tail = traceback !== null ? lastLines(traceback) : EXPLAINED_BY_LOG.has(error.code) ? lastLines(readEnd(logFile, since)) : [];
  return new GatewayError(error.code, { ...error.details, log: logFile, tail, cause: error.details.cause ?? error });
}

/**
 * The refusal in the app's own log too, where `apppkg-gateway logs NAME` and a failed restart's
 * "see the app's log" send the user: a version refused before any of its processes ran (its
 * interpreter, a service it needs) left the log without a word of it. Only into a log directory
 * that exists: made here it would be the gateway's, not the app's user's (the caller makes it
 * with its owner first, app-context.ts prepareRefusalLog). Not through a symlink, as app-log.ts opens it.
 */
export function noteRefusalInLog(logFile: string, line: string, hint: string | undefined): void {
  try {
    statSync(dirname(logFile));
  } catch {
    return;
  }
  // The message's own lines (an exception's) hang deeper than its fix, as in the gateway's log.
  const said = [...hangingLines(line, '    '), ...(hint ? [`  fix: ${hint}`] : [])];
  const text = said.map((l) => `[apppkg-gateway] ${l}\n`).join('');
  try {
    // Nor into a FIFO the app put under its log's name: O_NONBLOCK, or the open waited for a
    // reader and held the gateway (app-log.ts).
    const fd = openSync(logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o640);
    try {
      if (fstatSync(fd).isFIFO()) return;
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch {
    // A log that cannot be written must not change how a refusal is handled (app-log.ts).
  }
}

/** The refusal as the gateway's log shows it: the error and its fix, then the tail, indented. */
export function formatRefusal(error: GatewayError): string {
  const tail = Array.isArray(error.details.tail) ? (error.details.tail as string[]) : [];
  if (tail.length === 0) return error.format();
  return `${error.format()}\n  last lines of ${String(error.details.log)}:\n${tail.map((l) => `    | ${l}`).join('\n')}`;
}

/**
 * A refusal as /status shows it: what happened, how to fix it, the log and its last lines, and
 * which words of the message are the app's own output (`appOutput`: an exception's message, a
 * process's last line), which a client that may not see the log does not see there either.
 */
export function reasonOf(error: GatewayError): { code: string; message: string; hint: string; log?: string; tail?: string[]; appOutput?: string } {
  const { log, tail, appOutput } = error.details;
  return {
    code: error.code,
    message: placedMessage(error),
    hint: error.hint,
    ...(typeof log === 'string' ? { log } : {}),
    ...(Array.isArray(tail) && tail.length > 0 ? { tail: tail as string[] } : {}),
    ...(typeof appOutput === 'string' && appOutput !== '' ? { appOutput } : {}),
  };
}

/**
 * The message after the place of the mistake, when a file holds it (app.yaml, the environment
 * file), as the gateway's log and a broken description's history event say it (SPEC §1.1).
 */
export function placedMessage(error: GatewayError): string {
  return error.file && error.line ? `${error.file}:${error.line}:${error.column ?? 1}: ${error.message}` : error.message;
}

function lastLines(text: string): string[] {
  return text.split('\n').map((l) => l.replace(/\s+$/, '')).filter((l) => l !== '').slice(-TAIL_LINES);
}

/** The last bytes of `file` from `since` on ('' when it cannot be read): a log may be 10 MB. */
function readEnd(file: string, since: number): string {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    // Smaller than it was: rotated meanwhile (app-log.ts), and all of it is new.
    const from = size < since ? 0 : since;
    const length = Math.min(size - from, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const text = buf.toString('utf8');
    // A cut first line is dropped: it would read as a whole one.
    return size - from > length ? text.slice(text.indexOf('\n') + 1) : text;
  } catch {
    return '';
  } finally {
    if (fd !== null) closeSync(fd);
  }
}
