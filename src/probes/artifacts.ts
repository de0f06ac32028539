/** Files generated from the journey schema and committed (written by `scripts/gen-schema.mjs`, checked by a test). */
import { renderJourneyJsonSchema } from './schema.js';

/** Paths relative to the repository root → file contents. */
export function probeArtifacts(): Record<string, string> {
  return { 'probes/schema.json': renderJourneyJsonSchema() };
}
