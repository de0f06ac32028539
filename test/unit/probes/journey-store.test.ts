import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JourneyStore } from '../../../src/probes/journey-store.js';
import type { DirWatcher, RuleStoreLogger } from '../../../src/rules/rule-store.js';

const journey = (name: string) => `name: ${name}
funnel: checkout
every: 1m
base_url: { production: 'http://127.0.0.1:9' }
steps:
  - { name: home, url: / }
`;

function fakeWatcher() {
  const w = { onChange: undefined as undefined | (() => void), onError: undefined as undefined | ((e: Error) => void) };
  let opened = 0;
  let closed = 0;
  const watcher: DirWatcher = (_dir, onChange, onError) => {
    opened++;
    w.onChange = onChange;
    w.onError = onError;
    return { close: () => void closed++ };
  };
  return { w, watcher, opened: () => opened, closed: () => closed };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('JourneyStore watching', () => {
  it('watches again after the watcher fails, reloads the replaced directory, and stops on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fw-journeys-'));
    writeFileSync(join(dir, 'a.yaml'), journey('first'));
    const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() } satisfies RuleStoreLogger;
    const fw = fakeWatcher();
    const store = new JourneyStore({
      dir,
      logger,
      loadOptions: { environment: 'production' },
      watcher: fw.watcher,
      debounceMs: 10,
      rewatchMs: 1_000,
    });
    expect((await store.reload()).ok).toBe(true);
    vi.useFakeTimers();
    store.watch();
    expect(fw.opened()).toBe(1);

    writeFileSync(join(dir, 'a.yaml'), journey('second'));
    fw.w.onError!(new Error('ENOENT'));
    expect(fw.closed()).toBe(1);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.objectContaining({ err: 'ENOENT' }),
      expect.stringMatching(/retrying/),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    // Before the fix the store never watched again: one watcher for its whole life.
    expect(fw.opened()).toBe(2);
    vi.useRealTimers();
    await vi.waitFor(() => expect(store.current!.journeys[0]!.name).toBe('second'));

    // The new watcher works: a change is reloaded.
    writeFileSync(join(dir, 'a.yaml'), journey('third'));
    fw.w.onChange!();
    await vi.waitFor(() => expect(store.current!.journeys[0]!.name).toBe('third'));

    await store.close();
    expect(fw.closed()).toBe(2);
  });
});
