// ESLint: typescript-eslint's recommended rules, import cycles forbidden, and the data-flow layering below.
// Prettier owns formatting (eslint-config-prettier turns off the rules that would fight it).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import prettier from 'eslint-config-prettier';

/**
 * The layers of src/, lowest first. A folder may import its own layer and the layers before it, never a later
 * one: the data flows ingest → windows → rules/detect → engine → notify (canary gates read
 * what all of those hold, so they sit above the engine; canary-user probes drive the ingest path from outside, so
 * nothing but the composition imports them), and what several stages share (errors,
 * the clock, the alert model, the Redis layer) sits below all of them. `main.ts` and the composition folders are
 * the top: they may import anything, nothing imports them.
 */
export const LAYERS = [
  ['core', 'obs'],
  ['config'],
  ['model', 'events', 'redis'],
  ['funnels'],
  ['windows'],
  ['ingest'],
  ['rules'],
  ['detect'],
  ['deploys'],
  ['notify'],
  ['engine'],
  ['gates'],
  ['probes'],
  ['http'],
  ['dashboard'],
  ['app', 'demo', 'replay', 'devenv'],
];

/** One import-x/no-restricted-paths zone per layer: its folders may not import any folder of a later layer. */
function layerZones() {
  const zones = [];
  LAYERS.forEach((layer, i) => {
    const later = LAYERS.slice(i + 1).flat();
    if (later.length === 0) return;
    for (const folder of layer) {
      zones.push({
        target: `./src/${folder}`,
        from: [...later.map((f) => `./src/${f}`), './src/main.ts'],
        message: `src/${folder} is in layer ${i} (${layer.join(', ')}); it may not import a later layer (see LAYERS in eslint.config.js)`,
      });
    }
  });
  return zones;
}

export default tseslint.config(
  {
    // test/fixtures/lint-cycle is a deliberate cycle that test/unit/lint/layering.test.ts lints on its own.
    ignores: ['dist/**', 'coverage/**', '.tmp/**', 'node_modules/**', 'test/fixtures/lint-cycle/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // import-x parses the imported modules too (for no-cycle): it must know .ts files and their parser.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-restricted-paths': ['error', { zones: layerZones() }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  prettier,
  {
    // Prettier does not wrap comments or long strings; this keeps them within the same width.
    rules: { 'max-len': ['error', { code: 120, ignoreUrls: true, ignoreRegExpLiterals: true }] },
  },
);
