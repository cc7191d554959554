// One HTTP call to the service on Node's own fetch (undici: connections are pooled and kept
// alive), with the error model turned into CoreDbError and retries only where they are safe.
import { CoreDbError, type ErrorBody } from './errors.js';

export interface TransportOptions {
  url: string;
  token: string | undefined;
  fetch: typeof fetch;
  retries: number;
  retryBaseDelay: number;
  retryMaxDelay: number;
  maxRetryAfter: number;
  headers: Record<string, string>;
  dispatcher: unknown;
}

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal | undefined;
  /** may be sent again after a failure that left it undone or harmless (reads, idempotency keys) */
  safe?: boolean;
  headers?: Record<string, string>;
  /** statuses answered as values rather than thrown (e.g. 404 for "not found" lookups, 503 health) */
  accept?: readonly number[];
}

export interface CallResult<T> {
  status: number;
  body: T;
  headers: Headers;
}

// Statuses a safe request is tried again on: quota (429, with Retry-After), the backend down,
// a full pool or an open breaker (503), a proxy in between (502, 504 without our error model).
const RETRY_STATUSES = new Set([429, 502, 503, 504]);

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function bigintReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function encodeBody(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (e) {
    // Only pay for the replacer when a bigint is in there (JSON.stringify refuses them).
    if (e instanceof TypeError && /BigInt/i.test(e.message)) return JSON.stringify(body, bigintReplacer);
    throw e;
  }
}

export class Transport {
  private readonly base: string;
  private readonly staticHeaders: Record<string, string>;

  constructor(private readonly options: TransportOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.staticHeaders = { accept: 'application/json', ...options.headers };
    if (options.token) this.staticHeaders.authorization = `Bearer ${options.token}`;
  }

  /** The delay before try `attempt` + 1: exponential with full jitter, at least 10 ms. */
  backoff(attempt: number): number {
    const cap = Math.min(this.options.retryMaxDelay, this.options.retryBaseDelay * 2 ** attempt);
    return Math.max(10, Math.random() * cap);
  }

  /**
   * A POST whose answer is read as a stream (NDJSON): the open Response once its status is 2xx
   * (never retried: rows may already have been seen); the error model thrown otherwise.
   */
  async open(path: string, body: unknown, signal: AbortSignal, headers: Record<string, string>): Promise<Response> {
    const init: RequestInit & { dispatcher?: unknown } = {
      method: 'POST',
      headers: { ...this.staticHeaders, ...headers, 'content-type': 'application/json' },
      body: encodeBody(body),
      signal,
    };
    if (this.options.dispatcher !== undefined) init.dispatcher = this.options.dispatcher;
    let res: Response;
    try {
      res = await this.options.fetch(this.base + path, init);
    } catch (e) {
      if (signal.aborted) throw signal.reason ?? e;
      throw new CoreDbError({ code: 'CONNECTION_FAILED', status: 0, message: `POST ${path}: ${(e as Error)?.message ?? String(e)}`, cause: e });
    }
    if (res.ok) return res;
    const text = await res.text();
    let errorBody: ErrorBody | undefined;
    try {
      errorBody = (JSON.parse(text) as { error?: ErrorBody }).error;
    } catch {
      errorBody = undefined;
    }
    if (errorBody && typeof errorBody.code === 'string') {
      throw new CoreDbError({ code: errorBody.code, message: errorBody.message, status: res.status, body: errorBody,
        requestId: res.headers.get('x-request-id') ?? undefined });
    }
    throw new CoreDbError({ code: 'BAD_RESPONSE', status: res.status, message: `POST ${path}: HTTP ${res.status} without the service's error model` });
  }

  async call<T>(method: string, path: string, call: CallOptions = {}): Promise<CallResult<T>> {
    let url = this.base + path;
    if (call.query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(call.query)) if (v !== undefined) q.set(k, String(v));
      const s = q.toString();
      if (s) url += `?${s}`;
    }
    const headers: Record<string, string> =
      call.body !== undefined || call.headers
        ? { ...this.staticHeaders, ...call.headers }
        : this.staticHeaders;
    let body: string | undefined;
    if (call.body !== undefined) {
      body = encodeBody(call.body);
      headers['content-type'] = 'application/json';
    }
    const init: RequestInit & { dispatcher?: unknown } = { method, headers, body, signal: call.signal };
    if (this.options.dispatcher !== undefined) init.dispatcher = this.options.dispatcher;
    const retries = call.safe ? this.options.retries : 0;

    for (let attempt = 0; ; ++attempt) {
      let res: Response;
      try {
        res = await this.options.fetch(url, init);
      } catch (e) {
        if (call.signal?.aborted) throw call.signal.reason ?? e;
        if (attempt < retries) {
          await sleep(this.backoff(attempt), call.signal);
          continue;
        }
        throw new CoreDbError({
          code: 'CONNECTION_FAILED',
          status: 0,
          message: `${method} ${path}: ${(e as Error)?.message ?? String(e)}`,
          cause: e,
        });
      }
      const text = await res.text();
      let parsed: unknown;
      const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
      if (json && text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch (e) {
          throw new CoreDbError({ code: 'BAD_RESPONSE', status: res.status, message: `${method} ${path}: the answer is not JSON`, cause: e });
        }
      } else {
        parsed = text;
      }
      if (res.ok || call.accept?.includes(res.status)) return { status: res.status, body: parsed as T, headers: res.headers };

      const retryAfterHeader = res.headers.get('retry-after');
      const retryAfter = retryAfterHeader !== null && /^\d+$/.test(retryAfterHeader) ? Number(retryAfterHeader) : undefined;
      const errorBody = (parsed as { error?: ErrorBody } | undefined)?.error;
      const error =
        errorBody && typeof errorBody.code === 'string'
          ? new CoreDbError({
              code: errorBody.code,
              message: errorBody.message,
              status: res.status,
              body: errorBody,
              retryAfter,
              requestId: res.headers.get('x-request-id') ?? undefined,
            })
          : new CoreDbError({
              code: 'BAD_RESPONSE',
              status: res.status,
              message: `${method} ${path}: HTTP ${res.status} without the service's error model`,
              retryAfter,
            });
      const again = RETRY_STATUSES.has(res.status) || error.code === 'SERIALIZATION_FAILURE';
      // Never on a timeout of the statement itself: it would only run out of time again.
      if (attempt < retries && again && error.code !== 'QUERY_TIMEOUT') {
        const delay = retryAfter !== undefined ? retryAfter * 1000 : this.backoff(attempt);
        if (delay <= this.options.maxRetryAfter) {
          await sleep(delay, call.signal);
          continue;
        }
      }
      throw error;
    }
  }
}
