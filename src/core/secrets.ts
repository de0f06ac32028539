/**
 * Reads a secret from where a receiver (or deploy-marker) definition says it is: an environment variable or a file
 * (Kubernetes and Docker secrets are files). Read when a delivery needs it, not once at start, so a rotated secret file
 * is picked up without a restart. The value never appears in errors or logs; only where it was looked for.
 */
import { readFileSync } from 'node:fs';
import { FwError, errorMessage } from './errors.js';

/** Where a secret comes from: never the rule files themselves. */
export type SecretRef = { env: string } | { file: string };

export function describeSecret(ref: SecretRef): string {
  return 'env' in ref ? `environment variable ${ref.env}` : `file ${ref.file}`;
}

/** The secret's value, trimmed; throws FwError SECRET_MISSING (not retriable: configuration) when absent or empty. */
export function readSecret(ref: SecretRef, env: Record<string, string | undefined> = process.env): string {
  let value: string | undefined;
  if ('env' in ref) value = env[ref.env];
  else {
    try {
      value = readFileSync(ref.file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new FwError('SECRET_MISSING', `cannot read the secret from ${describeSecret(ref)} (${code})`);
    }
  }
  const v = value?.trim() ?? '';
  if (v === '')
    throw new FwError('SECRET_MISSING', `the secret is missing: ${describeSecret(ref)} is not set or empty`);
  return v;
}

/**
 * `readSecret` as a value for senders that report failures as outcomes rather than throw: the secret, or why it
 * could not be read (code SECRET_MISSING, never retriable: configuration).
 */
export function trySecret(
  ref: SecretRef,
  env?: Record<string, string | undefined>,
): { ok: true; value: string } | { ok: false; retriable: false; code: 'SECRET_MISSING'; reason: string } {
  try {
    return { ok: true, value: readSecret(ref, env) };
  } catch (err) {
    return { ok: false, retriable: false, code: 'SECRET_MISSING', reason: errorMessage(err) };
  }
}
