/**
 * The night story as a user runs it (dist/main.js demo --story night): the daemon runs the canary users of probes/
 * against the demo shop, a deploy breaks stripe, the probe alert of checkout-stripe fires on the second failed run
 * (2 of 3) and pages naming the journey, the failed step, the shop's answer and the deploy before it, while the
 * real-traffic rule says it has too little data; the rollback makes the canary user pass and the page resolve. The
 * story checks all of that itself (NightCheck) and must exit 0; the test also reads the lines a person would see.
 */
import { describe, expect, it } from 'vitest';
import { spawnDaemon } from '../../support/daemon.js';

describe('funnelwatch demo --story night', () => {
  it(
    'pages for checkout-stripe within two runs of the deploy and resolves after the rollback',
    { timeout: 150_000 },
    async () => {
      const seed = String(1 + Math.floor(Math.random() * 10_000));
      const demo = spawnDaemon({}, ['demo', '--story', 'night', '--seed', seed]);
      const code = await demo.exited;
      const out = demo.output();
      expect(code, `seed ${seed}:\n${out.slice(-5000)}`).toBe(0);
      expect(out).toMatch(/payments-service 2\.4\.1 deployed \(marker posted\); every stripe payment now answers 502/);
      expect(out).toMatch(/checkout-stripe FAILED at pay: pay: POST \/api\/checkout\/\S+\/payment answered 502/);
      const page = out.split('\n').find((l) => l.includes('FIRING  probe:checkout-stripe [location=eu-west-1]'));
      expect(page, out.slice(-5000)).toBeDefined();
      expect(page).toContain('>> page to pagerduty-checkout, slack-payments');
      expect(page).toMatch(/checkout-stripe failed [23] of its last 3 runs at eu-west-1/);
      expect(page).toMatch(/step pay: pay: POST \S+ answered 502, expected 200; answer: \{"error":"provider_error"/);
      expect(out).toMatch(
        /FIRING {2}probe:checkout-stripe[^\n]*\n\s+likely cause: payments-service 2\.4\.1 \(production\)/,
      );
      expect(out).toMatch(/RESOLVED probe:checkout-stripe \[location=eu-west-1\]/);
      expect(out).toMatch(/payments-service rolled back to 2\.4\.0/);
      // The real-traffic rule had too few payments to judge, and said so: it never paged.
      expect(out).toMatch(/checkout-payment-success-drop: insufficient/);
      expect(out).not.toMatch(/FIRING {2}checkout-payment-success-drop/);
      expect(out).toMatch(
        /the night story held: checkout-stripe failed at pay on run 1 after the deploy .*its probe alert fired after run [12] \(K=2 of 3\) and paged on the next tick, naming the journey, the step, the answer and payments-service 2\.4\.1; checkout-payment-success-drop reported insufficient data and did not fire; after the rollback the alert resolved on passing run [12] and the page sent its resolve\./,
      );
    },
  );
});
