// Seed data of the story (scripts/db-seed.ts): the libraries MongoDB, Next.js and Supabase, the
// test user test@twinmcp.dev and its API key. Idempotent: rows that exist already (same library
// id, user email or key hash) are left as they are (INSERT ... ON CONFLICT DO NOTHING), so a
// second run inserts nothing and fails nothing. All in one transaction.
#pragma once

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>

namespace coredb::migrations {

struct SeedCounts {
  int libraries = 0;  // rows inserted by this run
  int users = 0;
  int api_keys = 0;
};

inline constexpr int kSeedLibraries = 3;
inline constexpr const char* kSeedUserEmail = "test@twinmcp.dev";
inline constexpr const char* kSeedApiKeyHash = "test_api_key_hash";

// kConflict when the platform schema is missing (run `coredb migrate` first).
boost::asio::awaitable<Result<SeedCounts>> SeedPlatformData(boost::asio::any_io_executor executor,
                                                            pg::ConnectionOptions connection,
                                                            pg::CancelWorker& cancel_worker,
                                                            std::chrono::milliseconds timeout);

}  // namespace coredb::migrations
