import { describe, it, expect, onTestFinished } from 'vitest';
import { mkdtempSync, cpSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../../../src/app/daemon.js';
import { loadConfig } from '../../../src/config/config.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';

type Ready = { status: string; checks: Record<string, { ok: boolean; warning?: string }> };

describe('a rejected rule edit in a running daemon', () => {
  it(
    'keeps the previous rules, stays ready, ' + 'and shows the problem on /readyz and in /metrics until fixed',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
      cpSync('rules', dir, { recursive: true });
      const config = loadConfig({
        FW_REDIS_URL: redisUrl(),
        FW_REDIS_PREFIX: uniquePrefix(),
        FW_HTTP_PORT: '0',
        FW_HTTP_HOST: '127.0.0.1',
        FW_RULES_DIR: dir,
      });
      const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
      onTestFinished(() => d.stop());
      await d.start();
      const before = d.rules.current!.version;
      const good = readFileSync(join(dir, 'signup.yaml'), 'utf8');

      writeFileSync(join(dir, 'signup.yaml'), good.replace('conversion_window: 1h', 'conversion_window: 1 hour'));
      await d.reloadRules(); // what SIGHUP does
      expect(d.rules.current!.version).toBe(before);
      const r = await fetch(`${d.httpUrl}/readyz`);
      expect(r.status).toBe(200);
      const body = (await r.json()) as Ready;
      expect(body.checks.rules!.ok).toBe(true);
      expect(body.checks.rules!.warning).toMatch(/signup\.yaml:\d+:\d+: .*conversion_window/);
      const m = await (await fetch(`${d.httpUrl}/metrics`)).text();
      expect(m).toMatch(/^fw_rule_reloads_total\{outcome="failed"\} 1$/m);
      expect(m).toMatch(/^fw_rule_problems 1$/m);

      writeFileSync(join(dir, 'signup.yaml'), good);
      await d.reloadRules();
      const fixed = (await (await fetch(`${d.httpUrl}/readyz`)).json()) as Ready;
      expect(fixed.checks.rules!.warning).toBeUndefined();
      expect(await (await fetch(`${d.httpUrl}/metrics`)).text()).toMatch(/^fw_rule_problems 0$/m);
    },
  );

  it(
    'evaluates a valid edit at the next tick, ' + 'and keeps evaluating the previous rules after an invalid one',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
      cpSync('rules', dir, { recursive: true });
      const config = loadConfig({
        FW_REDIS_URL: redisUrl(),
        FW_REDIS_PREFIX: uniquePrefix(),
        FW_HTTP_PORT: '0',
        FW_HTTP_HOST: '127.0.0.1',
        FW_RULES_DIR: dir,
      });
      const d = new Daemon({ config, logger: pino({ level: 'silent' }) });
      onTestFinished(() => d.stop());
      await d.start();
      // Some signups (direct HTTP ingest, no Kafka), so the signup funnel has a watermark and its rules are looked at.
      const t0 = Date.now() - 30 * 60_000;
      const events = Array.from({ length: 60 }, (_, i) => ({
        id: `s${i}`,
        type: 'signup_started',
        ts: t0 + i * 30_000,
        entity: `u${i}`,
        attrs: { platform: 'web' },
      }));
      expect(
        await (
          await fetch(`${d.httpUrl}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(events),
          })
        ).json(),
      ).toMatchObject({ accepted: 60 });
      const tick = async () => {
        await d.lease.tryAcquire();
        const r = await d.evaluator.tick();
        expect(r.outcome).toBe('evaluated');
        return new Set(
          [...d.evaluator.currentStates().values()]
            .filter((s) => s.lastEvaluated >= r.funnels[0]!.evalTo! - 1)
            .map((s) => s.rule),
        );
      };
      const first = await tick();
      expect(first).toContain('signup-first-login-drop');

      const good = readFileSync(join(dir, 'signup.yaml'), 'utf8');
      writeFileSync(join(dir, 'signup.yaml'), good.replace('name: signup-first-login-drop', 'name: signup-login-drop'));
      await d.reloadRules();
      const renamed = await tick();
      expect(renamed).toContain('signup-login-drop');
      // retired
      expect([...d.evaluator.currentStates().values()].some((s) => s.rule === 'signup-first-login-drop')).toBe(false);

      const valid = readFileSync(join(dir, 'signup.yaml'), 'utf8');
      writeFileSync(join(dir, 'signup.yaml'), valid.replace('min_volume: 100', 'min_volume: lots'));
      await d.reloadRules();
      expect(d.rules.lastErrors.length).toBeGreaterThan(0);
      const afterBad = await tick();
      expect(afterBad).toContain('signup-login-drop');
      expect(afterBad).toContain('signup-verification-drop');
    },
  );
});
