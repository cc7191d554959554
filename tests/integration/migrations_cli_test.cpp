// Black-box tests of the CLI subcommands (migrate, rollback, status, reset, seed): the built
// binary against a database of its own; exit codes 0 ok, 1 failure, 2 usage/config.
#include "support/run_command.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace coredb::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// A temporary directory of migration files (COREDB_MIGRATIONS_DIR), removed at the end.
class MigrationDir {
 public:
  MigrationDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("coredb-migrations-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~MigrationDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  void Write(const std::string& name, const std::string& content) {
    std::ofstream(path_ / name, std::ios::binary | std::ios::trunc) << content;
  }
  std::string path() const { return path_.string(); }

 private:
  fs::path path_;
};

class SchemaCli : public ::testing::Test {
 protected:
  // Only what the schema commands need: DATABASE_URL (no admin token, no Redis).
  CommandResult Run(std::vector<std::string> args, std::map<std::string, std::optional<std::string>> extra = {}) {
    CommandEnv env;
    env.inherit = false;
    env.set["DATABASE_URL"] = db_.app_conninfo();
    env.set["PATH"] = "/usr/bin:/bin";
    for (auto& [k, v] : extra) env.set[k] = v;
    return RunCoredbCommand(args, env);
  }
  std::string Scalar(const std::string& sql) { return Psql(db_.superuser_conninfo()).Scalar(sql); }

  ScratchDatabase db_;
};

TEST_F(SchemaCli, MigrateStatusRollbackWithOnlyDatabaseUrlAndTheirExitCodes) {
  auto status = Run({"status"});
  EXPECT_EQ(status.code, 0) << status.All();
  EXPECT_NE(status.out.find("current: none"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("pending: 1, 2, 3"), std::string::npos) << status.out;

  auto migrate = Run({"migrate"});
  EXPECT_EQ(migrate.code, 0) << migrate.All();
  EXPECT_NE(migrate.out.find("applied 1 platform_schema"), std::string::npos) << migrate.out;
  EXPECT_NE(migrate.out.find("applied 2 saga_log"), std::string::npos) << migrate.out;
  EXPECT_NE(migrate.out.find("applied 3 clients"), std::string::npos) << migrate.out;
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_schema_migrations"), "3");

  auto again = Run({"migrate"});
  EXPECT_EQ(again.code, 0) << again.All();
  EXPECT_NE(again.out.find("nothing to apply"), std::string::npos) << again.out;

  auto as_json = Run({"status", "--json"});
  ASSERT_EQ(as_json.code, 0) << as_json.All();
  auto body = json::parse(as_json.out);
  EXPECT_EQ(body.at("current"), 3);
  EXPECT_EQ(body.at("pending").as_array().size(), 0u);
  ASSERT_EQ(body.at("history").as_array().size(), 3u);
  EXPECT_EQ(body.at("history").at(0).at("name"), "platform_schema");

  auto rollback = Run({"rollback", "--steps", "3"});
  EXPECT_EQ(rollback.code, 0) << rollback.All();
  EXPECT_NE(rollback.out.find("rolled back 1 platform_schema"), std::string::npos) << rollback.out;
  EXPECT_EQ(Scalar("SELECT to_regclass('users') IS NULL"), "t");

  auto nothing = Run({"rollback"});
  EXPECT_EQ(nothing.code, 1) << nothing.All();
  EXPECT_NE(nothing.err.find("nothing to roll back"), std::string::npos) << nothing.err;
}

TEST_F(SchemaCli, UsageAndConfigurationErrorsExitTwoAndChangeNothing) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"migrat"},
                                                                {"migrate", "--steps", "1"},
                                                                {"migrate", "--target"},
                                                                {"migrate", "--target", "abc"},
                                                                {"migrate", "--target=0"},
                                                                {"migrate", "--target", "99"},
                                                                {"rollback", "--steps", "0"},
                                                                {"rollback", "--steps=1001"},
                                                                {"rollback", "--lock-timeout", "soon"},
                                                                {"status", "--force"},
                                                                {"seed", "extra"},
                                                                {"reset"}}) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    auto r = Run(args);
    EXPECT_EQ(r.code, 2) << joined << "\n" << r.All();
    EXPECT_FALSE(r.err.empty()) << joined;
  }
  auto bad_url = Run({"migrate"}, {{"DATABASE_URL", "postgresql://x:y@127.0.0.1:5432/db?nosuchoption=1"}});
  EXPECT_EQ(bad_url.code, 2) << bad_url.All();
  EXPECT_EQ(bad_url.All().find("x:y"), std::string::npos) << bad_url.All();
  auto bad_dir = Run({"migrate"}, {{"COREDB_MIGRATIONS_DIR", "/nonexistent/coredb"}});
  EXPECT_EQ(bad_dir.code, 2) << bad_dir.All();
  EXPECT_EQ(Scalar("SELECT to_regclass('coredb_schema_migrations') IS NULL"), "t");
}

TEST_F(SchemaCli, UnreachableDatabaseExitsOneWithoutLeakingThePassword) {
  auto r = Run({"migrate"}, {{"DATABASE_URL", "postgresql://u:SuperSecret42@127.0.0.1:1/db?connect_timeout=2"}});
  EXPECT_EQ(r.code, 1) << r.All();
  EXPECT_NE(r.err.find("coredb migrate:"), std::string::npos) << r.err;
  EXPECT_EQ(r.All().find("SuperSecret42"), std::string::npos) << r.All();
}

TEST_F(SchemaCli, EveryCommandHasItsOwnHelp) {
  auto top = Run({"--help"});
  EXPECT_EQ(top.code, 0);
  for (const char* command : {"serve", "health", "migrate", "rollback", "status", "reset", "seed"}) {
    // scripts/dev runs `coredb migrate` when the overview lists it.
    EXPECT_NE(top.out.find(std::string("  ") + command + " "), std::string::npos) << command << "\n" << top.out;
    auto help = Run({command, "--help"});
    EXPECT_EQ(help.code, 0) << command;
    EXPECT_NE(help.out.find(std::string("usage: coredb ") + command), std::string::npos) << help.out;
  }
  EXPECT_NE(Run({"migrate", "--help"}).out.find("--target"), std::string::npos);
  EXPECT_NE(Run({"rollback", "--help"}).out.find("--steps"), std::string::npos);
  EXPECT_NE(Run({"reset", "--help"}).out.find("--force"), std::string::npos);
}

TEST_F(SchemaCli, ResetNeedsForceOutsideDevelopment) {
  ASSERT_EQ(Run({"migrate"}).code, 0);
  ASSERT_EQ(Run({"seed"}).code, 0);
  auto refused = Run({"reset"}, {{"COREDB_ENV", "production"}, {"NODE_ENV", "development"}});
  EXPECT_EQ(refused.code, 2) << refused.All();
  EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;
  EXPECT_EQ(Scalar("SELECT count(*) FROM libraries"), "3");

  auto dev = Run({"reset"}, {{"NODE_ENV", "development"}});
  EXPECT_EQ(dev.code, 0) << dev.All();
  EXPECT_EQ(Scalar("SELECT count(*) FROM libraries"), "0");
  ASSERT_EQ(Run({"seed"}).code, 0);

  auto forced = Run({"reset", "--force"});
  EXPECT_EQ(forced.code, 0) << forced.All();
  EXPECT_NE(forced.out.find("rolled back 1 platform_schema"), std::string::npos) << forced.out;
  EXPECT_NE(forced.out.find("applied 1 platform_schema"), std::string::npos) << forced.out;
  EXPECT_EQ(Scalar("SELECT count(*) FROM libraries"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_schema_migrations"), "3");
}

TEST_F(SchemaCli, SeedTwiceSucceedsAndInsertsOnce) {
  auto early = Run({"seed"});
  EXPECT_EQ(early.code, 1) << early.All();
  EXPECT_NE(early.err.find("coredb migrate"), std::string::npos) << early.err;
  ASSERT_EQ(Run({"migrate"}).code, 0);
  auto first = Run({"seed"});
  EXPECT_EQ(first.code, 0) << first.All();
  EXPECT_NE(first.out.find("inserted 3 of 3 libraries, 1 of 1 users, 1 of 1 api keys"), std::string::npos) << first.out;
  auto second = Run({"seed"});
  EXPECT_EQ(second.code, 0) << second.All();
  EXPECT_NE(second.out.find("inserted 0 of 3 libraries, 0 of 1 users, 0 of 1 api keys"), std::string::npos)
      << second.out;
  EXPECT_EQ(Scalar("SELECT count(*) FROM libraries") + Scalar("SELECT count(*) FROM users") +
                Scalar("SELECT count(*) FROM api_keys"),
            "311");
}

TEST_F(SchemaCli, ChangedMigrationFileIsRefusedNamingItsVersion) {
  MigrationDir dir;
  dir.Write("0001_first.up.sql", "CREATE TABLE first (x int);\n");
  dir.Write("0001_first.down.sql", "DROP TABLE first;\n");
  ASSERT_EQ(Run({"migrate"}, {{"COREDB_MIGRATIONS_DIR", dir.path()}}).code, 0);
  dir.Write("0001_first.up.sql", "CREATE TABLE first (x int, y int);\n");
  dir.Write("0002_second.up.sql", "CREATE TABLE second (x int);\n");
  dir.Write("0002_second.down.sql", "DROP TABLE second;\n");
  auto r = Run({"migrate"}, {{"COREDB_MIGRATIONS_DIR", dir.path()}});
  EXPECT_EQ(r.code, 1) << r.All();
  EXPECT_NE(r.err.find("migration 1 (first) was changed after it was applied"), std::string::npos) << r.err;
  EXPECT_EQ(Scalar("SELECT to_regclass('second') IS NULL"), "t");
  auto status = Run({"status"}, {{"COREDB_MIGRATIONS_DIR", dir.path()}});
  EXPECT_EQ(status.code, 1) << status.All();
  EXPECT_NE(status.out.find("problem: migration 1 (first)"), std::string::npos) << status.out;
}

TEST_F(SchemaCli, TwoRunnersStartedTogetherApplyEachMigrationOnce) {
  MigrationDir dir;
  dir.Write("0001_slow.up.sql", "CREATE TABLE runs (n int);\nINSERT INTO runs VALUES (1);\nSELECT pg_sleep(1);\n");
  dir.Write("0001_slow.down.sql", "DROP TABLE runs;\n");
  dir.Write("0002_more.up.sql", "INSERT INTO runs VALUES (2);\n");
  dir.Write("0002_more.down.sql", "DELETE FROM runs WHERE n = 2;\n");
  CommandResult a, b;
  std::thread ta([&] { a = Run({"migrate"}, {{"COREDB_MIGRATIONS_DIR", dir.path()}}); });
  std::thread tb([&] { b = Run({"migrate"}, {{"COREDB_MIGRATIONS_DIR", dir.path()}}); });
  ta.join();
  tb.join();
  EXPECT_EQ(a.code, 0) << a.All();
  EXPECT_EQ(b.code, 0) << b.All();
  const int applied_by_a = a.out.find("applied 1 slow") != std::string::npos;
  const int applied_by_b = b.out.find("applied 1 slow") != std::string::npos;
  EXPECT_EQ(applied_by_a + applied_by_b, 1) << a.out << "\n---\n" << b.out;
  EXPECT_NE((applied_by_a ? b : a).out.find("nothing to apply"), std::string::npos);
  EXPECT_EQ(Scalar("SELECT string_agg(n::text, ',' ORDER BY n) FROM runs"), "1,2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_schema_migrations"), "2");
}

TEST_F(SchemaCli, LockHeldElsewhereMakesMigrateGiveUpAtItsDeadline) {
  Psql holder(db_.app_conninfo());
  holder.Exec("SELECT pg_advisory_lock(x'636f726564620001'::bigint)");
  auto started = std::chrono::steady_clock::now();
  auto r = Run({"migrate", "--lock-timeout", "500"});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  EXPECT_EQ(r.code, 1) << r.All();
  EXPECT_NE(r.err.find("migration lock"), std::string::npos) << r.err;
  EXPECT_GE(took.count(), 450);
  EXPECT_EQ(Scalar("SELECT to_regclass('users') IS NULL"), "t");
}

}  // namespace
}  // namespace coredb::testing
