// The backup check of first run: ask for a few of the 24 words back before the
// identity is stored (unit-tested in tests/confirm.test.ts).

/** `count` distinct 1-based positions out of `total`, sorted, using `rand` in [0, 1). */
export function pickPositions(total: number, count: number, rand: () => number = Math.random): number[] {
  const pool = Array.from({ length: total }, (_, i) => i + 1);
  const out: number[] = [];
  const n = Math.min(count, total);
  for (let i = 0; i < n; i++) {
    const j = Math.min(pool.length - 1, Math.floor(rand() * pool.length));
    out.push(pool.splice(j, 1)[0]);
  }
  return out.sort((a, b) => a - b);
}

/** Whether the answers match the words at the positions (case and spaces ignored). */
export function checkAnswers(words: string[], positions: number[], answers: string[]): boolean {
  if (answers.length !== positions.length) return false;
  return positions.every((pos, i) => (words[pos - 1] ?? "").toLowerCase() === answers[i].trim().toLowerCase());
}

/** Splits a typed phrase into words (any whitespace, lower case). */
export function splitPhrase(text: string): string[] {
  return text.trim().toLowerCase().split(/\s+/).filter((w) => w.length > 0);
}
