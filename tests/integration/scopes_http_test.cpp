// Issue 6 item 2 over HTTP with real clients (part A's /api/v1/clients): a `read` client's writes
// and a `pgRole` client's role escapes are refused by PostgreSQL (403 with the sqlstate) and leave
// nothing written; with a pool of one connection, the role never reaches the next client.
// (sql_scope_test.cpp covers every path in-process; this proves the wiring.)
#include "support/clients.hpp"
#include "support/service_process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace coredb::testing
