/**
 * Silences, as in Alertmanager: a set of label matchers and a time span during which notifications (triggers,
 * reminders, "got worse" updates) for alerts matching every matcher are not sent. A silence never holds back the
 * resolve of an incident that was already opened: an incident muted after it paged would otherwise stay open in
 * PagerDuty forever (prometheus/alertmanager#3664). The delivery planner enforces that; this module only says
 * whether an alert matches.
 *
 * Pure: no I/O and no clock of its own; every function that depends on time takes `now`.
 *
 * Matching follows Alertmanager: regular expressions are anchored at both ends (`=~stripe` does not match
 * `stripe-eu`), and a label the alert does not have compares as the empty string, so `team!=payments` matches
 * an alert without a team and `team=""` selects exactly those. Regular expressions use RE2 syntax and run on RE2
 * (the re2js port), as in Alertmanager: matching takes time linear in the value, whatever the pattern, so a
 * pattern such as `(x+x+)+y` cannot stall the event loop; backreferences and lookaround do not exist in RE2 and
 * are refused when the silence is created.
 */
import { RE2JS } from 're2js';
import { z } from 'zod';
import { FwError } from '../core/errors.js';
import { pathText } from '../core/path-text.js';
import { mulberry32 } from '../core/prng.js';
import { parseTime } from '../core/time-parse.js';
import type { AlertTransition } from '../model/alert-transition.js';
import { DURATION_PATTERN, explainDuration, parseDuration } from '../rules/units.js';

export type MatchOp = '=' | '!=' | '=~' | '!~';

export interface Matcher {
  name: string;
  value: string;
  op: MatchOp;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  /** Milliseconds since the epoch. */
  startsAt: number;
  /** Milliseconds since the epoch; the silence mutes nothing from this instant on. */
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
  /** Set when the silence was changed after creation (expired early). */
  updatedAt?: number;
}

export type SilenceState = 'pending' | 'active' | 'expired';

/** What a new silence is made of, once validated; the store adds id and createdAt. */
export interface SilenceInput {
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

export const MATCH_OPS: readonly MatchOp[] = ['=', '!=', '=~', '!~'];

/** Label names as rule files allow for segment dimensions (ATTRIBUTE_PATTERN without its length cap). */
export const MATCHER_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_.-]*$';
const NAME_RE = new RegExp(MATCHER_NAME_PATTERN);

/**
 * Limits on what one silence may hold. Generous for people, small enough that a script gone wrong cannot make the
 * once-a-minute match (every alert × every active silence) or the Redis hash expensive.
 */
export const SILENCE_LIMITS = {
  matchers: 100,
  nameChars: 128,
  valueChars: 1024,
  /** A regular expression's length; with `repeatCount` it bounds the compiled program (and so its compile time). */
  regexChars: 256,
  /** The largest count in a `{n}` / `{n,m}` repetition. */
  repeatCount: 100,
  /** Silences that are active or pending at once; creating one more is refused (409) until some end. */
  live: 400,
  /** How far ahead a silence may end: a silence is for maintenance and incidents, not a permanent mute. */
  maxEndMs: 365 * 24 * 60 * 60 * 1000,
  createdByChars: 200,
  commentChars: 2000,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Matchers

const MATCHER_HELP =
  'write name=value, name!=value, name=~regex or name!~regex, ' +
  'e.g. funnel=checkout or segment=~"platform=(ios|android)"';

/** Parses one matcher as people type it on the command line; throws FwError('BAD_MATCHER') saying what is wrong. */
export function parseMatcher(text: string): Matcher {
  const r = tryParseMatcher(text);
  if (!r.ok) throw new FwError('BAD_MATCHER', r.message);
  return r.matcher;
}

/** `parseMatcher` without the throw, for validators that collect problems. */
export function tryParseMatcher(text: string): { ok: true; matcher: Matcher } | { ok: false; message: string } {
  const m = /^\s*([^\s=!~"']*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/s.exec(text);
  if (!m) return { ok: false, message: `"${text}" is not a matcher: ${MATCHER_HELP}` };
  const [, name, op, rawValue] = m as unknown as [string, string, MatchOp, string];
  if (!name) return { ok: false, message: `"${text}" has no label name before "${op}": ${MATCHER_HELP}` };
  const nameProblem = explainMatcherName(name);
  if (nameProblem) return { ok: false, message: `matcher ${text.trim()}: ${nameProblem}` };
  const value = unquote(rawValue);
  if (typeof value !== 'string') return { ok: false, message: `matcher ${text.trim()}: ${value.problem}` };
  const matcher: Matcher = { name, op, value };
  const valueProblem = explainMatcherValue(matcher);
  if (valueProblem) return { ok: false, message: `matcher ${text.trim()}: ${valueProblem}` };
  return { ok: true, matcher };
}

/**
 * Quotes are optional and exist so a shell or a value with spaces survives. Inside double quotes only `\"` and
 * `\\` are escapes; any other backslash is kept as typed, so a regex such as `"step\d+"` means what it says.
 * Single quotes take everything literally.
 */
function unquote(raw: string): string | { problem: string } {
  const q = raw[0];
  if (q !== '"' && q !== "'") return raw;
  if (raw.length < 2 || raw[raw.length - 1] !== q || (q === '"' && endsEscaped(raw))) {
    return { problem: `the value has no closing ${q}` };
  }
  const inner = raw.slice(1, -1);
  if (q === "'") return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && (inner[i + 1] === '"' || inner[i + 1] === '\\')) {
      out += inner[i + 1];
      i++;
    } else if (c === '"') {
      return { problem: 'the value has a " inside; write it as \\"' };
    } else {
      out += c;
    }
  }
  return out;
}

/** Whether the closing quote of `"…"` is itself escaped (an odd run of backslashes before it). */
function endsEscaped(raw: string): boolean {
  let n = 0;
  for (let i = raw.length - 2; i >= 1 && raw[i] === '\\'; i--) n++;
  return n % 2 === 1;
}

/**
 * The matcher as `parseMatcher` reads it back: the value quoted when it holds anything beyond plain word
 * characters.
 */
export function formatMatcher(m: Matcher): string {
  const plain = /^[A-Za-z0-9_.:/@+-]+$/.test(m.value);
  return `${m.name}${m.op}${plain ? m.value : `"${m.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`}`;
}

export function formatMatchers(ms: readonly Matcher[]): string {
  return ms.map(formatMatcher).join(',');
}

function explainMatcherName(name: string): string | undefined {
  if (!NAME_RE.test(name))
    return `the label name "${name}" must start with a letter or _ and hold only letters, digits, _, . and -`;
  if (name.length > SILENCE_LIMITS.nameChars)
    return `the label name is longer than ${SILENCE_LIMITS.nameChars} characters`;
  return undefined;
}

function explainMatcherValue(m: Matcher): string | undefined {
  if (m.value.length > SILENCE_LIMITS.valueChars)
    return `the value is longer than ${SILENCE_LIMITS.valueChars} characters`;
  if (m.op === '=~' || m.op === '!~') {
    const why = regexProblem(m.value);
    if (why) return `invalid regular expression ${JSON.stringify(m.value)}: ${why}`;
  }
  return undefined;
}

function regexProblem(source: string): string | undefined {
  if (source.length > SILENCE_LIMITS.regexChars)
    return `the regular expression is longer than ${SILENCE_LIMITS.regexChars} characters`;
  // Before compiling: a pattern of many `.{1000}` compiles to a program of tens of thousands of instructions.
  for (const m of source.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    const n = Math.max(Number(m[1]), Number(m[2] || 0));
    if (n > SILENCE_LIMITS.repeatCount)
      return `the repetition ${m[0]} counts beyond ${SILENCE_LIMITS.repeatCount}, the largest allowed`;
  }
  const r = compileRegex(source);
  return typeof r === 'string' ? r : undefined;
}

/**
 * The pattern compiled by RE2, or why it does not compile. RE2 compiles the pattern alone, so `a)|(b` is refused
 * rather than read as `^(?:a)|(b)$`; RE2's `matches` is a whole-value match, which is the anchoring.
 */
export function compileRegex(source: string): RE2JS | string {
  try {
    return RE2JS.compile(source);
  } catch (err) {
    const msg = (err instanceof Error ? err.message : String(err)).replace(/^error parsing regexp: /, '');
    const unsupported = /\\[1-9]|\(\?<?[=!]|\(\?<[^>]*$/.test(source);
    return unsupported || /escape sequence|Perl syntax|named capture/.test(msg)
      ? `${msg} (silences use RE2 syntax, as Alertmanager: no backreferences, lookahead or lookbehind)`
      : msg;
  }
}

// Compiled once per matcher object: the store hands out fresh objects on every read, so a tick's comparisons of
// many alerts against the same silences share one compile, and nothing outlives the objects.
const compiled = new WeakMap<Matcher, RE2JS>();

function anchored(m: Matcher): RE2JS {
  let re = compiled.get(m);
  if (!re) {
    const r = compileRegex(m.value);
    // Matchers are validated on creation and on reading from Redis; one that still fails here is a bug.
    if (typeof r === 'string') throw new FwError('BAD_MATCHER', `invalid regular expression ${m.value}: ${r}`);
    re = r;
    compiled.set(m, re);
  }
  return re;
}

/** Whether `value` (the empty string for a label the alert lacks) satisfies the matcher. */
export function matcherMatches(m: Matcher, value: string): boolean {
  switch (m.op) {
    case '=':
      return value === m.value;
    case '!=':
      return value !== m.value;
    case '=~':
      return anchored(m).matches(value);
    case '!~':
      return !anchored(m).matches(value);
  }
}

export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) {
    const v = Object.hasOwn(labels, m.name) ? labels[m.name]! : '';
    if (!matcherMatches(m, v)) return false;
  }
  return true;
}

// Values a label could plausibly hold, to decide what a matcher matches rather than how it is spelled: `.*`, `(.*)`,
// `.{0,}`, `[\s\S]*` and `.*.*` all match every probe, and so do `.{2,}`, `[^é]+` or `!~"a|0"`, which dodge a few
// fixed strings. Fixed examples, then random names (seeded: the same silence gets the same answer every time) of
// the characters funnel, rule and segment names are made of, with some upper case, spaces and non-ASCII.
const ANY_VALUE_PROBES: readonly string[] = (() => {
  const fixed = ['a', '0', 'checkout', 'checkout-conversion', 'page', 'ticket', 'platform=ios', 'Z9_.-=|/ x', 'é中'];
  const rnd = mulberry32(0x5eed);
  const common = 'abcdefghijklmnopqrstuvwxyz0123456789-_.';
  const rare = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ =:/@+éü中\t';
  const out = [...fixed];
  for (let i = 0; i < 240; i++) {
    const len = 1 + Math.floor(rnd() * 32);
    let v = '';
    for (let j = 0; j < len; j++) {
      const set = rnd() < 0.9 ? common : rare;
      v += set[Math.floor(rnd() * set.length)];
    }
    out.push(v);
  }
  return out;
})();

/** A matcher (or silence) matching at least this share of the probes would mute nearly every alert. */
const NEARLY_ALL = 0.8;

function probeShare(matches: (probe: string, i: number) => boolean): number {
  let hits = 0;
  ANY_VALUE_PROBES.forEach((p, i) => {
    if (matches(p, i)) hits++;
  });
  return hits / ANY_VALUE_PROBES.length;
}

/**
 * Whether the matcher narrows the alerts down: it does not match the empty string (Alertmanager's rule: the label
 * must be there) and does not match nearly every value (decided on what it matches: the probes above).
 */
export function isSelective(m: Matcher): boolean {
  return !matcherMatches(m, '') && probeShare((p) => matcherMatches(m, p)) < NEARLY_ALL;
}

/**
 * Whether the silence as a whole narrows the alerts down: at least one selective matcher, and the matchers together
 * do not match nearly every probe alert (each label named by a matcher gets a probe value of its own).
 */
export function silenceIsSelective(matchers: readonly Matcher[]): boolean {
  if (!matchers.some(isSelective)) return false;
  const names = [...new Set(matchers.map((m) => m.name))];
  const n = ANY_VALUE_PROBES.length;
  const share = probeShare((_p, i) => {
    const labels = Object.create(null) as Record<string, string>;
    names.forEach((name, k) => (labels[name] = ANY_VALUE_PROBES[(i + 7 * k) % n]!));
    return matchesAll(matchers, labels);
  });
  return share < NEARLY_ALL;
}

// ---------------------------------------------------------------------------------------------------------------
// Labels and matching

/**
 * The labels a matcher sees for an alert:
 * - `funnel`, `rule`, `severity`;
 * - `segment`: `dimension=value` for a segment's alert, "" for the funnel-wide one (so `segment=""` selects
 *   funnel-wide alerts only);
 * - the segment's dimension under its own name (`payment_provider: stripe`), so `payment_provider=stripe` mutes
 *   that provider across every rule that segments by it;
 * - the rule's own `labels` (team, env, …).
 * On a name clash the built-in names win, then the segment's dimension, then the rule's labels: a rule cannot
 * make `funnel=checkout` miss its alerts by declaring a label `funnel`, and the segment value is a fact about the
 * data while a rule label is a static note.
 */
export function alertLabels(
  alert: Pick<AlertTransition, 'labels' | 'segment' | 'funnel' | 'rule' | 'severity'>,
): Record<string, string> {
  // No prototype: label names are user-chosen, and `__proto__` or `constructor` must be plain keys.
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(alert.labels ?? {})) if (typeof v === 'string') out[k] = v;
  if (alert.segment) out[alert.segment.dimension] = alert.segment.value;
  out.funnel = alert.funnel;
  out.rule = alert.rule;
  out.severity = alert.severity;
  out.segment = alert.segment ? `${alert.segment.dimension}=${alert.segment.value}` : '';
  return out;
}

export function silenceState(s: Pick<Silence, 'startsAt' | 'endsAt'>, now: number): SilenceState {
  if (now < s.startsAt) return 'pending';
  if (now >= s.endsAt) return 'expired';
  return 'active';
}

/**
 * The active silence that mutes an alert with these labels, or undefined. When several match, the one that ends
 * last, so a message saying "muted until …" names the time the alert really becomes audible again.
 */
export function matchingSilence(
  labels: Record<string, string>,
  silences: readonly Silence[],
  now: number,
): Silence | undefined {
  let best: Silence | undefined;
  for (const s of silences) {
    if (silenceState(s, now) !== 'active') continue;
    if (best && s.endsAt <= best.endsAt) continue;
    if (matchesAll(s.matchers, labels)) best = s;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------------
// Validation of a new silence (POST /v1/silences)

const requiredString = (what: string) =>
  z.string({ error: (iss) => (iss.input === undefined ? 'required' : `must be a string (${what})`) });

const matcherObject = z
  .strictObject(
    {
      name: requiredString('a label name such as funnel, rule, severity, segment or a segment dimension').refine(
        (n) => explainMatcherName(n) === undefined,
        { error: (iss) => explainMatcherName(String(iss.input)) },
      ),
      op: z
        .enum(MATCH_OPS as [MatchOp, ...MatchOp[]], { error: () => 'must be one of "=", "!=", "=~", "!~"' })
        .default('='),
      value: requiredString('"" matches alerts without the label'),
    },
    { error: () => `must be a matcher: an object {name, op, value} or a string; ${MATCHER_HELP}` },
  )
  .superRefine((m, ctx) => {
    const why = explainMatcherValue(m);
    if (why) ctx.addIssue({ code: 'custom', path: ['value'], message: why });
  });

// A matcher may also be written as on the command line (`"funnel=checkout"`), which is handier from curl.
const matcherItem = z.preprocess((v, ctx) => {
  if (typeof v !== 'string') return v;
  const r = tryParseMatcher(v);
  if (r.ok) return r.matcher;
  ctx.addIssue({ code: 'custom', message: r.message, input: v });
  return z.NEVER;
}, matcherObject);

const timeField = z
  .unknown()
  .transform((v, ctx) => {
    const r = parseTime(v);
    if (r.ok) return r.ms;
    ctx.addIssue({ code: 'custom', message: r.message, input: v });
    return z.NEVER;
  })
  .optional();

const durationField = z
  .string({ error: (iss) => explainDuration(iss.input) })
  .regex(new RegExp(DURATION_PATTERN), { error: (iss) => explainDuration(iss.input), abort: true })
  .transform(parseDuration)
  .optional();

const nonEmpty = (what: string, max: number) =>
  requiredString(what)
    .trim()
    .min(1, { error: () => `must not be empty (${what})` })
    .max(max, { error: () => `is longer than ${max} characters` });

const SILENCE_BODY = z.strictObject(
  {
    matchers: z
      .array(matcherItem, {
        error: (iss) =>
          iss.input === undefined
            ? 'required: at least one matcher, e.g. {"name": "funnel", "value": "checkout"}'
            : 'must be an array of matchers',
      })
      .min(1, { error: () => 'needs at least one matcher, e.g. {"name": "funnel", "value": "checkout"}' })
      .max(SILENCE_LIMITS.matchers, { error: () => `holds more than ${SILENCE_LIMITS.matchers} matchers` }),
    startsAt: timeField,
    endsAt: timeField,
    duration: durationField,
    createdBy: nonEmpty('who is silencing', SILENCE_LIMITS.createdByChars),
    comment: nonEmpty('why: a ticket, a maintenance, a known cause', SILENCE_LIMITS.commentChars),
  },
  { error: () => 'the body must be a JSON object with matchers, endsAt or duration, createdBy and comment' },
);

export type SilenceValidation = { ok: true; value: SilenceInput } | { ok: false; problems: string[] };

/**
 * Checks a request body for a new silence. Every problem names its field (`matchers[1].value: …`), so one answer
 * tells the writer everything to fix. `startsAt` defaults to now; one in the past becomes now, because a silence
 * cannot have muted anything before it existed and its record should not claim otherwise. The end is `endsAt` or
 * `duration` (from the start), not both.
 */
export function validateSilenceInput(body: unknown, now: number): SilenceValidation {
  const parsed = SILENCE_BODY.safeParse(body);
  if (!parsed.success) return { ok: false, problems: parsed.error.issues.flatMap(issueProblems) };
  const b = parsed.data;
  const problems: string[] = [];

  const startsAt = Math.max(b.startsAt ?? now, now);
  let endsAt: number | undefined;
  if (b.endsAt !== undefined && b.duration !== undefined) {
    problems.push('duration: give endsAt or duration, not both');
  } else if (b.duration !== undefined) {
    if (b.duration <= 0) problems.push('duration: must be longer than 0s');
    else endsAt = startsAt + b.duration;
  } else if (b.endsAt !== undefined) {
    endsAt = b.endsAt;
    if (endsAt <= now)
      problems.push(
        `endsAt: must be in the future ` +
          `(it is ${new Date(endsAt).toISOString()}, now is ${new Date(now).toISOString()})`,
      );
    else if (endsAt <= startsAt) problems.push(`endsAt: must be after startsAt (${new Date(startsAt).toISOString()})`);
  } else {
    problems.push('endsAt: required: give endsAt (a time) or duration (e.g. "2h")');
  }

  const maxEnd = now + SILENCE_LIMITS.maxEndMs;
  if (endsAt !== undefined && endsAt > maxEnd) {
    problems.push(
      `${b.duration !== undefined ? 'duration' : 'endsAt'}: the silence must end within 365 days ` +
        `(by ${new Date(maxEnd).toISOString()}); create a new one when it ends`,
    );
  }

  if (!silenceIsSelective(b.matchers)) {
    problems.push(
      'matchers: at least one matcher must select something: each of these also matches alerts that lack the ' +
        'label or have (nearly) any value, so the silence would mute nearly every alert; ' +
        'add one such as funnel=checkout or rule=checkout-conversion',
    );
  }

  if (problems.length > 0 || endsAt === undefined) return { ok: false, problems };
  return { ok: true, value: { matchers: b.matchers, startsAt, endsAt, createdBy: b.createdBy, comment: b.comment } };
}

type Issue = z.core.$ZodIssue;

function issueProblems(issue: Issue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${pathText([...issue.path, k])}: unknown field`);
  }
  const where = pathText(issue.path);
  return [where ? `${where}: ${issue.message}` : issue.message];
}
