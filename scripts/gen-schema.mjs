#!/usr/bin/env node
// Regenerates the files derived from the rule schema (src/rules/schema.ts): rules/schema.json for editors and
// docs/rule-reference.md; probes/schema.json from the journey schema (src/probes/schema.ts). `--check` writes
// nothing and exits 1 when a committed file is out of date (for CI).
//
// Node 20 cannot import TypeScript, and a full build would also compile unrelated work in progress, so this
// compiles only src/rules/artifacts.ts and what it imports, into node_modules/.cache (inside the project, so the
// compiled code still resolves zod and yaml from node_modules).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');
const out = join(root, 'node_modules', '.cache', 'funnelwatch-rules-gen');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(
  process.execPath,
  [
    tsc,
    join(root, 'src/rules/artifacts.ts'),
    join(root, 'src/probes/artifacts.ts'),
    '--outDir',
    out,
    '--rootDir',
    join(root, 'src'),
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--target',
    'es2022',
    '--skipLibCheck',
    '--strict',
    '--sourceMap',
    'false',
    '--declaration',
    'false',
  ],
  { stdio: 'inherit', cwd: root },
);
// node_modules ends a package scope, so the compiled ES modules need their own "type": "module".
writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');

const { ruleArtifacts } = await import(pathToFileURL(join(out, 'rules', 'artifacts.js')).href);
const { probeArtifacts } = await import(pathToFileURL(join(out, 'probes', 'artifacts.js')).href);
let stale = 0;
for (const [path, text] of Object.entries({ ...ruleArtifacts(), ...probeArtifacts() })) {
  const file = join(root, path);
  let current;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) {
    console.log(`up to date: ${path}`);
  } else if (check) {
    console.error(`out of date: ${path} (run: node scripts/gen-schema.mjs)`);
    stale++;
  } else {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    console.log(`wrote ${path}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
