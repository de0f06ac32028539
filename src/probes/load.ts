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
import { journeyFileSchema, type JourneyParsed } from './schema.js';
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

export interface Journey {
  name: string;
  funnel: string;
  everyMs: number;
  location?: string;
  baseUrl: string;
  emailDomain: string;
  secrets: ReadonlyMap<string, SecretRef>;
  steps: readonly JourneyStep[];
  /** Where it is defined, for logs. */
  file: string;
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
    if (found.length === 0) journeys.push(toJourney(j, src.file, options));
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
  return problems;
}

function toJourney(j: JourneyParsed, file: string, options: JourneyLoadOptions): Journey {
  const timeoutMs = parseDuration(j.timeout);
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
    file,
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
