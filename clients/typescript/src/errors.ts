// CoreDbError: every failure the client reports, the service's error model
// ({"error": {"code", "message", ...}}) or a transport failure, with the fields a caller branches on.

/** The service's error codes (docs/openapi.yaml `ErrorCode`), and the client's own. */
export type CoreDbErrorCode =
  | 'INVALID_REQUEST'
  | 'QUERY_ERROR'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'CONSTRAINT_VIOLATION'
  | 'SERIALIZATION_FAILURE'
  | 'CONFLICT'
  | 'LEASE_EXPIRED'
  | 'TRANSACTION_EXPIRED'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'RATE_LIMITED'
  | 'INTERNAL'
  | 'DATABASE_UNAVAILABLE'
  | 'POOL_TIMEOUT'
  | 'CIRCUIT_OPEN'
  | 'QUERY_TIMEOUT'
  | 'SAGA_COMPENSATED'
  | 'SAGA_FAILED'
  /** client side: no answer (connection refused or reset, DNS...); `cause` holds fetch's error */
  | 'CONNECTION_FAILED'
  /** client side: the answer was not the service's JSON */
  | 'BAD_RESPONSE'
  /** client side: a statement on a transaction that already committed or rolled back */
  | 'TRANSACTION_ENDED';

/** The members of the service's error object. */
export interface ErrorBody {
  code: string;
  message: string;
  sqlstate?: string;
  detail?: string;
  hint?: string;
  position?: number;
  constraint?: string;
  table?: string;
  column?: string;
  retryable?: boolean;
  failedIndex?: number;
  saga?: unknown;
}

export interface CoreDbErrorInit {
  code: CoreDbErrorCode | (string & {});
  message: string;
  status: number;
  body?: ErrorBody;
  retryAfter?: number;
  requestId?: string;
  cause?: unknown;
}

export class CoreDbError extends Error {
  override readonly name = 'CoreDbError';
  /** `error.code` of the answer, or a client-side code (CONNECTION_FAILED, BAD_RESPONSE, TRANSACTION_ENDED). */
  readonly code: CoreDbErrorCode | (string & {});
  /** HTTP status; 0 when there was no answer. */
  readonly status: number;
  /** PostgreSQL's SQLSTATE, when PostgreSQL produced the error. */
  readonly sqlstate: string | undefined;
  /** Seconds the service asked to wait (`Retry-After`: 429, 503 CIRCUIT_OPEN). */
  readonly retryAfter: number | undefined;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly position: number | undefined;
  readonly constraint: string | undefined;
  readonly table: string | undefined;
  readonly column: string | undefined;
  /** Batches and vector upserts: the entry that failed. */
  readonly failedIndex: number | undefined;
  /** SERIALIZATION_FAILURE: running the transaction again may succeed. */
  readonly retryable: boolean;
  /** SAGA_COMPENSATED / SAGA_FAILED: the saga as the service left it. */
  readonly saga: unknown;
  /** The answer's X-Request-Id (give it to whoever reads the service's logs). */
  readonly requestId: string | undefined;

  constructor(init: CoreDbErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    const b = init.body;
    this.code = init.code;
    this.status = init.status;
    this.sqlstate = b?.sqlstate;
    this.retryAfter = init.retryAfter;
    this.detail = b?.detail;
    this.hint = b?.hint;
    this.position = b?.position;
    this.constraint = b?.constraint;
    this.table = b?.table;
    this.column = b?.column;
    this.failedIndex = b?.failedIndex;
    this.retryable = b?.retryable === true;
    this.saga = b?.saga;
    this.requestId = init.requestId;
  }

  /** The error of a non-atomic batch entry (`{error}` in place of a result). */
  static fromBody(body: ErrorBody, status = 0): CoreDbError {
    return new CoreDbError({ code: body.code, message: body.message, status, body });
  }
}
