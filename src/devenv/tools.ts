/**
 * The programs the dev environment (demo, tests, replay without --redis) starts: redis-server and kcat (whose
 * librdkafka mock cluster is the Kafka-protocol broker). `npm run setup` installs them; without them the demo says
 * so in one sentence instead of dying on `spawn kcat ENOENT`.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const DEMO_TOOLS = ['redis-server', 'kcat'] as const;

/** The names among `tools` that no directory of `path` (default $PATH) holds as an executable file. */
export function missingTools(tools: readonly string[], path: string = process.env.PATH ?? ''): string[] {
  const dirs = path.split(delimiter).filter((d) => d !== '');
  return tools.filter(
    (t) =>
      !dirs.some((d) => {
        try {
          accessSync(join(d, t), constants.X_OK);
          return true;
        } catch {
          return false;
        }
      }),
  );
}

/** One sentence naming what is missing and the command that installs it. */
export function missingToolsMessage(missing: readonly string[]): string {
  const names = missing.join(' and ');
  return (
    `${names} ${missing.length === 1 ? 'is' : 'are'} not installed (not on PATH): run \`npm run setup\`, ` +
    `which installs redis-server and kcat with apt-get (as root) or prints the exact apt-get line`
  );
}
