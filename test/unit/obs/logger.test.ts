import { describe, it, expect } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../../src/obs/logger.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', pretty: false, destination }) };
}

describe('logger', () => {
  it('writes structured JSON lines with level names and ISO times', () => {
    const { lines, logger } = capture();
    logger.info({ funnel: 'checkout' }, 'hello');
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello', funnel: 'checkout', name: 'funnelwatch' });
    expect(String(lines[0]!.time)).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('redacts tokens, routing keys, passwords and authorization headers wherever they sit', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        token: 'xoxb-1',
        receiver: { routingKey: 'R0UT1NG', slack: { token: 'xoxb-2' } },
        req: { headers: { authorization: 'Bearer abc', 'content-type': 'application/json' } },
        config: { FW_INGEST_TOKEN: 's3cret', redis: { password: 'pw' } },
      },
      'settings',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['xoxb-1', 'xoxb-2', 'R0UT1NG', 'Bearer abc', 's3cret', '"pw"'])
      expect(text).not.toContain(secret);
    expect(text).toContain('[redacted]');
    expect(text).toContain('application/json');
  });
});
