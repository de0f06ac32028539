import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { runValidateCommand, validatePaths } from '../../../src/rules/validate-command.js';

const FIXTURE = 'test/fixtures/rules/five-mistakes/checkout.yaml';

/** `path:line:col` of the `n`th occurrence of `needle` in the fixture. */
function pos(needle: string, n = 1): string {
  const text = readFileSync(FIXTURE, 'utf8');
  let idx = -1;
  for (let i = 0; i < n; i++) idx = text.indexOf(needle, idx + 1);
  if (idx < 0) throw new Error(`${needle} not in fixture`);
  const lines = text.slice(0, idx).split('\n');
  return `${FIXTURE}:${lines.length}:${lines[lines.length - 1]!.length + 1}`;
}

async function run(paths: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runValidateCommand(paths, (l) => lines.push(l));
  return { code, lines };
}

describe('funnelwatch validate', () => {
  it('prints one path:line:col line for each of five different mistakes and exits 1', async () => {
    const { code, lines } = await run([FIXTURE]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `${pos('resolve_afer')}: unknown field "resolve_afer" in rules[0] (did you mean "resolve_after"?)`,
      `${pos('lots')}: rules[1].min_volume: expected a number, got the text "lots"`,
      `${pos('complete }')}: unknown step "complete" in funnel "checkout" (did you mean "completed"?); ` +
        `its steps are started, payment, completed`,
      `${pos('5mins')}: rules[3].for: "5mins" is not a duration: ` +
        `write a whole number followed by s, m, h, d or w, e.g. 30s, 5m, 2h, 3d, 1w (or 1h30m) (did you mean "5m"?)`,
      `${pos('completion-drop', 2)}: rule name "completion-drop" ` +
        `is already used at ${pos('completion-drop', 1)}; rule names must be unique across rule files`,
      '5 problems in 1 file',
    ]);
    // The positions themselves, spelled out once so a reader can check them against the fixture.
    expect(lines.slice(0, 5).map((l) => l.split(': ')[0]!.replace(`${FIXTURE}:`, ''))).toEqual([
      '18:5',
      '23:17',
      '27:54',
      '34:10',
      '37:11',
    ]);
  });

  it('finds rules/ clean and exits 0', async () => {
    const { code, lines } = await run(['rules']);
    expect(lines).toEqual(['ok: 3 files, 2 funnels, 7 rules, 5 receivers']);
    expect(code).toBe(0);
  });

  it('checks the files given together: a funnel in one file, rules on it in another', async () => {
    expect(await validatePaths(['test/fixtures/rules/split'])).toEqual({ problems: [], filesChecked: 2 });
    const alone = await validatePaths(['test/fixtures/rules/split/checkout-mobile-team.yaml']);
    expect(alone.problems.map((p) => [p.code, p.line, p.col])).toEqual([['unknown_funnel', 3, 9]]);
  });

  it('reports paths that do not exist and directories without rule files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-'));
    try {
      await mkdir(join(dir, 'empty'));
      await writeFile(join(dir, 'empty', 'notes.txt'), 'not a rule');
      const { code, lines } = await run([join(dir, 'missing.yaml'), join(dir, 'empty')]);
      expect(code).toBe(1);
      expect(lines).toEqual([
        `${join(dir, 'empty')}: no rule files (*.yaml, *.yml) in this directory`,
        `${join(dir, 'missing.yaml')}: no such file or directory`,
        '2 problems in 0 files',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads .yml files and skips hidden files and editor leftovers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-'));
    try {
      const good = readFileSync('test/fixtures/rules/split/checkout.yaml', 'utf8');
      await writeFile(join(dir, 'checkout.yml'), good);
      await writeFile(join(dir, '.#checkout.yaml'), 'broken: [');
      await writeFile(join(dir, 'checkout.yaml~'), 'broken: [');
      expect(await validatePaths([dir])).toEqual({ problems: [], filesChecked: 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
