/**
 * The Argo Rollouts and Flagger snippets for the canary gate: only field names the real CRDs have (Argo's Metric and
 * WebMetric, Flagger's CanaryWebhook), the contract the gate answers (jsonPath on `verdict`, pass/fail conditions,
 * the token from a Secret; Flagger's hook kinds in the metadata), and a gate that the shipped rules define.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { loadRulePaths } from '../../../src/rules/loader.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;
const docs = (path: string): Json[] => parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJS() as Json);

/** Field names of Argo Rollouts' Metric, MetricProvider.web (WebMetric) and Flagger's CanaryWebhook. */
const ARGO_METRIC = [
  'name',
  'interval',
  'initialDelay',
  'count',
  'successCondition',
  'failureCondition',
  'failureLimit',
  'inconclusiveLimit',
  'consecutiveErrorLimit',
  'consecutiveSuccessLimit',
  'provider',
];
const ARGO_WEB = [
  'method',
  'url',
  'headers',
  'body',
  'jsonBody',
  'timeoutSeconds',
  'jsonPath',
  'insecure',
  'authentication',
];
const FLAGGER_WEBHOOK = ['name', 'type', 'url', 'timeout', 'metadata', 'muteAlert', 'retries', 'disableTLS'];

describe('canary gate snippets', () => {
  it('Argo: a web metric on the verdict, pass/fail conditions, the token header from a Secret', async () => {
    const [t] = docs('deploy/argo/analysis-template.yaml');
    expect(t).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'AnalysisTemplate' });
    const [m] = t!.spec.metrics;
    for (const k of Object.keys(m)) expect(ARGO_METRIC).toContain(k);
    for (const k of Object.keys(m.provider.web)) expect(ARGO_WEB).toContain(k);
    expect(m).toMatchObject({ successCondition: 'result == "pass"', failureCondition: 'result == "fail"' });
    expect(m.provider.web.jsonPath).toBe('{$.verdict}');
    expect(m.provider.web.url).toMatch(
      /\/v1\/gates\/\{\{args\.gate\}\}\/verdict\?canary=\{\{args\.canary\}\}&baseline=/,
    );
    expect(m.provider.web.headers).toEqual([{ key: 'Authorization', value: 'Bearer {{args.token}}' }]);
    const token = t!.spec.args.find((a: { name: string }) => a.name === 'token');
    expect(token.valueFrom.secretKeyRef).toEqual({ name: 'funnelwatch-gate', key: 'token' });
    const gate = t!.spec.args.find((a: { name: string }) => a.name === 'gate').value;
    const rules = await loadRulePaths(['rules']);
    expect(rules.ok && rules.ruleSet.gates.map((g) => g.name)).toContain(gate);
    const [r] = docs('deploy/argo/rollout-snippet.yaml');
    const step = r!.spec.strategy.canary.steps.find((s: { analysis?: unknown }) => s.analysis);
    expect(step.analysis.templates).toEqual([{ templateName: 'funnelwatch-canary-gate' }]);
  });

  it('Flagger: rollout and confirm-promotion webhooks on the flagger endpoint, the hook named in the metadata', () => {
    const [c] = docs('deploy/flagger/canary-webhooks.yaml');
    expect(c).toMatchObject({ apiVersion: 'flagger.app/v1beta1', kind: 'Canary' });
    const hooks = c!.spec.analysis.webhooks as Json[];
    expect(hooks.map((h) => h.type)).toEqual(['rollout', 'confirm-promotion']);
    for (const h of hooks) {
      for (const k of Object.keys(h)) expect(FLAGGER_WEBHOOK).toContain(k);
      expect(h.metadata.hook).toBe(h.type);
      expect(h.url).toMatch(/\/v1\/gates\/checkout-canary\/flagger$/);
      // Flagger's metadata is map[string]string.
      for (const v of Object.values(h.metadata)) expect(typeof v).toBe('string');
    }
  });
});
