/**
 * The files generated from the rule schema and committed: what `scripts/gen-schema.mjs` writes and what the unit
 * test compares with the committed copies, so a schema change without regenerating them fails the tests.
 */
import { renderJsonSchema } from './json-schema.js';
import { renderRuleReference } from './reference-doc.js';

/** Paths relative to the repository root → file contents. */
export function ruleArtifacts(): Record<string, string> {
  return {
    'rules/schema.json': renderJsonSchema(),
    'docs/rule-reference.md': renderRuleReference(),
  };
}
