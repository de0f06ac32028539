import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { configMarkdown } from '../../../src/config/config.js';
import { deliverySamplesMarkdown } from '../../../src/notify/samples.js';

describe('README', () => {
  it('has the configuration table the code generates (run `npm run docs` after changing a variable)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const start = readme.indexOf('<!-- config-table: generated');
    const end = readme.indexOf('<!-- /config-table -->');
    expect(start).toBeGreaterThan(0);
    const table = readme.slice(readme.indexOf('\n', start) + 1, end).trim();
    expect(table).toBe(configMarkdown());
  });

  it(
    'shows the Slack, PagerDuty and console samples the receivers produce ' +
      '(run `npm run docs` after changing them)',
    () => {
      const readme = readFileSync('README.md', 'utf8');
      const start = readme.indexOf('<!-- delivery-samples: generated');
      const end = readme.indexOf('<!-- /delivery-samples -->');
      expect(start).toBeGreaterThan(0);
      expect(readme.slice(readme.indexOf('\n', start) + 1, end).trim()).toBe(deliverySamplesMarkdown());
    },
  );

  it('names exactly the two set-up commands in its quick start', () => {
    const readme = readFileSync('README.md', 'utf8');
    const quick = readme.slice(
      readme.indexOf('## Quick start'),
      readme.indexOf('\n## ', readme.indexOf('## Quick start') + 5),
    );
    const commands = [...quick.matchAll(/^(npm [a-z: ]+?)\s+#/gm)].map((m) => m[1]!.trim());
    expect(commands).toEqual(['npm run demo', 'npm test']);
  });
});
