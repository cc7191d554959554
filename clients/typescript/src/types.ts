// The shapes of the service's requests and answers (docs/openapi.yaml is their source).

/** A bind parameter ($1, $2...). bigint is sent as its decimal text (int8/numeric). */
export type QueryParam =
  | string
  | number
  | bigint
  | boolean
  | null
  | Date
  | readonly QueryParam[]
  | { readonly [key: string]: unknown };

/** A row as the service answers it: int8 and numeric are strings, json embedded, timestamptz a string. */
export type Row = Record<string, unknown>;

export interface FieldDef {
  name: string;
  /** pg_type's name: int4, text, _int4 for arrays (null when it could not be looked up) */
  dataType: string | null;
  /** the type's OID */
  dataTypeID: number;
}

/** What a stream() ends with (its generator's return value). */
export interface StreamSummary {
  fields: FieldDef[];
  rowCount: number | null;
  command: string | null;
  duration: number;
}

/** node-postgres' result shape. */
export interface QueryResult<R = Row> {
  rows: R[];
  /** rows returned or affected; null for commands without a count (DDL) */
  rowCount: number | null;
  /** the command tag's verb: SELECT, INSERT... */
  command: string | null;
  fields: FieldDef[];
  /** server-side ms */
  duration: number;
  /** true when the answer came from the cache (`cache` option) */
  cached: boolean;
}

export interface CacheOption {
  /** seconds, 1..2592000 */
  ttl: number;
  /** default: derived from database, sql, params and row mode */
  key?: string;
  tags?: string[];
}

export interface InvalidateOption {
  tags?: string[];
  /** glob patterns */
  keys?: string[];
}

export type SqlDatabase = 'postgresql' | 'vector';

export interface QueryOptions {
  database?: SqlDatabase;
  /** ms, 1..300000: the pool wait, and the statement (cancelled on the server past it) */
  timeout?: number;
  /** aborting closes the request; the service cancels the statement */
  signal?: AbortSignal;
  /** cache-aside: a read run read-only and stored for `ttl` s (safe to retry) */
  cache?: CacheOption;
  /** drop these tags/keys after the write (after COMMIT in a transaction) */
  invalidate?: InvalidateOption;
  /** run at most once per key (24 h): safe to retry */
  idempotencyKey?: string;
  /** the caller vouches the statement may run twice (a plain read): retried like GETs */
  idempotent?: boolean;
}

export interface BatchStatement {
  sql: string;
  params?: readonly QueryParam[];
}

export interface BatchOptions {
  database?: SqlDatabase;
  timeout?: number;
  signal?: AbortSignal;
  /** default true: all or nothing */
  atomic?: boolean;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  isolation?: IsolationLevel;
  readOnly?: boolean;
  database?: SqlDatabase;
  /** idle ms before the service rolls it back (default 30000) */
  timeout?: number;
  /** ms the whole transaction may last (default 300000) */
  maxDuration?: number;
  /**
   * Keep the transaction alive while the callback awaits something else: a `SELECT 1` on it
   * after this many idle ms (default: a third of `timeout`). `false`: never.
   */
  keepAlive?: number | false;
  signal?: AbortSignal;
}

export type RedisReply = string | number | null | RedisReply[] | { error: string };

export type SagaAction =
  | { database?: SqlDatabase; sql: string; params?: readonly QueryParam[]; rowMode?: 'object' | 'array'; timeout?: number }
  | { database: 'redis'; command: string[]; timeout?: number };

export interface SagaStepDefinition {
  /** 1..64 letters, digits, _ or -; unique */
  name: string;
  action: SagaAction;
  /** null (explicit) when the step needs no undoing */
  compensation: SagaAction | null;
}

export type SagaStatus = 'running' | 'completed' | 'compensating' | 'compensated' | 'failed';
export type SagaStepStatus =
  | 'pending'
  | 'running'
  | 'completed'
  | 'failed'
  | 'compensating'
  | 'compensated'
  | 'compensation_failed';

export interface SagaStep {
  name: string;
  status: SagaStepStatus;
  startedAt?: string;
  finishedAt?: string;
  result?: unknown;
  error?: { code: string; message: string; sqlstate?: string };
  compensation?: { attempts: number; finishedAt: string; error?: { code: string; message: string; sqlstate?: string } };
}

export interface Saga {
  sagaId: string;
  status: SagaStatus;
  steps: SagaStep[];
  createdAt?: string;
  updatedAt?: string;
}

export interface CacheEntry<T = unknown> {
  key: string;
  value: T;
  /** seconds left; -1: no expiry */
  ttl: number;
}

export type VectorMetric = 'cosine' | 'l2' | 'ip';

export interface NewCollection {
  /** ^[a-z][a-z0-9_]{0,62}$ */
  name: string;
  dimension: number;
  metric: VectorMetric;
  m?: number;
  efConstruction?: number;
  efSearch?: number;
}

export interface Collection {
  name: string;
  dimension: number;
  metric: VectorMetric;
  index: 'hnsw' | 'none';
  m: number;
  efConstruction: number;
  efSearch: number;
  count?: number;
  createdAt: string;
}

export type Metadata = Record<string, unknown>;

export interface VectorItem<M extends Metadata = Metadata> {
  id: string;
  embedding: readonly number[];
  metadata?: M;
}

/** {key: value} (containment) or {key: {$in: [values]}} on metadata */
export type VectorFilter = Record<string, unknown>;

export interface SearchOptions {
  topK: number;
  filter?: VectorFilter;
  efSearch?: number;
  signal?: AbortSignal;
}

export interface VectorMatch<M extends Metadata = Metadata> {
  id: string;
  /** higher is better */
  score: number;
  distance: number;
  metadata: M;
}

export interface HealthStatus {
  status: 'ok' | 'degraded';
  timestamp: string;
  services: { database: boolean; redis: boolean; vector: boolean };
}

// Platform data (the story's Prisma models; DateTime as Prisma's JSON shows it).
export interface User {
  id: string;
  email: string;
  hashedPassword: string | null;
  oauthProvider: string | null;
  oauthId: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface ApiKey {
  id: string;
  userId: string;
  keyHash: string;
  keyPrefix: string;
  name: string;
  quotaRequestsPerMinute: number;
  quotaRequestsPerDay: number;
  lastUsedAt: string | null;
  createdAt: string;
  revokedAt: string | null;
}
export interface UserWithApiKeys extends User {
  apiKeys: ApiKey[];
}
export interface ApiKeyWithUser extends ApiKey {
  user: { id: string; email: string };
}
export interface Library {
  id: string;
  name: string;
  vendor: string | null;
  repoUrl: string | null;
  docsUrl: string | null;
  defaultVersion: string | null;
  popularityScore: number;
  totalSnippets: number;
  totalTokens: number;
  lastCrawledAt: string | null;
  createdAt: string;
  updatedAt: string;
  metadata: unknown;
}
export type LibrarySearchResult = Pick<Library, 'id' | 'name' | 'vendor' | 'defaultVersion' | 'popularityScore' | 'totalSnippets'>;
export interface UsageLog {
  id: string;
  userId: string | null;
  apiKeyId: string | null;
  toolName: string;
  libraryId: string | null;
  query: string | null;
  tokensReturned: number | null;
  responseTimeMs: number | null;
  createdAt: string;
}
export interface NewUser {
  email: string;
  hashedPassword?: string | null;
  oauthProvider?: string | null;
  oauthId?: string | null;
}
export interface NewApiKey {
  userId: string;
  keyHash: string;
  keyPrefix: string;
  name: string;
  quotaRequestsPerMinute?: number | null;
  quotaRequestsPerDay?: number | null;
}
export interface NewLibrary {
  /** /vendor/name */
  id: string;
  name: string;
  vendor?: string | null;
  repoUrl?: string | null;
  docsUrl?: string | null;
  defaultVersion?: string | null;
  popularityScore?: number | null;
  metadata?: unknown;
}
export interface NewUsageLog {
  toolName: string;
  userId?: string | null;
  apiKeyId?: string | null;
  libraryId?: string | null;
  query?: string | null;
  tokensReturned?: number | null;
  responseTimeMs?: number | null;
}
