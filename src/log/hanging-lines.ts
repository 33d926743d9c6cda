// A text of several lines as log and status lines: those after its first hang under it.
// An exception's message may have lines of its own (a pydantic error's fields nested under it,
// a traceback a lifespan startup sent), and a refusal has its fix and the log's last lines
// below it; flush left, each of them read as a line of its own, the app it belongs to lost.

/**
 * `text` as lines, those after its first indented by `indent` past the line it begins, each
 * keeping its own indentation; trailing blanks and empty lines dropped.
 */
export function hangingLines(text: string, indent: string): string[] {
  const [first, ...more] = text.split('\n');
  return [first.replace(/\s+$/, ''), ...more.map((l) => l.replace(/\s+$/, '')).filter((l) => l !== '').map((l) => `${indent}${l}`)];
}
