// Issue 6 item 2 over HTTP with real clients (part A's /api/v1/clients): a `read` client's writes
// and a `pgRole` client's role escapes are refused by PostgreSQL (403 with the sqlstate) and leave
// nothing written; with a pool of one connection, the role never reaches the next client.
// (sql_scope_test.cpp covers every path in-process; this proves the wiring.)
#include "support/clients.hpp"
#include "support/service_process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace coredb::testing {
namespace {

namespace json = boost::json;

class ScopesOverHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::mt19937_64 rng{std::random_device{}()};
    const std::string suffix = std::to_string(rng() % 1000000000ULL);
    table_ = "scopes_http_" + suffix;
    role_ = "coredb_http_role_" + suffix;
    Psql super(RequireEnv("PG_SUPERUSER_URL"));
    super.Exec("CREATE ROLE " + role_ + " NOLOGIN");
    super.Exec("GRANT " + role_ + " TO coredb");
    Psql app(RequireEnv("DATABASE_URL"));
    app.Exec("CREATE TABLE " + table_ + " (id serial PRIMARY KEY, v text)");
    app.Exec("GRANT SELECT ON " + table_ + " TO " + role_);
    svc_ = std::make_unique<ServiceProcess>(ServiceProcess::Env{{"PG_POOL_SIZE", "1"}});
    EnsureMigrated(*svc_);
  }
  void TearDown() override {
    svc_.reset();
    Psql super(RequireEnv("PG_SUPERUSER_URL"));
    super.Exec("DROP TABLE IF EXISTS " + table_);
    super.Exec("DROP OWNED BY " + role_);
    super.Exec("DROP ROLE IF EXISTS " + role_);
  }
  HttpResult As(const TestClient& c, const json::object& body, const std::string& path = "/api/v1/query") {
    return svc_->Request("POST", path, json::serialize(body), {}, c.token);
  }
  int Rows() { return std::stoi(Psql(RequireEnv("PG_SUPERUSER_URL")).Scalar("SELECT count(*) FROM " + table_)); }

  std::unique_ptr<ServiceProcess> svc_;
  std::string table_, role_;
};

TEST_F(ScopesOverHttp, ReadClientWritesAreRefusedWith403AndTheSqlstate) {
  const TestClient reader = CreateClient(*svc_, "reader", {"read"});
  auto insert = As(reader, {{"sql", "INSERT INTO " + table_ + " (v) VALUES ('x')"}});
  EXPECT_EQ(insert.status, 403u) << insert.body;
  EXPECT_EQ(insert.ErrorCode(), "FORBIDDEN") << insert.body;
  EXPECT_NE(insert.body.find("25006"), std::string::npos) << insert.body;
  auto copy = As(reader, {{"sql", "COPY (SELECT 1) TO PROGRAM 'true'"}});
  EXPECT_EQ(copy.status, 403u) << copy.body;
  auto trap = As(reader, {{"queries", {{{"sql", "SET TRANSACTION READ WRITE"}},
                                       {{"sql", "INSERT INTO " + table_ + " (v) VALUES ('x')"}}}},
                          {"atomic", false}},
                 "/api/v1/query/batch");
  ASSERT_EQ(trap.status, 200u) << trap.body;
  EXPECT_EQ(trap.json.at("results").at(1).at("error").at("code"), "FORBIDDEN") << trap.body;
  auto read = As(reader, {{"sql", "SELECT count(*) AS n FROM " + table_}});
  EXPECT_EQ(read.status, 200u) << read.body;
  EXPECT_EQ(Rows(), 0);
}

TEST_F(ScopesOverHttp, RoleClientRunsAsItsRoleEscapesAreRefusedAndTheRoleDoesNotReachTheNextClient) {
  TestClientOptions options;
  options.pg_role = role_;
  const TestClient client = CreateClient(*svc_, "role", {"read", "write"}, options);
  auto who = As(client, {{"sql", "SELECT current_user AS u, pg_backend_pid() AS pid"}});
  ASSERT_EQ(who.status, 200u) << who.body;
  EXPECT_EQ(who.json.at("rows").at(0).at("u"), json::value(role_));
  for (const std::string escape : {"RESET ROLE", "SET ROLE coredb", "SELECT set_config('role', 'none', false)"}) {
    auto r = As(client, {{"queries", {{{"sql", escape}}, {{"sql", "INSERT INTO " + table_ + " (v) VALUES ('x')"}}}}},
                "/api/v1/query/batch");
    EXPECT_EQ(r.status, 403u) << escape << ": " << r.body;
    EXPECT_NE(r.body.find("42501"), std::string::npos) << r.body;
  }
  // The next client of the single pooled connection: the service's login, not the role.
  auto next = svc_->Query({{"sql", "SELECT current_user AS u, pg_backend_pid() AS pid"}});
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_EQ(next.json.at("rows").at(0).at("u"), "coredb");
  EXPECT_EQ(next.json.at("rows").at(0).at("pid"), who.json.at("rows").at(0).at("pid"));
  EXPECT_EQ(Rows(), 0);
  auto saga = svc_->Request("POST", "/api/v1/sagas",
                            json::serialize(json::object{{"steps", json::array{}}}), {}, client.token);
  EXPECT_EQ(saga.status, 403u) << saga.body;
}

TEST_F(ScopesOverHttp, SwitchingToTheServiceUserAndBackInsideOneStatementIsRefused) {
  // The per-statement check sees current_user only after the statement; a DO block or a function
  // could switch to the service's user, write with its privileges and switch back. Client roles
  // cannot run either (the creation check, and the dev stack's hardening as README.md asks).
  TestClientOptions options;
  options.pg_role = role_;
  const TestClient client = CreateClient(*svc_, "switch", {"read", "write"}, options);
  const std::string insert = "INSERT INTO " + table_ + " (v) VALUES ('escaped')";
  const std::vector<std::string> attempts = {
      "DO $$ BEGIN PERFORM set_config('role', 'coredb', true); " + insert + "; PERFORM set_config('role', '" + role_ +
          "', true); END $$",
      "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS $$ SELECT set_config('role', 'coredb', true); " +
          insert + "; SELECT set_config('role', '" + role_ + "', true); SELECT 1 $$",
      "CREATE FUNCTION public.f_" + role_ + "() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
  };
  for (const std::string& sql : attempts) {
    auto r = As(client, {{"sql", sql}});
    EXPECT_EQ(r.status, 403u) << sql << ": " << r.body;
    EXPECT_NE(r.body.find("42501"), std::string::npos) << r.body;
  }
  EXPECT_EQ(Rows(), 0);
}

TEST_F(ScopesOverHttp, SessionStateOfOneClientNeverReachesAnotherOnTheSharedConnection) {
  // Pool of one: both clients (and the bootstrap admin) get the same backend.
  const TestClient a = CreateClient(*svc_, "state-a", {"read", "write"});
  const TestClient b = CreateClient(*svc_, "state-b", {"read", "write"});
  const std::string probe =
      "SELECT coalesce(current_setting('x.left', true), '') AS s, pg_backend_pid() AS pid, "
      "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks";
  auto left_by_a = [&](const json::object& body, const std::string& path,
                       std::map<std::string, std::string> headers) {
    auto r = svc_->Request("POST", path, json::serialize(body), std::move(headers), a.token);
    EXPECT_EQ(r.status, 200u) << r.body;
  };
  auto b_sees = [&]() {
    auto r = As(b, {{"sql", probe}});
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json.is_object() ? r.json.at("rows").at(0) : json::value();
  };
  // One-shot statement.
  left_by_a({{"sql", "SELECT set_config('x.left', 'a1', false), pg_advisory_lock(77)"}}, "/api/v1/query", {});
  auto seen = b_sees();
  EXPECT_EQ(seen.at("s"), "");
  EXPECT_EQ(seen.at("locks"), "0");
  // A's own next request finds its session as it left it (documented), B's does not.
  auto own = As(a, {{"sql", probe}});
  ASSERT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(own.json.at("rows").at(0).at("pid"), seen.at("pid"));
  // Batch.
  left_by_a({{"queries", {{{"sql", "SELECT set_config('x.left', 'a2', false)"}}}}}, "/api/v1/query/batch", {});
  EXPECT_EQ(b_sees().at("s"), "");
  // A write with an Idempotency-Key (its own connection, inside a transaction it commits).
  left_by_a({{"sql", "SELECT set_config('x.left', 'a3', false)"}}, "/api/v1/query",
            {{"Idempotency-Key", "state-" + a.id}});
  EXPECT_EQ(b_sees().at("s"), "");
  // The service's own statements (the platform API) too: as the bootstrap admin, another client.
  left_by_a({{"sql", "SELECT set_config('search_path', 'pg_catalog', false)"}}, "/api/v1/query", {});
  auto admin = svc_->Query({{"sql", "SELECT current_setting('search_path') AS p"}});
  ASSERT_EQ(admin.status, 200u) << admin.body;
  EXPECT_EQ(admin.json.at("rows").at(0).at("p"), "\"$user\", public");
  auto metrics = svc_->Get("/metrics");
  EXPECT_NE(metrics.body.find("coredb_pool_session_resets_total{database=\"postgresql\"}"), std::string::npos);
}

}  // namespace
}  // namespace coredb::testing
