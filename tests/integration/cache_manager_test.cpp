// CacheManager + RedisCacheStore + RedisClient against a real Redis: the dev stack's (REDIS_URL,
// required — these tests fail, never skip, without it) and, for a Redis that stops answering, a
// private redis-server on a free port that the test pauses with SIGSTOP.
#include "coredb/cache/cache_manager.hpp"
#include "coredb/adapters/redis/redis_cache_store.hpp"
#include "coredb/adapters/redis/redis_client.hpp"
#include "coredb/config/config.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace coredb::cache {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using redis::Reply;
using std::chrono::milliseconds;

bool RunUntil(asio::io_context& io, const std::function<bool()>& done, milliseconds limit = 30s) {
  const auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) {
    io.restart();
    io.run_one_until(deadline);
  }
  return done();
}

template <class T>
T RunTask(asio::io_context& io, asio::awaitable<T> task, milliseconds limit = 30s) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    done = true;
  });
  if (!RunUntil(
          io, [&] { return done; }, limit))
    throw std::runtime_error("coroutine did not finish in time");
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

long long ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

redis::RedisOptions OptionsFromEnvironment() {
  const char* url = std::getenv("REDIS_URL");
  if (url == nullptr) throw std::runtime_error("REDIS_URL is not set: integration tests need a real Redis");
  // The service's own configuration loader reads it, exactly as `coredb serve` would.
  const auto loaded = config::Load([](const std::string& name) -> std::optional<std::string> {
    if (name != "REDIS_URL") return std::nullopt;
    return std::string(std::getenv("REDIS_URL"));
  });
  redis::RedisOptions options;
  options.host = loaded.config.redis.host;
  options.port = loaded.config.redis.port;
  options.username = loaded.config.redis.username;
  options.password = loaded.config.redis.password;
  options.db = loaded.config.redis.db;
  options.name = "cache-test";
  return options;
}

// "cmdstat_scan:calls=12,usec=..." → 12 (0 when the command never ran).
long long CommandCalls(const std::string& info, const std::string& command) {
  const std::string needle = "cmdstat_" + command + ":calls=";
  const auto at = info.find(needle);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + needle.size()));
}

// One "instance" of the service's cache: a client, the store and the manager.
struct CacheInstance {
  CacheInstance(asio::io_context& io, redis::RedisOptions redis_options, CacheManagerOptions options)
      : client(io.get_executor(), std::move(redis_options)),
        store(client),
        manager(io.get_executor(), store, std::move(options)) {}
  redis::RedisClient client;
  redis::RedisCacheStore store;
  CacheManager manager;
};

class CacheManagerRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = std::string("coredb:it:") + info->name() + ":" + std::to_string(::getpid()) + ":";
    cache_ = Instance();
  }
  void TearDown() override {
    if (cache_ && cache_->client.connected()) {
      auto cleaned = RunTask(io_, cache_->manager.InvalidatePattern(prefix_ + "*"));
      EXPECT_TRUE(cleaned.has_value());
    }
  }

  CacheManagerOptions Options() {
    CacheManagerOptions o;
    o.command_timeout = 1000ms;
    o.scan_batch = 1000;
    o.breaker.name = "redis";
    o.breaker.reset_timeout = 500ms;
    return o;
  }
  std::unique_ptr<CacheInstance> Instance(std::optional<redis::RedisOptions> redis_options = std::nullopt,
                                          std::optional<CacheManagerOptions> options = std::nullopt) {
    auto instance = std::make_unique<CacheInstance>(io_, redis_options.value_or(OptionsFromEnvironment()),
                                                    options.value_or(Options()));
    instance->client.Start();
    EXPECT_TRUE(RunTask(io_, instance->client.WaitConnected(5s))) << instance->client.last_error();
    return instance;
  }

  Result<Reply> Raw(std::vector<std::string> args) { return RunTask(io_, cache_->client.Command(std::move(args))); }
  std::string Key(const std::string& name) const { return prefix_ + name; }

  // A loader that counts its runs and answers `value` after `delay` (a query taking that long).
  CacheManager::Loader SlowLoader(json::value value, milliseconds delay, int& runs) {
    return [this, value, delay, &runs]() -> asio::awaitable<Result<json::value>> {
      ++runs;
      asio::steady_timer timer(io_, delay);
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return value;
    };
  }

  asio::io_context io_;  // first: destroyed after the clients
  std::string prefix_;
  std::unique_ptr<CacheInstance> cache_;
};

TEST_F(CacheManagerRedisTest, SetThenGetRoundTripsJsonAndTtl) {
  const auto value = json::parse(R"({"id":1,"email":"a@b.c","tags":["x",null,2.5],"nested":{"ok":true}})");
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("user"), value, 300s)).has_value());
  auto got = RunTask(io_, cache_->manager.Get(Key("user")));
  ASSERT_TRUE(got.has_value()) << got.error().message;
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, value);
  EXPECT_GE((*got)->ttl_seconds, 299);
  EXPECT_LE((*got)->ttl_seconds, 300);
  auto raw = Raw({"GET", Key("user")});
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(json::parse(raw->str), value) << "stored as JSON text, readable by any client";
  auto missing = RunTask(io_, cache_->manager.Get(Key("missing")));
  ASSERT_TRUE(missing.has_value());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(CacheManagerRedisTest, HundredConcurrentGetOrSetOnAColdKeyRunTheLoaderOnce) {
  int runs = 0;
  std::vector<std::shared_ptr<std::optional<Result<GetOrSetResult>>>> slots;
  for (int i = 0; i < 100; ++i) {
    auto slot = std::make_shared<std::optional<Result<GetOrSetResult>>>();
    asio::co_spawn(io_,
                   cache_->manager.GetOrSet(Key("cold"), 60s, {}, SlowLoader(json::value{{"rows", 3}}, 100ms, runs)),
                   [slot](std::exception_ptr e, Result<GetOrSetResult> r) {
                     if (e) std::rethrow_exception(e);
                     slot->emplace(std::move(r));
                   });
    slots.push_back(slot);
  }
  ASSERT_TRUE(RunUntil(
      io_, [&] { return std::all_of(slots.begin(), slots.end(), [](const auto& s) { return s->has_value(); }); }));
  EXPECT_EQ(runs, 1);
  for (const auto& s : slots) {
    ASSERT_TRUE((*s)->has_value()) << (**s).error().message;
    EXPECT_EQ(*(**s)->value, (json::value{{"rows", 3}}));
  }
  const auto& stats = cache_->manager.Stats();
  EXPECT_EQ(stats.loads, 1U);
  EXPECT_EQ(stats.joins, 99U);
  EXPECT_EQ(stats.stores, 1U);
  auto again = RunTask(io_, cache_->manager.GetOrSet(Key("cold"), 60s, {}, SlowLoader(1, 0ms, runs)));
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->hit);
  EXPECT_EQ(runs, 1);
  auto ttl = Raw({"TTL", Key("cold")});
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(ttl->integer, 50);
  EXPECT_LE(ttl->integer, 60);
}

TEST_F(CacheManagerRedisTest, InvalidatePatternDeletesThousandsOfKeysWithScanAndUnlinkBatchesNeverKeys) {
  constexpr int kKeys = 2500;
  std::vector<std::string> mset;
  mset.emplace_back("MSET");
  for (int i = 0; i < kKeys; ++i) {
    mset.push_back(Key("bulk:" + std::to_string(i)));
    mset.emplace_back("1");
  }
  ASSERT_TRUE(Raw(std::move(mset)).has_value());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("keep:" + std::to_string(i)), json::value(i), 60s)).has_value());
  }
  auto before = Raw({"INFO", "commandstats"});
  ASSERT_TRUE(before.has_value());

  const auto started = Clock::now();
  auto deleted = RunTask(io_, cache_->manager.InvalidatePattern(Key("bulk:*")));
  const auto took = ElapsedMs(started);
  ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
  EXPECT_EQ(*deleted, static_cast<std::uint64_t>(kKeys));

  auto after = Raw({"INFO", "commandstats"});
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(CommandCalls(after->str, "keys"), CommandCalls(before->str, "keys")) << "never KEYS";
  EXPECT_GE(CommandCalls(after->str, "scan") - CommandCalls(before->str, "scan"), 3) << "SCAN in pages of 1000";
  EXPECT_GE(CommandCalls(after->str, "unlink") - CommandCalls(before->str, "unlink"), 3)
      << "UNLINK one page at a time (at most scan_batch keys each)";
  auto left = Raw({"EXISTS", Key("bulk:0"), Key("bulk:1249"), Key("bulk:2499")});
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->integer, 0);
  auto kept = Raw({"EXISTS", Key("keep:0"), Key("keep:4")});
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->integer, 2) << "keys that do not match stay";
  std::printf("[ info ] InvalidatePattern: %d keys in %lld ms\n", kKeys, took);
}

TEST_F(CacheManagerRedisTest, EntriesExpireAfterTheirTtl) {
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("short"), json::value("x"), 1s)).has_value());
  auto now = RunTask(io_, cache_->manager.Get(Key("short")));
  ASSERT_TRUE(now.has_value() && now->has_value());
  EXPECT_LE((*now)->ttl_seconds, 1);
  std::this_thread::sleep_for(1200ms);
  auto later = RunTask(io_, cache_->manager.Get(Key("short")));
  ASSERT_TRUE(later.has_value());
  EXPECT_FALSE(later->has_value()) << "expired after 1 s";
  auto exists = RunTask(io_, cache_->manager.Exists(Key("short")));
  ASSERT_TRUE(exists.has_value());
  EXPECT_FALSE(*exists);
}

TEST_F(CacheManagerRedisTest, IncrementGivesANewCounterItsTtlAndLaterIncrementsKeepIt) {
  auto first = RunTask(io_, cache_->manager.Increment(Key("quota"), 100s));
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_EQ(*first, 1);
  auto ttl1 = Raw({"TTL", Key("quota")});
  ASSERT_TRUE(ttl1.has_value());
  EXPECT_GT(ttl1->integer, 95);
  EXPECT_LE(ttl1->integer, 100);
  auto second = RunTask(io_, cache_->manager.Increment(Key("quota"), 1000s, 41));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 42);
  auto ttl2 = Raw({"TTL", Key("quota")});
  ASSERT_TRUE(ttl2.has_value());
  EXPECT_LE(ttl2->integer, 100) << "a fixed window: the second increment did not extend it";
  auto as_json = RunTask(io_, cache_->manager.Get(Key("quota")));
  ASSERT_TRUE(as_json.has_value() && as_json->has_value());
  EXPECT_EQ((*as_json)->value, json::value(42)) << "a counter reads back as a JSON number";

  auto no_ttl = RunTask(io_, cache_->manager.Increment(Key("forever")));
  ASSERT_TRUE(no_ttl.has_value());
  auto ttl3 = Raw({"TTL", Key("forever")});
  ASSERT_TRUE(ttl3.has_value());
  EXPECT_EQ(ttl3->integer, -1);

  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("text"), json::value("abc"), 60s)).has_value());
  auto bad = RunTask(io_, cache_->manager.Increment(Key("text")));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kQueryError);
  EXPECT_NE(bad.error().message.find("not an integer"), std::string::npos) << bad.error().message;
}

TEST_F(CacheManagerRedisTest, TagsInvalidateTheirEntriesAndTagSetsLiveAsLongAsTheirLongestMember) {
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("u1"), json::value(1), 50s, {Key("users")})).has_value());
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("u2"), json::value(2), 500s, {Key("users")})).has_value());
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("u3"), json::value(3), 20s, {Key("users")})).has_value());
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("lib"), json::value(4), 50s, {Key("libs")})).has_value());
  const std::string users_set = redis::RedisCacheStore::TagKey(Key("users"));
  auto members = Raw({"SCARD", users_set});
  ASSERT_TRUE(members.has_value());
  EXPECT_EQ(members->integer, 3);
  auto set_ttl = Raw({"TTL", users_set});
  ASSERT_TRUE(set_ttl.has_value());
  EXPECT_GT(set_ttl->integer, 490) << "extended to the longest member's TTL, never shortened";

  auto deleted = RunTask(io_, cache_->manager.InvalidateTags({Key("users")}));
  ASSERT_TRUE(deleted.has_value()) << deleted.error().message;
  EXPECT_EQ(*deleted, 3U);
  auto gone = Raw({"EXISTS", Key("u1"), Key("u2"), Key("u3"), users_set});
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->integer, 0);
  auto lib = Raw({"EXISTS", Key("lib")});
  ASSERT_TRUE(lib.has_value());
  EXPECT_EQ(lib->integer, 1);
  (void)RunTask(io_, cache_->manager.InvalidateTags({Key("libs")}));
}

TEST_F(CacheManagerRedisTest, GetOrSetStoresWithTagsSoAWriteCanDropIt) {
  int runs = 0;
  auto first = RunTask(io_, cache_->manager.GetOrSet(Key("q"), 60s, {Key("t")}, SlowLoader("v1", 0ms, runs)));
  ASSERT_TRUE(first.has_value());
  auto hit = RunTask(io_, cache_->manager.GetOrSet(Key("q"), 60s, {Key("t")}, SlowLoader("v2", 0ms, runs)));
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(hit->hit);
  EXPECT_EQ(*hit->value, json::value("v1"));
  ASSERT_TRUE(RunTask(io_, cache_->manager.Invalidate({Key("t")}, {})).has_value());
  auto reloaded = RunTask(io_, cache_->manager.GetOrSet(Key("q"), 60s, {Key("t")}, SlowLoader("v2", 0ms, runs)));
  ASSERT_TRUE(reloaded.has_value());
  EXPECT_FALSE(reloaded->hit);
  EXPECT_EQ(*reloaded->value, json::value("v2"));
  EXPECT_EQ(runs, 2);
  (void)RunTask(io_, cache_->manager.InvalidateTags({Key("t")}));
}

TEST_F(CacheManagerRedisTest, InvalidationByAnotherInstanceDuringALoadKeepsTheStaleResultOut) {
  auto other = Instance();  // a second service instance on the same Redis
  int runs = 0;
  bool invalidated = false;
  // The load reads "before" (the row as it was), then — while it is still running — the other
  // instance commits a write and invalidates the key.
  CacheManager::Loader loader = [&]() -> asio::awaitable<Result<json::value>> {
    ++runs;
    asio::steady_timer timer(io_, 150ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return json::value("before");
  };
  std::optional<Result<GetOrSetResult>> result;
  asio::co_spawn(io_, cache_->manager.GetOrSet(Key("row"), 60s, {}, loader),
                 [&](std::exception_ptr e, Result<GetOrSetResult> r) {
                   if (e) std::rethrow_exception(e);
                   result.emplace(std::move(r));
                 });
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(io_, 50ms);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        auto deleted = co_await other->manager.InvalidatePattern(Key("row"));
        EXPECT_TRUE(deleted.has_value());
        invalidated = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  ASSERT_TRUE(RunUntil(io_, [&] { return result.has_value() && invalidated; }));
  ASSERT_TRUE(result->has_value());
  EXPECT_EQ(*(*result)->value, json::value("before")) << "its caller still gets an answer";
  auto cached = Raw({"EXISTS", Key("row")});
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->integer, 0) << "a value read before the write must not be cached after its invalidation";
  EXPECT_EQ(cache_->manager.Stats().stores_skipped, 1U);
}

TEST_F(CacheManagerRedisTest, DeleteAndExists) {
  ASSERT_TRUE(RunTask(io_, cache_->manager.Set(Key("d"), json::value(nullptr), 60s)).has_value());
  auto exists = RunTask(io_, cache_->manager.Exists(Key("d")));
  ASSERT_TRUE(exists.has_value());
  EXPECT_TRUE(*exists);
  auto deleted = RunTask(io_, cache_->manager.Delete(Key("d")));
  ASSERT_TRUE(deleted.has_value());
  EXPECT_TRUE(*deleted);
  auto again = RunTask(io_, cache_->manager.Delete(Key("d")));
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
}

// ---- a Redis that stops answering -------------------------------------------------------------

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// A private redis-server child; paused and resumed with SIGSTOP/SIGCONT, killed on destruction.
class PausableRedis {
 public:
  PausableRedis() : port_(FreePort()) {
    std::string dir = (std::filesystem::temp_directory_path() / "coredb-cache-redis-XXXXXX").string();
    if (::mkdtemp(dir.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_,
                                     "--daemonize",
                                     "no",
                                     "--logfile",
                                     dir_ + "/redis.log"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot spawn redis-server");
    }
  }
  PausableRedis(const PausableRedis&) = delete;
  PausableRedis& operator=(const PausableRedis&) = delete;
  ~PausableRedis() {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void Pause() { ::kill(pid_, SIGSTOP); }
  void Resume() { ::kill(pid_, SIGCONT); }
  redis::RedisOptions Options() const {
    redis::RedisOptions o;
    o.host = "127.0.0.1";
    o.port = port_;
    o.name = "pausable";
    o.command_timeout = 200ms;
    o.connect_timeout = 200ms;
    o.reconnect_max = 200ms;
    return o;
  }

 private:
  std::uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

TEST_F(CacheManagerRedisTest, SlowRedisOpensTheBreakerThenReadsStopWaitingAndTheCacheComesBack) {
  PausableRedis server;
  auto options = Options();
  options.command_timeout = 200ms;
  options.breaker.volume_threshold = 3;
  options.breaker.reset_timeout = 500ms;
  auto slow = Instance(server.Options(), options);
  ASSERT_TRUE(slow->client.connected());
  int runs = 0;
  auto warm = RunTask(io_, slow->manager.GetOrSet("k", 60s, {}, SlowLoader("v", 0ms, runs)));
  ASSERT_TRUE(warm.has_value());

  server.Pause();  // Redis stops answering, its socket stays open: only timeouts tell
  std::vector<long long> took;
  for (int i = 0; i < 10; ++i) {
    const auto started = Clock::now();
    auto r = RunTask(io_, slow->manager.GetOrSet("k", 60s, {}, SlowLoader(i, 0ms, runs)));
    took.push_back(ElapsedMs(started));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(*r->value, json::value(i)) << "answered by the loader, correctly";
  }
  EXPECT_EQ(slow->manager.breaker().state(), BreakerState::kOpen);
  // Until the breaker opens (volume 3 with the warm-up's two successes in the window: after 2
  // or 3 timeouts) a call waits for the command timeout; from then on nothing waits.
  const auto waited = std::count_if(took.begin(), took.end(), [](long long ms) { return ms >= 190; });
  EXPECT_GE(waited, 1);
  EXPECT_LE(waited, 3);
  for (int i = 3; i < 10; ++i) EXPECT_LT(took[i], 20) << "call " << i << ": the open breaker costs no waiting";

  server.Resume();
  const auto resumed = Clock::now();
  bool hit = false;
  while (!hit && ElapsedMs(resumed) < 5000) {
    auto r = RunTask(io_, slow->manager.GetOrSet("k", 60s, {}, SlowLoader("again", 0ms, runs)));
    ASSERT_TRUE(r.has_value());
    hit = r->hit;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(hit) << "the cache is used again once Redis answers";
  EXPECT_LT(ElapsedMs(resumed), 2000);
  EXPECT_EQ(slow->manager.breaker().state(), BreakerState::kClosed);
}

TEST_F(CacheManagerRedisTest, RedisOutOfMemoryIsUnavailableNotABadRequest) {
  PausableRedis server;
  auto full = Instance(server.Options(), Options());
  ASSERT_TRUE(full->client.connected());
  auto config = RunTask(io_, full->client.Command({"CONFIG", "SET", "maxmemory", "1"}));
  ASSERT_TRUE(config.has_value()) << config.error().message;
  auto set = RunTask(io_, full->manager.Set("k", json::value(1), 60s));
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, ErrorCode::kDatabaseUnavailable) << set.error().message;
  EXPECT_NE(set.error().message.find("OOM"), std::string::npos) << set.error().message;
  int runs = 0;
  auto loaded = RunTask(io_, full->manager.GetOrSet("k", 60s, {}, SlowLoader("v", 0ms, runs)));
  ASSERT_TRUE(loaded.has_value()) << "a full Redis never fails a read-through";
  EXPECT_EQ(*loaded->value, json::value("v"));
}

}  // namespace
}  // namespace coredb::cache
