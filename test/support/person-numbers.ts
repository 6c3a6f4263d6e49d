/** Synthetic, valid fødselsnumre for tests and benchmarks (born 1950–1989, classic check digits). */
const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

export function validFnrs(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const day = String((i % 28) + 1).padStart(2, '0');
    const month = String((Math.floor(i / 28) % 12) + 1).padStart(2, '0');
    const yy = String(50 + (i % 40)).padStart(2, '0');
    const ind = String(100 + (i % 400)).padStart(3, '0');
    const d = [...`${day}${month}${yy}${ind}`].map(Number);
    const r1 = 11 - (W1.reduce((a, w, k) => a + w * d[k], 0) % 11);
    const k1 = r1 === 11 ? 0 : r1;
    if (k1 === 10) continue;
    const r2 = 11 - (W2.reduce((a, w, k) => a + w * [...d, k1][k], 0) % 11);
    const k2 = r2 === 11 ? 0 : r2;
    if (k2 === 10) continue;
    out.push(`${day}${month}${yy}${ind}${k1}${k2}`);
  }
  return out;
}
