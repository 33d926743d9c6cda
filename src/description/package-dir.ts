// The version suffix of a package directory (SPEC §1.2): `NAME.VERSION`, where VERSION begins
// with a digit, and which of several versions of one app is the highest.

export interface PackageDirName {
  name: string;
  /** Null when the directory has no version suffix (`blog`). */
  version: string | null;
}

/**
 * `blog.2026.11.24` -> blog / 2026.11.24; `my.app.2` -> my.app / 2; `blog` -> blog / null.
 * The split is at the first "." followed by a digit, so a name may contain dots but no
 * dot-digit (`py3.app.1` -> py3.app / 1). A name cannot be empty: `.1.0` and `1.0` have none.
 */
export function parsePackageDirName(basename: string): PackageDirName {
  const match = /\.(?=\d)/.exec(basename);
  if (!match || match.index === 0) return { name: basename, version: null };
  return { name: basename.slice(0, match.index), version: basename.slice(match.index + 1) };
}

// Words that mark a pre-release (PEP 440 and semver habits): `1.0rc1` < `1.0` < `1.0.post1`.
const PRE_RELEASE_RANK: Record<string, number> = {
  dev: 0, alpha: 1, a: 1, beta: 2, b: 2, pre: 3, preview: 3, c: 3, rc: 3,
};
// A word that is neither (`blog.1.10.old`, `blog.1.0.x`): a kept copy or a build of its release,
// never a newer one; ranked above it, the copy kept as `.old` took the traffic from a redeploy.
const OTHER_WORD_RANK = -1;
const POST_RELEASE_WORDS: ReadonlySet<string> = new Set(['post', 'p', 'patch', 'r']);
const POST_RELEASE_RANK = 10;

type Token = { kind: 'number'; digits: string } | { kind: 'word'; word: string };

function tokenize(version: string): Token[] {
  const tokens: Token[] = [];
  for (const [part] of version.toLowerCase().matchAll(/\d+|[a-z]+/g)) {
    if (/^\d/.test(part)) tokens.push({ kind: 'number', digits: part.replace(/^0+(?=\d)/, '') });
    else tokens.push({ kind: 'word', word: part });
  }
  return tokens;
}

function compareDigits(a: string, b: string): number {
  // Digit strings without leading zeros: the longer is larger; no Number overflow for dates
  // written as one number (20261124) or longer.
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function wordRank(word: string): number {
  return PRE_RELEASE_RANK[word] ?? (POST_RELEASE_WORDS.has(word) ? POST_RELEASE_RANK : OTHER_WORD_RANK);
}

/** A word's place relative to "nothing here": only post-release words above. */
function wordSign(word: string): number {
  return POST_RELEASE_WORDS.has(word) ? 1 : -1;
}

function compareWords(a: string, b: string): number {
  const order = Math.sign(wordRank(a) - wordRank(b));
  if (order !== 0) return order;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Compares two version suffixes number by number (SPEC §1.2): `1.10` > `1.9`, `1.0.1` > `1.0`,
 * `2026.11.24` > `2026.9.30`. A version is its leading numbers (the release; separators `.`,
 * `-`, `_` do not matter, a missing number counts as 0) and then whatever follows, read
 * with PEP 440 habits: a pre-release word (dev, a/alpha, b/beta, rc/c/pre) sorts below the
 * bare release (`1.0rc1` < `1.0`), a post-release word (post, p, patch, r) above it
 * (`1.0.post1` > `1.0`), any other word below both (`1.10.old` < `1.10rc1`); words of one kind
 * alphabetically. A build tail after `+` (`1.10+build5`, `1.0.0-rc.1+20261124`) comes last:
 * just above the same version without it. Versions that tie (`1.0` and `1.0.0`,
 * `1.01` and `1.1`) are ordered by their text, so the order is total and 0 means equal strings.
 * A null version (a directory without a suffix) sorts below every version.
 */
export function compareVersions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const order = compareRank(a, b);
  if (order !== 0) return order;
  return a < b ? -1 : 1;
}

/** Whether two suffixes spell one version (`1.02` and `1.2`, `1.0` and `1.0.0`): a tie only their text breaks. */
export function versionsTie(a: string | null, b: string | null): boolean {
  return a !== null && b !== null && compareRank(a, b) === 0;
}

function compareRank(a: string, b: string): number {
  const [publicA, localA] = splitLocal(a);
  const [publicB, localB] = splitLocal(b);
  return comparePublic(publicA, publicB) || compareLocal(localA, localB);
}

/** `1.10+build5` -> `1.10` and `build5`: the tail after `+` (PEP 440's local label, semver's build) is no newer release. */
function splitLocal(version: string): [string, string | null] {
  const plus = version.indexOf('+');
  return plus === -1 ? [version, null] : [version.slice(0, plus), version.slice(plus + 1)];
}

/**
 * A build of a release ranks just above the release itself and below anything newer (PEP 440:
 * `1.10` < `1.10+build5` < `1.10.post1`); builds compare token by token, numbers as numbers and
 * above words, as PEP 440 orders local labels.
 */
function compareLocal(a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? -1 : 1;
  const ta = tokenize(a);
  const tb = tokenize(b);
  for (let i = 0; i < Math.max(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    if (x.kind === 'number' && y.kind === 'number') {
      const order = compareDigits(x.digits, y.digits);
      if (order !== 0) return order;
    } else if (x.kind === 'word' && y.kind === 'word') {
      if (x.word !== y.word) return x.word < y.word ? -1 : 1;
    } else {
      return x.kind === 'number' ? 1 : -1;
    }
  }
  return 0;
}

/** The release and pre/post tail, without the text tie-break: 0 for `1.0` and `1.0.0`. */
function comparePublic(a: string, b: string): number {
  const ta = tokenize(a);
  const tb = tokenize(b);
  const ra = releaseLength(ta);
  const rb = releaseLength(tb);
  for (let i = 0; i < Math.max(ra, rb); i++) {
    const x = i < ra ? (ta[i] as { digits: string }).digits : '0';
    const y = i < rb ? (tb[i] as { digits: string }).digits : '0';
    const order = compareDigits(x, y);
    if (order !== 0) return order;
  }
  const sa = ta.slice(ra);
  const sb = tb.slice(rb);
  for (let i = 0; i < Math.max(sa.length, sb.length); i++) {
    const order = compareSuffixTokens(sa[i], sb[i]);
    if (order !== 0) return order;
  }
  return 0;
}

function releaseLength(tokens: Token[]): number {
  const firstWord = tokens.findIndex((t) => t.kind === 'word');
  return firstWord === -1 ? tokens.length : firstWord;
}

function compareSuffixTokens(x: Token | undefined, y: Token | undefined): number {
  if (x === undefined && y === undefined) return 0;
  if (x === undefined || y === undefined) {
    // Nothing on one side: `1.0` against `1.0rc1` (below) or `1.0.post1` (above); `rc1` against `rc1.1`.
    const present = (x ?? y) as Token;
    const presentSign = present.kind === 'word' ? wordSign(present.word) : present.digits === '0' ? 0 : 1;
    return x === undefined ? -presentSign : presentSign;
  }
  if (x.kind === 'number' && y.kind === 'number') return compareDigits(x.digits, y.digits);
  if (x.kind === 'word' && y.kind === 'word') return compareWords(x.word, y.word);
  return x.kind === 'number' ? 1 : -1;
}

/** The item with the highest version (see compareVersions), or undefined for an empty list. */
export function pickHighest<T extends { version: string | null }>(items: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const item of items) {
    if (best === undefined || compareVersions(item.version, best.version) > 0) best = item;
  }
  return best;
}

/** The items ordered from the highest version to the lowest: the head serves, the rest are rollback targets. */
export function sortByVersionDescending<T extends { version: string | null }>(items: readonly T[]): T[] {
  return [...items].sort((x, y) => compareVersions(y.version, x.version));
}
