// Black-box tests of the cache endpoints (API.md "Cache"): the built binary over HTTP, against
// the dev stack's Redis, including bad input and a Redis kill drill.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <cctype>
#include <cstdio>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long long ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::string Prefix() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("coredb:http:") + info->name() + ":" + std::to_string(::getpid()) + ":";
}

// Percent-encodes everything but unreserved characters.
std::string Encode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Url(const std::string& key) { return "/api/v1/cache/" + Encode(key); }

HttpResult Put(ServiceProcess& svc, const std::string& key, const json::value& body) {
  return svc.Request("PUT", Url(key), json::serialize(body));
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
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not restart redis: " << e.what();
    }
  }
  void Kill() { Devstack("redis-kill"); }
  void Start() {
    Devstack("redis-start");
    started_ = true;
  }

 private:
  bool started_ = false;
};

TEST(CacheApi, PutGetDeleteRoundTrip) {
  ServiceProcess svc;
  const std::string key = Prefix() + "user:email:a@b.c/x é";
  const json::value value = json::parse(R"({"id":"u1","apiKeys":[{"id":1,"revoked":false}],"score":1.5,"none":null})");
  auto put = Put(svc, key, {{"value", value}, {"ttl", 120}});
  ASSERT_EQ(put.status, 200u) << put.body;
  EXPECT_EQ(put.json, (json::value{{"key", key}, {"ttl", 120}}));

  auto get = svc.Get(Url(key));
  ASSERT_EQ(get.status, 200u) << get.body;
  EXPECT_EQ(get.json.at("key"), json::value(key));
  EXPECT_EQ(get.json.at("value"), value);
  EXPECT_GE(get.json.at("ttl").as_int64(), 119);
  EXPECT_LE(get.json.at("ttl").as_int64(), 120);

  auto del = svc.Request("DELETE", Url(key));
  ASSERT_EQ(del.status, 200u) << del.body;
  EXPECT_EQ(del.json, (json::value{{"deleted", true}}));
  auto gone = svc.Get(Url(key));
  EXPECT_EQ(gone.status, 404u);
  EXPECT_EQ(gone.ErrorCode(), "NOT_FOUND");
  auto del_again = svc.Request("DELETE", Url(key));
  EXPECT_EQ(del_again.status, 404u);
  EXPECT_EQ(del_again.ErrorCode(), "NOT_FOUND");
}

TEST(CacheApi, TtlDefaultsToAnHourAndEveryJsonValueRoundTrips) {
  ServiceProcess svc;
  const std::string p = Prefix();
  const std::vector<json::value> values = {nullptr,
                                           true,
                                           0,
                                           -12.75,
                                           "text \"quoted\" \u00e9",
                                           json::array{1, "a", nullptr},
                                           json::object{{"deep", json::object{{"er", json::array{json::object{}}}}}}};
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string key = p + std::to_string(i);
    auto put = Put(svc, key, {{"value", values[i]}});
    ASSERT_EQ(put.status, 200u) << put.body;
    EXPECT_EQ(put.json.at("ttl"), json::value(3600));
    auto get = svc.Get(Url(key));
    ASSERT_EQ(get.status, 200u) << get.body;
    EXPECT_EQ(get.json.at("value"), values[i]) << get.body;
    EXPECT_GE(get.json.at("ttl").as_int64(), 3595);
  }
  auto wipe = svc.Post("/api/v1/cache/invalidate", {{"pattern", p + "*"}});
  EXPECT_EQ(wipe.json.at("deleted"), json::value(static_cast<std::int64_t>(values.size())));
}

TEST(CacheApi, UnknownKeyIs404) {
  ServiceProcess svc;
  auto get = svc.Get(Url(Prefix() + "never-written"));
  EXPECT_EQ(get.status, 404u);
  EXPECT_EQ(get.ErrorCode(), "NOT_FOUND");
}

TEST(CacheApi, BadInputGetsASpecific4xx) {
  ServiceProcess svc;
  const std::string key = Prefix() + "k";
  auto expect = [&](const HttpResult& r, unsigned status, const std::string& code, const std::string& what) {
    EXPECT_EQ(r.status, status) << what << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), code) << what << ": " << r.body;
  };
  expect(svc.Request("PUT", Url(key), "{\"value\": 1,"), 400, "INVALID_REQUEST", "malformed JSON");
  expect(svc.Request("PUT", Url(key), "[1]"), 400, "INVALID_REQUEST", "not an object");
  expect(Put(svc, key, {{"ttl", 10}}), 400, "INVALID_REQUEST", "missing value");
  expect(Put(svc, key, {{"value", 1}, {"tll", 10}}), 400, "INVALID_REQUEST", "unknown member");
  for (const json::value& ttl : {json::value(0), json::value(-1), json::value(2592001), json::value(1e12),
                                 json::value("60"), json::value(1.5), json::value(nullptr)}) {
    auto r = Put(svc, key, {{"value", 1}, {"ttl", ttl}});
    if (ttl.is_null()) {
      EXPECT_EQ(r.status, 200u) << "ttl null means the default: " << r.body;
      continue;
    }
    expect(r, 400, "INVALID_REQUEST", "ttl " + json::serialize(ttl));
  }
  EXPECT_EQ(Put(svc, key, {{"value", 1}, {"ttl", 2592000}}).status, 200u) << "30 days is allowed";

  const std::string longest = Prefix() + std::string(1024 - Prefix().size(), 'k');
  EXPECT_EQ(Put(svc, longest, {{"value", 1}}).status, 200u) << "a 1 KiB key is allowed";
  expect(Put(svc, longest + "k", {{"value", 1}}), 400, "INVALID_REQUEST", "key over 1 KiB");
  expect(svc.Get(Url(longest + "k")), 400, "INVALID_REQUEST", "GET key over 1 KiB");
  expect(svc.Get(Url(std::string(8000, 'x'))), 400, "INVALID_REQUEST", "huge key");
  expect(svc.Get("/api/v1/cache/"), 400, "INVALID_REQUEST", "empty key");
  expect(svc.Request("PUT", "/api/v1/cache/", "{\"value\":1}"), 400, "INVALID_REQUEST", "empty key (PUT)");
  expect(svc.Get("/api/v1/cache/a%0Ab"), 400, "INVALID_REQUEST", "control character");
  expect(svc.Get("/api/v1/cache/a%FFb"), 400, "INVALID_REQUEST", "invalid UTF-8");
  expect(svc.Get("/api/v1/cache/a%zzb"), 400, "INVALID_REQUEST", "malformed escape");
  expect(svc.Get(Url("__coredb:epoch")), 400, "INVALID_REQUEST", "reserved key");
  expect(svc.Request("PUT", Url(key), "value=1", {{"Content-Type", "text/plain"}}), 415, "UNSUPPORTED_MEDIA_TYPE",
         "not JSON");
  const std::string big = "{\"value\":\"" + std::string(1100 * 1024, 'x') + "\"}";
  expect(svc.Request("PUT", Url(key), big), 413, "PAYLOAD_TOO_LARGE", "value over the body limit");

  expect(svc.Post("/api/v1/cache/invalidate", json::object{}), 400, "INVALID_REQUEST", "missing pattern");
  expect(svc.Post("/api/v1/cache/invalidate", {{"pattern", 5}}), 400, "INVALID_REQUEST", "pattern not a string");
  expect(svc.Post("/api/v1/cache/invalidate", {{"pattern", ""}}), 400, "INVALID_REQUEST", "empty pattern");
  expect(svc.Post("/api/v1/cache/invalidate", {{"pattern", "a*"}, {"x", 1}}), 400, "INVALID_REQUEST", "unknown member");
  expect(svc.Post("/api/v1/cache/invalidate", {{"pattern", std::string(1025, 'p')}}), 400, "INVALID_REQUEST",
         "pattern over 1 KiB");

  expect(svc.Request("GET", Url(key), "", {}, std::string("wrong-token-wrong-token")), 401, "UNAUTHENTICATED",
         "bad token");
  auto wrong_method = svc.Request("POST", Url(key), "{}");
  expect(wrong_method, 405, "METHOD_NOT_ALLOWED", "POST on a key");
  EXPECT_EQ(wrong_method.Header("Allow"), "GET, PUT, DELETE");
  svc.Post("/api/v1/cache/invalidate", {{"pattern", Prefix() + "*"}});
}

TEST(CacheApi, InvalidateDeletesWhatMatchesAndCountsIt) {
  ServiceProcess svc;
  const std::string p = Prefix();
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Put(svc, p + "user:" + std::to_string(i), {{"value", i}}).status, 200u);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Put(svc, p + "lib:" + std::to_string(i), {{"value", i}}).status, 200u);
  auto r = svc.Post("/api/v1/cache/invalidate", {{"pattern", p + "user:*"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json, (json::value{{"deleted", 30}}));
  EXPECT_EQ(svc.Get(Url(p + "user:7")).status, 404u);
  EXPECT_EQ(svc.Get(Url(p + "lib:2")).status, 200u);
  auto none = svc.Post("/api/v1/cache/invalidate", {{"pattern", p + "user:*"}});
  EXPECT_EQ(none.json, (json::value{{"deleted", 0}}));
  auto one = svc.Post("/api/v1/cache/invalidate", {{"pattern", p + "lib:1"}});
  EXPECT_EQ(one.json, (json::value{{"deleted", 1}})) << "a pattern without glob characters is one key";
  svc.Post("/api/v1/cache/invalidate", {{"pattern", p + "*"}});
}

TEST(CacheApi, CacheLivesInRedisDbAndSessionsInRedisSessionDb) {
  // Their own databases, so that the admin's "*" below wipes nothing that other tests use.
  ServiceProcess svc(ServiceProcess::Env{{"REDIS_DB", "9"}, {"REDIS_SESSION_DB", "10"}});
  ServiceProcess db0;  // REDIS_DB from REDIS_URL (0)
  const std::string key = Prefix() + "where";
  ASSERT_EQ(Put(svc, key, {{"value", "in db 9"}}).status, 200u);
  ASSERT_EQ(Put(db0, key, {{"value", "in db 0"}}).status, 200u);
  EXPECT_EQ(svc.Get(Url(key)).json.at("value"), json::value("in db 9"));
  EXPECT_EQ(db0.Get(Url(key)).json.at("value"), json::value("in db 0"));

  auto clients = svc.Query({{"database", "redis"}, {"command", json::array{"CLIENT", "LIST"}}});
  ASSERT_EQ(clients.status, 200u) << clients.body;
  const std::string list(clients.json.at("result").as_string());
  EXPECT_NE(list.find(" db=9 "), std::string::npos) << list;
  EXPECT_NE(list.find(" db=10 "), std::string::npos) << "the sessions client is connected to REDIS_SESSION_DB\n"
                                                     << list;
  bool healthy = false;
  for (int i = 0; i < 50 && !healthy; ++i) {
    healthy = svc.Get("/health").json.at("services").at("redis") == json::value(true);
    if (!healthy) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(healthy) << "health pings both databases";

  // The admin may invalidate everything ("*" alone needs admin: the bootstrap token is admin).
  ASSERT_EQ(Put(svc, Prefix() + "other", {{"value", 1}}).status, 200u);
  auto all = svc.Post("/api/v1/cache/invalidate", {{"pattern", "*"}});
  ASSERT_EQ(all.status, 200u) << all.body;
  EXPECT_GE(all.json.at("deleted").as_int64(), 2);
  EXPECT_EQ(svc.Get(Url(key)).status, 404u);
  EXPECT_EQ(db0.Get(Url(key)).json.at("value"), json::value("in db 0")) << "db 0 untouched";
  auto cleanup = db0.Request("DELETE", Url(key));
  EXPECT_EQ(cleanup.status, 200u);
}

TEST(CacheApi, RedisKilledEndpointsAnswer503FastThenRecoverWithinSeconds) {
  ServiceProcess svc;
  const std::string key = Prefix() + "drill";
  ASSERT_EQ(Put(svc, key, {{"value", "before"}}).status, 200u);
  RedisRestartGuard redis;  // restarts Redis at the end of the test even if an assertion fails
  redis.Kill();

  std::vector<long long> latencies;
  std::vector<long long> open_latencies;
  std::string codes;
  std::string retry_after;
  for (int i = 0; i < 40; ++i) {
    const auto started = Clock::now();
    HttpResult r = i % 4 == 0   ? svc.Get(Url(key))
                   : i % 4 == 1 ? Put(svc, key, {{"value", i}})
                   : i % 4 == 2 ? svc.Request("DELETE", Url(key))
                                : svc.Post("/api/v1/cache/invalidate", {{"pattern", Prefix() + "*"}});
    const long long ms = ElapsedMs(started);
    latencies.push_back(ms);
    EXPECT_EQ(r.status, 503u) << "request " << i << ": " << r.body;
    const std::string code = r.ErrorCode();
    EXPECT_TRUE(code == "DATABASE_UNAVAILABLE" || code == "CIRCUIT_OPEN") << r.body;
    if (code == "CIRCUIT_OPEN") {
      open_latencies.push_back(ms);
      retry_after = r.Header("Retry-After");
    }
    codes += code == "CIRCUIT_OPEN" ? 'O' : 'U';
  }
  ASSERT_FALSE(open_latencies.empty()) << "the breaker never opened: " << codes;
  EXPECT_FALSE(retry_after.empty()) << "CIRCUIT_OPEN carries Retry-After";
  EXPECT_GE(std::atoi(retry_after.c_str()), 1);
  for (long long ms : open_latencies) EXPECT_LT(ms, 100) << "a request while the breaker is open";
  const long long worst = *std::max_element(latencies.begin(), latencies.end());
  EXPECT_LT(worst, 100) << "even before it opens, a dead Redis is not waited for";

  redis.Start();
  const auto restarted = Clock::now();
  unsigned status = 0;
  while (status != 200 && ElapsedMs(restarted) < 10000) {
    status = Put(svc, key, {{"value", "after"}}).status;
    if (status != 200) std::this_thread::sleep_for(50ms);
  }
  const long long recovery = ElapsedMs(restarted);
  ASSERT_EQ(status, 200u) << "the cache endpoints never recovered";
  EXPECT_LT(recovery, 5000);
  auto get = svc.Get(Url(key));
  EXPECT_EQ(get.status, 200u);
  EXPECT_EQ(get.json.at("value"), json::value("after"));
  std::printf("[ info ] redis down: %zu requests, worst %lld ms, sequence %s; recovered %lld ms after restart\n",
              latencies.size(), worst, codes.c_str(), recovery);
  svc.Request("DELETE", Url(key));
}

}  // namespace
}  // namespace coredb::testing
