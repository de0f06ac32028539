/**
 * Everything the rule files define, validated as a whole (names unique, references resolved). A RuleSet is frozen:
 * the store swaps whole sets, it never edits one in place, so a reader holding a set sees a consistent snapshot.
 */
import type { FunnelDef } from '../funnels/funnel.js';
import type { AlertRuleDef } from './rule.js';
import type { GateDef } from './gate.js';
import type { Problem } from './problem.js';
import type { ReceiverDef } from './receiver-def.js';

export interface RuleSet {
  funnels: readonly FunnelDef[];
  rules: readonly AlertRuleDef[];
  /** Canary gates (`gates:` beside `rules:`). */
  gates: readonly GateDef[];
  /** Receivers the files define (the built-in `console` is not listed). */
  receivers: readonly ReceiverDef[];
  /** Content hash of the files (names and bytes), e.g. `r-3f9a0c12b4d5e6f7`: equal files give equal versions, so a
   *  reload that changed nothing is recognisable, and logs and alerts can say which rule set they came from. */
  version: string;
  /** The files the set was read from, as given (sorted). */
  files: readonly string[];
}

export type LoadResult = { ok: true; ruleSet: RuleSet } | { ok: false; problems: Problem[] };
