// The migration engine (PgMigrator) against the real PostgreSQL: each test has its own database
// (ScratchDatabase), owned by the non-superuser application role.
#include "integration/pg_test_support.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include "coredb/migrations/pg_migrator.hpp"
#include "coredb/migrations/seed.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace coredb::migrations {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using coredb::pg::testing::ElapsedMs;
using coredb::pg::testing::RunCoro;
using coredb::testing::Psql;
using coredb::testing::ScratchDatabase;

std::vector<Migration> MustBuild(std::vector<MigrationFile> files) {
  auto set = BuildMigrationSet(std::move(files));
  if (!set) throw std::runtime_error("bad test migration set: " + set.error().message);
  return std::move(*set);
}

// Migration `version` named `name`: up and down SQL.
std::vector<MigrationFile> Files(int version, const std::string& name, const std::string& up, const std::string& down) {
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%04d_", version);
  return {{prefix + name + ".up.sql", up}, {prefix + name + ".down.sql", down}};
}

std::vector<MigrationFile> Join(std::initializer_list<std::vector<MigrationFile>> parts) {
  std::vector<MigrationFile> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Three migrations creating tables a, b, c.
std::vector<MigrationFile> Abc() {
  return Join({Files(1, "a", "CREATE TABLE a (x int);", "DROP TABLE a;"),
               Files(2, "b", "CREATE TABLE b (x int);", "DROP TABLE b;"),
               Files(3, "c", "CREATE TABLE c (x int);", "DROP TABLE c;")});
}

std::vector<int> Versions(const MigrationRun& run) {
  std::vector<int> out;
  for (const auto& s : run.steps) out.push_back(s.version);
  return out;
}

class Migrations : public ::testing::Test {
 protected:
  std::unique_ptr<PgMigrator> Make(std::vector<Migration> set, std::chrono::milliseconds lock_timeout = 30s) {
    MigratorOptions options;
    options.connection.conninfo = db_.app_conninfo();
    options.lock_timeout = lock_timeout;
    return std::make_unique<PgMigrator>(io_.get_executor(), worker_, std::move(set), options);
  }
  std::unique_ptr<PgMigrator> MakeEmbedded() {
    auto set = LoadMigrations("");
    if (!set) throw std::runtime_error(set.error().message);
    return Make(std::move(*set));
  }
  Result<MigrationRun> Migrate(PgMigrator& m, std::optional<int> target = std::nullopt) {
    return RunCoro(io_, m.Migrate(target));
  }
  Result<MigrationRun> Rollback(PgMigrator& m, int steps) { return RunCoro(io_, m.Rollback(steps)); }
  MigrationStatus Status(PgMigrator& m) {
    auto s = RunCoro(io_, m.Status());
    if (!s) throw std::runtime_error("status failed: " + s.error().message);
    return std::move(*s);
  }
  bool TableExists(const std::string& name) {
    return db_psql().Scalar("SELECT to_regclass('" + name + "') IS NOT NULL") == "t";
  }
  Psql& db_psql() {
    if (!psql_) psql_ = std::make_unique<Psql>(db_.superuser_conninfo());
    return *psql_;
  }

  ScratchDatabase db_;
  asio::io_context io_;
  pg::CancelWorker worker_;
  std::unique_ptr<Psql> psql_;
};

TEST_F(Migrations, FreshDatabaseMigratesToTheLatestVersionAndRecordsTheHistory) {
  auto m = MakeEmbedded();
  auto before = Status(*m);
  EXPECT_FALSE(before.current.has_value());
  EXPECT_EQ(before.pending, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(before.history.empty());
  EXPECT_FALSE(TableExists(kHistoryTable)) << "status must not write";

  auto run = Migrate(*m);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(Versions(*run), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(run->current, 3);

  auto after = Status(*m);
  EXPECT_EQ(after.current, 3);
  EXPECT_TRUE(after.pending.empty());
  EXPECT_TRUE(after.problems.empty());
  ASSERT_EQ(after.history.size(), 3u);
  EXPECT_EQ(after.history[1].name, "saga_log");
  EXPECT_EQ(after.history[2].name, "clients");
  const auto& h = after.history[0];
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.name, "platform_schema");
  EXPECT_EQ(h.checksum, m->known()[0].checksum);
  EXPECT_EQ(h.checksum.size(), 64u);
  EXPECT_TRUE(std::regex_match(h.applied_at, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << h.applied_at;
  EXPECT_GT(h.duration_ms, 0.0);
  EXPECT_EQ(db_psql().Scalar("SELECT bool_and(now() - applied_at < interval '1 minute') FROM coredb_schema_migrations"),
            "t");
  for (const char* table :
       {"users", "api_keys", "libraries", "library_versions", "documentation_chunks", "usage_logs", "oauth_tokens"}) {
    EXPECT_TRUE(TableExists(table)) << table;
  }
}

TEST_F(Migrations, SecondRunAppliesNothing) {
  auto m = MakeEmbedded();
  ASSERT_TRUE(Migrate(*m));
  auto again = Migrate(*m);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->steps.empty());
  EXPECT_EQ(again->current, 3);
  EXPECT_EQ(db_psql().Scalar("SELECT count(*) FROM coredb_schema_migrations"), "3");
}

TEST_F(Migrations, AppliedMigrationWhoseUpFileChangedIsRefusedNamingItsVersion) {
  auto original = Make(MustBuild(Abc()));
  ASSERT_TRUE(Migrate(*original, 1));
  auto files = Abc();
  files[0].content = "CREATE TABLE a (x bigint);";  // 0001_a.up.sql edited after it was applied
  auto changed = Make(MustBuild(files));

  auto run = Migrate(*changed);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("migration 1 (a) was changed after it was applied"), std::string::npos)
      << run.error().message;
  EXPECT_FALSE(TableExists("b")) << "nothing after the refusal may run";
  EXPECT_EQ(db_psql().Scalar("SELECT string_agg(version::text, ',') FROM coredb_schema_migrations"), "1");

  auto status = Status(*changed);
  ASSERT_EQ(status.problems.size(), 1u);
  EXPECT_NE(status.problems[0].find("migration 1 (a)"), std::string::npos);
  auto rollback = Rollback(*changed, 1);
  ASSERT_FALSE(rollback);
  EXPECT_EQ(rollback.error().code, ErrorCode::kConflict);
  EXPECT_TRUE(TableExists("a"));
}

TEST_F(Migrations, EditedDownFileIsAcceptedBecauseOnlyTheUpPartIsChecksummed) {
  auto original = Make(MustBuild(Abc()));
  ASSERT_TRUE(Migrate(*original, 1));
  auto files = Abc();
  files[1].content = "-- fixed\nDROP TABLE IF EXISTS a;";  // 0001_a.down.sql
  ASSERT_EQ(files[1].name, "0001_a.down.sql");
  auto fixed = Make(MustBuild(files));
  auto rollback = Rollback(*fixed, 1);
  ASSERT_TRUE(rollback) << rollback.error().message;
  EXPECT_FALSE(TableExists("a"));
}

TEST_F(Migrations, ChecksumTamperedInTheHistoryIsRefused) {
  auto m = MakeEmbedded();
  ASSERT_TRUE(Migrate(*m));
  db_psql().Exec("UPDATE coredb_schema_migrations SET checksum = repeat('0', 64)");
  auto run = Migrate(*m);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("migration 1 (platform_schema)"), std::string::npos) << run.error().message;
  EXPECT_FALSE(Status(*m).problems.empty());
}

TEST_F(Migrations, TwoRunnersAtOnceApplyEachMigrationExactlyOnce) {
  // The first migration holds the lock for a second, so the two runs overlap for sure. A double
  // apply would fail on CREATE TABLE or leave two rows in `runs`.
  auto files = Join({Files(1, "slow", "CREATE TABLE runs (n int); INSERT INTO runs VALUES (1); SELECT pg_sleep(1);",
                           "DROP TABLE runs;"),
                     Files(2, "more", "INSERT INTO runs VALUES (2);", "DELETE FROM runs WHERE n = 2;")});
  auto first = Make(MustBuild(files));
  auto second = Make(MustBuild(files));
  std::optional<Result<MigrationRun>> r1, r2;
  long long ms1 = 0, ms2 = 0;
  const auto start = std::chrono::steady_clock::now();
  asio::co_spawn(io_, first->Migrate(std::nullopt), [&](std::exception_ptr, Result<MigrationRun> r) {
    ms1 = ElapsedMs(start);
    r1.emplace(std::move(r));
  });
  asio::co_spawn(io_, second->Migrate(std::nullopt), [&](std::exception_ptr, Result<MigrationRun> r) {
    ms2 = ElapsedMs(start);
    r2.emplace(std::move(r));
  });
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while ((!r1 || !r2) && std::chrono::steady_clock::now() < deadline) io_.run_one_for(100ms);
  ASSERT_TRUE(r1 && r2) << "the runners did not finish";
  ASSERT_TRUE(*r1) << r1->error().message;
  ASSERT_TRUE(*r2) << r2->error().message;
  auto v1 = Versions(**r1), v2 = Versions(**r2);
  EXPECT_TRUE((v1 == std::vector<int>{1, 2} && v2.empty()) || (v2 == std::vector<int>{1, 2} && v1.empty()))
      << "first applied " << v1.size() << ", second " << v2.size();
  EXPECT_EQ((*r1)->current, 2);
  EXPECT_EQ((*r2)->current, 2);
  // The one that applied nothing waited for the other one's lock.
  const long long waiter_ms = v1.empty() ? ms1 : ms2;
  EXPECT_GE(waiter_ms, 900);
  EXPECT_EQ(db_psql().Scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM runs"), "1,2");
  EXPECT_EQ(db_psql().Scalar("SELECT count(*) FROM coredb_schema_migrations"), "2");
}

TEST_F(Migrations, WaitingForTheLockEndsAtItsDeadlineAndChangesNothing) {
  Psql holder(db_.app_conninfo());
  holder.Exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")");
  auto m = Make(MustBuild(Abc()), 400ms);
  const auto start = std::chrono::steady_clock::now();
  auto run = Migrate(*m);
  const long long waited = ElapsedMs(start);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("migration lock"), std::string::npos) << run.error().message;
  EXPECT_GE(waited, 350);
  EXPECT_LT(waited, 5000);
  EXPECT_FALSE(TableExists("a"));
  EXPECT_FALSE(TableExists(kHistoryTable));
  auto rollback = Rollback(*m, 1);  // writes too: same lock
  ASSERT_FALSE(rollback);
  EXPECT_EQ(rollback.error().code, ErrorCode::kConflict);

  holder.Exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockKey) + ")");
  auto later = Migrate(*m);
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(Versions(*later), (std::vector<int>{1, 2, 3}));
}

TEST_F(Migrations, FailingMigrationIsRolledBackWholeAndTheOnesBeforeItStay) {
  auto files =
      Join({Files(1, "a", "CREATE TABLE a (x int);", "DROP TABLE a;"),
            Files(2, "broken", "CREATE TABLE b (x int);\nINSERT INTO b SELECT * FROM no_such_table;", "DROP TABLE b;"),
            Files(3, "c", "CREATE TABLE c (x int);", "DROP TABLE c;")});
  auto m = Make(MustBuild(files));
  auto run = Migrate(*m);
  ASSERT_FALSE(run);
  const Error& e = run.error();
  EXPECT_EQ(e.code, ErrorCode::kQueryError);
  ASSERT_TRUE(e.pg.has_value());
  EXPECT_EQ(e.pg->sqlstate, "42P01");
  EXPECT_NE(e.message.find("migration 2 (broken) failed at statement 2 (0002_broken.up.sql line 2)"), std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("applied before it: 1"), std::string::npos) << e.message;
  EXPECT_TRUE(TableExists("a"));
  EXPECT_FALSE(TableExists("b")) << "the failed migration's first statement must be rolled back with it";
  EXPECT_FALSE(TableExists("c"));
  EXPECT_EQ(Status(*m).current, 1);
}

TEST_F(Migrations, RollbackRunsTheDownPartsNewestFirstAndForgetsThem) {
  auto m = Make(MustBuild(Abc()));
  ASSERT_TRUE(Migrate(*m));
  auto run = Rollback(*m, 2);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(Versions(*run), (std::vector<int>{3, 2}));
  EXPECT_EQ(run->current, 1);
  EXPECT_TRUE(TableExists("a"));
  EXPECT_FALSE(TableExists("b"));
  EXPECT_FALSE(TableExists("c"));
  auto status = Status(*m);
  EXPECT_EQ(status.pending, (std::vector<int>{2, 3}));
  ASSERT_EQ(status.history.size(), 1u);
}

TEST_F(Migrations, RollbackWithNothingAppliedIsAConflictAndChangesNothing) {
  auto m = Make(MustBuild(Abc()));
  auto run = Rollback(*m, 1);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("nothing to roll back"), std::string::npos) << run.error().message;
  EXPECT_FALSE(TableExists(kHistoryTable));

  ASSERT_TRUE(Migrate(*m, 1));
  auto too_many = Rollback(*m, 2);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, ErrorCode::kConflict);
  EXPECT_NE(too_many.error().message.find("only 1 applied"), std::string::npos) << too_many.error().message;
  EXPECT_TRUE(TableExists("a"));
  EXPECT_EQ(Status(*m).current, 1);
}

TEST_F(Migrations, TargetStopsAtItsVersionAndAnUnknownTargetIsRefusedUntouched) {
  auto m = Make(MustBuild(Abc()));
  auto unknown = Migrate(*m, 9);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidRequest);
  EXPECT_FALSE(TableExists(kHistoryTable));

  auto run = Migrate(*m, 2);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(Versions(*run), (std::vector<int>{1, 2}));
  EXPECT_FALSE(TableExists("c"));
  auto below = Migrate(*m, 1);  // already there: nothing to do
  ASSERT_TRUE(below);
  EXPECT_TRUE(below->steps.empty());
  EXPECT_EQ(below->current, 2);
}

TEST_F(Migrations, PendingMigrationBelowAnAppliedOneIsRefused) {
  auto files = Abc();
  std::vector<MigrationFile> without_two{files[0], files[1], files[4], files[5]};
  ASSERT_TRUE(Migrate(*Make(MustBuild(without_two))));
  auto m = Make(MustBuild(files));
  auto run = Migrate(*m);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("migration 2 (b) is pending but the later migration 3"), std::string::npos)
      << run.error().message;
  EXPECT_FALSE(TableExists("b"));
}

TEST_F(Migrations, AppliedVersionUnknownToThisBuildIsRefused) {
  ASSERT_TRUE(Migrate(*Make(MustBuild(Abc()))));
  auto older = Make(MustBuild(Files(1, "a", "CREATE TABLE a (x int);", "DROP TABLE a;")));
  auto run = Migrate(*older);
  ASSERT_FALSE(run);
  EXPECT_EQ(run.error().code, ErrorCode::kConflict);
  EXPECT_NE(run.error().message.find("unknown to this binary"), std::string::npos) << run.error().message;
  auto rollback = Rollback(*older, 1);
  ASSERT_FALSE(rollback);
  EXPECT_TRUE(TableExists("c"));
}

TEST_F(Migrations, ResetRollsEverythingBackAndAppliesItAgain) {
  auto m = MakeEmbedded();
  ASSERT_TRUE(Migrate(*m));
  pg::ConnectionOptions connection;
  connection.conninfo = db_.app_conninfo();
  auto seeded = RunCoro(io_, SeedPlatformData(io_.get_executor(), connection, worker_, 10s));
  ASSERT_TRUE(seeded) << seeded.error().message;
  ASSERT_EQ(db_psql().Scalar("SELECT count(*) FROM libraries"), "3");

  auto reset = RunCoro(io_, m->Reset());
  ASSERT_TRUE(reset) << reset.error().message;
  EXPECT_EQ(Versions(reset->rolled_back), (std::vector<int>{3, 2, 1}));
  EXPECT_EQ(Versions(reset->applied), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(reset->applied.current, 3);
  EXPECT_EQ(db_psql().Scalar("SELECT count(*) FROM libraries"), "0");
  EXPECT_EQ(db_psql().Scalar("SELECT count(*) FROM coredb_schema_migrations"), "3");
}

TEST(MigrationsExtensions, AppRoleCreatesTheStoryExtensionsWhenTheServerHasThem) {
  ScratchDatabase db(/*with_extensions=*/false);
  Psql super(db.superuser_conninfo());
  ASSERT_EQ(super.Scalar("SELECT count(*) FROM pg_extension WHERE extname IN ('pg_trgm', 'uuid-ossp')"), "0");
  ASSERT_EQ(super.Scalar("SELECT rolsuper FROM pg_roles WHERE rolname = '" + db.owner() + "'"), "f");
  asio::io_context io;
  pg::CancelWorker worker;
  auto set = LoadMigrations("");
  ASSERT_TRUE(set);
  MigratorOptions options;
  options.connection.conninfo = db.app_conninfo();
  PgMigrator m(io.get_executor(), worker, std::move(*set), options);
  auto run = RunCoro(io, m.Migrate(std::nullopt));
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(super.Scalar("SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension WHERE extname IN "
                         "('pg_trgm', 'uuid-ossp')"),
            "pg_trgm,uuid-ossp");
}

}  // namespace
}  // namespace coredb::migrations
