// Black-box tests of GET /api/v1/migrations/status, POST /api/v1/migrations/run and
// POST /api/v1/migrations/rollback: the service runs against a database of its own.
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;

class MigrationsApi : public ::testing::Test {
 protected:
  void StartService(ServiceProcess::Env extra = {}) {
    extra["DATABASE_URL"] = db_.app_conninfo();
    svc_ = std::make_unique<ServiceProcess>(extra);
  }
  ServiceProcess& svc() { return *svc_; }
  std::string Scalar(const std::string& sql) { return Psql(db_.superuser_conninfo()).Scalar(sql); }
  HttpResult Status() { return svc().Get("/api/v1/migrations/status"); }

  ScratchDatabase db_;
  std::unique_ptr<ServiceProcess> svc_;
};

TEST_F(MigrationsApi, StatusRunRollbackRoundTrip) {
  StartService();
  auto fresh = Status();
  ASSERT_EQ(fresh.status, 200u) << fresh.body;
  EXPECT_EQ(fresh.json, json::parse(R"({"current":null,"pending":[1,2,3],"history":[],"problems":[]})"));

  auto run = svc().Post("/api/v1/migrations/run", json::object{});
  ASSERT_EQ(run.status, 200u) << run.body;
  EXPECT_EQ(run.json, json::parse(R"({"applied":[1,2,3],"current":3})"));

  auto status = Status();
  ASSERT_EQ(status.status, 200u);
  EXPECT_EQ(status.json.at("current"), 3);
  EXPECT_EQ(status.json.at("pending"), json::array());
  const auto& entry = status.json.at("history").at(0).as_object();
  EXPECT_EQ(entry.at("version"), 1);
  EXPECT_EQ(entry.at("name"), "platform_schema");
  EXPECT_TRUE(entry.at("appliedAt").is_string());
  EXPECT_TRUE(entry.at("duration").is_number());
  EXPECT_EQ(entry.at("checksum").as_string().size(), 64u);

  // No body at all means the defaults.
  auto again = svc().Request("POST", "/api/v1/migrations/run");
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json, json::parse(R"({"applied":[],"current":3})"));

  auto rollback = svc().Post("/api/v1/migrations/rollback", json::object{{"steps", 3}});
  ASSERT_EQ(rollback.status, 200u) << rollback.body;
  EXPECT_EQ(rollback.json, json::parse(R"({"rolledBack":[3,2,1],"current":null})"));
  EXPECT_EQ(Scalar("SELECT to_regclass('users') IS NULL"), "t");

  auto with_target = svc().Post("/api/v1/migrations/run", json::object{{"target", 1}});
  ASSERT_EQ(with_target.status, 200u) << with_target.body;
  EXPECT_EQ(with_target.json, json::parse(R"({"applied":[1],"current":1})"));
}

TEST_F(MigrationsApi, RollbackWithNothingAppliedIs409AndChangesNothing) {
  StartService();
  auto r = svc().Request("POST", "/api/v1/migrations/rollback");
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "CONFLICT");
  EXPECT_NE(r.body.find("nothing to roll back"), std::string::npos) << r.body;
  EXPECT_EQ(Scalar("SELECT to_regclass('coredb_schema_migrations') IS NULL"), "t");
  EXPECT_EQ(Status().json.at("pending"), json::parse("[1,2,3]"));

  ASSERT_EQ(svc().Post("/api/v1/migrations/run", json::object{}).status, 200u);
  auto too_many = svc().Post("/api/v1/migrations/rollback", json::object{{"steps", 4}});
  EXPECT_EQ(too_many.status, 409u) << too_many.body;
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_schema_migrations"), "3");
}

TEST_F(MigrationsApi, BadInputIs400WithTheErrorModelAndAppliesNothing) {
  StartService();
  struct Case {
    const char* target;
    std::string body;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {"/api/v1/migrations/run", R"({"target":"1"})", "'target' must be an integer"},
      {"/api/v1/migrations/run", R"({"target":0})", "'target' must be an integer in 1.."},
      {"/api/v1/migrations/run", R"({"target":1.5})", "'target' must be an integer"},
      {"/api/v1/migrations/run", R"({"target":99})", "unknown target version 99"},
      {"/api/v1/migrations/run", R"({"tagret":1})", "tagret"},
      {"/api/v1/migrations/run", R"({"target":)", ""},
      {"/api/v1/migrations/run", R"([1])", ""},
      {"/api/v1/migrations/rollback", R"({"steps":0})", "'steps' must be an integer in 1..1000"},
      {"/api/v1/migrations/rollback", R"({"steps":1001})", "'steps' must be an integer in 1..1000"},
      {"/api/v1/migrations/rollback", R"({"steps":"2"})", "'steps' must be an integer"},
      {"/api/v1/migrations/rollback", R"({"step":1})", "step"},
  };
  for (const auto& c : cases) {
    auto r = svc().Request("POST", c.target, c.body);
    EXPECT_EQ(r.status, 400u) << c.target << " " << c.body << " -> " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << c.body;
    EXPECT_NE(r.body.find(c.needle), std::string::npos) << c.body << " -> " << r.body;
  }
  auto text = svc().Request("POST", "/api/v1/migrations/run", "target=1", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(text.status, 415u) << text.body;
  EXPECT_EQ(Scalar("SELECT to_regclass('coredb_schema_migrations') IS NULL"), "t");
}

TEST_F(MigrationsApi, NeedsATokenAndTheRightMethod) {
  StartService();
  auto anonymous = svc().Request("GET", "/api/v1/migrations/status", {}, {}, std::string());
  EXPECT_EQ(anonymous.status, 401u);
  auto wrong = svc().Request("POST", "/api/v1/migrations/run", "{}", {}, std::string("not-the-token-0123456789"));
  EXPECT_EQ(wrong.status, 401u);
  auto method = svc().Request("GET", "/api/v1/migrations/run");
  EXPECT_EQ(method.status, 405u);
  EXPECT_EQ(method.Header("Allow"), "POST");
  auto method2 = svc().Request("DELETE", "/api/v1/migrations/status");
  EXPECT_EQ(method2.status, 405u);
  EXPECT_EQ(Scalar("SELECT to_regclass('coredb_schema_migrations') IS NULL"), "t");
}

TEST_F(MigrationsApi, ChangedAppliedMigrationIs409NamingTheVersion) {
  StartService();
  ASSERT_EQ(svc().Post("/api/v1/migrations/run", json::object{}).status, 200u);
  Psql(db_.superuser_conninfo()).Exec("UPDATE coredb_schema_migrations SET checksum = repeat('a', 64) WHERE version = 1");
  auto run = svc().Post("/api/v1/migrations/run", json::object{});
  EXPECT_EQ(run.status, 409u) << run.body;
  EXPECT_EQ(run.ErrorCode(), "CONFLICT");
  EXPECT_NE(run.body.find("migration 1 (platform_schema) was changed"), std::string::npos) << run.body;
  auto status = Status();
  ASSERT_EQ(status.status, 200u);
  EXPECT_EQ(status.json.at("problems").as_array().size(), 1u);
}

TEST_F(MigrationsApi, ConcurrentRunsApplyEachMigrationOnce) {
  namespace fs = std::filesystem;
  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("coredb-migrations-" + std::to_string(rd()));
  fs::create_directories(dir);
  std::ofstream(dir / "0001_slow.up.sql") << "CREATE TABLE runs (n int); INSERT INTO runs VALUES (1); "
                                             "SELECT pg_sleep(1);\n";
  std::ofstream(dir / "0001_slow.down.sql") << "DROP TABLE runs;\n";
  StartService({{"COREDB_MIGRATIONS_DIR", dir.string()}});
  HttpResult a, b;
  std::thread ta([&] { a = svc().Post("/api/v1/migrations/run", json::object{}); });
  std::thread tb([&] { b = svc().Post("/api/v1/migrations/run", json::object{}); });
  ta.join();
  tb.join();
  std::error_code ec;
  fs::remove_all(dir, ec);
  ASSERT_EQ(a.status, 200u) << a.body;
  ASSERT_EQ(b.status, 200u) << b.body;
  const auto one = json::parse(R"({"applied":[1],"current":1})");
  const auto none = json::parse(R"({"applied":[],"current":1})");
  EXPECT_TRUE((a.json == one && b.json == none) || (a.json == none && b.json == one)) << a.body << " / " << b.body;
  EXPECT_EQ(Scalar("SELECT count(*) FROM runs"), "1");
}

}  // namespace
}  // namespace coredb::testing
