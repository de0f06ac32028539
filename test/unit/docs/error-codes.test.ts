/**
 * The error catalog stays whole and documented: every code the source raises or answers is in ERROR_CATALOG (the
 * types already insist on it; this also catches casts and the HTTP answers built by hand), every catalog entry is
 * still used, and docs/error-codes.md is what `npm run docs` writes from the catalog.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOG, errorCatalogMarkdown, isErrorCode } from '../../../src/core/errors.js';

function sources(dir: string): { path: string; text: string }[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => join(d.parentPath, d.name))
    .map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

const src = sources('src');

/** Codes at the places that raise or answer errors: FwError constructions (subclasses too) and `{ error: '…' }`. */
function raisedCodes(): { code: string; where: string }[] {
  const out: { code: string; where: string }[] = [];
  const patterns = [/new FwError\(\s*'([^']+)'/g, /\bsuper\(\s*'([^']+)'/g, /\berror: '([A-Z][A-Z0-9_]*)'/g];
  for (const { path, text } of src) {
    if (path === join('src', 'core', 'errors.ts')) continue;
    for (const re of patterns) {
      for (const m of text.matchAll(re)) {
        out.push({ code: m[1]!, where: `${path}:${text.slice(0, m.index).split('\n').length}` });
      }
    }
  }
  return out;
}

describe('error codes', () => {
  it('finds the raise sites it checks (the patterns still match the code)', () => {
    expect(raisedCodes().length).toBeGreaterThan(60);
  });

  it('has every code the source raises or answers in the catalog', () => {
    const unknown = raisedCodes().filter((r) => !isErrorCode(r.code));
    expect(unknown).toEqual([]);
  });

  it('has no catalog entry that the source no longer uses', () => {
    const all = src
      .filter((f) => f.path !== join('src', 'core', 'errors.ts'))
      .map((f) => f.text)
      .join('\n');
    // Codes built from a template (`${area}_REDIS_UNAVAILABLE`) count by their fixed suffix.
    const suffixes = new Set([...all.matchAll(/\}_([A-Z][A-Z_]*)`/g)].map((m) => m[1]!));
    const own = readFileSync(join('src', 'core', 'errors.ts'), 'utf8');
    const unused = Object.keys(ERROR_CATALOG).filter((code) => {
      if (all.includes(`'${code}'`)) return false;
      if ([...suffixes].some((s) => code.endsWith(`_${s}`))) return false;
      // The one rule's own codes live in errors.ts.
      return !new RegExp(`'${code}'`).test(own.slice(own.indexOf('export function asFwError')));
    });
    expect(unused).toEqual([]);
  });

  it('has docs/error-codes.md as the catalog generates it (run `npm run docs` after changing the catalog)', () => {
    expect(readFileSync('docs/error-codes.md', 'utf8')).toBe(errorCatalogMarkdown());
  });
});
