// A count, a list or a span of time as a person writes it: "1 worker", "2 workers", "0
// problems" (issue 13: "1 workers"); "a, b and c"; "45 s". Every message that prints a number of
// things goes through it, never "thing(s)".

/** `n` and the noun agreeing with it; `plural` for nouns that do not just take an "s". */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** "a", "a and b", "a, b and c". */
export function listOf(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** A span of time as the gateway's log says a wait: "0.3 s", "45 s", "5 min", "4.2 h". */
export function spanOf(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${Number(s.toFixed(1))} s`;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  return `${Number((s / 3600).toFixed(1))} h`;
}
