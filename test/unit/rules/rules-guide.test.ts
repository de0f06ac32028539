/**
 * docs/rules-guide.md: its five recipes are copy-paste material for product people, so each one must load, as
 * written, next to the example rules in rules/ (the checkout funnel and the receivers they name).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { checkRuleSources, type RuleSource } from '../../../src/rules/loader.js';
import { formatProblem } from '../../../src/rules/problem.js';

const guide = readFileSync('docs/rules-guide.md', 'utf8');
const recipes = [
  ...guide.slice(guide.indexOf('## Recipes')).matchAll(/^### (.+)\n[\s\S]*?```yaml\n([\s\S]*?)```/gm),
].map((m) => [m[1]!, m[2]!] as const);
const examples: RuleSource[] = readdirSync('rules')
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => ({ path: join('rules', f), text: readFileSync(join('rules', f), 'utf8') }));

describe('the rules guide', () => {
  it('has the five commonest rules as recipes', () => {
    expect(recipes.map(([title]) => title)).toEqual([
      '1. Fewer customers complete checkout (the page that matters most)',
      '2. Checkout completion on Android drops 5 %',
      '3. A payment provider fails',
      '4. Nobody reaches checkout any more',
      '5. Paying got slow',
    ]);
  });

  it.each(recipes)('recipe "%s" loads next to the example rules, receivers required', (_title, yaml) => {
    const r = checkRuleSources([...examples, { path: 'rules/recipe.yaml', text: yaml }], { requireReceivers: true });
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    expect(r.ok && r.ruleSet.rules.length).toBe(8);
  });

  it('the Android recipe watches the android slice', () => {
    const r = checkRuleSources([...examples, { path: 'rules/recipe.yaml', text: recipes[1]![1] }]);
    expect(r.ok && r.ruleSet.rules.find((x) => x.name === 'checkout-completion-drop-android')?.where).toEqual({
      dimension: 'platform',
      values: ['android'],
    });
  });
});
