/**
 * The explain API: why a rule is quiet (or not), per series (engine/rule-explain.ts has the document's shape).
 *
 *   GET /v1/rules/:name/explain[?segment=dimension=value]
 *       → 200 the explanation; 404 UNKNOWN_RULE; 400 BAD_REQUEST for a segment that is not `dimension=value` of one
 *         of the rule's segment dimensions.
 *
 * Any replica answers (the look reads Redis as the leader's tick does). Behind the same bearer token as the other
 * /v1 routes: explanations name segment values and silences.
 */
import type { FastifyPluginAsync } from 'fastify';
import { bearerAuth } from '../core/bearer-auth.js';
import type { SegmentRef } from '../model/segment.js';
import type { RuleExplanation } from '../engine/rule-explain.js';
import type { RuleSet } from '../rules/rule-set.js';

export interface ExplainRoutesOptions {
  /** Undefined when the active rule set has no such rule. */
  explain(rule: string, segment?: SegmentRef): Promise<RuleExplanation | undefined>;
  rules: () => RuleSet | undefined;
  token: string;
}

/** `dimension=value` of one of the rule's segment dimensions, or the message saying what is wrong. */
export function parseSegmentArg(text: string, dimensions: readonly string[]): SegmentRef | string {
  const i = text.indexOf('=');
  const dimension = i < 0 ? '' : text.slice(0, i).trim();
  const value = i < 0 ? '' : text.slice(i + 1);
  if (!dimension || !value)
    return `segment must be dimension=value (e.g. ${dimensions[0] ?? 'platform'}=ios); got ${JSON.stringify(text)}`;
  if (!dimensions.includes(dimension)) {
    return dimensions.length === 0
      ? 'this rule has no segments: explain it without --segment'
      : `the rule is not segmented by "${dimension}": its segments are ${dimensions.join(', ')}`;
  }
  return { dimension, value };
}

export function explainRoutes(o: ExplainRoutesOptions): FastifyPluginAsync {
  return async (app) => {
    app.addHook('onRequest', bearerAuth(o.token));

    app.get('/v1/rules/:name/explain', async (req, reply) => {
      const { name } = req.params as { name: string };
      const q = req.query as Record<string, string | string[] | undefined>;
      const rule = o.rules()?.rules.find((r) => r.name === name);
      if (!rule) {
        const known = (o.rules()?.rules ?? []).map((r) => r.name);
        return reply.code(404).send({
          error: 'UNKNOWN_RULE',
          message: `no rule named ${JSON.stringify(name)} in the active rule set${
            known.length > 0 ? `; rules: ${known.join(', ')}` : ''
          }`,
        });
      }
      let segment: SegmentRef | undefined;
      if (q.segment !== undefined) {
        const parsed = Array.isArray(q.segment) ? 'give one segment' : parseSegmentArg(q.segment, rule.segments);
        if (typeof parsed === 'string') return reply.code(400).send({ error: 'BAD_REQUEST', message: parsed });
        segment = parsed;
      }
      const e = await o.explain(name, segment);
      if (!e) return reply.code(404).send({ error: 'UNKNOWN_RULE', message: `rule ${name} was removed meanwhile` });
      return e;
    });
  };
}
