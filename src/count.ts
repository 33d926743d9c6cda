// A count or a list as a person writes it: "1 worker", "2 workers", "0 problems" (issue 13: "1
// workers"); "a, b and c". Every message that prints a number of things goes through it, never
// "thing(s)".

/** `n` and the noun agreeing with it; `plural` for nouns that do not just take an "s". */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** "a", "a and b", "a, b and c". */
export function listOf(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
