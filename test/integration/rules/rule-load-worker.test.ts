/**
 * Rule files are read and checked on a worker thread (issue 18): a big rule file does not stall the event loop
 * while it loads, a file over the size cap is refused with `path:1:1: file is N MB; the limit is 1 MB`, and a
 * failed reload keeps the rule set that was active. Real files in a temporary directory, the real RuleStore.
 */
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, expect, onTestFinished } from 'vitest';
import { RuleStore } from '../../../src/rules/rule-store.js';
import { loadRuleDir } from '../../../src/rules/loader.js';
import { loadRuleDirInWorker } from '../../../src/rules/load-in-worker.js';

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

function ruleDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
  cpSync('rules', dir, { recursive: true });
  return dir;
}

/** A rules file for the signup funnel of about `bytes` bytes: many valid rules, every one checked. */
function bigRules(bytes: number): string {
  let out = 'funnel: signup\nrules:\n';
  for (let i = 0; out.length < bytes; i++) {
    out +=
      `  - name: generated-rule-${i}\n` +
      '    metric: { cohort_conversion: { from: started, to: verified } }\n' +
      `    drop: ${5 + (i % 40)}%\n    min_volume: 100\n    for: 5m\n    severity: warning\n` +
      '    segments: [platform]\n    notify: [slack-growth]\n';
  }
  return out;
}

/** Runs `fn` while a 10 ms interval ticks on this thread; returns the largest gap between ticks. */
async function largestGap(fn: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  try {
    await fn();
  } finally {
    clearInterval(t);
  }
  return Math.max(worst, performance.now() - last);
}

describe('rule loading off the event loop', () => {
  it('loads on a worker thread exactly the rule set the in-thread loader loads', async () => {
    const inThread = await loadRuleDir('rules', { requireReceivers: true });
    const inWorker = await loadRuleDirInWorker('rules', { requireReceivers: true });
    expect(inWorker).toStrictEqual(inThread);
    expect(inWorker.ok && Object.isFrozen(inWorker.ruleSet.rules[0])).toBe(true);
  });

  it('keeps the event loop turning while a big rule file is parsed and checked', async () => {
    const dir = ruleDir();
    writeFileSync(join(dir, 'generated.yaml'), bigRules(990_000));
    const store = new RuleStore({ dir, logger: quiet, loadOptions: { requireReceivers: true } });
    onTestFinished(() => store.close());
    let outcome: Awaited<ReturnType<RuleStore['reload']>> | undefined;
    const gap = await largestGap(async () => (outcome = await store.reload('initial')));
    expect(outcome!.ok).toBe(true);
    expect(store.current!.rules.length).toBeGreaterThan(3000);
    // A bound on blocking, not a speed benchmark: checking the file in this thread blocks it for seconds.
    expect(gap).toBeLessThan(1000);
  });

  it('refuses a file over 1 MB with path:1:1 and keeps the active rule set', async () => {
    const dir = ruleDir();
    const store = new RuleStore({ dir, logger: quiet, loadOptions: { requireReceivers: true } });
    onTestFinished(() => store.close());
    expect((await store.reload('initial')).ok).toBe(true);
    const before = store.current!.version;
    const file = join(dir, 'generated.yaml');
    writeFileSync(file, bigRules(3_200_000));
    const outcome = await store.reload('manual');
    expect(outcome.ok).toBe(false);
    expect(store.status().errors).toEqual([
      expect.stringMatching(/generated\.yaml:1:1: file is 3\.2 MB; the limit is 1 MB/),
    ]);
    expect(store.current!.version).toBe(before);
  });
});
