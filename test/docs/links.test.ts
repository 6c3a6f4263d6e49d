/**
 * The README and the chapters in docs/ point only at things that exist: every relative link resolves to a file or
 * folder, every `#fragment` names a heading of its target (GitHub's slug rules), and every backticked path under
 * src/, test/, mappings/, docs/ or bench/ names a file or folder of the project (a `*` pattern: at least one match).
 * The README stays a newcomer's page: at most 260 lines.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Paths the documentation names that a run writes rather than the repository holds (git-ignored). */
const WRITTEN_BY_RUNS = ['bench/results/'];

const PATH_ROOTS = ['src', 'test', 'mappings', 'docs', 'bench'];
const PATH_MENTION = new RegExp(`^(?:${PATH_ROOTS.join('|')})/[A-Za-z0-9_.*/-]*$`);

const documents = (): string[] => [
  'README.md',
  ...fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];

/** The text with fenced code blocks blanked (their links and paths are code, not mentions); line numbers are kept. */
const withoutFences = (text: string): string =>
  text.replace(/^[ \t]*(`{3,}|~{3,})[^\n]*\n[\s\S]*?^[ \t]*\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ''));

/** Line number (1-based) of an offset. */
const lineAt = (text: string, offset: number): number => text.slice(0, offset).split('\n').length;

/** GitHub's anchor of a heading: lower case, punctuation dropped (but `-`, `_`), spaces become `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{M}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown file's headings, with GitHub's `-1`, `-2` … for repeated ones. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutFences(fs.readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Code spans of a text (a span may run over a line break, never over a blank line). */
const CODE_SPAN = /(`+)((?:(?!\n[ \t]*\n)[^`])+?)\1(?!`)/g;

/** Relative link targets `[text](target)` of a document (images included), with their line numbers. */
function links(text: string): { target: string; line: number }[] {
  const prose = withoutFences(text).replace(CODE_SPAN, (span) => span.replace(/[^\n]/g, ' '));
  const out: { target: string; line: number }[] = [];
  for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ target: m[1], line: lineAt(prose, m.index!) });
  }
  return out.filter(({ target }) => !/^(https?:|mailto:)/i.test(target));
}

/**
 * Backticked mentions of project paths (`src/…`, `test/…`, …), also inside a command such as `node src/main.ts`.
 */
function pathMentions(text: string): { mention: string; line: number }[] {
  const out: { mention: string; line: number }[] = [];
  const prose = withoutFences(text);
  for (const span of prose.matchAll(CODE_SPAN)) {
    for (const word of span[2].split(/\s+/)) {
      const w = word.replace(/^[("'[]+/, '').replace(/[),;:"'\]]+$/, '');
      if (PATH_MENTION.test(w)) out.push({ mention: w, line: lineAt(prose, span.index!) });
    }
  }
  return out;
}

/** Every file and folder under the path roots, relative to the project, folders with a trailing `/`. */
function projectPaths(): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(p);
    }
  };
  for (const r of PATH_ROOTS) if (fs.existsSync(path.join(ROOT, r))) walk(r);
  return out;
}

/** Whether a mention names something that exists: a path, or a `*` / `**` pattern with at least one match. */
function mentionExists(mention: string, all: string[]): boolean {
  if (WRITTEN_BY_RUNS.some((p) => mention.startsWith(p))) return true;
  if (!mention.includes('*')) return fs.existsSync(path.join(ROOT, mention));
  const pattern = mention.replace(/\/$/, '');
  const re = new RegExp(
    `^${pattern
      .split(/(\*\*\/|\*)/)
      .map((part) => (part === '**/' ? '(?:[^/]+/)*' : part === '*' ? '[^/]*' : part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
      .join('')}/?$`,
  );
  return all.some((p) => re.test(p));
}

describe('docs: README.md and docs/*.md point only at things that exist', () => {
  const docs = documents();
  const all = projectPaths();

  it('README.md has at most 260 lines', () => {
    const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines).to.be.at.most(260);
  });

  it('GitHub heading slugs', () => {
    expect(slug('Storage design (`src/fhir-store/repository.ts`, `postings.ts`)')).to.equal('storage-design-srcfhir-storerepositoryts-postingsts');
    expect(slug('Health, readiness, shutdown')).to.equal('health-readiness-shutdown');
    expect(slug('Where the sources disagree, and what we chose')).to.equal('where-the-sources-disagree-and-what-we-chose');
  });

  for (const doc of docs) {
    describe(doc, () => {
      const file = path.join(ROOT, doc);
      const text = fs.readFileSync(file, 'utf8');

      it('every relative link resolves to a file or folder, and its #fragment to a heading', () => {
        const broken: string[] = [];
        for (const { target, line } of links(text)) {
          const [rawPath, fragment] = target.split('#', 2) as [string, string | undefined];
          const targetFile = rawPath === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(rawPath));
          if (!fs.existsSync(targetFile)) {
            broken.push(`${doc}:${line}: ${target} (no such file or folder)`);
            continue;
          }
          if (fragment !== undefined && targetFile.endsWith('.md') && !anchors(targetFile).has(fragment.toLowerCase())) {
            broken.push(`${doc}:${line}: ${target} (no heading with the anchor #${fragment})`);
          }
        }
        expect(broken, broken.join('\n')).to.deep.equal([]);
      });

      it('every backticked path under src/, test/, mappings/, docs/ or bench/ exists', () => {
        const missing = pathMentions(text)
          .filter(({ mention }) => !mentionExists(mention, all))
          .map(({ mention, line }) => `${doc}:${line}: ${mention}`);
        expect(missing, missing.join('\n')).to.deep.equal([]);
      });
    });
  }
});
