/**
 * The script convention: key count from the file name, checked against the header; the command name versioned by
 * the content; and every script in src/ follows the convention (so a renamed or edited script fails here first).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FwError } from '../../../src/core/errors.js';
import { parseLuaScript } from '../../../src/redis/scripts.js';

const header = (keys: string[]) =>
  `--[[\n  x: does a thing.\n\n${keys.map((k) => `  ${k}  a key\n`).join('')}  ARGV[1]  a value\n\n  Returns 1.\n]]\n`;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof FwError ? `${err.code}: ${err.message}` : String(err);
  }
  return undefined;
}

describe('parseLuaScript', () => {
  it('takes the number of keys from the file name and names the command after the content', () => {
    const lua = `${header(['KEYS[1]', 'KEYS[2]'])}return redis.call('GET', KEYS[2])\n`;
    const s = parseLuaScript('outbox-settle-2.lua', lua);
    expect(s).toMatchObject({ name: 'outbox-settle', numberOfKeys: 2, file: 'outbox-settle-2.lua', lua });
    expect(s.command).toMatch(/^fw_outbox_settle_[0-9a-f]{8}$/);
    expect(parseLuaScript('noKeys-0.lua', `${header([])}return 1\n`).numberOfKeys).toBe(0);
  });

  it('gives a changed script a new command name, and the same content the same name', () => {
    const a = parseLuaScript('lease-1.lua', `${header(['KEYS[1]'])}return redis.call('GET', KEYS[1])\n`);
    const b = parseLuaScript('lease-1.lua', `${header(['KEYS[1]'])}return redis.call('TTL', KEYS[1])\n`);
    const a2 = parseLuaScript('lease-1.lua', `${header(['KEYS[1]'])}return redis.call('GET', KEYS[1])\n`);
    expect(a.command).not.toBe(b.command);
    expect(a2.command).toBe(a.command);
  });

  it('refuses a header whose KEYS do not match the file name', () => {
    expect(code(() => parseLuaScript('applyBatch-2.lua', `${header(['KEYS[1]'])}return 1\n`))).toMatch(
      /^REDIS_SCRIPT_INVALID: .*applyBatch-2\.lua: the name says 2 key\(s\), but the header lists KEYS\[1\]/,
    );
    expect(code(() => parseLuaScript('a-1.lua', `${header(['KEYS[1]', 'KEYS[2]'])}return 1\n`))).toMatch(
      /name says 1 key/,
    );
    // Listed out of order or with a gap.
    expect(code(() => parseLuaScript('a-2.lua', `${header(['KEYS[1]', 'KEYS[3]'])}return 1\n`))).toMatch(
      /KEYS\[1\], KEYS\[3\]/,
    );
  });

  it('refuses a body using more keys than the name says, a missing header and a name without a key count', () => {
    expect(code(() => parseLuaScript('a-1.lua', `${header(['KEYS[1]'])}return redis.call('GET', KEYS[2])\n`))).toMatch(
      /uses KEYS\[2\] but takes 1 key/,
    );
    expect(code(() => parseLuaScript('a-1.lua', `return redis.call('GET', KEYS[1])\n`))).toMatch(
      /must start with a --\[\[ \.\.\. \]\] header/,
    );
    expect(code(() => parseLuaScript('lease.lua', `${header(['KEYS[1]'])}return 1\n`))).toMatch(
      /<name>-<numkeys>\.lua/,
    );
  });

  it('accepts every script in src/ (names, headers and key use agree)', () => {
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.lua')) {
          found.push(name);
          expect(() => parseLuaScript(name, readFileSync(p, 'utf8')), p).not.toThrow();
        }
      }
    };
    walk('src');
    expect(found).toEqual(
      expect.arrayContaining([
        'applyBatch-1.lua',
        'readState-1.lua',
        'beginSeal-2.lua',
        'alert-commit-1.lua',
        'outbox-settle-3.lua',
        'outbox-promote-2.lua',
        'deploy-add-2.lua',
      ]),
    );
  });
});
