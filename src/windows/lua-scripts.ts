/**
 * The window store's Lua commands: loading the `.lua` files, registering them with ioredis `defineCommand` under
 * versioned names, and the ONE place where their replies (including negative return codes) and Redis failures
 * become typed results or FwErrors.
 *
 * Registration through defineCommand means ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT, so a script
 * cache lost on failover or restart costs one round trip, never an error. The version in the command name changes
 * whenever a script's arguments or the key layout change, so two releases running side by side during a rollout
 * never call each other's script under the same name.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { FwError, errorMessage } from '../errors.js';

export type RedisLike = Redis | Cluster;

export const WINDOW_COMMANDS = {
  // V3: commits a batch computed by the daemon (apply-plan.ts) if the meta's offset and sealedUpTo are still the
  // ones it was computed from (conflict otherwise); V2 ran the state machine per event in Lua.
  // V4: the same commit with its arguments packed into one JSON array (the per-argument client cost dominated).
  applyBatch: { name: 'fwWindowsApplyBatchV4', file: 'applyBatch-2.lua', keys: 1 },
  readState: { name: 'fwWindowsReadStateV2', file: 'readState-2.lua', keys: 1 },
  registerDimValues: { name: 'fwWindowsRegisterDimValuesV1', file: 'registerDimValues-1.lua', keys: 1 },
  sealPartition: { name: 'fwWindowsSealPartitionV1', file: 'sealPartition-1.lua', keys: 1 },
  beginSeal: { name: 'fwWindowsBeginSealV1', file: 'beginSeal-2.lua', keys: 2 },
  compact: { name: 'fwWindowsCompactV1', file: 'compact-1.lua', keys: 1 },
} as const;

export type WindowCommand = keyof typeof WINDOW_COMMANDS;

/**
 * Finds a script of the module folder `sub` (default `windows`): `<sub>/lua/<file>` beside this module's folder
 * (`src/<sub>/lua` under vitest, `dist/<sub>/lua` after `npm run build`, which copies the .lua files), else in
 * `src/<sub>/lua` of the nearest ancestor directory, which covers code compiled to any other out dir inside the
 * repository (the memory benchmark) without a copy step.
 */
export function locateLua(file: string, sub = 'windows'): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(dirname(here), sub, 'lua', file)];
  for (let dir = here, i = 0; i < 8; i++) {
    candidates.push(join(dir, 'src', sub, 'lua', file));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new FwError('WINDOW_LUA_MISSING', `Lua script ${file} not found (looked in ${candidates.join(', ')}); ` +
      `a build must copy src/${sub}/lua/*.lua next to the compiled ${sub} modules`);
  }
  return found;
}

const sources = new Map<string, string>();
function luaSource(file: string): string {
  let src = sources.get(file);
  if (src === undefined) {
    src = readFileSync(locateLua(file), 'utf8');
    sources.set(file, src);
  }
  return src;
}

/** Defines the window commands on a client (idempotent; defining again replaces the same script). */
export function defineWindowCommands(redis: RedisLike): void {
  for (const c of Object.values(WINDOW_COMMANDS)) {
    redis.defineCommand(c.name, { lua: luaSource(c.file), numberOfKeys: c.keys });
  }
}

/** Runs a defined window command; Redis failures come back as FwErrors (see `redisFailure`). */
export async function callWindowCommand(redis: RedisLike, cmd: WindowCommand, keys: string[], argv: (string | number)[],
  context: string): Promise<unknown> {
  const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[WINDOW_COMMANDS[cmd].name];
  if (typeof fn !== 'function') {
    throw new FwError('WINDOW_NOT_DEFINED', `${WINDOW_COMMANDS[cmd].name} is not defined on this client; construct the store first`);
  }
  try {
    return await fn.call(redis, ...keys, ...argv);
  } catch (err) {
    throw redisFailure(err, context);
  }
}

/** Redis replies that mean "try again" (the server or cluster is busy or moving), as opposed to a bug. */
const RETRIABLE_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MOVED|ASK|MASTERDOWN|READONLY|OOM|NOREPLICAS)\b/;

/** Wraps any failure of a Redis call into an FwError that says whether retrying can help. */
export function redisFailure(err: unknown, context: string): FwError {
  if (err instanceof FwError) return err;
  const msg = errorMessage(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (isReply && !RETRIABLE_REPLY.test(msg)) {
    return new FwError('WINDOW_REDIS_REPLY', `${context}: Redis refused the command: ${msg}`, { cause: err });
  }
  // Connection loss, timeouts, "max retries per request", busy/failover replies: the same call can succeed later.
  return new FwError('WINDOW_REDIS_UNAVAILABLE', `${context}: ${msg}`, { cause: err });
}

export type ApplyReply =
  | { status: 'duplicate'; storedOffset: number }
  /** The meta's offset or sealedUpTo changed since the batch was computed: nothing was written; read again. */
  | { status: 'conflict'; storedOffset: string; sealedUpTo: string }
  | { status: 'applied' };

/** The one mapping of readState-2.lua's reply: the meta's fields (null when absent) and the states found, as flat
 *  (pair, position, state) triples; each pair and position is checked against `lists`, the lengths of the
 *  entity lists asked for, per pair. */
export function interpretReadStateReply(reply: unknown, lists: ArrayLike<number>, context: string):
  { o: string | null; w: string | null; s: string | null; found: (number | string)[] } {
  if (!Array.isArray(reply) || reply.length < 2) throw malformed('readState', reply, context);
  if (Number(reply[0]) === -2 && reply.length === 2) throw refusedArguments('readState', reply, context);
  if (reply.length !== 4 || typeof reply[3] !== 'string') throw malformed('readState', reply, context);
  let found: unknown;
  try {
    found = JSON.parse(reply[3]);
  } catch {
    throw malformed('readState', reply, context);
  }
  if (!Array.isArray(found) || found.length % 3 !== 0) throw malformed('readState', reply, context);
  for (let i = 0; i < found.length; i += 3) {
    const p = found[i] as unknown;
    const x = found[i + 1] as unknown;
    if (!Number.isInteger(p) || !((p as number) >= 0 && (p as number) < lists.length) || !Number.isInteger(x)
      || !((x as number) >= 0 && (x as number) < lists[p as number]!) || typeof found[i + 2] !== 'string') {
      throw malformed('readState', reply, context);
    }
  }
  const f = (v: unknown) => (v === '' || v === null || v === undefined ? null : String(v));
  return { o: f(reply[0]), w: f(reply[1]), s: f(reply[2]), found: found as (number | string)[] };
}

/** The one mapping of applyBatch-2.lua's return codes. */
export function interpretApplyReply(reply: unknown, context: string): ApplyReply {
  if (!Array.isArray(reply) || reply.length < 1) {
    throw new FwError('WINDOW_BAD_REPLY', `${context}: unexpected reply from applyBatch: ${JSON.stringify(reply)}`);
  }
  const code = Number(reply[0]);
  if (code === 1) return { status: 'applied' };
  if (code === -1 && reply.length >= 2) return { status: 'duplicate', storedOffset: Number(reply[1]) };
  if (code === -3 && reply.length >= 3) return { status: 'conflict', storedOffset: String(reply[1]), sealedUpTo: String(reply[2]) };
  if (code === -2) {
    throw new FwError('WINDOW_BAD_ARGUMENTS', `${context}: applyBatch refused its arguments: ${String(reply[1])}`);
  }
  throw new FwError('WINDOW_BAD_REPLY', `${context}: unexpected reply from applyBatch: ${JSON.stringify(reply)}`);
}

function malformed(name: string, reply: unknown, context: string): FwError {
  return new FwError('WINDOW_BAD_REPLY', `${context}: unexpected reply from ${name}: ${JSON.stringify(reply)}`);
}

function refusedArguments(name: string, reply: unknown[], context: string): FwError {
  return new FwError('WINDOW_BAD_ARGUMENTS', `${context}: ${name} refused its arguments: ${String(reply[1])}`);
}

/** The one mapping of sealPartition-1.lua's reply. */
export function interpretSealReply(reply: unknown, context: string): { sealedUpTo: number; firstBucket: number | undefined; watermark: number | undefined } {
  if (!Array.isArray(reply) || reply.length < 2) throw malformed('sealPartition', reply, context);
  if (Number(reply[0]) === -2) throw refusedArguments('sealPartition', reply, context);
  if (reply.length !== 3) throw malformed('sealPartition', reply, context);
  const fb = Number(reply[1]);
  const w = Number(reply[2]);
  return { sealedUpTo: Number(reply[0]), firstBucket: fb < 0 ? undefined : fb, watermark: w < 0 ? undefined : w };
}

/** The one mapping of beginSeal-2.lua's reply. */
export function interpretBeginSealReply(reply: unknown, context: string): { horizon: number; compactedUpTo: number | undefined; partitions: string[] } {
  if (!Array.isArray(reply) || reply.length < 2) throw malformed('beginSeal', reply, context);
  if (Number(reply[0]) === -2) throw refusedArguments('beginSeal', reply, context);
  const c = String(reply[1]);
  return { horizon: Number(reply[0]), compactedUpTo: c === '' ? undefined : Number(c), partitions: reply.slice(2).map(String) };
}

/** The one mapping of compact-1.lua's reply: applied (compactedUpTo is now `to`) or refused (someone else's). */
export function interpretCompactReply(reply: unknown, context: string): { status: 'compacted' | 'refused'; compactedUpTo: number } {
  if (!Array.isArray(reply) || reply.length !== 2) throw malformed('compact', reply, context);
  const code = Number(reply[0]);
  if (code === 1) return { status: 'compacted', compactedUpTo: Number(reply[1]) };
  if (code === -1) return { status: 'refused', compactedUpTo: Number(reply[1]) };
  if (code === -2) throw refusedArguments('compact', reply, context);
  throw malformed('compact', reply, context);
}

/** The one mapping of registerDimValues-1.lua's reply: per requested value its code and the dimension's count. */
export function interpretRegisterReply(reply: unknown, expected: number, context: string): { code: number; given: number }[] {
  if (!Array.isArray(reply) || reply.length !== expected * 2) {
    throw new FwError('WINDOW_BAD_REPLY', `${context}: unexpected reply from registerDimValues: ${JSON.stringify(reply)}`);
  }
  const out: { code: number; given: number }[] = [];
  for (let i = 0; i < reply.length; i += 2) out.push({ code: Number(reply[i]), given: Number(reply[i + 1]) });
  return out;
}
