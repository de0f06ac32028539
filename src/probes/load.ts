/**
 * Journey files in, a frozen JourneySet or every problem out, located `path:line:col` with the rule files' machinery
 * (YAML source positions, zod issues worded for people). Beyond the schema it checks what relates fields: every
 * template names a secret the journey declares or a value an earlier step extracts, the environment has a base URL,
 * and journey names are unique across files.
 */
import type { SecretRef } from '../core/secrets.js';
import { readRuleSources, deepFreeze, versionOf, type RuleSource } from '../rules/loader.js';
import { compareProblems, type Problem } from '../rules/problem.js';
import { schemaProblems } from '../rules/schema-problems.js';
import { parseDuration } from '../rules/units.js';
import { parseYamlSource, type PathSegment, type YamlSource } from '../rules/yaml-source.js';
import { journeyFileSchema, PROBE_ALERT_DEFAULTS, type JourneyParsed } from './schema.js';
import { TEMPLATE_HELP, templateRefs, textsOf } from './template.js';

export interface JourneyStep {
  name: string;
  /** The funnel step's event type, emitted when the step passes. */
  event?: string;
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
  body?: unknown;
  extract: readonly { name: string; json?: string; header?: string }[];
  /** Accepted statuses; an empty list means any 2xx. */
  status: readonly number[];
  bodyExpect: readonly { path: string; value: string }[];
  maxLatencyMs?: number;
  timeoutMs: number;
}

/** The journey's probe alert (rule kind `probe`), judged per location over its latest runs (probe-alerts.ts). */
export interface ProbeAlert {
  /** K of the last `of` runs failed: firing. */
  failures: number;
  of: number;
  slow?: { step: string; overMs: number; runs: number };
  severity: 'critical' | 'warning' | 'info';
  notify: readonly string[];
  runbook?: string;
  enabled: boolean;
}

export interface Journey {
  name: string;
  funnel: string;
  everyMs: number;
  location?: string;
  baseUrl: string;
  emailDomain: string;
  secrets: ReadonlyMap<string, SecretRef>;
  steps: readonly JourneyStep[];
  alert: ProbeAlert;
  /** Where it is defined, for logs. */
  file: string;
  /** Where its name is written, for messages that send a person back to the file. */
  source: { file: string; line: number; col: number };
}

export interface JourneySet {
  journeys: readonly Journey[];
  /** Content hash of the files, `p-…`: equal files, equal version. */
  version: string;
}

export type JourneyLoadResult = { ok: true; set: JourneySet } | { ok: false; problems: Problem[] };

export interface JourneyLoadOptions {
  /** Which `base_url` entry the runner uses. */
  environment: string;
  /** The loaded rule files' funnels: when given, a journey's funnel and step events must be among them. */
  funnels?: readonly { name: string; steps: readonly { name: string; event: string }[] }[];
  /** The receivers the rule files define: when given, `alert.notify` must name them. */
  receivers?: readonly string[];
}

export function checkJourneySources(sources: readonly RuleSource[], options: JourneyLoadOptions): JourneyLoadResult {
  const problems: Problem[] = [];
  const journeys: Journey[] = [];
  const names = new Map<string, YamlSource>();
  const ordered = [...sources].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const source of ordered) {
    const src = parseYamlSource(source.path, source.text.replace(/^\uFEFF/, ''));
    if (src.problems.length > 0) {
      problems.push(...src.problems);
      continue;
    }
    if (src.value === null || typeof src.value !== 'object' || Array.isArray(src.value)) {
      problems.push(
        src.problemAt([], 'wrong_type', 'a journey file is a mapping with name:, every:, base_url: and steps:'),
      );
      continue;
    }
    const parsed = schemaProblems(journeyFileSchema, src.value, src);
    if (!parsed.ok) {
      problems.push(...parsed.problems);
      continue;
    }
    const j = parsed.data as JourneyParsed;
    const first = names.get(j.name);
    if (first) {
      const pos = first.locate(['name']);
      problems.push(
        src.problemAt(
          ['name'],
          'duplicate_name',
          `journey "${j.name}" is already defined at ${first.file}:${pos.line}:${pos.col}; ` +
            'journey names must be unique',
        ),
      );
      continue;
    }
    names.set(j.name, src);
    const found = checkJourney(j, src, options);
    problems.push(...found);
    if (found.length === 0) journeys.push(toJourney(j, src, options));
  }
  if (problems.length > 0) return { ok: false, problems: problems.sort(compareProblems) };
  return { ok: true, set: deepFreeze({ journeys, version: versionOf(ordered, 'p') }) };
}

function checkJourney(j: JourneyParsed, src: YamlSource, options: JourneyLoadOptions): Problem[] {
  const problems: Problem[] = [];
  if (j.base_url[options.environment] === undefined) {
    const known = Object.keys(j.base_url);
    problems.push(
      src.problemAt(
        ['base_url'],
        'invalid_value',
        `base_url has no entry for the environment "${options.environment}" ` +
          `(it lists ${known.length > 0 ? known.join(', ') : 'none'}); add one or run with --environment`,
      ),
    );
  }
  const secrets = new Set(Object.keys(j.secrets ?? {}));
  const extracted = new Set<string>();
  j.steps.forEach((step, i) => {
    const texts: { path: PathSegment[]; text: string }[] = [
      { path: ['steps', i, 'url'], text: step.url },
      ...Object.entries(step.headers ?? {}).map(([k, v]) => ({ path: ['steps', i, 'headers', k], text: v })),
      ...textsOf(step.body, ['steps', i, 'body']),
    ];
    for (const { path, text } of texts) {
      const { refs, unknown } = templateRefs(text);
      for (const name of unknown) {
        problems.push(src.problemAt(path, 'invalid_value', `unknown template "${name}": ${TEMPLATE_HELP}`));
      }
      for (const ref of refs) {
        if (ref.kind === 'secrets' && !secrets.has(ref.name)) {
          problems.push(
            src.problemAt(
              path,
              'invalid_value',
              `{{ secrets.${ref.name} }}: the journey declares no secret "${ref.name}" ` +
                `(add it under secrets: with env: or file:)`,
            ),
          );
        }
        if (ref.kind === 'vars' && !extracted.has(ref.name)) {
          problems.push(
            src.problemAt(
              path,
              'invalid_value',
              `{{ vars.${ref.name} }}: no earlier step extracts "${ref.name}" (add it to an earlier step's extract:)`,
            ),
          );
        }
      }
    }
    for (const name of Object.keys(step.extract ?? {})) extracted.add(name);
  });
  problems.push(...checkAlert(j, src, options));
  return problems;
}

/** The alert's numbers fit together, its slow step exists; funnel, step events and receivers exist when known. */
function checkAlert(j: JourneyParsed, src: YamlSource, options: JourneyLoadOptions): Problem[] {
  const problems: Problem[] = [];
  const a = j.alert;
  if (a && a.failures > a.of)
    problems.push(
      src.problemAt(['alert', 'failures'], 'invalid_value', `failures (${a.failures}) must not exceed of (${a.of})`),
    );
  if (a?.slow && !j.steps.some((s) => s.name === a.slow!.step))
    problems.push(
      src.problemAt(
        ['alert', 'slow', 'step'],
        'invalid_value',
        `the journey has no step "${a.slow.step}" (steps: ${j.steps.map((s) => s.name).join(', ')})`,
      ),
    );
  if (options.receivers) {
    const known = new Set(options.receivers);
    (a?.notify ?? []).forEach((r, i) => {
      if (!known.has(r))
        problems.push(
          src.problemAt(
            ['alert', 'notify', i],
            'unknown_receiver',
            `unknown receiver "${r}" (the rule files define: ${options.receivers!.join(', ') || 'none'})`,
          ),
        );
    });
  }
  if (options.funnels) {
    const funnel = options.funnels.find((f) => f.name === j.funnel);
    if (!funnel) {
      const names = options.funnels.map((f) => f.name);
      problems.push(
        src.problemAt(
          ['funnel'],
          'unknown_funnel',
          `unknown funnel "${j.funnel}" (the rule files define: ${names.join(', ') || 'none'})`,
        ),
      );
    } else {
      const events = new Set(funnel.steps.map((s) => s.event));
      j.steps.forEach((step, i) => {
        if (step.event !== undefined && !events.has(step.event))
          problems.push(
            src.problemAt(
              ['steps', i, 'event'],
              'unknown_step',
              `funnel "${funnel.name}" has no step with event "${step.event}" ` +
                `(its steps: ${funnel.steps.map((s) => `${s.name} = ${s.event}`).join(', ')})`,
            ),
          );
      });
    }
  }
  return problems;
}

function toJourney(j: JourneyParsed, src: YamlSource, options: JourneyLoadOptions): Journey {
  const timeoutMs = parseDuration(j.timeout);
  const a = j.alert;
  const pos = src.locate(['name']);
  return {
    name: j.name,
    funnel: j.funnel,
    everyMs: parseDuration(j.every),
    ...(j.location ? { location: j.location } : {}),
    baseUrl: j.base_url[options.environment]!,
    emailDomain: j.email_domain,
    secrets: new Map(Object.entries(j.secrets ?? {})),
    steps: j.steps.map((s) => ({
      name: s.name,
      ...(s.event ? { event: s.event } : {}),
      method: s.method,
      url: s.url,
      headers: s.headers ?? {},
      ...(s.body !== undefined ? { body: s.body } : {}),
      extract: Object.entries(s.extract ?? {}).map(([name, e]) => ({ name, ...e })),
      status:
        s.expect?.status === undefined ? [] : typeof s.expect.status === 'number' ? [s.expect.status] : s.expect.status,
      bodyExpect: Object.entries(s.expect?.body ?? {}).map(([path, v]) => ({
        path,
        value: typeof v === 'string' ? v : JSON.stringify(v),
      })),
      ...(s.expect?.latency ? { maxLatencyMs: parseDuration(s.expect.latency) } : {}),
      timeoutMs: s.timeout ? parseDuration(s.timeout) : timeoutMs,
    })),
    alert: {
      failures: a?.failures ?? PROBE_ALERT_DEFAULTS.failures,
      of: a?.of ?? PROBE_ALERT_DEFAULTS.of,
      ...(a?.slow ? { slow: { step: a.slow.step, overMs: parseDuration(a.slow.over), runs: a.slow.runs } } : {}),
      severity: a?.severity ?? PROBE_ALERT_DEFAULTS.severity,
      notify: a?.notify ?? [],
      ...(a?.runbook ? { runbook: a.runbook } : {}),
      enabled: a?.enabled ?? true,
    },
    file: src.file,
    source: { file: src.file, line: pos.line, col: pos.col },
  };
}

/** The journeys of a directory (or files), with unreadable paths as problems. */
export async function loadJourneyPaths(
  paths: readonly string[],
  options: JourneyLoadOptions,
): Promise<JourneyLoadResult> {
  const { sources, problems } = await readRuleSources(paths);
  // readRuleSources speaks of rule files; these are journeys.
  const io = problems.map((p) =>
    p.code === 'no_rule_files' ? { ...p, message: 'no journey files (*.yaml, *.yml) in this directory' } : p,
  );
  const result = checkJourneySources(sources, options);
  const all = [...io, ...(result.ok ? [] : result.problems)].sort(compareProblems);
  return all.length > 0 ? { ok: false, problems: all } : result;
}
