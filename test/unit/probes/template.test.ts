import { describe, expect, it } from 'vitest';
import { redact, REDACTED } from '../../../src/probes/run-journey.js';
import { readJsonPath, renderTemplate, renderValue, templateRefs } from '../../../src/probes/template.js';

const ctx = {
  runId: 'run-1',
  emailDomain: 'probes.example.com',
  now: 42,
  vars: new Map([['cart', 'c-9']]),
  secrets: new Map([['pw', 's3cret']]),
};

describe('journey templates', () => {
  it('renders built-ins, extracted values and secrets; a fresh uuid per use', () => {
    expect(renderTemplate('{{ unique_email }} {{run_id}} {{ now_ms }} {{ vars.cart }} {{ secrets.pw }}', ctx)).toBe(
      'probe+run-1@probes.example.com run-1 42 c-9 s3cret',
    );
    const [a, b] = renderTemplate('{{ uuid }} {{ uuid }}', ctx).split(' ');
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(a).not.toBe(b);
    expect(renderValue({ a: ['{{ vars.cart }}', 3, true], n: null }, ctx)).toEqual({ a: ['c-9', 3, true], n: null });
  });

  it('lists what templates refer to, and what they name that does not exist', () => {
    expect(templateRefs('{{ vars.a }}/{{ secrets.b }}/{{ uuid }}/{{ nope }}/{{ env.X }}/{{ vars.a-b }}')).toEqual({
      refs: [
        { kind: 'vars', name: 'a' },
        { kind: 'secrets', name: 'b' },
        { kind: 'builtin', name: 'uuid' },
      ],
      unknown: ['nope', 'env.X', '{{ vars.a-b }}'],
    });
  });

  it('reads one value by JSON path', () => {
    const doc = { order: { id: 7, items: [{ sku: 'x' }] }, 'odd key': 'y' };
    expect(readJsonPath(doc, '$.order.id')).toBe(7);
    expect(readJsonPath(doc, '$.order.items[0].sku')).toBe('x');
    expect(readJsonPath(doc, "$['odd key']")).toBe('y');
    expect(readJsonPath(doc, '$.order.missing.deeper')).toBeUndefined();
    expect(readJsonPath(doc, '$')).toBe(doc);
  });

  it('redacts every secret, longest first', () => {
    expect(redact('token abc and abcdef', ['abc', 'abcdef'])).toBe(`token ${REDACTED} and ${REDACTED}`);
    expect(redact('nothing', [''])).toBe('nothing');
  });
});
