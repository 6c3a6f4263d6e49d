/**
 * Regular expressions that come with data (a dictionary's `normalize` rules, written by whoever uploads it) run on
 * RE2, whose matching time is linear in the input: `^(a+)+$` against `aaaa…!` answers at once instead of
 * backtracking for seconds. RE2 has no backreferences (`\1`) and no lookaround (`(?=`, `(?!`, `(?<=`, `(?<!`);
 * a pattern using them is refused when the dictionary is uploaded.
 */
import RE2 from 're2';

/** The pattern compiled on RE2; throws (with RE2's reason) when RE2 cannot compile it. */
export function compilePattern(pattern: string): RegExp {
  return new RE2(pattern);
}

/** Why RE2 cannot compile the pattern, or undefined when it can. */
export function patternProblem(pattern: string): string | undefined {
  try {
    new RE2(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
