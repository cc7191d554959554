// @platform/coredb-client: a typed client for core-database-service on Node's own fetch.
export { CoreDb, VectorCollection } from './client.js';
export type { CoreDbOptions, Transaction } from './client.js';
export { CoreDbError } from './errors.js';
export type { CoreDbErrorCode, ErrorBody } from './errors.js';
export type { CallOptions } from './transport.js';
export type * from './types.js';
