// CoreDb: the service's API as typed methods (docs/openapi.yaml), on one Transport.
import { CoreDbError, type ErrorBody } from './errors.js';
import { Transport, type CallOptions } from './transport.js';
import type {
  ApiKey,
  ApiKeyWithUser,
  BatchOptions,
  BatchStatement,
  CacheEntry,
  Collection,
  FieldDef,
  HealthStatus,
  Library,
  LibrarySearchResult,
  Metadata,
  NewApiKey,
  NewCollection,
  NewLibrary,
  NewUsageLog,
  NewUser,
  QueryOptions,
  QueryParam,
  QueryResult,
  RedisReply,
  Row,
  Saga,
  SagaStatus,
  SagaStepDefinition,
  SearchOptions,
  SqlDatabase,
  TransactionOptions,
  UsageLog,
  User,
  UserWithApiKeys,
  VectorFilter,
  VectorItem,
  VectorMatch,
  StreamSummary,
} from './types.js';

export interface CoreDbOptions {
  /** the service's base URL; default COREDB_URL, else http://127.0.0.1:8095 */
  url?: string;
  /** bearer token; default COREDB_TOKEN */
  token?: string;
  /** tries after the first for safe requests (reads, idempotency keys); default 2 */
  retries?: number;
  /** ms, first backoff cap (doubling, full jitter); default 100 */
  retryBaseDelay?: number;
  /** ms, largest backoff; default 2000 */
  retryMaxDelay?: number;
  /** ms: a Retry-After longer than this is not waited for (the error is thrown); default 10000 */
  maxRetryAfter?: number;
  /** headers sent with every request (e.g. X-Request-Id is per request: pass it per call instead) */
  headers?: Record<string, string>;
  /** the fetch to use; default the global one (Node >= 18) */
  fetch?: typeof fetch;
  /** an undici Dispatcher (e.g. `new Agent({ keepAliveTimeout: 30_000, connections: 64 })`), passed to fetch */
  dispatcher?: unknown;
}

interface WireQueryResult {
  rows: unknown[];
  rowCount: number | null;
  command: string | null;
  fields: FieldDef[];
  duration: number;
  cached?: true;
}

function toResult<R>(w: WireQueryResult): QueryResult<R> {
  return { rows: w.rows as R[], rowCount: w.rowCount, command: w.command, fields: w.fields, duration: w.duration, cached: w.cached === true };
}

function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

// A cache key in the path: percent-encoded; "invalidate" would be the invalidation route.
function keyPath(key: string): string {
  return `/api/v1/cache/${key === 'invalidate' ? '%69nvalidate' : encodeURIComponent(key)}`;
}

function statementBody(sql: string, params: readonly QueryParam[] | undefined, options: QueryOptions | undefined, rowMode?: 'array') {
  const body: Record<string, unknown> = { sql };
  if (params !== undefined) body.params = params;
  if (rowMode) body.rowMode = rowMode;
  if (options) {
    if (options.database !== undefined) body.database = options.database;
    if (options.timeout !== undefined) body.timeout = options.timeout;
    if (options.cache !== undefined) body.cache = options.cache;
    if (options.invalidate !== undefined) body.invalidate = options.invalidate;
  }
  return body;
}

function queryCall(body: unknown, options: QueryOptions | undefined): CallOptions {
  const call: CallOptions = { body, signal: options?.signal };
  if (options?.idempotencyKey !== undefined) call.headers = { 'idempotency-key': options.idempotencyKey };
  // A cached statement runs read-only; a keyed one runs once: both are safe to send again.
  call.safe = options?.cache !== undefined || options?.idempotencyKey !== undefined || options?.idempotent === true;
  return call;
}

function batchBody(statements: readonly (BatchStatement | string)[], options: BatchOptions | undefined, extra?: Record<string, unknown>) {
  const body: Record<string, unknown> = {
    queries: statements.map((s) => (typeof s === 'string' ? { sql: s } : s.params === undefined ? { sql: s.sql } : { sql: s.sql, params: s.params })),
    ...extra,
  };
  if (options?.atomic !== undefined) body.atomic = options.atomic;
  if (options?.timeout !== undefined) body.timeout = options.timeout;
  if (options?.database !== undefined) body.database = options.database;
  return body;
}

type BatchEntry<R> = QueryResult<R> | CoreDbError;

function batchResults<R>(results: Array<WireQueryResult | { error: ErrorBody }>): BatchEntry<R>[] {
  return results.map((r) => ('error' in r ? CoreDbError.fromBody(r.error) : toResult<R>(r)));
}

/** What a transaction's callback gets: statements on that transaction, one at a time. */
export interface Transaction {
  readonly id: string;
  readonly connectionId: string;
  query<R = Row>(sql: string, params?: readonly QueryParam[], options?: Pick<QueryOptions, 'timeout' | 'signal' | 'invalidate'>): Promise<QueryResult<R>>;
  queryArray<R extends unknown[] = unknown[]>(sql: string, params?: readonly QueryParam[], options?: Pick<QueryOptions, 'timeout' | 'signal'>): Promise<QueryResult<R>>;
  batch<R = Row>(statements: readonly (BatchStatement | string)[], options?: Pick<BatchOptions, 'timeout' | 'signal'>): Promise<QueryResult<R>[]>;
}

class OpenTransaction implements Transaction {
  private chain: Promise<unknown> = Promise.resolve();
  private ended = false;
  private lastUse = Date.now();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly transport: Transport,
    readonly id: string,
    readonly connectionId: string,
    keepAliveMs: number | false,
  ) {
    if (keepAliveMs !== false && keepAliveMs > 0) {
      this.timer = setInterval(() => {
        if (Date.now() - this.lastUse >= keepAliveMs) void this.run('SELECT 1', undefined, undefined).catch(() => {});
      }, Math.max(50, Math.floor(keepAliveMs / 2)));
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  // Statements of one transaction go one at a time (the service answers 409 to a second one
  // running on the same connection).
  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    if (this.ended) {
      return Promise.reject(new CoreDbError({ code: 'TRANSACTION_ENDED', status: 0, message: `transaction ${this.id} has ended` }));
    }
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => {});
    return next;
  }

  private run<R>(sql: string, params: readonly QueryParam[] | undefined, options: QueryOptions | undefined, rowMode?: 'array'): Promise<QueryResult<R>> {
    return this.enqueue(async () => {
      this.lastUse = Date.now();
      try {
        const res = await this.transport.call<WireQueryResult>('POST', '/api/v1/query', {
          body: { ...statementBody(sql, params, options, rowMode), transactionId: this.id },
          signal: options?.signal,
        });
        return toResult<R>(res.body);
      } finally {
        this.lastUse = Date.now();
      }
    });
  }

  query<R = Row>(sql: string, params?: readonly QueryParam[], options?: Pick<QueryOptions, 'timeout' | 'signal' | 'invalidate'>) {
    return this.run<R>(sql, params, options);
  }

  queryArray<R extends unknown[] = unknown[]>(sql: string, params?: readonly QueryParam[], options?: Pick<QueryOptions, 'timeout' | 'signal'>) {
    return this.run<R>(sql, params, options, 'array');
  }

  batch<R = Row>(statements: readonly (BatchStatement | string)[], options?: Pick<BatchOptions, 'timeout' | 'signal'>) {
    return this.enqueue(async () => {
      this.lastUse = Date.now();
      try {
        const res = await this.transport.call<{ results: Array<WireQueryResult | { error: ErrorBody }> }>('POST', '/api/v1/query/batch', {
          body: batchBody(statements, options, { transactionId: this.id }),
          signal: options?.signal,
        });
        return batchResults<R>(res.body.results) as QueryResult<R>[];
      } finally {
        this.lastUse = Date.now();
      }
    });
  }

  /** COMMIT (`commit`) or ROLLBACK, after the statements still queued. */
  async end(commit: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.chain;
    this.ended = true;
    await this.transport.call('POST', commit ? '/api/v1/transaction/commit' : '/api/v1/transaction/rollback', {
      body: { transactionId: this.id },
    });
  }
}

export class VectorCollection<M extends Metadata = Metadata> {
  constructor(
    private readonly transport: Transport,
    readonly name: string,
  ) {}

  private path(suffix: string) {
    return `/api/v1/vectors/${encodeURIComponent(this.name)}/${suffix}`;
  }

  /** Inserts or replaces 1..1000 items in one statement; the number upserted. */
  async upsert(items: readonly VectorItem<M>[], options: { signal?: AbortSignal } = {}): Promise<number> {
    const res = await this.transport.call<{ upserted: number }>('POST', this.path('upsert'), { body: { items }, signal: options.signal });
    return res.body.upserted;
  }

  /** The nearest items, best first. */
  async search(embedding: readonly number[], options: SearchOptions): Promise<VectorMatch<M>[]> {
    const body: Record<string, unknown> = { embedding, topK: options.topK };
    if (options.filter !== undefined) body.filter = options.filter;
    if (options.efSearch !== undefined) body.efSearch = options.efSearch;
    const res = await this.transport.call<{ matches: VectorMatch<M>[] }>('POST', this.path('search'), { body, signal: options.signal, safe: true });
    return res.body.matches;
  }

  /** Deletes one item; false when there was none. */
  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const res = await this.transport.call('DELETE', this.path(encodeURIComponent(id)), { signal: options.signal, accept: [404], safe: true });
    return res.status === 200;
  }

  /** Deletes the items matching a non-empty filter (admin); how many. */
  async deleteWhere(filter: VectorFilter, options: { signal?: AbortSignal } = {}): Promise<number> {
    const res = await this.transport.call<{ deleted: number }>('POST', this.path('delete'), { body: { filter }, signal: options.signal, safe: true });
    return res.body.deleted;
  }
}

export class CoreDb {
  private readonly transport: Transport;

  constructor(options: CoreDbOptions = {}) {
    const f = options.fetch ?? globalThis.fetch;
    if (typeof f !== 'function') throw new Error('@platform/coredb-client needs fetch (Node >= 18) or options.fetch');
    this.transport = new Transport({
      url: options.url ?? env('COREDB_URL') ?? 'http://127.0.0.1:8095',
      token: options.token ?? env('COREDB_TOKEN'),
      fetch: f,
      retries: options.retries ?? 2,
      retryBaseDelay: options.retryBaseDelay ?? 100,
      retryMaxDelay: options.retryMaxDelay ?? 2000,
      maxRetryAfter: options.maxRetryAfter ?? 10000,
      headers: options.headers ?? {},
      dispatcher: options.dispatcher,
    });
  }

  /** Any route: the error model becomes CoreDbError; `safe` requests are retried. */
  async request<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    return (await this.transport.call<T>(method, path, options)).body;
  }

  // ------------------------------------------------------------------------------------------
  // SQL and Redis
  // ------------------------------------------------------------------------------------------

  /** One statement; rows as objects. int8 and numeric come as strings, as node-postgres gives them. */
  async query<R = Row>(sql: string, params?: readonly QueryParam[], options?: QueryOptions): Promise<QueryResult<R>> {
    const res = await this.transport.call<WireQueryResult>('POST', '/api/v1/query', queryCall(statementBody(sql, params, options), options));
    return toResult<R>(res.body);
  }

  /** One statement; rows as arrays in column order (node-postgres' rowMode: 'array'). */
  async queryArray<R extends unknown[] = unknown[]>(sql: string, params?: readonly QueryParam[], options?: QueryOptions): Promise<QueryResult<R>> {
    const res = await this.transport.call<WireQueryResult>('POST', '/api/v1/query', queryCall(statementBody(sql, params, options, 'array'), options));
    return toResult<R>(res.body);
  }

  /**
   * One statement's rows as they arrive (the service streams NDJSON: `Accept:
   * application/x-ndjson`), for results too large to hold: memory stays flat whatever the size.
   * Leaving the loop early (break, throw) or aborting `signal` closes the request, and the service
   * cancels the statement. An error after the first rows is thrown as CoreDbError where it comes;
   * a stream cut before its last line throws BAD_RESPONSE. The generator's return value holds the
   * fields, rowCount, command and duration. Never retried.
   */
  async *stream<R = Row>(sql: string, params?: readonly QueryParam[], options?: QueryOptions & { rowMode?: 'object' | 'array' }): AsyncGenerator<R, StreamSummary, undefined> {
    if (options?.cache !== undefined || options?.idempotencyKey !== undefined) {
      throw new TypeError('stream() takes no cache or idempotencyKey (the service streams plain SQL only)');
    }
    const controller = new AbortController();
    const outer = options?.signal;
    const onAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      const body = statementBody(sql, params, options, options?.rowMode === 'array' ? 'array' : undefined);
      const res = await this.transport.open('/api/v1/query', body, controller.signal, { accept: 'application/x-ndjson' });
      if (!res.body) throw new CoreDbError({ code: 'BAD_RESPONSE', status: res.status, message: 'stream: no body' });
      const decoder = new TextDecoder();
      let pending = '';
      let fields: FieldDef[] | undefined;
      // The last line (summary or error) is only known at the end: rows are yielded one line behind.
      let held: string | undefined;
      const take = (line: string): R | undefined => {
        if (fields === undefined) {
          fields = (JSON.parse(line) as { fields: FieldDef[] }).fields;
          return undefined;
        }
        const previous = held;
        held = line;
        return previous === undefined ? undefined : (JSON.parse(previous) as R);
      };
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        pending += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          if (line.length === 0) continue;
          const row = take(line);
          if (row !== undefined) yield row;
        }
      }
      pending += decoder.decode();
      if (pending.length > 0 || held === undefined) {
        throw new CoreDbError({ code: 'BAD_RESPONSE', status: res.status, message: 'stream: cut before its last line' });
      }
      const last = JSON.parse(held) as { error?: ErrorBody; rowCount?: number | null; command?: string | null; duration?: number };
      if (last.error !== undefined && last.rowCount === undefined) throw CoreDbError.fromBody(last.error, res.status);
      return { fields: fields ?? [], rowCount: last.rowCount ?? null, command: last.command ?? null, duration: last.duration ?? 0 };
    } finally {
      outer?.removeEventListener('abort', onAbort);
      controller.abort();  // a no-op after a complete stream; closes the request otherwise
    }
  }

  /** One Redis command (scope by command: reads read, writes write, administration admin). */
  async redis<T extends RedisReply = RedisReply>(command: readonly [string, ...string[]], options: { timeout?: number; signal?: AbortSignal } = {}): Promise<T> {
    const body: Record<string, unknown> = { database: 'redis', command };
    if (options.timeout !== undefined) body.timeout = options.timeout;
    const res = await this.transport.call<{ result: T }>('POST', '/api/v1/query', { body, signal: options.signal });
    return res.body.result;
  }

  /**
   * Statements in one round trip. Atomic (default): all or nothing, the failure thrown (with
   * `failedIndex`). `atomic: false`: each on its own; a failed one is a CoreDbError in its place.
   */
  batch<R = Row>(statements: readonly (BatchStatement | string)[], options?: BatchOptions & { atomic?: true }): Promise<QueryResult<R>[]>;
  batch<R = Row>(statements: readonly (BatchStatement | string)[], options: BatchOptions & { atomic: false }): Promise<Array<QueryResult<R> | CoreDbError>>;
  async batch<R = Row>(statements: readonly (BatchStatement | string)[], options?: BatchOptions): Promise<Array<QueryResult<R> | CoreDbError>> {
    const res = await this.transport.call<{ results: Array<WireQueryResult | { error: ErrorBody }> }>('POST', '/api/v1/query/batch', {
      body: batchBody(statements, options),
      signal: options?.signal,
    });
    return batchResults<R>(res.body.results);
  }

  /**
   * Runs `fn` in one transaction: COMMIT when it returns, ROLLBACK when it throws (the error is
   * rethrown). While `fn` awaits other work the transaction is kept alive (see `keepAlive`).
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const body: Record<string, unknown> = {};
    if (options.isolation !== undefined) body.isolationLevel = options.isolation;
    if (options.readOnly !== undefined) body.readOnly = options.readOnly;
    if (options.database !== undefined) body.database = options.database;
    if (options.timeout !== undefined) body.timeout = options.timeout;
    if (options.maxDuration !== undefined) body.maxDuration = options.maxDuration;
    const begun = await this.transport.call<{ transactionId: string; connectionId: string }>('POST', '/api/v1/transaction/begin', {
      body,
      signal: options.signal,
    });
    const keepAlive = options.keepAlive === undefined ? Math.floor((options.timeout ?? 30000) / 3) : options.keepAlive;
    const tx = new OpenTransaction(this.transport, begun.body.transactionId, begun.body.connectionId, keepAlive);
    let value: T;
    try {
      value = await fn(tx);
    } catch (e) {
      try {
        await tx.end(false);
      } catch {
        // Already rolled back (aborted, expired, connection lost): the callback's error is the news.
      }
      throw e;
    }
    await tx.end(true);
    return value;
  }

  // ------------------------------------------------------------------------------------------
  // Sagas
  // ------------------------------------------------------------------------------------------

  /**
   * Runs a saga and answers it `completed`. A failed step throws CoreDbError SAGA_COMPENSATED
   * (409) or SAGA_FAILED (500) with the saga in `error.saga`. With `idempotencyKey` a retry
   * answers the first outcome (and is then retried on transient failures).
   */
  async saga(steps: readonly SagaStepDefinition[], options: { idempotencyKey?: string; signal?: AbortSignal } = {}): Promise<Saga> {
    const call: CallOptions = { body: { steps }, signal: options.signal, safe: options.idempotencyKey !== undefined };
    if (options.idempotencyKey !== undefined) call.headers = { 'idempotency-key': options.idempotencyKey };
    return (await this.transport.call<Saga>('POST', '/api/v1/sagas', call)).body;
  }

  readonly sagas = {
    get: async (id: string, options: { signal?: AbortSignal } = {}): Promise<Saga | null> => {
      const res = await this.transport.call<Saga>('GET', `/api/v1/sagas/${encodeURIComponent(id)}`, { signal: options.signal, safe: true, accept: [404] });
      return res.status === 404 ? null : res.body;
    },
    list: async (options: { status?: SagaStatus; limit?: number; signal?: AbortSignal } = {}): Promise<Saga[]> => {
      const res = await this.transport.call<{ sagas: Saga[] }>('GET', '/api/v1/sagas', {
        query: { status: options.status, limit: options.limit },
        signal: options.signal,
        safe: true,
      });
      return res.body.sagas;
    },
    /** Undoes a completed saga (409 CONFLICT otherwise). */
    compensate: async (id: string, options: { signal?: AbortSignal } = {}): Promise<Saga> =>
      (await this.transport.call<Saga>('POST', `/api/v1/sagas/${encodeURIComponent(id)}/compensate`, { signal: options.signal })).body,
  };

  // ------------------------------------------------------------------------------------------
  // Cache
  // ------------------------------------------------------------------------------------------

  readonly cache = {
    /** The value, or undefined when the key is not there. */
    get: async <T = unknown>(key: string, options: { signal?: AbortSignal } = {}): Promise<T | undefined> => {
      const res = await this.transport.call<CacheEntry<T>>('GET', keyPath(key), { signal: options.signal, safe: true, accept: [404] });
      return res.status === 404 ? undefined : res.body.value;
    },
    /** The value with its seconds left, or undefined. */
    entry: async <T = unknown>(key: string, options: { signal?: AbortSignal } = {}): Promise<CacheEntry<T> | undefined> => {
      const res = await this.transport.call<CacheEntry<T>>('GET', keyPath(key), { signal: options.signal, safe: true, accept: [404] });
      return res.status === 404 ? undefined : res.body;
    },
    /** Stores any JSON value for `ttl` seconds (default 3600). Safe to retry (same value). */
    set: async (key: string, value: unknown, options: { ttl?: number; signal?: AbortSignal } = {}): Promise<{ key: string; ttl: number }> => {
      const body: Record<string, unknown> = { value };
      if (options.ttl !== undefined) body.ttl = options.ttl;
      return (await this.transport.call<{ key: string; ttl: number }>('PUT', keyPath(key), { body, signal: options.signal, safe: true })).body;
    },
    /** Deletes a key; false when it was not there. */
    delete: async (key: string, options: { signal?: AbortSignal } = {}): Promise<boolean> => {
      const res = await this.transport.call('DELETE', keyPath(key), { signal: options.signal, safe: true, accept: [404] });
      return res.status === 200;
    },
    /** Deletes every key matching a glob (SCAN based); how many existed. */
    invalidate: async (pattern: string, options: { signal?: AbortSignal } = {}): Promise<number> =>
      (await this.transport.call<{ deleted: number }>('POST', '/api/v1/cache/invalidate', { body: { pattern }, signal: options.signal, safe: true })).body.deleted,
  };

  // ------------------------------------------------------------------------------------------
  // Vectors
  // ------------------------------------------------------------------------------------------

  readonly vectors = {
    collection: <M extends Metadata = Metadata>(name: string): VectorCollection<M> => new VectorCollection<M>(this.transport, name),
    createCollection: async (spec: NewCollection, options: { signal?: AbortSignal } = {}): Promise<Collection> =>
      (await this.transport.call<Collection>('POST', '/api/v1/vectors/collections', { body: spec, signal: options.signal })).body,
    listCollections: async (options: { signal?: AbortSignal } = {}): Promise<Collection[]> =>
      (await this.transport.call<{ collections: Collection[] }>('GET', '/api/v1/vectors/collections', { signal: options.signal, safe: true })).body.collections,
    /** Drops a collection and its items (admin); false when there was none. */
    dropCollection: async (name: string, options: { signal?: AbortSignal } = {}): Promise<boolean> => {
      const res = await this.transport.call('DELETE', `/api/v1/vectors/collections/${encodeURIComponent(name)}`, {
        signal: options.signal,
        safe: true,
        accept: [404],
      });
      return res.status === 200;
    },
  };

  // ------------------------------------------------------------------------------------------
  // Platform data (the story's DatabaseService)
  // ------------------------------------------------------------------------------------------

  readonly platform = {
    createUser: async (user: NewUser, options: { signal?: AbortSignal } = {}): Promise<User> =>
      (await this.transport.call<User>('POST', '/api/v1/users', { body: user, signal: options.signal })).body,
    /** The user with its non-revoked api keys, or null. Cached 5 min by the service. */
    getUserByEmail: async (email: string, options: { signal?: AbortSignal } = {}): Promise<UserWithApiKeys | null> => {
      const res = await this.transport.call<UserWithApiKeys>('GET', `/api/v1/users/by-email/${encodeURIComponent(email)}`, {
        signal: options.signal,
        safe: true,
        accept: [404],
      });
      return res.status === 404 ? null : res.body;
    },
    createApiKey: async (key: NewApiKey, options: { signal?: AbortSignal } = {}): Promise<ApiKey> =>
      (await this.transport.call<ApiKey>('POST', '/api/v1/api-keys', { body: key, signal: options.signal })).body,
    /** The api key (revoked ones too) with its user's id and email, or null. */
    getApiKeyByHash: async (keyHash: string, options: { signal?: AbortSignal } = {}): Promise<ApiKeyWithUser | null> => {
      const res = await this.transport.call<ApiKeyWithUser>('GET', `/api/v1/api-keys/by-hash/${encodeURIComponent(keyHash)}`, {
        signal: options.signal,
        safe: true,
        accept: [404],
      });
      return res.status === 404 ? null : res.body;
    },
    createLibrary: async (library: NewLibrary, options: { signal?: AbortSignal } = {}): Promise<Library> =>
      (await this.transport.call<Library>('POST', '/api/v1/libraries', { body: library, signal: options.signal })).body,
    /** Full-text search on names, popularity first (limit 1..100, default 10). Cached 15 min. */
    searchLibraries: async (q: string, options: { limit?: number; signal?: AbortSignal } = {}): Promise<LibrarySearchResult[]> =>
      (await this.transport.call<LibrarySearchResult[]>('GET', '/api/v1/libraries/search', { query: { q, limit: options.limit }, signal: options.signal, safe: true })).body,
    /** Records a tool call; never fails for a database problem (then `{logged: false}`). */
    logUsage: async (log: NewUsageLog, options: { signal?: AbortSignal } = {}): Promise<UsageLog | { logged: false }> =>
      (await this.transport.call<UsageLog | { logged: false }>('POST', '/api/v1/usage-logs', { body: log, signal: options.signal })).body,
  };

  // ------------------------------------------------------------------------------------------
  // Health
  // ------------------------------------------------------------------------------------------

  /** The backends' state; answered (not thrown) when degraded. */
  async health(options: { signal?: AbortSignal } = {}): Promise<HealthStatus> {
    return (await this.transport.call<HealthStatus>('GET', '/health', { signal: options.signal, accept: [503] })).body;
  }

  /** True when PostgreSQL and Redis are up and the service is not draining. */
  async ready(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    return (await this.transport.call<{ ready: boolean }>('GET', '/health/ready', { signal: options.signal, accept: [503] })).body.ready;
  }
}

export type { SqlDatabase };
