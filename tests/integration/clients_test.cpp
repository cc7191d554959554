// Black-box tests of clients, tokens, scopes, quotas, audit and ownership (issue 6 part A):
// the built binary over HTTP, on a scratch database migrated through the API, real Redis.
#include "support/clients.hpp"
#include "support/run_command.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <random>
#include <sstream>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string Suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "_" + std::to_string(rd() % 1000000);
}

// Restarts the shared Redis of the test stack when the test ends, whatever happened.
class RedisRestartGuard {
 public:
  RedisRestartGuard() = default;
  RedisRestartGuard(const RedisRestartGuard&) = delete;
  RedisRestartGuard& operator=(const RedisRestartGuard&) = delete;
  ~RedisRestartGuard() {
    if (started_) return;
    try {
      Devstack("redis-start");
    } catch (...) {
    }
  }
  void Started() { started_ = true; }

 private:
  bool started_ = false;
};

TestClientOptions WithPrefix(const std::string& prefix) {
  TestClientOptions o;
  o.cache_prefixes = {prefix};
  return o;
}
TestClientOptions WithRole(const std::string& role) {
  TestClientOptions o;
  o.pg_role = role;
  return o;
}
TestClientOptions PerMinute(std::int64_t quota) {
  TestClientOptions o;
  o.quota_per_minute = quota;
  return o;
}

class Clients : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  void TearDown() override {
    svc_.reset();
    for (const auto& role : roles_) {
      try {
        Psql(db_.superuser_conninfo()).Exec("DROP OWNED BY " + role + "; DROP ROLE IF EXISTS " + role);
      } catch (...) {
      }
    }
  }
  void Start(ServiceProcess::Env extra = {}) {
    ServiceProcess::Env env{{"DATABASE_URL", db_.app_conninfo()}};
    for (auto& [k, v] : extra) env[k] = v;
    svc_ = std::make_unique<ServiceProcess>(env);
    EnsureMigrated(*svc_);
  }
  ServiceProcess& svc() { return *svc_; }

  HttpResult As(const TestClient& c, const std::string& method, const std::string& target,
                const json::value& body = nullptr) {
    return svc().Request(method, target, body.is_null() ? std::string() : json::serialize(body), {}, c.token);
  }
  HttpResult QueryAs(const TestClient& c, const json::value& body) { return As(c, "POST", "/api/v1/query", body); }

  // A NOLOGIN role the service's user may SET ROLE to.
  std::string Role(const std::string& base) {
    const std::string role = base + "_" + Suffix();
    Psql(db_.superuser_conninfo())
        .Exec("CREATE ROLE " + role + " NOLOGIN; GRANT " + role + " TO \"" + db_.owner() + "\"");
    roles_.push_back(role);
    return role;
  }

  ScratchDatabase db_;
  std::unique_ptr<ServiceProcess> svc_;
  std::vector<std::string> roles_;
};

TEST_F(Clients, CreateAuthenticateListRevoke) {
  json::object body{{"name", UniqueClientName("svc-a")},
                    {"scopes", {"read", "write"}},
                    {"quotaPerMinute", 1000},
                    {"cachePrefixes", {"a:"}}};
  auto created = svc().Post("/api/v1/clients", body);
  ASSERT_EQ(created.status, 201u) << created.body;
  const auto& c = created.json.as_object();
  const std::string token(c.at("token").as_string());
  const std::string id(c.at("id").as_string());
  const std::string prefix(c.at("tokenPrefix").as_string());
  EXPECT_EQ(token.rfind("cdb_", 0), 0u);
  EXPECT_GE(token.size(), 4u + 8u + 43u);  // 256 random bits after the visible prefix
  EXPECT_EQ(token.rfind(prefix, 0), 0u);
  EXPECT_EQ(created.Header("cache-control"), "no-store");
  EXPECT_EQ(json::serialize(c.at("scopes")), R"(["read","write"])");

  // Only the SHA-256 is stored.
  Psql pg(db_.superuser_conninfo());
  EXPECT_EQ(pg.Scalar("SELECT count(*) FROM coredb_clients WHERE token_hash = encode(sha256('" + token +
                      "'::bytea), 'hex') AND id = '" + id + "'"),
            "1");
  EXPECT_EQ(pg.Scalar("SELECT count(*) FROM coredb_clients WHERE position('" + token.substr(12) +
                      "' in row_to_json(coredb_clients.*)::text) > 0"),
            "0");

  TestClient client{id, std::string(c.at("name").as_string()), token};
  auto ok = QueryAs(client, json::object{{"sql", "SELECT 1 AS one"}});
  ASSERT_EQ(ok.status, 200u) << ok.body;

  // The listing never shows the token.
  auto list = svc().Get("/api/v1/clients");
  ASSERT_EQ(list.status, 200u) << list.body;
  EXPECT_EQ(list.body.find(token), std::string::npos);
  EXPECT_EQ(list.body.find("tokenHash"), std::string::npos);
  EXPECT_NE(list.body.find(prefix), std::string::npos);

  // Revoked: 401 at once, with the same answer as a token that never existed.
  auto revoked = RevokeClient(svc(), id);
  ASSERT_EQ(revoked.status, 200u) << revoked.body;
  EXPECT_FALSE(revoked.json.as_object().at("revokedAt").is_null());
  auto after = QueryAs(client, json::object{{"sql", "SELECT 1"}});
  EXPECT_EQ(after.status, 401u);
  EXPECT_EQ(after.ErrorCode(), "UNAUTHENTICATED");
  TestClient stranger{"x", "x", "cdb_AAAAAAAA" + std::string(43, 'A')};
  auto unknown = QueryAs(stranger, json::object{{"sql", "SELECT 1"}});
  EXPECT_EQ(unknown.status, 401u);
  EXPECT_EQ(unknown.body.substr(0, unknown.body.size()), after.body);
  auto garbage = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {}, std::string("not-a-token"));
  EXPECT_EQ(garbage.status, 401u);
  EXPECT_EQ(garbage.body, after.body);
  auto malformed =
      svc().Request("GET", "/api/v1/connections/stats", "", {{"Authorization", "Basic abc"}}, std::string());
  EXPECT_EQ(malformed.status, 401u);

  // Revoke again: idempotent; unknown ids 404; the bootstrap admin is not revocable here.
  EXPECT_EQ(RevokeClient(svc(), id).status, 200u);
  EXPECT_EQ(RevokeClient(svc(), "0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5f").status, 404u);
  EXPECT_EQ(RevokeClient(svc(), "not-a-uuid").status, 404u);
  auto admin = RevokeClient(svc(), "admin");
  EXPECT_EQ(admin.status, 403u) << admin.body;
  EXPECT_EQ(svc().Get("/api/v1/clients").status, 200u);  // the bootstrap token still works

  // A revoked name can be reused; an active one cannot.
  auto again = svc().Post("/api/v1/clients", body);
  EXPECT_EQ(again.status, 201u) << again.body;
  auto dup = svc().Post("/api/v1/clients", body);
  EXPECT_EQ(dup.status, 409u) << dup.body;
}

TEST_F(Clients, BadInputIs400NamingTheProblem) {
  auto post = [&](json::object body) { return svc().Post("/api/v1/clients", body); };
  auto bad_scope = post({{"name", "x1"}, {"scopes", {"read", "root"}}});
  EXPECT_EQ(bad_scope.status, 400u);
  EXPECT_NE(bad_scope.body.find("root"), std::string::npos) << bad_scope.body;
  EXPECT_EQ(post({{"name", "x1"}, {"scopes", json::array{}}}).status, 400u);
  EXPECT_EQ(post({{"name", "x1"}, {"scopes", {1}}}).status, 400u);
  EXPECT_EQ(post({{"name", "bad name"}, {"scopes", {"read"}}}).status, 400u);
  EXPECT_EQ(post({{"scopes", {"read"}}}).status, 400u);
  EXPECT_EQ(post({{"name", "x1"}, {"scopes", {"read"}}, {"quotaPerMinute", 0}}).status, 400u);
  EXPECT_EQ(post({{"name", "x1"}, {"scopes", {"read"}}, {"extra", 1}}).status, 400u);
  EXPECT_EQ(post({{"name", "x1"}, {"scopes", {"read"}}, {"cachePrefixes", {"a*"}}}).status, 400u);
  auto injected = post({{"name", "x1"}, {"scopes", {"read"}}, {"pgRole", "x; DROP TABLE coredb_clients"}});
  EXPECT_EQ(injected.status, 400u);
  auto missing_role = post({{"name", "x1"}, {"scopes", {"read"}}, {"pgRole", "no_such_role_" + Suffix()}});
  EXPECT_EQ(missing_role.status, 400u);
  EXPECT_NE(missing_role.body.find("no role"), std::string::npos) << missing_role.body;
  auto superuser = post({{"name", "x1"}, {"scopes", {"read"}}, {"pgRole", "postgres"}});
  EXPECT_EQ(superuser.status, 400u) << superuser.body;
  // Nothing was created by any of these.
  EXPECT_EQ(Psql(db_.superuser_conninfo()).Scalar("SELECT count(*) FROM coredb_clients"), "0");
  // With a role the service may use: created, and the role is on the principal.
  const std::string role = Role("reader");
  auto ok = post({{"name", "x1"}, {"scopes", {"read"}}, {"pgRole", role}});
  ASSERT_EQ(ok.status, 201u) << ok.body;
  EXPECT_EQ(ok.json.as_object().at("pgRole").as_string(), role);
}

TEST_F(Clients, ARoleThatCouldSwitchRolesInsideOneStatementIsRefused) {
  // DO blocks, temporary functions and functions in a schema all let one statement switch to the
  // service's user and back, unseen by the check after each statement: such a role is refused.
  Psql super(db_.superuser_conninfo());
  const std::string role = Role("hazard");
  auto post = [&]() {
    return svc().Post("/api/v1/clients", {{"name", "hz-" + Suffix()}, {"scopes", {"read", "write"}}, {"pgRole", role}});
  };
  super.Exec("GRANT USAGE ON LANGUAGE plpgsql TO " + role);
  auto language = post();
  EXPECT_EQ(language.status, 400u) << language.body;
  EXPECT_NE(language.body.find("plpgsql"), std::string::npos) << language.body;
  EXPECT_NE(language.body.find("REVOKE USAGE ON LANGUAGE plpgsql"), std::string::npos) << language.body;
  super.Exec("REVOKE USAGE ON LANGUAGE plpgsql FROM " + role);
  super.Exec("GRANT TEMPORARY ON DATABASE \"" + db_.name() + "\" TO " + role);
  auto temporary = post();
  EXPECT_EQ(temporary.status, 400u) << temporary.body;
  EXPECT_NE(temporary.body.find("temporary functions"), std::string::npos) << temporary.body;
  super.Exec("REVOKE TEMPORARY ON DATABASE \"" + db_.name() + "\" FROM " + role);
  const std::string schema_name = "hz_" + Suffix();
  super.Exec("CREATE SCHEMA " + schema_name + "; GRANT CREATE ON SCHEMA " + schema_name + " TO " + role);
  auto schema = post();
  EXPECT_EQ(schema.status, 400u) << schema.body;
  EXPECT_NE(schema.body.find(schema_name), std::string::npos) << schema.body;
  // Nothing was created; once the schema privilege goes too, the role is accepted.
  EXPECT_EQ(super.Scalar("SELECT count(*) FROM coredb_clients WHERE pg_role = '" + role + "'"), "0");
  super.Exec("REVOKE CREATE ON SCHEMA " + schema_name + " FROM " + role);
  auto ok = post();
  EXPECT_EQ(ok.status, 201u) << ok.body;
  super.Exec("DROP SCHEMA " + schema_name);
}

TEST_F(Clients, AClientWhoseRoleLaterGainsSuchAPrivilegeIsRefusedUntilItIsRevokedAgain) {
  Psql super(db_.superuser_conninfo());
  const std::string role = Role("later");
  const TestClient client = CreateClient(svc(), "later", {"read", "write"}, WithRole(role));
  auto query = [&]() {
    return svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT current_user AS u"})", {}, client.token);
  };
  ASSERT_EQ(query().status, 200u);
  // Granted after the creation check: found by the next reload (every 5 s), then 403 naming it.
  super.Exec("GRANT USAGE ON LANGUAGE plpgsql TO " + role);
  auto poll = [&](unsigned status) {
    HttpResult r;
    for (int i = 0; i < 100; ++i) {
      r = query();
      if (r.status == status) break;
      std::this_thread::sleep_for(100ms);
    }
    return r;
  };
  auto refused = poll(403u);
  EXPECT_EQ(refused.status, 403u) << refused.body;
  EXPECT_NE(refused.body.find("plpgsql"), std::string::npos) << refused.body;
  EXPECT_TRUE(svc().WaitForOutput("refusing the clients of pgRole " + role, 2s)) << svc().Output();
  super.Exec("REVOKE USAGE ON LANGUAGE plpgsql FROM " + role);
  auto back = poll(200u);
  EXPECT_EQ(back.status, 200u) << back.body;
}

TEST_F(Clients, ScopesAreEnforcedOnEveryKindOfRoute) {
  TestClient reader = CreateClient(svc(), "reader", {"read"});
  TestClient writer = CreateClient(svc(), "writer", {"write"});
  auto expect403 = [&](const HttpResult& r, const char* what) {
    EXPECT_EQ(r.status, 403u) << what << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "FORBIDDEN") << what;
  };
  const std::string key = "scopes-test:" + Suffix();
  expect403(As(reader, "PUT", "/api/v1/cache/" + key, json::object{{"value", 1}}), "cache PUT");
  expect403(As(reader, "POST", "/api/v1/cache/invalidate", json::object{{"pattern", key + "*"}}), "invalidate");
  expect403(QueryAs(reader, json::object{{"database", "redis"}, {"command", {"SET", key, "v"}}}), "redis SET");
  expect403(QueryAs(reader, json::object{{"database", "redis"}, {"command", {"del", key}}}), "redis DEL");
  expect403(QueryAs(writer, json::object{{"database", "redis"}, {"command", {"FLUSHALL"}}}), "redis FLUSHALL");
  expect403(QueryAs(writer, json::object{{"database", "redis"}, {"command", {"KEYS", "*"}}}), "redis KEYS");
  auto get = QueryAs(reader, json::object{{"database", "redis"}, {"command", {"GET", key}}});
  EXPECT_EQ(get.status, 200u) << get.body;
  auto set = QueryAs(writer, json::object{{"database", "redis"}, {"command", {"SET", key, "v"}}});
  EXPECT_EQ(set.status, 200u) << set.body;
  EXPECT_EQ(svc().Query(json::object{{"database", "redis"}, {"command", {"DEL", key}}}).status, 200u);
  expect403(
      As(reader, "POST", "/api/v1/sagas",
         json::object{{"steps", {{{"name", "s"}, {"action", {{"sql", "SELECT 1"}}}, {"compensation", nullptr}}}}}),
      "saga");
  expect403(As(reader, "POST", "/api/v1/vectors/anything/upsert",
               json::object{{"items", {{{"id", "1"}, {"embedding", {1, 2}}}}}}),
            "vector upsert");
  // A write client cannot reach Redis admin commands through a saga either.
  auto flush_step = json::object{{"name", "f"},
                                 {"action", {{"database", "redis"}, {"command", {"FLUSHALL"}}}},
                                 {"compensation", nullptr}};
  expect403(As(writer, "POST", "/api/v1/sagas", json::object{{"steps", {flush_step}}}), "saga FLUSHALL");
  auto placeholder_step = json::object{{"name", "p"},
                                       {"action", {{"database", "redis"}, {"command", {"${steps.x.result}"}}}},
                                       {"compensation", nullptr}};
  auto placeholder = As(writer, "POST", "/api/v1/sagas", json::object{{"steps", {placeholder_step}}});
  EXPECT_TRUE(placeholder.status == 403u || placeholder.status == 400u) << placeholder.body;
  expect403(As(reader, "GET", "/api/v1/migrations/status"), "migrations status");
  expect403(As(writer, "POST", "/api/v1/migrations/run", json::object{}), "migrations run");
  expect403(As(writer, "GET", "/api/v1/connections"), "lease listing");
  expect403(As(writer, "GET", "/api/v1/clients"), "clients list");
  expect403(As(writer, "POST", "/api/v1/clients", json::object{{"name", "evil"}, {"scopes", {"admin"}}}),
            "clients create");
  expect403(As(writer, "DELETE", "/api/v1/clients/" + writer.id), "clients revoke (itself, not admin)");
  EXPECT_EQ(As(reader, "GET", "/api/v1/connections/stats").status, 200u);
  // An admin client may revoke, even itself.
  TestClient admin = CreateClient(svc(), "admin2", {"admin"});
  EXPECT_EQ(As(admin, "DELETE", "/api/v1/clients/" + admin.id).status, 200u);
  EXPECT_EQ(As(admin, "GET", "/api/v1/clients").status, 401u);
}

TEST_F(Clients, LeasesTransactionsAndSagasBelongToTheirClient) {
  TestClient a = CreateClient(svc(), "owner-a", {"write"});
  TestClient b = CreateClient(svc(), "owner-b", {"write"});
  auto lease = As(a, "POST", "/api/v1/connections/acquire", json::object{{"database", "postgresql"}});
  ASSERT_EQ(lease.status, 200u) << lease.body;
  const std::string cid(lease.json.as_object().at("connectionId").as_string());
  auto foreign = QueryAs(b, json::object{{"sql", "SELECT 1"}, {"connectionId", cid}});
  EXPECT_EQ(foreign.status, 404u) << foreign.body;
  auto unknown = QueryAs(b, json::object{{"sql", "SELECT 1"}, {"connectionId", cid + "x"}});
  EXPECT_EQ(unknown.status, 404u);
  EXPECT_EQ(foreign.ErrorCode(), unknown.ErrorCode());
  EXPECT_EQ(As(b, "POST", "/api/v1/connections/release", json::object{{"connectionId", cid}}).status, 404u);
  EXPECT_EQ(QueryAs(a, json::object{{"sql", "SELECT 1"}, {"connectionId", cid}}).status, 200u);
  EXPECT_EQ(As(a, "POST", "/api/v1/connections/release", json::object{{"connectionId", cid}}).status, 200u);

  auto tx = As(a, "POST", "/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(tx.status, 200u) << tx.body;
  const std::string tid(tx.json.as_object().at("transactionId").as_string());
  EXPECT_EQ(QueryAs(b, json::object{{"sql", "SELECT 1"}, {"transactionId", tid}}).status, 404u);
  EXPECT_EQ(
      As(b, "POST", "/api/v1/query/batch", json::object{{"queries", {{{"sql", "SELECT 1"}}}}, {"transactionId", tid}})
          .status,
      404u);
  EXPECT_EQ(As(b, "POST", "/api/v1/transaction/commit", json::object{{"transactionId", tid}}).status, 404u);
  EXPECT_EQ(As(b, "POST", "/api/v1/transaction/rollback", json::object{{"transactionId", tid}}).status, 404u);
  EXPECT_EQ(As(a, "POST", "/api/v1/transaction/commit", json::object{{"transactionId", tid}}).status, 200u);

  auto saga =
      As(a, "POST", "/api/v1/sagas",
         json::object{{"steps", {{{"name", "s"}, {"action", {{"sql", "SELECT 1 AS x"}}}, {"compensation", nullptr}}}}});
  ASSERT_EQ(saga.status, 200u) << saga.body;
  const std::string sid(saga.json.as_object().at("sagaId").as_string());
  EXPECT_EQ(As(a, "GET", "/api/v1/sagas/" + sid).status, 200u);
  EXPECT_EQ(As(b, "GET", "/api/v1/sagas/" + sid).status, 404u);
  EXPECT_EQ(As(b, "POST", "/api/v1/sagas/" + sid + "/compensate", json::object{}).status, 404u);
  auto b_list = As(b, "GET", "/api/v1/sagas");
  EXPECT_EQ(b_list.body.find(sid), std::string::npos) << b_list.body;
}

TEST_F(Clients, CachePrefixesBindKeysPatternsAndTags) {
  const std::string p = "pfx" + Suffix() + ":";
  TestClient c = CreateClient(svc(), "cached", {"write"}, WithPrefix(p));
  EXPECT_EQ(As(c, "PUT", "/api/v1/cache/" + p + "k", json::object{{"value", 1}}).status, 200u);
  EXPECT_EQ(As(c, "PUT", "/api/v1/cache/other:k", json::object{{"value", 1}}).status, 403u);
  EXPECT_EQ(As(c, "GET", "/api/v1/cache/other:k").status, 403u);
  EXPECT_EQ(As(c, "POST", "/api/v1/cache/invalidate", json::object{{"pattern", p + "*"}}).status, 200u);
  EXPECT_EQ(As(c, "POST", "/api/v1/cache/invalidate", json::object{{"pattern", "other*"}}).status, 403u);
  EXPECT_EQ(As(c, "POST", "/api/v1/cache/invalidate", json::object{{"pattern", "*"}}).status, 403u);
  auto tagged_out = QueryAs(c, json::object{{"sql", "SELECT 1"}, {"cache", {{"ttl", 60}, {"tags", {"users"}}}}});
  EXPECT_EQ(tagged_out.status, 403u) << tagged_out.body;
  auto tagged_in = QueryAs(c, json::object{{"sql", "SELECT 1"}, {"cache", {{"ttl", 60}, {"tags", {p + "users"}}}}});
  EXPECT_EQ(tagged_in.status, 200u) << tagged_in.body;
  auto inval_out = QueryAs(c, json::object{{"sql", "SELECT 1"}, {"invalidate", {{"tags", {"users"}}}}});
  EXPECT_EQ(inval_out.status, 403u) << inval_out.body;
  auto inval_in = QueryAs(c, json::object{{"sql", "SELECT 1"}, {"invalidate", {{"tags", {p + "users"}}}}});
  EXPECT_EQ(inval_in.status, 200u) << inval_in.body;
  svc().Request("DELETE", "/api/v1/cache/" + p + "k");
}

TEST_F(Clients, ClientsWithDifferentRolesNeverShareACachedResult) {
  const std::string r1 = Role("cache_r1");
  const std::string r2 = Role("cache_r2");
  TestClient c1 = CreateClient(svc(), "role1", {"read"}, WithRole(r1));
  TestClient c1b = CreateClient(svc(), "role1b", {"read"}, WithRole(r1));
  TestClient c2 = CreateClient(svc(), "role2", {"read"}, WithRole(r2));
  const json::object q{{"sql", "SELECT 'role-cache-" + Suffix() + "' AS v"}, {"cache", {{"ttl", 60}}}};
  auto first = QueryAs(c1, q);
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_FALSE(first.json.as_object().contains("cached"));
  auto same_role = QueryAs(c1b, q);
  ASSERT_EQ(same_role.status, 200u) << same_role.body;
  EXPECT_TRUE(same_role.json.as_object().contains("cached")) << same_role.body;
  auto other_role = QueryAs(c2, q);
  ASSERT_EQ(other_role.status, 200u) << other_role.body;
  EXPECT_FALSE(other_role.json.as_object().contains("cached")) << other_role.body;
}

TEST_F(Clients, QuotaAnswers429WithRetryAfterAndSurvivesRedisLoss) {
  TestClient c = CreateClient(svc(), "quota", {"read"}, PerMinute(3));
  // Requests near a minute boundary could land in two windows: start early in a minute.
  auto seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  if (seconds.count() % 60 > 50) std::this_thread::sleep_for(std::chrono::seconds(61 - seconds.count() % 60));
  for (int i = 0; i < 3; ++i) {
    auto r = As(c, "GET", "/api/v1/connections/stats");
    EXPECT_EQ(r.status, 200u) << i << r.body;
  }
  auto limited = As(c, "GET", "/api/v1/connections/stats");
  ASSERT_EQ(limited.status, 429u) << limited.body;
  EXPECT_EQ(limited.ErrorCode(), "RATE_LIMITED");
  const int retry = std::atoi(limited.Header("retry-after").c_str());
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  // The bootstrap admin has no quota.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(svc().Get("/api/v1/connections/stats").status, 200u);

  // Redis gone: the per-instance limiter takes over with the same limit (neither open nor closed).
  TestClient d = CreateClient(svc(), "quota2", {"read"}, PerMinute(4));
  RedisRestartGuard guard;
  Devstack("redis-kill");
  seconds = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  if (seconds.count() % 60 > 45) std::this_thread::sleep_for(std::chrono::seconds(61 - seconds.count() % 60));
  int ok = 0, limited_count = 0;
  for (int i = 0; i < 8; ++i) {
    auto r = As(d, "GET", "/api/v1/connections/stats");
    if (r.status == 200u) ++ok;
    if (r.status == 429u) {
      ++limited_count;
      EXPECT_FALSE(r.Header("retry-after").empty());
    }
  }
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(limited_count, 4);
  Devstack("redis-start");
  guard.Started();
}

TEST_F(Clients, OneAuditLinePerRequestAndNoSecretInAnyLog) {
  TestClient c = CreateClient(svc(), "audited", {"write"});
  const std::string secret_literal = "literal-" + Suffix();
  auto q = QueryAs(c, json::object{{"sql", "SELECT $1::text AS v, '" + secret_literal + "' AS w"},
                                   {"params", {"param-" + secret_literal}}});
  ASSERT_EQ(q.status, 200u) << q.body;
  const std::string request_id = q.Header("x-request-id");
  ASSERT_FALSE(request_id.empty());
  // A bad token, a malformed header, a failing statement, a Redis command.
  const std::string bad_token = "cdb_BADTOKEN" + std::string(43, 'z');
  svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {}, bad_token);
  svc().Request("GET", "/api/v1/connections/stats", "", {{"Authorization", "Bearer"}}, std::string());
  QueryAs(c, json::object{{"sql", "SELEC 'oops-" + secret_literal + "'"}});
  QueryAs(c, json::object{{"database", "redis"}, {"command", {"GET", "audit:" + secret_literal}}});
  // A saga: its steps' statements are fingerprinted, never their values or Redis arguments.
  json::object step{{"name", "s1"},
                    {"action", json::object{{"sql", "SELECT 'saga-" + secret_literal + "' AS v"}}},
                    {"compensation", json::object{{"database", "redis"}, {"command", {"DEL", "audit:" + secret_literal}}}}};
  auto saga = svc().Request("POST", "/api/v1/sagas", json::serialize(json::object{{"steps", json::array{step}}}));
  EXPECT_EQ(saga.status, 200u) << saga.body;
  const std::string saga_id = saga.Header("x-request-id");
  std::this_thread::sleep_for(300ms);  // the asynchronous logger
  const std::string out = svc().Output();

  // Exactly one line for the request, with client, route, fingerprint, status, duration.
  std::istringstream lines(out);
  std::string line;
  int found = 0;
  json::object audit;
  while (std::getline(lines, line)) {
    if (line.find(request_id) == std::string::npos) continue;
    ++found;
    audit = json::parse(line).as_object();
  }
  ASSERT_EQ(found, 1) << out;
  EXPECT_EQ(audit.at("client").as_string(), c.name);
  EXPECT_EQ(audit.at("route").as_string(), "/api/v1/query");
  EXPECT_EQ(audit.at("method").as_string(), "POST");
  EXPECT_EQ(audit.at("status").as_int64(), 200);
  EXPECT_TRUE(audit.contains("durationMs"));
  const std::string fp(audit.at("statement").as_string());
  EXPECT_EQ(fp.rfind("sql:", 0), 0u);
  EXPECT_EQ(fp.size(), 20u);
  EXPECT_NE(out.find("\"statement\":\"redis:GET\""), std::string::npos);
  std::istringstream saga_lines(out);
  bool saga_audited = false;
  while (std::getline(saga_lines, line)) {
    if (line.find(saga_id) == std::string::npos || line.find("\"route\":\"/api/v1/sagas\"") == std::string::npos) continue;
    const std::string saga_fp(json::parse(line).at("statement").as_string());
    EXPECT_EQ(saga_fp.rfind("saga:", 0), 0u) << line;
    EXPECT_EQ(saga_fp.size(), 21u) << line;
    saga_audited = true;
  }
  EXPECT_TRUE(saga_audited) << out;

  for (const std::string& secret : {c.token, bad_token, svc().admin_token(), secret_literal}) {
    EXPECT_EQ(out.find(secret), std::string::npos) << "found in the log: " << secret;
  }
}

TEST_F(Clients, NoPasswordInLogsOrErrorsOfABadDsn) {
  const std::string password = "Pw-" + Suffix() + "-secret";
  // The vector store on a dead port with a password in its URL: the start-up check fails.
  svc_.reset();
  Start({{"VECTOR_URL", "postgresql://someone:" + password + "@127.0.0.1:1/nodb?connect_timeout=1"}});
  auto r = svc().Post("/api/v1/vectors/collections", json::object{{"name", "x"}, {"dimension", 2}, {"metric", "l2"}});
  EXPECT_GE(r.status, 400u);
  EXPECT_EQ(r.body.find(password), std::string::npos) << r.body;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(svc().Output().find(password), std::string::npos);
  // The CLI with a wrong password and a dead server.
  CommandEnv env;
  env.set["DATABASE_URL"] = "postgresql://someone:" + password + "@127.0.0.1:1/nodb?connect_timeout=1";
  auto cli = RunCoredbCommand({"clients", "list"}, env);
  EXPECT_NE(cli.code, 0);
  EXPECT_EQ(cli.All().find(password), std::string::npos) << cli.All();
  auto status = RunCoredbCommand({"status"}, env);
  EXPECT_EQ(status.All().find(password), std::string::npos) << status.All();
}

TEST_F(Clients, CliAddListRevokeReachARunningServiceWithinTheReloadBound) {
  CommandEnv env;
  env.set["DATABASE_URL"] = db_.app_conninfo();
  const std::string name = UniqueClientName("cli");
  auto add = RunCoredbCommand({"clients", "add", "--name", name, "--scopes", "read", "--quota-per-day", "1000"}, env);
  ASSERT_EQ(add.code, 0) << add.All();
  auto token_at = add.out.find("token:");
  ASSERT_NE(token_at, std::string::npos) << add.out;
  std::string token = add.out.substr(token_at + 6);
  token = token.substr(token.find_first_not_of(' '));
  token = token.substr(0, token.find('\n'));
  auto id_at = add.out.find("id:");
  std::string id = add.out.substr(id_at + 3);
  id = id.substr(id.find_first_not_of(' '));
  id = id.substr(0, id.find('\n'));
  TestClient c{id, name, token};

  auto wait_for = [&](unsigned status) {
    const auto deadline = std::chrono::steady_clock::now() + 12s;
    unsigned last = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      last = As(c, "GET", "/api/v1/connections/stats").status;
      if (last == status) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  };
  EXPECT_TRUE(wait_for(200u)) << "the service did not pick up the client added by the CLI";

  auto list = RunCoredbCommand({"clients", "list", "--json"}, env);
  ASSERT_EQ(list.code, 0) << list.All();
  EXPECT_NE(list.out.find(name), std::string::npos);
  EXPECT_EQ(list.out.find(token), std::string::npos);

  auto bad = RunCoredbCommand({"clients", "add", "--name", "x", "--scopes", "read,root"}, env);
  EXPECT_EQ(bad.code, 2) << bad.All();
  EXPECT_NE(bad.err.find("root"), std::string::npos) << bad.err;

  auto revoke = RunCoredbCommand({"clients", "revoke", id}, env);
  ASSERT_EQ(revoke.code, 0) << revoke.All();
  EXPECT_TRUE(wait_for(401u)) << "the service did not see the revoke made by the CLI";
  EXPECT_EQ(RunCoredbCommand({"clients", "revoke", "0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5f"}, env).code, 1);
}

}  // namespace
}  // namespace coredb::testing
