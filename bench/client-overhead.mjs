// The TypeScript client's cost per call beside raw fetch, measured in one run (bench/client runs
// it; bench/README.md "Client overhead"). Two figures, each as raw fetch vs @platform/coredb-client:
//   1. end to end: POST /api/v1/query {"sql":"SELECT 1"} against the running service
//      (COREDB_URL, COREDB_TOKEN), one call in flight, the two sides in alternating blocks so
//      that drift of the machine hits both alike;
//   2. in process: the same calls against a fetch that answers a prepared response at once, so
//      the difference is the client's own CPU per call (building the request, the error model,
//      the result object) without the network's noise.
// Each figure is the median over blocks of µs per call; the overhead is client − raw, and the
// noise the interquartile range of the per-block differences. Target (issue 20): the client adds
// < 20 µs per call. Prints a table and PASS/FAIL; exit 0.
import { CoreDb } from '../clients/typescript/dist/index.js';

const URL_ = process.env.COREDB_URL;
const TOKEN = process.env.COREDB_TOKEN;
if (!URL_ || !TOKEN) throw new Error('set COREDB_URL and COREDB_TOKEN (or run bench/client, which starts a service)');
const CALLS = Number(process.env.BENCH_CALLS ?? 20000); // per side, end to end
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const TARGET_US = 20;

const body = JSON.stringify({ sql: 'SELECT 1' });
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', accept: 'application/json' };

async function rawCall(f, url) {
  const res = await f(url, { method: 'POST', headers, body });
  const json = await res.json();
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return json.rows;
}

// µs per call of `fn`, over `calls` sequential calls.
async function timed(fn, calls) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < calls; ++i) await fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / calls;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function compare(rawFn, clientFn, calls, rounds) {
  const raw = [];
  const client = [];
  await timed(rawFn, Math.min(2000, calls)); // warm-up: JIT, connections
  await timed(clientFn, Math.min(2000, calls));
  const block = Math.max(1, Math.floor(calls / rounds));
  for (let r = 0; r < rounds; ++r) {
    if (r % 2 === 0) {
      raw.push(await timed(rawFn, block));
      client.push(await timed(clientFn, block));
    } else {
      client.push(await timed(clientFn, block));
      raw.push(await timed(rawFn, block));
    }
  }
  // The overhead is the difference of the two medians; the noise, the interquartile range of the
  // per-block differences (how much one block pair differs from the next on this machine).
  const diffs = raw.map((x, i) => client[i] - x).sort((a, b) => a - b);
  const q = (p) => diffs[Math.min(diffs.length - 1, Math.floor(p * diffs.length))];
  return { raw: median(raw), client: median(client), overhead: median(client) - median(raw), spread: q(0.75) - q(0.25) };
}

// 1. End to end.
const url = `${URL_.replace(/\/+$/, '')}/api/v1/query`;
const db = new CoreDb({ url: URL_, token: TOKEN });
const e2e = await compare(() => rawCall(fetch, url), () => db.query('SELECT 1'), CALLS, ROUNDS);

// 2. In process: a fetch that answers at once with what the service answers.
const answer = JSON.stringify({ rows: [{ '?column?': 1 }], rowCount: 1, command: 'SELECT', fields: [{ name: '?column?', dataType: 'int4', dataTypeID: 23 }], duration: 0.05 });
const responseHeaders = { 'content-type': 'application/json', 'x-request-id': '0123456789abcdef0123456789abcdef' };
const stub = async () => new Response(answer, { status: 200, headers: responseHeaders });
const stubDb = new CoreDb({ url: 'http://stub', token: TOKEN, fetch: stub });
const local = await compare(() => rawCall(stub, 'http://stub/api/v1/query'), () => stubDb.query('SELECT 1'), CALLS * 5, ROUNDS);

const f = (x) => x.toFixed(1).padStart(8);
console.log(`client overhead per call (node ${process.versions.node}; ${CALLS} end-to-end calls per side, ${CALLS * 5} in process; medians of ${ROUNDS} alternating blocks)`);
console.log('                                    raw fetch µs   client µs   overhead µs   noise (IQR) µs');
console.log(`  end to end (SELECT 1, service)  ${f(e2e.raw)}    ${f(e2e.client)}    ${f(e2e.overhead)}    ${f(e2e.spread)}`);
console.log(`  in process (prepared answer)    ${f(local.raw)}    ${f(local.client)}    ${f(local.overhead)}    ${f(local.spread)}`);
const verdict = local.overhead < TARGET_US && e2e.overhead < TARGET_US;
console.log(`verdict: ${verdict ? 'PASS' : 'FAIL'} — the client adds ${local.overhead.toFixed(1)} µs of its own per call (in process) and ${e2e.overhead.toFixed(1)} µs end to end; target < ${TARGET_US} µs`);
