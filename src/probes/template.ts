/**
 * Journey templating: `{{ name }}` in URLs, headers and bodies. The names are few and fixed, so a typo is a load
 * problem at its line, not an empty string sent at 3 a.m.:
 *   {{ run_id }} the run's id (also the entity of its events); {{ uuid }} a fresh UUID per use;
 *   {{ unique_email }} an address no earlier run used (`probe+<run id>@<email_domain>`); {{ now_ms }};
 *   {{ vars.<name> }} a value an earlier step extracted; {{ secrets.<name> }} a secret the journey declares.
 * And the JSONPath subset extraction and `expect.body` use (`$.a.b[0]['c d']`): one value, no wildcards.
 */
import { randomUUID } from 'node:crypto';

const TEMPLATE_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}/g;
const BUILTINS = new Set(['run_id', 'uuid', 'unique_email', 'now_ms']);

export interface TemplateContext {
  runId: string;
  emailDomain: string;
  now: number;
  vars: ReadonlyMap<string, string>;
  secrets: ReadonlyMap<string, string>;
}

/** What a template refers to, for load-time checks. */
export type TemplateRef = { kind: 'builtin'; name: string } | { kind: 'vars' | 'secrets'; name: string };

/** Every `{{ … }}` of `text`; `unknown` lists those that name nothing a template can use. */
export function templateRefs(text: string): { refs: TemplateRef[]; unknown: string[] } {
  const refs: TemplateRef[] = [];
  const unknown: string[] = [];
  for (const m of text.matchAll(TEMPLATE_RE)) {
    const name = m[1]!;
    const dot = name.indexOf('.');
    if (dot < 0) {
      if (BUILTINS.has(name)) refs.push({ kind: 'builtin', name });
      else unknown.push(name);
    } else {
      const ns = name.slice(0, dot);
      if (ns === 'vars' || ns === 'secrets') refs.push({ kind: ns, name: name.slice(dot + 1) });
      else unknown.push(name);
    }
  }
  // `{{` left over is a template the pattern did not accept (`{{ vars.a-b }}`, `{{}}`).
  const rest = text.replace(TEMPLATE_RE, '');
  if (rest.includes('{{')) unknown.push(rest.slice(rest.indexOf('{{'), rest.indexOf('{{') + 40));
  return { refs, unknown };
}

export const TEMPLATE_HELP =
  'templates are {{ run_id }}, {{ uuid }}, {{ unique_email }}, {{ now_ms }}, {{ vars.<extracted> }} ' +
  'and {{ secrets.<declared> }}';

/** `text` with every template replaced. Names were checked at load, so an unknown one here is a bug. */
export function renderTemplate(text: string, ctx: TemplateContext): string {
  return text.replace(TEMPLATE_RE, (_all, name: string) => {
    switch (name) {
      case 'run_id':
        return ctx.runId;
      case 'uuid':
        return randomUUID();
      case 'unique_email':
        return `probe+${ctx.runId}@${ctx.emailDomain}`;
      case 'now_ms':
        return String(ctx.now);
    }
    const [ns, key] = name.split('.') as [string, string];
    const v = (ns === 'vars' ? ctx.vars : ctx.secrets).get(key);
    if (v === undefined) throw new Error(`template {{ ${name} }} has no value`);
    return v;
  });
}

/** Every text inside a body (mapping keys stay as written) rendered; numbers and booleans kept. */
export function renderValue(value: unknown, ctx: TemplateContext): unknown {
  if (typeof value === 'string') return renderTemplate(value, ctx);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, ctx));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, ctx)]));
  }
  return value;
}

/** Every text inside a value, with its path below the value (for locating template problems). */
export function textsOf(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; text: string }[] {
  if (typeof value === 'string') return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((v, i) => textsOf(v, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => textsOf(v, [...path, k]));
  return [];
}

/** `$.a.b[0]['c d']` → ['a', 'b', 0, 'c d']; the pattern in schema.ts has checked the syntax. */
export function parseJsonPath(path: string): (string | number)[] {
  const out: (string | number)[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\['([^']+)'\]/g;
  for (const m of path.slice(1).matchAll(re)) out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]!));
  return out;
}

/** The value at `path` in `doc`, or undefined when the path leads nowhere. */
export function readJsonPath(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const seg of parseJsonPath(path)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/** A JSON value as the text a template or comparison uses: strings as they are, the rest as JSON. */
export function valueText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
