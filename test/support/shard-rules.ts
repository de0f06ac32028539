/**
 * Rule files for sharded-evaluation tests: `n` small funnels (`f0`, `f1`, …) of two steps, one step-volume rule
 * each (`f0-volume`, …) notifying `hook`, and the receivers. `crossFunnel` makes `hook` group incidents by rule
 * severity only (its group_by leaves out funnel), which puts every funnel into one shard.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { onTestFinished } from 'vitest';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function funnelYaml(name: string): string {
  return [
    'funnel:',
    `  name: ${name}`,
    '  entity: entity',
    '  steps:',
    `    - { name: start, event: ${name}_start }`,
    `    - { name: done, event: ${name}_done }`,
    '  conversion_window: 10m',
    '  dimensions: [platform]',
    'rules:',
    `  - name: ${name}-volume`,
    '    metric: { step_volume: { step: start } }',
    '    baseline: { trailing: 1h }',
    '    drop: 50%',
    '    min_volume: 10',
    '    for: 0m',
    '    resolve_after: 2m',
    '    severity: warning',
    '    notify: [hook]',
    '',
  ].join('\n');
}

export function receiversYaml(o: { webhookUrl?: string; crossFunnel?: boolean } = {}): string {
  const url = o.webhookUrl ?? 'http://127.0.0.1:9/hook';
  return [
    'receivers:',
    '  - name: hook',
    `    webhook: { url: "${url}" }`,
    ...(o.crossFunnel ? ['    group_by: [severity]'] : []),
    '',
  ].join('\n');
}

/** A temporary rule directory with funnels f0…f(n-1), removed when the test ends. */
export function shardRulesDir(n: number, o: { webhookUrl?: string; crossFunnel?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-shards-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}.yaml`), funnelYaml(`f${i}`));
  writeFileSync(join(dir, 'receivers.yaml'), receiversYaml(o));
  return dir;
}
