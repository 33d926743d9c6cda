// "Did you mean": the known name nearest to a mistyped one (an unknown key of app.yaml, a
// command, an app the environment file names), as gunicorn's import_app and git suggest.

function levenshtein(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The candidate within 2 edits of `word` (case ignored), for "did you mean"; undefined if none. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = levenshtein(lower, candidate.toLowerCase());
    // Short words are 2 edits away from almost anything; demand less of them.
    if (distance < bestDistance && distance < Math.max(candidate.length, lower.length) - 1) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
