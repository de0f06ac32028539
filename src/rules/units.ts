/**
 * The small quantities people write in rule files: durations (`30s`, `5m`, `1h30m`), percentages (`5%`), alarm
 * budgets (`1/week`) and percentiles (`p95`). Each has a regular expression (the JSON Schema uses it too, so the
 * editor underlines the same things `funnelwatch validate` rejects), a parser into the unit the code works in
 * (milliseconds, fractions, alarms per week), and an explanation for a value that does not parse, written for the
 * person who typed it.
 */
import { FwError } from '../core/errors.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

const UNIT_MS: Record<string, number> = { w: WEEK, d: DAY, h: HOUR, m: MINUTE, s: SECOND };

/**
 * Whole numbers with a unit, largest unit first, each unit at most once: `30s`, `5m`, `2h`, `3d`, `1w`, `1h30m`.
 * No fractions (`1.5h`): `90m` says the same without rounding questions. The lookahead rejects the empty string.
 */
export const DURATION_PATTERN = '^(?=\\d)(?:\\d+w)?(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?(?:\\d+s)?$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** `5%`, `0.5%`, `100%`. */
export const PERCENT_PATTERN = '^\\d+(?:\\.\\d+)?%$';
const PERCENT_RE = new RegExp(PERCENT_PATTERN);

/** `1/week`, `2/month`, `0.5/day`. */
export const RATE_PATTERN = '^\\d+(?:\\.\\d+)?/(?:day|week|month|year)$';
const RATE_RE = new RegExp(RATE_PATTERN);

/** `p50`, `p95`, `p99.9`. */
export const PERCENTILE_PATTERN = '^p(?:[1-9]\\d?)(?:\\.\\d+)?$';
const PERCENTILE_RE = new RegExp(PERCENTILE_PATTERN);

/** Words people write for units, mapped to ours; used only to suggest a fix (`5mins` → `5m`). */
const UNIT_WORDS: Record<string, string> = {
  s: 's',
  sec: 's',
  secs: 's',
  second: 's',
  seconds: 's',
  m: 'm',
  min: 'm',
  mins: 'm',
  minute: 'm',
  minutes: 'm',
  h: 'h',
  hr: 'h',
  hrs: 'h',
  hour: 'h',
  hours: 'h',
  d: 'd',
  day: 'd',
  days: 'd',
  w: 'w',
  wk: 'w',
  wks: 'w',
  week: 'w',
  weeks: 'w',
};

const DURATION_HELP = 'write a whole number followed by s, m, h, d or w, e.g. 30s, 5m, 2h, 3d, 1w (or 1h30m)';

/** Why `text` is not a duration, with a suggested spelling when one is obvious; undefined when it is one. */
export function explainDuration(text: unknown): string | undefined {
  if (typeof text === 'number') {
    return `${text} has no unit: ${DURATION_HELP}`;
  }
  if (typeof text !== 'string') return `expected a duration: ${DURATION_HELP}`;
  if (DURATION_RE.test(text)) return undefined;
  const suggestion = suggestDuration(text);
  return `"${text}" is not a duration: ${DURATION_HELP}${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`;
}

function suggestDuration(text: string): string | undefined {
  const t = text.trim().toLowerCase();
  // `5mins`, `5 minutes`, `2 hrs`
  const word = /^(\d+)\s*([a-z]+)$/.exec(t);
  if (word) {
    const unit = UNIT_WORDS[word[2]!];
    if (unit) return `${word[1]}${unit}`;
    if (word[2] === 'ms') return undefined; // nothing in a rule needs milliseconds; say so via the help text only
  }
  // `1.5h` → `90m`: say it in the next smaller unit when that gives a whole number.
  const frac = /^(\d+\.\d+)\s*([a-z]+)$/.exec(t);
  if (frac) {
    const unit = UNIT_WORDS[frac[2]!];
    if (unit) {
      const ms = Number(frac[1]) * UNIT_MS[unit]!;
      if (Number.isInteger(ms / SECOND)) return formatDuration(ms);
    }
  }
  return undefined;
}

/** Milliseconds of a valid duration; throws `FwError('invalid_duration')` otherwise (callers validate first). */
export function parseDuration(text: string): number {
  const why = explainDuration(text);
  if (why !== undefined) throw new FwError('invalid_duration', why);
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([wdhms])/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/** The shortest spelling of a whole number of seconds, largest unit first: 90_000 → `1m30s`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0 || ms % SECOND !== 0) {
    throw new FwError('invalid_duration', `cannot write ${ms} ms as a rule duration (whole seconds only)`);
  }
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}

/** Why `text` is not a percentage; undefined when it is one. */
export function explainPercent(text: unknown): string | undefined {
  if (typeof text === 'number') {
    return (
      `${text} needs a % sign: ` +
      `write ${text <= 1 && text > 0 ? `${+(text * 100).toFixed(6)}% (for a fraction of ${text}) or ` : ''}${text}%`
    );
  }
  if (typeof text !== 'string') return 'expected a percentage such as 5%';
  if (PERCENT_RE.test(text)) return undefined;
  const bare = /^\s*(\d+(?:\.\d+)?)\s*(%|percent|pct)?\s*$/i.exec(text);
  return (
    `"${text}" is not a percentage: write a number followed by %, ` +
    `e.g. 5%${bare ? ` (did you mean "${bare[1]}%"?)` : ''}`
  );
}

/** `5%` → 0.05. */
export function parsePercent(text: string): number {
  const why = explainPercent(text);
  if (why !== undefined) throw new FwError('invalid_percent', why);
  // Divide the decimal string rather than the float so `0.3%` gives 0.003, not 0.0030000000000000005.
  return Number((Number(text.slice(0, -1)) / 100).toPrecision(12));
}

/** Alarms per period, converted to alarms per week (a month is 1/12 of a Gregorian year). */
const PER_WEEK: Record<string, number> = { day: 7, week: 1, month: (7 * 12) / 365.2425, year: 7 / 365.2425 };

/** Why `text` is not an alarm budget; undefined when it is one. */
export function explainRate(text: unknown): string | undefined {
  if (typeof text === 'string' && RATE_RE.test(text)) return undefined;
  const shown = typeof text === 'string' ? `"${text}"` : String(text);
  let suggestion: string | undefined;
  if (typeof text === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/|per|a|an)\s*(day|week|month|year)s?\s*$/i.exec(text);
    if (m) suggestion = `${m[1]}/${m[2]!.toLowerCase()}`;
  }
  return (
    `${shown} is not an alarm budget: ` +
    `write alarms per period, e.g. 1/week, 2/month, 1/day${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`
  );
}

/** `2/month` → alarms per week. */
export function parseRatePerWeek(text: string): number {
  const why = explainRate(text);
  if (why !== undefined) throw new FwError('invalid_rate', why);
  const [count, period] = text.split('/') as [string, string];
  return Number(count) * PER_WEEK[period]!;
}

/** Why `text` is not a percentile; undefined when it is one. */
export function explainPercentile(text: unknown): string | undefined {
  if (typeof text === 'string' && PERCENTILE_RE.test(text)) return undefined;
  const shown = typeof text === 'string' ? `"${text}"` : String(text);
  const n = typeof text === 'number' ? text : typeof text === 'string' ? Number(text.replace(/^p|%$/gi, '')) : NaN;
  const suggestion = Number.isFinite(n) && n > 0 && n < 100 ? `p${n}` : undefined;
  return (
    `${shown} is not a percentile: write p followed by a number between 1 and 99.9, ` +
    `e.g. p50, p95, p99${suggestion ? ` (did you mean "${suggestion}"?)` : ''}`
  );
}

/** `p95` → 0.95. */
export function parsePercentile(text: string): number {
  const why = explainPercentile(text);
  if (why !== undefined) throw new FwError('invalid_percentile', why);
  return Number((Number(text.slice(1)) / 100).toPrecision(12));
}

export const DURATIONS = { SECOND, MINUTE, HOUR, DAY, WEEK } as const;
