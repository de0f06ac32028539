/**
 * The V8 flags the daemon is meant to run with. The Docker image's ENTRYPOINT and the `funnelwatch` command's
 * shebang pass them, the ingest benchmark starts the daemon (and, for a fair comparison, the bare consumer it is
 * measured against) with them, and `funnelwatch run` says at start when one is missing. A test keeps the
 * Dockerfile and the shebang in step with this list.
 *
 * --max-semi-space-size=128: V8's young generation is capped at 16 MB per semi-space by default. Under a Kafka
 *   backlog the daemon keeps several partitions' batches (kafkajs' message objects and the parsed events, 15–20 MB)
 *   alive until Redis has applied them, so every scavenge finds most of them still alive: it copies them, then
 *   promotes them, and the old generation marks them again. A larger young generation runs scavenges less often
 *   while the live set stays the same, so each copies about as much but there are fewer of them. Measured with
 *   `npm run bench:ingest` (2 cores; `--trace-gc` for the scavenges): 500,000 events took ~41 scavenges of ~20 ms
 *   at 64 MB, 28 at 128 MB, 23 at 256 MB; the ingest ratio to the bare consumer (1,000,000 events) was
 *   0.49 ± 0.01 with the default, 0.50–0.52 at 64 MB, 0.55–0.58 at 128 MB; the daemon's peak RSS under that load
 *   goes from ~370 MB to ~540 MB (700+ MB at 256 MB, for no clear gain). The young generation grows only under
 *   allocation pressure, so a quiet daemon does not pay it. The bare consumer's CPU per event did not change with it.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=128'];

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
  const given = new Set(
    [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(flagName),
  );
  return DAEMON_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
