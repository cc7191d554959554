// Black-box tests of cache-aside queries (API.md "Queries": `cache` and `invalidate`): the built
// binary over HTTP against the dev stack's PostgreSQL and Redis, with the three "Must hold" of
// issue 5 — single-flight counted in PostgreSQL, a Redis kill under load, and no stale read after
// an invalidating write — and the bad input.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long long ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::string Unique(const std::string& what) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Short enough for a PostgreSQL identifier (63 bytes) whatever the test's name.
  return what + "_" + std::to_string(std::hash<std::string>{}(info->name()) % 1000000) + "_" +
         std::to_string(::getpid());
}

// Restarts the stack's Redis when the test ends, whatever happened.
class RedisKillGuard {
 public:
  RedisKillGuard() = default;
  RedisKillGuard(const RedisKillGuard&) = delete;
  RedisKillGuard& operator=(const RedisKillGuard&) = delete;
  ~RedisKillGuard() {
    if (!killed_) return;
    try {
      Devstack("redis-start");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not restart redis: " << e.what();
    }
  }
  void Kill() {
    killed_ = true;
    Devstack("redis-kill");
  }
  void Start() {
    Devstack("redis-start");
    killed_ = false;
  }

 private:
  bool killed_ = false;
};

// Freezes the stack's Redis (SIGSTOP: it keeps its data but answers nothing) and thaws it at the
// end of the test, whatever happened.
class RedisFreezeGuard {
 public:
  RedisFreezeGuard() {
    std::ifstream in(RequireEnv("COREDB_DEVSTACK_DIR") + "/run/redis.pid");
    in >> pid_;
  }
  RedisFreezeGuard(const RedisFreezeGuard&) = delete;
  RedisFreezeGuard& operator=(const RedisFreezeGuard&) = delete;
  ~RedisFreezeGuard() { Thaw(); }
  bool Freeze() {
    frozen_ = pid_ > 0 && ::kill(pid_, SIGSTOP) == 0;
    return frozen_;
  }
  void Thaw() {
    if (frozen_) ::kill(pid_, SIGCONT);
    frozen_ = false;
  }

 private:
  pid_t pid_ = -1;
  bool frozen_ = false;
};

class QueryCache : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = std::make_unique<Psql>(RequireEnv("DATABASE_URL"));
    table_ = Unique("qc");
    app_->Exec("CREATE TABLE " + table_ + " (id int PRIMARY KEY, v text NOT NULL)");
    app_->Exec("INSERT INTO " + table_ + " SELECT g, 'v' || g FROM generate_series(1, 200) g");
  }
  void TearDown() override { app_->Exec("DROP TABLE IF EXISTS " + table_); }

  json::object Read(int id, const std::string& tag = {}) const {
    json::object cache{{"ttl", 600}};
    if (!tag.empty()) cache["tags"] = json::array{json::value(tag)};
    return {{"sql", "SELECT v FROM " + table_ + " WHERE id = $1"}, {"params", json::array{id}}, {"cache", cache}};
  }
  json::object Write(int id, const std::string& value, json::object invalidate) const {
    return {{"sql", "UPDATE " + table_ + " SET v = $2 WHERE id = $1"},
            {"params", json::array{id, json::value(value)}},
            {"invalidate", std::move(invalidate)}};
  }
  static std::string ValueOf(const HttpResult& r) {
    if (r.status != 200 || !r.json.is_object()) return "<" + std::to_string(r.status) + " " + r.body + ">";
    return std::string(r.json.at("rows").at(0).at("v").as_string());
  }
  static bool Cached(const HttpResult& r) {
    return r.json.is_object() && r.json.as_object().contains("cached") && r.json.at("cached") == json::value(true);
  }

  std::unique_ptr<Psql> app_;
  std::string table_;
};

TEST_F(QueryCache, MissStoresHitServesTheSameBodyWithCachedTrue) {
  ServiceProcess svc;
  auto first = svc.Query(Read(7));
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_FALSE(first.json.as_object().contains("cached"));
  auto second = svc.Query(Read(7));
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_TRUE(Cached(second)) << second.body;
  for (const char* member : {"rows", "rowCount", "command", "fields"}) {
    EXPECT_EQ(first.json.at(member), second.json.at(member)) << member;
  }
  EXPECT_TRUE(second.json.as_object().contains("duration"));
  // Another rowMode, other params: other default keys.
  json::object array_mode = Read(7);
  array_mode["rowMode"] = "array";
  auto third = svc.Query(array_mode);
  ASSERT_EQ(third.status, 200u);
  EXPECT_FALSE(Cached(third));
  EXPECT_EQ(third.json.at("rows"), (json::array{json::array{"v7"}}));
  EXPECT_FALSE(Cached(svc.Query(Read(8))));

  // An explicit key is the key: readable through the cache API, invalidated by its pattern.
  const std::string key = Unique("qc:explicit");
  json::object explicit_key = Read(9);
  explicit_key["cache"].as_object()["key"] = key;
  ASSERT_FALSE(Cached(svc.Query(explicit_key)));
  auto entry = svc.Get("/api/v1/cache/" + key);
  ASSERT_EQ(entry.status, 200u) << entry.body;
  EXPECT_EQ(entry.json.at("value").at("rows"), (json::array{json::object{{"v", "v9"}}}));
  EXPECT_TRUE(Cached(svc.Query(explicit_key)));
  svc.Request("DELETE", "/api/v1/cache/" + key);
}

TEST_F(QueryCache, HundredConcurrentColdMissesRunTheStatementOnceCountedInPostgres) {
  // A plpgsql function is never inlined: each run of the statement is one call, which PostgreSQL
  // counts in pg_stat_user_functions once track_functions covers it (a superuser setting).
  Psql admin(RequireEnv("PG_SUPERUSER_URL"));
  const std::string db = app_->Scalar("SELECT current_database()");
  admin.Exec("ALTER DATABASE \"" + db + "\" SET track_functions = 'pl'");
  const std::string fn = Unique("qc_probe");
  app_->Exec("CREATE FUNCTION " + fn +
             "(x int) RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN x; END $$");
  {
    ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "20"}});  // started after the setting: its sessions track
    const json::object query{{"sql", "SELECT " + fn + "($1) AS v, $2::text AS run"},
                             {"params", json::array{42, json::value(Unique("run"))}},
                             {"cache", {{"ttl", 60}}}};
    constexpr int kClients = 100;
    std::vector<HttpResult> results(kClients);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        while (!go.load()) std::this_thread::yield();
        results[i] = svc.Query(query);
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    int ok = 0, cached = 0;
    for (const auto& r : results) {
      if (r.status == 200 && r.json.at("rows").at(0).at("v") == json::value(42)) ++ok;
      if (Cached(r)) ++cached;
    }
    EXPECT_EQ(ok, kClients);
    auto after = svc.Query(query);
    EXPECT_TRUE(Cached(after)) << after.body;
    std::printf("[ info ] %d concurrent cold requests: %d answered from the cache, the others by the load\n", kClients,
                cached);
    // Sessions flush their statistics when they end: stop the service first.
    EXPECT_EQ(svc.Terminate(), 0);
  }
  std::string calls = "0";
  const auto started = Clock::now();
  while (ElapsedMs(started) < 5000) {
    calls =
        admin.Scalar("SELECT coalesce((SELECT calls FROM pg_stat_user_functions WHERE funcname = '" + fn + "'), 0)");
    if (calls != "0") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(calls, "1") << "the statement ran " << calls << " times in PostgreSQL";
  admin.Exec("ALTER DATABASE \"" + db + "\" RESET track_functions");
  app_->Exec("DROP FUNCTION " + fn + "(int)");
}

TEST_F(QueryCache, WritesAreNeverCachedPostgresRefusesThemInReadOnly) {
  ServiceProcess svc;
  const std::string seq = Unique("qc_seq");
  app_->Exec("CREATE SEQUENCE " + seq);
  const std::vector<std::string> writes = {
      "UPDATE " + table_ + " SET v = 'changed' WHERE id = 1 RETURNING v",
      "INSERT INTO " + table_ + " VALUES (1000, 'x') RETURNING id",
      "DELETE FROM " + table_ + " WHERE id = 2 RETURNING id",
      "SELECT nextval('" + seq + "')",
      "WITH d AS (DELETE FROM " + table_ + " WHERE id = 3 RETURNING id) SELECT * FROM d",
      "CREATE TABLE " + table_ + "_new (x int)",
  };
  for (const auto& sql : writes) {
    auto r = svc.Query({{"sql", sql}, {"cache", {{"ttl", 60}}}});
    EXPECT_EQ(r.status, 400u) << sql << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << sql;
    EXPECT_NE(r.body.find("cache applies to reads only"), std::string::npos) << r.body;
  }
  EXPECT_EQ(app_->Scalar("SELECT v FROM " + table_ + " WHERE id = 1"), "v1");
  EXPECT_EQ(app_->Scalar("SELECT count(*) FROM " + table_), "200");
  EXPECT_EQ(app_->Scalar("SELECT last_value || ',' || is_called FROM " + seq), "1,false") << "nextval did not run";
  EXPECT_EQ(app_->Scalar("SELECT to_regclass('" + table_ + "_new') IS NULL"), "t");
  // The pool's connections stay usable after refusals.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(svc.Query({{"sql", "SELECT 1 AS one"}}).status, 200u);
  app_->Exec("DROP SEQUENCE " + seq);
}

TEST_F(QueryCache, BadInputGetsA400AndWritesNothing) {
  ServiceProcess svc;
  const std::string sql = "SELECT v FROM " + table_ + " WHERE id = 1";
  const std::string long_key(1025, 'k');
  const std::vector<json::object> bad = {
      {{"sql", sql}, {"cache", {{"ttl", 0}}}},
      {{"sql", sql}, {"cache", {{"ttl", 2592001}}}},
      {{"sql", sql}, {"cache", {{"ttl", 1.5}}}},
      {{"sql", sql}, {"cache", {{"ttl", "60"}}}},
      {{"sql", sql}, {"cache", json::object{}}},
      {{"sql", sql}, {"cache", 60}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"key", ""}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"key", long_key}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"key", "__coredb:epoch"}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"tags", json::array{1}}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"tags", "t"}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}, {"other", 1}}}},
      {{"sql", sql}, {"invalidate", "t"}},
      {{"sql", sql}, {"invalidate", {{"tags", json::array{nullptr}}}}},
      {{"sql", sql}, {"invalidate", {{"keys", json::array{""}}}}},
      {{"sql", sql}, {"invalidate", {{"keys", "x*"}}}},
      {{"sql", sql}, {"invalidate", {{"pattern", "x*"}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}}}, {"invalidate", {{"tags", json::array{"t"}}}}},
      {{"sql", sql}, {"cache", {{"ttl", 60}}}, {"connectionId", "cn_x_0"}},
      {{"sql", sql}, {"cache", {{"ttl", 60}}}, {"transactionId", "tx_x_0"}},
      {{"database", "redis"}, {"command", json::array{"GET", "k"}}, {"cache", {{"ttl", 60}}}},
      {{"database", "redis"}, {"command", json::array{"DEL", "k"}}, {"invalidate", {{"tags", json::array{"t"}}}}},
  };
  for (const auto& body : bad) {
    auto r = svc.Query(body);
    EXPECT_EQ(r.status, 400u) << json::serialize(body) << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << json::serialize(body);
  }
  // A write with a bad `invalidate` is refused before it runs.
  auto w = svc.Query(Write(1, "nope", {{"keys", json::array{""}}}));
  EXPECT_EQ(w.status, 400u);
  auto star = svc.Query(Write(1, "nope", {{"keys", json::array{"*"}}}));  // admin token: allowed
  EXPECT_EQ(star.status, 200u) << star.body;
  app_->Exec("UPDATE " + table_ + " SET v = 'v1' WHERE id = 1");
  auto c = svc.Query({{"sql", "UPDATE " + table_ + " SET v = 'cached' WHERE id = 1"}, {"cache", {{"ttl", 60}}}});
  EXPECT_EQ(c.status, 400u);
  EXPECT_EQ(app_->Scalar("SELECT v FROM " + table_ + " WHERE id = 1"), "v1") << "nothing written";
}

TEST_F(QueryCache, ReadOnlyClientMayCacheButNotInvalidateAndPrefixesBindExplicitKeys) {
  ServiceProcess svc;
  // Clients live in migration 3: migrate the shared database for this test, and put it back
  // as it was afterwards (roll back exactly what this test applied).
  auto migrated = svc.Post("/api/v1/migrations/run", json::object{});
  ASSERT_EQ(migrated.status, 200u) << migrated.body;
  struct Undo {
    ServiceProcess& svc;
    std::size_t steps;
    ~Undo() {
      if (steps > 0) svc.Post("/api/v1/migrations/rollback", json::object{{"steps", steps}});
    }
  } undo{svc, migrated.json.at("applied").as_array().size()};
  auto made =
      svc.Post("/api/v1/clients",
               {{"name", Unique("ro")}, {"scopes", json::array{"read"}}, {"cachePrefixes", json::array{"ro:"}}});
  if (made.status == 404) GTEST_SKIP() << "no client API in this build";
  ASSERT_EQ(made.status, 201u) << made.body;
  const std::string token(made.json.at("token").as_string());
  auto as_ro = [&](const json::object& body) {
    return svc.Request("POST", "/api/v1/query", json::serialize(body), {{"Content-Type", "application/json"}}, token);
  };
  EXPECT_EQ(as_ro(Read(4)).status, 200u);  // the default key is allowed
  json::object outside = Read(4);
  outside["cache"].as_object()["key"] = "elsewhere:4";
  EXPECT_EQ(as_ro(outside).status, 403u);
  EXPECT_EQ(as_ro(Write(4, "x", {{"tags", json::array{"t"}}})).status, 403u);
}

// Must hold: a cached entry is never served after the write that invalidated it has returned.
TEST_F(QueryCache, NoStaleReadAfterAnInvalidatingWriteReturned) {
  ServiceProcess svc;
  const std::string tag = Unique("row1");
  // Sequential: tags, key patterns (the default key is not known to the writer: explicit key).
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(ValueOf(svc.Query(Read(1, tag))), i == 0 ? "v1" : "w" + std::to_string(i - 1));
    ASSERT_TRUE(Cached(svc.Query(Read(1, tag))));
    ASSERT_EQ(svc.Query(Write(1, "w" + std::to_string(i), {{"tags", json::array{json::value(tag)}}})).status, 200u);
    ASSERT_EQ(ValueOf(svc.Query(Read(1, tag))), "w" + std::to_string(i)) << "round " << i;
  }
  const std::string key = Unique("qc:row") + ":2";
  json::object by_key = Read(2);
  by_key["cache"].as_object()["key"] = key;
  ASSERT_EQ(ValueOf(svc.Query(by_key)), "v2");
  ASSERT_TRUE(Cached(svc.Query(by_key)));
  ASSERT_EQ(svc.Query(Write(2, "k1", {{"keys", json::array{json::value(Unique("qc:row") + ":*")}}})).status, 200u);
  EXPECT_EQ(ValueOf(svc.Query(by_key)), "k1");

  // Concurrent: readers hammer the cached read (loads in flight race with the writes); a read
  // sent after write n returned must see n or later.
  app_->Exec("UPDATE " + table_ + " SET v = '0' WHERE id = 1");
  svc.Query(Write(1, "0", {{"tags", json::array{json::value(tag)}}}));
  std::atomic<int> returned{0};
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, stale{0}, failed{0}, hits{0};
  std::string first_stale;
  std::mutex mutex;
  std::vector<std::thread> readers;
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const int floor = returned.load();
        auto res = svc.Query(Read(1, tag));
        ++reads;
        if (res.status != 200) {
          ++failed;
          continue;
        }
        if (Cached(res)) ++hits;
        const int seen = std::stoi(ValueOf(res));
        if (seen < floor) {
          ++stale;
          std::lock_guard lock(mutex);
          if (first_stale.empty()) first_stale = std::to_string(seen) + " after write " + std::to_string(floor);
        }
      }
    });
  }
  for (int n = 1; n <= 60; ++n) {
    auto w = svc.Query(Write(1, std::to_string(n), {{"tags", json::array{json::value(tag)}}}));
    ASSERT_EQ(w.status, 200u) << w.body;
    returned = n;
    std::this_thread::sleep_for(5ms);
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(stale.load(), 0) << "first stale read: " << first_stale;
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(hits.load(), 0) << "the readers were served from the cache at least sometimes";
  std::printf("[ info ] 60 writes, %d concurrent cached reads (%d hits), %d stale\n", reads.load(), hits.load(),
              stale.load());
}

TEST_F(QueryCache, InvalidationInATransactionWaitsForTheCommitAndRollbackDropsIt) {
  ServiceProcess svc;
  const std::string tag = Unique("row5");
  ASSERT_EQ(ValueOf(svc.Query(Read(5, tag))), "v5");
  auto begun = svc.Post("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const json::value tx = begun.json.at("transactionId");
  json::object write = Write(5, "t1", {{"tags", json::array{json::value(tag)}}});
  write["transactionId"] = tx;
  ASSERT_EQ(svc.Query(write).status, 200u);
  // Not committed: the entry is still there (nothing was invalidated before the commit).
  auto during = svc.Query(Read(5, tag));
  EXPECT_TRUE(Cached(during)) << during.body;
  EXPECT_EQ(ValueOf(during), "v5");
  ASSERT_EQ(svc.Post("/api/v1/transaction/commit", {{"transactionId", tx}}).status, 200u);
  auto after = svc.Query(Read(5, tag));
  EXPECT_EQ(ValueOf(after), "t1");
  EXPECT_FALSE(Cached(after));

  // Rolled back: the queued invalidation is dropped (the entry stays cached and is right).
  ASSERT_TRUE(Cached(svc.Query(Read(5, tag))));
  auto begun2 = svc.Post("/api/v1/transaction/begin", json::object{});
  const json::value tx2 = begun2.json.at("transactionId");
  write = Write(5, "t2", {{"tags", json::array{json::value(tag)}}});
  write["transactionId"] = tx2;
  ASSERT_EQ(svc.Query(write).status, 200u);
  ASSERT_EQ(svc.Post("/api/v1/transaction/rollback", {{"transactionId", tx2}}).status, 200u);
  auto kept = svc.Query(Read(5, tag));
  EXPECT_TRUE(Cached(kept));
  EXPECT_EQ(ValueOf(kept), "t1");

  // A lease's BEGIN/COMMIT sent as SQL: applied when the block ends.
  auto lease = svc.Post("/api/v1/connections/acquire", json::object{});
  if (lease.status == 200u) {
    const json::value cn = lease.json.at("connectionId");
    ASSERT_EQ(svc.Query({{"sql", "BEGIN"}, {"connectionId", cn}}).status, 200u);
    write = Write(5, "t3", {{"tags", json::array{json::value(tag)}}});
    write["connectionId"] = cn;
    ASSERT_EQ(svc.Query(write).status, 200u);
    EXPECT_TRUE(Cached(svc.Query(Read(5, tag))));
    ASSERT_EQ(svc.Query({{"sql", "COMMIT"}, {"connectionId", cn}}).status, 200u);
    EXPECT_EQ(ValueOf(svc.Query(Read(5, tag))), "t3");
    svc.Post("/api/v1/connections/release", {{"connectionId", cn}});
  }
}

// A write whose invalidation cannot reach Redis (frozen: it keeps the stale entry) still answers,
// and the stale entry is not served once Redis answers again.
TEST_F(QueryCache, FailedInvalidationIsRememberedAndNoStaleEntryIsServedAfterRedisReturns) {
  ServiceProcess svc(ServiceProcess::Env{{"REDIS_COMMAND_TIMEOUT", "200"}});
  const std::string tag = Unique("row6");
  ASSERT_EQ(ValueOf(svc.Query(Read(6, tag))), "v6");
  ASSERT_TRUE(Cached(svc.Query(Read(6, tag))));
  RedisFreezeGuard redis;
  ASSERT_TRUE(redis.Freeze());
  const auto started = Clock::now();
  auto w = svc.Query(Write(6, "fresh", {{"tags", json::array{json::value(tag)}}}));
  EXPECT_EQ(w.status, 200u) << w.body;
  EXPECT_LT(ElapsedMs(started), 1500);
  // While Redis is frozen: reads bypass it (correct, and bounded by the command timeout).
  EXPECT_EQ(ValueOf(svc.Query(Read(6, tag))), "fresh");
  redis.Thaw();
  for (int i = 0; i < 30; ++i) {
    auto r = svc.Query(Read(6, tag));
    ASSERT_EQ(ValueOf(r), "fresh") << "read " << i << " after redis came back";
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(Cached(svc.Query(Read(6, tag)))) << "the cache is used again";
}

// Must hold: Redis killed while 50 clients read through the cache.
TEST_F(QueryCache, RedisKilledUnderFiftyReadersNothingFailsNothingWaitsThenCacheReturns) {
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "10"}});
  constexpr int kClients = 50;
  auto plain_of = [&](int id) {
    return json::object{{"sql", "SELECT v FROM " + table_ + " WHERE id = $1"}, {"params", json::array{id}}};
  };
  // Runs kClients readers for `duration`; returns every latency; counts failures; `during`
  // runs on the test thread meanwhile.
  auto load = [&](bool cached, std::chrono::milliseconds duration, const std::function<void()>& during, int& failures) {
    std::vector<std::vector<long long>> latencies(kClients);
    std::atomic<bool> stop{false};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int c = 0; c < kClients; ++c) {
      threads.emplace_back([&, c] {
        for (int i = 0; !stop.load(); ++i) {
          const int id = 1 + (c * 7 + i) % 100;
          const auto t0 = Clock::now();
          auto r = svc.Query(cached ? Read(id) : plain_of(id));
          latencies[c].push_back(ElapsedMs(t0));
          if (r.status != 200 || ValueOf(r) != "v" + std::to_string(id)) ++failed;
        }
      });
    }
    const auto t0 = Clock::now();
    if (during) during();
    const auto left = duration - (Clock::now() - t0);
    if (left > Clock::duration::zero()) std::this_thread::sleep_for(left);
    stop = true;
    for (auto& t : threads) t.join();
    failures = failed.load();
    std::vector<long long> all;
    for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
    std::sort(all.begin(), all.end());
    return all;
  };
  auto pct = [](const std::vector<long long>& v, double p) {
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  int failures = 0;
  const auto plain = load(false, 2000ms, nullptr, failures);
  ASSERT_EQ(failures, 0);
  const auto warm = load(true, 1000ms, nullptr, failures);  // fills the cache
  ASSERT_EQ(failures, 0);

  RedisKillGuard redis;
  const auto outage = load(
      true, 3000ms,
      [&] {
        std::this_thread::sleep_for(500ms);
        redis.Kill();
      },
      failures);
  EXPECT_EQ(failures, 0) << "requests failed while redis was killed";
  const long long plain_max = plain.back(), outage_max = outage.back();
  EXPECT_LE(outage_max, plain_max + 100) << "a cached read waited more than 100 ms longer than the slowest plain "
                                            "query (p50 plain "
                                         << pct(plain, 0.5) << " ms, outage p50 " << pct(outage, 0.5) << " ms)";

  redis.Start();
  const auto restarted = Clock::now();
  bool used = false;
  while (!used && ElapsedMs(restarted) < 10000) {
    used = Cached(svc.Query(Read(150)));
    if (!used) std::this_thread::sleep_for(20ms);
  }
  const long long recovery = ElapsedMs(restarted);
  EXPECT_TRUE(used);
  EXPECT_LT(recovery, 5000) << "the cache was used again " << recovery << " ms after redis-start";
  std::printf(
      "[ info ] %d readers: plain p50/p99/max %lld/%lld/%lld ms (%zu requests); warm cached p50 %lld ms; redis "
      "killed: p50/p99/max %lld/%lld/%lld ms (%zu requests, %d failed); cache used again %lld ms after restart\n",
      kClients, pct(plain, 0.5), pct(plain, 0.99), plain_max, plain.size(), pct(warm, 0.5), pct(outage, 0.5),
      pct(outage, 0.99), outage_max, outage.size(), failures, recovery);
}

}  // namespace
}  // namespace coredb::testing
