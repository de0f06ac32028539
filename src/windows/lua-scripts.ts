/**
 * The window store's Lua commands (lua/*.lua, loaded and versioned by redis/scripts.ts), and the ONE place where
 * their replies (including negative return codes) become typed results or FwErrors. Redis failures map through
 * redis/failure.ts with the `WINDOW` codes.
 */
import { FwError } from '../core/errors.js';
import type { RedisLike } from '../redis/client.js';
import { redisFailure as mapRedisFailure } from '../redis/failure.js';
import { scriptSet } from '../redis/scripts.js';

export type { RedisLike };

const WINDOW_SCRIPT_FILES = {
  applyBatch: 'applyBatch-1.lua',
  readState: 'readState-1.lua',
  registerDimValues: 'registerDimValues-1.lua',
  sealPartition: 'sealPartition-1.lua',
  beginSeal: 'beginSeal-2.lua',
  compact: 'compact-1.lua',
} as const;

export type WindowCommand = keyof typeof WINDOW_SCRIPT_FILES;

/** Read and checked at first use (the store's constructor), so a missing or malformed script fails at start. */
const windowScripts = scriptSet(import.meta.url, WINDOW_SCRIPT_FILES);

/** Defines the window commands on a client (idempotent; defining again replaces the same script). */
export function defineWindowCommands(redis: RedisLike): void {
  windowScripts.define(redis);
}

/** Runs a defined window command; Redis failures come back as FwErrors (see `redisFailure`). */
export async function callWindowCommand(
  redis: RedisLike,
  cmd: WindowCommand,
  keys: string[],
  argv: (string | number)[],
  context: string,
): Promise<unknown> {
  return windowScripts.run(redis, cmd, keys, argv, 'WINDOW', context);
}

/** Wraps any failure of a Redis call into an FwError of the window store (WINDOW_REDIS_UNAVAILABLE / _REPLY). */
export function redisFailure(err: unknown, context: string): FwError {
  return mapRedisFailure(err, 'WINDOW', context);
}

export type ApplyReply =
  | { status: 'duplicate'; storedOffset: number }
  /** The meta's offset or sealedUpTo changed since the batch was computed: nothing was written; read again. */
  | { status: 'conflict'; storedOffset: string; sealedUpTo: string }
  | { status: 'applied' };

/** The one mapping of readState-1.lua's reply: the meta's fields (null when absent) and the states found, as flat
 *  (pair, position, state) triples; each pair and position is checked against `lists`, the lengths of the
 *  entity lists asked for, per pair. */
export function interpretReadStateReply(
  reply: unknown,
  lists: ArrayLike<number>,
  context: string,
): { o: string | null; w: string | null; s: string | null; found: (number | string)[] } {
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
    if (
      !Number.isInteger(p) ||
      !((p as number) >= 0 && (p as number) < lists.length) ||
      !Number.isInteger(x) ||
      !((x as number) >= 0 && (x as number) < lists[p as number]!) ||
      typeof found[i + 2] !== 'string'
    ) {
      throw malformed('readState', reply, context);
    }
  }
  const f = (v: unknown) => (v === '' || v === null || v === undefined ? null : String(v));
  return { o: f(reply[0]), w: f(reply[1]), s: f(reply[2]), found: found as (number | string)[] };
}

/** The one mapping of applyBatch-1.lua's return codes. */
export function interpretApplyReply(reply: unknown, context: string): ApplyReply {
  if (!Array.isArray(reply) || reply.length < 1) {
    throw new FwError('WINDOW_BAD_REPLY', `${context}: unexpected reply from applyBatch: ${JSON.stringify(reply)}`);
  }
  const code = Number(reply[0]);
  if (code === 1) return { status: 'applied' };
  if (code === -1 && reply.length >= 2) return { status: 'duplicate', storedOffset: Number(reply[1]) };
  if (code === -3 && reply.length >= 3)
    return { status: 'conflict', storedOffset: String(reply[1]), sealedUpTo: String(reply[2]) };
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
export function interpretSealReply(
  reply: unknown,
  context: string,
): { sealedUpTo: number; firstBucket: number | undefined; watermark: number | undefined } {
  if (!Array.isArray(reply) || reply.length < 2) throw malformed('sealPartition', reply, context);
  if (Number(reply[0]) === -2) throw refusedArguments('sealPartition', reply, context);
  if (reply.length !== 3) throw malformed('sealPartition', reply, context);
  const fb = Number(reply[1]);
  const w = Number(reply[2]);
  return { sealedUpTo: Number(reply[0]), firstBucket: fb < 0 ? undefined : fb, watermark: w < 0 ? undefined : w };
}

/** The one mapping of beginSeal-2.lua's reply. */
export function interpretBeginSealReply(
  reply: unknown,
  context: string,
): { horizon: number; compactedUpTo: number | undefined; partitions: string[] } {
  if (!Array.isArray(reply) || reply.length < 2) throw malformed('beginSeal', reply, context);
  if (Number(reply[0]) === -2) throw refusedArguments('beginSeal', reply, context);
  const c = String(reply[1]);
  return {
    horizon: Number(reply[0]),
    compactedUpTo: c === '' ? undefined : Number(c),
    partitions: reply.slice(2).map(String),
  };
}

/** The one mapping of compact-1.lua's reply: applied (compactedUpTo is now `to`) or refused (someone else's). */
export function interpretCompactReply(
  reply: unknown,
  context: string,
): { status: 'compacted' | 'refused'; compactedUpTo: number } {
  if (!Array.isArray(reply) || reply.length !== 2) throw malformed('compact', reply, context);
  const code = Number(reply[0]);
  if (code === 1) return { status: 'compacted', compactedUpTo: Number(reply[1]) };
  if (code === -1) return { status: 'refused', compactedUpTo: Number(reply[1]) };
  if (code === -2) throw refusedArguments('compact', reply, context);
  throw malformed('compact', reply, context);
}

/** The one mapping of registerDimValues-1.lua's reply: per requested value its code and the dimension's count. */
export function interpretRegisterReply(
  reply: unknown,
  expected: number,
  context: string,
): { code: number; given: number }[] {
  if (!Array.isArray(reply) || reply.length !== expected * 2) {
    throw new FwError(
      'WINDOW_BAD_REPLY',
      `${context}: unexpected reply from registerDimValues: ${JSON.stringify(reply)}`,
    );
  }
  const out: { code: number; given: number }[] = [];
  for (let i = 0; i < reply.length; i += 2) out.push({ code: Number(reply[i]), given: Number(reply[i + 1]) });
  return out;
}
