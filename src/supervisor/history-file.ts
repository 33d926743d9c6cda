// Where an app's history (app-history.ts) is kept between runs of the gateway, and what is in
// it: after a reboot, an upgrade or `systemctl restart`, an operator still sees why last night's
// version was refused or that it was rolled back (SPEC 5.4). STATE/apps/NAME/history.json, with
// the app's other state (installed.json, rolled-back.json): `uninstall` removes it with them.
// A file that cannot be used is the history of a state root from before it (none): never a
// refused app, since the history only explains what happened.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { HistoryEvent, RefusalStatus } from '../admin/status-types.js';
import { appStateDirs, resolveStateRoot } from '../environment/state-root.js';
import { systemErrorReason } from '../errors.js';
import { writeFileAtomic } from '../write-file-atomic.js';
import { KEPT_EVENTS, type HistoryKind } from './app-history.js';

/** The file's layout; one from a newer gateway (a higher number) is not read, as its events may not be these. */
export const HISTORY_FORMAT = 1;

/** Its events hold refusals' traceback tails and an app's own words, which a token may be needed to see (docs/admin.md). */
const HISTORY_FILE_MODE = 0o600;

/**
 * Far above 50 events with their tails (a few KiB each): anything larger was not written by the
 * gateway, and is not read whole into its memory at the start.
 */
const MAX_BYTES = 4 * 1024 * 1024;

// Every kind, checked by the compiler against HistoryEvent's: a kind added there must be added here.
const KINDS: Record<HistoryKind, true> = {
  serving: true, switched: true, refused: true, 'rolled-back': true, restarted: true, exited: true, removed: true, broken: true, 'wake-failed': true,
};

/** The history file of `name` under the state root (`--state-dir`, else the default root). */
export function historyFile(stateDir: string | undefined, name: string): string {
  return join(appStateDirs(resolveStateRoot({ flag: stateDir }), name).app, 'history.json');
}

/** What a history file held: its events (none for a missing file), or why it was not used. */
export type HistoryRead = { events: HistoryEvent[]; problem: null } | { events: []; problem: string };

/** Reads `file` as the gateway's last run wrote it. Synchronous: once per app, when the registry first meets it. */
export function readHistoryFile(file: string): HistoryRead {
  let text: string;
  try {
    text = readSmallFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], problem: null };
    return { events: [], problem: `it cannot be read (${systemErrorReason(err, file)})` };
  }
  let kept: unknown;
  try {
    kept = JSON.parse(text);
  } catch (err) {
    return { events: [], problem: text.trim() === '' ? 'expected JSON, found an empty file' : `expected JSON (${(err as Error).message})` };
  }
  if (!isObject(kept) || typeof kept.format !== 'number') return { events: [], problem: 'expected {"format": 1, "events": [...]}, found JSON of another shape' };
  if (kept.format !== HISTORY_FORMAT) {
    const newer = kept.format > HISTORY_FORMAT;
    return { events: [], problem: `expected format ${HISTORY_FORMAT}, found format ${kept.format}${newer ? ' (written by a newer apppkg-gateway)' : ''}` };
  }
  if (!Array.isArray(kept.events)) return { events: [], problem: 'expected "events" to be a list' };
  const wrong = kept.events.findIndex((e) => !isHistoryEvent(e));
  if (wrong >= 0) return { events: [], problem: `expected events[${wrong}] to be a history event (at, kind, version, from, message, reason, times, lastAt), found ${JSON.stringify(kept.events[wrong]).slice(0, 120)}` };
  return { events: (kept.events as HistoryEvent[]).slice(-KEPT_EVENTS), problem: null };
}

/** Replaces `file` with `events` whole (write-file-atomic.ts), one event a line: readable with `cat`. */
export function writeHistoryFile(file: string, events: readonly HistoryEvent[]): Promise<void> {
  const lines = events.map((e) => JSON.stringify(e)).join(',\n');
  return writeFileAtomic(file, `{"format": ${HISTORY_FORMAT}, "events": [${lines === '' ? '' : `\n${lines}\n`}]}\n`, HISTORY_FILE_MODE);
}

/** The file's text, refused past MAX_BYTES before any of it is read. */
function readSmallFile(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_BYTES) throw Object.assign(new Error(`it is ${size} bytes, more than the ${MAX_BYTES} a history file of the gateway can be`), { code: 'EFBIG' });
    const buffer = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, buffer, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

const isStringOrNull = (value: unknown): boolean => value === null || typeof value === 'string';
const isOptionalString = (value: unknown): boolean => value === undefined || typeof value === 'string';

// The page and the admin's withholding (admin-server.ts) read these fields: an event without
// one would break the page rather than tell anything.
function isHistoryEvent(e: unknown): boolean {
  return (
    isObject(e) &&
    typeof e.at === 'string' &&
    typeof e.kind === 'string' &&
    Object.hasOwn(KINDS, e.kind) &&
    isStringOrNull(e.version) &&
    isStringOrNull(e.from) &&
    typeof e.message === 'string' &&
    (e.reason === null || isRefusal(e.reason)) &&
    Number.isInteger(e.times) &&
    (e.times as number) >= 1 &&
    isStringOrNull(e.lastAt)
  );
}

function isRefusal(r: unknown): r is RefusalStatus {
  return (
    isObject(r) &&
    typeof r.code === 'string' &&
    typeof r.message === 'string' &&
    isOptionalString(r.hint) &&
    isOptionalString(r.log) &&
    isOptionalString(r.appOutput) &&
    (r.tail === undefined || (Array.isArray(r.tail) && r.tail.every((line) => typeof line === 'string')))
  );
}
