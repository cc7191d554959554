// The client against a real service (COREDB_URL, COREDB_TOKEN: an admin token). CTest's
// client.typescript starts one of its own (tests/support/with-service.mjs); `npm test` with
// both variables set runs these against any running service. Everything the tests create is
// named after this run and removed at the end.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { CoreDb, CoreDbError } from '../dist/index.js';

const URL_ = process.env.COREDB_URL;
const TOKEN = process.env.COREDB_TOKEN;
if (!URL_ || !TOKEN) throw new Error('set COREDB_URL and COREDB_TOKEN (an admin token) to run these tests against a service');

const RUN = randomBytes(4).toString('hex');
const table = `client_test_${RUN}`;
const db = new CoreDb({ url: URL_, token: TOKEN });
let readDb; // a client with the read scope only
let readClientId;

before(async () => {
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, big int8, price numeric(10,2))`);
  const client = await db.request('POST', '/api/v1/clients', { body: { name: `ts-read-${RUN}`, scopes: ['read'] } });
  readClientId = client.id;
  readDb = new CoreDb({ url: URL_, token: client.token });
});

after(async () => {
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  if (readClientId) await db.request('DELETE', `/api/v1/clients/${readClientId}`);
  await db.cache.invalidate(`ts:${RUN}:*`);
});

describe('query', () => {
  test('rows, rowCount, fields; int8 and numeric as strings; bigint params', async () => {
    const ins = await db.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4), (2, 'b', NULL, NULL) RETURNING id`, [1, 'a', 9007199254740993n, '12.50']);
    assert.equal(ins.rowCount, 2);
    assert.equal(ins.command, 'INSERT');
    const r = await db.query(`SELECT id, name, big, price FROM ${table} WHERE id = $1`, [1]);
    assert.deepEqual(r.rows, [{ id: 1, name: 'a', big: '9007199254740993', price: '12.50' }]);
    assert.equal(r.rowCount, 1);
    assert.deepEqual(r.fields.map((f) => [f.name, f.dataType]), [['id', 'int4'], ['name', 'text'], ['big', 'int8'], ['price', 'numeric']]);
    assert.equal(r.cached, false);
    assert.equal(typeof r.duration, 'number');
    const a = await db.queryArray(`SELECT id, name FROM ${table} ORDER BY id`);
    assert.deepEqual(a.rows, [[1, 'a'], [2, 'b']]);
    const ddl = await db.query(`CREATE INDEX ON ${table} (name)`);
    assert.equal(ddl.rowCount, null);
  });

  test('errors are CoreDbError with code, status, sqlstate and PostgreSQL fields', async () => {
    await assert.rejects(db.query('SELEC 1'), (e) => {
      assert.ok(e instanceof CoreDbError);
      assert.equal(e.code, 'QUERY_ERROR');
      assert.equal(e.status, 400);
      assert.equal(e.sqlstate, '42601');
      assert.equal(e.position, 1);
      assert.match(e.requestId, /^[0-9a-f]{32}$/);
      return true;
    });
    await assert.rejects(db.query(`INSERT INTO ${table} VALUES (1, 'dup')`), (e) => {
      assert.equal(e.code, 'CONSTRAINT_VIOLATION');
      assert.equal(e.status, 409);
      assert.equal(e.sqlstate, '23505');
      assert.equal(e.constraint, `${table}_pkey`);
      return true;
    });
    await assert.rejects(db.query('SELECT pg_sleep(1)', [], { timeout: 50 }), (e) => e.code === 'QUERY_TIMEOUT' && e.status === 504);
    await assert.rejects(readDb.query(`DELETE FROM ${table}`), (e) => e.code === 'FORBIDDEN' && e.status === 403 && e.sqlstate === '25006');
    await assert.rejects(new CoreDb({ url: URL_, token: 'wrong-token' }).query('SELECT 1'), (e) => e.code === 'UNAUTHENTICATED' && e.status === 401);
    await assert.rejects(new CoreDb({ url: 'http://127.0.0.1:1', token: TOKEN, retries: 0 }).query('SELECT 1'), (e) => e.code === 'CONNECTION_FAILED' && e.status === 0);
  });

  test('an aborted query rejects with AbortError and the service cancels the statement', async () => {
    const marker = `abort_${RUN}`;
    const running = async () =>
      (await db.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND query NOT LIKE '%pg_stat_activity%'",
        [`%${marker}%`],
      )).rows[0].n;
    const until = async (want) => {
      let n = -1;
      for (let i = 0; i < 100 && n !== want; ++i) {
        n = await running();
        if (n !== want) await new Promise((res) => setTimeout(res, 50));
      }
      return n;
    };
    const controller = new AbortController();
    const pending = db.query(`SELECT pg_sleep(30) AS ${marker}`, [], { signal: controller.signal });
    pending.catch(() => {});
    assert.equal(await until(1), 1, 'the statement never showed up in pg_stat_activity');
    const started = performance.now();
    controller.abort();
    await assert.rejects(pending, (e) => e.name === 'AbortError');
    assert.ok(performance.now() - started < 1000);
    assert.equal(await until(0), 0, 'the aborted statement is still running on the server');
  });

  test('cache and invalidate options', async () => {
    const opts = { cache: { ttl: 60, key: `ts:${RUN}:names`, tags: [`ts:${RUN}`] } };
    const first = await db.query(`SELECT name FROM ${table} ORDER BY id`, [], opts);
    const second = await db.query(`SELECT name FROM ${table} ORDER BY id`, [], opts);
    assert.equal(first.cached, false);
    assert.equal(second.cached, true);
    assert.deepEqual(second.rows, first.rows);
    await db.query(`UPDATE ${table} SET name = 'z' WHERE id = 2`, [], { invalidate: { tags: [`ts:${RUN}`] } });
    const third = await db.query(`SELECT name FROM ${table} ORDER BY id`, [], opts);
    assert.equal(third.cached, false);
    assert.deepEqual(third.rows, [{ name: 'a' }, { name: 'z' }]);
  });

  test('an Idempotency-Key write runs once', async () => {
    const key = `ts-${RUN}-ins`;
    const a = await db.query(`INSERT INTO ${table} VALUES (50, 'once') RETURNING id`, [], { idempotencyKey: key });
    const b = await db.query(`INSERT INTO ${table} VALUES (50, 'once') RETURNING id`, [], { idempotencyKey: key });
    assert.deepEqual(b.rows, a.rows);
    const n = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 50`);
    assert.equal(n.rows[0].n, 1);
  });

  test('redis commands', async () => {
    assert.equal(await db.redis(['SET', `ts:${RUN}:r`, 'v']), 'OK');
    assert.equal(await db.redis(['GET', `ts:${RUN}:r`]), 'v');
    await assert.rejects(readDb.redis(['SET', `ts:${RUN}:r`, 'w']), (e) => e.code === 'FORBIDDEN');
  });
});

describe('stream', () => {
  test('rows as they arrive, then the summary; arrays with rowMode', async () => {
    let n = 0;
    let last;
    const it = db.stream('SELECT g AS id, g::int8 AS big FROM generate_series(1, 50000) g');
    for (;;) {
      const step = await it.next();
      if (step.done) {
        assert.equal(step.value.rowCount, 50000);
        assert.equal(step.value.command, 'SELECT');
        assert.deepEqual(step.value.fields.map((f) => f.name), ['id', 'big']);
        break;
      }
      n += 1;
      last = step.value;
    }
    assert.equal(n, 50000);
    assert.deepEqual(last, { id: 50000, big: '50000' });
    const arrays = [];
    for await (const row of db.stream('SELECT 1 AS a, NULL::text AS b', [], { rowMode: 'array' })) arrays.push(row);
    assert.deepEqual(arrays, [[1, null]]);
  });

  test('an error before the first row and one after rows are both CoreDbError', async () => {
    await assert.rejects(async () => {
      for await (const _ of db.stream('SELEC 1')) { /* nothing */ }
    }, (e) => e instanceof CoreDbError && e.code === 'QUERY_ERROR' && e.status === 400);
    let seen = 0;
    await assert.rejects(async () => {
      for await (const _ of db.stream("SELECT 1 / (40000 - g) AS x, repeat('y', 50) FROM generate_series(1, 80000) g")) seen += 1;
    }, (e) => e instanceof CoreDbError && e.sqlstate === '22012');
    assert.ok(seen > 1000, `rows before the error: ${seen}`);
  });

  test('leaving the loop early closes the request and the service cancels the statement', async () => {
    const marker = `stream_${RUN}`;
    let n = 0;
    for await (const _ of db.stream(`SELECT generate_series(1, 100000000) AS ${marker}, repeat('z', 100)`)) {
      n += 1;
      if (n === 1000) break;
    }
    let running = 1;
    for (let i = 0; i < 100 && running > 0; i += 1) {
      await new Promise((r) => setTimeout(r, 20));
      const r = await db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%${marker}%' AND pid <> pg_backend_pid()`);
      running = r.rows[0].n;
    }
    assert.equal(running, 0, 'the statement still runs after the loop was left');
  });
});

describe('transactions', () => {
  test('commit on return: both writes are there', async () => {
    const value = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${table} VALUES (100, 'tx1')`);
      await tx.query(`INSERT INTO ${table} VALUES (101, 'tx2')`);
      const inside = await tx.query(`SELECT count(*)::int AS n FROM ${table} WHERE id >= 100`);
      return inside.rows[0].n;
    }, { isolation: 'repeatable read' });
    assert.equal(value, 2);
    const r = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id IN (100, 101)`);
    assert.equal(r.rows[0].n, 2);
  });

  test('rollback on throw: nothing is kept, the callback\'s error is rethrown', async () => {
    const boom = new Error('boom');
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (110, 'gone')`);
        throw boom;
      }),
      (e) => e === boom,
    );
    const r = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 110`);
    assert.equal(r.rows[0].n, 0);
  });

  test('a failed statement rolls the transaction back too', async () => {
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (111, 'gone')`);
        await tx.query(`INSERT INTO ${table} VALUES (111, 'dup')`);
      }),
      (e) => e.code === 'CONSTRAINT_VIOLATION',
    );
    const r = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 111`);
    assert.equal(r.rows[0].n, 0);
  });

  test('readOnly transactions refuse writes (PostgreSQL: 25006)', async () => {
    await assert.rejects(
      db.transaction(async (tx) => tx.query(`INSERT INTO ${table} VALUES (112, 'ro')`), { readOnly: true }),
      (e) => e.code === 'FORBIDDEN' && e.sqlstate === '25006',
    );
  });

  test('statements issued at once run one after another on the transaction', async () => {
    const rows = await db.transaction(async (tx) =>
      Promise.all([120, 121, 122, 123, 124].map((id) => tx.query(`INSERT INTO ${table} VALUES ($1, 'p') RETURNING id`, [id]))),
    );
    assert.deepEqual(rows.map((r) => r.rows[0].id), [120, 121, 122, 123, 124]);
    const b = await db.transaction(async (tx) => tx.batch([`SELECT 1 AS a`, { sql: 'SELECT $1::int AS b', params: [2] }]));
    assert.deepEqual(b.map((r) => r.rows[0]), [{ a: 1 }, { b: 2 }]);
  });

  test('the transaction is kept alive while the callback waits past its idle timeout', async () => {
    const n = await db.transaction(
      async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (130, 'slow')`);
        await new Promise((r) => setTimeout(r, 2500)); // the idle timeout is 1 s
        return (await tx.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 130`)).rows[0].n;
      },
      { timeout: 1000 },
    );
    assert.equal(n, 1);
  });

  test('without keep-alive the same wait expires the transaction (410), and nothing is kept', async () => {
    await assert.rejects(
      db.transaction(
        async (tx) => {
          await tx.query(`INSERT INTO ${table} VALUES (131, 'slow')`);
          await new Promise((r) => setTimeout(r, 2500));
          await tx.query('SELECT 1');
        },
        { timeout: 1000, keepAlive: false },
      ),
      (e) => e.code === 'TRANSACTION_EXPIRED' && e.status === 410,
    );
    const r = await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 131`);
    assert.equal(r.rows[0].n, 0);
  });

  test('a statement after the end is TRANSACTION_ENDED', async () => {
    let kept;
    await db.transaction(async (tx) => {
      kept = tx;
    });
    await assert.rejects(kept.query('SELECT 1'), (e) => e.code === 'TRANSACTION_ENDED');
  });
});

describe('batch', () => {
  test('atomic: results in order; a failure throws with failedIndex and keeps nothing', async () => {
    const r = await db.batch([`INSERT INTO ${table} VALUES (200, 'b') RETURNING id`, { sql: 'SELECT $1::text AS t', params: ['x'] }]);
    assert.deepEqual(r.map((x) => x.rows[0]), [{ id: 200 }, { t: 'x' }]);
    await assert.rejects(
      db.batch([`INSERT INTO ${table} VALUES (201, 'b')`, 'SELECT 1/0']),
      (e) => e instanceof CoreDbError && e.failedIndex === 1 && e.sqlstate === '22012',
    );
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 201`)).rows[0].n, 0);
  });

  test('non-atomic: a failed statement is a CoreDbError in its place', async () => {
    const r = await db.batch(['SELECT 1 AS a', 'SELEC 2', 'SELECT 3 AS c'], { atomic: false });
    assert.deepEqual(r[0].rows, [{ a: 1 }]);
    assert.ok(r[1] instanceof CoreDbError);
    assert.equal(r[1].code, 'QUERY_ERROR');
    assert.deepEqual(r[2].rows, [{ c: 3 }]);
  });
});

describe('sagas', () => {
  test('completed, looked up, listed, compensated', async () => {
    const saga = await db.saga([
      { name: 'ins', action: { sql: `INSERT INTO ${table} VALUES (300, 's') RETURNING id` }, compensation: { sql: `DELETE FROM ${table} WHERE id = $1`, params: ['${steps.ins.rows.0.id}'] } },
      { name: 'mark', action: { database: 'redis', command: ['SET', `ts:${RUN}:saga`, '1'] }, compensation: { database: 'redis', command: ['DEL', `ts:${RUN}:saga`] } },
    ], { idempotencyKey: `ts-saga-${RUN}` });
    assert.equal(saga.status, 'completed');
    assert.equal((await db.sagas.get(saga.sagaId)).steps.length, 2);
    assert.equal(await db.sagas.get(`nosuch-${RUN}`), null);
    assert.ok((await db.sagas.list({ status: 'completed', limit: 100 })).some((s) => s.sagaId === saga.sagaId));
    const undone = await db.sagas.compensate(saga.sagaId);
    assert.equal(undone.status, 'compensated');
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 300`)).rows[0].n, 0);
    assert.equal(await db.cache.get(`ts:${RUN}:saga`), undefined);
  });

  test('a failing step: SAGA_COMPENSATED with the saga', async () => {
    await assert.rejects(
      db.saga([
        { name: 'a', action: { sql: `INSERT INTO ${table} VALUES (301, 's')` }, compensation: { sql: `DELETE FROM ${table} WHERE id = 301` } },
        { name: 'b', action: { sql: 'SELECT 1/0' }, compensation: null },
      ]),
      (e) => e instanceof CoreDbError && e.code === 'SAGA_COMPENSATED' && e.status === 409 && e.saga.status === 'compensated',
    );
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = 301`)).rows[0].n, 0);
  });
});

describe('cache', () => {
  test('set, get, entry, delete, invalidate; odd keys', async () => {
    for (const key of [`ts:${RUN}:a`, `ts:${RUN}:with/slash and space`, 'invalidate']) {
      assert.deepEqual(await db.cache.set(key, { n: [1, 'x', null] }, { ttl: 60 }), { key, ttl: 60 });
      assert.deepEqual(await db.cache.get(key), { n: [1, 'x', null] });
      const entry = await db.cache.entry(key);
      assert.ok(entry.ttl > 0 && entry.ttl <= 60);
      assert.equal(await db.cache.delete(key), true);
      assert.equal(await db.cache.get(key), undefined);
      assert.equal(await db.cache.delete(key), false);
    }
    await db.cache.set(`ts:${RUN}:null`, null);
    assert.equal(await db.cache.get(`ts:${RUN}:null`), null);
    await db.cache.set(`ts:${RUN}:p1`, 1);
    await db.cache.set(`ts:${RUN}:p2`, 2);
    assert.equal(await db.cache.invalidate(`ts:${RUN}:p*`), 2);
    await assert.rejects(readDb.cache.set(`ts:${RUN}:ro`, 1), (e) => e.code === 'FORBIDDEN');
    await assert.rejects(db.cache.get('__coredb:x'), (e) => e.code === 'INVALID_REQUEST');
  });
});

describe('vectors', () => {
  test('collection: upsert, search (filter), delete, deleteWhere, drop', async () => {
    const name = `ts_${RUN}`;
    const created = await db.vectors.createCollection({ name, dimension: 3, metric: 'cosine' });
    assert.equal(created.dimension, 3);
    try {
      const docs = db.vectors.collection(name);
      assert.equal(await docs.upsert([
        { id: 'a', embedding: [1, 0, 0], metadata: { tag: 'x' } },
        { id: 'b', embedding: [0, 1, 0], metadata: { tag: 'y' } },
        { id: 'c/1', embedding: [0.9, 0.1, 0], metadata: { tag: 'x' } },
      ]), 3);
      const near = await docs.search([1, 0, 0], { topK: 2 });
      assert.deepEqual(near.map((m) => m.id), ['a', 'c/1']);
      assert.ok(near[0].score > near[1].score);
      const filtered = await docs.search([0, 1, 0], { topK: 3, filter: { tag: 'x' } });
      assert.deepEqual(filtered.map((m) => m.id).sort(), ['a', 'c/1']);
      assert.equal(await docs.delete('c/1'), true);
      assert.equal(await docs.delete('c/1'), false);
      assert.equal(await docs.deleteWhere({ tag: 'y' }), 1);
      assert.ok((await db.vectors.listCollections()).some((c) => c.name === name && c.count === 1));
      await assert.rejects(docs.upsert([{ id: 'd', embedding: [1, 2] }]), (e) => e.code === 'INVALID_REQUEST' && e.failedIndex === 0);
      await assert.rejects(db.vectors.collection(`ts_missing_${RUN}`).search([1, 0, 0], { topK: 1 }), (e) => e.code === 'NOT_FOUND');
    } finally {
      assert.equal(await db.vectors.dropCollection(name), true);
    }
    assert.equal(await db.vectors.dropCollection(name), false);
  });
});

describe('platform data and health', () => {
  test('users, api keys, libraries, usage logs', async () => {
    const email = `ts-${RUN}@example.com`;
    const user = await db.platform.createUser({ email, hashedPassword: 'h' });
    assert.equal(user.email, email);
    await assert.rejects(db.platform.createUser({ email }), (e) => e.code === 'CONSTRAINT_VIOLATION' && e.constraint === 'users_email_key');
    const key = await db.platform.createApiKey({ userId: user.id, keyHash: `h-${RUN}`, keyPrefix: 'tw_', name: 'default' });
    assert.equal(key.quotaRequestsPerMinute, 60);
    const loaded = await db.platform.getUserByEmail(email);
    assert.deepEqual(loaded.apiKeys.map((k) => k.id), [key.id]);
    assert.equal(await db.platform.getUserByEmail(`nobody-${RUN}@example.com`), null);
    assert.equal((await db.platform.getApiKeyByHash(`h-${RUN}`)).user.email, email);
    assert.equal(await db.platform.getApiKeyByHash(`none-${RUN}`), null);
    await db.platform.createLibrary({ id: `/ts/lib-${RUN}`, name: `Client Handbook ${RUN}`, popularityScore: 3 });
    const found = await db.platform.searchLibraries(`handbook ${RUN}`, { limit: 5 });
    assert.deepEqual(found.map((l) => l.id), [`/ts/lib-${RUN}`]);
    const logged = await db.platform.logUsage({ toolName: 'search', userId: user.id, tokensReturned: 5 });
    assert.ok('id' in logged);
    assert.deepEqual(await db.platform.logUsage({ toolName: 'search', userId: `nobody-${RUN}` }), { logged: false });
    await assert.rejects(db.platform.createUser({ email: 'not-an-email' }), (e) => e.code === 'INVALID_REQUEST');
  });

  test('health and readiness', async () => {
    const h = await db.health();
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.services, { database: true, redis: true, vector: true });
    assert.equal(await db.ready(), true);
  });
});
