#!/usr/bin/env -S node --max-semi-space-size=128
/**
 * The `funnelwatch` command. Each subcommand is a thin shell over a function elsewhere, so tests call the function
 * and this file only parses arguments, maps errors to exit codes and wires signals.
 *
 * Exit codes: 0 fine, 1 a problem the command found (validation errors, runtime failure), 2 bad configuration or usage.
 */
import { takeEarlySignal } from './app/early-signals.js'; // first: latches signals while the rest loads
import { Command, CommanderError, Option } from 'commander';
import { VERSION } from './core/version.js';
import { loadConfig, ConfigError, configMarkdown, configForDisplay, apiExposureProblem } from './config/config.js';
import { createLogger } from './obs/logger.js';
import { errorMessage } from './core/errors.js';
import { missingNodeFlags } from './app/node-flags.js';
import { daemonTarget, type DaemonClientOptions } from './core/daemon-api.js';
// Types only (erased): the commands themselves load lazily, when run.
import type { ReplayFlags } from './replay/command.js';
import type { SilenceAddArgs, SilenceListArgs } from './notify/silence-command.js';
import type { DeployAddArgs, DeployListArgs } from './deploys/deploy-command.js';
import type { GateArgs } from './gates/gate-command.js';
import type { ExplainArgs } from './engine/explain-command.js';

function configOrExit(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`funnelwatch: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

const program = new Command();
program
  .name('funnelwatch')
  .description('Watches business funnels and pages people when conversion drops while the servers still look healthy.')
  .version(VERSION, '-v, --version')
  .showHelpAfterError()
  // Root options only before the subcommand: `funnelwatch deploy --version v2.3.1` is the deploy's version, not ours.
  .enablePositionalOptions()
  .exitOverride();

program
  .command('run')
  .description('run the daemon: consume events, keep windows in Redis, evaluate rules, deliver alerts')
  .action(async () => {
    const config = configOrExit();
    const exposed = apiExposureProblem(config);
    if (exposed) {
      process.stderr.write(`funnelwatch: refusing to start: ${exposed}\n`);
      process.exit(2);
    }
    const logger = createLogger({ level: config.FW_LOG_LEVEL, pretty: config.FW_LOG_PRETTY });
    const missing = missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS);
    if (missing.length > 0) {
      logger.info(
        { missing },
        `node runs without ${missing.join(' ')}: ` +
          `expect ~15 % lower ingest throughput under heavy load (README, Operations)`,
      );
    }
    const { runDaemonUntilSignal } = await import('./app/daemon.js');
    process.exitCode = await runDaemonUntilSignal(config, logger);
  });

program
  .command('validate')
  .description('check rule files; prints path:line:col: message per problem, exits 1 when there are any')
  .argument('[paths...]', 'files or directories (default: FW_RULES_DIR)')
  .action(async (paths: string[]) => {
    const { runValidateCommand } = await import('./rules/validate-command.js');
    const targets = paths.length > 0 ? paths : [process.env.FW_RULES_DIR ?? './rules'];
    process.exitCode = await runValidateCommand(targets, (line) => process.stdout.write(`${line}\n`));
  });

program
  .command('demo')
  .description('start a throw-away Redis and Kafka-protocol broker, the daemon, and a simulated shop; Ctrl-C stops all')
  .option('--rate <n>', 'checkouts started per minute', '1200')
  .option('--duration <seconds>', 'stop by itself after this many seconds (default: run until Ctrl-C)')
  .option('--seed <n>', 'seed of the simulated shop: the same seed, the same shop', '42')
  .option('--speed <x>', "the demo's clock runs this many times the wall clock", '2')
  .option('--check', 'stop as soon as the story is checked: exit 0 when it held, 1 (saying what differed) if not')
  .addOption(
    new Option(
      '--story <name>',
      'canary: the canary gate failing a bad rollout, passing a good one; ' +
        'night: thin traffic, stripe broken, canary users catch it',
    ).choices(['canary', 'night']),
  )
  .action(
    async (opts: { rate: string; duration?: string; seed: string; speed: string; check?: boolean; story?: string }) => {
      if (opts.story === 'night') {
        const { runNightStory } = await import('./demo/night-story.js');
        process.exitCode = await runNightStory({ seed: Number(opts.seed) });
        return;
      }
      if (opts.story === 'canary') {
        const { runCanaryStory } = await import('./demo/canary-story.js');
        process.exitCode = await runCanaryStory({ checkoutsPerMinute: Number(opts.rate) });
        return;
      }
      const { runDemo } = await import('./demo/run-demo.js');
      const bad = demoOptionProblem(opts);
      if (bad) {
        process.stderr.write(`funnelwatch demo: ${bad}\n`);
        process.exit(2);
      }
      process.exitCode = await runDemo({
        checkoutsPerMinute: Number(opts.rate),
        durationSec: opts.duration ? Number(opts.duration) : undefined,
        seed: Number(opts.seed),
        speed: Number(opts.speed),
        stopWhenChecked: opts.check === true,
      });
      // A stopped demo has stopped every child; sockets of clients being torn down must not hold the exit up.
      process.exit(process.exitCode);
    },
  );

function demoOptionProblem(o: { rate: string; duration?: string; seed: string; speed: string }): string | null {
  const positive = (v: string | undefined) => v === undefined || (Number.isFinite(Number(v)) && Number(v) > 0);
  if (!positive(o.rate)) return `--rate: expected a number of checkouts per minute above 0, got "${o.rate}"`;
  if (!positive(o.duration)) return `--duration: expected a number of seconds above 0, got "${o.duration}"`;
  if (!Number.isInteger(Number(o.seed))) return `--seed: expected a whole number, got "${o.seed}"`;
  if (!positive(o.speed) || Number(o.speed) > 60) return `--speed: expected a number from 0 to 60, got "${o.speed}"`;
  return null;
}

const stdio = {
  out: (l: string) => process.stdout.write(`${l}\n`),
  err: (l: string) => process.stderr.write(`${l}\n`),
};

program
  .command('replay')
  .description(
    'run recorded events (NDJSON, .gz too) through the real pipeline on a virtual clock; ' +
      'one JSON line per alert transition',
  )
  .requiredOption('--events <files...>', 'event files in time order: native, Segment or CloudEvents envelopes')
  .option('--rules <dir>', 'rule directory (default: FW_RULES_DIR, else ./rules)')
  .option('--from <time>', 'apply only events at or after this time (ISO 8601 with a zone, or ms)')
  .option('--to <time>', 'apply only events before this time')
  .option('--deploys <file>', 'deploy markers, NDJSON ({service, version, ts, …}), for deploy correlation')
  .option('--out <file>', 'write the transitions here (default: stdout)')
  .option(
    '--redis <url>',
    'use this Redis under a private key prefix, ' +
      'removed at the end (default: FW_REDIS_URL if set, else a redis-server started for the run)',
  )
  .action(async (flags: ReplayFlags) => {
    const { runReplayCommand } = await import('./replay/command.js');
    process.exitCode = await runReplayCommand(flags, stdio);
  });

program
  .command('backtest')
  .description(
    'evaluate one rule over the history in Redis (read-only): when it would have fired and resolved, pages per week',
  )
  .requiredOption('--rule <name>', 'the rule to try')
  .option('--rule-file <file>', 'an edited version of the rule (its rules replace the live ones of the same name)')
  .option('--since <duration>', "how far back, e.g. 14d (bounded by the funnel's fine retention)", '14d')
  .option('--rules <dir>', 'rule directory (default: FW_RULES_DIR)')
  .action(async (flags: { rule: string; ruleFile?: string; since: string; rules?: string }) => {
    const config = configOrExit();
    const { runBacktestCommand } = await import('./replay/command.js');
    process.exitCode = await runBacktestCommand(
      flags,
      {
        redisUrl: config.FW_REDIS_URL,
        redisCluster: config.FW_REDIS_CLUSTER,
        prefix: config.FW_REDIS_PREFIX,
        rulesDir: config.FW_RULES_DIR,
        environment: config.FW_ENVIRONMENT,
      },
      stdio,
    );
  });

program
  .command('config')
  .description('print the effective configuration (secrets hidden), or the reference table with --markdown')
  .option('--markdown', 'print the configuration reference as a Markdown table')
  .action((opts: { markdown?: boolean }) => {
    if (opts.markdown) {
      process.stdout.write(`${configMarkdown()}\n`);
      return;
    }
    const config = configOrExit();
    process.stdout.write(`${JSON.stringify(configForDisplay(config), null, 2)}\n`);
  });

program
  .command('kafka')
  .description('Kafka checkpoints kept in Redis')
  .command('reset-checkpoints')
  .description(
    'accept a Kafka log whose offsets started again (new broker or topic, same Redis): clear the offsets Redis records',
  )
  .option('--topic <topic>', 'one of FW_KAFKA_TOPICS (offsets are kept per partition number, shared by the topics)')
  .option('--yes', 'clear them; without it, only list what would be cleared')
  .action(async (flags: { topic?: string; yes?: boolean }) => {
    const config = configOrExit();
    const { runResetCheckpoints } = await import('./app/reset-checkpoints.js');
    process.exitCode = await runResetCheckpoints(
      {
        redisUrl: config.FW_REDIS_URL,
        redisCluster: config.FW_REDIS_CLUSTER,
        prefix: config.FW_REDIS_PREFIX,
        rulesDir: config.FW_RULES_DIR,
        kafkaTopics: config.FW_KAFKA_TOPICS,
        ...(flags.topic !== undefined ? { topic: flags.topic } : {}),
        yes: flags.yes === true,
      },
      stdio,
    );
  });

const silence = program
  .command('silence')
  .description("mute alert notifications for a while (add, list, expire), through a running daemon's HTTP API");

/**
 * The daemon's address and token, on every client subcommand so they can follow it anywhere on the line. The address
 * is `--url` for silences, `--api` for deploy commands (where `--url` is the deploy's own link).
 */
function withDaemonOptions(cmd: Command, addressFlag: '--url' | '--api'): Command {
  return cmd
    .option(`${addressFlag} <url>`, `the daemon's HTTP address (default: FUNNELWATCH_URL, else http://127.0.0.1:8080)`)
    .option(
      '--token <token>',
      'bearer token for the API (default: FUNNELWATCH_TOKEN; prefer the variable, arguments show in ps)',
    );
}

function daemonClient(address: string | undefined, token: string | undefined): DaemonClientOptions {
  return { ...daemonTarget({ address, token }, process.env), ...stdio };
}

type DaemonFlags<A extends 'url' | 'api'> = { [K in A]?: string } & { token?: string };
type ProbeFlags = {
  dir: string;
  once?: boolean;
  check?: boolean;
  environment: string;
  location?: string;
  redis?: string;
  redisPrefix?: string;
};

withDaemonOptions(
  silence
    .command('add')
    .description(
      'create a silence; prints its id. Matchers: name=value, name!=value, name=~regex, name!~regex ' +
        "(labels: funnel, rule, severity, segment, the segment dimension, the rule's labels)",
    )
    .argument('<matchers...>', 'e.g. funnel=checkout segment=~"payment_provider=(stripe|adyen)"')
    .option('--duration <duration>', 'how long from the start, e.g. 2h, 1h30m, 3d')
    .option('--end <time>', 'when it ends, ISO 8601 with a zone, e.g. 2025-01-06T18:00:00Z')
    .option('--start <time>', 'when it starts (default: now)')
    .option('--author <name>', 'who is silencing (default: $USER)')
    .option('--comment <text>', 'why: a ticket, a maintenance, a known cause'),
  '--url',
).action(async (matchers: string[], flags: Omit<SilenceAddArgs, 'matchers'> & DaemonFlags<'url'>) => {
  const cmd = await import('./notify/silence-command.js');
  process.exitCode = await cmd.runSilenceAdd(daemonClient(flags.url, flags.token), {
    ...flags,
    matchers,
    author: flags.author ?? process.env.USER,
  });
});

withDaemonOptions(
  silence
    .command('list')
    .description('list silences, newest first')
    .addOption(
      new Option('--state <state>', 'which ones').choices(['active', 'pending', 'expired', 'all']).default('all'),
    )
    .option('--json', 'print the API answer as JSON'),
  '--url',
).action(async (flags: SilenceListArgs & DaemonFlags<'url'>) => {
  const cmd = await import('./notify/silence-command.js');
  process.exitCode = await cmd.runSilenceList(daemonClient(flags.url, flags.token), flags);
});

withDaemonOptions(
  silence
    .command('expire')
    .description('end a silence now (it stays listed as expired for 7 days)')
    .argument('<id>', 'the id printed by silence add or shown by silence list'),
  '--url',
).action(async (id: string, flags: DaemonFlags<'url'>) => {
  const cmd = await import('./notify/silence-command.js');
  process.exitCode = await cmd.runSilenceExpire(daemonClient(flags.url, flags.token), { id });
});

withDaemonOptions(
  program
    .command('deploy')
    .description(
      'record a deploy marker (for CI/CD scripts); prints its id. Alerts name the deploys near the onset of a drop',
    )
    .option('--service <name>', 'the deployed service, e.g. payments-service')
    .option('--version <version>', 'the version deployed, e.g. v2.3.1')
    .option('--environment <env>', 'where it was deployed (default: production)')
    .option(
      '--ts <time>',
      'when, ISO 8601 with a zone or ms since the epoch (default: now on the daemon); give it to make retries safe',
    )
    .option('--commit <sha>', 'the commit deployed')
    .option('--author <name>', 'who deployed')
    .option('--url <url>', 'a link to the build, release or change')
    .option(
      '--attr <key=value>',
      'a label, repeatable; name a funnel dimension to tie the deploy to a segment, e.g. --attr platform=android',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    ),
  '--api',
).action(async (flags: Omit<DeployAddArgs, 'attrs'> & { attr?: string[] } & DaemonFlags<'api'>) => {
  const cmd = await import('./deploys/deploy-command.js');
  process.exitCode = await cmd.runDeployAdd(daemonClient(flags.api, flags.token), { ...flags, attrs: flags.attr });
});

const deploys = program.command('deploys').description('deploy markers recorded by the daemon, through its HTTP API');

withDaemonOptions(
  deploys
    .command('list')
    .description('list deploy markers, newest first')
    .option('--since <when>', 'a duration back from now (24h, 7d), an ISO time or ms', '24h')
    .option('--service <name>', 'only this service')
    .option('--environment <env>', 'only this environment')
    .option('--limit <n>', 'at most this many (1..1000, default 100)')
    .option('--json', 'print the API answer as JSON'),
  '--api',
).action(async (flags: DeployListArgs & DaemonFlags<'api'>) => {
  const cmd = await import('./deploys/deploy-command.js');
  process.exitCode = await cmd.runDeployList(daemonClient(flags.api, flags.token), flags);
});

withDaemonOptions(
  program
    .command('gate')
    .description(
      'ask a canary gate for its verdict (for CI): polls until pass or fail or the end of --wait; ' +
        'exits 0 pass, 1 fail, 3 still inconclusive, 2 refused',
    )
    .argument('<name>', 'the gate, as named in the rule files (GET /v1/gates lists them)')
    .option('--canary <value>', "the canary's value of the gate dimension, e.g. 5.3.0")
    .option('--baseline <value>', 'the stable value to compare with, e.g. 5.2.0')
    .option('--wait <duration>', 'keep asking this long for a decision, e.g. 45m (default: ask once)')
    .option('--interval <duration>', 'between looks (default 1m: the gate moves once a minute)')
    .option('--since <when>', "the comparison's start: ISO time, ms or a duration back (default: canary first seen)")
    .option('--weight <share>', "the canary's expected share of traffic for the split check, e.g. 10%")
    .option('--split-by <dimension>', "another dimension of the funnel instead of the gate's split_by")
    .option('--report', 'print the go/no-go evidence as Markdown at the end')
    .option('--json', 'print the last answer as JSON'),
  '--url',
).action(async (name: string, flags: GateArgs & DaemonFlags<'url'>) => {
  const cmd = await import('./gates/gate-command.js');
  process.exitCode = await cmd.runGateCommand(daemonClient(flags.url, flags.token), name, flags);
});

withDaemonOptions(
  program
    .command('explain')
    .description(
      'why a rule is quiet (or not), per series: data freshness, volume vs min_volume, baseline, silences, ' +
        'inhibition, the statistic against its threshold, and the smallest change it would catch within 15/60/240 min',
    )
    .argument('<rule>', 'the rule, as named in the rule files')
    .option('--segment <dimension=value>', 'only this series, e.g. payment_provider=stripe')
    .option('--json', 'print the answer as JSON (GET /v1/rules/<rule>/explain)'),
  '--url',
).action(async (rule: string, flags: ExplainArgs & DaemonFlags<'url'>) => {
  const cmd = await import('./engine/explain-command.js');
  process.exitCode = await cmd.runExplainCommand(daemonClient(flags.url, flags.token), rule, flags);
});

withDaemonOptions(
  program
    .command('probe')
    .description(
      'run the canary-user journeys of a directory on their schedules, sending synthetic funnel events to the daemon',
    )
    .option('--dir <dir>', 'the journey files (*.yaml)', 'probes')
    .option('--once', 'run every journey once and exit: 1 when one failed, 2 when a journey file is invalid')
    .option('--check', 'only check the journey files: path:line:col: message per problem, exit 1 if any')
    .option('--environment <env>', 'which base_url of the journeys to use', 'production')
    .option('--location <label>', "where this runner runs, e.g. eu-west-1 (default: the journey's location)")
    .option('--redis <url>', "the daemon's Redis: each run's result is recorded there for its probe alerts")
    .option('--redis-prefix <prefix>', "the daemon's FW_REDIS_PREFIX", 'fw'),
  '--url',
).action(async ({ redis, redisPrefix, ...flags }: ProbeFlags & DaemonFlags<'url'>) => {
  const { runProbeCommand } = await import('./probes/probe-command.js');
  const logger = createLogger({
    level: process.env.FW_LOG_LEVEL ?? 'info',
    pretty: 'auto',
    // --once and --check print their verdict on stdout; the log goes to stderr beside the problems.
    ...(flags.once || flags.check ? { destination: process.stderr } : {}),
  });
  const stopSignal = new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.exitCode = await runProbeCommand(
    {
      ...flags,
      once: flags.once === true,
      check: flags.check === true,
      ...(redis ? { redis: { url: redis, prefix: redisPrefix ?? 'fw' } } : {}),
      ...daemonTarget({ address: flags.url, token: flags.token }, process.env),
    },
    {
      logger,
      ...stdio,
      stopSignal,
      onReloadRequest: (reload) => process.on('SIGHUP', reload),
    },
  );
});

// Every command but `run` handles signals the ordinary way; `run` takes over the latch itself.
if (process.argv[2] !== 'run' && takeEarlySignal()) process.exit(130);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`funnelwatch: ${errorMessage(err)}\n`);
    process.exitCode = 1;
  }
}
