// Which wheel tags an interpreter loads (issue 19): python-shim/apppkg_vendor_tags.py asked
// once per interpreter and question. `vendor` records the tag of the interpreter it ran with,
// and `check` asks whether the host's interpreter loads the compiled distributions a vendor
// directory was allowed to keep (--allow-binary).
import path from 'node:path';
import { SHIM_DIR } from '../link/shim-path.js';
import { programOutput } from '../program-output.js';

const TAGS_SCRIPT = path.join(SHIM_DIR, 'apppkg_vendor_tags.py');
const TIMEOUT_MS = 30_000;

export interface HostTags {
  /** "cp311": the interpreter and its version, as wheel tags name them. */
  interpreter: string;
  /** "cp311-cp311-linux_x86_64": what a wheel built with this interpreter is tagged. */
  tag: string;
  /** For each tag asked about: does it load here? */
  supported: Record<string, boolean>;
}

/** An interpreter that is not here: a CPython `python` ("3.13") on Linux with `glibc` ("2.41") on `machine` (`uname -m`). */
export interface TagTarget {
  python: string;
  glibc: string;
  machine: string;
}

/**
 * Ask `python` for its own tag and which of `tags` it loads; rejects with Python's last line.
 * With `target`, `python` answers for that interpreter instead (an image's), by the same rules.
 */
export async function hostTags(python: string, tags: string[] = [], target?: TagTarget): Promise<HostTags> {
  const as = target === undefined ? [] : ['--as', `${target.python}:${target.glibc}:${target.machine}`];
  // -E -s: the caller's PYTHONPATH and user site must not change what the interpreter says.
  const answer = await programOutput(python, ['-E', '-s', TAGS_SCRIPT, ...as, ...tags], { timeoutMs: TIMEOUT_MS });
  if (answer.status !== 0) throw new Error(answer.stderr.trim().split('\n').pop() || answer.message);
  try {
    return JSON.parse(answer.stdout.trim().split('\n').pop() ?? '') as HostTags;
  } catch {
    throw new Error(`unexpected output from ${TAGS_SCRIPT}: ${answer.stdout.slice(0, 200)}`);
  }
}

/** A wheel tag that needs a particular interpreter or platform: its ABI or platform part is not none/any. */
export function isBinaryTag(tag: string): boolean {
  const [, abi, platform] = tag.split('-');
  return abi !== 'none' || platform !== 'any';
}

/**
 * The tags a host must load for a compiled distribution: its wheel's binary ones, or, when they
 * all say it loads anywhere (`py3-none-any`, a wheel built or renamed wrongly) though it holds
 * compiled files, `vendoredWith`, the tag of the interpreter that vendored it: its extension was
 * built for that one, and every interpreter loads `py3-none-any`, so `check` passed them all.
 */
export function neededTags(tags: readonly string[], vendoredWith: string): string[] {
  const binary = tags.filter(isBinaryTag);
  if (binary.length > 0) return binary;
  return vendoredWith === '' ? [...tags] : [vendoredWith];
}
