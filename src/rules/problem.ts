/**
 * One thing wrong with the rule files, located so an editor, CI log or `/readyz` can send a person to it.
 */

export type ProblemCode =
  | 'yaml_syntax'
  | 'unknown_field'
  | 'missing_field'
  | 'wrong_type'
  | 'invalid_value'
  | 'invalid_duration'
  | 'invalid_percent'
  | 'invalid_rate'
  | 'invalid_percentile'
  | 'invalid_metric'
  | 'invalid_baseline'
  | 'invalid_change'
  | 'invalid_timing'
  | 'invalid_retention'
  | 'unknown_funnel'
  | 'unknown_step'
  | 'step_order'
  | 'unknown_dimension'
  | 'unknown_receiver'
  | 'invalid_receiver'
  | 'duplicate_receiver'
  | 'missing_funnel'
  | 'duplicate_funnel'
  | 'duplicate_rule'
  | 'duplicate_gate'
  | 'invalid_gate'
  | 'duplicate_name'
  | 'io_error'
  | 'file_too_large'
  | 'no_rule_files';

export interface Problem {
  /** The path as the user gave it (relative paths stay relative), so editors and CI logs can link it. */
  file: string;
  /** 1-based; 0 when the problem is about the file or directory as a whole (unreadable, no rule files). */
  line: number;
  /** 1-based; 0 together with line 0. */
  col: number;
  message: string;
  code: ProblemCode;
}

/** `path:line:col: message`, the form compilers use and editors and CI annotate; `path: message` without a line. */
export function formatProblem(p: Problem): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.col}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** File, then position, so output reads top to bottom like the files. */
export function compareProblems(a: Problem, b: Problem): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  return a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);
}
