/**
 * Readiness is the AND of the checks components register (Redis reachable, Kafka consumer in its group, rules
 * loaded, …). Each check answers `null` when fine or a sentence saying what is wrong; /readyz shows all of them.
 */
export interface ReadinessCheck {
  name: string;
  check(): Promise<string | null> | string | null;
  /** Something an operator should see that does not make the daemon unready (e.g. a rejected rule edit). */
  warning?(): string | null;
  /** What the component reports besides (e.g. the evaluation shards held), shown as `detail`. */
  detail?(): unknown;
}

export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { ok: boolean; reason?: string; warning?: string; detail?: unknown }>;
}

export class Readiness {
  private readonly checks: ReadinessCheck[] = [];

  add(check: ReadinessCheck): void {
    this.checks.push(check);
  }

  async report(timeoutMs = 2000): Promise<ReadinessReport> {
    const entries = await Promise.all(
      this.checks.map(async (c) => {
        let reason: string | null;
        try {
          reason = await withTimeout(
            Promise.resolve(c.check()),
            timeoutMs,
            `${c.name} check took longer than ${timeoutMs} ms`,
          );
        } catch (err) {
          reason = err instanceof Error ? err.message : String(err);
        }
        const warning = c.warning?.() ?? null;
        const detail = c.detail?.();
        return [
          c.name,
          {
            ...(reason === null ? { ok: true, ...(warning ? { warning } : {}) } : { ok: false, reason }),
            ...(detail !== undefined ? { detail } : {}),
          },
        ] as const;
      }),
    );
    const checks = Object.fromEntries(entries);
    return { ready: entries.every(([, v]) => v.ok), checks };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
