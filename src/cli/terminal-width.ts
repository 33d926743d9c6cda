// How many columns of a terminal a line takes, as a terminal's wcwidth(3) counts them, and the
// line cut to a width: counted by code point, a line of CJK (two columns a character) was drawn
// twice as wide as its count and wrapped into the lines below, and one of combining marks (none)
// was cut well short. Cut between grapheme clusters, so that no accent or emoji sequence is split.

/** East Asian Wide and Fullwidth (Unicode's EastAsianWidth.txt, W and F): two columns each. */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x2e80, 0x303e], [0x3041, 0x33ff],
  [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa960, 0xa97f], [0xac00, 0xd7a3],
  [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff00, 0xff60], [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4], [0x17000, 0x18cff], [0x1b000, 0x1b2ff], [0x1f200, 0x1f251],
  [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];
/** Drawn as an emoji (two columns) whatever follows: emoji presentation, flags, or asked for by VS16. */
const EMOJI = /\p{Emoji_Presentation}|\p{Regional_Indicator}|\uFE0F/u;
/** Take no column of their own: marks, format characters (ZWJ), controls. */
const ZERO_WIDTH = /^[\p{M}\p{Cf}\p{Cc}]/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

function clusterWidth(cluster: string): number {
  if (EMOJI.test(cluster)) return 2;
  if (ZERO_WIDTH.test(cluster)) return 0;
  const cp = cluster.codePointAt(0)!;
  if (cp < 0x1100) return 1;
  return WIDE.some(([from, to]) => cp >= from && cp <= to) ? 2 : 1;
}

/** The columns `text` (one line) takes in a terminal. */
export function terminalWidth(text: string): number {
  let width = 0;
  for (const { segment } of graphemes.segment(text)) width += clusterWidth(segment);
  return width;
}

/** `line` as it fits in `columns`: whole, or cut and ended with `…` at most `columns` wide. */
export function cutToColumns(line: string, columns: number): string {
  if (terminalWidth(line) <= columns) return line;
  const room = Math.max(0, columns - 1);
  let width = 0;
  let kept = '';
  for (const { segment } of graphemes.segment(line)) {
    const w = clusterWidth(segment);
    if (width + w > room) break;
    width += w;
    kept += segment;
  }
  return `${kept}…`;
}
