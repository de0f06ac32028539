/**
 * pino structured logs: JSON in production, pretty on a terminal. Secrets never reach a log line: tokens, routing
 * keys, passwords and authorization headers are redacted wherever they appear in a logged object (a few levels
 * deep, which is where configs, requests and receiver settings put them).
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

const SECRET_KEYS = [
  'token',
  'authorization',
  'routingKey',
  'routing_key',
  'password',
  'secret',
  'apiKey',
  'api_key',
  'FW_INGEST_TOKEN',
  'FW_SLACK_TOKEN',
  'FW_PAGERDUTY_ROUTING_KEY',
];

export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]).concat([
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
]);

export interface LoggerOptions {
  level: string;
  pretty: 'auto' | 'true' | 'false' | boolean;
  /** Where lines go; stdout by default. Tests pass a stream to read what was logged. */
  destination?: DestinationStream;
  name?: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const wantPretty =
    opts.pretty === true || opts.pretty === 'true' || (opts.pretty === 'auto' && process.stdout.isTTY === true);
  const base = {
    name: opts.name ?? 'funnelwatch',
    level: opts.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (wantPretty && !opts.destination) {
    // pino-pretty as a synchronous stream, not a worker transport: fewer moving parts, and nothing lost on exit.
    return pino(base, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
