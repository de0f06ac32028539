/**
 * Rule files in, a RuleSet or every problem out. Problems are collected, never thrown, and as many as possible are
 * found in one pass: a broken rule does not hide the problems of the next one, and a file with schema errors still
 * gets its step references and duplicate names checked, so one `funnelwatch validate` run lists everything.
 *
 * `checkRuleSources` is pure (texts in, result out); `loadRuleDir` / `loadRulePaths` add the file system.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import type { FunnelDef } from '../funnels/funnel.js';
import { didYouMeanSuffix } from './did-you-mean.js';
import { toAlertRuleDef, toFunnelDef, toGateDef } from './normalize.js';
import { compareProblems, type Problem } from './problem.js';
import type { AlertRuleDef } from './rule.js';
import type { GateDef } from './gate.js';
import type { LoadResult, RuleSet } from './rule-set.js';
import {
  funnelSchema,
  gateSchema,
  receiverSchema,
  ruleFileSchema,
  ruleSchema,
  type FunnelParsed,
  type GateParsed,
  type ReceiverParsed,
  type RuleParsed,
} from './schema.js';
import { BUILTIN_CONSOLE, type GroupingDef, type ReceiverDef } from './receiver-def.js';
import { parseDuration } from './units.js';
import { schemaProblems, topLevelAliases } from './schema-problems.js';
import { checkFunnel, checkGate, checkRule, type RuleCheckOptions } from './semantics.js';
import { parseYamlSource, type Position, type YamlSource } from './yaml-source.js';

export interface RuleSource {
  /** As it should appear in messages (the path the user gave, joined with the file name). */
  path: string;
  text: string;
}

export interface LoadOptions extends RuleCheckOptions {
  /**
   * Check every `notify` name against the receivers the files define (plus the built-in `console`) even when no
   * file defines any. The daemon sets it: a rule that notifies a receiver nobody defined is a page that would go
   * nowhere. `funnelwatch validate` on single files leaves it off (the receivers may live in a file not given);
   * as soon as the checked files define receivers, names are checked anyway.
   */
  requireReceivers?: boolean;
}

/** What one file contributed, as far as it could be understood. */
interface FileUnit {
  src: YamlSource;
  /** The funnel defined here, if it passed schema and semantic checks. */
  funnel?: FunnelDef;
  /** A funnel named but defined elsewhere (`funnel: checkout`). */
  funnelRef?: string;
  /** The funnel is defined here but has problems: its rules cannot be checked against it. */
  funnelBroken: boolean;
  /** Rules that passed the schema, with their index in `rules:`. */
  rules: { index: number; parsed: RuleParsed }[];
  /** Every rule name written, valid rule or not, for the duplicate check. */
  ruleNames: { index: number; name: string }[];
  /** Gates that passed the schema, and every gate name written (as for rules). */
  gates: { index: number; parsed: GateParsed }[];
  gateNames: { index: number; name: string }[];
  /** Receivers that passed the schema, with their index in `receivers:`. */
  receivers: { index: number; parsed: ReceiverParsed }[];
  /** Every receiver name written, for the duplicate check and for `notify` (a broken receiver is still "known"). */
  receiverNames: { index: number; name: string }[];
  /** The file has a `receivers:` list. */
  hasReceivers: boolean;
  /** Where the file's rules and gates are: `rules`/`gates`, or the unknown key written for one (`alerts:`). */
  keys: { rules: string; gates: string };
}

export function checkRuleSources(sources: readonly RuleSource[], options: LoadOptions = {}): LoadResult {
  const problems: Problem[] = [];
  const units: FileUnit[] = [];
  const ordered = [...sources].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  for (const source of ordered) {
    const unit = readUnit(source, problems);
    if (unit) units.push(unit);
  }

  // Funnels by name; the first file (in path order) keeps the name, later ones are the duplicates.
  const funnels = new Map<string, { def: FunnelDef; unit: FileUnit }>();
  const funnelNamesSeen = new Map<string, FileUnit>();
  for (const unit of units) {
    const name = funnelNameOf(unit);
    if (name === undefined || unit.funnelRef !== undefined) continue;
    const first = funnelNamesSeen.get(name);
    if (first) {
      problems.push(
        unit.src.problemAt(
          ['funnel', 'name'],
          'duplicate_funnel',
          `funnel "${name}" is already defined at ${where(first.src, ['funnel', 'name'])}; ` +
            `funnel names must be unique across rule files`,
        ),
      );
      continue;
    }
    funnelNamesSeen.set(name, unit);
    if (unit.funnel) funnels.set(name, { def: unit.funnel, unit });
  }

  // Rule names are unique across files: alert state and PagerDuty dedup keys are keyed by them.
  const ruleNamesSeen = new Map<string, { unit: FileUnit; index: number }>();
  const duplicateRules = new Set<string>(); // `${file}#${index}`
  for (const unit of units) {
    for (const { index, name } of unit.ruleNames) {
      const first = ruleNamesSeen.get(name);
      if (first) {
        duplicateRules.add(`${unit.src.file}#${index}`);
        problems.push(
          unit.src.problemAt(
            [unit.keys.rules, index, 'name'],
            'duplicate_rule',
            `rule name "${name}" is already used at ` +
              `${where(first.unit.src, [first.unit.keys.rules, first.index, 'name'])}; ` +
              `rule names must be unique across rule files`,
          ),
        );
      } else {
        ruleNamesSeen.set(name, { unit, index });
      }
    }
  }

  const duplicateGates = uniqueAcrossFiles(units, problems);

  // Receivers: names unique across files; `console` is built in. A receiver with problems still counts as known
  // for `notify`, so one typo in receivers.yaml is reported once, not again at every rule that uses it.
  const receivers: ReceiverDef[] = [];
  const receiverNamesSeen = new Map<string, { unit: FileUnit; index: number }>();
  let anyReceivers = false;
  for (const unit of units) {
    anyReceivers ||= unit.hasReceivers;
    const valid = new Map(unit.receivers.map((r) => [r.index, r.parsed]));
    for (const { index, name } of unit.receiverNames) {
      const at = ['receivers', index, 'name'];
      const first = receiverNamesSeen.get(name);
      if (name === BUILTIN_CONSOLE.name) {
        problems.push(
          unit.src.problemAt(
            at,
            'duplicate_receiver',
            `"console" is a built-in receiver (one line per notification on stdout); give this receiver another name`,
          ),
        );
        continue;
      }
      if (first) {
        problems.push(
          unit.src.problemAt(
            at,
            'duplicate_receiver',
            `receiver name "${name}" is already used at ${where(first.unit.src, ['receivers', first.index, 'name'])}` +
              `; receiver names must be unique`,
          ),
        );
        continue;
      }
      receiverNamesSeen.set(name, { unit, index });
      const parsed = valid.get(index);
      if (!parsed) continue;
      const def = toReceiverDef(parsed, unit.src, index, problems);
      if (def) receivers.push(def);
    }
  }
  const ruleOptions: RuleCheckOptions = {
    ...options,
    pagingReceivers: new Set(receivers.filter((r) => r.kind === 'pagerduty').map((r) => r.name)),
  };
  if (options.knownReceivers || options.requireReceivers || anyReceivers) {
    ruleOptions.knownReceivers = new Set([
      BUILTIN_CONSOLE.name,
      ...receiverNamesSeen.keys(),
      ...(options.knownReceivers ?? []),
    ]);
  }

  const rules: AlertRuleDef[] = [];
  const gates: GateDef[] = [];
  const knownFunnels = [...funnelNamesSeen.keys()];
  for (const unit of units) {
    if (unit.funnelBroken) continue;
    let funnel: FunnelDef | undefined = unit.funnel;
    if (unit.funnelRef !== undefined) {
      funnel = funnels.get(unit.funnelRef)?.def;
      if (!funnel) {
        if (!funnelNamesSeen.has(unit.funnelRef)) {
          const known =
            knownFunnels.length > 0
              ? `funnels defined in the checked files: ${knownFunnels.join(', ')}`
              : 'no checked file defines a funnel';
          problems.push(
            unit.src.problemAt(
              ['funnel'],
              'unknown_funnel',
              `unknown funnel "${unit.funnelRef}"${didYouMeanSuffix(unit.funnelRef, knownFunnels)}; ${known}`,
            ),
          );
        }
        continue; // defined but broken: its own file reports why
      }
    }
    if (!funnel) continue;
    for (const { index, parsed } of unit.rules) {
      const at = [unit.keys.rules, index] as const;
      const found = checkRule(parsed, funnel, unit.src, at, ruleOptions);
      problems.push(...found);
      if (found.length === 0 && !duplicateRules.has(`${unit.src.file}#${index}`)) {
        rules.push(toAlertRuleDef(parsed, funnel.name, unit.src.file, unit.src.locate(at)));
      }
    }
    for (const { index, parsed } of unit.gates) {
      const at = [unit.keys.gates, index] as const;
      const found = checkGate(parsed, funnel, unit.src, at, ruleOptions);
      problems.push(...found);
      if (found.length === 0 && !duplicateGates.has(`${unit.src.file}#${index}`)) {
        gates.push(toGateDef(parsed, funnel.name, unit.src.file, unit.src.locate(at)));
      }
    }
  }

  if (problems.length > 0) return { ok: false, problems: problems.sort(compareProblems) };
  const ruleSet: RuleSet = deepFreeze({
    funnels: [...funnels.values()].map((f) => f.def),
    rules,
    gates,
    receivers,
    version: versionOf(ordered),
    files: ordered.map((s) => s.path),
  });
  return { ok: true, ruleSet };
}

function readUnit(source: RuleSource, problems: Problem[]): FileUnit | undefined {
  const src = parseYamlSource(source.path, source.text.replace(/^\uFEFF/, ''));
  if (src.problems.length > 0) {
    problems.push(...src.problems);
    return undefined;
  }
  const whole = schemaProblems(ruleFileSchema, src.value, src);
  if (!whole.ok) problems.push(...whole.problems);
  const value = src.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  // `alerts:` written for `rules:`: its entries are checked as the rules they were meant to be (schema-problems.ts).
  const keys = { rules: 'rules', gates: 'gates' };
  for (const [alias, meant] of topLevelAliases(ruleFileSchema, value))
    if (meant in keys) keys[meant as 'rules'] = alias;
  const {
    funnel: rawFunnel,
    [keys.rules]: rawRules,
    [keys.gates]: rawGates,
    receivers: rawReceivers,
  } = value as Record<string, unknown>;

  const unit: FileUnit = {
    src,
    funnelBroken: false,
    rules: [],
    ruleNames: [],
    gates: [],
    gateNames: [],
    receivers: [],
    receiverNames: [],
    hasReceivers: rawReceivers !== undefined,
    keys,
  };
  collectEntries(rawReceivers, receiverSchema, unit.receiverNames, unit.receivers);
  if (rawFunnel === undefined) {
    // A file of receivers only. Without receivers either, say what a rule file needs rather than "missing funnel".
    unit.funnelBroken = true;
    const hasGates = Array.isArray(rawGates) && rawGates.length > 0;
    const kinds = hasGates && !(Array.isArray(rawRules) && rawRules.length > 0) ? 'gates' : 'rules';
    if (!unit.hasReceivers || (Array.isArray(rawRules) && rawRules.length > 0) || hasGates) {
      problems.push(
        src.problemAt(
          [],
          'missing_funnel',
          unit.hasReceivers
            ? `${kinds} need a funnel: add \`funnel: <name>\` to this file, or move the ${kinds} to the funnel's file`
            : 'a rule file defines a funnel (`funnel:` with its `rules:`) ' +
                'or receivers (`receivers:`); this one has neither',
        ),
      );
    }
  } else if (typeof rawFunnel === 'string') {
    unit.funnelRef = rawFunnel;
  } else {
    const parsed = funnelSchema.safeParse(rawFunnel);
    if (parsed.success) {
      const found = checkFunnel(parsed.data as FunnelParsed, src, ['funnel']);
      problems.push(...found);
      if (found.length === 0) unit.funnel = toFunnelDef(parsed.data as FunnelParsed);
      else unit.funnelBroken = true;
    } else {
      unit.funnelBroken = true;
    }
  }
  collectEntries(rawRules, ruleSchema, unit.ruleNames, unit.rules);
  collectEntries(rawGates, gateSchema, unit.gateNames, unit.gates);
  return unit;
}

/**
 * The entries of a `rules:` or `receivers:` list: every entry's name, broken or not (so a duplicate name is still
 * reported), and the entries that fit `schema`, parsed; both with their index in the list.
 */
function collectEntries<T>(
  list: unknown,
  schema: z.ZodType,
  names: { index: number; name: string }[],
  parsed: { index: number; parsed: T }[],
): void {
  if (!Array.isArray(list)) return;
  list.forEach((raw, index) => {
    const name = (raw as { name?: unknown } | null)?.name;
    if (typeof name === 'string') names.push({ index, name });
    const r = schema.safeParse(raw);
    if (r.success) parsed.push({ index, parsed: r.data as T });
  });
}

/**
 * Names of one kind of entry unique across files (the first in path order keeps it): problems for the others, and
 * their `file#index`, so they are not built.
 */
function uniqueAcrossFiles(units: readonly FileUnit[], problems: Problem[]): Set<string> {
  const seen = new Map<string, { unit: FileUnit; index: number }>();
  const dupes = new Set<string>();
  for (const unit of units) {
    for (const { index, name } of unit.gateNames) {
      const first = seen.get(name);
      if (!first) {
        seen.set(name, { unit, index });
        continue;
      }
      dupes.add(`${unit.src.file}#${index}`);
      problems.push(
        unit.src.problemAt(
          [unit.keys.gates, index, 'name'],
          'duplicate_gate',
          `gate name "${name}" is already used at ` +
            `${where(first.unit.src, [first.unit.keys.gates, first.index, 'name'])}; ` +
            `gate names must be unique across rule files`,
        ),
      );
    }
  }
  return dupes;
}

function funnelNameOf(unit: FileUnit): string | undefined {
  if (unit.funnel) return unit.funnel.name;
  const raw = (unit.src.value as { funnel?: unknown }).funnel;
  const name = typeof raw === 'string' ? raw : (raw as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

function where(src: YamlSource, path: (string | number)[]): string {
  const pos: Position = src.locate(path);
  return `${src.file}:${pos.line}:${pos.col}`;
}

/** Same file names and bytes → same version, wherever the directory is mounted (`r-…` rules, `p-…` probes). */
export function versionOf(sources: readonly RuleSource[], prefix = 'r'): string {
  const h = createHash('sha256');
  for (const s of sources) h.update(basename(s.path)).update('\0').update(s.text).update('\0');
  return `${prefix}-${h.digest('hex').slice(0, 16)}`;
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

// --- file system ---

/** Rule files are `*.yaml` / `*.yml`; hidden files and editor leftovers (`.#x.yaml`, `x.yaml~`) are not. */
export function isRuleFileName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/i.test(name);
}

/**
 * The rule files of `paths` (files as given, directories listed one level deep), plus problems for paths that
 * cannot be read. Directories are not searched recursively: rules/ is flat, and a subfolder of drafts or fixtures
 * should not go live by accident.
 */
export async function readRuleSources(
  paths: readonly string[],
): Promise<{ sources: RuleSource[]; problems: Problem[] }> {
  const sources: RuleSource[] = [];
  const problems: Problem[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch (err) {
      problems.push(ioProblem(path, err));
      continue;
    }
    let files: string[] = [path];
    if (isDir) {
      try {
        // Follow symlinks (Kubernetes ConfigMap volumes mount every file as a link into `..data/`).
        const names = (await readdir(path)).filter(isRuleFileName).sort();
        files = [];
        for (const name of names) {
          const full = join(path, name);
          const st = await stat(full).catch(() => undefined);
          if (st?.isFile()) files.push(full);
        }
      } catch (err) {
        problems.push(ioProblem(path, err));
        continue;
      }
      if (files.length === 0) {
        problems.push({
          file: path,
          line: 0,
          col: 0,
          code: 'no_rule_files',
          message: 'no rule files (*.yaml, *.yml) in this directory',
        });
        continue;
      }
    }
    for (const file of files) {
      try {
        const size = (await stat(file)).size;
        if (size > RULE_FILE_MAX_BYTES) {
          problems.push(tooLargeProblem(file, size));
          continue;
        }
        sources.push({ path: file, text: await readFile(file, 'utf8') });
      } catch (err) {
        problems.push(ioProblem(file, err));
      }
    }
  }
  return { sources, problems };
}

/**
 * The largest rule file read: rule sets are kilobytes; a file of megabytes is a mistake (a log pasted in, a
 * generator gone wrong) or an attack, and parsing and checking it would take seconds of CPU.
 */
export const RULE_FILE_MAX_BYTES = 1_000_000;

function tooLargeProblem(file: string, size: number): Problem {
  const mb = (n: number) => `${(n / 1_000_000).toFixed(n % 1_000_000 === 0 ? 0 : 1)} MB`;
  return {
    file,
    line: 1,
    col: 1,
    code: 'file_too_large',
    message: `file is ${mb(size)}; the limit is ${mb(RULE_FILE_MAX_BYTES)}: split the rules over several files`,
  };
}

function ioProblem(file: string, err: unknown): Problem {
  const code = (err as NodeJS.ErrnoException)?.code;
  const message =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES'
        ? 'permission denied'
        : `cannot read: ${(err as Error)?.message ?? String(err)}`;
  return { file, line: 0, col: 0, code: 'io_error', message };
}

/** Reads files and directories and checks them together, as one rule set. */
export async function loadRulePaths(
  paths: readonly string[],
  options: LoadOptions = {},
): Promise<LoadResult & { filesChecked: number }> {
  const { sources, problems } = await readRuleSources(paths);
  const result = checkRuleSources(sources, options);
  const all = [...problems, ...(result.ok ? [] : result.problems)].sort(compareProblems);
  if (all.length > 0) return { ok: false, problems: all, filesChecked: sources.length };
  return { ...result, filesChecked: sources.length };
}

/** The rule set of one directory (what the daemon runs on). */
export async function loadRuleDir(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  const { filesChecked: _, ...result } = await loadRulePaths([dir], options);
  return result;
}

/** Exactly one kind per receiver; the defaults filled in. Problems go to `problems`. */
function toReceiverDef(
  r: ReceiverParsed,
  src: YamlSource,
  index: number,
  problems: Problem[],
): ReceiverDef | undefined {
  const at = ['receivers', index];
  const kinds = (['slack', 'pagerduty', 'webhook', 'alertmanager', 'console'] as const).filter(
    (k) => r[k] !== undefined,
  );
  if (kinds.length !== 1) {
    problems.push(
      src.problemAt(
        kinds.length === 0 ? at : [...at, kinds[1]!],
        'invalid_receiver',
        kinds.length === 0
          ? `receiver "${r.name}" needs one of slack, pagerduty, webhook, alertmanager or console`
          : `receiver "${r.name}" has both ${kinds.join(' and ')}; ` +
              `define one receiver per destination (rules can notify several)`,
        kinds.length === 0 ? 'value' : 'key',
      ),
    );
    return undefined;
  }
  const pos = src.locate(at);
  const source = { file: src.file, line: pos.line, col: pos.col };
  const g: GroupingDef = {
    ...(r.group_by ? { groupBy: r.group_by } : {}),
    ...(r.group_wait ? { groupWaitMs: parseDuration(r.group_wait) } : {}),
    ...(r.group_interval ? { groupIntervalMs: parseDuration(r.group_interval) } : {}),
    ...(r.repeat_interval ? { repeatIntervalMs: parseDuration(r.repeat_interval) } : {}),
  };
  const common = { name: r.name, ...(Object.keys(g).length > 0 ? { grouping: g } : {}) };
  if (r.slack)
    return {
      ...common,
      kind: 'slack',
      channel: r.slack.channel,
      token: r.slack.token ?? { env: 'SLACK_BOT_TOKEN' },
      source,
    };
  if (r.pagerduty) {
    return {
      ...common,
      kind: 'pagerduty',
      routingKey: r.pagerduty.routing_key,
      ...(r.pagerduty.dashboard_url ? { dashboardUrl: r.pagerduty.dashboard_url } : {}),
      source,
    };
  }
  if (r.webhook)
    return {
      ...common,
      kind: 'webhook',
      url: r.webhook.url,
      ...(r.webhook.secret ? { secret: r.webhook.secret } : {}),
      source,
    };
  if (r.alertmanager)
    return {
      ...common,
      kind: 'alertmanager',
      url: r.alertmanager.url,
      ...(r.alertmanager.external_url ? { externalUrl: r.alertmanager.external_url } : {}),
      source,
    };
  return { ...common, kind: 'console', source };
}
