#include "coredb/migrations/seed.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <charconv>
#include <optional>
#include <string>
#include <vector>

namespace coredb::migrations {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

using Params = std::vector<std::optional<std::string>>;

struct SeedLibrary {
  const char* id;
  const char* name;
  const char* vendor;
  const char* repo_url;
  const char* docs_url;
  const char* default_version;
  int popularity_score;
};

// The story's scripts/db-seed.ts, verbatim.
constexpr std::array<SeedLibrary, kSeedLibraries> kLibraries{{
    {"/mongodb/docs", "MongoDB Documentation", "MongoDB", "https://github.com/mongodb/docs", "https://docs.mongodb.com",
     "7.0", 100},
    {"/vercel/next.js", "Next.js Documentation", "Vercel", "https://github.com/vercel/next.js",
     "https://nextjs.org/docs", "14.0", 95},
    {"/supabase/supabase", "Supabase Documentation", "Supabase", "https://github.com/supabase/supabase",
     "https://supabase.com/docs", "1.0", 80},
}};

constexpr const char* kSchemaPresentSql =
    "SELECT to_regclass('libraries') IS NOT NULL AND to_regclass('users') IS NOT NULL"
    " AND to_regclass('api_keys') IS NOT NULL";
constexpr const char* kInsertLibrarySql =
    "INSERT INTO \"libraries\" (\"id\", \"name\", \"vendor\", \"repoUrl\", \"docsUrl\", \"defaultVersion\","
    " \"popularityScore\") VALUES ($1, $2, $3, $4, $5, $6, $7::integer) ON CONFLICT (\"id\") DO NOTHING";
constexpr const char* kInsertUserSql =
    "INSERT INTO \"users\" (\"email\", \"hashedPassword\") VALUES ($1, $2) ON CONFLICT (\"email\") DO NOTHING";
constexpr const char* kInsertApiKeySql =
    "INSERT INTO \"api_keys\" (\"userId\", \"keyHash\", \"keyPrefix\", \"name\", \"quotaRequestsPerMinute\","
    " \"quotaRequestsPerDay\") SELECT \"id\", $2, $3, $4, $5::integer, $6::integer FROM \"users\" WHERE \"email\" = $1"
    " ON CONFLICT (\"keyHash\") DO NOTHING";

int AffectedRows(const pg::PgResultPtr& result) {
  const char* tuples = PQcmdTuples(result.get());
  int n = 0;
  std::from_chars(tuples, tuples + std::char_traits<char>::length(tuples), n);
  return n;
}

Error SeedError(Error error) {
  error.message = "seeding failed, nothing was inserted: " + error.message;
  return error;
}

}  // namespace

awaitable<Result<SeedCounts>> SeedPlatformData(asio::any_io_executor executor, pg::ConnectionOptions connection,
                                               pg::CancelWorker& cancel_worker, std::chrono::milliseconds timeout) {
  connection.default_statement_timeout = timeout;
  auto opened = co_await pg::Connection::Open(executor, connection, cancel_worker);
  if (!opened) co_return opened.error();
  pg::Connection& c = **opened;
  const Params none;

  auto present = co_await c.Execute(pg::Statement{kSchemaPresentSql, none, timeout});
  if (!present) co_return present.error();
  if (std::string_view(PQgetvalue(present->get(), 0, 0)) != "t") {
    co_return Error(ErrorCode::kConflict, "the platform schema is missing: run `coredb migrate` first");
  }

  auto begun = co_await c.Execute(pg::Statement{"BEGIN", none, timeout});
  if (!begun) co_return SeedError(begun.error());
  SeedCounts counts;
  for (const SeedLibrary& lib : kLibraries) {
    const Params params{lib.id,
                        lib.name,
                        lib.vendor,
                        lib.repo_url,
                        lib.docs_url,
                        lib.default_version,
                        std::to_string(lib.popularity_score)};
    auto inserted = co_await c.Execute(pg::Statement{kInsertLibrarySql, params, timeout});
    if (!inserted) co_return SeedError(inserted.error());
    counts.libraries += AffectedRows(*inserted);
  }
  const Params user{kSeedUserEmail, "hashed_test_password"};
  auto user_inserted = co_await c.Execute(pg::Statement{kInsertUserSql, user, timeout});
  if (!user_inserted) co_return SeedError(user_inserted.error());
  counts.users = AffectedRows(*user_inserted);

  const Params key{kSeedUserEmail, kSeedApiKeyHash, "twinmcp_test_", "Test API Key", "100", "10000"};
  auto key_inserted = co_await c.Execute(pg::Statement{kInsertApiKeySql, key, timeout});
  if (!key_inserted) co_return SeedError(key_inserted.error());
  counts.api_keys = AffectedRows(*key_inserted);

  auto committed = co_await c.Execute(pg::Statement{"COMMIT", none, timeout});
  if (!committed) co_return SeedError(committed.error());
  spdlog::info("seed: inserted {} libraries, {} users, {} api keys", counts.libraries, counts.users, counts.api_keys);
  co_return counts;
}

}  // namespace coredb::migrations
