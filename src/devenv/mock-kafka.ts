/**
 * A real Kafka-protocol broker for tests, the demo and benchmarks: librdkafka's mock cluster, which Debian's `kcat`
 * carries. `kcat -C` with `test.mock.num.brokers` starts an in-process cluster that speaks the Kafka wire protocol
 * (produce, fetch, metadata, consumer groups, offset commits) and prints its bootstrap address on stderr; the kcat
 * consumer itself only keeps the cluster alive.
 *
 * Known limits (see the architecture brief): topics are auto-created with 4 partitions, and each partition keeps
 * only its newest ~5 MB, so long runs must consume while producing and check for truncation.
 */
import { spawnManaged, waitForOutput } from './child.js';

export interface MockKafkaHandle {
  brokers: string[];
  stop(): Promise<void>;
}

export async function startMockKafka(numBrokers = 3): Promise<MockKafkaHandle> {
  const child = spawnManaged('kcat', [
    '-b',
    'unused:9092',
    '-C',
    '-t',
    '__fw_keepalive',
    '-q',
    '-X',
    `test.mock.num.brokers=${numBrokers}`,
  ]);
  const m = await waitForOutput(
    child.proc,
    'stderr',
    /Mock cluster enabled: .* replaced with (\S+)/,
    10_000,
    'kcat mock cluster',
  );
  const brokers = m[1]!.split(',');
  // Keep draining stderr: kcat logs mock activity there, and a full pipe would block it.
  child.proc.stderr?.resume();
  child.proc.stdout?.resume();
  return { brokers, stop: () => child.stop() };
}
