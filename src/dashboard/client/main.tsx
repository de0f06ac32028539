/**
 * The dashboard's client: a few pages routed by the URL's #hash, each reading the JSON the daemon serves under
 * /ui/api (server: src/dashboard/routes.ts). Preact for the pages, uPlot for the charts (chart.tsx).
 */
import { render, type ComponentChildren } from 'preact';
import type { RuleExplanation } from '../../engine/rule-explain.js';
import type { UnmatchedReport } from '../../ingest/unmatched.js';
import type { GateEvidence } from '../../gates/gate-evidence.js';
import { useEffect, useState } from 'preact/hooks';
import { access, ago, get, pct, segText, send, when } from './api.js';
import { Chart, deployLabel, Sparkline, type Marker } from './chart.js';

type Seg = { dimension: string; value: string } | null;

function useHash(): string {
  const [h, setH] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setH(location.hash || '#/');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return h;
}

function useJson<T>(path: string | null, deps: unknown[] = []): { data?: T; error?: string; reload: () => void } {
  const [state, setState] = useState<{ data?: T; error?: string }>({});
  const [n, setN] = useState(0);
  useEffect(() => {
    if (path === null) return;
    let live = true;
    get<T>(path).then(
      (data) => live && setState({ data }),
      (e: Error) => live && setState({ error: e.message }),
    );
    return () => {
      live = false;
    };
  }, [path, n, ...deps]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

function ruleHref(name: string, seg: Seg, span?: string): string {
  const q = new URLSearchParams();
  if (seg) q.set('segment', segText(seg));
  if (span) q.set('span', span);
  return `#/rule/${encodeURIComponent(name)}${q.size > 0 ? `?${q}` : ''}`;
}

function Badge(props: { s: string }) {
  return <span class={`badge b-${props.s}`}>{props.s}</span>;
}

// ---------------------------------------------------------------------------------------------------------------

interface OverviewData {
  now: number;
  funnels: {
    name: string;
    steps: { name: string; lastHour: number }[];
    conversionLastHour: number | null;
    sparkline: { t: number[]; rate: (number | null)[] };
    watermarkAgeSeconds: number | null;
    rules: {
      name: string;
      metric: string;
      badge: string;
      reason: string | null;
      fallback: string | null;
      silencedBy: string | null;
      observedRate: number | null;
      expectedRate: number | null;
      segments: { firing: number; pending: number; insufficient: number };
    }[];
  }[];
  incidents: {
    rule: string;
    segment: Seg;
    status: string;
    firedAt: number | null;
    onset: number | null;
    relativeChange: number | null;
    summary: string | null;
  }[];
  freshness: {
    consumerLag: { topic?: string; partition?: string; lag: number }[];
    deadLetters: { count: number; since: number | null };
    unmatched: UnmatchedRow[];
  };
}

function Overview() {
  const { data, error } = useJson<OverviewData>('/ui/api/overview');
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p>Loading…</p>;
  return (
    <div class="page overview">
      <h2>Incidents</h2>
      {data.incidents.length === 0 ? (
        <p class="quiet">No active incidents.</p>
      ) : (
        <table class="incidents">
          <thead>
            <tr>
              <th>rule</th>
              <th>series</th>
              <th>state</th>
              <th>fired</th>
              <th>onset</th>
              <th>change</th>
              <th>drill-down</th>
            </tr>
          </thead>
          <tbody>
            {data.incidents.map((i) => (
              <tr key={`${i.rule}|${segText(i.segment)}`}>
                <td>
                  <a href={ruleHref(i.rule, i.segment)}>{i.rule}</a>
                </td>
                <td>{segText(i.segment)}</td>
                <td>
                  <Badge s={i.status} />
                </td>
                <td>{when(i.firedAt)}</td>
                <td>{when(i.onset)}</td>
                <td>{i.relativeChange === null ? '—' : `−${pct(i.relativeChange)}`}</td>
                <td>{i.summary ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Funnels</h2>
      {data.funnels.map((f) => (
        <section class="funnel" key={f.name} data-funnel={f.name}>
          <h3>{f.name}</h3>
          <div class="funnel-head">
            <ol class="steps">
              {f.steps.map((s) => (
                <li key={s.name}>
                  {s.name} <b>{s.lastHour.toLocaleString()}</b>
                </li>
              ))}
            </ol>
            <div class="conv">
              conversion (last hour) <b>{pct(f.conversionLastHour)}</b>
              <Sparkline values={f.sparkline.rate} />
              <span class="quiet">24 h</span>
            </div>
            <div class="fresh">data {ago(f.watermarkAgeSeconds)} behind</div>
          </div>
          <table class="rules">
            <thead>
              <tr>
                <th>rule</th>
                <th>state</th>
                <th>now vs expected</th>
                <th>segments</th>
                <th>why</th>
              </tr>
            </thead>
            <tbody>
              {f.rules.map((r) => (
                <tr key={r.name} data-rule={r.name}>
                  <td>
                    <a href={ruleHref(r.name, null)}>{r.name}</a> <span class="quiet">{r.metric}</span>
                  </td>
                  <td>
                    <Badge s={r.badge} />
                  </td>
                  <td>
                    {pct(r.observedRate)} vs {pct(r.expectedRate)}
                  </td>
                  <td>
                    {r.segments.firing > 0 && <span>{r.segments.firing} firing </span>}
                    {r.segments.pending > 0 && <span>{r.segments.pending} pending </span>}
                    {r.segments.insufficient > 0 && <span class="quiet">{r.segments.insufficient} insufficient</span>}
                  </td>
                  <td class="reason">
                    {r.silencedBy ? `silenced (${r.silencedBy}) ` : ''}
                    {r.reason ?? r.fallback ?? ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
      <h2>Data freshness</h2>
      <p>
        Dead letters in the last hour: <b>{data.freshness.deadLetters.count}</b>
        {data.freshness.deadLetters.since !== null && (
          <span class="quiet"> (since {when(data.freshness.deadLetters.since)})</span>
        )}
        . Consumer lag:{' '}
        {data.freshness.consumerLag.length === 0
          ? 'no Kafka consumer on this replica'
          : data.freshness.consumerLag.map((l) => `${l.topic}/${l.partition}: ${l.lag}`).join(', ')}
      </p>
      {data.freshness.unmatched.length > 0 && (
        <>
          <p class="warn">
            Steps whose <code>where</code> filter matches (almost) none of their events in the last 5 minutes: the rules
            on them see no traffic.
          </p>
          <UnmatchedTable rows={data.freshness.unmatched} />
        </>
      )}
    </div>
  );
}

// ---------------------------------------------------------------------------------------------------------------

export interface RulePageData {
  rule: { name: string; funnel: string; description: string | null; metric: { kind: string }; segments: string[] };
  segment: Seg;
  span: string;
  series: {
    unit: 'rate' | 'count' | 'none';
    to: number;
    t: number[];
    observed: (number | null)[];
    expected: (number | null)[];
    lower: (number | null)[];
    upper: (number | null)[];
    z: (number | null)[];
    trials: number[];
  };
  spans: { from: number; to: number | null; onset: number | null; incidentId: string | null }[];
  deploys: { id: string; service: string; version: string; environment: string; ts: number; author?: string }[];
  state: {
    status: string;
    since: number;
    evidence: { statistic: number; threshold: number; relativeChange: number; observedRate: number } | null;
    silencedBy: string | null;
  } | null;
  drilldown: {
    summary: string;
    dimensions: {
      dimension: string;
      top: { value: string; expected: number; observed: number; deficitShare: number; rateChanged: boolean }[];
    }[];
  } | null;
  series_states: { segment: Seg; status: string; relativeChange: number | null; volume: number | null }[];
  why: { segment: Seg; status: string; reason: string; kind: string }[];
}

function RulePage(props: { name: string; params: URLSearchParams }) {
  const span = props.params.get('span') ?? '24h';
  const segment = props.params.get('segment');
  const q = `span=${span}${segment ? `&segment=${encodeURIComponent(segment)}` : ''}`;
  const { data, error } = useJson<RulePageData>(`/ui/api/rules/${encodeURIComponent(props.name)}?${q}`);
  useEffect(() => {
    (window as unknown as { fwRuleData?: RulePageData }).fwRuleData = data;
  }, [data]);
  if (error) return <p class="error">{error}</p>;
  if (!data) return <p>Loading…</p>;
  const s = data.series;
  const markers: Marker[] = [
    ...data.spans.map((x) => ({
      kind: 'span' as const,
      from: x.from,
      to: x.to ?? s.to,
      label: `alert firing from ${when(x.from)}${x.to ? ` to ${when(x.to)}` : ' (still firing)'}`,
    })),
    ...data.spans
      .filter((x) => x.onset !== null)
      .map((x) => ({ kind: 'onset' as const, from: x.onset!, label: `onset ${when(x.onset)}` })),
    ...data.deploys.map((d) => ({ kind: 'deploy' as const, from: d.ts, label: deployLabel(d) })),
  ];
  const rate = s.unit === 'rate';
  const fmt = rate ? (v: number) => pct(v) : (v: number) => v.toLocaleString();
  return (
    <div class="page rule">
      <h2>
        {data.rule.name} <span class="quiet">{segText(data.segment)}</span>
      </h2>
      <p class="quiet">
        funnel {data.rule.funnel} · {data.rule.metric.kind}
        {data.rule.description ? ` · ${data.rule.description}` : ''}
      </p>
      <p>
        {data.state ? <Badge s={data.state.silencedBy ? 'silenced' : data.state.status} /> : <Badge s="unknown" />}
        {data.state?.evidence && (
          <span>
            {' '}
            statistic {data.state.evidence.statistic?.toFixed(2) ?? '—'} against threshold{' '}
            {data.state.evidence.threshold?.toFixed(2) ?? '—'}; change −{pct(data.state.evidence.relativeChange)}
          </span>
        )}
      </p>
      <nav class="spans">
        {['6h', '24h', '7d'].map((x) => (
          <a key={x} class={x === span ? 'on' : ''} href={ruleHref(data.rule.name, data.segment, x)}>
            {x}
          </a>
        ))}
        <span class="quiet"> drag on the chart to zoom, double-click to reset</span>
      </nav>
      <Chart
        name="rule"
        data={rate ? [s.t, s.observed, s.expected, s.lower, s.upper] : [s.t, s.observed]}
        series={
          rate
            ? [
                { label: 'observed', stroke: '#c0392b', width: 2 },
                { label: 'expected', stroke: '#3567c4', dash: [6, 4] },
                { label: '95% low', stroke: 'rgba(53,103,196,0.3)' },
                { label: '95% high', stroke: 'rgba(53,103,196,0.3)' },
              ]
            : [{ label: 'observed', stroke: '#c0392b', width: 2 }]
        }
        {...(rate ? { band: [4, 3] as [number, number] } : {})}
        markers={markers}
        yFormat={fmt}
      />
      {rate && (
        <>
          <h3>Detector statistic</h3>
          <p class="quiet">Each point's distance from the expectation in standard deviations (negative: below).</p>
          <Chart
            name="z"
            data={[s.t, s.z]}
            series={[{ label: 'z', stroke: '#555' }]}
            markers={markers.filter((m) => m.kind !== 'deploy')}
            height={140}
            yFormat={(v) => v.toFixed(1)}
          />
        </>
      )}
      <h3>Why is it quiet</h3>
      <Explain
        rule={data.rule.name}
        segment={data.segment}
        fallback={
          data.why.length === 0 ? (
            <p class="quiet">Every series of this rule is judged with the baseline it asks for.</p>
          ) : (
            <table class="why">
              <tbody>
                {data.why.map((w, i) => (
                  <tr key={i}>
                    <td>
                      <a href={ruleHref(data.rule.name, w.segment, span)}>{segText(w.segment)}</a>
                    </td>
                    <td>
                      <Badge s={w.status} />
                    </td>
                    <td class="reason">{w.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      />
      {data.drilldown && (
        <>
          <h3>Drill-down</h3>
          <p>{data.drilldown.summary}</p>
          <table class="drilldown">
            <thead>
              <tr>
                <th>segment</th>
                <th>observed</th>
                <th>expected</th>
                <th>share of the deficit</th>
                <th>rate moved</th>
              </tr>
            </thead>
            <tbody>
              {data.drilldown.dimensions.flatMap((d) =>
                d.top.map((v) => (
                  <tr key={`${d.dimension}=${v.value}`}>
                    <td>
                      <a href={ruleHref(data.rule.name, { dimension: d.dimension, value: v.value }, span)}>
                        {d.dimension}={v.value}
                      </a>
                    </td>
                    <td>{v.observed.toLocaleString()}</td>
                    <td>{Math.round(v.expected).toLocaleString()}</td>
                    <td>{pct(v.deficitShare, 0)}</td>
                    <td>{v.rateChanged ? 'yes' : 'no (mix)'}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </>
      )}
      <h3>Series</h3>
      <table class="series">
        <tbody>
          {data.series_states.map((x) => (
            <tr key={segText(x.segment)}>
              <td>
                <a href={ruleHref(data.rule.name, x.segment, span)}>{segText(x.segment)}</a>
              </td>
              <td>
                <Badge s={x.status} />
              </td>
              <td>
                {x.relativeChange === null
                  ? ''
                  : `${x.relativeChange > 0 ? '−' : '+'}${pct(Math.abs(x.relativeChange))}`}
              </td>
              <td class="quiet">{x.volume === null ? '' : `${x.volume.toLocaleString()} in window`}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Deploys in this span</h3>
      <ul class="deploys">
        {data.deploys.map((d) => (
          <li key={d.id}>{deployLabel(d)}</li>
        ))}
      </ul>
    </div>
  );
}

// The JSON the explain route answers, typed by the server's own declarations (type-only: nothing is bundled).
type UnmatchedRow = UnmatchedReport;
type Explanation = RuleExplanation;

/** Steps whose filter matches nothing: which funnel, step and filter, how many seen and kept, the values seen. */
function UnmatchedTable(props: { rows: UnmatchedRow[] }) {
  if (props.rows.length === 0) return null;
  const sample = (u: UnmatchedRow) =>
    Object.entries(u.sample)
      .flatMap(([k, vs]) => Object.entries(vs).map(([v, n]) => `${k}=${v} ×${n}`))
      .join(', ');
  return (
    <table class="unmatched">
      <thead>
        <tr>
          <th>funnel</th>
          <th>step</th>
          <th>filter</th>
          <th>matched / seen</th>
          <th>values seen</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((u) => (
          <tr key={`${u.funnel}|${u.step}`} data-step={`${u.funnel}/${u.step}`} title={u.text}>
            <td>{u.funnel}</td>
            <td>
              {u.step} <span class="quiet">({u.event})</span>
            </td>
            <td>
              <code>where {u.filter}</code>
            </td>
            <td>
              {u.matched.toLocaleString()} / {u.seen.toLocaleString()}
            </td>
            <td class="sample">{sample(u)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const num = (v: number, rate: boolean) => (rate ? pct(v) : Math.round(v).toLocaleString());

/**
 * The rule's explain report (GET /v1/rules/<name>/explain): per series, its state and the reasons in words (too
 * little traffic, the baseline's fallback, silences, filters that match nothing), observed vs expected with the
 * statistic against its threshold, and the smallest change the rule would catch within 15, 60 and 240 minutes.
 */
function Explain(props: { rule: string; segment: Seg; fallback: ComponentChildren }) {
  const seg = props.segment ? `?segment=${encodeURIComponent(segText(props.segment))}` : '';
  const { data, error } = useJson<Explanation>(`/ui/api/v1/rules/${encodeURIComponent(props.rule)}/explain${seg}`, [
    seg,
  ]);
  // Without the report (an older replica behind the same proxy, an error): the reasons the alert states carry.
  if (error) return <>{props.fallback}</>;
  if (!data) return <p class="quiet">Loading the explanation…</p>;
  return (
    <div class="explain">
      <p class="quiet">Data: {data.data.detail}</p>
      {data.unmatched.length > 0 && (
        <>
          <p class="warn">A step this rule reads counts (almost) nothing: its filter turns the events away.</p>
          <UnmatchedTable rows={data.unmatched} />
        </>
      )}
      <table class="explain">
        <thead>
          <tr>
            <th>series</th>
            <th>state</th>
            <th>why</th>
            <th>now</th>
            <th>smallest change caught within</th>
          </tr>
        </thead>
        <tbody>
          {data.series.map((x) => {
            const rate = x.now !== null && x.now.observedRate !== null && x.now.expectedRate !== null;
            return (
              <tr key={x.label} data-series={x.label}>
                <td>
                  <a href={ruleHref(data.rule, x.segment)}>{x.label}</a>
                </td>
                <td>
                  <Badge s={x.condition === 'ok' ? x.status : x.condition} />
                </td>
                <td class="reason">
                  <ul>
                    {x.reasons.map((r, i) => (
                      <li key={i} data-code={r.code}>
                        {r.text}
                      </li>
                    ))}
                  </ul>
                  <span class="quiet">
                    {x.volume.count.toLocaleString()} counted in {x.volume.windowMinutes} min (min_volume{' '}
                    {x.volume.minVolume.toLocaleString()}); baseline {x.baseline.kind}
                    {x.baseline.weeksWanted !== undefined
                      ? ` (${x.baseline.weeksAvailable ?? 0} of ${x.baseline.weeksWanted} weeks)`
                      : ''}
                    {x.baseline.fallback ? `, using ${x.baseline.fallback}` : ''}
                  </span>
                </td>
                <td class="now">
                  {x.now === null ? (
                    <span class="quiet">no window could be scored</span>
                  ) : (
                    <>
                      {rate
                        ? `${pct(x.now.observedRate)} vs ${pct(x.now.expectedRate)} expected`
                        : `${num(x.now.observed, false)} vs ${num(x.now.expected, false)} expected`}
                      <br />
                      <span class="quiet">
                        over {x.now.windowMinutes} min; statistic {x.now.statistic.toFixed(2)}, threshold{' '}
                        {x.now.threshold.toFixed(2)}
                      </span>
                    </>
                  )}
                </td>
                <td class="detectable">
                  {x.detectable.map((c) => (
                    <div key={c.withinMinutes}>
                      {c.withinMinutes} min: {c.change === null ? 'none at this traffic' : pct(c.change, 0)}
                    </div>
                  ))}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------------------------

interface SilenceRow {
  id: string;
  state: string;
  matchers: { name: string; op?: string; value: string }[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
}

function Silences() {
  const [filter, setFilter] = useState('active');
  const { data, error, reload } = useJson<{ silences: SilenceRow[] }>(`/ui/api/v1/silences?state=${filter}`);
  const [msg, setMsg] = useState<string | null>(null);
  const canWrite = access !== 'public';
  const create = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    try {
      const s = await send<SilenceRow>('POST', '/v1/silences', {
        matchers: String(f.get('matchers'))
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean),
        duration: String(f.get('duration')),
        createdBy: String(f.get('createdBy')),
        comment: String(f.get('comment')),
      });
      setMsg(`Created silence ${s.id}.`);
      reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  const expire = async (id: string) => {
    try {
      await send('DELETE', `/v1/silences/${encodeURIComponent(id)}`);
      setMsg(`Expired silence ${id}.`);
      reload();
    } catch (err) {
      setMsg((err as Error).message);
    }
  };
  return (
    <div class="page silences">
      <h2>Silences</h2>
      {canWrite ? (
        <form class="new-silence" onSubmit={create}>
          <input name="matchers" placeholder="rule=paid-drop, platform=~ios|android" required />
          <input name="duration" placeholder="duration (2h)" value="2h" required />
          <input name="createdBy" placeholder="who" required />
          <input name="comment" placeholder="why (ticket, maintenance)" required />
          <button type="submit">Create silence</button>
        </form>
      ) : (
        <p class="quiet">
          <a href="/login">Log in</a> to create or expire silences.
        </p>
      )}
      {msg && (
        <p class="msg" role="status">
          {msg}
        </p>
      )}
      <p>
        {['active', 'pending', 'expired', 'all'].map((s) => (
          <button key={s} class={s === filter ? 'on' : ''} onClick={() => setFilter(s)}>
            {s}
          </button>
        ))}
      </p>
      {error && <p class="error">{error}</p>}
      <table>
        <tbody>
          {(data?.silences ?? []).map((s) => (
            <tr key={s.id} data-silence={s.id}>
              <td>
                <Badge s={s.state} />
              </td>
              <td>{s.matchers.map((m) => `${m.name}${m.op ?? '='}${m.value}`).join(', ')}</td>
              <td>
                {when(s.startsAt)} → {when(s.endsAt)}
              </td>
              <td>{s.createdBy}</td>
              <td>{s.comment}</td>
              <td>{canWrite && s.state !== 'expired' && <button onClick={() => void expire(s.id)}>Expire</button>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Deploys() {
  const [service, setService] = useState('');
  const [env, setEnv] = useState('');
  const qs = new URLSearchParams({ limit: '200' });
  if (service) qs.set('service', service);
  if (env) qs.set('environment', env);
  const { data, error } = useJson<{ deploys: RulePageData['deploys'] & { commit?: string; url?: string }[] }>(
    `/ui/api/v1/deploys?${qs}`,
  );
  return (
    <div class="page deploys">
      <h2>Deploys</h2>
      <p>
        <input placeholder="service" value={service} onChange={(e) => setService(e.currentTarget.value)} />
        <input placeholder="environment" value={env} onChange={(e) => setEnv(e.currentTarget.value)} />
      </p>
      {error && <p class="error">{error}</p>}
      <table>
        <tbody>
          {(data?.deploys ?? []).map((d) => (
            <tr key={d.id}>
              <td>{when(d.ts)}</td>
              <td>{d.service}</td>
              <td>{d.version}</td>
              <td>{d.environment}</td>
              <td>{d.author ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A gate's evidence record as the route answers it (src/gates/gate-evidence.ts). */
type GateEvidenceData = GateEvidence;

/**
 * The effect canary/baseline − 1 with its anytime-valid interval, against no change (0) and the harm the gate
 * guards against (−drop): fail once the interval is wholly below 0, pass once wholly above −drop.
 */
function EffectBar(props: { e: GateEvidenceData }) {
  const { estimate, lower, upper } = props.e.effect;
  const drop = props.e.settings.drop;
  const known = [estimate, lower, upper, 0, -drop].filter((x): x is number => x !== null && Number.isFinite(x));
  const lo = Math.min(...known) - drop / 2;
  const hi = Math.max(...known) + drop / 2;
  const W = 560;
  const x = (v: number) => ((v - lo) / (hi - lo)) * W;
  return (
    <svg class="effect" width={W} height={54} viewBox={`0 0 ${W} 54`} role="img">
      <line x1={0} x2={W} y1={24} y2={24} stroke="#ccc" />
      <line x1={x(0)} x2={x(0)} y1={6} y2={42} stroke="#555" />
      <text x={x(0) + 3} y={52} font-size="11">
        0
      </text>
      <line x1={x(-drop)} x2={x(-drop)} y1={6} y2={42} stroke="#c0392b" stroke-dasharray="4 3" />
      <text x={x(-drop) + 3} y={52} font-size="11" fill="#c0392b">
        −{pct(drop, 0)}
      </text>
      {lower !== null && upper !== null && (
        <rect x={x(lower)} y={17} width={Math.max(1, x(upper) - x(lower))} height={14} fill="rgba(53,103,196,0.35)" />
      )}
      {estimate !== null && <circle cx={x(estimate)} cy={24} r={4} fill="#3567c4" />}
    </svg>
  );
}

/** A comparison's evidence: verdict, the two arms, the effect with its interval, and the evidence over time. */
function GateEvidenceView(props: { e: GateEvidenceData }) {
  const e = props.e;
  const signed = (v: number | null) => (v === null ? '—' : `${v >= 0 ? '+' : '−'}${pct(Math.abs(v))}`);
  const t = e.timeline.map((x) => Date.parse(x.at));
  const lg = (v: number) => (v > 0 ? Math.log10(v) : null);
  const failAt = Math.log10(1 / e.settings.falseFail);
  const passAt = Math.log10(1 / (1 - e.settings.power));
  return (
    <div class="gate-evidence" data-verdict={e.verdict}>
      <p>
        <Badge s={e.verdict} /> {e.explanation}
      </p>
      <table class="arms">
        <thead>
          <tr>
            <th>arm</th>
            <th>version</th>
            <th>entered</th>
            <th>trials</th>
            <th>converted</th>
            <th>rate</th>
          </tr>
        </thead>
        <tbody>
          {(['canary', 'baseline'] as const).map((k) => (
            <tr key={k} data-arm={k}>
              <td>{k}</td>
              <td>{e[k].value}</td>
              <td>{e[k].entered.toLocaleString()}</td>
              <td>{Math.round(e[k].trials).toLocaleString()}</td>
              <td>{Math.round(e[k].successes).toLocaleString()}</td>
              <td>{pct(e[k].rate)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="effect-text">
        effect {signed(e.effect.estimate)}, {pct(e.effect.level, 0)} interval {signed(e.effect.lower)} to{' '}
        {signed(e.effect.upper)} (harm guarded against: −{pct(e.settings.drop, 0)})
      </p>
      <EffectBar e={e} />
      <p class="quiet">
        {e.minutesUsed} min of data since {e.since.replace('T', ' ').slice(0, 16)}Z, up to{' '}
        {e.dataUntil.replace('T', ' ').slice(0, 16)}Z
        {e.minutesToDecision !== null && e.minutesToDecision > 0
          ? `; about ${e.minutesToDecision} min to a decision`
          : ''}
        {e.srm.checked ? `; sample ratio ${e.srm.mismatch ? 'MISMATCH' : 'as expected'}` : ''}; rollback{' '}
        {e.rollback.status}: {e.rollback.condition}
      </p>
      {t.length > 1 && (
        <>
          <h4>Evidence over time (log10; the gate decides at the dashed lines)</h4>
          <Chart
            name={`gate-${e.gate}`}
            data={[
              t,
              e.timeline.map((x) => lg(x.failEvidence)),
              e.timeline.map(() => failAt),
              e.timeline.map((x) => lg(x.passEvidence)),
              e.timeline.map(() => passAt),
            ]}
            series={[
              { label: 'against "no harm" (fail)', stroke: '#c0392b', width: 2 },
              { label: 'fail at', stroke: '#c0392b', dash: [6, 4] },
              { label: 'against "harm" (pass)', stroke: '#27ae60', width: 2 },
              { label: 'pass at', stroke: '#27ae60', dash: [6, 4] },
            ]}
            height={200}
            yFormat={(v) => v.toFixed(1)}
          />
        </>
      )}
    </div>
  );
}

function Gates() {
  const { data, error } = useJson<{
    gates: { name: string; funnel: string; splitBy: string; description: string | null }[];
  }>('/ui/api/v1/gates');
  const [ev, setEv] = useState<{ gate: string; json?: GateEvidenceData; error?: string } | null>(null);
  const look = async (e: Event, gate: string) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const qs = new URLSearchParams({ canary: String(f.get('canary')), baseline: String(f.get('baseline')) });
    try {
      setEv({ gate, json: await get<GateEvidenceData>(`/ui/api/v1/gates/${encodeURIComponent(gate)}/evidence?${qs}`) });
    } catch (err) {
      setEv({ gate, error: (err as Error).message });
    }
  };
  return (
    <div class="page gates">
      <h2>Canary gates</h2>
      {error && <p class="error">{error}</p>}
      {(data?.gates ?? []).map((g) => (
        <section key={g.name}>
          <h3>
            {g.name}{' '}
            <span class="quiet">
              funnel {g.funnel}, split by {g.splitBy}
            </span>
          </h3>
          <form onSubmit={(e) => void look(e, g.name)}>
            <input name="canary" placeholder="canary version" required />
            <input name="baseline" placeholder="baseline version" required />
            <button type="submit">Evidence</button>
          </form>
          {ev?.gate === g.name &&
            (ev.error ? <p class="error">{ev.error}</p> : <GateEvidenceView e={ev.json as GateEvidenceData} />)}
        </section>
      ))}
    </div>
  );
}

interface BacktestAnswer {
  rule: string;
  from: number;
  to: number;
  incidents: { segment: string | null; firedAt: number; onset: number | null; resolvedAt: number | null }[];
  pages: number;
  pagesPerWeek: number;
}

function Backtest() {
  const ov = useJson<OverviewData>('/ui/api/overview');
  const rules = (ov.data?.funnels ?? []).flatMap((f) => f.rules.map((r) => r.name));
  const [rule, setRule] = useState('');
  const [span, setSpan] = useState('24h');
  const [yaml, setYaml] = useState('');
  const [busy, setBusy] = useState(false);
  const [res, setRes] = useState<{ answer?: BacktestAnswer; error?: string } | null>(null);
  const chosen = rule || rules[0] || '';
  const chart = useJson<RulePageData>(
    res?.answer ? `/ui/api/rules/${encodeURIComponent(res.answer.rule)}?span=${span}` : null,
    [res],
  );
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setRes(null);
    try {
      setRes({ answer: await send<BacktestAnswer>('POST', '/ui/api/backtest', { rule: chosen, yaml, span }) });
    } catch (err) {
      setRes({ error: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };
  const s = chart.data?.series;
  const markers: Marker[] = (res?.answer?.incidents ?? []).flatMap((i) => [
    {
      kind: 'span' as const,
      from: i.firedAt,
      to: i.resolvedAt ?? res!.answer!.to,
      label: `would have fired at ${when(i.firedAt)}${i.resolvedAt ? `, resolved ${when(i.resolvedAt)}` : ''}`,
    },
    ...(i.onset !== null ? [{ kind: 'onset' as const, from: i.onset, label: `onset ${when(i.onset)}` }] : []),
  ]);
  return (
    <div class="page backtest">
      <h2>Backtest preview</h2>
      <form class="backtest-form" onSubmit={(e) => void run(e)}>
        <select name="rule" value={chosen} onChange={(e) => setRule(e.currentTarget.value)}>
          {rules.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <select name="span" value={span} onChange={(e) => setSpan(e.currentTarget.value)}>
          {['6h', '24h', '7d'].map((x) => (
            <option key={x} value={x}>
              last {x}
            </option>
          ))}
        </select>
        <button type="submit" disabled={busy || access === 'public'}>
          {busy ? 'Running…' : 'Run'}
        </button>
        <p class="quiet">
          Optional: paste an edited copy of the rule's file (its funnel and rules); the live files are not changed.
        </p>
        <textarea name="yaml" rows={10} cols={100} value={yaml} onInput={(e) => setYaml(e.currentTarget.value)} />
      </form>
      {res?.error && <pre class="error">{res.error}</pre>}
      {res?.answer && (
        <div class="result">
          <p>
            <b>{res.answer.incidents.length}</b> incident(s), <b>{res.answer.pages}</b> page(s):{' '}
            <b>{res.answer.pagesPerWeek.toFixed(1)}</b> pages per week.
          </p>
          {s && (
            <Chart
              name="backtest"
              data={[s.t, s.observed, s.expected]}
              series={[
                { label: 'observed', stroke: '#c0392b', width: 2 },
                { label: 'expected', stroke: '#3567c4', dash: [6, 4] },
              ]}
              markers={markers}
              yFormat={(v) => pct(v)}
            />
          )}
          <table class="backtest-incidents">
            <tbody>
              {res.answer.incidents.map((i, k) => (
                <tr key={k}>
                  <td>{i.segment ?? 'all'}</td>
                  <td>fired {when(i.firedAt)}</td>
                  <td>onset {when(i.onset)}</td>
                  <td>{i.resolvedAt ? `resolved ${when(i.resolvedAt)}` : 'still firing at the end'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function App() {
  const hash = useHash();
  const [path, query] = hash.slice(1).split('?') as [string, string | undefined];
  const params = new URLSearchParams(query ?? '');
  let page;
  const rule = /^\/rule\/(.+)$/.exec(path);
  if (rule) page = <RulePage name={decodeURIComponent(rule[1]!)} params={params} key={hash} />;
  else if (path === '/silences') page = <Silences />;
  else if (path === '/deploys') page = <Deploys />;
  else if (path === '/gates') page = <Gates />;
  else if (path === '/backtest') page = <Backtest />;
  else page = <Overview />;
  return (
    <>
      <header>
        <h1>
          <a href="#/">funnelwatch</a>
        </h1>
        <nav>
          <a href="#/">Overview</a> <a href="#/silences">Silences</a> <a href="#/deploys">Deploys</a>{' '}
          <a href="#/gates">Gates</a> <a href="#/backtest">Backtest</a>
        </nav>
        {access === 'session' && (
          <form method="post" action="/logout">
            <button type="submit">Log out</button>
          </form>
        )}
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
