/**
 * Silences as pure functions: matchers parsed as typed on the command line (quoting, operators, bad names and
 * regexes), written back so they parse the same, the labels an alert shows to matchers, silence states at their
 * edges, matching (anchored regexes, negative operators on a missing label, several silences), and the messages of
 * validateSilenceInput, field by field.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { AlertTransition } from '../../../src/model/alert-transition.js';
import { FwError } from '../../../src/core/errors.js';
import {
  alertLabels,
  formatMatcher,
  isSelective,
  matchingSilence,
  parseMatcher,
  silenceState,
  validateSilenceInput,
  type Matcher,
  type Silence,
} from '../../../src/notify/silences.js';
import { parseTime } from '../../../src/core/time-parse.js';

const NOW = Date.UTC(2025, 0, 6, 12, 0);
const H = 3_600_000;

function alert(over: Partial<AlertTransition> = {}): AlertTransition {
  return {
    id: 'a#1',
    kind: 'firing',
    at: NOW,
    rule: 'checkout-conversion',
    funnel: 'checkout',
    segment: { dimension: 'payment_provider', value: 'stripe' },
    severity: 'critical',
    notify: ['#payments'],
    labels: { team: 'payments' },
    from: 'pending',
    to: 'firing',
    ruleSetVersion: 'v1',
    ...over,
  };
}

function silence(matchers: string[], over: Partial<Silence> = {}): Silence {
  return {
    id: `s-${matchers.join(',')}`,
    matchers: matchers.map(parseMatcher),
    startsAt: NOW - H,
    endsAt: NOW + H,
    createdBy: 'ana',
    comment: 'test',
    createdAt: NOW - H,
    ...over,
  };
}

function parseError(text: string): string {
  try {
    parseMatcher(text);
  } catch (err) {
    expect(err).toBeInstanceOf(FwError);
    expect((err as FwError).code).toBe('BAD_MATCHER');
    return (err as Error).message;
  }
  throw new Error(`${text} parsed`);
}

describe('parseMatcher', () => {
  it('reads the four operators, with the value verbatim after the first operator', () => {
    expect(parseMatcher('funnel=checkout')).toEqual({ name: 'funnel', op: '=', value: 'checkout' });
    expect(parseMatcher('rule!=x')).toEqual({ name: 'rule', op: '!=', value: 'x' });
    expect(parseMatcher('segment=~payment_provider=(stripe|adyen)')).toEqual({
      name: 'segment',
      op: '=~',
      value: 'payment_provider=(stripe|adyen)',
    });
    expect(parseMatcher('team!~pay.*')).toEqual({ name: 'team', op: '!~', value: 'pay.*' });
    expect(parseMatcher('geo.region-1=eu')).toEqual({ name: 'geo.region-1', op: '=', value: 'eu' });
    expect(parseMatcher(' team = payments ')).toEqual({ name: 'team', op: '=', value: 'payments' });
    expect(parseMatcher('team=')).toEqual({ name: 'team', op: '=', value: '' });
  });

  it('takes quoted values: double quotes with \\" and \\\\ as the only escapes, single quotes literally', () => {
    expect(parseMatcher('segment=~"payment_provider=(stripe|adyen)"')).toEqual({
      name: 'segment',
      op: '=~',
      value: 'payment_provider=(stripe|adyen)',
    });
    expect(parseMatcher('team=""')).toEqual({ name: 'team', op: '=', value: '' });
    expect(parseMatcher('comment="a \\"quoted\\" word"').value).toBe('a "quoted" word');
    expect(parseMatcher('step=~"step\\d+"').value).toBe('step\\d+');
    expect(parseMatcher('path="C:\\\\tmp"').value).toBe('C:\\tmp');
    expect(parseMatcher('team=\'pay "ments"\'').value).toBe('pay "ments"');
  });

  it('says what is wrong with a malformed matcher', () => {
    expect(parseError('checkout')).toMatch(/"checkout" is not a matcher: write name=value/);
    expect(parseError('=checkout')).toMatch(/no label name before "="/);
    expect(parseError('1funnel=checkout')).toMatch(/label name "1funnel" must start with a letter or _/);
    expect(parseError('team="payments')).toMatch(/has no closing "/);
    expect(parseError('team="pay\\"')).toMatch(/has no closing "/);
    expect(parseError('team="a"b"')).toMatch(/has a " inside/);
  });

  it('refuses a bad regular expression, naming it and the reason', () => {
    expect(parseError('segment=~"(stripe"')).toMatch(
      /^matcher segment=~"\(stripe": invalid regular expression "\(stripe": missing closing \): `\(stripe`$/,
    );
    expect(parseError('rule!~*x')).toMatch(/invalid regular expression "\*x": missing argument to repetition operator/);
    // Valid only once wrapped in ^(?:…)$, where it would no longer be anchored: refused.
    expect(parseError('rule=~a)|(b')).toMatch(/invalid regular expression "a\)\|\(b"/);
  });

  it('formatMatcher writes what parseMatcher reads back unchanged', () => {
    expect(formatMatcher({ name: 'funnel', op: '=', value: 'checkout' })).toBe('funnel=checkout');
    expect(formatMatcher({ name: 'segment', op: '=~', value: 'p=(a|b)' })).toBe('segment=~"p=(a|b)"');
    expect(formatMatcher({ name: 'team', op: '=', value: '' })).toBe('team=""');
    const matcher = fc.record({
      name: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,10}$/),
      op: fc.constantFrom('=', '!=') as fc.Arbitrary<Matcher['op']>,
      value: fc.string({ maxLength: 12 }),
    });
    fc.assert(
      fc.property(matcher, (m) => {
        expect(parseMatcher(formatMatcher(m))).toEqual(m);
      }),
    );
  });
});

describe('alertLabels', () => {
  it('shows funnel, rule, severity, segment, the segment dimension and the rule labels', () => {
    expect({ ...alertLabels(alert()) }).toEqual({
      funnel: 'checkout',
      rule: 'checkout-conversion',
      severity: 'critical',
      segment: 'payment_provider=stripe',
      payment_provider: 'stripe',
      team: 'payments',
    });
  });

  it('gives the funnel-wide alert an empty segment', () => {
    expect({ ...alertLabels(alert({ segment: null })) }).toEqual({
      funnel: 'checkout',
      rule: 'checkout-conversion',
      severity: 'critical',
      segment: '',
      team: 'payments',
    });
  });

  it('lets built-in names win over rule labels and segment dimensions, and the dimension over rule labels', () => {
    const labels = alertLabels(
      alert({
        labels: { funnel: 'spoof', severity: 'info', platform: 'web' },
        segment: { dimension: 'platform', value: 'ios' },
      }),
    );
    expect(labels.funnel).toBe('checkout');
    expect(labels.severity).toBe('critical');
    expect(labels.platform).toBe('ios');
    const odd = alertLabels(alert({ segment: { dimension: 'rule', value: 'x' } }));
    expect(odd.rule).toBe('checkout-conversion');
    expect(odd.segment).toBe('rule=x');
  });

  it('keeps label names like __proto__ as plain labels', () => {
    const labels = alertLabels(
      alert({ labels: JSON.parse('{"__proto__": "p", "constructor": "c"}') as Record<string, string> }),
    );
    expect(labels['__proto__']).toBe('p');
    expect(matchingSilence(labels, [silence(['__proto__=p', 'funnel=checkout'])], NOW)).toBeDefined();
    // A label the alert lacks is "" even when Object.prototype has something by that name.
    expect(matchingSilence(alertLabels(alert()), [silence(['toString=', 'funnel=checkout'])], NOW)).toBeDefined();
  });
});

describe('silenceState', () => {
  it('is pending before the start, active from the start, expired from the end', () => {
    const s = { startsAt: NOW, endsAt: NOW + H };
    expect(silenceState(s, NOW - 1)).toBe('pending');
    expect(silenceState(s, NOW)).toBe('active');
    expect(silenceState(s, NOW + H - 1)).toBe('active');
    expect(silenceState(s, NOW + H)).toBe('expired');
  });
});

describe('matchingSilence', () => {
  const labels = alertLabels(alert());

  it('needs every matcher to match, regexes anchored at both ends', () => {
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'payment_provider=stripe'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'payment_provider=adyen'])], NOW)).toBeUndefined();
    expect(matchingSilence(labels, [silence(['segment=~"payment_provider=(stripe|adyen)"'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=~check'])], NOW)).toBeUndefined();
    expect(matchingSilence(labels, [silence(['funnel=~check.*'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['payment_provider=~stri'])], NOW)).toBeUndefined();
  });

  it('compares a missing label as "": != and !~ match it, = "" selects alerts without it', () => {
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'env!=prod'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'env!~prod|staging'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'env!~.*'])], NOW)).toBeUndefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'env=""'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'env=prod'])], NOW)).toBeUndefined();
    const wide = alertLabels(alert({ segment: null }));
    expect(matchingSilence(wide, [silence(['funnel=checkout', 'segment=""'])], NOW)).toBeDefined();
    expect(matchingSilence(labels, [silence(['funnel=checkout', 'segment=""'])], NOW)).toBeUndefined();
  });

  it('ignores pending and expired silences, and picks the one ending last among several', () => {
    const pending = silence(['funnel=checkout'], { id: 'pending', startsAt: NOW + 1 });
    const expired = silence(['funnel=checkout'], { id: 'expired', endsAt: NOW });
    expect(matchingSilence(labels, [pending, expired], NOW)).toBeUndefined();
    const short = silence(['funnel=checkout'], { id: 'short', endsAt: NOW + H });
    const long = silence(['rule=checkout-conversion'], { id: 'long', endsAt: NOW + 5 * H });
    const other = silence(['funnel=signup'], { id: 'other', endsAt: NOW + 9 * H });
    expect(matchingSilence(labels, [short, long, other, pending], NOW)?.id).toBe('long');
    expect(matchingSilence(labels, [], NOW)).toBeUndefined();
  });
});

describe('isSelective', () => {
  it('refuses matchers that match the empty string or any value', () => {
    const sel = (t: string) => isSelective(parseMatcher(t));
    expect(sel('funnel=checkout')).toBe(true);
    expect(sel('funnel=~check.*')).toBe(true);
    expect(sel('rule=~.*')).toBe(false);
    expect(sel('rule=~.+')).toBe(false);
    expect(sel('rule!=""')).toBe(false);
    expect(sel('rule!~""')).toBe(false);
    expect(sel('rule!=x')).toBe(false);
    expect(sel('segment=""')).toBe(false);
  });
});

describe('parseTime', () => {
  it('takes ISO 8601 with a zone or epoch milliseconds, and refuses the rest', () => {
    expect(parseTime('2025-01-06T14:00:00Z')).toEqual({ ok: true, ms: Date.UTC(2025, 0, 6, 14) });
    expect(parseTime('2025-01-06T15:00+01:00')).toEqual({ ok: true, ms: Date.UTC(2025, 0, 6, 14) });
    expect(parseTime('2025-01-06T14:00:00.250Z')).toEqual({ ok: true, ms: Date.UTC(2025, 0, 6, 14) + 250 });
    expect(parseTime(NOW)).toEqual({ ok: true, ms: NOW });
    for (const bad of ['2025-01-06T14:00:00', 'tomorrow', '2025-02-30T00:00:00Z', -1, 1.5, null]) {
      expect(parseTime(bad)).toMatchObject({ ok: false, message: expect.stringMatching(/ISO 8601 time with a zone/) });
    }
  });
});

describe('validateSilenceInput', () => {
  const good = {
    matchers: [{ name: 'funnel', value: 'checkout' }],
    duration: '2h',
    createdBy: 'ana',
    comment: 'payment provider maintenance',
  };
  const problems = (body: unknown) => {
    const r = validateSilenceInput(body, NOW);
    if (r.ok) throw new Error(`accepted ${JSON.stringify(body)}`);
    return r.problems;
  };

  it('accepts a good body: op defaults to =, start to now, the end from a duration; strings as matchers too', () => {
    expect(validateSilenceInput(good, NOW)).toEqual({
      ok: true,
      value: {
        matchers: [{ name: 'funnel', op: '=', value: 'checkout' }],
        startsAt: NOW,
        endsAt: NOW + 2 * H,
        createdBy: 'ana',
        comment: 'payment provider maintenance',
      },
    });
    const r = validateSilenceInput(
      {
        ...good,
        matchers: ['funnel=checkout', 'segment=~"payment_provider=(stripe|adyen)"'],
        duration: undefined,
        startsAt: '2025-01-06T13:00:00Z',
        endsAt: Date.UTC(2025, 0, 6, 15),
        createdBy: '  ana  ',
      },
      NOW,
    );
    expect(r).toEqual({
      ok: true,
      value: {
        matchers: [
          { name: 'funnel', op: '=', value: 'checkout' },
          { name: 'segment', op: '=~', value: 'payment_provider=(stripe|adyen)' },
        ],
        startsAt: NOW + H,
        endsAt: NOW + 3 * H,
        createdBy: 'ana',
        comment: 'payment provider maintenance',
      },
    });
  });

  it('moves a start in the past to now', () => {
    const r = validateSilenceInput({ ...good, startsAt: NOW - 5 * H }, NOW);
    expect(r).toMatchObject({ ok: true, value: { startsAt: NOW, endsAt: NOW + 2 * H } });
  });

  it('names the field of each problem in a matcher', () => {
    expect(
      problems({
        ...good,
        matchers: [
          { name: 'funnel', value: 'checkout' },
          { name: 'segment', op: '=~', value: '(stripe' },
          { name: '1x', value: 'a' },
          { op: '~', value: 3 },
          'nonsense',
        ],
      }),
    ).toEqual([
      'matchers[1].value: invalid regular expression "(stripe": missing closing ): `(stripe`',
      'matchers[2].name: the label name "1x" must start with a letter or _ and hold only letters, digits, _, . and -',
      'matchers[3].name: required',
      'matchers[3].op: must be one of "=", "!=", "=~", "!~"',
      'matchers[3].value: must be a string ("" matches alerts without the label)',
      expect.stringMatching(/^matchers\[4\]: "nonsense" is not a matcher/),
    ]);
  });

  it('needs at least one matcher, at most 100, and one that selects something', () => {
    expect(problems({ ...good, matchers: [] })).toEqual([
      expect.stringMatching(/^matchers: needs at least one matcher/),
    ]);
    expect(problems({ ...good, matchers: Array.from({ length: 101 }, (_, i) => `l${i}=x`) })).toEqual([
      'matchers: holds more than 100 matchers',
    ]);
    expect(problems({ ...good, matchers: ['rule=~.*'] })).toEqual([
      expect.stringMatching(/^matchers: at least one matcher must select something/),
    ]);
    expect(problems({ ...good, matchers: ['rule=~.*', 'team!=payments'] })).toHaveLength(1);
    expect(validateSilenceInput({ ...good, matchers: ['rule=~.*', 'team=payments'] }, NOW).ok).toBe(true);
  });

  it('checks the times: end after start, in the future, one of endsAt or duration', () => {
    expect(problems({ ...good, duration: undefined, startsAt: NOW + 3 * H, endsAt: NOW + 2 * H })).toEqual([
      'endsAt: must be after startsAt (2025-01-06T15:00:00.000Z)',
    ]);
    expect(problems({ ...good, duration: undefined, endsAt: '2025-01-06T11:00:00Z' })).toEqual([
      expect.stringMatching(/^endsAt: must be in the future/),
    ]);
    expect(problems({ ...good, duration: undefined })).toEqual([
      expect.stringMatching(/^endsAt: required: give endsAt \(a time\) or duration/),
    ]);
    expect(problems({ ...good, endsAt: NOW + H })).toEqual(['duration: give endsAt or duration, not both']);
    expect(problems({ ...good, duration: '0s' })).toEqual(['duration: must be longer than 0s']);
    expect(problems({ ...good, duration: '1.5h' })).toEqual([
      expect.stringMatching(/^duration: "1.5h" is not a duration: .*did you mean "1h30m"/),
    ]);
    expect(problems({ ...good, duration: undefined, endsAt: 'tomorrow' })).toEqual([
      expect.stringMatching(/^endsAt: "tomorrow" is not a time/),
    ]);
  });

  it('needs createdBy and comment, not blank; refuses unknown fields and non-objects', () => {
    expect(problems({ matchers: good.matchers, duration: '1h' })).toEqual(['createdBy: required', 'comment: required']);
    expect(problems({ ...good, createdBy: ' ', comment: 7 })).toEqual([
      'createdBy: must not be empty (who is silencing)',
      expect.stringMatching(/^comment: must be a string/),
    ]);
    expect(problems({ ...good, endAt: NOW + H })).toEqual(['endAt: unknown field']);
    expect(problems({ ...good, matchers: [{ name: 'a', value: 'b', isRegex: true }] })).toEqual([
      'matchers[0].isRegex: unknown field',
    ]);
    expect(problems(null)).toEqual([
      'the body must be a JSON object with matchers, endsAt or duration, createdBy and comment',
    ]);
    expect(problems([good])).toEqual([
      'the body must be a JSON object with matchers, endsAt or duration, createdBy and comment',
    ]);
  });
});
