/**
 * Latches SIGTERM/SIGINT that arrive while the program is still loading (Kubernetes may stop a pod that has only
 * just started). Imported first by main.ts, so its handlers exist before anything slow runs; whoever takes over
 * signal handling calls `takeEarlySignal()` after installing its own handlers, and acts on what was latched.
 */
let latched: NodeJS.Signals | null = null;
const latch = (s: NodeJS.Signals) => {
  latched ??= s;
};
process.on('SIGTERM', latch);
process.on('SIGINT', latch);

/** Stops latching and returns the signal that arrived meanwhile, if any. */
export function takeEarlySignal(): NodeJS.Signals | null {
  process.off('SIGTERM', latch);
  process.off('SIGINT', latch);
  return latched;
}
