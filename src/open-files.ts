// Running out of file descriptors shows as errors from wherever the next one was wanted: spawn's
// EMFILE (Node then leaves the child without its pipes), get-port's `uv_interface_addresses
// returned Unknown system error 24`, a write's EMFILE. With many apps under --apps (each keeps its
// log open, each running worker five more) it is the first limit a host meets, so the messages
// say which limit it is and what raises it, instead of a TypeError or the error's own words.
import { closeSync, openSync, readFileSync } from 'node:fs';

const EMFILE = 24;
const ENFILE = 23;

/** 'EMFILE' (the gateway's own limit), 'ENFILE' (the host's), or null: another error. */
export function outOfFiles(err: unknown): 'EMFILE' | 'ENFILE' | null {
  if (!(err instanceof Error)) return null;
  const e = err as NodeJS.ErrnoException & { info?: { errno?: number; code?: string } };
  const codes = [e.code, e.info?.code];
  const errnos = [e.errno, e.info?.errno].map((n) => (typeof n === 'number' ? Math.abs(n) : null));
  if (codes.includes('EMFILE') || errnos.includes(EMFILE)) return 'EMFILE';
  if (codes.includes('ENFILE') || errnos.includes(ENFILE)) return 'ENFILE';
  return null;
}

/** The gateway's open-files limit (the soft one, which Node raised to the hard one), or another process's; null when not known. */
export function openFilesLimit(pid: number | 'self' = 'self'): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft === undefined || !/^\d+$/.test(soft) ? null : Number(soft);
  } catch {
    return null;
  }
}

/**
 * What ran out, for a message's reason: `EMFILE: the gateway's open-files limit (256) is reached`;
 * `kept`: a spawn refused because only the descriptors kept back (FILES_KEPT) were left.
 */
export function outOfFilesReason(kind: 'EMFILE' | 'ENFILE', kept = false): string {
  if (kind === 'ENFILE') return "ENFILE: the host's open-files table is full (fs.file-max)";
  const limit = openFilesLimit();
  const but = kept ? ` but for the last ${FILES_KEPT}, which the gateway keeps for its admin listener and clients` : '';
  return `EMFILE: the gateway's open-files limit${limit === null ? '' : ` (${limit})`} is reached${but}`;
}

/**
 * Descriptors an app's spawn leaves free: a `status` must be able to say what is wrong (the
 * admin's accept and the reads of a status), and clients still connect. Spawns took every one
 * there was under a too-low limit, and the admin then accepted nothing (libuv closes what it
 * cannot accept), so only the log said why; each try again of a refused start took them too.
 */
export const FILES_KEPT = 16;

/**
 * Whether a child with `pipes` pipes can be spawned and FILES_KEPT still be left: what the spawn
 * takes at once (a socketpair per pipe, libuv's exec pipe, and its guard's pair and pipe,
 * process-group.ts) and the kept ones are opened on /dev/null, and let go. A count of
 * /proc/self/fd would read every client's connection for each spawn.
 */
export function roomToSpawn(pipes: number): boolean {
  const wanted = 2 * pipes + 2 + 4 + FILES_KEPT;
  const opened: number[] = [];
  try {
    while (opened.length < wanted) opened.push(openSync('/dev/null', 'r'));
    return true;
  } catch (err) {
    // No /dev/null (a bare chroot) says nothing about the limit: the spawn finds out.
    return outOfFiles(err) === null;
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}

/** The error a spawn refused by roomToSpawn fails with, read as EMFILE (spawn-reason.ts). */
export function filesKeptError(): NodeJS.ErrnoException {
  return Object.assign(new Error(outOfFilesReason('EMFILE', true)), { code: 'EMFILE', errno: -EMFILE, syscall: 'spawn', filesKept: true });
}

/** What the gateway holds beside its apps' (listeners, the admin's, the watch, its own pipes): ~20 measured. */
const GATEWAY_FILES = 20;
/** Each app's log, open while the gateway runs (all that an app asleep holds: 314 for 300 asleep). */
const FILES_PER_APP = 1;
/**
 * A running worker's link to the gateway (two sockets), its stdout and stderr pipes, and its guard's
 * pipe (process-group.ts): 122 sockets for 8 apps of 3 workers, 2 of them the listeners. Counted 4,
 * the guard's left out, the estimate said 13 an app where 16 were held.
 */
const FILES_PER_WORKER = 5;

/**
 * Said once at start when `limit` (the soft limit, which Node raised to the hard one) is below
 * what `apps` apps of `workers` workers each hold while they all start: past it, every start
 * fails with EMFILE, hundreds of lines for one cause. null when it is enough, or not known.
 */
export function openFilesShortfall(apps: number, workers: number, limit: number | null = openFilesLimit()): string | null {
  const perApp = FILES_PER_APP + FILES_PER_WORKER * workers;
  const needed = GATEWAY_FILES + FILES_KEPT + apps * perApp;
  if (limit === null || apps === 0 || limit >= needed) return null;
  // Room for clients' connections too, each of which is one more; 65536 as the EMFILE hint says.
  const suggested = Math.max(65536, 2 ** Math.ceil(Math.log2(needed * 2)));
  return (
    `the open-files limit (${limit}) is likely too low for ${apps} apps: while they start each holds about ${perApp} ` +
    `(its log, and its ${workers === 1 ? "worker's" : `${workers} workers'`} links, pipes and guards), ~${needed} with the gateway's own and the ${FILES_KEPT} it keeps for its admin, ` +
    `and a start past the limit fails with EMFILE; raise the hard limit (the gateway raises its soft limit to it): ` +
    `LimitNOFILE=${suggested} in its systemd unit, or \`ulimit -Hn ${suggested}\` as root before starting it`
  );
}
