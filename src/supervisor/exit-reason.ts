// Why a supervised process ended, as status shows it beside its exit: its last line on stderr
// (slot.ts reads it), bounded.

/**
 * A line written longer than this before the exit is not its reason: a process killed (SIGKILL
 * by the kernel's OOM killer, say) after hours of silence last said something unrelated, a
 * warning at its start; status then shows the signal alone.
 */
export const EXIT_REASON_WITHIN_MS = 5_000;

/** An exit's reason in status is at most this many characters: a line of a log can be megabytes. */
export const EXIT_REASON_CHARS = 200;

/** `line` cut to EXIT_REASON_CHARS characters (whole code points), an ellipsis saying so. */
export function exitReason(line: string | null): string | null {
  if (line === null) return null;
  const most = EXIT_REASON_CHARS;
  // A character is one or two UTF-16 units: past 2 * most units there are more than `most` of them.
  const head = Array.from(line.length > 2 * most ? line.slice(0, 2 * most) : line);
  if (line.length <= 2 * most && head.length <= most) return line;
  return `${head.slice(0, most - 1).join('')}\u2026`;
}
