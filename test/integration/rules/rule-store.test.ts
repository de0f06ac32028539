import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readlink, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it, expect, vi } from 'vitest';
import { RuleStore, type ReloadOutcome } from '../../../src/rules/rule-store.js';
import { eventually } from '../../support/env.js';

const CHECKOUT = readFileSync('test/fixtures/rules/split/checkout.yaml', 'utf8');
const MOBILE = readFileSync('test/fixtures/rules/split/checkout-mobile-team.yaml', 'utf8');

let dir: string;
let store: RuleStore;
const outcomes: ReloadOutcome[] = [];
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fw-rules-'));
  await writeFile(join(dir, 'checkout.yaml'), CHECKOUT);
  await writeFile(join(dir, 'checkout-mobile-team.yaml'), MOBILE);
  outcomes.length = 0;
  store = new RuleStore({ dir, logger: quiet, debounceMs: 100 });
  store.onReload((o) => outcomes.push(o));
  const first = await store.reload('initial');
  expect(first.ok).toBe(true);
  store.watch();
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const ruleNames = () => store.current!.rules.map((r) => r.name).sort();

describe('hot reload from a real directory', () => {
  it('applies a valid change when a file is saved', async () => {
    const before = store.current!.version;
    await writeFile(join(dir, 'checkout.yaml'), CHECKOUT.replace('drop: 5%', 'drop: 8%'));
    await eventually(() => (store.current!.version !== before ? true : undefined), 5_000, 'the new rule set');
    expect(store.current!.rules.find((r) => r.name === 'checkout-completion-drop')!.minChange).toBe(0.08);
    expect(outcomes.at(-1)).toMatchObject({ ok: true, trigger: 'watch', changed: true, previousVersion: before });
  });

  it('rejects an invalid change and keeps the old rules active', async () => {
    const good = store.current!;
    await writeFile(join(dir, 'checkout.yaml'), CHECKOUT.replace('drop: 5%', 'drop: 5 percent'));
    await eventually(() => (store.lastErrors.length > 0 ? true : undefined), 5_000, 'the reload to fail');
    expect(store.current).toBe(good);
    expect(store.status()).toMatchObject({
      ready: true,
      version: good.version,
      lastReload: { ok: false, trigger: 'watch' },
    });
    expect(store.status().errors).toEqual([
      `${join(dir, 'checkout.yaml')}:12:11: ` +
        `rules[0].drop: "5 percent" is not a percentage: write a number followed by %, e.g. 5% (did you mean "5%"?)`,
    ]);

    // Fixing the file clears the errors.
    await writeFile(join(dir, 'checkout.yaml'), CHECKOUT.replace('drop: 5%', 'drop: 6%'));
    await eventually(
      () => (store.lastErrors.length === 0 && store.current !== good ? true : undefined),
      5_000,
      'the fix',
    );
  });

  it('drops the rules of a deleted file, and refuses a deletion that breaks another file', async () => {
    await unlink(join(dir, 'checkout-mobile-team.yaml'));
    await eventually(() => (store.current!.rules.length === 1 ? true : undefined), 5_000, 'the deletion');
    expect(ruleNames()).toEqual(['checkout-completion-drop']);

    await writeFile(join(dir, 'checkout-mobile-team.yaml'), MOBILE);
    await eventually(() => (store.current!.rules.length === 2 ? true : undefined), 5_000, 'the file to come back');

    // Without checkout.yaml, the mobile team's file names a funnel nobody defines: keep the old set.
    const good = store.current!;
    await unlink(join(dir, 'checkout.yaml'));
    await eventually(() => (store.lastErrors.length > 0 ? true : undefined), 5_000, 'the reload to fail');
    expect(store.current).toBe(good);
    expect(store.lastErrors.map((p) => p.code)).toEqual(['unknown_funnel']);
  });

  it('debounces a burst of writes into one reload', async () => {
    const spy = vi.fn();
    store.onReload(spy);
    for (let i = 1; i <= 5; i++)
      await writeFile(join(dir, 'checkout.yaml'), CHECKOUT.replace('drop: 5%', `drop: ${i}%`));
    await eventually(() => (spy.mock.calls.length > 0 ? true : undefined), 5_000, 'a reload');
    await new Promise((r) => setTimeout(r, 400)); // well past the debounce: no second reload comes
    expect(spy).toHaveBeenCalledTimes(1);
    expect(store.current!.rules.find((r) => r.name === 'checkout-completion-drop')!.minChange).toBe(0.05);
  });

  it('reloads on SIGHUP without a file event', async () => {
    await store.close(); // no watcher: only the signal can pick the change up
    store = new RuleStore({ dir, logger: quiet });
    await store.reload('initial');
    await writeFile(join(dir, 'checkout.yaml'), CHECKOUT.replace('drop: 5%', 'drop: 7%'));
    const o = await store.reloadOnSignal();
    expect(o).toMatchObject({ ok: true, trigger: 'signal', changed: true });
    expect(store.current!.rules.find((r) => r.name === 'checkout-completion-drop')!.minChange).toBe(0.07);
  });
});

/**
 * A Kubernetes ConfigMap volume, as the kubelet lays it out and updates it: the files live in a timestamped
 * directory, `..data` links to it, and each key is a link `name.yaml -> ..data/name.yaml`. An update writes a new
 * timestamped directory, points `..data_tmp` at it, renames `..data_tmp` over `..data` (atomic) and removes the old
 * directory; no `*.yaml` name in the watched directory changes.
 */
describe('hot reload from a ConfigMap volume', () => {
  let cm: string;
  let cmStore: RuleStore;

  async function publish(version: string, files: Record<string, string>): Promise<void> {
    const ts = join(cm, `..2026_12_07_00_00_0${version}.000000001`);
    await mkdir(ts);
    for (const [name, text] of Object.entries(files)) await writeFile(join(ts, name), text);
    const old = await readlink(join(cm, '..data')).catch(() => undefined);
    await symlink(ts.slice(cm.length + 1), join(cm, '..data_tmp'));
    await rename(join(cm, '..data_tmp'), join(cm, '..data'));
    for (const name of Object.keys(files)) {
      await symlink(join('..data', name), join(cm, name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    if (old) await rm(join(cm, old), { recursive: true, force: true });
  }

  beforeEach(async () => {
    cm = await mkdtemp(join(tmpdir(), 'fw-configmap-'));
    await publish('1', { 'checkout.yaml': CHECKOUT, 'checkout-mobile-team.yaml': MOBILE });
    cmStore = new RuleStore({ dir: cm, logger: quiet, debounceMs: 100 });
    expect((await cmStore.reload('initial')).ok).toBe(true);
    cmStore.watch();
  });

  afterEach(async () => {
    await cmStore.close();
    await rm(cm, { recursive: true, force: true });
  });

  it('picks up the swap of ..data, and keeps the last good set when the new one is invalid', async () => {
    const first = cmStore.current!;
    expect(first.rules.find((r) => r.name === 'checkout-completion-drop')!.minChange).toBe(0.05);
    await publish('2', {
      'checkout.yaml': CHECKOUT.replace('drop: 5%', 'drop: 7%'),
      'checkout-mobile-team.yaml': MOBILE,
    });
    await eventually(() => (cmStore.current !== first ? true : undefined), 5_000, 'the swapped ConfigMap');
    expect(cmStore.current!.rules.find((r) => r.name === 'checkout-completion-drop')!.minChange).toBe(0.07);
    const good = cmStore.current!;
    await publish('3', {
      'checkout.yaml': CHECKOUT.replace('drop: 5%', 'drop: lots'),
      'checkout-mobile-team.yaml': MOBILE,
    });
    await eventually(() => (cmStore.lastErrors.length > 0 ? true : undefined), 5_000, 'the invalid swap');
    expect(cmStore.current).toBe(good);
    expect(cmStore.status().errors[0]).toMatch(/checkout\.yaml:\d+:\d+: rules\[0\]\.drop/);
  });
});
