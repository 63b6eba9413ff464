/**
 * docs/ is the living documentation: every page a source or test file cites exists, every section it
 * names is a heading (or a bold paragraph label) of that page, and nothing cites documents outside
 * the repository or spec section numbers.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { METHODS } from '../src/learners/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function files(dir: string, ext: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return files(rel, ext);
    return e.name.endsWith(ext) ? [rel] : [];
  });
}

/** Headings (##, ###) and bold paragraph labels of a markdown page. */
function sections(page: string): Set<string> {
  const text = fs.readFileSync(path.join(root, page), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,4} (.+)$/gm)) out.add(m[1].trim());
  for (const m of text.matchAll(/\*\*([^*]+?)\.?\*\*/g)) out.add(m[1].trim());
  return out;
}

describe('docs/', () => {
  const sources = [...files('src', '.ts'), ...files('test', '.ts')];

  it('every docs/... page cited in src/ and test/ exists, and every section it names is in it', () => {
    const missing: string[] = [];
    for (const f of sources) {
      const text = fs.readFileSync(path.join(root, f), 'utf8');
      // A cited section may wrap onto the next comment line, and may leave out a heading's parenthesis.
      for (const m of text.replace(/\s*\n\s*\*\s*/g, ' ').matchAll(/docs\/([a-z0-9/-]+\.md)((?: "[^"]+"(?:,| and| to)?)*)/g)) {
        const page = `docs/${m[1]}`;
        if (!fs.existsSync(path.join(root, page))) {
          missing.push(`${f}: ${page}`);
          continue;
        }
        const have = sections(page);
        for (const s of m[2].matchAll(/"([^"]+)"/g)) {
          if (![...have].some((h) => h === s[1] || h.startsWith(`${s[1]} (`))) missing.push(`${f}: ${page} "${s[1]}"`);
        }
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('no source or test cites the design notes outside the repository or spec section numbers', () => {
    const bad: string[] = [];
    for (const f of sources) {
      const lines = fs.readFileSync(path.join(root, f), 'utf8').split('\n');
      lines.forEach((line, i) => {
        if (f === path.join('test', 'docs.test.ts')) return;
        const rest = line.replace(/docs\/[a-z0-9/-]+\.md/g, '');
        if (/shared\/design|§|\b[a-z-]+\.md\b|ARCHITECTURE\b/.test(rest) && !/\.not\.to\.match/.test(line)) bad.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(bad).to.deep.equal([]);
  });

  it('every method has its page, and every page links resolve', () => {
    for (const m of METHODS) expect(fs.existsSync(path.join(root, m.docs)), m.docs).to.equal(true);
    const broken: string[] = [];
    for (const page of [...files('docs', '.md'), 'README.md']) {
      const text = fs.readFileSync(path.join(root, page), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#]+\.md)(#[^)]*)?\)/g)) {
        if (/^https?:/.test(m[1])) continue;
        if (!fs.existsSync(path.resolve(path.dirname(path.join(root, page)), m[1]))) broken.push(`${page}: ${m[1]}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });
});
