// bench/node-ref/server.js — the reference service of bench/run (issue 16, target P2): what a
// typical express + pg + ioredis service does for `POST /api/v1/query`, nothing more.
//
//   body   {"sql": "...", "params": [...], "cache": {"ttl": seconds}}   (params and cache optional)
//   answer {"rows": [...], "rowCount": n}                               (rows as objects, pg's default)
//
// - Bearer token check against one fixed token (NODE_REF_TOKEN).
// - pg.Pool with NODE_REF_POOL_SIZE connections (bench/run passes coredb's PG_POOL_SIZE), each
//   statement through pool.query(sql, params): the extended protocol, unnamed statement.
// - cache: cache-aside with ioredis, key = sql + params, GET first, on a miss run the query and
//   SET ... EX ttl; the JSON text is stored and parsed back on a hit, as such services do.
// - One process (node runs JavaScript on one thread, as coredb runs its HTTP on one io thread),
//   no per-request logging.
// Listens on 127.0.0.1:NODE_REF_PORT (0: a free port) and prints {"listening": PORT} on stdout.
'use strict';

const express = require('express');
const { Pool } = require('pg');
const Redis = require('ioredis');

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`node-ref: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const token = required('NODE_REF_TOKEN');
const pool = new Pool({
  connectionString: required('DATABASE_URL'),
  max: Number(process.env.NODE_REF_POOL_SIZE || 16),
});
pool.on('error', (err) => console.error('node-ref: idle PostgreSQL client error:', err.message));
const redis = new Redis(required('REDIS_URL'), { lazyConnect: false, maxRetriesPerRequest: 2 });
redis.on('error', (err) => console.error('node-ref: redis error:', err.message));

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(express.json({ limit: '1mb' }));

app.get('/health/live', (req, res) => res.json({ status: 'ok' }));

function authenticated(req, res, next) {
  if (req.get('authorization') !== `Bearer ${token}`) {
    return res.status(401).json({ error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
  }
  return next();
}

app.post('/api/v1/query', authenticated, async (req, res) => {
  const { sql, params = [], cache } = req.body || {};
  if (typeof sql !== 'string' || !Array.isArray(params)) {
    return res.status(400).json({ error: { code: 'INVALID_REQUEST', message: "'sql' must be a string, 'params' an array" } });
  }
  try {
    const ttl = cache && Number(cache.ttl);
    const key = ttl > 0 ? `noderef:query:${sql}:${JSON.stringify(params)}` : null;
    if (key) {
      const hit = await redis.get(key);
      if (hit !== null) return res.json(JSON.parse(hit));
    }
    const result = await pool.query(sql, params);
    const body = { rows: result.rows, rowCount: result.rowCount };
    if (key) await redis.set(key, JSON.stringify(body), 'EX', ttl);
    return res.json(body);
  } catch (err) {
    return res.status(500).json({ error: { code: 'QUERY_ERROR', message: err.message } });
  }
});

const server = app.listen(Number(process.env.NODE_REF_PORT || 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ listening: server.address().port }));
});
server.keepAliveTimeout = 65000;

function shutdown() {
  server.close();
  server.closeAllConnections();
  Promise.allSettled([pool.end(), redis.quit()]).then(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
