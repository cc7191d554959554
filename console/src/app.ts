// The admin console: sign-in, then views that refresh every 2 s from the public API (JSON routes
// and /metrics) with the admin token. No framework: each view is a function that redraws its
// part of index.html from the latest answers.

import { ApiError, api, forgetToken, metricsText, saveToken, savedToken } from './api.js';
import type { Client, LeaseDetail, MigrationStatus, PoolHistory, QueryResult, Saga, Stats } from './api.js';
import { type Series, WINDOW_MS, lineChart } from './chart.js';
import { age, byId, h, ms, percent, replace, table } from './dom.js';
import { explainTree } from './explain.js';
import { type Buckets, histogramsBy, parseMetrics, quantile, type Sample, select, subtract, sumBy } from './prometheus.js';

const REFRESH_MS = 2000;
const UTILISATION_TARGET = 0.8; // the seed's "< 80 %" target
const DATABASES = ['postgresql', 'redis', 'vector'] as const;
const SAGA_STATUSES = ['running', 'completed', 'compensating', 'compensated', 'failed'] as const;
const BREAKER_STATES = ['closed', 'half-open', 'open'];

type View = 'overview' | 'sessions' | 'traffic' | 'sagas' | 'migrations' | 'query' | 'clients';

const state = {
  view: 'overview' as View,
  timer: 0 as number | 0,
  refreshing: false,
  // /metrics snapshots of the last minute: [time, samples]
  scrapes: [] as [number, Sample[]][],
  selectedSaga: null as string | null,
};

function message(el: HTMLElement, text: string, isError = false): void {
  el.textContent = text;
  el.classList.toggle('error', isError);
}

function describe(e: unknown): string {
  if (e instanceof ApiError) return `${e.status} ${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// sign-in
// ---------------------------------------------------------------------------------------------

async function checkToken(token: string): Promise<string | null> {
  try {
    await api('GET', '/api/v1/migrations/status', undefined, token);
    return null;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return 'The token was refused (unknown or revoked).';
    if (e instanceof ApiError && e.status === 403) return 'This token has no admin scope.';
    return `Could not check the token: ${describe(e)}`;
  }
}

function showSignedIn(signedIn: boolean): void {
  byId('signin').hidden = signedIn;
  byId('nav').hidden = !signedIn;
  byId('signout').hidden = !signedIn;
  for (const v of document.querySelectorAll<HTMLElement>('.view')) v.hidden = !signedIn || v.id !== `view-${state.view}`;
  if (signedIn) {
    if (!state.timer) state.timer = window.setInterval(() => void refresh(), REFRESH_MS);
    void refresh();
  } else if (state.timer) {
    window.clearInterval(state.timer);
    state.timer = 0;
  }
}

function setupSignIn(): void {
  const form = byId<HTMLFormElement>('signin-form');
  const input = byId<HTMLInputElement>('token');
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    const err = byId('signin-error');
    message(err, 'Checking…');
    void checkToken(token).then((problem) => {
      if (problem) {
        message(err, problem, true);
        return;
      }
      input.value = '';
      message(err, '');
      saveToken(token);
      showSignedIn(true);
    });
  });
  byId('signout').addEventListener('click', () => {
    forgetToken();
    state.scrapes = [];
    showSignedIn(false);
    byId('token').focus();
  });
}

function show(view: View): void {
  state.view = view;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#nav button')) {
    if (b.dataset.view === view) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  for (const v of document.querySelectorAll<HTMLElement>('.view')) v.hidden = v.id !== `view-${view}`;
  void refresh();
}

// ---------------------------------------------------------------------------------------------
// refresh: every 2 s the pools' stats and /metrics (the traffic view keeps a minute of scrapes),
// plus the open view's data
// ---------------------------------------------------------------------------------------------

async function refresh(): Promise<void> {
  if (state.refreshing || !savedToken()) return;
  state.refreshing = true;
  try {
    const now = Date.now();
    const [stats, text] = await Promise.all([api<Stats>('GET', '/api/v1/connections/stats'), metricsText()]);
    state.scrapes.push([now, parseMetrics(text)]);
    while (state.scrapes.length > 2 && state.scrapes[1]![0] <= now - 60000) state.scrapes.shift();
    switch (state.view) {
      case 'overview':
        drawPools(stats, await api<PoolHistory>('GET', '/api/v1/pools/history'), now);
        drawBreakersAndCache();
        break;
      case 'sessions':
        drawLeases((await api<{ leases: LeaseDetail[] }>('GET', '/api/v1/connections')).leases);
        break;
      case 'traffic':
        drawTraffic();
        break;
      case 'sagas':
        await drawSagas();
        break;
      case 'migrations':
        await drawMigrations();
        break;
      case 'clients':
        await drawClients();
        break;
      case 'query':
        break;
    }
    byId('status').textContent = `updated ${new Date(now).toLocaleTimeString()}`;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      forgetToken();
      showSignedIn(false);
      message(byId('signin-error'), 'The token is no longer accepted; sign in again.', true);
    } else {
      byId('status').textContent = `refresh failed: ${describe(e)}`;
    }
  } finally {
    state.refreshing = false;
  }
}

// ---------------------------------------------------------------------------------------------
// overview: pools, breakers, cache
// ---------------------------------------------------------------------------------------------

// The charts: the service's samples of the last ten minutes (every 5 s, kept by the service, so
// they reach back before the page was opened) and the live figures as the newest point.
function drawPools(stats: Stats, history: PoolHistory, now: number): void {
  const recent = history.samples.map((x) => [Date.parse(x.at), x] as const).filter(([t]) => t >= now - WINDOW_MS);
  const cards = DATABASES.map((db) => {
    const s = stats[db];
    const over = s.utilization >= UTILISATION_TARGET;
    const bar = h('div', { class: 'bar' }, h('div', { class: `fill${over ? ' over' : ''}` }));
    (bar.firstElementChild as HTMLElement).style.width = `${Math.min(100, s.utilization * 100)}%`;
    const series: Series[] = [
      { name: 'active', cls: 'active', points: [...recent.map(([t, x]) => [t, x[db].active] as [number, number]), [now, s.active]] },
      { name: 'waiting', cls: 'waiting', points: [...recent.map(([t, x]) => [t, x[db].waiting] as [number, number]), [now, s.waiting]] },
    ];
    return h(
      'article',
      { class: 'card', 'data-pool': db },
      h('h3', {}, db),
      h(
        'dl',
        { class: 'figures' },
        ...(['max', 'size', 'active', 'idle', 'leased', 'waiting'] as const).flatMap((k) => [
          h('dt', {}, k),
          h('dd', { 'data-field': k }, s[k]),
        ]),
      ),
      h('p', { class: over ? 'error' : '' }, 'utilisation ', h('strong', { 'data-field': 'utilization' }, percent(s.utilization)), ` (target < ${percent(UTILISATION_TARGET)})`),
      bar,
      lineChart(series, {
        max: Math.max(s.max, 1),
        target: s.max * UTILISATION_TARGET,
        label: `${db}: active and waiting connections over the last 10 minutes`,
        now,
      }),
      h('p', { class: 'legend muted' }, h('span', { class: 'key active' }, 'active'), ' ', h('span', { class: 'key waiting' }, 'waiting'), ' ', h('span', { class: 'key target' }, '80 % of max')),
      h('p', { class: 'muted small' }, `acquired ${s.acquiredTotal} · released ${s.releasedTotal} · expired ${s.expiredTotal} · timeouts ${s.timeoutsTotal}`),
    );
  });
  replace(byId('pools'), ...cards);
}

function latest(): Sample[] {
  return state.scrapes[state.scrapes.length - 1]?.[1] ?? [];
}

function drawBreakersAndCache(): void {
  const samples = latest();
  const breakers = select(samples, 'coredb_circuit_breaker_state').map((s) => {
    const name = BREAKER_STATES[s.value] ?? String(s.value);
    return [s.labels.backend ?? '', h('span', { class: `badge ${name}` }, name)];
  });
  replace(byId('breakers'), table(['backend', 'state'], breakers, 'circuit breakers'));
  const cache = sumBy(samples, 'coredb_cache_requests_total', 'result');
  const hit = cache.get('hit') ?? 0;
  const miss = cache.get('miss') ?? 0;
  const err = cache.get('error') ?? 0;
  const rate = hit + miss > 0 ? percent(hit / (hit + miss)) : '—';
  replace(
    byId('cache'),
    h('p', {}, 'hit rate ', h('strong', { 'data-field': 'hit-rate' }, rate), ' since start'),
    table(['hits', 'misses', 'errors'], [[hit, miss, err]], 'cache reads'),
  );
}

// ---------------------------------------------------------------------------------------------
// leases and transactions
// ---------------------------------------------------------------------------------------------

function drawLeases(leases: LeaseDetail[]): void {
  const now = Date.now();
  if (leases.length === 0) {
    replace(byId('leases'), h('p', { class: 'muted' }, 'No open lease or transaction.'));
    return;
  }
  const rows = leases.map((l) => [
    h('code', {}, l.transactionId ?? l.connectionId),
    l.database,
    l.client,
    l.transactionId ? 'transaction' : l.inTransaction ? 'lease, in a BEGIN block' : 'lease',
    age(l.acquiredAt, now),
    `${Math.max(0, Math.round((Date.parse(l.expiresAt) - now) / 1000))} s`,
    h(
      'button',
      {
        type: 'button',
        class: 'danger small',
        'aria-label': `End ${l.connectionId}`,
        'data-end': l.connectionId,
        onclick: () => {
          if (!window.confirm(`End ${l.transactionId ? 'transaction ' + l.transactionId : 'lease ' + l.connectionId} of ${l.client}? Its work is rolled back.`)) return;
          void api('DELETE', `/api/v1/connections/${encodeURIComponent(l.connectionId)}`)
            .then(() => refresh())
            .catch((e: unknown) => (byId('status').textContent = `end failed: ${describe(e)}`));
        },
      },
      'End',
    ),
  ]);
  replace(byId('leases'), table(['id', 'database', 'owner', 'state', 'age', 'expires in', ''], rows, 'open leases and transactions'));
}

// ---------------------------------------------------------------------------------------------
// traffic: request rate and latency per route, errors by code
// ---------------------------------------------------------------------------------------------

function drawTraffic(): void {
  const scrapes = state.scrapes;
  const now = scrapes[scrapes.length - 1];
  if (!now) return;
  const minuteAgo = scrapes[0];
  // Rates and percentiles over the scrapes of the last minute (the oldest kept is ~60 s old).
  const seconds = minuteAgo && minuteAgo !== now ? Math.max((now[0] - minuteAgo[0]) / 1000, 0.001) : 0;
  const counts = sumBy(now[1], 'coredb_http_requests_total', 'route');
  const before = minuteAgo && seconds ? sumBy(minuteAgo[1], 'coredb_http_requests_total', 'route') : new Map<string, number>();
  const hists = histogramsBy(now[1], 'coredb_http_request_duration_seconds', 'route');
  const oldHists: Map<string, Buckets> =
    minuteAgo && minuteAgo !== now ? histogramsBy(minuteAgo[1], 'coredb_http_request_duration_seconds', 'route') : new Map();
  const routes = [...counts.keys()].sort();
  const fmt = (s: number | null) => (s === null ? '—' : ms(s * 1000));
  const rows = routes.map((route) => {
    const b = hists.get(route);
    const recent = b ? subtract(b, oldHists.get(route)) : [];
    return [
      h('code', {}, route),
      seconds ? ((counts.get(route)! - (before.get(route) ?? 0)) / seconds).toFixed(2) : '—',
      counts.get(route) ?? 0,
      fmt(quantile(recent, 0.5)),
      fmt(quantile(recent, 0.95)),
      fmt(quantile(recent, 0.99)),
    ];
  });
  replace(byId('routes'), table(['route', 'req/s', 'since start', 'p50', 'p95', 'p99'], rows, 'requests by route'));
  const errors = sumBy(now[1], 'coredb_errors_total', 'code');
  const oldErrors = minuteAgo ? sumBy(minuteAgo[1], 'coredb_errors_total', 'code') : new Map<string, number>();
  const errorRows = [...errors.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([code, n]) => [h('code', {}, code), n - (oldErrors.get(code) ?? 0), n]);
  replace(
    byId('errors'),
    errorRows.length ? table(['code', 'last minute', 'since start'], errorRows, 'errors by code') : h('p', { class: 'muted' }, 'No error answered yet.'),
  );
}

// ---------------------------------------------------------------------------------------------
// sagas
// ---------------------------------------------------------------------------------------------

async function drawSagas(): Promise<void> {
  const lists = await Promise.all(SAGA_STATUSES.map((s) => api<{ sagas: Saga[] }>('GET', `/api/v1/sagas?status=${s}&limit=50`)));
  replace(
    byId('saga-counts'),
    ...SAGA_STATUSES.map((s, i) => h('span', { class: `chip ${s}` }, `${s}: ${lists[i]!.sagas.length}${lists[i]!.sagas.length >= 50 ? '+' : ''}`)),
  );
  const all = lists.flatMap((l) => l.sagas).sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '')).slice(0, 50);
  const rows = all.map((s) => [
    h('button', { type: 'button', class: 'link', onclick: () => ((state.selectedSaga = s.sagaId), void drawSagas()) }, s.sagaId),
    h('span', { class: `badge ${s.status}` }, s.status),
    s.steps.length,
    s.createdAt ? age(s.createdAt) + ' ago' : '',
  ]);
  replace(byId('saga-list'), all.length ? table(['saga', 'status', 'steps', 'created'], rows, 'sagas') : h('p', { class: 'muted' }, 'No saga yet.'));
  const detail = byId('saga-detail');
  if (!state.selectedSaga) {
    replace(detail);
    return;
  }
  const saga = await api<Saga>('GET', `/api/v1/sagas/${encodeURIComponent(state.selectedSaga)}`);
  const steps = saga.steps.map((st) => [
    st.name,
    h('span', { class: `badge ${st.status}` }, st.status),
    st.error ? `${st.error.code ?? ''} ${st.error.message ?? ''}` : '',
    st.compensation
      ? `${st.compensation.attempts} attempt(s)${st.compensation.finishedAt ? ', done' : ''}${st.compensation.error ? ': ' + (st.compensation.error.message ?? '') : ''}`
      : '',
  ]);
  replace(detail, h('h3', {}, `Saga ${saga.sagaId} (${saga.status})`), table(['step', 'status', 'error', 'compensation'], steps, 'saga steps'));
}

// ---------------------------------------------------------------------------------------------
// migrations
// ---------------------------------------------------------------------------------------------

async function drawMigrations(): Promise<void> {
  const s = await api<MigrationStatus>('GET', '/api/v1/migrations/status');
  replace(
    byId('migration-status'),
    h('p', {}, 'current version ', h('strong', { 'data-field': 'current' }, s.current ?? 'none'), ' · pending ', s.pending.length ? s.pending.join(', ') : 'none'),
    ...s.problems.map((p) => h('p', { class: 'error' }, p)),
  );
  const rows = [...s.history].reverse().map((m) => [m.version, m.name, new Date(m.appliedAt).toISOString(), ms(m.duration), h('code', { class: 'checksum' }, m.checksum)]);
  replace(byId('migration-history'), table(['version', 'name', 'applied at', 'took', 'checksum (SHA-256)'], rows, 'migration history'));
}

function setupMigrations(): void {
  const msg = byId('migration-message');
  byId('migrate-run').addEventListener('click', () => {
    if (!window.confirm('Apply every pending migration?')) return;
    api<{ applied: number[]; current: number | null }>('POST', '/api/v1/migrations/run', {})
      .then((r) => message(msg, r.applied.length ? `applied ${r.applied.join(', ')}; now at ${r.current}` : 'nothing to apply'))
      .catch((e: unknown) => message(msg, describe(e), true))
      .finally(() => void refresh());
  });
  byId('migrate-rollback').addEventListener('click', () => {
    if (!window.confirm('Roll back the latest migration? Its down script runs now.')) return;
    api<{ rolledBack: number[]; current: number | null }>('POST', '/api/v1/migrations/rollback', { steps: 1 })
      .then((r) => message(msg, `rolled back ${r.rolledBack.join(', ')}; now at ${r.current ?? 'none'}`))
      .catch((e: unknown) => message(msg, describe(e), true))
      .finally(() => void refresh());
  });
}

// ---------------------------------------------------------------------------------------------
// query runner
// ---------------------------------------------------------------------------------------------

function cell(value: unknown, dataType: string): HTMLElement {
  if (value === null || value === undefined) return h('span', { class: 'null' }, 'NULL');
  if (typeof value === 'object') return h('code', { class: 'json' }, JSON.stringify(value));
  const numeric = typeof value === 'number' || ['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid'].includes(dataType);
  return h('span', { class: numeric ? 'num' : typeof value === 'boolean' ? 'bool' : '' }, String(value));
}

function resultTable(r: QueryResult): HTMLElement {
  const rows = (r.rows as unknown[][]).map((row) => row.map((v, i) => cell(v, r.fields[i]?.dataType ?? '')));
  const wrap = table(
    r.fields.map((f) => `${f.name} (${f.dataType})`),
    rows,
    'query result',
  );
  wrap.dataset.testid = 'result';
  return wrap;
}

// Runs `sql` — inside a READ ONLY transaction (rolled back after) when `readOnly`, so PostgreSQL
// itself refuses a write.
async function runSql(sql: string, params: unknown[], database: string, readOnly: boolean): Promise<QueryResult> {
  if (!readOnly) return api<QueryResult>('POST', '/api/v1/query', { sql, params, database, rowMode: 'array' });
  const tx = await api<{ transactionId: string }>('POST', '/api/v1/transaction/begin', { database, readOnly: true, timeout: 60000 });
  try {
    return await api<QueryResult>('POST', '/api/v1/query', { sql, params, transactionId: tx.transactionId, rowMode: 'array' });
  } finally {
    await api('POST', '/api/v1/transaction/rollback', { transactionId: tx.transactionId }).catch(() => undefined);
  }
}

function setupQuery(): void {
  const msg = byId('query-message');
  const out = byId('query-result');
  const read = (): { sql: string; params: unknown[]; database: string; readOnly: boolean } | null => {
    let params: unknown;
    try {
      params = JSON.parse(byId<HTMLInputElement>('query-params').value || '[]');
    } catch {
      params = null;
    }
    if (!Array.isArray(params)) {
      message(msg, 'Parameters must be a JSON array, e.g. [1, "a", null]', true);
      return null;
    }
    return {
      sql: byId<HTMLTextAreaElement>('query-sql').value,
      params,
      database: byId<HTMLSelectElement>('query-database').value,
      readOnly: byId<HTMLInputElement>('query-readonly').checked,
    };
  };
  byId<HTMLFormElement>('query-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = read();
    if (!q) return;
    message(msg, 'running…');
    replace(out);
    runSql(q.sql, q.params, q.database, q.readOnly)
      .then((r) => {
        message(msg, `${r.command} · ${r.rowCount ?? 'no'} row(s) · ${ms(r.duration)}${q.readOnly ? ' · read-only, rolled back' : ''}`);
        replace(out, resultTable(r));
      })
      .catch((e: unknown) => message(msg, describe(e), true));
  });
  byId('query-explain').addEventListener('click', () => {
    const q = read();
    if (!q) return;
    message(msg, 'explaining…');
    replace(out);
    runSql(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${q.sql}`, q.params, q.database, q.readOnly)
      .then((r) => {
        message(msg, `plan · ${ms(r.duration)}${q.readOnly ? ' · read-only, rolled back' : ''}`);
        replace(out, explainTree((r.rows as unknown[][])[0]?.[0]));
      })
      .catch((e: unknown) => message(msg, describe(e), true));
  });
}

// ---------------------------------------------------------------------------------------------
// clients
// ---------------------------------------------------------------------------------------------

async function drawClients(): Promise<void> {
  const { clients } = await api<{ clients: Client[] }>('GET', '/api/v1/clients');
  const rows = clients.map((c) => [
    c.name,
    c.scopes.join(', '),
    h('code', {}, c.tokenPrefix),
    new Date(c.createdAt).toISOString().slice(0, 19) + 'Z',
    c.revokedAt ? h('span', { class: 'badge open' }, 'revoked') : h('span', { class: 'badge closed' }, 'active'),
    c.revokedAt
      ? ''
      : h(
          'button',
          {
            type: 'button',
            class: 'danger small',
            'aria-label': `Revoke ${c.name}`,
            onclick: () => {
              if (!window.confirm(`Revoke client ${c.name}? Its token stops working at once.`)) return;
              void api('DELETE', `/api/v1/clients/${encodeURIComponent(c.id)}`)
                .then(() => refresh())
                .catch((e: unknown) => message(byId('client-message'), describe(e), true));
            },
          },
          'Revoke',
        ),
  ]);
  replace(byId('client-list'), table(['name', 'scopes', 'token prefix', 'created', 'state', ''], rows, 'clients'));
}

function setupClients(): void {
  byId<HTMLFormElement>('client-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = byId<HTMLInputElement>('client-name').value.trim();
    const scopes = [...document.querySelectorAll<HTMLInputElement>('input[name=scope]:checked')].map((i) => i.value);
    const msg = byId('client-message');
    message(msg, '');
    api<Client>('POST', '/api/v1/clients', { name, scopes })
      .then((c) => {
        byId<HTMLInputElement>('client-name').value = '';
        replace(
          byId('client-token'),
          h(
            'div',
            { class: 'notice' },
            h('p', {}, `Token of ${c.name} — shown this once, copy it now:`),
            h('code', { class: 'token', 'data-testid': 'new-token' }, c.token ?? ''),
            h('button', { type: 'button', class: 'secondary small', onclick: () => replace(byId('client-token')) }, 'Done'),
          ),
        );
        return refresh();
      })
      .catch((e: unknown) => message(msg, describe(e), true));
  });
}

// ---------------------------------------------------------------------------------------------

function start(): void {
  setupSignIn();
  setupMigrations();
  setupQuery();
  setupClients();
  for (const b of document.querySelectorAll<HTMLButtonElement>('#nav button')) {
    b.addEventListener('click', () => show(b.dataset.view as View));
  }
  showSignedIn(savedToken() !== null);
  if (!savedToken()) byId('token').focus();
}

start();
