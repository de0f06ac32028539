import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { probeArtifacts } from '../../../src/probes/artifacts.js';
import { checkJourneySources, loadJourneyPaths } from '../../../src/probes/load.js';
import { formatProblem } from '../../../src/rules/problem.js';

const GOOD = `name: signup
funnel: signup
every: 1m
base_url: { production: "http://127.0.0.1:1" }
secrets:
  password: { env: PROBE_PW }
steps:
  - name: create
    event: signup_started
    method: POST
    url: /signup
    body: { email: "{{ unique_email }}", password: "{{ secrets.password }}" }
    extract: { token: { json: $.token } }
  - name: confirm
    url: /me
    headers: { authorization: "Bearer {{ vars.token }}" }
    expect: { status: 200, body: { "$.ok": true }, latency: 2s }
`;

function problems(text: string, environment = 'production'): string[] {
  const r = checkJourneySources([{ path: 'probes/j.yaml', text }], { environment });
  return r.ok ? [] : r.problems.map(formatProblem);
}

describe('journey files', () => {
  it('a valid journey loads with its defaults and parsed durations', () => {
    const r = checkJourneySources([{ path: 'probes/j.yaml', text: GOOD }], { environment: 'production' });
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
    const j = r.set.journeys[0]!;
    expect(j).toMatchObject({
      name: 'signup',
      everyMs: 60_000,
      baseUrl: 'http://127.0.0.1:1',
      emailDomain: 'example.com',
    });
    expect(j.steps[0]).toMatchObject({ method: 'POST', timeoutMs: 10_000, status: [], event: 'signup_started' });
    expect(j.steps[1]).toMatchObject({ method: 'GET', status: [200], maxLatencyMs: 2000 });
    expect(j.steps[1]!.bodyExpect).toEqual([{ path: '$.ok', value: 'true' }]);
    expect(r.set.version).toMatch(/^p-[0-9a-f]{16}$/);
  });

  it('a schema error is reported path:line:col at the offending node', () => {
    expect(problems(GOOD.replace('every: 1m', 'every: 1 minute'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:3:8: every: .*/),
    ]);
    expect(problems(GOOD.replace('    method: POST', '    methd: POST'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:10:5: unknown field "methd".*did you mean "method"/),
    ]);
  });

  it('a template naming an undeclared secret, a value no earlier step extracts, or nothing known, is located', () => {
    expect(problems(GOOD.replace('secrets.password', 'secrets.pasword'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:12:52: \{\{ secrets\.pasword \}\}: the journey declares no secret/),
    ]);
    expect(problems(GOOD.replace('vars.token', 'vars.tokn'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:16:31: \{\{ vars\.tokn \}\}: no earlier step extracts "tokn"/),
    ]);
    expect(problems(GOOD.replace('{{ unique_email }}', '{{ email }}'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:12:20: unknown template "email"/),
    ]);
  });

  it('an environment without a base URL and a secret written in the file are refused', () => {
    expect(problems(GOOD, 'staging')).toEqual([
      expect.stringMatching(
        /^probes\/j\.yaml:4:11: base_url has no entry for the environment "staging" \(it lists production\)/,
      ),
    ]);
    expect(problems(GOOD.replace('{ env: PROBE_PW }', 'hunter2'))).toEqual([
      expect.stringMatching(/^probes\/j\.yaml:6:13: .*secrets are never written in journey files/),
    ]);
  });

  it('journey names are unique across files; a file that is not a mapping says what a journey file is', () => {
    const r = checkJourneySources(
      [
        { path: 'p/a.yaml', text: GOOD },
        { path: 'p/b.yaml', text: GOOD },
        { path: 'p/c.yaml', text: '- just a list' },
      ],
      { environment: 'production' },
    );
    expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([
      'p/b.yaml:1:7: journey "signup" is already defined at p/a.yaml:1:7; journey names must be unique',
      'p/c.yaml:1:1: a journey file is a mapping with name:, every:, base_url: and steps:',
    ]);
  });

  it('the example journey under probes/ is valid in every environment it lists', async () => {
    for (const environment of ['production', 'staging', 'local']) {
      const r = await loadJourneyPaths(['probes'], { environment });
      expect(r.ok ? [] : r.problems.map(formatProblem)).toEqual([]);
    }
  });

  // If this fails after a schema change: run `node scripts/gen-schema.mjs` and commit the result.
  it.each(Object.entries(probeArtifacts()))('%s is up to date with src/probes/schema.ts', (path, generated) => {
    expect(readFileSync(path, 'utf8'), `${path} is stale: run node scripts/gen-schema.mjs`).toBe(generated);
  });
});
