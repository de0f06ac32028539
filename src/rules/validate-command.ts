/**
 * `funnelwatch validate [files|dirs]`: the check people run before committing a rule change and CI runs on every
 * pull request. The files given are checked together as one rule set (duplicate names across files, rules that add
 * to a funnel defined in another file), exactly as the daemon would load them.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { checkRuleSources, loadRulePaths, readRuleSources, type LoadOptions, type RuleSource } from './loader.js';
import { compareProblems, formatProblem, type Problem } from './problem.js';

/** Where rules live when no path is given. */
export const DEFAULT_RULE_PATHS = ['rules'] as const;

export async function validatePaths(
  paths: string[],
  options: LoadOptions = {},
): Promise<{ problems: Problem[]; filesChecked: number }> {
  const result = await loadRulePaths(paths.length > 0 ? paths : [...DEFAULT_RULE_PATHS], options);
  return { problems: result.ok ? [] : result.problems, filesChecked: result.filesChecked };
}

/**
 * Prints one `path:line:col: message` line per problem and a summary; returns the exit code (1 on problems, 0 when
 * clean) so the CLI only has to `process.exitCode = await runValidateCommand(...)`.
 */
export async function runValidateCommand(
  paths: string[],
  out: (line: string) => void,
  options: LoadOptions = {},
): Promise<number> {
  const given = paths.length > 0 ? paths : [...DEFAULT_RULE_PATHS];
  // A whole directory is what the daemon loads, so its notify names must resolve exactly as the daemon requires.
  const dirs = await Promise.all(
    given.map((p) =>
      stat(p).then(
        (st) => st.isDirectory(),
        () => false,
      ),
    ),
  );
  // A single file is checked with the other rule files of its directory (the funnels and receivers it names live
  // there, as the daemon would load them); only the given files' problems are reported.
  const read = await readRuleSources(given);
  const givenFiles = new Set(read.sources.map((src) => resolve(src.path)));
  const context: RuleSource[] = [];
  for (const [i, path] of given.entries()) {
    if (dirs[i]) continue;
    const siblings = await readRuleSources([dirname(path)]);
    for (const src of siblings.sources) {
      if (givenFiles.has(resolve(src.path)) || context.some((c) => resolve(c.path) === resolve(src.path))) continue;
      context.push(src);
    }
  }
  const requireReceivers = dirs.some(Boolean) || context.length > 0;
  let checked = checkRuleSources([...read.sources, ...context], { requireReceivers, ...options });
  if (!checked.ok) {
    // A sibling with mistakes of its own must not hide whether this file is right: check again without it.
    const broken = new Set(checked.problems.map((p) => p.file));
    const sound = context.filter((c) => !broken.has(c.path));
    if (sound.length < context.length) {
      context.splice(0, context.length, ...sound);
      checked = checkRuleSources([...read.sources, ...context], { requireReceivers, ...options });
    }
  }
  const problems = [...read.problems, ...(checked.ok ? [] : checked.problems)]
    .filter((p) => !context.some((c) => c.path === p.file))
    .sort(compareProblems);
  // A rule that pages (critical) but names no receiver: its pages would go nowhere. The daemon loads it (tests and
  // trials run such rules); validate, which guards what goes to production, refuses it.
  if (checked.ok) {
    for (const r of checked.ruleSet.rules) {
      if (r.severity !== 'critical' || r.notify.length > 0 || !givenFiles.has(resolve(r.source.file))) continue;
      problems.push({
        file: r.source.file,
        line: r.source.line,
        col: r.source.col,
        code: 'unknown_receiver',
        message:
          `rule "${r.name}" is critical (it pages someone) but notify names no receiver: add one ` +
          '(a PagerDuty service, e.g. notify: [pagerduty-checkout]) or lower its severity to warning',
      });
    }
    problems.sort(compareProblems);
  }
  const n = read.sources.length;
  const files = `${n} file${n === 1 ? '' : 's'}`;
  if (problems.length > 0 || !checked.ok) {
    for (const p of problems) out(formatProblem(p));
    if (problems.length === 0)
      out(`the other rule files of the directory have problems: validate ${dirname(given[0]!)}`);
    out(`${problems.length} problem${problems.length === 1 ? '' : 's'} in ${files}`);
    return 1;
  }
  const { funnels, rules, receivers } = checked.ruleSet;
  // Warnings: what loads but bites later. A rule that notifies no one only records its alerts.
  const mine = rules.filter((r) => givenFiles.has(resolve(r.source.file)));
  for (const r of mine.filter((x) => x.notify.length === 0)) {
    out(
      `${r.source.file}:${r.source.line}:${r.source.col}: warning: rule "${r.name}" notifies no one ` +
        '(notify is empty): its alerts are only recorded; name a receiver, or console for the log',
    );
  }
  const plural = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
  out(
    `ok: ${files}${context.length ? ` (with ${plural(context.length, 'other file')} of its directory)` : ''}, ` +
      `${plural(funnels.length, 'funnel')}, ${plural(rules.length, 'rule')}` +
      `${receivers.length ? `, ${plural(receivers.length, 'receiver')}` : ''}`,
  );
  return 0;
}
