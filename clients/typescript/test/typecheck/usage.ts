// Compiled by test/typecheck.test.mjs with tsc --noEmit against the built declarations (dist/):
// the right calls must compile, and every call marked @ts-expect-error must fail to (tsc
// reports an unused @ts-expect-error as an error, so a wrong call that compiles fails the test).
import { CoreDb, CoreDbError, type QueryResult, type Transaction } from '../../dist/index.js';

const db = new CoreDb({ url: 'http://127.0.0.1:8095', token: 't' });

interface UserRow {
  id: string;
  email: string;
  score: string; // int8 comes as a string
}

export async function rightCalls(): Promise<void> {
  const r: QueryResult<UserRow> = await db.query<UserRow>('SELECT id, email, score FROM users WHERE id = $1', ['u1']);
  const email: string = r.rows[0]!.email;
  const count: number | null = r.rowCount;
  void [email, count, r.fields[0]?.dataTypeID];
  await db.query('SELECT $1::int8', [10n], { timeout: 1000, cache: { ttl: 60, tags: ['t'] }, signal: AbortSignal.timeout(5000) });
  const a = await db.queryArray<[number, string]>('SELECT 1, $1', ['x']);
  const first: number = a.rows[0]![0];
  void first;
  const committed: number = await db.transaction(
    async (tx: Transaction) => {
      await tx.query('INSERT INTO t VALUES ($1)', [1]);
      return 1;
    },
    { isolation: 'serializable', readOnly: false },
  );
  void committed;
  const mixed = await db.batch(['SELECT 1', { sql: 'SELECT $1', params: [2] }], { atomic: false });
  for (const entry of mixed) if (entry instanceof CoreDbError) void entry.failedIndex;
  await db.cache.set('k', { any: ['json'] }, { ttl: 10 });
  const v = await db.cache.get<{ any: string[] }>('k');
  void v?.any;
  const docs = db.vectors.collection<{ tag: string }>('docs');
  await docs.upsert([{ id: 'a', embedding: [1, 2, 3], metadata: { tag: 'x' } }]);
  const matches = await docs.search([1, 2, 3], { topK: 5, filter: { tag: 'x' } });
  const tag: string = matches[0]!.metadata.tag;
  void tag;
  await db.saga([{ name: 's1', action: { sql: 'SELECT 1' }, compensation: null }], { idempotencyKey: 'k1' });
  const h = await db.health();
  const up: boolean = h.services.database;
  void up;
  const user = await db.platform.getUserByEmail('a@b.c');
  void user?.apiKeys.length;
  try {
    await db.query('SELEC 1');
  } catch (e) {
    if (e instanceof CoreDbError) {
      const code: string = e.code;
      const sqlstate: string | undefined = e.sqlstate;
      const retryAfter: number | undefined = e.retryAfter;
      void [code, sqlstate, retryAfter, e.status];
    }
  }
}

export async function wrongCalls(): Promise<void> {
  // @ts-expect-error params must be an array
  await db.query('SELECT $1', 'x');
  // @ts-expect-error sql must be a string
  await db.query(42);
  // @ts-expect-error a typed row has no such column
  (await db.query<UserRow>('SELECT 1')).rows[0]!.nope;
  // @ts-expect-error int8 is a string, not a number
  const n: number = (await db.query<UserRow>('SELECT 1')).rows[0]!.score;
  void n;
  // @ts-expect-error unknown option (a typo like parms must not pass)
  await db.query('SELECT 1', [], { parms: [] });
  // @ts-expect-error unknown isolation level
  await db.transaction(async () => 1, { isolation: 'chaos' });
  // @ts-expect-error the callback's transaction takes SQL text
  await db.transaction(async (tx) => tx.query(1));
  // @ts-expect-error cache.set needs a value
  await db.cache.set('k');
  // @ts-expect-error cache ttl is a number of seconds
  await db.query('SELECT 1', [], { cache: { ttl: '60' } });
  // @ts-expect-error search needs topK
  await db.vectors.collection('docs').search([1, 2], {});
  // @ts-expect-error an embedding is numbers
  await db.vectors.collection('docs').upsert([{ id: 'a', embedding: ['1'] }]);
  // @ts-expect-error a saga step needs its compensation (null when none)
  await db.saga([{ name: 's', action: { sql: 'SELECT 1' } }]);
  // @ts-expect-error a redis command is strings, the name first
  await db.redis([]);
  // @ts-expect-error atomic batches answer results only: no CoreDbError entries to narrow
  const r: CoreDbError = (await db.batch(['SELECT 1']))[0]!;
  void r;
  for await (const row of db.stream<{ id: number }>('SELECT 1 AS id')) {
    const id: number = row.id;
    void id;
    // @ts-expect-error the row type has no `name`
    void row.name;
  }
  // @ts-expect-error rowMode is 'object' or 'array'
  db.stream('SELECT 1', [], { rowMode: 'rows' });
}
