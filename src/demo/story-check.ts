/**
 * The demo checks its own story instead of announcing it: from the pages the receivers got (what a person would
 * see), it decides whether the planted deploy was named first, whether the failing segment was named, and whether
 * the rollback resolved every incident it opened. A demo that prints "complete" after naming the wrong deploy
 * teaches the wrong thing; this one exits non-zero and says what differed.
 *
 * Pure: the demo feeds it the delivered jobs and the times of the fault and the rollback (on the demo's clock) and
 * asks for a verdict; unit tests feed it hand-made pages.
 */
import { alertKey } from '../model/alert-key.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { SegmentRef } from '../model/segment.js';
import type { DeliveryJob } from '../notify/receiver.js';
import { formatDuration } from '../core/text.js';

export interface StoryPlan {
  /** The rule whose pages tell the story. */
  rule: string;
  /** The segment the fault is planted in. */
  segment: SegmentRef;
  /** The deploy planted just before the fault: every page of the rule must name it first. */
  deploy: { service: string; version: string };
  /** After the fault, a page of the segment must come within this (demo clock). */
  pageWithinMs: number;
  /** After the rollback, every incident of the rule must resolve within this. */
  resolveWithinMs: number;
}

export type StoryVerdict =
  | { status: 'waiting'; for: string }
  | { status: 'complete'; summary: string }
  | { status: 'failed'; problems: string[] };

export class StoryCheck {
  private faultAt: number | undefined;
  private rollbackAt: number | undefined;
  /** The rule's pages, one per transition (a page goes to several receivers). */
  private readonly pages = new Map<string, AlertTransition>();
  private readonly problems: string[] = [];

  constructor(private readonly plan: StoryPlan) {}

  fault(at: number): void {
    this.faultAt = at;
  }

  rollback(at: number): void {
    this.rollbackAt = at;
  }

  /** A delivered job; only the rule's firing and resolved pages count. */
  page(job: DeliveryJob): void {
    const t = job.alert;
    if (t.rule !== this.plan.rule || (job.event !== 'firing' && job.event !== 'resolved')) return;
    if (this.pages.has(t.id)) return;
    this.pages.set(t.id, t);
    if (job.event === 'firing') this.checkFiring(t);
  }

  /** True once the planted segment has paged (the story then rolls back). */
  segmentPaged(): boolean {
    return [...this.pages.values()].some((t) => t.kind === 'firing' && this.isPlantedSegment(t.segment));
  }

  verdict(now: number): StoryVerdict {
    if (this.problems.length > 0) return { status: 'failed', problems: [...this.problems] };
    const where = alertKey(this.plan.rule, this.plan.segment);
    if (this.faultAt === undefined) return { status: 'waiting', for: 'the fault' };
    if (!this.segmentPaged()) {
      if (now - this.faultAt > this.plan.pageWithinMs) {
        return {
          status: 'failed',
          problems: [`no page for ${where} within ${formatDuration(this.plan.pageWithinMs)} of the fault`],
        };
      }
      return { status: 'waiting', for: `the page for ${where}` };
    }
    if (this.rollbackAt === undefined) return { status: 'waiting', for: 'the rollback' };
    const open = this.openIncidents();
    if (open.length > 0) {
      if (now - this.rollbackAt > this.plan.resolveWithinMs) {
        return {
          status: 'failed',
          problems: open.map(
            (k) => `${k} still firing ${formatDuration(now - this.rollbackAt!)} after the rollback (no resolve)`,
          ),
        };
      }
      return { status: 'waiting', for: `the resolve of ${open.join(', ')}` };
    }
    const fired = [...this.pages.values()].filter((t) => t.kind === 'firing').length;
    const d = this.plan.deploy;
    return {
      status: 'complete',
      summary:
        `${fired} page${fired === 1 ? '' : 's'} of ${this.plan.rule} named ${d.service} ${d.version} first and ` +
        `${this.plan.segment.dimension}=${this.plan.segment.value}; the rollback resolved ` +
        `${fired === 1 ? 'it' : 'every one'}`,
    };
  }

  private checkFiring(t: AlertTransition): void {
    const key = alertKey(t.rule, t.segment);
    if (this.faultAt === undefined || t.at < this.faultAt) {
      this.problems.push(`${key} paged before the fault was injected (a false alarm)`);
      return;
    }
    if (t.segment && !this.isPlantedSegment(t.segment)) {
      this.problems.push(`${key} paged, but only ${this.plan.segment.dimension}=${this.plan.segment.value} failed`);
    }
    const first = t.context?.deploys?.[0];
    const d = this.plan.deploy;
    if (!first) {
      this.problems.push(`the page for ${key} named no deploy; expected ${d.service} ${d.version}`);
    } else if (first.service !== d.service || first.version !== d.version) {
      this.problems.push(
        `the page for ${key} named ${first.service} ${first.version} first (${first.why}), ` +
          `not ${d.service} ${d.version}`,
      );
    }
    if (!t.segment) {
      const summary = t.context?.drilldown?.summary ?? '';
      const seg = `${this.plan.segment.dimension}=${this.plan.segment.value}`;
      if (!summary.includes(seg)) {
        this.problems.push(`the page for ${key} placed the drop as "${summary || 'nowhere'}", not in ${seg}`);
      }
    }
  }

  /** Alerts of the rule whose latest page is a firing one. */
  private openIncidents(): string[] {
    const last = new Map<string, AlertTransition>();
    for (const t of this.pages.values()) {
      const k = alertKey(t.rule, t.segment);
      const prev = last.get(k);
      if (!prev || t.at >= prev.at) last.set(k, t);
    }
    return [...last.entries()].filter(([, t]) => t.kind === 'firing').map(([k]) => k);
  }

  private isPlantedSegment(s: SegmentRef | null): boolean {
    return s !== null && s.dimension === this.plan.segment.dimension && s.value === this.plan.segment.value;
  }
}
