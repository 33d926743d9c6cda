// Is an app running right now (served by a gateway, or under `serve`)? Every process the
// gateway starts for an app carries APPPKG_DATA_DIR=<its state>/data in its environment
// (README "What an app gets"), so /proc tells, whoever started it and with no lock file that
// a killed gateway could leave behind. Reading another user's environ needs root or that
// user: the gateway's own user (root on a host) sees all of them.
import { readdir, readFile } from 'node:fs/promises';

/** Pids of live processes whose environment has APPPKG_DATA_DIR=`dataDir`; [] where /proc is not. */
export async function processesOfApp(dataDir: string): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const entry = `APPPKG_DATA_DIR=${dataDir}\0`;
  // A whole entry: at the start of the block, or right after another entry's NUL.
  const first = Buffer.from(entry);
  const later = Buffer.from(`\0${entry}`);
  const pids: number[] = [];
  await Promise.all(
    entries.map(async (pid) => {
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) return;
      try {
        const environ = await readFile(`/proc/${pid}/environ`);
        if (environ.subarray(0, first.length).equals(first) || environ.includes(later)) pids.push(Number(pid));
      } catch {
        // gone, or not ours to read
      }
    }),
  );
  return pids.sort((a, b) => a - b);
}
