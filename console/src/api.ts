// The console's only way to the service: the public API with the operator's admin token.
// The token lives in sessionStorage (gone when the tab closes), is sent only in the
// Authorization header, and never appears in a URL, the page or a log.

const TOKEN_KEY = 'coredb.console.token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export function savedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function send(method: string, path: string, body: unknown, token: string | null, accept: string): Promise<Response> {
  const headers: Record<string, string> = { accept };
  const t = token ?? savedToken();
  if (t) headers.authorization = `Bearer ${t}`;
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(path, init);
}

// A JSON call; a non-2xx answer becomes an ApiError with the API's error code and message.
export async function api<T>(method: string, path: string, body?: unknown, token: string | null = null): Promise<T> {
  const res = await send(method, path, body, token, 'application/json');
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message ?? res.statusText, json);
  }
  return json as T;
}

// GET /metrics (Prometheus text); the admin token passes METRICS_TOKEN's check too.
export async function metricsText(): Promise<string> {
  const res = await send('GET', '/metrics', undefined, null, 'text/plain');
  const text = await res.text();
  if (!res.ok) throw new ApiError(res.status, `HTTP_${res.status}`, 'GET /metrics failed', text);
  return text;
}

// The API's shapes the console reads (docs/openapi.yaml).
// A pool's numbers at one moment (GET /api/v1/pools/history samples them).
export interface PoolPoint {
  max: number;
  size: number;
  active: number;
  idle: number;
  leased: number;
  waiting: number;
}
// GET /api/v1/connections/stats: the numbers now, with the counters since start.
export interface PoolStats extends PoolPoint {
  utilization: number;
  acquiredTotal: number;
  releasedTotal: number;
  expiredTotal: number;
  timeoutsTotal: number;
}
export type Stats = Record<'postgresql' | 'redis' | 'vector', PoolStats>;

// GET /api/v1/pools/history: the service's own samples of the last ten minutes, oldest first.
export interface PoolHistory {
  periodMs: number;
  samples: ({ at: string } & Record<'postgresql' | 'redis' | 'vector', PoolPoint>)[];
}

export interface LeaseDetail {
  connectionId: string;
  database: string;
  client: string;
  acquiredAt: string;
  expiresAt: string;
  inTransaction: boolean;
  transactionId?: string;
}

export interface Field {
  name: string;
  dataType: string;
  dataTypeID: number;
}
export interface QueryResult {
  rows: unknown[][] | Record<string, unknown>[];
  rowCount: number | null;
  command: string;
  duration: number;
  fields: Field[];
}

export interface SagaStep {
  name: string;
  status: string;
  startedAt?: string;
  finishedAt?: string;
  result?: unknown;
  error?: { code?: string; message?: string };
  compensation?: { attempts: number; finishedAt: string | null; error?: { code?: string; message?: string } };
}
export interface Saga {
  sagaId: string;
  status: string;
  steps: SagaStep[];
  createdAt?: string;
  updatedAt?: string;
}

export interface MigrationStatus {
  current: number | null;
  pending: number[];
  history: { version: number; name: string; appliedAt: string; duration: number; checksum: string }[];
  problems: string[];
}

export interface Client {
  id: string;
  name: string;
  scopes: string[];
  tokenPrefix: string;
  quotaPerMinute: number | null;
  quotaPerDay: number | null;
  pgRole: string | null;
  cachePrefixes: string[];
  createdAt: string;
  revokedAt: string | null;
  token?: string;
}
