/** The rule-file layer: schema, loading with located problems, validation command, hot-reloading store. */
export type { AlertRuleDef, BaselineDef, MetricDef, MetricKind, Severity } from './rule.js';
export type { RuleSet, LoadResult } from './rule-set.js';
export type { GateDef, GateMetricDef, GateSrmAction, GateTimeoutAnswer } from './gate.js';
export { formatProblem, compareProblems, type Problem, type ProblemCode } from './problem.js';
export {
  checkRuleSources,
  loadRuleDir,
  loadRulePaths,
  readRuleSources,
  isRuleFileName,
  type RuleSource,
  type LoadOptions,
} from './loader.js';
export { validatePaths, runValidateCommand, DEFAULT_RULE_PATHS } from './validate-command.js';
export {
  RuleStore,
  fsDirWatcher,
  type RuleStoreOptions,
  type RuleStoreLogger,
  type RuleStoreStatus,
  type ReloadOutcome,
  type ReloadTrigger,
  type ReloadListener,
  type DirWatcher,
} from './rule-store.js';
export { ruleFileSchema, RULE_DEFAULTS } from './schema.js';
export { ruleFileJsonSchema, renderJsonSchema } from './json-schema.js';
export { EVALUATION_INTERVAL_MS } from './semantics.js';
export { parseDuration, formatDuration, parsePercent, parseRatePerWeek, parsePercentile } from './units.js';
