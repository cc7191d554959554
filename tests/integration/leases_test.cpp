// Black-box tests of leases (API.md "Connections"): acquire / query / release, sliding expiry and
// reclaim, one request at a time per lease, session hygiene between lessees, Redis leases, stats,
// pool settings and bad input — against the built binary and the real dev stack.
#include "support/clients.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <regex>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

json::object Acquire(ServiceProcess& svc, const std::string& database, json::object extra = {}) {
  extra["database"] = database;
  auto r = svc.Post("/api/v1/connections/acquire", extra);
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.json.is_object() ? r.json.as_object() : json::object{};
}

std::string Id(const json::object& lease) {
  return lease.contains("connectionId") ? std::string(lease.at("connectionId").as_string()) : "";
}

HttpResult OnLease(ServiceProcess& svc, const std::string& id, const std::string& sql) {
  return svc.Query({{"sql", sql}, {"connectionId", id}});
}

json::object Stats(ServiceProcess& svc, const std::string& database) {
  auto r = svc.Get("/api/v1/connections/stats");
  EXPECT_EQ(r.status, 200u) << r.body;
  return r.json.at(database).as_object();
}

// Polls until `database`'s pool has nothing leased or active (resets run in the background).
bool WaitPoolQuiet(ServiceProcess& svc, const std::string& database, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = Stats(svc, database);
    if (s.at("leased").as_int64() == 0 && s.at("active").as_int64() == 0) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(Leases, AcquireQueryReleaseThenTheIdIsGone) {
  ServiceProcess svc(ServiceProcess::Env{{"COREDB_INSTANCE_ID", "inst7"}});
  auto lease = Acquire(svc, "postgresql");
  const std::string id = Id(lease);
  EXPECT_TRUE(std::regex_match(id, std::regex("cn_inst7_[0-9a-f]{32}"))) << id;
  EXPECT_EQ(lease.at("database"), "postgresql");
  ASSERT_TRUE(lease.at("acquiredAt").is_string());
  const std::string expires_at(lease.at("expiresAt").as_string());

  std::this_thread::sleep_for(20ms);
  auto r = OnLease(svc, id, "SELECT pg_backend_pid() AS pid");
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(r.json.as_object().contains("expiresAt")) << r.body;
  EXPECT_GT(std::string(r.json.at("expiresAt").as_string()), expires_at) << "the lease slides with each request";
  const auto pid = r.json.at("rows").at(0).at("pid");
  // The same backend serves every request of the lease.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(OnLease(svc, id, "SELECT pg_backend_pid() AS pid").json.at("rows").at(0).at("pid"), pid);

  auto listed = svc.Get("/api/v1/connections");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  ASSERT_EQ(listed.json.at("leases").as_array().size(), 1u);
  EXPECT_EQ(listed.json.at("leases").at(0).at("connectionId"), json::value(id));
  EXPECT_EQ(listed.json.at("leases").at(0).at("inTransaction"), false);
  EXPECT_EQ(Stats(svc, "postgresql").at("leased"), 1);

  auto released = svc.Post("/api/v1/connections/release", {{"connectionId", id}});
  ASSERT_EQ(released.status, 200u) << released.body;
  EXPECT_EQ(released.json, json::parse(R"({"released":true})"));
  EXPECT_EQ(OnLease(svc, id, "SELECT 1").status, 404u);
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 404u);
  auto stats = Stats(svc, "postgresql");
  EXPECT_EQ(stats.at("leased"), 0);
  EXPECT_EQ(stats.at("acquiredTotal"), 1);
  EXPECT_EQ(stats.at("releasedTotal"), 1);
  EXPECT_EQ(stats.at("expiredTotal"), 0);
}

TEST(Leases, SlidingExpiryThenReclaimedAnd410) {
  ServiceProcess svc;
  auto lease = Acquire(svc, "postgresql", {{"ttl", 600}});
  const std::string id = Id(lease);
  // Used every 300 ms, a 600 ms lease stays alive well past its first deadline.
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(OnLease(svc, id, "SELECT 1").status, 200u) << "round " << i;
  }
  std::this_thread::sleep_for(1000ms);
  auto r = OnLease(svc, id, "SELECT 1");
  EXPECT_EQ(r.status, 410u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "LEASE_EXPIRED");
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 410u);
  EXPECT_EQ(Stats(svc, "postgresql").at("expiredTotal"), 1);
  EXPECT_TRUE(WaitPoolQuiet(svc, "postgresql", 3s));
  EXPECT_NE(svc.Output().find("lease expired"), std::string::npos) << "a reclaimed lease is logged";
}

// DELETE /api/v1/connections/{id} (the console's "end"): an admin ends another client's
// transaction; its work is rolled back, its lessee hears 410, the connection is back in the pool.
TEST(Leases, AnAdminEndsAnotherClientsTransactionAndItsWorkIsRolledBack) {
  ScratchDatabase db;
  ServiceProcess svc(ServiceProcess::Env{{"DATABASE_URL", db.app_conninfo()}});
  EnsureMigrated(svc);
  const TestClient writer = CreateClient(svc, "lease-ender", {"write"});
  ASSERT_EQ(svc.Query({{"sql", "CREATE TABLE ended_work (x int)"}}).status, 200u);
  auto as_writer = [&](const std::string& target, const json::value& body) {
    return svc.Request("POST", target, json::serialize(body), {}, writer.token);
  };
  auto tx = as_writer("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(tx.status, 200u) << tx.body;
  const std::string tx_id(tx.json.at("transactionId").as_string());
  const std::string cn_id(tx.json.at("connectionId").as_string());
  ASSERT_EQ(as_writer("/api/v1/query", {{"sql", "INSERT INTO ended_work VALUES (1)"}, {"transactionId", tx_id}}).status, 200u);

  // Busy: a statement is running on it.
  auto slow = std::async(std::launch::async, [&] {
    return as_writer("/api/v1/query", {{"sql", "SELECT pg_sleep(0.8)"}, {"transactionId", tx_id}});
  });
  std::this_thread::sleep_for(250ms);
  auto busy = svc.Request("DELETE", "/api/v1/connections/" + cn_id);
  EXPECT_EQ(busy.status, 409u) << busy.body;
  ASSERT_EQ(slow.get().status, 200u);

  EXPECT_EQ(svc.Request("DELETE", "/api/v1/connections/" + cn_id, {}, {}, writer.token).status, 403u)
      << "admin only";
  auto ended = svc.Request("DELETE", "/api/v1/connections/" + cn_id);
  ASSERT_EQ(ended.status, 200u) << ended.body;
  EXPECT_EQ(ended.json.at("ended"), true);
  EXPECT_EQ(ended.json.at("lease").at("transactionId"), json::value(tx_id));
  EXPECT_EQ(svc.Request("DELETE", "/api/v1/connections/" + cn_id).status, 404u);

  auto commit = as_writer("/api/v1/transaction/commit", {{"transactionId", tx_id}});
  EXPECT_EQ(commit.status, 410u) << commit.body;
  EXPECT_NE(commit.body.find("ended by an admin"), std::string::npos) << commit.body;
  auto rows = svc.Query({{"sql", "SELECT count(*)::int AS n FROM ended_work"}});
  ASSERT_EQ(rows.status, 200u) << rows.body;
  EXPECT_EQ(rows.json.at("rows").at(0).at("n"), 0) << "the insert was rolled back";
  EXPECT_TRUE(WaitPoolQuiet(svc, "postgresql", 3s));
  EXPECT_EQ(Stats(svc, "postgresql").at("expiredTotal"), 0) << "not counted as a leak";
  EXPECT_NE(svc.Output().find("lease ended by an admin"), std::string::npos);
}

TEST(Leases, SecondConcurrentRequestOnALeaseIsAConflict) {
  ServiceProcess svc;
  const std::string id = Id(Acquire(svc, "postgresql"));
  auto slow = std::async(std::launch::async, [&] { return OnLease(svc, id, "SELECT pg_sleep(0.8)"); });
  std::this_thread::sleep_for(200ms);
  auto second = OnLease(svc, id, "SELECT 1");
  EXPECT_EQ(second.status, 409u) << second.body;
  EXPECT_EQ(second.ErrorCode(), "CONFLICT");
  auto release_while_busy = svc.Post("/api/v1/connections/release", {{"connectionId", id}});
  EXPECT_EQ(release_while_busy.status, 409u) << release_while_busy.body;
  auto first = slow.get();
  EXPECT_EQ(first.status, 200u) << first.body;
  // The lease is intact afterwards.
  EXPECT_EQ(OnLease(svc, id, "SELECT 2 AS two").json.at("rows").at(0).at("two"), 2);
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 200u);
}

TEST(Leases, ForeignAndMalformedIdsAre404) {
  ServiceProcess svc(ServiceProcess::Env{{"COREDB_INSTANCE_ID", "here"}});
  auto other = OnLease(svc, "cn_there_0123456789abcdef0123456789abcdef", "SELECT 1");
  EXPECT_EQ(other.status, 404u);
  EXPECT_NE(other.body.find("there"), std::string::npos) << "says which instance owns it: " << other.body;
  EXPECT_EQ(OnLease(svc, "nonsense", "SELECT 1").status, 404u);
  EXPECT_EQ(OnLease(svc, std::string(5000, 'x'), "SELECT 1").status, 404u);
  auto tx = svc.Query({{"sql", "SELECT 1"}, {"transactionId", "tx_here_00"}});
  EXPECT_EQ(tx.status, 404u) << tx.body;
}

TEST(Leases, BadInputIs400AndCostsNothing) {
  ServiceProcess svc;
  auto post = [&](const char* body) { return svc.Request("POST", "/api/v1/connections/acquire", body,
                                                          {{"Content-Type", "application/json"}}); };
  for (const char* body : {R"({})", R"({"database":"mysql"})", R"({"database":"postgresql","timeout":-1})",
                           R"({"database":"postgresql","timeout":0})", R"({"database":"postgresql","ttl":-5})",
                           R"({"database":"postgresql","ttl":1000000000})", R"({"database":"postgresql","ttl":"1"})",
                           R"({"database":"postgresql","timeout":99999999})", R"({"database":"postgresql","tll":5})",
                           R"([1])"}) {
    auto r = post(body);
    EXPECT_EQ(r.status, 400u) << body << " → " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << body;
  }
  EXPECT_EQ(svc.Post("/api/v1/connections/release", json::object{}).status, 400u);
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", 5}}).status, 400u);
  // A SQL statement on a redis lease and a redis command on a SQL lease are refused clearly.
  const std::string pg = Id(Acquire(svc, "postgresql"));
  auto r = svc.Query({{"database", "redis"}, {"command", {"GET", "x"}}, {"connectionId", pg}});
  EXPECT_EQ(r.status, 400u) << r.body;
  auto wrong_db = svc.Query({{"database", "vector"}, {"sql", "SELECT 1"}, {"connectionId", pg}});
  EXPECT_EQ(wrong_db.status, 400u) << wrong_db.body;
  const std::string rd = Id(Acquire(svc, "redis"));
  EXPECT_EQ(OnLease(svc, rd, "SELECT 1").status, 400u);
  auto not_strings = svc.Query({{"database", "redis"}, {"command", {"SET", 1, 2}}, {"connectionId", rd}});
  EXPECT_EQ(not_strings.status, 400u) << not_strings.body;
  auto stats = Stats(svc, "postgresql");
  EXPECT_EQ(stats.at("leased"), 1);
  EXPECT_EQ(stats.at("acquiredTotal"), 1);
}

// What one lessee does to its session must not reach the next one: open transaction, SET,
// set_config, temp tables, advisory locks, LISTEN, prepared statements, cursors WITH HOLD.
void ExpectCleanSessionAfter(bool reclaim_by_expiry) {
  Psql admin(RequireEnv("PG_SUPERUSER_URL"));
  Psql app(RequireEnv("DATABASE_URL"));
  app.Exec("CREATE TABLE IF NOT EXISTS lease_hygiene (v int)");
  app.Exec("TRUNCATE lease_hygiene");
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "1"}});
  json::object extra;
  if (reclaim_by_expiry) extra["ttl"] = 300;
  const std::string first = Id(Acquire(svc, "postgresql", extra));
  auto pid = OnLease(svc, first, "SELECT pg_backend_pid() AS pid").json.at("rows").at(0).at("pid").as_int64();
  for (const char* sql : {"SET application_name = 'lessee-one'", "SET search_path TO pg_catalog, public",
                          "SELECT set_config('coredb.secret', 'lessee-one', false)",
                          "SELECT set_config('statement_timeout', '1234', false)",
                          "CREATE TEMP TABLE lessee_temp (x int)", "SELECT pg_advisory_lock(4242)",
                          "LISTEN lessee_channel", "PREPARE lessee_stmt AS SELECT 1",
                          "BEGIN", "DECLARE lessee_cursor CURSOR WITH HOLD FOR SELECT 1",
                          "INSERT INTO public.lease_hygiene VALUES (1)"}) {
    auto r = OnLease(svc, first, sql);
    ASSERT_EQ(r.status, 200u) << sql << " → " << r.body;
  }
  auto listed = svc.Get("/api/v1/connections");
  EXPECT_EQ(listed.json.at("leases").at(0).at("inTransaction"), true) << listed.body;
  if (reclaim_by_expiry) {
    std::this_thread::sleep_for(800ms);
    EXPECT_EQ(OnLease(svc, first, "SELECT 1").status, 410u);
  } else {
    ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", first}}).status, 200u);
  }

  const std::string second = Id(Acquire(svc, "postgresql", {{"timeout", 5000}}));
  auto q = OnLease(svc, second,
                   "SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app, "
                   "current_setting('search_path') AS path, current_setting('coredb.secret', true) AS secret, "
                   "current_setting('statement_timeout') AS timeout, to_regclass('pg_temp.lessee_temp') AS temp, "
                   "(SELECT count(*) FROM pg_listening_channels()) AS listening, "
                   "(SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^coredb_s[0-9]+$') AS prepared, "
                   "(SELECT count(*) FROM pg_cursors WHERE name <> '') AS cursors");
  ASSERT_EQ(q.status, 200u) << q.body;
  const auto& row = q.json.at("rows").at(0);
  EXPECT_EQ(row.at("pid").as_int64(), pid) << "same backend reused (pool of 1)";
  EXPECT_EQ(row.at("app"), "coredb");
  EXPECT_EQ(row.at("path"), "\"$user\", public");
  EXPECT_TRUE(row.at("secret").is_null() || row.at("secret") == "") << row;
  EXPECT_NE(row.at("timeout"), "1234ms");
  EXPECT_TRUE(row.at("temp").is_null());
  EXPECT_EQ(row.at("listening"), "0");
  EXPECT_EQ(row.at("prepared"), "0");
  EXPECT_EQ(row.at("cursors"), "0");
  // No transaction block carried over: SAVEPOINT outside one is refused (25P01).
  auto savepoint = OnLease(svc, second, "SAVEPOINT probe");
  EXPECT_EQ(savepoint.status, 400u) << savepoint.body;
  EXPECT_EQ(savepoint.json.at("error").at("sqlstate"), "25P01") << savepoint.body;
  EXPECT_EQ(admin.Scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), "0");
  EXPECT_EQ(admin.Scalar("SELECT count(*) FROM lease_hygiene"), "0") << "the open transaction was rolled back";
  ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", second}}).status, 200u);
}

TEST(LeaseHygiene, ReleasedConnectionCarriesNothingOver) { ExpectCleanSessionAfter(false); }
TEST(LeaseHygiene, ReclaimedConnectionCarriesNothingOver) { ExpectCleanSessionAfter(true); }

TEST(RedisLeases, MultiExecAndWatchOnALeaseAndNothingLeaksToTheNext) {
  ServiceProcess svc(ServiceProcess::Env{{"REDIS_POOL_SIZE", "1"}});
  auto cmd = [&](const std::string& id, json::array command) {
    json::object body{{"database", "redis"}, {"command", command}};
    if (!id.empty()) body["connectionId"] = id;
    return svc.Query(body);
  };
  // MULTI needs a lease: the shared connection refuses it.
  EXPECT_EQ(cmd("", {"MULTI"}).status, 400u);

  const std::string a = Id(Acquire(svc, "redis"));
  ASSERT_EQ(cmd(a, {"DEL", "lease:k"}).status, 200u);
  ASSERT_EQ(cmd(a, {"MULTI"}).json.at("result"), "OK");
  EXPECT_EQ(cmd(a, {"SET", "lease:k", "v1"}).json.at("result"), "QUEUED");
  EXPECT_EQ(cmd(a, {"INCR", "lease:n"}).json.at("result"), "QUEUED");
  auto exec = cmd(a, {"EXEC"});
  ASSERT_EQ(exec.status, 200u) << exec.body;
  EXPECT_EQ(exec.json.at("result").at(0), "OK");
  EXPECT_TRUE(exec.json.at("result").at(1).is_int64());
  EXPECT_TRUE(exec.json.as_object().contains("expiresAt"));

  // WATCH + a concurrent write from the shared connection: EXEC aborts (nil).
  ASSERT_EQ(cmd(a, {"WATCH", "lease:k"}).status, 200u);
  ASSERT_EQ(cmd("", {"SET", "lease:k", "other"}).status, 200u);
  ASSERT_EQ(cmd(a, {"MULTI"}).status, 200u);
  ASSERT_EQ(cmd(a, {"SET", "lease:k", "mine"}).status, 200u);
  EXPECT_TRUE(cmd(a, {"EXEC"}).json.at("result").is_null());
  EXPECT_EQ(cmd("", {"GET", "lease:k"}).json.at("result"), "other");

  // Leave a MULTI open with a queued write, and release: the write must never happen.
  ASSERT_EQ(cmd(a, {"MULTI"}).status, 200u);
  ASSERT_EQ(cmd(a, {"SET", "lease:k", "leaked"}).status, 200u);
  ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", a}}).status, 200u);
  const std::string b = Id(Acquire(svc, "redis"));
  auto exec_again = cmd(b, {"EXEC"});
  EXPECT_EQ(exec_again.status, 400u) << "no MULTI carried over: " << exec_again.body;
  EXPECT_EQ(exec_again.ErrorCode(), "QUERY_ERROR");
  EXPECT_EQ(cmd(b, {"GET", "lease:k"}).json.at("result"), "other");
  // Still refused on a lease: commands that change the connection itself.
  EXPECT_EQ(cmd(b, {"SELECT", "3"}).status, 400u);
  EXPECT_EQ(cmd(b, {"SUBSCRIBE", "c"}).status, 400u);
  ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", b}}).status, 200u);
  auto stats = Stats(svc, "redis");
  EXPECT_EQ(stats.at("max"), 1);
  EXPECT_EQ(stats.at("acquiredTotal"), 2);
  EXPECT_EQ(stats.at("releasedTotal"), 2);
}

TEST(VectorLeases, AVectorLeaseRunsSql) {
  ServiceProcess svc;
  const std::string id = Id(Acquire(svc, "vector"));
  auto r = svc.Query({{"sql", "SELECT '[1,2,3]'::vector AS v"}, {"connectionId", id}, {"database", "vector"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("rows").at(0).at("v"), json::parse("[1,2,3]"));
  EXPECT_EQ(Stats(svc, "vector").at("leased"), 1);
  // A transaction on the vector lease: the lease's database is implied.
  auto begun = svc.Post("/api/v1/transaction/begin", {{"connectionId", id}});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  auto in_tx = svc.Query({{"sql", "SELECT 1 AS one"}, {"transactionId", begun.json.at("transactionId")}});
  EXPECT_EQ(in_tx.status, 200u) << in_tx.body;
  EXPECT_EQ(svc.Post("/api/v1/transaction/rollback", {{"transactionId", begun.json.at("transactionId")}}).status,
            200u);
  auto wrong = svc.Post("/api/v1/transaction/begin", {{"connectionId", id}, {"database", "postgresql"}});
  EXPECT_EQ(wrong.status, 400u) << wrong.body;
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 200u);
}

TEST(Pools, StatsShapeAndResizeAtRunTime) {
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "4"}});
  auto all = svc.Get("/api/v1/connections/stats");
  ASSERT_EQ(all.status, 200u);
  for (const char* db : {"postgresql", "redis", "vector"}) {
    const auto& s = all.json.at(db).as_object();
    for (const char* key : {"max", "size", "active", "idle", "leased", "waiting", "utilization", "acquiredTotal",
                            "releasedTotal", "expiredTotal", "timeoutsTotal"}) {
      EXPECT_TRUE(s.contains(key)) << db << " lacks " << key;
    }
  }
  EXPECT_EQ(all.json.at("postgresql").at("max"), 4);
  const std::string a = Id(Acquire(svc, "postgresql"));
  const std::string b = Id(Acquire(svc, "postgresql"));
  auto s = Stats(svc, "postgresql");
  EXPECT_EQ(s.at("active"), 2);
  EXPECT_DOUBLE_EQ(s.at("utilization").to_number<double>(), 0.5);

  // Shrinking below the busy count drops no busy connection: the leases keep working.
  auto patched = svc.Request("PATCH", "/api/v1/pools/postgresql", R"({"size":1,"idleTimeout":5000})",
                             {{"Content-Type", "application/json"}});
  ASSERT_EQ(patched.status, 200u) << patched.body;
  EXPECT_EQ(patched.json.at("max"), 1);
  EXPECT_EQ(patched.json.at("idleTimeout"), 5000);
  EXPECT_EQ(OnLease(svc, a, "SELECT 1").status, 200u);
  EXPECT_EQ(OnLease(svc, b, "SELECT 1").status, 200u);
  ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", a}}).status, 200u);
  ASSERT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", b}}).status, 200u);
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (Stats(svc, "postgresql").at("size").as_int64() > 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_LE(Stats(svc, "postgresql").at("size").as_int64(), 1);

  for (const char* body : {R"({"size":0})", R"({"size":100000})", R"({"idleTimeout":5})", R"({})",
                           R"({"size":"3"})", R"({"sise":3})"}) {
    auto r = svc.Request("PATCH", "/api/v1/pools/postgresql", body, {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400u) << body << " → " << r.body;
  }
  EXPECT_EQ(svc.Request("PATCH", "/api/v1/pools/mysql", R"({"size":2})", {{"Content-Type", "application/json"}}).status,
            404u);
  auto redis = svc.Request("PATCH", "/api/v1/pools/redis", R"({"size":3})", {{"Content-Type", "application/json"}});
  ASSERT_EQ(redis.status, 200u) << redis.body;
  EXPECT_EQ(redis.json.at("max"), 3);
}

}  // namespace
}  // namespace coredb::testing
