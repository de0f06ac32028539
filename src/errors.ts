/**
 * Every error funnelwatch raises carries a stable `code` (for logs, metrics and API answers) and whether retrying
 * the same operation can succeed. Restart and retry decisions read only `retriable`, never the message.
 */
export class FwError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, retriable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FwError';
    this.code = code;
    this.retriable = retriable;
  }
}

export function isRetriable(err: unknown): boolean {
  if (err instanceof FwError) return err.retriable;
  // Errors from clients we do not wrap: kafkajs marks its own; treat unknown errors as not retriable.
  if (err && typeof err === 'object' && 'retriable' in err) return Boolean((err as { retriable: unknown }).retriable);
  return false;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
