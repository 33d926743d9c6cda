// When a worker should be replaced while it still works (SPEC §2: max_requests, max_memory;
// SPEC §4: a worker with a thread stuck past the timeout). The replacement itself is
// Slot.recycle (slot.ts): start the new worker first, then drain the old one.
import { readFileSync } from 'node:fs';

/** Resident memory of `pid` in bytes, from /proc/<pid>/status (VmRSS); null when unknown. */
export function readRssBytes(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) * 1024;
  } catch {
    return null; // gone, or not Linux
  }
}

export interface RecycleLimits {
  /** 0 = never. */
  maxRequests: number;
  /** Bytes; 0 = never. */
  maxMemory: number;
}

/** Why a worker that served `requests` should be recycled for its request count; null if not. */
export function requestLimitReached(requests: number, limits: RecycleLimits): string | null {
  return limits.maxRequests > 0 && requests >= limits.maxRequests ? `served ${requests} requests (max_requests ${limits.maxRequests})` : null;
}

/**
 * Why a worker should be recycled for its memory; null if not. A worker that has served no
 * request yet is left alone: a fresh process over the limit would only be replaced by another.
 */
export function memoryLimitReached(rss: number | null, requests: number, limits: RecycleLimits): string | null {
  if (limits.maxMemory <= 0 || rss === null || requests === 0 || rss <= limits.maxMemory) return null;
  return `resident memory ${mib(rss)} is over max_memory ${mib(limits.maxMemory)}`;
}

/**
 * What to say when a worker is over max_memory as soon as it is up (the app's import takes more):
 * null when it is not. Recycling it would only start another as big, and recycle that at its
 * first request: uWSGI's reload-on-rss does so, a reload after every request. The workers are
 * kept instead, this said once, until max_memory is raised (the app then restarts with it).
 */
export function overLimitAfterImport(rss: number | null, limits: RecycleLimits): string | null {
  if (limits.maxMemory <= 0 || rss === null || rss <= limits.maxMemory) return null;
  return belowTheApp(limits, 'after its import', `a worker's resident memory is ${mib(rss)} as it begins serving`, rss);
}

/**
 * How far past what the app takes a worker may grow once max_memory is known to be below it (a
 * note is out): twice that size, the max_memory the note itself suggests. uWSGI's reload-on-rss
 * would reload such a worker after every request; gunicorn has no memory bound and waits for
 * max_requests. A user who set max_memory meant a leak to be bounded: the note turns the limit
 * off for the app's own size, not for a worker that doubles it.
 */
export const LEAK_FACTOR = 2;

/**
 * Why a worker of a version under a memory note should be recycled all the same; null if not.
 * `takes`: what the app was seen to take, the larger of the worker's RSS as it began serving and
 * the RSS the note was given with; the ceiling is LEAK_FACTOR times that, or max_memory if larger.
 * A replacement begins at `takes` again, so this cannot loop as the plain limit would.
 */
export function leakPastNote(rss: number | null, requests: number, takes: number, limits: RecycleLimits): string | null {
  if (limits.maxMemory <= 0 || rss === null || requests === 0) return null;
  const ceiling = Math.max(limits.maxMemory, takes) * LEAK_FACTOR;
  if (rss <= ceiling) return null;
  return `resident memory ${mib(rss)} is over ${LEAK_FACTOR} times what the app takes (${mib(Math.max(limits.maxMemory, takes))}; max_memory ${mib(limits.maxMemory)} is below that, as said): it grows as it serves`;
}

/** Memory recycles in a row, each of a worker that had served no more than EARLY_REQUESTS, that make a loop. */
export const EARLY_RECYCLES = 3;
export const EARLY_REQUESTS = 3;

/**
 * The same for an app that grows past max_memory at its first requests (an import made then, a
 * cache filled): EARLY_RECYCLES workers in a row recycled within EARLY_REQUESTS requests each.
 */
export function overLimitAtFirstRequests(rss: number, limits: RecycleLimits): string {
  return belowTheApp(limits, 'after its first requests', `${EARLY_RECYCLES} workers in a row were over it within ${EARLY_REQUESTS} requests each, the last at ${mib(rss)}`, rss);
}

function belowTheApp(limits: RecycleLimits, when: string, seen: string, rss: number): string {
  return `max_memory ${mib(limits.maxMemory)} is below what the app takes ${when} (${seen}): its workers are not recycled for their memory, since each replacement would be over it too; raise max_memory above ${mib(rss)} plus what a worker grows by as it serves (e.g. max_memory: ${Math.ceil((rss * 2) / 1024 ** 2)}MB) in the environment file`;
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
