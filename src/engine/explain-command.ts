/**
 * `funnelwatch explain <rule> [--segment dimension=value] [--json]`: asks a running daemon why a rule is quiet (or
 * not), per series (GET /v1/rules/<name>/explain, engine/rule-explain.ts), and prints it as text, or the JSON.
 * Exit codes: 0 answered, 2 refused (unknown rule, bad segment) or the daemon not reachable.
 */
import { callDaemon, type DaemonApiWording, type DaemonClientOptions } from '../core/daemon-api.js';
import { renderExplanation, type RuleExplanation } from './rule-explain.js';

export interface ExplainArgs {
  segment?: string;
  json?: boolean;
}

const WORDING: DaemonApiWording = { addressFlag: '--url', subject: 'the explain request' };

export async function runExplainCommand(o: DaemonClientOptions, rule: string, a: ExplainArgs): Promise<number> {
  const params = new URLSearchParams();
  if (a.segment !== undefined) params.set('segment', a.segment);
  const query = params.size > 0 ? `?${params}` : '';
  const res = await callDaemon(o, WORDING, 'GET', `/v1/rules/${encodeURIComponent(rule)}/explain${query}`);
  if (!res.ok) return 2;
  if (a.json) o.out(JSON.stringify(res.body, null, 2));
  else for (const line of renderExplanation(res.body as RuleExplanation)) o.out(line);
  return 0;
}
