/**
 * Receivers as the rule directory defines them (`receivers:` in a rule file, see src/rules/schema.ts), after
 * validation: plain data, no secrets (only where to read them), so a RuleSet stays safe to log and to hash.
 * `buildReceivers` (notify/receivers.ts) turns these into live Receivers.
 */
import type { SecretRef } from '../core/secrets.js';

/** How a receiver groups alerts into incidents (notify/grouping.ts); absent fields take the defaults. */
export interface GroupingDef {
  groupBy?: string[];
  groupWaitMs?: number;
  groupIntervalMs?: number;
  repeatIntervalMs?: number;
}

interface Common {
  name: string;
  grouping?: GroupingDef;
  /** The rule file and position that defined it, for messages. */
  source?: { file: string; line: number; col: number };
}

export interface SlackReceiverDef extends Common {
  kind: 'slack';
  /** Channel id (C0123ABCD) or name (#payments); the id is safer (names change). */
  channel: string;
  /** Bot token (xoxb-…); default `{ env: SLACK_BOT_TOKEN }`. */
  token: SecretRef;
}

export interface PagerDutyReceiverDef extends Common {
  kind: 'pagerduty';
  /** The 32-character Events API v2 integration key. */
  routingKey: SecretRef;
  /** Optional dashboard link template; `{funnel}`, `{rule}` and `{segment}` are filled in. */
  dashboardUrl?: string;
}

export interface WebhookReceiverDef extends Common {
  kind: 'webhook';
  url: string;
  /** HMAC-SHA256 key for the signature header; no signature when absent. */
  secret?: SecretRef;
}

export interface AlertmanagerReceiverDef extends Common {
  kind: 'alertmanager';
  /** The Alertmanager's base URL; alerts go to `<url>/api/v2/alerts`. */
  url: string;
  /** Where people open funnelwatch (its API), for each alert's generatorURL. */
  externalUrl?: string;
}

export interface ConsoleReceiverDef extends Common {
  kind: 'console';
}

export type ReceiverDef =
  SlackReceiverDef | PagerDutyReceiverDef | WebhookReceiverDef | AlertmanagerReceiverDef | ConsoleReceiverDef;

/** Always defined, so a trial setup and the demo need no receivers file: one line per page on stdout. */
export const BUILTIN_CONSOLE: ConsoleReceiverDef = { name: 'console', kind: 'console' };
