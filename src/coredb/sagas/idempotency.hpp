// Idempotency-Key for single SQL writes through POST /api/v1/query (API.md "Sagas"): the reply is
// stored in table "coredb_idempotency" (migration 0002) in the same transaction as the write, so
// a retry with the same key and body either finds the first reply (and runs nothing) or finds
// that nothing was written and runs. A concurrent retry waits on the key's row until the first
// commits or rolls back. Replies are kept 24 h (the saga sweep deletes older ones).
#pragma once

#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <string>

namespace coredb::sagas {

struct IdempotentOutcome {
  boost::json::object body;  // the query response
  bool replayed = false;     // from the first call: nothing ran now
};

class IdempotencyStore {
 public:
  explicit IdempotencyStore(pg::PgBackend& postgres) : postgres_(postgres) {}

  // Runs `statement` once per (caller, key): 409 CONFLICT when the key was used with another
  // body (`request_hash`) or its first call's reply is unknown.
  boost::asio::awaitable<Result<IdempotentOutcome>> Run(const Principal& caller, std::string key,
                                                        std::string request_hash, const SqlStatement& statement);

 private:
  pg::PgBackend& postgres_;
};

}  // namespace coredb::sagas
