/**
 * The one convention for Lua scripts, and their loader and caller.
 *
 * A script is `lua/<name>-<numkeys>.lua` beside the module that calls it, starting with a `--[[ ... ]]` header that
 * lists its KEYS (one `KEYS[i]` line each), ARGV and return values. The number of keys comes from the file name,
 * and the header must list exactly that many: a script whose keys changed without its name fails at load, not with
 * a CROSSSLOT or a wrong key in production.
 *
 * Each script is registered with ioredis `defineCommand` under a name derived from its content
 * (`fw_<name>_<8 hex of sha1>`): ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT, so a script cache lost on
 * failover or restart costs one round trip; two releases running side by side during a rollout never call each
 * other's script under one name, without anybody bumping a version by hand. Works the same on Redis and Cluster
 * clients (the Cluster routes by the first key).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FwError } from '../core/errors.js';
import type { RedisLike } from './client.js';
import { redisFailure, type RedisArea } from './failure.js';

export interface LuaScript {
  /** `<name>` of `<name>-<numkeys>.lua`. */
  name: string;
  file: string;
  numberOfKeys: number;
  /** The ioredis command name, versioned by content. */
  command: string;
  lua: string;
}

const FILE_NAME = /^([A-Za-z][A-Za-z0-9_-]*?)-(\d+)\.lua$/;

/** Parses and checks one script's source; `file` is its file name (the key count is read from it). */
export function parseLuaScript(file: string, lua: string): LuaScript {
  const m = FILE_NAME.exec(file);
  if (!m) {
    throw new FwError('REDIS_SCRIPT_INVALID', `Lua script ${file}: the name must be <name>-<numkeys>.lua`);
  }
  const name = m[1]!;
  const numberOfKeys = Number(m[2]);
  const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua.replace(/^\uFEFF/, ''));
  if (!header) {
    throw new FwError(
      'REDIS_SCRIPT_INVALID',
      `Lua script ${file}: must start with a --[[ ... ]] header listing ` + 'KEYS, ARGV and the return values',
    );
  }
  const listed = [...header[1]!.matchAll(/^\s*KEYS\[(\d+)\]/gm)].map((k) => Number(k[1]));
  const expected = Array.from({ length: numberOfKeys }, (_, i) => i + 1);
  if (listed.length !== numberOfKeys || listed.some((k, i) => k !== expected[i])) {
    const shown = listed.length ? listed.map((k) => `KEYS[${k}]`).join(', ') : 'none';
    throw new FwError(
      'REDIS_SCRIPT_INVALID',
      `Lua script ${file}: the name says ${numberOfKeys} key(s), but the ` +
        `header lists ${shown}; rename the file or fix the header`,
    );
  }
  const used = [...lua.slice(header[0].length).matchAll(/KEYS\[(\d+)\]/g)].map((k) => Number(k[1]));
  const beyond = used.find((k) => k > numberOfKeys);
  if (beyond !== undefined) {
    throw new FwError(
      'REDIS_SCRIPT_INVALID',
      `Lua script ${file}: uses KEYS[${beyond}] but takes ${numberOfKeys} ` + 'key(s)',
    );
  }
  const version = createHash('sha1').update(lua).digest('hex').slice(0, 8);
  return { name, file, numberOfKeys, command: `fw_${name.replace(/[^A-Za-z0-9]/g, '_')}_${version}`, lua };
}

/**
 * The `lua/` folder beside the module at `moduleUrl` (`src/<area>/lua` under vitest, `dist/<area>/lua` after
 * `npm run build`, which copies the .lua files), else `src/<area>/lua` of the nearest ancestor directory, which
 * covers code compiled to any other out dir inside the repository (the memory benchmark) without a copy step.
 */
export function luaDir(moduleUrl: string, file: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const area = basename(here);
  const candidates = [join(here, 'lua')];
  for (let dir = dirname(here), i = 0; i < 8; i++) {
    candidates.push(join(dir, 'src', area, 'lua'));
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const found = candidates.find((d) => existsSync(join(d, file)));
  if (!found) {
    throw new FwError(
      'REDIS_SCRIPT_MISSING',
      `Lua script ${file} not found (looked in ${candidates.join(', ')}); ` +
        `a build must copy src/${area}/lua/*.lua next to the compiled ${area} modules`,
    );
  }
  return found;
}

/**
 * Loads the scripts of one module (`import.meta.url`), by key: `{ settle: 'outbox-settle-3.lua' }`. Call once per
 * module (at its top level or lazily): it reads and checks the files.
 */
export function loadScripts<K extends string>(moduleUrl: string, files: Record<K, string>): Record<K, LuaScript> {
  const out = {} as Record<K, LuaScript>;
  for (const [key, file] of Object.entries(files) as [K, string][]) {
    out[key] = parseLuaScript(file, readFileSync(join(luaDir(moduleUrl, file), file), 'utf8'));
  }
  return out;
}

/** Defines scripts on a client (idempotent: defining again replaces the same script under the same name). */
export function defineScripts(redis: RedisLike, scripts: Record<string, LuaScript>): void {
  for (const s of Object.values(scripts)) redis.defineCommand(s.command, { lua: s.lua, numberOfKeys: s.numberOfKeys });
}

/** One module's scripts, read and checked at first use; see `scriptSet`. */
export interface ScriptSet<K extends string> {
  /** Defines every script of the set on a client (idempotent). */
  define(redis: RedisLike): void;
  /** Runs script `name` (see `runScript`): failures come back as FwErrors of `area`. */
  run(
    redis: RedisLike,
    name: K,
    keys: readonly string[],
    argv: readonly (string | number)[],
    area: RedisArea,
    context: string,
  ): Promise<unknown>;
}

/**
 * The registry a module keeps of its scripts, by key: `scriptSet(import.meta.url, { settle: 'outbox-settle-3.lua' })`
 * at its top level. Nothing is read at import: the files are read and checked when the set is first defined or run
 * (a store's constructor), so a missing or malformed script fails at start, and only in processes that use it.
 */
export function scriptSet<K extends string>(moduleUrl: string, files: Record<K, string>): ScriptSet<K> {
  let loaded: Record<K, LuaScript> | undefined;
  const scripts = () => (loaded ??= loadScripts(moduleUrl, files));
  return {
    define: (redis) => defineScripts(redis, scripts()),
    run: (redis, name, keys, argv, area, context) => runScript(redis, scripts()[name], keys, argv, area, context),
  };
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Runs a defined script. Failures come back as FwErrors of `area` (see failure.ts); a script not defined on this
 * client, or called with another number of keys than it takes, is a bug (`<area>_NOT_DEFINED`, `REDIS_SCRIPT_KEYS`).
 */
export async function runScript(
  redis: RedisLike,
  script: LuaScript,
  keys: readonly string[],
  argv: readonly (string | number)[],
  area: RedisArea,
  context: string,
): Promise<unknown> {
  const fn = (redis as unknown as Record<string, ScriptFn>)[script.command];
  if (typeof fn !== 'function') {
    throw new FwError(
      `${area}_NOT_DEFINED`,
      `${script.command} (${script.file}) is not defined on this client; ` + 'construct the store first',
    );
  }
  if (keys.length !== script.numberOfKeys) {
    throw new FwError(
      'REDIS_SCRIPT_KEYS',
      `${context}: ${script.file} takes ${script.numberOfKeys} key(s), ` + `got ${keys.length}`,
    );
  }
  try {
    return await fn.call(redis, ...keys, ...argv);
  } catch (err) {
    throw redisFailure(err, area, context);
  }
}
