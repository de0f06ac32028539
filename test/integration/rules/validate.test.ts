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

/** The fixture's five mistakes as validate prints them, for the fixture at `path` with its rules under `key`. */
function fiveMistakes(path: string, key: string): string[] {
  const at = (needle: string, n = 1) => pos(needle, n).replace(FIXTURE, path);
  return [
    `${at('resolve_afer')}: unknown field "resolve_afer" in ${key}[0] (did you mean "resolve_after"?)`,
    `${at('lots')}: ${key}[1].min_volume: expected a number, got the text "lots"`,
    `${at('complete }')}: unknown step "complete" in funnel "checkout" (did you mean "completed"?); ` +
      `its steps are started, payment, completed`,
    `${at('5mins')}: ${key}[3].for: "5mins" is not a duration: ` +
      `write a whole number followed by s, m, h, d or w, e.g. 30s, 5m, 2h, 3d, 1w (or 1h30m) (did you mean "5m"?)`,
    `${at('completion-drop', 2)}: rule name "completion-drop" ` +
      `is already used at ${at('completion-drop', 1)}; rule names must be unique across rule files`,
  ];
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
    expect(lines).toEqual([...fiveMistakes(FIXTURE, 'rules'), '5 problems in 1 file']);
    // The positions themselves, spelled out once so a reader can check them against the fixture.
    expect(lines.slice(0, 5).map((l) => l.split(': ')[0]!.replace(`${FIXTURE}:`, ''))).toEqual([
      '18:5',
      '23:17',
      '27:54',
      '34:10',
      '37:11',
    ]);
  });

  it('reads `alerts:` written for `rules:` as rules: a did-you-mean and the same five mistakes, at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-alias-'));
    try {
      const path = join(dir, 'checkout.yaml');
      const text = readFileSync(FIXTURE, 'utf8').replace(/^rules:$/m, 'alerts:');
      await writeFile(path, text);
      const { code, lines } = await run([path]);
      expect(code).toBe(1);
      const line = text.slice(0, text.indexOf('alerts:')).split('\n').length;
      expect(lines).toEqual([
        `${path}:${line}:1: unknown field "alerts" (did you mean "rules"? its content has the shape of rules, ` +
          'so it is checked as rules below)',
        ...fiveMistakes(path, 'alerts'),
        '6 problems in 1 file',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
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

  it('checks a single file with the funnels and receivers of its directory, reporting only that file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-dir-'));
    try {
      const rules = readFileSync('rules/checkout.yaml', 'utf8');
      await writeFile(join(dir, 'checkout.yaml'), rules);
      await writeFile(join(dir, 'receivers.yaml'), readFileSync('rules/receivers.yaml', 'utf8'));
      // A sibling with a mistake of its own: not this file's problem.
      await writeFile(join(dir, 'broken.yaml'), 'funnel: checkout\nrules:\n  - name: x\n    drop: lots\n');
      const extra = join(dir, 'android.yaml');
      await writeFile(
        extra,
        [
          'funnel: checkout',
          'rules:',
          '  - name: android-completion-drop',
          '    metric: { cohort_conversion: { from: started, to: completed } }',
          '    where: { platform: android }',
          '    drop: 5%',
          '    severity: warning',
          '    notify: [slack-payments]',
          '',
        ].join('\n'),
      );
      const ok = await run([extra]);
      expect(ok.lines.slice(-1)[0]).toMatch(/^ok: 1 file \(with 2 other files of its directory\), 1 funnel, 5 rules/);
      // Before, the funnel and the receiver were unknown unless given too.
      await writeFile(
        extra,
        (await import('node:fs')).readFileSync(extra, 'utf8').replace('slack-payments', 'slack-paymnts'),
      );
      const bad = await run([extra]);
      expect(bad.code).toBe(1);
      expect(bad.lines[0]).toMatch(new RegExp(`^${extra}:8:14: .*"slack-paymnts".*did you mean "slack-payments"`));
      expect(bad.lines.some((l) => l.includes('broken.yaml'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a critical rule that notifies no one, and warns about any other rule that does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-notify-'));
    try {
      const file = join(dir, 'checkout.yaml');
      const text = (severity: string) =>
        [
          'funnel:',
          '  name: checkout',
          '  steps:',
          '    - { name: started,   event: checkout_started }',
          '    - { name: completed, event: order_completed }',
          '  conversion_window: 30m',
          'rules:',
          '  - name: silent-drop',
          '    metric: { cohort_conversion: { from: started, to: completed } }',
          '    drop: 5%',
          `    severity: ${severity}`,
          '',
        ].join('\n');
      await writeFile(file, text('critical'));
      const critical = await run([file]);
      expect(critical.code).toBe(1);
      expect(critical.lines).toEqual([
        `${file}:8:5: rule "silent-drop" is critical (it pages someone) but notify names no receiver: add one ` +
          '(a PagerDuty service, e.g. notify: [pagerduty-checkout]) or lower its severity to warning',
        '1 problem in 1 file',
      ]);
      await writeFile(file, text('warning'));
      const warning = await run([file]);
      expect(warning.code).toBe(0);
      expect(warning.lines).toEqual([
        `${file}:8:5: warning: rule "silent-drop" notifies no one (notify is empty): its alerts are only recorded; ` +
          'name a receiver, or console for the log',
        'ok: 1 file, 1 funnel, 1 rule',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('points a YAML indentation mistake at the line that is wrong', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fw-validate-indent-'));
    try {
      const file = join(dir, 'checkout.yaml');
      const lines = [
        'funnel:',
        '  name: checkout',
        '  steps:',
        '    - { name: started,   event: checkout_started }',
        '    - { name: completed, event: order_completed }',
        '  conversion_window: 30m',
        'rules:',
        '  - name: a',
        '    metric: { cohort_conversion: { from: started, to: completed } }',
        '    drop: 5%',
        '      severity: critical', // line 11: two spaces too many
        '    notify: [console]',
        '',
      ];
      await writeFile(file, lines.join('\n'));
      expect((await run([file])).lines).toEqual([
        `${file}:11:7: YAML: this line is indented deeper than "drop:" on line 10, which already has a value; ` +
          'indent it like the fields around it (4 spaces)',
        '1 problem in 1 file',
      ]);
      lines[10] = '  severity: critical'; // too few
      await writeFile(file, lines.join('\n'));
      expect((await run([file])).lines[0]).toMatch(new RegExp(`^${file}:11:1: YAML: .*not indented like the fields`));
      lines[10] = '    severity: critical';
      lines[9] = '   drop: 5%'; // one too few, on the line before
      await writeFile(file, lines.join('\n'));
      expect((await run([file])).lines[0]).toMatch(new RegExp(`^${file}:10:1: YAML: `));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
