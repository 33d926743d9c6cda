// The wheel files `vendor`'s pip installed from (issue 19), as its `--report` names them. pip
// picks a wheel by the tags in its file name, so a file named for one interpreter and platform
// (`NAME-1.0-cp311-cp311-linux_x86_64.whl`) is installed only where those tags load, whatever
// the WHEEL file inside it says (`py3-none-any` in a wheel renamed by hand, or written by a
// build tool that got it wrong). Such a distribution is as tied to this host as a compiled one,
// and its file name's tags are the ones `check` must hold another host to.
import { readRegularFile } from '../no-follow.js';
import { normalizeName } from '../environment/requirements.js';
import type { InstalledDistribution } from './vendor-dists.js';
import { isBinaryTag } from './vendor-tags.js';

// pip 22.2 added --report; an older pip is not asked, and a distribution's WHEEL file alone tells.
const REPORT_SINCE = [22, 2];
/** Far above a report of hundreds of distributions (some 5 KiB each). */
const REPORT_MAX_BYTES = 256 << 20;

/** pip's `--report FILE` when `pipVersion` ("23.0.1") has it, else nothing. */
export function reportArgs(pipVersion: string | null, file: string): string[] {
  const [major, minor] = (pipVersion ?? '').split('.').map((part) => Number.parseInt(part, 10));
  if (!Number.isInteger(major)) return [];
  const has = major > REPORT_SINCE[0] || (major === REPORT_SINCE[0] && (minor ?? 0) >= REPORT_SINCE[1]);
  return has ? ['--report', file] : [];
}

/** Each installed distribution's wheel file tags (normalised name -> tags), from pip's report; empty when there is none. */
export async function readWheelFileTags(reportFile: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let report: { install?: { metadata?: { name?: unknown }; download_info?: { url?: unknown } }[] };
  try {
    // Written where the app's user wrote (vendor-as-user.ts): never through a link it left.
    report = JSON.parse(await readRegularFile(reportFile, REPORT_MAX_BYTES));
  } catch {
    return out;
  }
  for (const item of report.install ?? []) {
    const name = item.metadata?.name;
    const url = item.download_info?.url;
    if (typeof name !== 'string' || typeof url !== 'string') continue;
    const tags = wheelFileTags(url);
    if (tags.length > 0) out.set(normalizeName(name), tags);
  }
  return out;
}

/** The tags a wheel's file name carries, its compressed sets expanded (`py2.py3-none-any`); [] for an sdist. */
export function wheelFileTags(url: string): string[] {
  const file = decodeURIComponent(url.replace(/[?#].*$/, '').split('/').pop() ?? '');
  if (!file.endsWith('.whl')) return [];
  const parts = file.slice(0, -'.whl'.length).split('-');
  if (parts.length < 5) return [];
  const [pythons, abis, platforms] = parts.slice(-3).map((part) => part.split('.'));
  return pythons.flatMap((py) => abis.flatMap((abi) => platforms.map((platform) => `${py}-${abi}-${platform}`)));
}

/**
 * `installed` with the file name's tags where they tie a distribution to this host and its
 * WHEEL file says it is portable; every other distribution as it was read (its WHEEL's tags).
 */
export function withWheelFileTags(installed: InstalledDistribution[], fileTags: Map<string, string[]>): InstalledDistribution[] {
  return installed.map((dist) => {
    const tags = fileTags.get(normalizeName(dist.name));
    if (tags === undefined || !tags.some(isBinaryTag) || dist.tags.some(isBinaryTag)) return dist;
    return { ...dist, tags, binary: true };
  });
}
