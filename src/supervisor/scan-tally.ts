// The registry's looks at its apps directory as an operator sees them (`scan` of GET /status):
// how many began, the last that ended, when, and which apps it found changed. Nothing showed
// when a SIGHUP's rescan had ended, so a deploy script (and the test suite) waited a fixed few
// seconds and hoped. Read `started` after the change, send SIGHUP, wait until `finished` is
// greater: the scan numbered started + 1 began after that read, so it saw the change, and its
// end means each app it found was judged (README, "Knowing a rescan has ended").
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { ScanStatus } from '../admin/status-types.js';
import { parsePackageDirName } from '../description/package-dir.js';
import type { Description } from '../description/types.js';
import type { Discovery } from './discovery.js';

/** One scan under way: its number, and the apps its look found changed. */
export interface Scan {
  readonly number: number;
  changed: string[];
}

export class ScanTally {
  private started = 0;
  private finished = 0;
  private finishedAt: string | null = null;
  private changed: string[] = [];
  /** Each app's packages as the last look that read the directory found them (packagesOf), hashed. */
  private seen = new Map<string, string>();
  /**
   * The end of the scan begun last. A scan's judging can outlast the next look (an update hook
   * of minutes), so each end waits for the one before: `finished` N says every scan up to N ended.
   */
  private last: Promise<void> = Promise.resolve();

  begin(): Scan {
    return { number: ++this.started, changed: [] };
  }

  /** What `scan`'s look read: the apps whose packages differ from the look before it, sorted. */
  found(scan: Scan, discovery: Discovery): void {
    const now = packagesOf(discovery);
    const names = new Set([...now.keys(), ...this.seen.keys()]);
    scan.changed = [...names].filter((name) => now.get(name) !== this.seen.get(name)).sort();
    this.seen = now;
  }

  /** `scan` ends once `judged` has settled and every scan before it has ended; resolves then. */
  end(scan: Scan, judged: Promise<unknown>): Promise<void> {
    const settled = judged.then(
      () => undefined,
      () => undefined,
    );
    this.last = Promise.all([this.last, settled]).then(() => {
      this.finished = scan.number;
      this.finishedAt = new Date().toISOString();
      this.changed = scan.changed;
    });
    return this.last;
  }

  get status(): ScanStatus {
    return { started: this.started, finished: this.finished, finishedAt: this.finishedAt, changed: this.changed };
  }
}

/**
 * Each app's packages as one digest: its versions' directories and descriptions (an edited
 * app.yaml is a change; its positions alone, a comment added above a key, are not), and its
 * packages whose app.yaml does not load, with why. A digest, not the text: it is kept for every
 * app between scans, and the text of every description would be held only to be compared.
 */
function packagesOf(discovery: Discovery): Map<string, string> {
  const parts = new Map<string, string[]>();
  const add = (name: string, part: string) => {
    const list = parts.get(name);
    if (list === undefined) parts.set(name, [part]);
    else list.push(part);
  };
  for (const app of discovery.apps) {
    for (const desc of app.versions) add(app.name, `${desc.dir}\n${describedAs(desc)}`);
  }
  for (const b of discovery.broken) add(parsePackageDirName(path.basename(b.dir)).name, `${b.dir}\n${b.error.code}: ${b.error.message}`);
  return new Map([...parts].map(([name, list]) => [name, createHash('sha256').update(list.sort().join('\n\n')).digest('base64')]));
}

function describedAs(desc: Description): string {
  const { positions: _positions, ...described } = desc;
  return JSON.stringify(described);
}
