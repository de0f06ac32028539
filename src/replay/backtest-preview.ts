/**
 * The dashboard's backtest preview: `runBacktest` (backtest.ts) on the daemon's own Redis and rules, with an edited
 * rule file pasted in the page instead of a path. The pasted text is written to a private temporary file named
 * `pasted.yaml` (so problems read `pasted.yaml:12:5: …`) and removed afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FwError } from '../core/errors.js';
import type { Logger } from '../obs/logger.js';
import { runBacktest, type BacktestResult } from './backtest.js';

export interface PreviewTarget {
  redisUrl: string;
  redisCluster: boolean;
  prefix: string;
  rulesDir: string;
  environment?: string;
  logger?: Logger;
}

export async function backtestPreview(
  t: PreviewTarget,
  req: { rule: string; yaml?: string; sinceMs: number; now: number },
): Promise<BacktestResult> {
  const dir = req.yaml ? mkdtempSync(join(tmpdir(), 'fw-preview-')) : null;
  try {
    const file = dir ? join(dir, 'pasted.yaml') : undefined;
    if (file) writeFileSync(file, req.yaml!);
    return await runBacktest({
      redisUrl: t.redisUrl,
      redisCluster: t.redisCluster,
      prefix: t.prefix,
      rulesDir: t.rulesDir,
      rule: req.rule,
      ...(file ? { ruleFile: file } : {}),
      sinceMs: req.sinceMs,
      now: req.now,
      ...(t.environment !== undefined ? { environment: t.environment } : {}),
      ...(t.logger ? { logger: t.logger } : {}),
      out: () => undefined,
    });
  } catch (err) {
    // The temporary directory means nothing to the person who pasted the text.
    if (dir && err instanceof FwError) throw new FwError(err.code, err.message.split(`${dir}/`).join(''));
    throw err;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
