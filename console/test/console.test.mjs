// The admin console in headless Chromium (Debian's /usr/bin/chromium driven by playwright-core;
// no browser download) against a real service: CTest's console.browser runs it through
// tests/support/with-service.mjs (a scratch database, `coredb serve` on a free port, the dev
// stack's Redis and pgvector), which sets COREDB_URL and COREDB_TOKEN (admin).
// Any browser console error or uncaught page error fails the test it happens in (the only ones
// expected are the 401s of the wrong-token step). Screenshots of the main views go to
// CONSOLE_SCREENSHOTS (default build/console-screenshots).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import { chromium } from 'playwright-core';

const BASE = process.env.COREDB_URL;
const ADMIN = process.env.COREDB_TOKEN;
if (!BASE || !ADMIN) throw new Error('COREDB_URL and COREDB_TOKEN must be set: run through CTest (console.browser)');
const SHOTS = process.env.CONSOLE_SCREENSHOTS ?? 'build/console-screenshots';
const RUN = randomBytes(3).toString('hex');
const WAIT = { timeout: 15000 };

let browser;
let page;
let errors = []; // console errors and page errors of the current test

async function api(method, path, body, token = ADMIN) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function open(view) {
  await page.click(`#nav button[data-view="${view}"]`);
  await page.waitForSelector(`#view-${view}:not([hidden])`, WAIT);
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('dialog', (d) => void d.accept()); // the confirmations of end, revoke, run, roll back
});

after(async () => {
  await browser?.close();
});

afterEach(() => {
  const seen = errors;
  errors = [];
  assert.deepEqual(seen, [], 'the browser reported errors');
});

test('the page is served from the binary with a strict Content-Security-Policy', async () => {
  const res = await page.goto(`${BASE}/console`);
  assert.equal(res.status(), 200);
  const headers = res.headers();
  assert.match(headers['content-type'], /^text\/html/);
  assert.match(headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['cache-control'], 'no-cache');
  // /metrics is closed to anonymous callers here (METRICS_TOKEN): the page reads it with the admin token.
  if (process.env.METRICS_TOKEN) assert.equal((await fetch(`${BASE}/metrics`)).status, 401);
  const js = await fetch(`${BASE}/console/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  await page.waitForSelector('#signin:not([hidden])', WAIT);
});

test('a wrong token is refused', async () => {
  await page.fill('#token', 'not-a-real-token-0123456789');
  await page.press('#token', 'Enter'); // keyboard: the form submits
  await page.waitForFunction(() => /refused/.test(document.querySelector('#signin-error')?.textContent ?? ''), null, WAIT);
  assert.equal(await page.isHidden('#nav'), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  // The refused check itself is a 401 the browser reports; nothing else may be.
  errors = errors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e));
});

test('sign in with the admin token: kept in session storage, never in the URL', async () => {
  await page.fill('#token', ADMIN);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])', WAIT);
  await page.waitForSelector('[data-pool="postgresql"] [data-field="active"]', WAIT);
  assert.ok(!page.url().includes(ADMIN));
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('coredb.console.token')), ADMIN);
  assert.ok(!(await page.content()).includes(ADMIN), 'the token is not in the page');
});

// The page's CSP forbids eval: predicates are functions, each with its own copy of the lookup.
test("a pool's numbers change while a load runs", async () => {
  const leasedNow = () => page.evaluate(() => Number(document.querySelector('[data-pool="postgresql"] [data-field="leased"]')?.textContent));
  assert.equal(await leasedNow(), 0);
  // Cached reads for the cache's hit rate: one miss, then hits.
  for (let i = 0; i < 4; i++) assert.equal((await api('POST', '/api/v1/query', { sql: `SELECT 'console' AS k`, cache: { ttl: 60 } })).status, 200);
  const leases = [];
  const sleeps = [];
  try {
    for (let i = 0; i < 3; i++) {
      const r = await api('POST', '/api/v1/connections/acquire', { database: 'postgresql', ttl: 60000 });
      assert.equal(r.status, 200);
      leases.push(r.json.connectionId);
    }
    sleeps.push(...[1, 2].map(() => api('POST', '/api/v1/query', { sql: 'SELECT pg_sleep(5)' })));
    // 3 leases + 2 running statements.
    await page.waitForFunction(() => {
      const f = (n) => Number(document.querySelector(`[data-pool="postgresql"] [data-field="${n}"]`)?.textContent);
      return f('active') >= 5 && f('leased') === 3;
    }, null, WAIT);
    // The chart: the service's samples (GET /api/v1/pools/history, one at start, then every 5 s)
    // and the live point.
    const d = await page.getAttribute('[data-pool="postgresql"] svg.chart path.line.active', 'd');
    assert.match(d, /^M[0-9.]+,[0-9.]+( L[0-9.]+,[0-9.]+)+$/, `a line of at least two points: ${d}`);
    await shot('overview');
  } finally {
    for (const id of leases) assert.equal((await api('POST', '/api/v1/connections/release', { connectionId: id })).status, 200);
    for (const s of await Promise.all(sleeps)) assert.equal(s.status, 200);
  }
  await page.waitForFunction(() => {
    const f = (n) => Number(document.querySelector(`[data-pool="postgresql"] [data-field="${n}"]`)?.textContent);
    return f('active') <= 1 && f('leased') === 0;
  }, null, WAIT);
});

test("an admin sees another client's open transaction and ends it", async () => {
  const writer = await api('POST', '/api/v1/clients', { name: `console-writer-${RUN}`, scopes: ['write'] });
  assert.equal(writer.status, 201);
  const tx = await api('POST', '/api/v1/transaction/begin', { timeout: 120000 }, writer.json.token);
  assert.equal(tx.status, 200);
  await open('sessions');
  const row = page.locator('#leases tr', { hasText: tx.json.transactionId });
  await row.waitFor(WAIT);
  assert.match(await row.textContent(), /transaction/);
  assert.match(await row.textContent(), new RegExp(`${writer.json.name}|${writer.json.id}`), 'the owner');
  await shot('leases');
  await page.click(`button[data-end="${tx.json.connectionId}"]`);
  await row.waitFor({ state: 'detached', ...WAIT });
  const commit = await api('POST', '/api/v1/transaction/commit', { transactionId: tx.json.transactionId }, writer.json.token);
  assert.equal(commit.status, 410);
  assert.match(commit.json.error.message, /ended by an admin/);
});

test('the query runner shows typed rows with NULL, read-only by default', async () => {
  await open('query');
  await page.fill('#query-sql', "SELECT $1::int AS n, NULL::text AS missing, true AS yes UNION ALL SELECT 2, 'two', NULL");
  await page.fill('#query-params', '[1]');
  await page.click('#query-run');
  const result = page.locator('[data-testid="result"]');
  await result.waitFor(WAIT);
  const headers = await result.locator('th').allTextContents();
  assert.deepEqual(headers, ['n (int4)', 'missing (text)', 'yes (bool)']);
  const cells = await result.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(cells, [['1', 'NULL', 'true'], ['2', 'two', 'NULL']]);
  assert.equal(await result.locator('.null').count(), 2);
  // Read-only: PostgreSQL itself refuses the write.
  await page.fill('#query-sql', `CREATE TABLE console_${RUN} (x int)`);
  await page.fill('#query-params', '[]');
  await page.click('#query-run');
  await page.waitForFunction(() => /FORBIDDEN|read-only/.test(document.querySelector('#query-message')?.textContent ?? ''), null, WAIT);
  // The refusal is a 403 the browser reports; nothing else may be.
  errors = errors.filter((e) => !/Failed to load resource: the server responded with a status of 403/.test(e));
});

test('EXPLAIN (ANALYZE, BUFFERS) is rendered as a tree', async () => {
  await page.fill('#query-sql', 'SELECT g FROM generate_series(1, 1000) AS g WHERE g % 7 = 0 ORDER BY g DESC LIMIT 5');
  await page.click('#query-explain');
  const plan = page.locator('[data-testid="plan"]');
  await plan.waitFor(WAIT);
  const summaries = await plan.locator('summary').allTextContents();
  assert.ok(summaries.some((s) => s.startsWith('Limit')), summaries.join('\n'));
  assert.ok(summaries.some((s) => s.startsWith('Sort')), summaries.join('\n'));
  assert.ok(summaries.some((s) => s.startsWith('Function Scan')), summaries.join('\n'));
  assert.ok(await plan.locator('details details details').count() >= 1, 'nested nodes');
  assert.match(await plan.textContent(), /execution [0-9.]+ ms/);
  assert.match(await plan.textContent(), /buffers hit/);
  await shot('query-explain');
  await page.fill('#query-sql', 'SELECT 1 AS one, NULL::text AS nothing, now() AS at');
  await page.click('#query-run');
  await page.locator('[data-testid="result"]').waitFor(WAIT);
  await shot('query');
});

test("migrations: status and history with checksums; roll back and run again with a confirmation", async () => {
  await open('migrations');
  const history = page.locator('[aria-label="migration history"] tbody tr');
  await history.first().waitFor(WAIT);
  const status = (await api('GET', '/api/v1/migrations/status')).json;
  assert.equal(await history.count(), status.history.length);
  const first = await history.first().locator('td').allTextContents();
  assert.equal(first[0], String(status.current));
  assert.match(first[4], /^[0-9a-f]{64}$/);
  await shot('migrations');
  await page.click('#migrate-rollback');
  await page.waitForFunction((v) => document.querySelector('#migration-message')?.textContent?.includes(`rolled back ${v}`), status.current, WAIT);
  await page.waitForFunction((v) => document.querySelector('[data-field="current"]')?.textContent === String(v - 1), status.current, WAIT);
  await page.click('#migrate-run');
  await page.waitForFunction((v) => document.querySelector('#migration-message')?.textContent?.includes(`applied ${v}`), status.current, WAIT);
  await page.waitForFunction((v) => document.querySelector('[data-field="current"]')?.textContent === String(v), status.current, WAIT);
});

test('clients: create (the token shown once) and revoke', async () => {
  await open('clients');
  const name = `console-made-${RUN}`;
  await page.fill('#client-name', name);
  await page.check('input[name=scope][value=write]');
  await page.click('#client-form button[type=submit]');
  const token = (await page.locator('[data-testid="new-token"]').textContent({ timeout: WAIT.timeout })).trim();
  assert.match(token, /^cdb_/);
  assert.equal((await api('GET', '/api/v1/connections/stats', undefined, token)).status, 200);
  const row = page.locator('#client-list tr', { hasText: name });
  await row.waitFor(WAIT);
  assert.match(await row.textContent(), /read, write|write/);
  await page.click(`button[aria-label="Revoke ${name}"]`);
  await page.locator('#client-list tr', { hasText: name }).locator('text=revoked').waitFor(WAIT);
  assert.equal((await api('GET', '/api/v1/connections/stats', undefined, token)).status, 401);
  // The list shows tokens' prefixes only, and the token is gone once dismissed.
  assert.ok(!(await page.textContent('#client-list')).includes(token));
  await page.click('#client-token button');
  assert.ok(!(await page.content()).includes(token));
  await shot('clients'); // after the token is dismissed: no token in the committed screenshots
});

test('traffic: request rate and latency percentiles per route, errors by code', async () => {
  await api('POST', '/api/v1/query', { sql: 'SELECT nope' }); // a QUERY_ERROR to count
  for (let i = 0; i < 5; i++) await api('POST', '/api/v1/query', { sql: 'SELECT 1' });
  await open('traffic');
  // The row of /api/v1/query, with latency percentiles of the last minute.
  await page.waitForFunction(() => {
    const row = [...document.querySelectorAll('#routes tbody tr')].find((r) => r.querySelector('td')?.textContent === '/api/v1/query');
    const cells = row ? [...row.querySelectorAll('td')].map((td) => td.textContent) : [];
    return cells.length === 6 && Number(cells[1]) > 0 && /ms|s$/.test(cells[3]) && /ms|s$/.test(cells[5]) && Number(cells[2]) >= 5;
  }, null, WAIT);
  await page.locator('#errors tr', { hasText: 'QUERY_ERROR' }).waitFor(WAIT);
  await shot('traffic');
});

test("sagas by status, and a compensated saga's steps", async () => {
  const saga = await api('POST', '/api/v1/sagas', {
    steps: [
      { name: 'reserve', action: { sql: 'SELECT 1' }, compensation: { sql: 'SELECT 2' } },
      { name: 'charge', action: { sql: 'SELECT 1/0' }, compensation: null },
    ],
  });
  assert.equal(saga.status, 409);
  const id = saga.json.error.saga.sagaId;
  await open('sagas');
  await page.waitForFunction(() => /compensated: [1-9]/.test(document.querySelector('#saga-counts')?.textContent ?? ''), null, WAIT);
  await page.click(`#saga-list button:text-is("${id}")`);
  const detail = page.locator('#saga-detail');
  await detail.locator('tr', { hasText: 'reserve' }).waitFor(WAIT);
  assert.match(await detail.locator('tr', { hasText: 'reserve' }).textContent(), /compensated/);
  assert.match(await detail.locator('tr', { hasText: 'charge' }).textContent(), /failed/);
  await shot('sagas');
});

test('overview: circuit breakers and cache hit rate', async () => {
  await open('overview');
  await page.locator('#breakers tr', { hasText: 'postgresql' }).waitFor(WAIT);
  assert.match(await page.textContent('#breakers'), /closed/);
  await page.waitForFunction(() => /^[0-9]+ %$/.test(document.querySelector('[data-field="hit-rate"]')?.textContent ?? ''), null, WAIT);
});

test('works at phone width and by keyboard', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForSelector('[data-pool="postgresql"]', WAIT);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone`);
  await shot('phone-overview');
  // Keyboard: focus a view's button and press Enter.
  await page.focus('#nav button[data-view="migrations"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-migrations:not([hidden])', WAIT);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset?.view), 'query');
  await page.setViewportSize({ width: 1280, height: 900 });
});

test('signing out forgets the token', async () => {
  await page.click('#signout');
  await page.waitForSelector('#signin:not([hidden])', WAIT);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});
