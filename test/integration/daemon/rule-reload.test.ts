import { describe, it, expect, onTestFinished } from 'vitest';
import { mkdtempSync, cpSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Daemon } from '../../../src/app.js';
import { loadConfig } from '../../../src/config/config.js';
import { redisUrl, uniquePrefix } from '../../support/env.js';

type Ready = { status: string; checks: Record<string, { ok: boolean; warning?: string }> };

describe('a rejected rule edit in a running daemon', () => {
  it('keeps the previous rules, stays ready, and shows the problem on /readyz and in /metrics until fixed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-rules-'));
    cpSync('rules', dir, { recursive: true });
    const config = loadConfig({ FW_REDIS_URL: redisUrl(), FW_REDIS_PREFIX: uniquePrefix(), FW_HTTP_PORT: '0', FW_HTTP_HOST: '127.0.0.1', FW_RULES_DIR: dir });
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
  });
});
