#!/usr/bin/env node
// Runs a command against a real `coredb serve` of its own: a scratch PostgreSQL database (made
// through PG_SUPERUSER_URL, owned by DATABASE_URL's role, hardened as scripts/devstack hardens
// the shared one), migrated with `coredb migrate`, the service on a free 127.0.0.1 port with a
// fresh admin token, and the dev stack's Redis and pgvector. The command gets COREDB_URL and
// COREDB_TOKEN (an admin token), COREDB_BINARY and COREDB_SERVICE_LOG; afterwards the service
// is stopped (SIGTERM) and the database dropped. Exits with the command's code, or 1 when the
// service died under it. The Node.js counterpart of tests/support/service_process.cpp, for the
// CTest entries of tests/openapi/ and clients/typescript/ (run through scripts/test).
//
// Usage: node tests/support/with-service.mjs --coredb build/coredb [--env NAME=VALUE]... -- COMMAND [ARGS...]
// Needs DATABASE_URL, PG_SUPERUSER_URL, REDIS_URL, VECTOR_URL (eval "$(scripts/devstack env DIR)").
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const die = (message) => {
  process.stderr.write(`with-service: ${message}\n`);
  process.exit(2);
};

const argv = process.argv.slice(2);
let coredb = '';
const extraEnv = {};
while (argv.length && argv[0] !== '--') {
  const arg = argv.shift();
  if (arg === '--coredb') coredb = argv.shift() ?? '';
  else if (arg === '--env') {
    const kv = argv.shift() ?? '';
    const eq = kv.indexOf('=');
    if (eq <= 0) die(`--env needs NAME=VALUE, got '${kv}'`);
    extraEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  } else die(`unknown option '${arg}'`);
}
argv.shift();
if (['warn', 'error', 'critical', 'off'].includes(extraEnv.LOG_LEVEL ?? process.env.LOG_LEVEL)) {
  die('LOG_LEVEL must be info or lower: the service\'s "listening" line (info) gives its port');
}
if (!coredb || !existsSync(coredb)) die(`--coredb must name the built binary (got '${coredb}')`);
if (argv.length === 0) die('no command after --');
for (const name of ['DATABASE_URL', 'PG_SUPERUSER_URL', 'REDIS_URL', 'VECTOR_URL']) {
  if (!process.env[name]) die(`${name} is not set: run through scripts/test, or eval "$(scripts/devstack env DIR)" first`);
}

const PSQL = existsSync('/usr/lib/postgresql/15/bin/psql') ? '/usr/lib/postgresql/15/bin/psql' : 'psql';

function withDatabase(url, name) {
  let u;
  try {
    u = new URL(url);
  } catch {
    die('DATABASE_URL and PG_SUPERUSER_URL must be postgresql:// URLs here');
  }
  u.pathname = `/${name}`;
  return u.toString();
}

function psql(url, sql) {
  const r = spawnSync(PSQL, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql failed (${sql}): ${r.stderr || r.error}`);
}

const dbName = `coredb_test_${randomBytes(5).toString('hex')}`;
const owner = decodeURIComponent(new URL(process.env.DATABASE_URL).username);
const appUrl = withDatabase(process.env.DATABASE_URL, dbName);
const superUrl = withDatabase(process.env.PG_SUPERUSER_URL, dbName);
const workDir = mkdtempSync(join(tmpdir(), 'coredb-with-service-'));
const logPath = join(workDir, 'service.log');
const token = randomBytes(20).toString('hex');
let service = null;
let serviceExited = null; // {code, signal} once it exited
let stopping = false;
let dbCreated = false;

function cleanup() {
  if (dbCreated) {
    try {
      psql(process.env.PG_SUPERUSER_URL, `DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    } catch (e) {
      process.stderr.write(`with-service: could not drop ${dbName}: ${e.message}\n`);
    }
    dbCreated = false;
  }
}

async function stopService() {
  if (!service || serviceExited) return;
  stopping = true;
  const exited = new Promise((resolve) => service.once('exit', resolve));
  service.kill('SIGTERM');
  const timer = setTimeout(() => service.kill('SIGKILL'), 20000);
  await exited;
  clearTimeout(timer);
}

function logTail(lines = 40) {
  try {
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await stopService();
    cleanup();
    process.exit(130);
  });
}

try {
  psql(process.env.PG_SUPERUSER_URL, `CREATE DATABASE "${dbName}" OWNER "${owner}"`);
  dbCreated = true;
  // As ScratchDatabase (tests/support/scratch_database.cpp) and scripts/devstack do.
  psql(superUrl, 'CREATE EXTENSION IF NOT EXISTS pg_trgm');
  psql(superUrl, 'CREATE EXTENSION IF NOT EXISTS "uuid-ossp"');
  psql(superUrl, 'REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC');
  psql(superUrl, `GRANT USAGE ON LANGUAGE plpgsql TO "${owner}"`);
  psql(superUrl, `REVOKE TEMPORARY ON DATABASE "${dbName}" FROM PUBLIC`);

  const env = { ...process.env, DATABASE_URL: appUrl, ...extraEnv };
  const migrate = spawnSync(coredb, ['migrate'], { env, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(`coredb migrate failed:\n${migrate.stdout}${migrate.stderr}`);

  const log = createWriteStream(logPath);
  service = spawn(coredb, ['serve'], {
    env: { ...env, HOST: '127.0.0.1', PORT: '0', COREDB_ADMIN_TOKEN: token, LOG_LEVEL: env.LOG_LEVEL ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  service.on('exit', (code, signal) => {
    serviceExited = { code, signal };
  });
  const port = await new Promise((resolve, reject) => {
    let buffered = '';
    let found = false;
    const timer = setTimeout(() => reject(new Error(`coredb serve did not listen within 20 s:\n${buffered}`)), 20000);
    const onData = (chunk) => {
      log.write(chunk);
      if (found) return;
      buffered += chunk.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(buffered);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    service.stdout.on('data', onData);
    service.stderr.on('data', (chunk) => log.write(chunk));
    service.once('exit', (code) => {
      clearTimeout(timer);
      if (!found) reject(new Error(`coredb serve exited (${code}) before listening:\n${buffered}`));
    });
  });

  const child = spawn(argv[0], argv.slice(1), {
    stdio: 'inherit',
    env: {
      ...env,
      COREDB_URL: `http://127.0.0.1:${port}`,
      COREDB_TOKEN: token,
      COREDB_BINARY: coredb,
      COREDB_SERVICE_LOG: logPath,
    },
  });
  const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))));
  const diedUnderTest = serviceExited !== null && !stopping;
  await stopService();
  if (diedUnderTest) {
    process.stderr.write(`with-service: coredb serve died during the test (${JSON.stringify(serviceExited)}):\n${logTail()}\n`);
  } else if (code !== 0) {
    process.stderr.write(`with-service: last lines of the service's log (${logPath}):\n${logTail(20)}\n`);
  }
  cleanup();
  if (code === 0 && !diedUnderTest) rmSync(workDir, { recursive: true, force: true });
  process.exit(diedUnderTest ? 1 : code);
} catch (e) {
  process.stderr.write(`with-service: ${e.message}\n`);
  await stopService();
  cleanup();
  process.exit(1);
}
