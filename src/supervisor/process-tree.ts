// The processes descended from one, read from /proc in one synchronous pass: a kill or a stop's
// SIGTERM comes right after it, with no turn of the event loop in between for a parent to exit
// in and hand its children to init. The tree is walked down from its leader through each
// thread's /proc/PID/task/TID/children, so a stop reads its own tree, not the host's. It used to
// read every process's /proc/PID/stat to learn their parents: 65-110 ms with 2,000 processes on
// the machine (2 cores, other work running), the event loop blocked for every other app
// meanwhile (SPEC 5.6: hundreds of apps on one gateway); the walk reads a few files per process
// of the tree. A kernel built without those files (CONFIG_PROC_CHILDREN) is read the old way.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { readProcFile } from '../proc-file.js';
import { fieldsAfterName, procStat } from '../proc-stat.js';

export interface TreeProcess {
  pid: number;
  pgid: number;
  /** Field 22 of /proc/PID/stat, in clock ticks since boot: a pid reused later has another. */
  start: string;
}

/** Whether this kernel lists each thread's children; null where there is no /proc. Asked once. */
let childrenFiles: boolean | null | undefined;

function hasChildrenFiles(): boolean | null {
  // Our main thread's id is our pid.
  childrenFiles ??= existsSync('/proc/self/stat') ? existsSync(`/proc/self/task/${process.pid}/children`) : null;
  return childrenFiles;
}

/** The processes descended from `pid`, nearest first, each with its group and start time. Null where there is no /proc. */
export function descendantsOf(pid: number): TreeProcess[] | null {
  const walkable = hasChildrenFiles();
  if (walkable === null) return null;
  const found: TreeProcess[] = [];
  for (const one of walkable ? walkDown(pid) : byParents(pid)) {
    const stat = procStat(one);
    if (stat !== null) found.push({ pid: one, pgid: stat.pgid, start: stat.startTime }); // else gone meanwhile
  }
  return found;
}

function walkDown(pid: number): number[] {
  const found = childrenOf(pid);
  for (let at = 0; at < found.length; at++) found.push(...childrenOf(found[at]));
  return found;
}

/**
 * `pid`'s children: a child is listed under the thread that started it. A thread that ends
 * between the listing of the threads and the read of its file hands its children to another,
 * which may have been read already: as with a listing of /proc, a process forked or moved in
 * the middle of the read can be missed.
 */
function childrenOf(pid: number): number[] {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return []; // gone meanwhile
  }
  const found: number[] = [];
  for (const task of tasks) {
    let list: string;
    try {
      list = readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1');
    } catch {
      continue; // the thread ended meanwhile
    }
    for (const child of list.split(' ')) if (child.trim() !== '') found.push(Number(child));
  }
  return found;
}

/** `pid`'s descendants found from every process's parent (field 4 of /proc/PID/stat). */
function byParents(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const entry of entries) {
    const parent = procStat(Number(entry))?.ppid;
    if (parent === undefined) continue; // gone meanwhile
    const siblings = children.get(parent);
    if (siblings === undefined) children.set(parent, [Number(entry)]);
    else siblings.push(Number(entry));
  }
  const found = [...(children.get(pid) ?? [])];
  for (let at = 0; at < found.length; at++) found.push(...(children.get(found[at]) ?? []));
  return found;
}

/**
 * `descendantsOf`, read asynchronously: a look at a tree while it runs, which nothing waits on.
 * Null where the kernel lists no children (a whole /proc read, so often, would cost more than it
 * finds) or there is no /proc.
 */
export async function readDescendants(pid: number): Promise<TreeProcess[] | null> {
  if (hasChildrenFiles() !== true) return null;
  const pids = await readChildren(pid);
  for (let at = 0; at < pids.length; at++) pids.push(...(await readChildren(pids[at])));
  const found: TreeProcess[] = [];
  for (const one of pids) {
    const stat = await readProcFile(`/proc/${one}/stat`);
    if (stat === null) continue; // gone meanwhile
    const fields = fieldsAfterName(stat);
    found.push({ pid: one, pgid: Number(fields[2]), start: fields[19] });
  }
  return found;
}

async function readChildren(pid: number): Promise<number[]> {
  let tasks: string[];
  try {
    tasks = await readdir(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const task of tasks) {
    for (const child of ((await readProcFile(`/proc/${pid}/task/${task}/children`)) ?? '').split(' ')) if (child.trim() !== '') found.push(Number(child));
  }
  return found;
}
