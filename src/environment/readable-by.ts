// Whether an app's user could read the file the gateway, as root, read for it: an app must not
// read through the gateway what its own user cannot. app.yaml is its app's user's to replace,
// and one made a symlink to /etc/shadow had the root gateway show that file's lines in YAML
// errors: in its log, status, the 503 at the app's name and `check`.
//
// Answered from the mode bits, as the kernel reads them for the credentials the app's processes
// get: its uid and primary gid, without supplementary groups (Node's spawn with a uid calls
// setgroups(0)), and search on every directory of the file's real path. A refusal is asked again
// of the kernel, by opening the file as that user, since an ACL may grant what the bits do not.
// A grant is not asked again: that costs a process for each app at every look under --apps
// (about 2 ms of CPU each, against some 20 us for the stats). What that leaves open is a file
// whose bits let the app's user read it and whose ACL alone takes that away: /etc/shadow, ssh and
// TLS keys are kept from other users by their bits.
import { statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { programOutput } from '../program-output.js';
import { describeMode, userHas, type FileReader } from './user-readable.js';

const READ = 4;
const SEARCH = 1;

/**
 * Why `reader` may not read `file`, a real path (no symlinks in it) whose stat as it was read is
 * `read`: "may not search /root (mode 0700, ...)"; null when it may.
 */
export async function whyNotReadableBy(file: string, read: Stats, reader: FileReader): Promise<string | null> {
  const why = modeRefusal(file, read, reader);
  if (why === null || (await kernelLetsRead(file, read, reader))) return null;
  return why;
}

/** Synchronous: a promise's stat cost ten times a stat itself, and there is one per directory of each app at each look. */
function modeRefusal(file: string, read: Stats, reader: FileReader): string | null {
  const dirs: string[] = [];
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    dirs.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of dirs) {
    let st: Stats | undefined;
    try {
      st = statSync(dir, { throwIfNoEntry: false });
    } catch {
      // ENOTDIR: what was a directory as the file was read is no longer one.
    }
    if (st === undefined) return `may not reach ${file}: ${dir} is gone`;
    if (!userHas(st, reader, SEARCH)) return `may not search ${dir} (${describeMode(st)})`;
  }
  return userHas(read, reader, READ) ? null : `may not read ${file} (${describeMode(read)})`;
}

/** Whether `reader` opens `file` for reading, and it is still the file that was read (not one put in its place since). */
async function kernelLetsRead(file: string, read: Stats, reader: FileReader): Promise<boolean> {
  const opened = await programOutput('/bin/sh', ['-c', 'exec <"$1"', 'sh', file], { timeoutMs: 10_000, uid: reader.uid, gid: reader.gid });
  if (opened.status !== 0) return false;
  const now = await stat(file).catch(() => null);
  return now !== null && now.dev === read.dev && now.ino === read.ino;
}
