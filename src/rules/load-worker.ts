/**
 * The body of the rule-loading worker thread (see load-in-worker.ts): reads and checks one rule directory per
 * message and posts the LoadResult back. Parsing YAML and checking a big rule set takes seconds of CPU; here it
 * takes them from this thread, not from the daemon's event loop.
 */
import { parentPort } from 'node:worker_threads';
import { errorMessage } from '../core/errors.js';
import { loadRuleDir, type LoadOptions } from './loader.js';

export interface LoadRequest {
  dir: string;
  options: LoadOptions;
}

export type LoadReply = { result: Awaited<ReturnType<typeof loadRuleDir>> } | { error: string };

parentPort?.once('message', (req: LoadRequest) => {
  loadRuleDir(req.dir, req.options).then(
    (result) => parentPort!.postMessage({ result } satisfies LoadReply),
    (err: unknown) => parentPort!.postMessage({ error: errorMessage(err) } satisfies LoadReply),
  );
});
