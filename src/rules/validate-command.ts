/**
 * `funnelwatch validate [files|dirs]`: the check people run before committing a rule change and CI runs on every
 * pull request. The files given are checked together as one rule set (duplicate names across files, rules that add
 * to a funnel defined in another file), exactly as the daemon would load them.
 */
import { stat } from 'node:fs/promises';
import { loadRulePaths, type LoadOptions } from './loader.js';
import { formatProblem, type Problem } from './problem.js';

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
  const result = await loadRulePaths(given, { requireReceivers: dirs.some(Boolean), ...options });
  const files = `${result.filesChecked} file${result.filesChecked === 1 ? '' : 's'}`;
  if (!result.ok) {
    for (const p of result.problems) out(formatProblem(p));
    out(`${result.problems.length} problem${result.problems.length === 1 ? '' : 's'} in ${files}`);
    return 1;
  }
  const { funnels, rules, receivers } = result.ruleSet;
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  out(
    `ok: ${files}, ${plural(funnels.length, 'funnel')}, ${plural(rules.length, 'rule')}` +
      `${receivers.length ? `, ${plural(receivers.length, 'receiver')}` : ''}`,
  );
  return 0;
}
