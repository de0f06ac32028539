/**
 * Funnel matching: which step of a funnel an event reaches, which entity moves, and the event's dimension values.
 *
 * Pure and compiled once per funnel definition (`compileMatcher`), because it runs for every consumed event: the
 * per-event work is a map lookup by event type plus the step's attribute filter. No Redis, no clock: the window
 * store decides what a match means for the entity (duplicate, out of order, expired …).
 */
import { FwError } from '../core/errors.js';
import { SYNTHETIC_ATTR, type FwEvent } from '../events/event.js';
import type { FunnelDef, StepDef } from './funnel.js';

/** One event that reached a step, ready for the window store. */
export interface MatchedEvent {
  /** Index into `funnel.steps`; 0 is the entry step. */
  step: number;
  ts: number;
  /** '' when the event carries no entity under the funnel's `entityField`. */
  entity: string;
  /** One raw value per `funnel.dimensions` entry, in that order; undefined when the attribute is absent. The cap
   *  (first `maxValues` values, then `other`) is applied by the store, which owns the registry of values seen. */
  dims: (string | undefined)[];
}

export type EventMatcher = (ev: FwEvent) => MatchedEvent | undefined;

/** Reads the entity id as `entityField` says: `entity` (the event's own entity) or `attrs.<name>`. */
export function entityReader(entityField: string): (ev: FwEvent) => string {
  if (entityField === 'entity') return (ev) => ev.entity;
  if (entityField.startsWith('attrs.') && entityField.length > 'attrs.'.length) {
    const name = entityField.slice('attrs.'.length);
    return (ev) => ev.attrs[name] ?? '';
  }
  throw new FwError(
    'FUNNEL_BAD_ENTITY_FIELD',
    `entityField "${entityField}" is neither "entity" nor "attrs.<name>"; ` +
      `set it to one of those in the funnel definition`,
  );
}

/** True when every attribute the step's `where` lists has one of the listed values. */
export function stepFilterMatches(step: StepDef, attrs: Record<string, string>): boolean {
  if (!step.where) return true;
  for (const [name, allowed] of Object.entries(step.where)) {
    const v = attrs[name];
    if (v === undefined || !allowed.includes(v)) return false;
  }
  return true;
}

/**
 * Synthetic events (canary users, `synthetic=true`) reach no step of a real funnel: scripted journeys must not
 * dilute real conversion. This is the one test; both step lookups below apply it.
 */
export function isSynthetic(ev: FwEvent): boolean {
  return ev.attrs[SYNTHETIC_ATTR] === 'true';
}

/** The first step (in funnel order) whose event type and filter the event satisfies, or -1. */
export function stepIndexOf(funnel: FunnelDef, ev: FwEvent): number {
  if (isSynthetic(ev)) return -1;
  for (let i = 0; i < funnel.steps.length; i++) {
    const step = funnel.steps[i]!;
    if (step.event === ev.type && stepFilterMatches(step, ev.attrs)) return i;
  }
  return -1;
}

/** Raw dimension values of the event, one per funnel dimension. */
export function dimensionValuesOf(funnel: FunnelDef, ev: FwEvent): (string | undefined)[] {
  return funnel.dimensions.map((d) => ev.attrs[d.name]);
}

/**
 * Builds the per-event step lookup of one funnel: the step index an event reaches, or -1. Steps are indexed by event
 * type up front; when two steps share an event type (told apart by `where`), the earlier step wins, as in
 * `stepIndexOf`; synthetic events match nothing. Allocates nothing per event (the window store's hot path reads
 * entity and dimensions itself).
 */
export function compileStepMatcher(funnel: FunnelDef): (ev: FwEvent) => number {
  const byType = new Map<string, { index: number; step: StepDef }[]>();
  funnel.steps.forEach((step, index) => {
    const list = byType.get(step.event) ?? [];
    list.push({ index, step });
    byType.set(step.event, list);
  });
  return (ev) => {
    const candidates = byType.get(ev.type);
    if (!candidates || isSynthetic(ev)) return -1;
    for (let i = 0; i < candidates.length; i++) {
      const c = candidates[i]!;
      if (!c.step.where || stepFilterMatches(c.step, ev.attrs)) return c.index;
    }
    return -1;
  };
}

/** Builds the per-event matcher for one funnel (`compileStepMatcher` plus entity and raw dimension values). */
export function compileMatcher(funnel: FunnelDef): EventMatcher {
  const readEntity = entityReader(funnel.entityField);
  const stepOf = compileStepMatcher(funnel);
  const dimNames = funnel.dimensions.map((d) => d.name);
  return (ev) => {
    const step = stepOf(ev);
    if (step < 0) return undefined;
    return { step, ts: ev.ts, entity: readEntity(ev), dims: dimNames.map((n) => ev.attrs[n]) };
  };
}
