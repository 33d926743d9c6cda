// A line cut to the columns a terminal draws it in: counted by code point, a line of CJK (two
// columns a character) was drawn twice as wide as its count and wrapped into the lines below,
// and one of combining marks (none) was cut well short. Widths are string-width's (Unicode's
// East Asian Width and RGI emoji, the tables terminals follow, kept up to date there rather
// than copied here); the cut falls between grapheme clusters, so no accent or emoji sequence is
// split.
import stringWidth from 'string-width';

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** The columns `text` (one line) takes in a terminal. */
function terminalWidth(text: string): number {
  return stringWidth(text);
}

/** `line` as it fits in `columns`: whole, or cut and ended with `…` at most `columns` wide. */
export function cutToColumns(line: string, columns: number): string {
  if (terminalWidth(line) <= columns) return line;
  const room = Math.max(0, columns - 1);
  let width = 0;
  let kept = '';
  for (const { segment } of graphemes.segment(line)) {
    const w = terminalWidth(segment);
    if (width + w > room) break;
    width += w;
    kept += segment;
  }
  return `${kept}…`;
}
