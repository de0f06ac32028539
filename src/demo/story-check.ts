/**
 * The demo checks its own story instead of announcing it: from the pages the receivers got (what a person would
 * see), it decides whether the planted deploy was named first, whether the failing segment was named, and whether
 * the rollback resolved every incident it opened. A page is an incident group's notification (notify/grouping.ts):
 * one trigger for every alert of the outage, the rule's funnel-wide and segment alerts among its members. A demo
 * that prints "complete" after naming the wrong deploy teaches the wrong thing; this one exits non-zero and says
 * what differed.
 *
 * Pure: the demo feeds it the delivered jobs and the times of the fault and the rollback (on the demo's clock) and
 * asks for a verdict; unit tests feed it hand-made pages.
 */
import { alertKey } from '../model/alert-key.js';
import type { AlertTransition } from '../model/alert-transition.js';
import type { SegmentRef } from '../model/segment.js';
import type { DeliveryJob, GroupNotice } from '../notify/receiver.js';
import { formatDuration } from '../core/text.js';

export interface StoryPlan {
  /** The rule whose pages tell the story. */
  rule: string;
  /** The segment the fault is planted in. */
  segment: SegmentRef;
  /** The deploy planted just before the fault: every incident page holding the rule must name it first. */
  deploy: { service: string; version: string };
  /** After the fault, a page of the segment must come within this (demo clock). */
  pageWithinMs: number;
  /** After the rollback, every incident holding the rule must resolve within this. */
  resolveWithinMs: number;
}

export type StoryVerdict =
  | { status: 'waiting'; for: string }
  | { status: 'complete'; summary: string }
  | { status: 'failed'; problems: string[] };

export class StoryCheck {
  private faultAt: number | undefined;
  private rollbackAt: number | undefined;
  /** Incident groups holding the rule's alerts, by group id (a group pages every receiver; it counts once). */
  private readonly incidents = new Map<string, { trigger: AlertTransition; named: boolean; resolved: boolean }>();
  /** Alerts of the rule that fired in some incident, with their status in the newest page listing them. */
  private readonly members = new Map<string, 'firing' | 'resolved'>();
  private readonly problems: string[] = [];

  constructor(private readonly plan: StoryPlan) {}

  fault(at: number): void {
    this.faultAt = at;
  }

  rollback(at: number): void {
    this.rollbackAt = at;
  }

  /** A delivered job; only the notifications of incident groups holding the rule's alerts count. */
  page(job: DeliveryJob): void {
    const g = job.group;
    if (!g || !g.members.some((m) => m.rule === this.plan.rule)) return;
    this.checkMembers(g);
    const known = this.incidents.get(g.id);
    if (job.event === 'firing' && !known) {
      const named = this.checkTrigger(job.alert, g);
      this.incidents.set(g.id, { trigger: job.alert, named, resolved: false });
    } else if (job.event === 'resolved' && known) {
      known.resolved = true;
      for (const m of g.members) if (m.rule === this.plan.rule) this.members.set(m.key, 'resolved');
    }
  }

  /** True once an incident page has named the planted segment (the story then rolls back). */
  segmentPaged(): boolean {
    return [...this.incidents.values()].some((i) => i.named);
  }

  verdict(now: number): StoryVerdict {
    if (this.problems.length > 0) return { status: 'failed', problems: [...this.problems] };
    const where = alertKey(this.plan.rule, this.plan.segment);
    if (this.faultAt === undefined) return { status: 'waiting', for: 'the fault' };
    if (!this.segmentPaged()) {
      if (now - this.faultAt > this.plan.pageWithinMs) {
        return {
          status: 'failed',
          problems: [`no page naming ${where} within ${formatDuration(this.plan.pageWithinMs)} of the fault`],
        };
      }
      return { status: 'waiting', for: `the page naming ${where}` };
    }
    if (this.rollbackAt === undefined) return { status: 'waiting', for: 'the rollback' };
    // The rule's alerts must resolve; their incident may stay open longer when a slower rule (cohort conversion,
    // whose cohorts take the conversion window to mature) joined it: the page then says the rule's alerts resolved.
    const open = [...this.members.entries()].filter(([, status]) => status === 'firing').map(([key]) => key);
    if (open.length > 0) {
      if (now - this.rollbackAt > this.plan.resolveWithinMs) {
        return {
          status: 'failed',
          problems: open.map(
            (key) => `${key} still firing ${formatDuration(now - this.rollbackAt!)} after the rollback (no resolve)`,
          ),
        };
      }
      return { status: 'waiting', for: `the resolve of ${open.join(', ')}` };
    }
    // A group is per receiver (`<receiver>/<labels>@<opened>`): one incident pages each of its receivers once.
    const causes = new Set([...this.incidents.keys()].map((id) => id.slice(id.indexOf('/') + 1)));
    const n = causes.size;
    const pages = this.incidents.size;
    const alerts = this.members.size;
    const d = this.plan.deploy;
    return {
      status: 'complete',
      summary:
        `${n} incident${n === 1 ? '' : 's'} (${alerts} alert${alerts === 1 ? '' : 's'} of ${this.plan.rule}) ` +
        `paged ${pages} receiver${pages === 1 ? '' : 's'} once each, naming ${d.service} ${d.version} first and ` +
        `${this.plan.segment.dimension}=${this.plan.segment.value}; ` +
        `the rollback resolved ${alerts === 1 ? 'it' : 'every one'}` +
        `${[...this.incidents.values()].some((i) => !i.resolved) ? ' (the incident stays open for another rule)' : ''}`,
    };
  }

  /** An incident's first page: after the fault, the planted deploy first; returns whether it names the segment. */
  private checkTrigger(t: AlertTransition, g: GroupNotice): boolean {
    if (this.faultAt === undefined || t.at < this.faultAt) {
      this.problems.push(`incident ${g.id} paged before the fault was injected (a false alarm)`);
      return false;
    }
    const first = t.context?.deploys?.[0];
    const d = this.plan.deploy;
    if (!first) {
      this.problems.push(`the page of incident ${g.id} named no deploy; expected ${d.service} ${d.version}`);
    } else if (first.service !== d.service || first.version !== d.version) {
      this.problems.push(
        `the page of incident ${g.id} named ${first.service} ${first.version} first (${first.why}), ` +
          `not ${d.service} ${d.version}`,
      );
    }
    const seg = `${this.plan.segment.dimension}=${this.plan.segment.value}`;
    if (g.cause === seg || this.isPlantedSegment(t.segment)) return true;
    this.problems.push(
      `the page of incident ${g.id} placed the drop ` +
        `${g.cause ? `in ${g.cause}` : g.spread ? 'funnel-wide' : 'nowhere'}, not in ${seg}`,
    );
    return false;
  }

  /** Every alert of the rule a page lists fired in the planted segment or funnel-wide, never in another value. */
  private checkMembers(g: GroupNotice): void {
    for (const m of g.members) {
      if (m.rule !== this.plan.rule) continue;
      const known = this.members.has(m.key);
      this.members.set(m.key, m.status);
      if (known) continue;
      const planted = `${this.plan.segment.dimension}=${this.plan.segment.value}`;
      if (m.segment !== null && m.segment !== planted) {
        this.problems.push(`${m.key} paged, but only ${planted} failed`);
      }
    }
  }

  private isPlantedSegment(s: SegmentRef | null): boolean {
    return s !== null && s.dimension === this.plan.segment.dimension && s.value === this.plan.segment.value;
  }
}
