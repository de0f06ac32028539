import { afterEach, describe, it, expect, vi } from 'vitest';
import pino from 'pino';
import { RuleStore, type DirWatcher, type RuleStoreLogger, type ReloadOutcome } from '../../../src/rules/rule-store.js';
import { checkRuleSources } from '../../../src/rules/loader.js';
import type { LoadResult } from '../../../src/rules/rule-set.js';
import { ManualClock } from '../../../src/core/clock.js';

const text = (rule: string) => `funnel:
  name: checkout
  steps: [{ name: started, event: a }, { name: completed, event: b }]
  conversion_window: 30m
rules:
  - { name: ${rule}, metric: { cohort_conversion: { from: started, to: completed } }, drop: 5%, severity: info }
`;

function fakeFiles() {
  let content = text('first');
  let gate: Promise<void> | undefined;
  const load = vi.fn(async (): Promise<LoadResult> => {
    const snapshot = content; // read at start, like a real directory read
    if (gate) await gate;
    return checkRuleSources([{ path: 'rules/checkout.yaml', text: snapshot }]);
  });
  return {
    load,
    set: (t: string) => (content = t),
    hold: () => {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

function fakeWatcher() {
  const w = {
    onChange: undefined as undefined | (() => void),
    onError: undefined as undefined | ((e: Error) => void),
    closed: 0,
    opened: 0,
  };
  const watcher: DirWatcher = (_dir, onChange, onError) => {
    w.opened++;
    w.onChange = onChange;
    w.onError = onError;
    return { close: () => void w.closed++ };
  };
  return { w, watcher };
}

function logger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies RuleStoreLogger;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RuleStore', () => {
  it('a pino logger fits the logger interface', () => {
    const l: RuleStoreLogger = pino({ level: 'silent' });
    expect(l).toBeDefined();
  });

  it('keeps the previous set and the problems when a reload is invalid', async () => {
    const files = fakeFiles();
    const log = logger();
    const store = new RuleStore({ dir: 'rules', logger: log, load: files.load, clock: new ManualClock(1000) });
    expect(store.current).toBeNull();
    expect((await store.reload('initial')).ok).toBe(true);
    const good = store.current!;
    expect(good.rules.map((r) => r.name)).toEqual(['first']);

    files.set(text('first').replace('drop: 5%', 'drop: lots'));
    const outcome = await store.reload();
    expect(outcome).toMatchObject({ ok: false, activeVersion: good.version, trigger: 'manual' });
    expect(store.current).toBe(good);
    expect(store.lastErrors.map((p) => p.code)).toEqual(['invalid_percent']);
    expect(store.status()).toMatchObject({
      ready: true,
      version: good.version,
      loadedAt: 1000,
      lastReload: { ok: false, trigger: 'manual' },
    });
    expect(store.status().errors[0]).toMatch(
      /^rules\/checkout\.yaml:6:\d+: rules\[0\]\.drop: "lots" is not a percentage/,
    );
    expect(log.error).toHaveBeenCalledWith(
      expect.objectContaining({ problemCount: 1, activeVersion: good.version }),
      'rules rejected; keeping the previous rule set',
    );

    files.set(text('second'));
    const fixed = await store.reload();
    expect(fixed).toMatchObject({ ok: true, changed: true, previousVersion: good.version });
    expect(store.current!.rules.map((r) => r.name)).toEqual(['second']);
    expect(store.lastErrors).toEqual([]);
    await store.close();
  });

  it('does not swap when nothing changed', async () => {
    const files = fakeFiles();
    const store = new RuleStore({ dir: 'rules', logger: logger(), load: files.load });
    await store.reload();
    const first = store.current;
    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
    expect(store.current).toBe(first);
    await store.close();
  });

  it('tells listeners about every attempt, and survives a listener that throws', async () => {
    const files = fakeFiles();
    const log = logger();
    const store = new RuleStore({ dir: 'rules', logger: log, load: files.load });
    const seen: ReloadOutcome[] = [];
    store.onReload(() => {
      throw new Error('metrics broke');
    });
    const off = store.onReload((o) => seen.push(o));
    await store.reload('initial');
    files.set('not: [valid');
    await store.reloadOnSignal();
    off();
    await store.reload();
    expect(seen.map((o) => [o.trigger, o.ok])).toEqual([
      ['initial', true],
      ['signal', false],
    ]);
    expect(log.warn).toHaveBeenCalledWith({ err: 'metrics broke' }, 'rule reload listener failed');
    await store.close();
  });

  it('runs one reload at a time and folds requests made meanwhile into one', async () => {
    const files = fakeFiles();
    const store = new RuleStore({ dir: 'rules', logger: logger(), load: files.load });
    const release = files.hold();
    const a = store.reload();
    await Promise.resolve();
    const b = store.reload();
    const c = store.reload();
    expect(b).toBe(c);
    files.set(text('newer'));
    release();
    await Promise.all([a, b, c]);
    expect(files.load).toHaveBeenCalledTimes(2);
    expect(store.current!.rules[0]!.name).toBe('newer');
    await store.close();
  });

  it('debounces bursts of file events into one reload', async () => {
    vi.useFakeTimers();
    const files = fakeFiles();
    const { w, watcher } = fakeWatcher();
    const store = new RuleStore({ dir: 'rules', logger: logger(), load: files.load, watcher, debounceMs: 200 });
    store.watch();
    store.watch(); // idempotent
    expect(w.opened).toBe(1);
    for (let i = 0; i < 5; i++) {
      w.onChange!();
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(files.load).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(200);
    expect(files.load).toHaveBeenCalledTimes(1);

    // Events further apart than the debounce are separate reloads.
    w.onChange!();
    await vi.advanceTimersByTimeAsync(250);
    w.onChange!();
    await vi.advanceTimersByTimeAsync(250);
    expect(files.load).toHaveBeenCalledTimes(3);
    await store.close();
  });

  it('watches again after the watcher fails, and stops everything on close', async () => {
    vi.useFakeTimers();
    const files = fakeFiles();
    const { w, watcher } = fakeWatcher();
    const log = logger();
    const store = new RuleStore({
      dir: 'rules',
      logger: log,
      load: files.load,
      watcher,
      debounceMs: 100,
      rewatchMs: 1000,
    });
    store.watch();
    w.onError!(new Error('ENOENT'));
    expect(w.closed).toBe(1);
    expect(log.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: 'ENOENT' }),
      expect.stringMatching(/retrying/),
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.opened).toBe(2);
    expect(files.load).toHaveBeenCalledTimes(1); // the reload scheduled on failure

    w.onChange!();
    await store.close();
    expect(w.closed).toBe(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(files.load).toHaveBeenCalledTimes(1);
    await expect(store.reload()).rejects.toMatchObject({ code: 'rule_store_closed' });
  });

  it('reports a loader that throws as a problem instead of crashing', async () => {
    const store = new RuleStore({
      dir: 'rules',
      logger: logger(),
      load: async () => {
        throw new Error('disk on fire');
      },
    });
    const o = await store.reload();
    expect(o.ok).toBe(false);
    expect(store.status().errors).toEqual(['rules: cannot load rules: disk on fire']);
    await store.close();
  });
});
