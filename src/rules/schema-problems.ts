/**
 * Turns zod's issues into problems a rule author can act on: located at the YAML node, worded without programmer
 * jargon ("expected a list, got the text "x"" rather than "expected array, received string"), an unknown key
 * answered with the closest allowed key, and a union ("a name, or {name, max_values}") reported as the branch the
 * author evidently meant instead of "Invalid input".
 */
import type { z } from 'zod';
import { pathText } from '../core/path-text.js';
import { didYouMeanSuffix } from './did-you-mean.js';
import type { Problem, ProblemCode } from './problem.js';
import { DURATION_PATTERN, PERCENT_PATTERN, PERCENTILE_PATTERN, RATE_PATTERN } from './units.js';
import type { PathSegment, YamlSource } from './yaml-source.js';

type Issue = z.core.$ZodIssue;
type Schema = z.core.$ZodType;

/** Validates `source.value` against `schema`; problems located in `source`, paths prefixed with `prefix`. */
export function schemaProblems(
  schema: Schema,
  value: unknown,
  source: YamlSource,
  prefix: readonly PathSegment[] = [],
): { ok: true; data: unknown } | { ok: false; problems: Problem[] } {
  const result = (schema as z.ZodType).safeParse(value, { reportInput: true, error: friendlyMessage });
  if (result.success) return { ok: true, data: result.data };
  const issues = flattenUnions(result.error.issues);
  return { ok: false, problems: toProblems(issues, schema, source, prefix) };
}

/** Messages for issues whose schema did not bring its own. */
function friendlyMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'missing'; // reworded with the field name in toProblems
      return `expected ${expectedName(iss.expected)}, got ${describeInput(iss.input)}`;
    case 'too_small':
      if (iss.origin === 'array') return `list at least ${iss.minimum} item${Number(iss.minimum) === 1 ? '' : 's'}`;
      if (iss.origin === 'string') return 'cannot be empty';
      return `must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'array') return `list at most ${iss.maximum} items`;
      if (iss.origin === 'string') return `too long (at most ${iss.maximum} characters)`;
      return `must be at most ${iss.maximum}`;
    case 'invalid_value':
      return `${describeInput(iss.input)} is not allowed: write one of ${iss.values.map(String).join(', ')}${
        typeof iss.input === 'string' ? didYouMeanSuffix(iss.input, iss.values.map(String)) : ''
      }`;
    default:
      return undefined;
  }
}

export function expectedName(expected: string): string {
  switch (expected) {
    case 'string':
      return 'text';
    case 'number':
      return 'a number';
    case 'int':
      return 'a whole number';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping (key: value)';
    default:
      return expected;
  }
}

export function describeInput(input: unknown): string {
  if (input === undefined) return 'nothing';
  if (input === null) return 'an empty value';
  if (typeof input === 'string') return `the text ${JSON.stringify(input)}`;
  if (typeof input === 'number') return `the number ${input}`;
  if (typeof input === 'boolean') return String(input);
  if (Array.isArray(input)) return 'a list';
  return 'a mapping';
}

/**
 * A union branch fails with "wrong type" at its root when the author clearly did not mean it (a mapping given where
 * a name was one option). Keep the issues of the branches that got further; if exactly one did, those issues are the
 * real ones. If none did, the value had none of the accepted types: say which ones were.
 */
function flattenUnions(issues: readonly Issue[]): Issue[] {
  const out: Issue[] = [];
  for (const issue of issues) {
    if (issue.code !== 'invalid_union' || issue.errors.length === 0) {
      out.push(issue);
      continue;
    }
    const meant = issue.errors.filter(
      (branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0),
    );
    if (meant.length === 1) {
      const nested = meant[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as Issue);
      out.push(...flattenUnions(nested));
      continue;
    }
    const expected = [
      ...new Set(
        issue.errors
          .flatMap((b) => b.filter((i) => i.code === 'invalid_type' && i.path.length === 0))
          .map((i) => expectedName((i as { expected: string }).expected)),
      ),
    ];
    // A union that carries its own error (e.g. secrets: "say where the secret is …") adds it as the hint.
    const hint = issue.message && issue.message !== 'Invalid input' ? `: ${issue.message}` : '';
    const message =
      expected.length > 0
        ? `expected ${expected.join(' or ')}, got ${describeInput(issue.input)}${hint}`
        : (meant[0]?.[0]?.message ?? 'invalid value');
    out.push({ code: 'custom', path: issue.path, message, input: issue.input } as Issue);
  }
  return out;
}

function toProblems(
  issues: readonly Issue[],
  root: Schema,
  source: YamlSource,
  prefix: readonly PathSegment[],
): Problem[] {
  const problems: Problem[] = [];
  // A misspelt required key shows up twice, as unknown `resolve_afer` and missing `resolve_after`; report it once.
  const suggestedKeys = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const allowed = allowedKeys(root, issue.path as PathSegment[]);
    const atTop = issue.path.length === 0 && prefix.length === 0;
    const aliases = atTop ? topLevelAliases(root, issue.input) : new Map<string, string>();
    for (const key of issue.keys) {
      const path = [...prefix, ...(issue.path as PathSegment[]), key];
      const alias = aliases.get(key);
      if (alias !== undefined) {
        // `alerts:` holding rules: say so, and check its content as `rules:` so every mistake in it shows at once.
        suggestedKeys.add(alias);
        const why = didYouMeanSuffix(key, [alias]) === '' ? `its content has the shape of ${alias}, so ` : '';
        problems.push(
          source.problemAt(
            path,
            'unknown_field',
            `unknown field "${key}" (did you mean "${alias}"? ${why}it is checked as ${alias} below)`,
            'key',
          ),
        );
        const inner = schemasAt(root, [alias])[0];
        const content = (issue.input as Record<string, unknown>)[key];
        const checked = inner ? schemaProblems(inner, content, source, [key]) : { ok: true as const };
        if (!checked.ok) problems.push(...checked.problems);
        continue;
      }
      const suffix = didYouMeanSuffix(key, allowed);
      const m = /"(.*)"/.exec(suffix);
      if (m) suggestedKeys.add(pathText([...prefix, ...(issue.path as PathSegment[]), m[1]!]));
      const where =
        issue.path.length > 0 || prefix.length > 0
          ? ` in ${pathText([...prefix, ...(issue.path as PathSegment[])])}`
          : '';
      const known = suffix === '' && allowed.length > 0 ? `; allowed here: ${allowed.join(', ')}` : '';
      problems.push(source.problemAt(path, 'unknown_field', `unknown field "${key}"${where}${suffix}${known}`, 'key'));
    }
  }
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') continue;
    const rel = issue.path as PathSegment[];
    const path = [...prefix, ...rel];
    // An absent field fails as a type (or, for an enum, a value) check on `undefined`.
    if ((issue.code === 'invalid_type' || issue.code === 'invalid_value') && issue.input === undefined) {
      if (suggestedKeys.has(pathText(path))) continue;
      const field = rel[rel.length - 1];
      const choices = enumValues(root, rel);
      const hint = choices ? ` (one of ${choices.join(', ')})` : '';
      // The field is absent, so point at the mapping that should hold it.
      problems.push(
        source.problemAt(
          path.slice(0, -1),
          'missing_field',
          `${pathText(path.slice(0, -1)) || 'the file'}: missing required field "${String(field)}"${hint}`,
        ),
      );
      continue;
    }
    if (issue.code === 'invalid_type' && path.length === 0) {
      problems.push(
        source.problemAt(
          [],
          'wrong_type',
          `a rule file is a mapping with "funnel:" and "rules:", but this file holds ${describeInput(issue.input)}`,
        ),
      );
      continue;
    }
    problems.push(
      source.problemAt(
        path,
        codeOf(issue),
        `${pathText(path)}: ${issue.message}`,
        issue.code === 'invalid_key' ? 'key' : 'value',
      ),
    );
  }
  return problems;
}

/**
 * For the unknown top-level keys of a rule file: the known key each one was meant as, when that key is absent from
 * the file and either its name is close (`rule:`) or its content has that key's shape (`alerts:` holding a list of
 * rules: at least half the fields its entries use are fields of a rule, and more than of any other known key).
 */
export function topLevelAliases(root: Schema, input: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return out;
  const file = input as Record<string, unknown>;
  const known = allowedKeys(root, []);
  const absent = known.filter((k) => !(k in file));
  for (const key of Object.keys(file)) {
    if (known.includes(key)) continue;
    const byName = didYouMeanSuffix(key, known) === '' ? undefined : absent.find((k) => didYouMeanSuffix(key, [k]));
    if (byName !== undefined) {
      out.set(key, byName);
      continue;
    }
    let best: string | undefined;
    let bestScore = 0.5;
    for (const k of absent) {
      const score = shapeScore(root, k, file[key]);
      if (score >= bestScore && !(score === bestScore && best !== undefined)) {
        best = k;
        bestScore = score;
      }
    }
    if (best !== undefined && !out.has(key)) out.set(key, best);
  }
  return out;
}

/** Share of the fields a value uses (its entries', for a list) that known key `k` allows; 0 when the kinds differ. */
function shapeScore(root: Schema, k: string, value: unknown): number {
  const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const kinds = schemasAt(root, [k]).map((s) => def(s).type);
  let fields: string[];
  let allowed: string[];
  if (Array.isArray(value) && kinds.includes('array')) {
    fields = [...new Set(value.filter(isMap).flatMap((e) => Object.keys(e)))];
    allowed = allowedKeys(root, [k, 0]);
  } else if (isMap(value) && kinds.includes('object')) {
    fields = Object.keys(value);
    allowed = allowedKeys(root, [k]);
  } else return 0;
  if (fields.length === 0) return 0;
  return fields.filter((f) => allowed.includes(f)).length / fields.length;
}

function codeOf(issue: Issue): ProblemCode {
  switch (issue.code) {
    case 'invalid_type':
      return 'wrong_type';
    case 'invalid_format': {
      const pattern = (issue as { pattern?: string }).pattern;
      // zod reports the pattern as RegExp#toString(), which escapes `/`.
      if (pattern === new RegExp(DURATION_PATTERN).toString()) return 'invalid_duration';
      if (pattern === new RegExp(PERCENT_PATTERN).toString()) return 'invalid_percent';
      if (pattern === new RegExp(RATE_PATTERN).toString()) return 'invalid_rate';
      if (pattern === new RegExp(PERCENTILE_PATTERN).toString()) return 'invalid_percentile';
      return 'invalid_value';
    }
    default:
      return 'invalid_value';
  }
}

// --- walking the zod schema along a data path (for allowed keys and enum values) ---

function def(schema: Schema): Record<string, unknown> & { type: string } {
  return (schema as unknown as { _zod: { def: Record<string, unknown> & { type: string } } })._zod.def;
}

/** The schemas a value at `path` may be checked against (several when a union lies on the way). */
function schemasAt(root: Schema, path: readonly PathSegment[]): Schema[] {
  let current = unwrap(root);
  for (const seg of path) {
    const next: Schema[] = [];
    for (const s of current) {
      const d = def(s);
      if (d.type === 'object' && typeof seg === 'string') {
        const child = (d.shape as Record<string, Schema>)[seg];
        if (child) next.push(...unwrap(child));
      } else if (d.type === 'array' && typeof seg === 'number') {
        next.push(...unwrap(d.element as Schema));
      } else if (d.type === 'record') {
        next.push(...unwrap(d.valueType as Schema));
      }
    }
    current = next;
  }
  return current;
}

/** Strips optional/default wrappers and spreads unions, down to the schemas that do the checking. */
function unwrap(schema: Schema): Schema[] {
  const d = def(schema);
  switch (d.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return unwrap(d.innerType as Schema);
    case 'pipe':
      return unwrap(d.in as Schema);
    case 'union':
      return (d.options as Schema[]).flatMap(unwrap);
    default:
      return [schema];
  }
}

export function allowedKeys(root: Schema, path: readonly PathSegment[]): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, path)) {
    const d = def(s);
    if (d.type === 'object') for (const k of Object.keys(d.shape as object)) keys.add(k);
  }
  return [...keys];
}

function enumValues(root: Schema, path: readonly PathSegment[]): string[] | undefined {
  const values = schemasAt(root, path).flatMap((s) => {
    const d = def(s);
    return d.type === 'enum' ? Object.values(d.entries as Record<string, string>) : [];
  });
  return values.length > 0 ? values : undefined;
}
