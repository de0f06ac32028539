/**
 * The editor's copy of the rule schema: `rules/schema.json`, referenced from each rule file by
 * `# yaml-language-server: $schema=./schema.json`, so VS Code (and other yaml-language-server editors) autocomplete
 * fields and underline mistakes while typing. Draft-07 because that is what yaml-language-server supports well;
 * `io: 'input'` so fields with defaults are optional, as they are for the person writing the file.
 */
import { z } from 'zod';
import { ruleFileSchema } from './schema.js';

export type JsonSchema = {
  [key: string]: unknown;
  type?: string;
  description?: string;
  title?: string;
  default?: unknown;
  examples?: unknown[];
  pattern?: string;
  format?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
};

export function ruleFileJsonSchema(): JsonSchema {
  return z.toJSONSchema(ruleFileSchema, { target: 'draft-07', io: 'input' }) as JsonSchema;
}

/** The committed text of `rules/schema.json`. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(ruleFileJsonSchema(), null, 2)}\n`;
}
