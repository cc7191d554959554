// Retry policy, against a scripted fetch (no service: the answers a real one gives only under
// failure — 503 CIRCUIT_OPEN, 429 with Retry-After, a reset connection — made on demand). Safe
// requests (reads, cached queries, idempotency keys) are tried again with backoff, honouring
// Retry-After; anything else is sent once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CoreDb, CoreDbError } from '../dist/index.js';

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
const circuitOpen = (retryAfter = '0') =>
  json(503, { error: { code: 'CIRCUIT_OPEN', message: 'postgresql circuit open' } }, { 'retry-after': retryAfter });
const ok = json.bind(null, 200);

function scripted(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    if (!next) throw new Error('no more scripted answers');
    return typeof next === 'function' ? next() : next;
  };
  return { fetch, calls };
}

test('a cached query is retried after 503 and succeeds', async () => {
  const s = scripted(circuitOpen(), ok({ rows: [{ a: 1 }], rowCount: 1, command: 'SELECT', fields: [], duration: 1, cached: true }));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch });
  const r = await db.query('SELECT 1 AS a', [], { cache: { ttl: 5 } });
  assert.equal(s.calls.length, 2);
  assert.deepEqual(r.rows, [{ a: 1 }]);
  assert.equal(r.cached, true);
});

test('a plain query (maybe a write) is sent once', async () => {
  const s = scripted(circuitOpen(), ok({}));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch });
  await assert.rejects(db.query('INSERT INTO t VALUES (1)'), (e) => e instanceof CoreDbError && e.code === 'CIRCUIT_OPEN' && e.status === 503 && e.retryAfter === 0);
  assert.equal(s.calls.length, 1);
});

test('an Idempotency-Key write is retried, with its key each time', async () => {
  const s = scripted(new TypeError('fetch failed'), ok({ rows: [], rowCount: 1, command: 'INSERT', fields: [], duration: 1 }));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch, retryBaseDelay: 1 });
  const r = await db.query('INSERT INTO t VALUES (1)', [], { idempotencyKey: 'k-1' });
  assert.equal(r.rowCount, 1);
  assert.equal(s.calls.length, 2);
  for (const c of s.calls) assert.equal(c.init.headers['idempotency-key'], 'k-1');
});

test('Retry-After is honoured', async () => {
  const s = scripted(
    json(429, { error: { code: 'RATE_LIMITED', message: 'over quota' } }, { 'retry-after': '1' }),
    ok({ key: 'k', value: 7, ttl: 10 }),
  );
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch });
  const started = performance.now();
  assert.equal(await db.cache.get('k'), 7);
  assert.ok(performance.now() - started >= 950, 'answered before Retry-After');
});

test('a Retry-After longer than maxRetryAfter is not waited for', async () => {
  const s = scripted(circuitOpen('30'), ok({}));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch, maxRetryAfter: 5000 });
  await assert.rejects(db.cache.get('k'), (e) => e.code === 'CIRCUIT_OPEN' && e.retryAfter === 30);
  assert.equal(s.calls.length, 1);
});

test('retries stop after `retries`, and a connection failure is CONNECTION_FAILED', async () => {
  const s = scripted(new TypeError('fetch failed'), new TypeError('fetch failed'), new TypeError('fetch failed'));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch, retries: 2, retryBaseDelay: 1 });
  await assert.rejects(db.health(), (e) => e instanceof CoreDbError && e.code === 'CONNECTION_FAILED' && e.status === 0 && e.cause instanceof TypeError);
  assert.equal(s.calls.length, 1, 'health() is not retried (a probe reports what it sees)');
  const s2 = scripted(new TypeError('a'), new TypeError('b'), new TypeError('c'), ok({}));
  const db2 = new CoreDb({ url: 'http://x', fetch: s2.fetch, retries: 2, retryBaseDelay: 1 });
  await assert.rejects(db2.cache.get('k'), (e) => e.code === 'CONNECTION_FAILED');
  assert.equal(s2.calls.length, 3);
});

test('4xx errors are never retried, even on safe requests', async () => {
  const s = scripted(json(400, { error: { code: 'INVALID_REQUEST', message: 'bad key' } }), ok({}));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch });
  await assert.rejects(db.cache.get('__coredb:x'), (e) => e.code === 'INVALID_REQUEST' && e.status === 400);
  assert.equal(s.calls.length, 1);
});

test('aborting during the backoff rejects at once with the abort reason', async () => {
  const s = scripted(circuitOpen('5'), ok({}));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const started = performance.now();
  await assert.rejects(db.cache.get('k', { signal: controller.signal }), (e) => e.name === 'AbortError');
  assert.ok(performance.now() - started < 2000);
});

test('an answer that is not the error model is BAD_RESPONSE', async () => {
  const s = scripted(new Response('<html>bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } }));
  const db = new CoreDb({ url: 'http://x', fetch: s.fetch, retries: 0 });
  await assert.rejects(db.query('SELECT 1'), (e) => e.code === 'BAD_RESPONSE' && e.status === 502);
});

test('bigint params are sent as decimal text; the token and base URL are used', async () => {
  const s = scripted(ok({ rows: [], rowCount: 0, command: 'SELECT', fields: [], duration: 0 }));
  const db = new CoreDb({ url: 'http://h:1/', token: 'tok', fetch: s.fetch });
  await db.query('SELECT $1::int8', [9007199254740993n]);
  assert.equal(s.calls[0].url, 'http://h:1/api/v1/query');
  assert.equal(s.calls[0].init.headers.authorization, 'Bearer tok');
  assert.deepEqual(JSON.parse(s.calls[0].init.body).params, ['9007199254740993']);
});
