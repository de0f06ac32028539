/**
 * `loadRuleDir` on a worker thread, so a big or hostile rule file never stalls the event loop (ingest, HTTP, ticks)
 * while it is parsed and checked. One short-lived worker per load: reloads are rare (debounced edits, SIGHUP), and
 * a worker that dies (a stack overflow on absurd nesting, out of memory) takes nothing else with it; its failure
 * is the load's failure, so the store keeps the previous rule set.
 *
 * The daemon runs the compiled tree (dist/), where the worker is load-worker.js beside this file. Run from the
 * TypeScript sources (vitest), this file is a .ts module and Node cannot run load-worker.ts by itself: the worker
 * then starts through scripts/ts-worker.mjs, which registers a loader hook that transpiles the sources with the
 * TypeScript compiler (a dev dependency; never used from dist/).
 */
import { Worker } from 'node:worker_threads';
import { deepFreeze, type LoadOptions } from './loader.js';
import type { LoadResult } from './rule-set.js';
import type { LoadReply, LoadRequest } from './load-worker.js';

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./load-worker.ts', here).href;
    return new Worker(new URL('../../scripts/ts-worker.mjs', here), { workerData: { entry } });
  }
  return new Worker(new URL('./load-worker.js', here));
}

export function loadRuleDirInWorker(dir: string, options: LoadOptions = {}): Promise<LoadResult> {
  return new Promise<LoadResult>((resolve, reject) => {
    const worker = startWorker();
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.once('message', (reply: LoadReply) =>
      settle(() =>
        'result' in reply
          ? // A structured clone: fresh objects, not frozen; the store hands out frozen sets.
            resolve(reply.result.ok ? { ok: true, ruleSet: deepFreeze(reply.result.ruleSet) } : reply.result)
          : reject(new Error(`the rule loader failed: ${reply.error}`)),
      ),
    );
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) =>
      settle(() => reject(new Error(`the rule loader thread exited (code ${code}) without an answer`))),
    );
    worker.postMessage({ dir, options } satisfies LoadRequest);
  });
}
