// Black-box tests of the platform data API (API.md "Platform data"; issue 4 items 5 and 6): the
// built binary over HTTP, each test on a scratch database of its own migrated through the API,
// and cache keys under a per-test COREDB_PLATFORM_CACHE_PREFIX (the dev stack's Redis is shared).
//
// The story's src/test/database.test.ts, test by test, and its C++ counterpart here:
//   PostgreSQL Connection / should connect to PostgreSQL     -> StoryPostgresShouldConnect (GET /health: database)
//   PostgreSQL Connection / should execute raw query         -> StoryPostgresShouldExecuteRawQuery (POST /api/v1/query)
//   Redis Connection / should connect to Redis               -> StoryRedisShouldConnect (GET /health: redis)
//   Redis Connection / should set and get values             -> StoryRedisShouldSetAndGetValues (redis SET/GET/DEL)
//   Cache Service / should cache and retrieve objects        -> StoryCacheShouldCacheAndRetrieveObjects (PUT/GET/DELETE
//   /api/v1/cache) Cache Service / should handle cache misses               -> StoryCacheShouldHandleCacheMisses (404)
//   Cache Service / should check existence                   -> StoryCacheShouldCheckExistence (200 vs 404)
//   Database Service / should create and retrieve user       -> StoryShouldCreateAndRetrieveUser
//   Database Service / should create API key                 -> StoryShouldCreateApiKey
//   Database Service / should create and search libraries    -> StoryShouldCreateAndSearchLibraries
//   Database Service / should log usage                      -> StoryShouldLogUsage
// The story's "Tests de Validation":
//   1. docker:up (start the services)        -> the dev stack every integration test runs on (scripts/test)
//   2. db:migrate                             -> ValidationMigrateSeedThenTheEndpointsWork (`coredb migrate`)
//   3. db:generate (Prisma client)            -> no client to generate; ValidationAnotherReaderSeesPrismaShapedRows
//                                                checks what a Prisma client would read (names, types, defaults)
//   4. db:seed                                -> ValidationMigrateSeedThenTheEndpointsWork (`coredb seed`, twice)
//   5. npm test --testPathPattern=database    -> this file
//   6. db:studio (look at the data)           -> ValidationAnotherReaderSeesPrismaShapedRows (psql reads the rows)
//   7. curl /health                           -> ValidationHealthAnswers200
// Beyond the story: caching and invalidation on write (observed by changing rows behind the
// service's back and by the X-Cache header), misses not cached, the GIN index in the search plan,
// Redis down, usage logs that never fail the caller, and every kind of bad input.
#include "support/run_command.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include "coredb/platform/platform_service.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cctype>
#include <cstdio>
#include <functional>
#include <memory>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

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

// Restarts the dev stack's Redis when the test ends, whatever happened.
class RedisRestartGuard {
 public:
  RedisRestartGuard() { Devstack("redis-kill"); }
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
  void Start() {
    Devstack("redis-start");
    started_ = true;
  }

 private:
  bool started_ = false;
};

class PlatformApi : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Short (COREDB_PLATFORM_CACHE_PREFIX is at most 64 bytes) and unique per process and test.
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016zx", std::hash<std::string>()(info->name()));
    prefix_ = std::string("t") + std::to_string(::getpid()) + ":" + hash + ":";
  }

  // The service on the scratch database; `migrate`: apply migration 0001 through the API.
  void Start(bool migrate = true) {
    svc_ = std::make_unique<ServiceProcess>(
        ServiceProcess::Env{{"DATABASE_URL", db_.app_conninfo()}, {"COREDB_PLATFORM_CACHE_PREFIX", prefix_}});
    if (migrate) {
      auto run = svc().Post("/api/v1/migrations/run", json::object{});
      ASSERT_EQ(run.status, 200u) << run.body;
    }
  }
  ServiceProcess& svc() { return *svc_; }
  // /health once its probes (every second) have run: 200, or the last answer after 5 s.
  HttpResult HealthWhenProbed() {
    HttpResult health;
    for (int i = 0; i < 50; ++i) {
      health = svc().Get("/health");
      if (health.status == 200u) break;
      std::this_thread::sleep_for(100ms);
    }
    return health;
  }
  Psql Db() { return Psql(db_.superuser_conninfo()); }
  std::string Scalar(const std::string& sql) { return Db().Scalar(sql); }

  HttpResult CreateUser(const json::object& body) { return svc().Post("/api/v1/users", body); }
  HttpResult UserByEmail(const std::string& email) { return svc().Get("/api/v1/users/by-email/" + Encode(email)); }
  HttpResult CreateKey(const json::object& body) { return svc().Post("/api/v1/api-keys", body); }
  HttpResult KeyByHash(const std::string& hash) { return svc().Get("/api/v1/api-keys/by-hash/" + Encode(hash)); }
  HttpResult CreateLibrary(const json::object& body) { return svc().Post("/api/v1/libraries", body); }
  HttpResult Search(const std::string& q, std::optional<int> limit = std::nullopt) {
    std::string target = "/api/v1/libraries/search?q=" + Encode(q);
    if (limit) target += "&limit=" + std::to_string(*limit);
    return svc().Get(target);
  }
  HttpResult LogUsage(const json::object& body) { return svc().Post("/api/v1/usage-logs", body); }
  // The cache entry under this test's prefix, through the cache API.
  HttpResult CacheEntry(const std::string& key) { return svc().Get("/api/v1/cache/" + Encode(prefix_ + key)); }

  std::string UserId(const std::string& email) {
    auto r = CreateUser({{"email", email}});
    EXPECT_EQ(r.status, 201u) << r.body;
    return r.status == 201u ? std::string(r.json.at("id").as_string()) : std::string();
  }

  static std::vector<std::string> Names(const HttpResult& r) {
    std::vector<std::string> out;
    if (!r.json.is_array()) return out;
    for (const auto& row : r.json.as_array()) out.emplace_back(row.at("name").as_string());
    return out;
  }

  std::string prefix_;
  ScratchDatabase db_;
  std::unique_ptr<ServiceProcess> svc_;
};

// ---- database.test.ts: PostgreSQL Connection, Redis Connection, Cache Service ----

TEST_F(PlatformApi, StoryPostgresShouldConnect) {
  Start();
  auto health = HealthWhenProbed();
  EXPECT_EQ(health.json.at("services").at("database"), true) << health.body;
}

TEST_F(PlatformApi, StoryPostgresShouldExecuteRawQuery) {
  Start();
  auto r = svc().Query({{"sql", "SELECT 1 as test"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("rows"), json::parse(R"([{"test":1}])"));
}

TEST_F(PlatformApi, StoryRedisShouldConnect) {
  Start();
  auto health = HealthWhenProbed();
  EXPECT_EQ(health.json.at("services").at("redis"), true) << health.body;
}

TEST_F(PlatformApi, StoryRedisShouldSetAndGetValues) {
  Start();
  const std::string key = prefix_ + "test:key";
  auto set = svc().Query({{"database", "redis"}, {"command", json::array{"SET", key, "test:value"}}});
  ASSERT_EQ(set.status, 200u) << set.body;
  auto get = svc().Query({{"database", "redis"}, {"command", json::array{"GET", key}}});
  ASSERT_EQ(get.status, 200u) << get.body;
  EXPECT_EQ(get.json.at("result"), "test:value");
  auto del = svc().Query({{"database", "redis"}, {"command", json::array{"DEL", key}}});
  EXPECT_EQ(del.json.at("result"), 1);
}

TEST_F(PlatformApi, StoryCacheShouldCacheAndRetrieveObjects) {
  Start();
  const json::value data = json::parse(R"({"id":1,"name":"test"})");
  const std::string url = "/api/v1/cache/" + Encode(prefix_ + "test:object");
  auto put = svc().Request("PUT", url, json::serialize(json::object{{"value", data}}));
  ASSERT_EQ(put.status, 200u) << put.body;
  auto get = svc().Get(url);
  ASSERT_EQ(get.status, 200u) << get.body;
  EXPECT_EQ(get.json.at("value"), data);
  EXPECT_EQ(svc().Request("DELETE", url).status, 200u);
}

TEST_F(PlatformApi, StoryCacheShouldHandleCacheMisses) {
  Start();
  auto miss = CacheEntry("nonexistent:key");
  EXPECT_EQ(miss.status, 404u) << miss.body;
  EXPECT_EQ(miss.ErrorCode(), "NOT_FOUND");
}

TEST_F(PlatformApi, StoryCacheShouldCheckExistence) {
  Start();
  const std::string url = "/api/v1/cache/" + Encode(prefix_ + "test:exists");
  ASSERT_EQ(svc().Request("PUT", url, R"({"value":true})").status, 200u);
  EXPECT_EQ(svc().Get(url).status, 200u);
  EXPECT_EQ(CacheEntry("not:exists").status, 404u);
  EXPECT_EQ(svc().Request("DELETE", url).status, 200u);
}

// ---- database.test.ts: Database Service ----

TEST_F(PlatformApi, StoryShouldCreateAndRetrieveUser) {
  Start();
  auto user = CreateUser({{"email", "test@example.com"}, {"hashedPassword", "hashed_password"}});
  ASSERT_EQ(user.status, 201u) << user.body;
  EXPECT_EQ(user.json.at("email"), "test@example.com");
  ASSERT_TRUE(user.json.at("id").is_string());
  EXPECT_EQ(user.json.at("id").as_string().size(), 36u);  // a uuid
  EXPECT_EQ(user.json.at("hashedPassword"), "hashed_password");
  EXPECT_TRUE(user.json.at("oauthProvider").is_null());

  auto retrieved = UserByEmail("test@example.com");
  ASSERT_EQ(retrieved.status, 200u) << retrieved.body;
  EXPECT_EQ(retrieved.json.at("email"), "test@example.com");
  EXPECT_EQ(retrieved.json.at("id"), user.json.at("id"));
  EXPECT_EQ(retrieved.json.at("apiKeys"), json::array());
  EXPECT_EQ(retrieved.json.at("createdAt"), user.json.at("createdAt"));
}

TEST_F(PlatformApi, StoryShouldCreateApiKey) {
  Start();
  const std::string user_id = UserId("apikey@example.com");
  auto key = CreateKey({{"userId", user_id}, {"keyHash", "test_hash"}, {"keyPrefix", "test_"}, {"name", "Test Key"}});
  ASSERT_EQ(key.status, 201u) << key.body;
  EXPECT_EQ(key.json.at("userId"), json::value(user_id));
  EXPECT_EQ(key.json.at("keyPrefix"), "test_");
  EXPECT_EQ(key.json.at("quotaRequestsPerMinute"), 60);  // the schema's defaults
  EXPECT_EQ(key.json.at("quotaRequestsPerDay"), 10000);
  EXPECT_TRUE(key.json.at("revokedAt").is_null());
  EXPECT_FALSE(key.json.as_object().contains("__ownerEmail"));

  auto by_hash = KeyByHash("test_hash");
  ASSERT_EQ(by_hash.status, 200u) << by_hash.body;
  EXPECT_EQ(by_hash.json.at("id"), key.json.at("id"));
  EXPECT_EQ(by_hash.json.at("user"), (json::value{{"id", user_id}, {"email", "apikey@example.com"}}));
}

TEST_F(PlatformApi, StoryShouldCreateAndSearchLibraries) {
  Start();
  auto library = CreateLibrary({{"id", "/test/library"}, {"name", "Test Library"}, {"vendor", "Test Vendor"}});
  ASSERT_EQ(library.status, 201u) << library.body;
  EXPECT_EQ(library.json.at("name"), "Test Library");
  EXPECT_EQ(library.json.at("popularityScore"), 0);
  EXPECT_TRUE(library.json.at("metadata").is_null());

  auto results = Search("Test");
  ASSERT_EQ(results.status, 200u) << results.body;
  ASSERT_TRUE(results.json.is_array());
  ASSERT_GT(results.json.as_array().size(), 0u);
  EXPECT_EQ(results.json.at(0).at("name"), "Test Library");
  // The story's select: exactly these members.
  EXPECT_EQ(results.json.at(0), json::parse(R"({"id":"/test/library","name":"Test Library","vendor":"Test Vendor",
      "defaultVersion":null,"popularityScore":0,"totalSnippets":0})"));
}

TEST_F(PlatformApi, StoryShouldLogUsage) {
  Start();
  auto log = LogUsage({{"toolName", "test-tool"}, {"query", "test query"}, {"responseTimeMs", 100}});
  ASSERT_EQ(log.status, 202u) << log.body;
  EXPECT_EQ(log.json.at("toolName"), "test-tool");
  EXPECT_EQ(log.json.at("responseTimeMs"), 100);
  EXPECT_EQ(log.json.at("query"), "test query");
  EXPECT_TRUE(log.json.at("userId").is_null());
  EXPECT_EQ(Scalar("SELECT count(*) FROM usage_logs WHERE \"toolName\" = 'test-tool' AND \"responseTimeMs\" = 100"),
            "1");
}

// ---- the story's validation steps ----

TEST_F(PlatformApi, ValidationMigrateSeedThenTheEndpointsWork) {
  CommandEnv env;
  env.set["DATABASE_URL"] = db_.app_conninfo();
  auto migrate = RunCoredbCommand({"migrate"}, env);
  ASSERT_EQ(migrate.code, 0) << migrate.All();
  for (int run = 0; run < 2; ++run) {  // idempotent
    auto seed = RunCoredbCommand({"seed"}, env);
    ASSERT_EQ(seed.code, 0) << seed.All();
  }
  Start(/*migrate=*/false);

  auto docs = Search("documentation");
  ASSERT_EQ(docs.status, 200u) << docs.body;
  EXPECT_EQ(Names(docs),
            (std::vector<std::string>{"MongoDB Documentation", "Next.js Documentation", "Supabase Documentation"}));
  auto mongo = Search("MongoDB");
  ASSERT_EQ(mongo.status, 200u);
  ASSERT_EQ(mongo.json.as_array().size(), 1u) << mongo.body;
  EXPECT_EQ(mongo.json.at(0).at("id"), "/mongodb/docs");
  EXPECT_EQ(mongo.json.at(0).at("defaultVersion"), "7.0");
  EXPECT_EQ(mongo.json.at(0).at("popularityScore"), 100);

  auto user = UserByEmail("test@twinmcp.dev");
  ASSERT_EQ(user.status, 200u) << user.body;
  ASSERT_EQ(user.json.at("apiKeys").as_array().size(), 1u);
  EXPECT_EQ(user.json.at("apiKeys").at(0).at("keyPrefix"), "twinmcp_test_");
  EXPECT_EQ(user.json.at("apiKeys").at(0).at("quotaRequestsPerMinute"), 100);

  auto key = KeyByHash("test_api_key_hash");
  ASSERT_EQ(key.status, 200u) << key.body;
  EXPECT_EQ(key.json.at("user").at("email"), "test@twinmcp.dev");
  EXPECT_EQ(key.json.at("user").at("id"), user.json.at("id"));
}

TEST_F(PlatformApi, ValidationAnotherReaderSeesPrismaShapedRows) {
  Start();
  auto user = CreateUser({{"email", "studio@example.com"}, {"oauthProvider", "github"}, {"oauthId", "42"}});
  ASSERT_EQ(user.status, 201u) << user.body;
  auto library = CreateLibrary({{"id", "/vercel/next.js"},
                                {"name", "Next.js"},
                                {"docsUrl", "https://nextjs.org/docs"},
                                {"popularityScore", 95},
                                {"metadata", json::parse(R"({"tags":["react","ssr"]})")}});
  ASSERT_EQ(library.status, 201u) << library.body;
  // DateTime as Prisma's JSON shows it.
  const std::string created(user.json.at("createdAt").as_string());
  ASSERT_EQ(created.size(), 24u) << created;
  EXPECT_EQ(created[10], 'T');
  EXPECT_EQ(created.back(), 'Z');
  EXPECT_EQ(library.json.at("metadata"), json::parse(R"({"tags":["react","ssr"]})"));

  auto rows = Db().Exec(
      "SELECT u.email, u.\"oauthProvider\", u.\"oauthId\", u.\"hashedPassword\", "
      "to_char(u.\"createdAt\", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
      "abs(extract(epoch FROM (now() AT TIME ZONE 'UTC') - u.\"createdAt\")) < 60 "
      "FROM users u");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"studio@example.com", "github", "42", "<null>", created, "t"}));
  EXPECT_EQ(Scalar("SELECT \"metadata\"->'tags'->>1 FROM libraries WHERE id = '/vercel/next.js'"), "ssr");
  EXPECT_EQ(Scalar("SELECT \"totalTokens\" FROM libraries WHERE id = '/vercel/next.js'"), "0");
}

TEST_F(PlatformApi, ValidationHealthAnswers200) {
  Start();
  auto health = HealthWhenProbed();
  EXPECT_EQ(health.status, 200u) << health.body;
  EXPECT_EQ(health.json.at("status"), "ok");
}

// ---- caching and invalidation ----

TEST_F(PlatformApi, UserByEmailIsCachedFiveMinutesAndANewApiKeyDropsItBeforeAnswering) {
  Start();
  const std::string user_id = UserId("cached@example.com");
  auto first = UserByEmail("cached@example.com");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.Header("x-cache"), "MISS");
  auto entry = CacheEntry("user:email:cached@example.com");
  ASSERT_EQ(entry.status, 200u) << entry.body;
  EXPECT_GE(entry.json.at("ttl").as_int64(), 295);
  EXPECT_LE(entry.json.at("ttl").as_int64(), 300);
  EXPECT_EQ(entry.json.at("value"), first.json);

  // Behind the service's back: the cached answer stays until a write through the API.
  Db().Exec("UPDATE users SET \"oauthProvider\" = 'github' WHERE email = 'cached@example.com'");
  auto second = UserByEmail("cached@example.com");
  ASSERT_EQ(second.status, 200u);
  EXPECT_EQ(second.Header("x-cache"), "HIT");
  EXPECT_TRUE(second.json.at("oauthProvider").is_null());

  auto key = CreateKey({{"userId", user_id}, {"keyHash", "h1"}, {"keyPrefix", "p_"}, {"name", "first"}});
  ASSERT_EQ(key.status, 201u) << key.body;
  // Right after the write's answer: the new key is there, and so is the change made behind our back.
  auto third = UserByEmail("cached@example.com");
  ASSERT_EQ(third.status, 200u);
  EXPECT_EQ(third.Header("x-cache"), "MISS");
  EXPECT_EQ(third.json.at("oauthProvider"), "github");
  ASSERT_EQ(third.json.at("apiKeys").as_array().size(), 1u);
  EXPECT_EQ(third.json.at("apiKeys").at(0).at("id"), key.json.at("id"));
  EXPECT_EQ(third.json.at("apiKeys").at(0), key.json);
  EXPECT_EQ(UserByEmail("cached@example.com").Header("x-cache"), "HIT");
}

TEST_F(PlatformApi, ApiKeysListedAreTheNonRevokedOnesOldestFirst) {
  Start();
  const std::string user_id = UserId("keys@example.com");
  for (const char* hash : {"k1", "k2", "k3"}) {
    ASSERT_EQ(CreateKey({{"userId", user_id}, {"keyHash", hash}, {"keyPrefix", "p_"}, {"name", hash}}).status, 201u);
  }
  Db().Exec("UPDATE api_keys SET \"revokedAt\" = now() WHERE \"keyHash\" = 'k2'");
  // A write through the API drops the entry (the revocation above went around it).
  ASSERT_EQ(CreateKey({{"userId", user_id},
                       {"keyHash", "k4"},
                       {"keyPrefix", "p_"},
                       {"name", "k4"},
                       {"quotaRequestsPerMinute", 5},
                       {"quotaRequestsPerDay", 50}})
                .status,
            201u);
  auto user = UserByEmail("keys@example.com");
  ASSERT_EQ(user.status, 200u) << user.body;
  std::vector<std::string> names;
  for (const auto& k : user.json.at("apiKeys").as_array()) names.emplace_back(k.at("name").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{"k1", "k3", "k4"}));
  EXPECT_EQ(user.json.at("apiKeys").at(2).at("quotaRequestsPerMinute"), 5);
  // By hash, a revoked key is still found, with its revokedAt (the caller decides).
  auto revoked = KeyByHash("k2");
  ASSERT_EQ(revoked.status, 200u) << revoked.body;
  EXPECT_TRUE(revoked.json.at("revokedAt").is_string());
}

TEST_F(PlatformApi, MissesAreNotCachedAndANewUserIsSeenAtOnce) {
  Start();
  auto missing = UserByEmail("later@example.com");
  EXPECT_EQ(missing.status, 404u) << missing.body;
  EXPECT_EQ(missing.ErrorCode(), "NOT_FOUND");
  EXPECT_EQ(CacheEntry("user:email:later@example.com").status, 404u);
  const std::string id = UserId("later@example.com");
  auto found = UserByEmail("later@example.com");
  ASSERT_EQ(found.status, 200u);
  EXPECT_EQ(found.json.at("id"), json::value(id));
  EXPECT_EQ(KeyByHash("no-such-hash").status, 404u);
}

TEST_F(PlatformApi, SearchIsCachedFifteenMinutesAndANewLibraryDropsEverySearch) {
  Start();
  ASSERT_EQ(CreateLibrary({{"id", "/a/alpha"}, {"name", "Alpha Docs"}, {"popularityScore", 10}}).status, 201u);
  auto first = Search("docs");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.Header("x-cache"), "MISS");
  EXPECT_EQ(Names(first), (std::vector<std::string>{"Alpha Docs"}));
  auto other_limit = Search("docs", 5);  // another entry (the limit is part of the key)
  EXPECT_EQ(other_limit.Header("x-cache"), "MISS");
  auto entry = CacheEntry("libraries:search:docs:10");
  ASSERT_EQ(entry.status, 200u) << entry.body;
  EXPECT_GE(entry.json.at("ttl").as_int64(), 895);
  EXPECT_LE(entry.json.at("ttl").as_int64(), 900);

  Db().Exec("INSERT INTO libraries (id, name, \"popularityScore\") VALUES ('/b/beta', 'Beta Docs', 20)");
  auto cached = Search("docs");
  EXPECT_EQ(cached.Header("x-cache"), "HIT");
  EXPECT_EQ(Names(cached), (std::vector<std::string>{"Alpha Docs"}));

  ASSERT_EQ(CreateLibrary({{"id", "/c/gamma"}, {"name", "Gamma Docs"}, {"popularityScore", 5}}).status, 201u);
  auto fresh = Search("docs");
  EXPECT_EQ(fresh.Header("x-cache"), "MISS");
  EXPECT_EQ(Names(fresh), (std::vector<std::string>{"Beta Docs", "Alpha Docs", "Gamma Docs"}));
  auto fresh5 = Search("docs", 5);
  EXPECT_EQ(fresh5.Header("x-cache"), "MISS");
  EXPECT_EQ(Names(fresh5).size(), 3u);
  EXPECT_EQ(CacheEntry("libraries:search:docs:10").status, 200u);  // stored again
}

TEST_F(PlatformApi, SearchOrdersByPopularityThenNameHonoursLimitAndMatchesWords) {
  Start();
  const std::vector<std::pair<std::string, int>> libs = {
      {"Zeta Guide", 50}, {"Beta Guide", 50}, {"Alpha Guide", 10}, {"Gamma Guide", 90}, {"Unrelated", 99}};
  int n = 0;
  for (const auto& [name, score] : libs) {
    auto r = CreateLibrary({{"id", "/v/lib" + std::to_string(n++)}, {"name", name}, {"popularityScore", score}});
    ASSERT_EQ(r.status, 201u) << r.body;
  }
  EXPECT_EQ(Names(Search("guide")),
            (std::vector<std::string>{"Gamma Guide", "Beta Guide", "Zeta Guide", "Alpha Guide"}));
  EXPECT_EQ(Names(Search("guide", 2)), (std::vector<std::string>{"Gamma Guide", "Beta Guide"}));
  EXPECT_EQ(Names(Search("guides")).size(), 4u);  // English stemming, as the GIN index
  EXPECT_EQ(Names(Search("beta guide")), (std::vector<std::string>{"Beta Guide"}));
  EXPECT_EQ(Names(Search("alpha or beta")), (std::vector<std::string>{"Beta Guide", "Alpha Guide"}));
  EXPECT_EQ(Names(Search("guide -zeta")).size(), 3u);
  auto none = Search("nothing-like-this");
  ASSERT_EQ(none.status, 200u);
  EXPECT_EQ(none.json, json::array());
  auto stop_words = Search("the");
  ASSERT_EQ(stop_words.status, 200u) << stop_words.body;
  EXPECT_EQ(stop_words.json, json::array());
  auto quotes = Search("\"unbalanced ( & | !");  // websearch syntax never fails
  EXPECT_EQ(quotes.status, 200u) << quotes.body;
  EXPECT_EQ(Names(Search("guide", 100)).size(), 4u);
}

TEST_F(PlatformApi, SearchStatementCanUseTheGinIndex) {
  Start();
  auto db = Db();
  db.Exec("SET enable_seqscan = off");
  db.Exec("SET plan_cache_mode = force_generic_plan");
  db.Exec(std::string("PREPARE search_libraries(text, bigint) AS ") + platform::kSearchLibrariesSql);
  std::string plan;
  for (const auto& row : db.Exec("EXPLAIN EXECUTE search_libraries('docs', 10)")) plan += row.at(0) + "\n";
  EXPECT_NE(plan.find("libraries_name_idx"), std::string::npos) << plan;
}

// ---- Redis down ----

TEST_F(PlatformApi, RedisDownEveryEndpointStillAnswersFromPostgres) {
  Start();
  const std::string user_id = UserId("down@example.com");
  ASSERT_EQ(CreateLibrary({{"id", "/d/one"}, {"name", "Outage Docs"}}).status, 201u);
  ASSERT_EQ(UserByEmail("down@example.com").status, 200u);  // cached
  ASSERT_EQ(Search("outage").status, 200u);

  RedisRestartGuard redis;
  for (int i = 0; i < 3; ++i) {
    auto user = UserByEmail("down@example.com");
    ASSERT_EQ(user.status, 200u) << user.body;
    EXPECT_EQ(user.json.at("id"), json::value(user_id));
  }
  auto key = CreateKey({{"userId", user_id}, {"keyHash", "down_hash"}, {"keyPrefix", "d_"}, {"name", "during"}});
  ASSERT_EQ(key.status, 201u) << key.body;
  auto user = UserByEmail("down@example.com");
  ASSERT_EQ(user.status, 200u) << user.body;
  EXPECT_EQ(user.json.at("apiKeys").as_array().size(), 1u);
  EXPECT_EQ(KeyByHash("down_hash").status, 200u);
  ASSERT_EQ(CreateUser({{"email", "new-during@example.com"}}).status, 201u);
  ASSERT_EQ(CreateLibrary({{"id", "/d/two"}, {"name", "More Outage Docs"}}).status, 201u);
  auto search = Search("outage");
  ASSERT_EQ(search.status, 200u) << search.body;
  EXPECT_EQ(Names(search).size(), 2u);
  auto log = LogUsage({{"toolName", "query-docs"}, {"userId", user_id}});
  EXPECT_EQ(log.status, 202u) << log.body;
  EXPECT_EQ(log.json.at("toolName"), "query-docs");

  redis.Start();
  // Back to normal: answers stay right (the writes' drops are replayed before any cached read).
  bool cached_again = false;
  for (int i = 0; i < 50 && !cached_again; ++i) {
    auto again = UserByEmail("down@example.com");
    ASSERT_EQ(again.status, 200u);
    EXPECT_EQ(again.json.at("apiKeys").as_array().size(), 1u);
    cached_again = again.Header("x-cache") == "HIT";
    if (!cached_again) std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(cached_again) << "the cache did not come back after Redis restarted";
  EXPECT_EQ(Names(Search("outage")).size(), 2u);
}

// ---- usage logs never fail the caller ----

TEST_F(PlatformApi, UsageLogThatTheDatabaseRefusesIsStill202AndLogged) {
  Start();
  auto log = LogUsage({{"toolName", "resolve-library-id"}, {"userId", "no-such-user"}});
  EXPECT_EQ(log.status, 202u) << log.body;
  EXPECT_EQ(log.json, (json::value{{"logged", false}}));
  EXPECT_EQ(Scalar("SELECT count(*) FROM usage_logs"), "0");
  EXPECT_TRUE(svc().WaitForOutput("usage log not stored", 5s)) << svc().Output();

  // Schema gone entirely: still 202.
  Db().Exec("DROP TABLE usage_logs");
  auto no_table = LogUsage({{"toolName", "query-docs"}});
  EXPECT_EQ(no_table.status, 202u) << no_table.body;
  EXPECT_EQ(no_table.json, (json::value{{"logged", false}}));

  // A malformed body is still the caller's 400.
  auto bad = LogUsage({{"tool", "x"}});
  EXPECT_EQ(bad.status, 400u) << bad.body;
}

TEST_F(PlatformApi, UsageLogWithEveryField) {
  Start();
  const std::string user_id = UserId("usage@example.com");
  auto key = CreateKey({{"userId", user_id}, {"keyHash", "uh"}, {"keyPrefix", "u_"}, {"name", "usage"}});
  ASSERT_EQ(key.status, 201u);
  ASSERT_EQ(CreateLibrary({{"id", "/u/lib"}, {"name", "Usage Lib"}}).status, 201u);
  auto log = LogUsage({{"userId", user_id},
                       {"apiKeyId", key.json.at("id")},
                       {"toolName", "query-docs"},
                       {"libraryId", "/u/lib"},
                       {"query", "how to\nconnect"},
                       {"tokensReturned", 1234},
                       {"responseTimeMs", 0}});
  ASSERT_EQ(log.status, 202u) << log.body;
  EXPECT_EQ(log.json.at("apiKeyId"), key.json.at("id"));
  EXPECT_EQ(log.json.at("libraryId"), "/u/lib");
  EXPECT_EQ(log.json.at("tokensReturned"), 1234);
  EXPECT_EQ(log.json.at("query"), "how to\nconnect");
  EXPECT_TRUE(log.json.at("createdAt").is_string());
}

// ---- bad input ----

TEST_F(PlatformApi, DuplicatesAndUnknownReferencesAre409NamingTheConstraint) {
  Start();
  const std::string user_id = UserId("dup@example.com");
  auto dup = CreateUser({{"email", "dup@example.com"}});
  EXPECT_EQ(dup.status, 409u) << dup.body;
  EXPECT_EQ(dup.ErrorCode(), "CONSTRAINT_VIOLATION");
  EXPECT_EQ(dup.json.at("error").at("constraint"), "users_email_key");
  EXPECT_EQ(dup.json.at("error").at("sqlstate"), "23505");

  auto orphan = CreateKey({{"userId", "no-such-user"}, {"keyHash", "x"}, {"keyPrefix", "p"}, {"name", "n"}});
  EXPECT_EQ(orphan.status, 409u) << orphan.body;
  EXPECT_EQ(orphan.ErrorCode(), "CONSTRAINT_VIOLATION");
  EXPECT_EQ(orphan.json.at("error").at("constraint"), "api_keys_userId_fkey");
  EXPECT_EQ(orphan.json.at("error").at("sqlstate"), "23503");
  EXPECT_NE(orphan.body.find("userId does not name a user"), std::string::npos) << orphan.body;

  ASSERT_EQ(CreateKey({{"userId", user_id}, {"keyHash", "same"}, {"keyPrefix", "p"}, {"name", "n"}}).status, 201u);
  auto same_hash = CreateKey({{"userId", user_id}, {"keyHash", "same"}, {"keyPrefix", "p"}, {"name", "n"}});
  EXPECT_EQ(same_hash.status, 409u);
  EXPECT_EQ(same_hash.json.at("error").at("constraint"), "api_keys_keyHash_key");

  ASSERT_EQ(CreateLibrary({{"id", "/x/y"}, {"name", "X"}}).status, 201u);
  auto same_id = CreateLibrary({{"id", "/x/y"}, {"name", "Y"}});
  EXPECT_EQ(same_id.status, 409u);
  EXPECT_EQ(same_id.json.at("error").at("constraint"), "libraries_pkey");
  EXPECT_EQ(Scalar("SELECT count(*) FROM api_keys") + Scalar("SELECT count(*) FROM libraries"), "11");
}

TEST_F(PlatformApi, BadInputIs400NamingTheMemberAndWritesNothing) {
  Start();
  const std::string user_id = UserId("valid@example.com");
  struct Case {
    const char* target;
    std::string body;
    const char* needle;
  };
  const std::string key_base = R"("userId":")" + user_id + R"(","keyHash":"h","keyPrefix":"p")";
  const std::vector<Case> cases = {
      {"/api/v1/users", R"({"email":"not-an-email"})", "'email' is not a valid email address"},
      {"/api/v1/users", R"({"email":"a@b"})", "'email' is not a valid email address"},
      {"/api/v1/users", R"({"email":"a b@example.com"})", "'email'"},
      {"/api/v1/users", R"({"email":"a@@example.com"})", "'email'"},
      {"/api/v1/users", R"({"email":""})", "'email'"},
      {"/api/v1/users", R"({"email":"x@example.com","hashedPassword":""})", "'hashedPassword' must not be empty"},
      {"/api/v1/users", R"({"email":7})", "'email' must be a string"},
      {"/api/v1/users", R"({})", "missing required member 'email'"},
      {"/api/v1/users", R"({"email":"x@example.com","emial":"y"})", "unknown member 'emial'"},
      {"/api/v1/users", R"({"email":"x@example.com","apiKeys":[]})", "unknown member 'apiKeys'"},
      {"/api/v1/users", R"({"email":"x@example.com","id":"chosen"})", "unknown member 'id'"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":""})", "'name' must not be empty"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":"   "})", "'name' must not be blank"},
      {"/api/v1/api-keys", "{" + key_base + "}", "missing required member 'name'"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":"n","quotaRequestsPerMinute":0})",
       "'quotaRequestsPerMinute' must be an integer in 1..2147483647"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":"n","quotaRequestsPerDay":2147483648})",
       "'quotaRequestsPerDay' must be an integer in 1..2147483647"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":"n","quotaRequestsPerDay":1.5})", "'quotaRequestsPerDay'"},
      {"/api/v1/api-keys", "{" + key_base + R"(,"name":"n","revokedAt":null})", "unknown member 'revokedAt'"},
      {"/api/v1/libraries", R"({"id":"mongodb","name":"M"})", "'id' must be a library id of the form /vendor/name"},
      {"/api/v1/libraries", R"({"id":"/mongodb","name":"M"})", "/vendor/name"},
      {"/api/v1/libraries", R"({"id":"/a/b/c","name":"M"})", "/vendor/name"},
      {"/api/v1/libraries", R"({"id":"/a/../b","name":"M"})", "/vendor/name"},
      {"/api/v1/libraries", R"({"id":"/a b/c","name":"M"})", "/vendor/name"},
      {"/api/v1/libraries", R"({"id":"//b","name":"M"})", "/vendor/name"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":""})", "'name' must not be empty"},
      {"/api/v1/libraries", R"({"id":"/a/b"})", "missing required member 'name'"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":"M","popularityScore":-1})", "'popularityScore' must be an integer"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":"M","popularityScore":"9"})",
       "'popularityScore' must be an integer"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":"M","repoUrl":"ftp://x"})", "'repoUrl' must be an absolute"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":"M","docsUrl":"docs"})", "'docsUrl' must be an absolute"},
      {"/api/v1/libraries", R"({"id":"/a/b","name":"M","totalTokens":5})", "unknown member 'totalTokens'"},
      {"/api/v1/usage-logs", R"({})", "missing required member 'toolName'"},
      {"/api/v1/usage-logs", R"({"toolName":""})", "'toolName' must not be empty"},
      {"/api/v1/usage-logs", R"({"toolName":"t","responseTimeMs":-5})", "'responseTimeMs' must be an integer"},
      {"/api/v1/usage-logs", R"({"toolName":"t","tokensReturned":"many"})", "'tokensReturned' must be an integer"},
      {"/api/v1/usage-logs", R"({"toolName":"t","libraryId":"bad"})", "'libraryId' must be a library id"},
      {"/api/v1/usage-logs", R"({"toolName":"t","extra":1})", "unknown member 'extra'"},
      {"/api/v1/users", R"({"email":)", "malformed JSON"},
      {"/api/v1/libraries", R"([])", "must be a JSON object"},
  };
  for (const auto& c : cases) {
    auto r = svc().Request("POST", c.target, c.body);
    EXPECT_EQ(r.status, 400u) << c.target << " " << c.body << " -> " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << c.body;
    EXPECT_NE(r.body.find(c.needle), std::string::npos) << c.body << " -> " << r.body;
  }
  auto text = svc().Request("POST", "/api/v1/users", "email=x@example.com", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(text.status, 415u) << text.body;

  const std::vector<std::pair<std::string, std::string>> gets = {
      {"/api/v1/libraries/search?q=x&limit=0", "'limit' must be an integer in 1..100"},
      {"/api/v1/libraries/search?q=x&limit=101", "'limit' must be an integer in 1..100"},
      {"/api/v1/libraries/search?q=x&limit=-1", "'limit'"},
      {"/api/v1/libraries/search?q=x&limit=ten", "'limit'"},
      {"/api/v1/libraries/search?q=x&limit=", "'limit'"},
      {"/api/v1/libraries/search?q=x&limit=1e1", "'limit'"},
      {"/api/v1/libraries/search?q=x&limit=99999999999", "'limit'"},
      {"/api/v1/libraries/search?q=x&limit=5&limit=6", "more than once"},
      {"/api/v1/libraries/search", "missing required query parameter 'q'"},
      {"/api/v1/libraries/search?limit=5", "missing required query parameter 'q'"},
      {"/api/v1/libraries/search?q=", "'q' must not be empty"},
      {"/api/v1/libraries/search?q=+++", "'q' must not be blank"},
      {"/api/v1/libraries/search?q=a%0Ab", "'q' must be valid UTF-8 without control characters"},
      {"/api/v1/libraries/search?q=%ff", "'q' must be valid UTF-8"},
      {"/api/v1/libraries/search?q=" + std::string(300, 'a'), "'q' must be at most 256 bytes"},
      {"/api/v1/libraries/search?q=x&lmit=5", "unknown query parameter 'lmit'"},
      {"/api/v1/libraries/search?q=%zz", "malformed percent-escape"},
      {"/api/v1/users/by-email/not-an-email", "'email' is not a valid email address"},
      {"/api/v1/users/by-email/" + Encode("a\nb@example.com"), "'email'"},
  };
  for (const auto& [target, needle] : gets) {
    auto r = svc().Get(target);
    EXPECT_EQ(r.status, 400u) << target << " -> " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << target;
    EXPECT_NE(r.body.find(needle), std::string::npos) << target << " -> " << r.body;
  }
  EXPECT_EQ(Scalar("SELECT count(*) FROM users"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM api_keys") + Scalar("SELECT count(*) FROM libraries") +
                Scalar("SELECT count(*) FROM usage_logs"),
            "000");
}

TEST_F(PlatformApi, AcceptedFormatsRoundTrip) {
  Start();
  for (const char* email :
       {"first.last+tag@sub.example.co.uk", "o'brien@example.org", "x@xn--bcher-kva.example", "UPPER@Example.COM"}) {
    auto r = CreateUser({{"email", email}});
    EXPECT_EQ(r.status, 201u) << email << " -> " << r.body;
    auto back = UserByEmail(email);
    EXPECT_EQ(back.status, 200u) << email << " -> " << back.body;
    EXPECT_EQ(back.json.at("email"), json::value(email));
  }
  // Emails are compared exactly (as Prisma's findUnique does).
  EXPECT_EQ(UserByEmail("upper@example.com").status, 404u);
  for (const char* id : {"/vercel/next.js", "/mongodb/docs", "/a_b/c-d.e", "/A/B"}) {
    auto r = CreateLibrary({{"id", id}, {"name", std::string("Lib ") + id}, {"metadata", nullptr}});
    EXPECT_EQ(r.status, 201u) << id << " -> " << r.body;
  }
  auto nulls = CreateUser({{"email", "nulls@example.com"}, {"hashedPassword", nullptr}, {"oauthId", nullptr}});
  EXPECT_EQ(nulls.status, 201u) << nulls.body;
}

TEST_F(PlatformApi, RoutesNeedATokenAndTheRightMethod) {
  Start();
  EXPECT_EQ(svc().Request("GET", "/api/v1/libraries/search?q=x", {}, {}, std::string()).status, 401u);
  EXPECT_EQ(svc().Request("POST", "/api/v1/users", R"({"email":"a@b.co"})", {}, std::string()).status, 401u);
  auto method = svc().Request("GET", "/api/v1/users");
  EXPECT_EQ(method.status, 405u);
  EXPECT_EQ(method.Header("allow"), "POST");
  EXPECT_EQ(svc().Request("DELETE", "/api/v1/libraries/search?q=x").status, 405u);
}

}  // namespace
}  // namespace coredb::testing
