import { describe, it, expect } from 'vitest';
import { didYouMean, editDistance } from '../../../src/rules/did-you-mean.js';

const RULE_KEYS = [
  'name',
  'description',
  'metric',
  'drop',
  'increase',
  'baseline',
  'false_alarms',
  'min_volume',
  'for',
  'resolve_after',
  'severity',
  'segments',
  'notify',
  'owner',
  'runbook',
  'labels',
  'mix_shift',
];

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['abc', '', 3],
    ['kitten', 'sitting', 3],
    ['for', 'fro', 1], // adjacent swap counts once
    ['segments', 'segemnts', 1],
    ['drop', 'drop', 0],
  ])('%j → %j is %d', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
    expect(editDistance(b, a)).toBe(d);
  });
});

describe('didYouMean', () => {
  it.each([
    ['resolve_afer', 'resolve_after'],
    ['resolveAfter', 'resolve_after'],
    ['Resolve-After', 'resolve_after'],
    ['min_volumes', 'min_volume'],
    ['serverity', 'severity'],
    ['segemnts', 'segments'],
    ['fro', 'for'],
    ['false_alarm', 'false_alarms'],
    ['runbok', 'runbook'],
  ])('%s → %s', (typo, meant) => {
    expect(didYouMean(typo, RULE_KEYS)).toBe(meant);
  });

  it('suggests nothing when nothing is close', () => {
    expect(didYouMean('threshold', RULE_KEYS)).toBeUndefined();
    expect(didYouMean('x', RULE_KEYS)).toBeUndefined();
    expect(didYouMean('anything', [])).toBeUndefined();
  });

  it('does not suggest the word itself', () => {
    expect(didYouMean('drop', ['drop'])).toBeUndefined();
  });
});
