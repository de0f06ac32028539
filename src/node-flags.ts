/**
 * The V8 flags the daemon is meant to run with. The Docker image's ENTRYPOINT and the `funnelwatch` command's
 * shebang pass them, the ingest benchmark starts the daemon (and, for a fair comparison, the bare consumer it is
 * measured against) with them, and `funnelwatch run` says at start when one is missing. A test keeps the
 * Dockerfile and the shebang in step with this list.
 *
 * --max-semi-space-size=64: V8's young generation is capped at 16 MB per semi-space by default. Under a Kafka
 *   backlog the daemon keeps several partitions' batches (kafkajs' message objects and the parsed events, ~10 MB)
 *   alive until Redis has applied them, so with the default most of what a scavenge finds is still alive: it gets
 *   copied, then promoted, then marked again in the old generation. At 64 MB the same batches are mostly dead by
 *   the time a scavenge runs. Measured with `npm run bench:ingest` (500,000 events, alternating runs, 2 cores): the
 *   daemon's CPU per event fell from 18–22 µs to 16–17.5 µs, for ~60 MB more peak RSS. The bare consumer's CPU per
 *   event did not change with it.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** The flag's name as V8 reads it: `--max_semi_space_size` and `--max-semi-space-size` are the same flag. */
function flagName(arg: string): string {
  return arg.split('=')[0]!.replace(/_/g, '-');
}

/**
 * Which of DAEMON_NODE_FLAGS this process was started without, judged by name: a flag given with another value
 * (an operator's own choice) counts as present. `execArgv` is process.execArgv, `nodeOptions` the NODE_OPTIONS
 * variable.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName));
  return DAEMON_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
