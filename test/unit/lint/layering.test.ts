/**
 * The lint rules that encode the data flow must fail on a violation, not only pass on today's tree: an upward
 * import (a lower layer importing a later one), a type-only upward import, and an import cycle.
 */
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { LAYERS } from '../../../eslint.config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

async function ruleIds(code: string, filePath: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
}

describe('layering lint rules', () => {
  it('lists every folder of src/ in exactly one layer', async () => {
    const { readdirSync } = await import('node:fs');
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const listed = LAYERS.flat();
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(folders);
  });

  it('reports a lower layer importing a later one', async () => {
    const code = "import { Evaluator } from '../engine/evaluator.js';\nexport const e = Evaluator;\n";
    expect(await ruleIds(code, 'src/windows/upward.ts')).toContain('import-x/no-restricted-paths');
  });

  it('reports a type-only upward import too', async () => {
    const code = "import type { Evaluator } from '../engine/evaluator.js';\nexport type E = Evaluator;\n";
    expect(await ruleIds(code, 'src/notify/upward.ts')).toContain('import-x/no-restricted-paths');
  });

  it('accepts an import of a lower layer', async () => {
    const code = "import type { FwEvent } from '../events/event.js';\nexport type E = FwEvent;\n";
    expect(await ruleIds(code, 'src/windows/downward.ts')).not.toContain('import-x/no-restricted-paths');
  });

  it('reports an import cycle', async () => {
    const eslint = new ESLint({ cwd: root, ignore: false });
    const [result] = await eslint.lintFiles([join(root, 'test/fixtures/lint-cycle/a.ts')]);
    expect(result?.messages.map((m) => m.ruleId)).toContain('import-x/no-cycle');
  });
});
