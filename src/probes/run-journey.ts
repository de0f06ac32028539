/**
 * One run of one journey: its HTTP steps in order, each request rendered from the templates, its answer checked
 * (status, JSON body fields, latency) and the values it yields extracted for the next steps. The first failing
 * step ends the run, with a reason a person can act on (which step, what came back, how long it took) and an excerpt
 * of the answer in which every secret the run read is redacted. Never throws: everything ends in a RunResult.
 */
import { randomBytes } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { readAnswer, snippet, transportFailure } from '../core/outbound-http.js';
import { readSecret } from '../core/secrets.js';
import type { Journey, JourneyStep } from './load.js';
import { readJsonPath, renderTemplate, renderValue, valueText, type TemplateContext } from './template.js';

export type FailureReason = 'status' | 'body' | 'latency' | 'timeout' | 'network' | 'extract' | 'secret' | 'request';

export interface StepOutcome {
  step: string;
  event?: string;
  ok: boolean;
  status?: number;
  latencyMs: number;
  /** Clock ms when the request was sent. */
  at: number;
}

export interface RunFailure {
  step: string;
  reason: FailureReason;
  /** One line, secrets redacted. */
  message: string;
  status?: number;
  latencyMs: number;
  /** The start of the answer, one line, secrets redacted ('' when there was none). */
  excerpt: string;
}

export interface RunResult {
  journey: string;
  runId: string;
  location: string;
  startedAt: number;
  finishedAt: number;
  ok: boolean;
  steps: StepOutcome[];
  failure?: RunFailure;
}

export interface RunDeps {
  clock: Clock;
  dispatcher: Dispatcher;
  location: string;
  env?: Record<string, string | undefined>;
}

const EXCERPT_CHARS = 160;
export const REDACTED = '[redacted]';

/** A run id that sorts by time and is unique across runners: `run-<ms base36>-<random>`. */
export function newRunId(now: number): string {
  return `run-${now.toString(36)}-${randomBytes(5).toString('hex')}`;
}

/** `text` with every secret value replaced, longest first (one secret may contain another). */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of [...secrets].filter((v) => v.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join(REDACTED);
  }
  return out;
}

export async function runJourney(journey: Journey, deps: RunDeps): Promise<RunResult> {
  const startedAt = deps.clock.now();
  const runId = newRunId(startedAt);
  const steps: StepOutcome[] = [];
  const secretValues = new Map<string, string>();
  const finish = (failure?: RunFailure): RunResult => ({
    journey: journey.name,
    runId,
    location: deps.location,
    startedAt,
    finishedAt: deps.clock.now(),
    ok: failure === undefined,
    steps,
    ...(failure ? { failure } : {}),
  });

  // Secrets are read at each run, so a rotated secret file is picked up; never logged, only where they are.
  for (const [name, ref] of journey.secrets) {
    try {
      secretValues.set(name, readSecret(ref, deps.env));
    } catch (err) {
      const first = journey.steps[0]!.name;
      return finish({
        step: first,
        reason: 'secret',
        message: `secret "${name}": ${errorMessage(err)}`,
        latencyMs: 0,
        excerpt: '',
      });
    }
  }
  const ctx: TemplateContext & { vars: Map<string, string> } = {
    runId,
    emailDomain: journey.emailDomain,
    now: startedAt,
    vars: new Map(),
    secrets: secretValues,
  };
  const clean = (text: string) => redact(text, secretValues.values());

  for (const step of journey.steps) {
    ctx.now = deps.clock.now();
    const outcome = await runStep(journey, step, ctx, deps);
    steps.push(outcome.step);
    if (outcome.failure) {
      const f = outcome.failure;
      return finish({
        ...f,
        message: clean(f.message),
        excerpt: snippet(clean(f.excerpt), EXCERPT_CHARS),
      });
    }
  }
  return finish();
}

async function runStep(
  journey: Journey,
  step: JourneyStep,
  ctx: TemplateContext & { vars: Map<string, string> },
  deps: RunDeps,
): Promise<{ step: StepOutcome; failure?: RunFailure }> {
  const at = deps.clock.now();
  const base = { step: step.name, ...(step.event ? { event: step.event } : {}), at };
  const fail = (
    reason: FailureReason,
    message: string,
    latencyMs: number,
    status?: number,
    excerpt = '',
  ): { step: StepOutcome; failure: RunFailure } => ({
    step: { ...base, ok: false, latencyMs, ...(status !== undefined ? { status } : {}) },
    failure: { step: step.name, reason, message, latencyMs, excerpt, ...(status !== undefined ? { status } : {}) },
  });

  let url: URL;
  const headers: Record<string, string> = {};
  let body: string | undefined;
  try {
    url = new URL(
      renderTemplate(step.url, ctx),
      journey.baseUrl.endsWith('/') ? journey.baseUrl : `${journey.baseUrl}/`,
    );
    for (const [k, v] of Object.entries(step.headers)) headers[k.toLowerCase()] = renderTemplate(v, ctx);
    if (typeof step.body === 'string') body = renderTemplate(step.body, ctx);
    else if (step.body !== undefined) {
      body = JSON.stringify(renderValue(step.body, ctx));
      headers['content-type'] ??= 'application/json';
    }
  } catch (err) {
    return fail('request', `${step.name}: the request could not be built: ${errorMessage(err)}`, 0);
  }

  let res: Dispatcher.ResponseData;
  try {
    res = await request(url, {
      method: step.method as Dispatcher.HttpMethod,
      headers,
      ...(body !== undefined ? { body } : {}),
      dispatcher: deps.dispatcher,
      headersTimeout: step.timeoutMs,
      bodyTimeout: step.timeoutMs,
      signal: AbortSignal.timeout(step.timeoutMs),
    });
  } catch (err) {
    const latencyMs = deps.clock.now() - at;
    const t = transportFailure('PROBE', err, step.timeoutMs);
    const reason: FailureReason =
      t.code === 'PROBE_TIMEOUT' ? 'timeout' : t.code === 'PROBE_NETWORK' ? 'network' : 'request';
    return fail(reason, `${step.name}: ${step.method} ${url.pathname}: ${t.reason}`, latencyMs);
  }
  const answer = await readAnswer(res.body);
  const latencyMs = deps.clock.now() - at;
  const status = res.statusCode;
  const what = `${step.name}: ${step.method} ${url.pathname}`;
  if (answer.error !== undefined) {
    const t = transportFailure('PROBE', answer.error, step.timeoutMs);
    return fail(
      t.code === 'PROBE_TIMEOUT' ? 'timeout' : 'network',
      `${what}: the answer broke off: ${t.reason}`,
      latencyMs,
      status,
      answer.text,
    );
  }
  const statusOk = step.status.length === 0 ? status >= 200 && status < 300 : step.status.includes(status);
  if (!statusOk) {
    const wanted = step.status.length === 0 ? '2xx' : step.status.join(' or ');
    return fail('status', `${what} answered ${status}, expected ${wanted}`, latencyMs, status, answer.text);
  }
  if (step.maxLatencyMs !== undefined && latencyMs > step.maxLatencyMs) {
    return fail(
      'latency',
      `${what} took ${latencyMs} ms, the limit is ${step.maxLatencyMs} ms`,
      latencyMs,
      status,
      answer.text,
    );
  }
  let doc: unknown;
  const needsJson = step.bodyExpect.length > 0 || step.extract.some((e) => e.json !== undefined);
  if (needsJson) {
    try {
      doc = JSON.parse(answer.text);
    } catch {
      return fail('body', `${what}: the answer is not JSON`, latencyMs, status, answer.text);
    }
  }
  for (const { path, value } of step.bodyExpect) {
    const got = readJsonPath(doc, path);
    if (got === undefined || valueText(got) !== value) {
      const gotText = got === undefined ? 'nothing' : JSON.stringify(got);
      return fail(
        'body',
        `${what}: ${path} is ${gotText}, expected ${JSON.stringify(value)}`,
        latencyMs,
        status,
        answer.text,
      );
    }
  }
  for (const e of step.extract) {
    const raw = e.json !== undefined ? readJsonPath(doc, e.json) : res.headers[e.header!.toLowerCase()];
    const v = Array.isArray(raw) ? raw[0] : raw;
    if (v === undefined || v === null) {
      const where = e.json !== undefined ? e.json : `header ${e.header}`;
      return fail('extract', `${what}: nothing at ${where} to extract as "${e.name}"`, latencyMs, status, answer.text);
    }
    ctx.vars.set(e.name, valueText(v));
  }
  return { step: { ...base, ok: true, status, latencyMs } };
}
