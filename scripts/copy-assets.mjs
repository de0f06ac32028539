// Copies the non-TypeScript files the compiled code loads at run time (Lua scripts) from src/ to dist/,
// keeping their relative paths, so `new URL('./lua/x.lua', import.meta.url)` works in both trees.
import { cpSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';

const ASSET = /\.(lua)$/;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (ASSET.test(name)) {
      const out = join('dist', relative('src', p));
      mkdirSync(dirname(out), { recursive: true });
      cpSync(p, out);
    }
  }
}
walk('src');
