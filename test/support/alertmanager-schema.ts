/**
 * The committed JSON Schema of Alertmanager's webhook payload v4 (docs/alertmanager-webhook-v4.schema.json), compiled
 * with Ajv: payloads are checked against Alertmanager's documented format, not against our own types.
 */
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

const schema = JSON.parse(readFileSync('docs/alertmanager-webhook-v4.schema.json', 'utf8')) as object;
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(schema);

/** The schema's complaints about `body` ("" when it validates). */
export function alertmanagerV4Errors(body: unknown): string {
  return validate(body) ? '' : JSON.stringify(validate.errors);
}
