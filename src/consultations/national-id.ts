/** Norwegian national identity numbers (fødselsnummer, D-number, H-number): 11 digits with two mod-11 check digits. */
const W1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const W2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

function check(digits: number[], weights: number[]): number {
  const sum = weights.reduce((s, w, i) => s + w * digits[i], 0);
  const r = 11 - (sum % 11);
  return r === 11 ? 0 : r;
}

export function isValidNorwegianNationalId(value: string): boolean {
  if (!/^\d{11}$/.test(value)) return false;
  const d = [...value].map(Number);
  const k1 = check(d, W1);
  if (k1 === 10 || k1 !== d[9]) return false;
  const k2 = check(d, W2);
  return k2 !== 10 && k2 === d[10];
}
