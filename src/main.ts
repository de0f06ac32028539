#!/usr/bin/env node
/**
 * The `funnelwatch` command. Each subcommand is a thin shell over a function elsewhere, so tests call the function
 * and this file only parses arguments, maps errors to exit codes and wires signals.
 *
 * Exit codes: 0 fine, 1 a problem the command found (validation errors, runtime failure), 2 bad configuration or usage.
 */
import { takeEarlySignal } from './early-signals.js'; // first: latches signals while the rest loads
import { Command, CommanderError } from 'commander';
import { VERSION } from './version.js';
import { loadConfig, ConfigError, configMarkdown, CONFIG_SPEC } from './config/config.js';
import { createLogger } from './obs/logger.js';
import { errorMessage } from './errors.js';

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
  .exitOverride();

program
  .command('run')
  .description('run the daemon: consume events, keep windows in Redis, evaluate rules, deliver alerts')
  .action(async () => {
    const config = configOrExit();
    const logger = createLogger({ level: config.FW_LOG_LEVEL, pretty: config.FW_LOG_PRETTY });
    const { runDaemonUntilSignal } = await import('./app.js');
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
  .action(async (opts: { rate: string; duration?: string }) => {
    const { runDemo } = await import('./demo/run-demo.js');
    process.exitCode = await runDemo({ checkoutsPerMinute: Number(opts.rate), durationSec: opts.duration ? Number(opts.duration) : undefined });
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
    const shown = Object.fromEntries(Object.keys(CONFIG_SPEC).map((k) => [k, (config as Record<string, unknown>)[k]]));
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
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
