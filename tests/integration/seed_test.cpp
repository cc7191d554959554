// The story's seed data (scripts/db-seed.ts) against the real PostgreSQL: idempotent, and a
// clear refusal before the schema exists.
#include "integration/pg_test_support.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include "coredb/migrations/pg_migrator.hpp"
#include "coredb/migrations/seed.hpp"

#include <gtest/gtest.h>

namespace coredb::migrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using coredb::pg::testing::RunCoro;
using coredb::testing::Psql;
using coredb::testing::ScratchDatabase;
using Rows = std::vector<std::vector<std::string>>;

class Seed : public ::testing::Test {
 protected:
  Result<SeedCounts> RunSeed() {
    pg::ConnectionOptions connection;
    connection.conninfo = db_.app_conninfo();
    return RunCoro(io_, SeedPlatformData(io_.get_executor(), connection, worker_, 10s));
  }
  void MigrateAll() {
    auto set = LoadMigrations("");
    ASSERT_TRUE(set);
    MigratorOptions options;
    options.connection.conninfo = db_.app_conninfo();
    PgMigrator m(io_.get_executor(), worker_, std::move(*set), options);
    auto run = RunCoro(io_, m.Migrate(std::nullopt));
    ASSERT_TRUE(run) << run.error().message;
  }

  ScratchDatabase db_;
  asio::io_context io_;
  pg::CancelWorker worker_;
};

TEST_F(Seed, InsertsTheStorysLibrariesUserAndApiKey) {
  MigrateAll();
  auto counts = RunSeed();
  ASSERT_TRUE(counts) << counts.error().message;
  EXPECT_EQ(counts->libraries, 3);
  EXPECT_EQ(counts->users, 1);
  EXPECT_EQ(counts->api_keys, 1);
  Psql db(db_.app_conninfo());
  EXPECT_EQ(db.Exec("SELECT id, name, vendor, \"repoUrl\", \"docsUrl\", \"defaultVersion\", \"popularityScore\" "
                    "FROM libraries ORDER BY \"popularityScore\" DESC"),
            (Rows{{"/mongodb/docs", "MongoDB Documentation", "MongoDB", "https://github.com/mongodb/docs",
                   "https://docs.mongodb.com", "7.0", "100"},
                  {"/vercel/next.js", "Next.js Documentation", "Vercel", "https://github.com/vercel/next.js",
                   "https://nextjs.org/docs", "14.0", "95"},
                  {"/supabase/supabase", "Supabase Documentation", "Supabase", "https://github.com/supabase/supabase",
                   "https://supabase.com/docs", "1.0", "80"}}));
  EXPECT_EQ(db.Exec("SELECT u.email, u.\"hashedPassword\", k.\"keyHash\", k.\"keyPrefix\", k.name, "
                    "k.\"quotaRequestsPerMinute\", k.\"quotaRequestsPerDay\", k.\"revokedAt\" "
                    "FROM users u JOIN api_keys k ON k.\"userId\" = u.id"),
            (Rows{{"test@twinmcp.dev", "hashed_test_password", "test_api_key_hash", "twinmcp_test_", "Test API Key",
                   "100", "10000", "<null>"}}));
}

TEST_F(Seed, SecondRunInsertsNothingAndDoesNotFail) {
  MigrateAll();
  ASSERT_TRUE(RunSeed());
  Psql db(db_.app_conninfo());
  // A row changed since the first run is kept as it is, not reset to the seed value.
  db.Exec("UPDATE libraries SET \"popularityScore\" = 7 WHERE id = '/mongodb/docs'");
  auto again = RunSeed();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->libraries, 0);
  EXPECT_EQ(again->users, 0);
  EXPECT_EQ(again->api_keys, 0);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM libraries"), "3");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM users"), "1");
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM api_keys"), "1");
  EXPECT_EQ(db.Scalar("SELECT \"popularityScore\" FROM libraries WHERE id = '/mongodb/docs'"), "7");
}

TEST_F(Seed, BeforeTheSchemaExistsItSaysToMigrateFirst) {
  auto counts = RunSeed();
  ASSERT_FALSE(counts);
  EXPECT_EQ(counts.error().code, ErrorCode::kConflict);
  EXPECT_NE(counts.error().message.find("coredb migrate"), std::string::npos) << counts.error().message;
}

}  // namespace
}  // namespace coredb::migrations
