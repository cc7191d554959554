// CacheManager over the in-memory FakeCacheStore: single-flight, failures shared with joiners,
// the epoch check against invalidations that race a load, life without the store (breaker,
// direct loads), and the counters.
#include "coredb/cache/cache_manager.hpp"

#include "fakes/fake_cache_store.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>

namespace coredb::cache {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using testing::FakeCacheStore;
using Slot = std::shared_ptr<std::optional<Result<GetOrSetResult>>>;

// Loaders wait here until the test opens the gate (or their caller is cancelled).
class Gate {
 public:
  explicit Gate(asio::io_context& io) : timer_(io, asio::steady_timer::time_point::max()) {}
  asio::awaitable<Result<void>> Wait() {
    if (!open_) co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) {
      co_return MakeError(ErrorCode::kQueryTimeout, "canceling statement due to user request");
    }
    co_return Result<void>();
  }
  void Open() {
    open_ = true;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  bool open_ = false;
};

class CacheManagerTest : public ::testing::Test {
 protected:
  CacheManagerTest() { Make(Options()); }

  CacheManagerOptions Options() {
    CacheManagerOptions o;
    o.command_timeout = 100ms;
    o.scan_batch = 10;
    o.breaker.name = "redis";
    o.breaker.volume_threshold = 3;
    o.breaker.error_threshold_percent = 50;
    o.breaker.reset_timeout = 1s;
    return o;
  }
  void Make(CacheManagerOptions o) {
    cache_ = std::make_unique<CacheManager>(io_.get_executor(), store_, std::move(o), [this] { return now_; });
  }

  // A loader that counts its runs, waits for `gate` (when given) and returns `value`.
  CacheManager::Loader Loader(json::value value, Gate* gate = nullptr) {
    return [this, value, gate]() -> asio::awaitable<Result<json::value>> {
      ++loader_runs_;
      if (gate != nullptr) {
        auto opened = co_await gate->Wait();
        if (!opened) co_return opened.error();
      }
      co_return value;
    };
  }
  CacheManager::Loader Failing(Error error, Gate* gate = nullptr) {
    return [this, error, gate]() -> asio::awaitable<Result<json::value>> {
      ++loader_runs_;
      if (gate != nullptr) {
        auto opened = co_await gate->Wait();
        if (!opened) co_return opened.error();
      }
      co_return error;
    };
  }

  Slot Spawn(std::string key, CacheManager::Loader loader, std::vector<std::string> tags = {},
             asio::cancellation_slot cancel = {}) {
    auto slot = std::make_shared<std::optional<Result<GetOrSetResult>>>();
    asio::co_spawn(io_, cache_->GetOrSet(std::move(key), 60s, std::move(tags), std::move(loader)),
                   asio::bind_cancellation_slot(cancel, [slot](std::exception_ptr e, Result<GetOrSetResult> r) {
                     if (e) {
                       slot->emplace(MakeError(ErrorCode::kInternal, "exception"));
                       return;
                     }
                     slot->emplace(std::move(r));
                   }));
    return slot;
  }

  template <class T>
  T Run(asio::awaitable<T> task) {
    std::optional<T> out;
    asio::co_spawn(io_, std::move(task), [&](std::exception_ptr e, T r) {
      if (e) std::rethrow_exception(e);
      out.emplace(std::move(r));
    });
    Drain();
    if (!out) throw std::runtime_error("task did not finish");
    return std::move(*out);
  }

  void Drain() {
    io_.restart();
    io_.poll();
    io_.restart();
  }

  asio::io_context io_;
  FakeCacheStore store_;
  CircuitBreaker::Clock::time_point now_ = CircuitBreaker::Clock::time_point(1000h);
  std::unique_ptr<CacheManager> cache_;
  int loader_runs_ = 0;
};

TEST_F(CacheManagerTest, HundredConcurrentMissesRunTheLoaderOnce) {
  Gate gate(io_);
  std::vector<Slot> slots;
  for (int i = 0; i < 100; ++i) slots.push_back(Spawn("k", Loader(json::value{{"n", 42}}, &gate)));
  Drain();
  EXPECT_EQ(loader_runs_, 1);
  EXPECT_EQ(cache_->flights(), 1U);
  gate.Open();
  Drain();
  for (const auto& s : slots) {
    ASSERT_TRUE(s->has_value());
    ASSERT_TRUE((*s)->has_value()) << (**s).error().message;
    EXPECT_EQ(*(**s)->value, (json::value{{"n", 42}}));
    EXPECT_FALSE((**s)->hit);
  }
  EXPECT_EQ(loader_runs_, 1);
  EXPECT_EQ(store_.set_if_epoch_calls, 1);
  EXPECT_EQ(store_.values.at("k").bytes, R"({"n":42})");
  EXPECT_EQ(store_.values.at("k").ttl, 60);
  const auto& stats = cache_->Stats();
  EXPECT_EQ(stats.misses, 100U);
  EXPECT_EQ(stats.loads, 1U);
  EXPECT_EQ(stats.joins, 99U);
  EXPECT_EQ(stats.stores, 1U);
  EXPECT_EQ(stats.hits, 0U);
  EXPECT_EQ(cache_->flights(), 0U);
}

TEST_F(CacheManagerTest, EveryJoinerSharesTheOneResultObject) {
  Gate gate(io_);
  auto a = Spawn("k", Loader("v", &gate));
  auto b = Spawn("k", Loader("v", &gate));
  Drain();
  gate.Open();
  Drain();
  ASSERT_TRUE(a->has_value() && (*a)->has_value());
  ASSERT_TRUE(b->has_value() && (*b)->has_value());
  EXPECT_EQ((**a)->value.get(), (**b)->value.get()) << "a result is shared, not copied per caller";
}

TEST_F(CacheManagerTest, HitIsServedWithoutTheLoader) {
  store_.values["k"] = {R"([1,"two",null])", 30};
  auto r = Run(cache_->GetOrSet("k", 60s, {}, Loader("unused")));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->hit);
  EXPECT_EQ(*r->value, json::parse(R"([1,"two",null])"));
  EXPECT_EQ(loader_runs_, 0);
  EXPECT_EQ(cache_->Stats().hits, 1U);
}

TEST_F(CacheManagerTest, LoaderFailureReachesEveryJoinerAndNothingIsCached) {
  Gate gate(io_);
  std::vector<Slot> slots;
  for (int i = 0; i < 10; ++i) {
    slots.push_back(Spawn("k", Failing(MakeError(ErrorCode::kQueryError, "relation \"nope\" does not exist"), &gate)));
  }
  Drain();
  gate.Open();
  Drain();
  for (const auto& s : slots) {
    ASSERT_TRUE(s->has_value());
    ASSERT_FALSE((*s)->has_value());
    EXPECT_EQ((**s).error().code, ErrorCode::kQueryError);
    EXPECT_EQ((**s).error().message, "relation \"nope\" does not exist");
  }
  EXPECT_EQ(loader_runs_, 1);
  EXPECT_TRUE(store_.values.empty());
  EXPECT_EQ(store_.set_if_epoch_calls, 0);
  EXPECT_EQ(cache_->Stats().load_errors, 1U);
  // The failure is not remembered: the next caller loads again.
  auto again = Run(cache_->GetOrSet("k", 60s, {}, Loader(7)));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again->value, json::value(7));
  EXPECT_EQ(loader_runs_, 2);
}

TEST_F(CacheManagerTest, LoaderThatThrowsFailsItsJoinersWithInternal) {
  Gate gate(io_);
  CacheManager::Loader throwing = [&]() -> asio::awaitable<Result<json::value>> {
    ++loader_runs_;
    auto opened = co_await gate.Wait();
    (void)opened;
    throw std::runtime_error("bug");
  };
  auto leader = Spawn("k", throwing);
  auto joiner = Spawn("k", Loader("unused"));
  Drain();
  gate.Open();
  Drain();
  ASSERT_TRUE(leader->has_value());
  EXPECT_EQ((*leader)->error().code, ErrorCode::kInternal);  // the exception, as the spawn saw it
  ASSERT_TRUE(joiner->has_value());
  ASSERT_FALSE((*joiner)->has_value());
  EXPECT_EQ((**joiner).error().code, ErrorCode::kInternal);
  EXPECT_EQ(cache_->flights(), 0U);
}

TEST_F(CacheManagerTest, InvalidationDuringALoadKeepsItsResultOutOfTheCache) {
  Gate gate(io_);
  auto slot = Spawn("user:1", Loader("old row", &gate), {"users"});
  Drain();
  ASSERT_EQ(loader_runs_, 1);
  // A write commits and invalidates while the (pre-write) load is still running.
  auto invalidated = Run(cache_->InvalidateTags({"users"}));
  ASSERT_TRUE(invalidated.has_value());
  gate.Open();
  Drain();
  ASSERT_TRUE(slot->has_value() && (*slot)->has_value());
  EXPECT_EQ(*(**slot)->value, json::value("old row")) << "the caller still gets its answer";
  EXPECT_EQ(store_.values.count("user:1"), 0U) << "but it must not be cached after the invalidation";
  EXPECT_EQ(cache_->Stats().stores_skipped, 1U);
  EXPECT_EQ(cache_->Stats().stores, 0U);
}

TEST_F(CacheManagerTest, CallerThatMissesAfterAnInvalidationDoesNotJoinAnOlderLoad) {
  Gate old_gate(io_);
  Gate new_gate(io_);
  auto before = Spawn("k", Loader("before write", &old_gate));
  Drain();
  auto deleted = Run(cache_->Delete("k"));
  ASSERT_TRUE(deleted.has_value());
  auto after = Spawn("k", Loader("after write", &new_gate));
  auto after2 = Spawn("k", Loader("unused", &new_gate));
  Drain();
  EXPECT_EQ(loader_runs_, 2) << "a new load for the callers that came after the invalidation";
  new_gate.Open();
  Drain();
  ASSERT_TRUE(after->has_value() && (*after)->has_value());
  EXPECT_EQ(*(**after)->value, json::value("after write"));
  ASSERT_TRUE(after2->has_value() && (*after2)->has_value());
  EXPECT_EQ(*(**after2)->value, json::value("after write")) << "joined the newer load";
  EXPECT_EQ(store_.values.at("k").bytes, "\"after write\"");
  old_gate.Open();
  Drain();
  ASSERT_TRUE(before->has_value() && (*before)->has_value());
  EXPECT_EQ(*(**before)->value, json::value("before write"));
  EXPECT_EQ(store_.values.at("k").bytes, "\"after write\"") << "the older load did not overwrite";
  EXPECT_EQ(cache_->flights(), 0U);
}

TEST_F(CacheManagerTest, CancelledLeaderDoesNotFailItsJoinersOneOfThemLoadsAgain) {
  Gate gate(io_);
  asio::cancellation_signal cancel;
  auto leader = Spawn("k", Loader("v", &gate), {}, cancel.slot());
  Drain();
  auto joiner1 = Spawn("k", Loader("v", &gate));
  auto joiner2 = Spawn("k", Loader("v", &gate));
  Drain();
  ASSERT_EQ(loader_runs_, 1);
  cancel.emit(asio::cancellation_type::terminal);  // the leader's client went away
  Drain();
  ASSERT_TRUE(leader->has_value());
  EXPECT_FALSE((*leader)->has_value());
  EXPECT_EQ(loader_runs_, 2) << "one joiner took over the load";
  EXPECT_FALSE(joiner1->has_value());
  EXPECT_FALSE(joiner2->has_value());
  gate.Open();
  Drain();
  ASSERT_TRUE(joiner1->has_value() && (*joiner1)->has_value()) << (*joiner1)->error().message;
  ASSERT_TRUE(joiner2->has_value() && (*joiner2)->has_value()) << (*joiner2)->error().message;
  EXPECT_EQ(loader_runs_, 2);
  EXPECT_EQ(store_.values.at("k").bytes, "\"v\"");
}

TEST_F(CacheManagerTest, JoinerGivesUpAfterMaxJoinWait) {
  auto o = Options();
  o.max_join_wait = 20ms;
  Make(o);
  Gate gate(io_);
  auto leader = Spawn("k", Loader("v", &gate));
  Drain();
  auto joiner = Spawn("k", Loader("v", &gate));
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (!joiner->has_value() && std::chrono::steady_clock::now() < deadline) {
    io_.restart();
    io_.run_one_for(50ms);
  }
  ASSERT_TRUE(joiner->has_value());
  ASSERT_FALSE((*joiner)->has_value());
  EXPECT_EQ((**joiner).error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_NE((**joiner).error().message.find("gave up waiting"), std::string::npos);
  gate.Open();
  Drain();
  ASSERT_TRUE(leader->has_value() && (*leader)->has_value());
}

TEST_F(CacheManagerTest, StoreDownMeansDirectLoadsThenTheBreakerStopsAskingIt) {
  store_.down = true;
  for (int i = 0; i < 10; ++i) {
    auto r = Run(cache_->GetOrSet("k", 60s, {}, Loader(i)));
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(*r->value, json::value(i)) << "every answer is the loader's, correct";
    EXPECT_FALSE(r->hit);
  }
  EXPECT_EQ(loader_runs_, 10);
  EXPECT_EQ(store_.lookups, 3) << "after volume_threshold failures the breaker opens: no more store calls";
  EXPECT_EQ(cache_->breaker().state(), BreakerState::kOpen);
  EXPECT_EQ(cache_->Stats().bypasses, 10U);
  EXPECT_EQ(cache_->Stats().errors, 10U);  // 3 failed calls + 7 refused by the open breaker

  // The cache endpoints' operations fail fast with CIRCUIT_OPEN and a Retry-After.
  auto get = Run(cache_->Get("k"));
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, ErrorCode::kCircuitOpen);
  EXPECT_EQ(get.error().retry_after_seconds, 1);

  // Redis comes back; after reset_timeout the half-open probe succeeds and the cache is used again.
  store_.down = false;
  now_ += 1s;
  auto r = Run(cache_->GetOrSet("k", 60s, {}, Loader("fresh")));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(cache_->breaker().state(), BreakerState::kClosed);
  EXPECT_EQ(store_.values.at("k").bytes, "\"fresh\"");
  auto hit = Run(cache_->GetOrSet("k", 60s, {}, Loader("unused")));
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(hit->hit);
}

TEST_F(CacheManagerTest, StoreDownFailsTheOtherOperationsWithDatabaseUnavailable) {
  store_.down = true;
  auto get = Run(cache_->Get("k"));
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, ErrorCode::kDatabaseUnavailable);
  auto set = Run(cache_->Set("k", json::value(1), 10s));
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, ErrorCode::kDatabaseUnavailable);
  auto del = Run(cache_->Delete("k"));
  ASSERT_FALSE(del.has_value());
  EXPECT_EQ(del.error().code, ErrorCode::kDatabaseUnavailable);
  auto inv = Run(cache_->InvalidatePattern("k*"));
  ASSERT_FALSE(inv.has_value());
  EXPECT_EQ(inv.error().code, ErrorCode::kCircuitOpen) << "the fourth call finds the breaker open";
}

TEST_F(CacheManagerTest, ErrorRepliesDoNotTripTheBreaker) {
  store_.values["counter"] = {"\"not a number\"", -1};
  for (int i = 0; i < 10; ++i) {
    auto r = Run(cache_->Increment("counter"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, ErrorCode::kQueryError);
  }
  EXPECT_EQ(cache_->breaker().state(), BreakerState::kClosed);
  EXPECT_EQ(cache_->Stats().errors, 0U);
}

TEST_F(CacheManagerTest, InvalidationThatCannotReachTheStoreIsReplayedBeforeAnyHit) {
  // An entry cached before a write; the write commits, but its invalidation finds Redis away.
  store_.values["user:1"] = {"\"stale\"", 60};
  store_.tags["users"] = {"user:1"};
  store_.down = true;
  auto failed = Run(cache_->Invalidate({"users"}, {"user:*"}));
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(cache_->Stats().invalidations_deferred, 1U);
  EXPECT_EQ(cache_->Stats().invalidations_pending, 2U);

  // Still away: reads bypass the cache (the loader answers), the endpoints' Get fails.
  auto bypassed = Run(cache_->GetOrSet("user:1", 60s, {"users"}, Loader("fresh")));
  ASSERT_TRUE(bypassed.has_value());
  EXPECT_EQ(*bypassed->value, json::value("fresh"));
  EXPECT_EQ(cache_->Stats().invalidations_pending, 2U);

  // Redis is back (with the stale entry still in it): the first read replays the invalidation
  // before it looks, so the stale value is never served.
  store_.down = false;
  now_ += 1s;  // past the breaker's reset timeout
  auto r = Run(cache_->GetOrSet("user:1", 60s, {"users"}, Loader("fresh")));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->hit) << "the stale entry was served";
  EXPECT_EQ(*r->value, json::value("fresh"));
  EXPECT_EQ(cache_->Stats().invalidations_pending, 0U);
  EXPECT_EQ(cache_->Stats().invalidations_replayed, 2U);
  auto hit = Run(cache_->GetOrSet("user:1", 60s, {"users"}, Loader("unused")));
  ASSERT_TRUE(hit.has_value());
  EXPECT_TRUE(hit->hit) << "and the cache is in use again";
  EXPECT_EQ(*hit->value, json::value("fresh"));
}

TEST_F(CacheManagerTest, GetFailsWhileInvalidationsArePending) {
  store_.values["k"] = {"\"stale\"", 60};
  store_.down = true;
  ASSERT_FALSE(Run(cache_->Invalidate({}, {"k"})).has_value());
  auto get = Run(cache_->Get("k"));
  ASSERT_FALSE(get.has_value());
  EXPECT_EQ(get.error().code, ErrorCode::kDatabaseUnavailable);
  store_.down = false;
  now_ += 1s;
  auto after = Run(cache_->Get("k"));
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE(after->has_value()) << "replayed: the stale entry is gone";
}

TEST_F(CacheManagerTest, InvalidationRejectedForBadInputIsNotRemembered) {
  auto bad = Run(cache_->Invalidate({""}, {}));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(cache_->Stats().invalidations_pending, 0U);
}

TEST_F(CacheManagerTest, InvalidatePatternDeletesEveryMatchInScanBatches) {
  for (int i = 0; i < 95; ++i) store_.values["user:" + std::to_string(i)] = {"1", 60};
  for (int i = 0; i < 7; ++i) store_.values["library:" + std::to_string(i)] = {"1", 60};
  store_.values["__coredb:tag:x"] = {"reserved", -1};
  const std::string epoch_before = store_.epoch;
  auto n = Run(cache_->InvalidatePattern("user:*"));
  ASSERT_TRUE(n.has_value()) << n.error().message;
  EXPECT_EQ(*n, 95U);
  EXPECT_EQ(store_.values.size(), 8U);
  EXPECT_GE(store_.scans, 10) << "102 keys in pages of 10";
  EXPECT_NE(store_.epoch, epoch_before) << "an invalidation moves the epoch";
  auto all = Run(cache_->InvalidatePattern("*"));
  ASSERT_TRUE(all.has_value());
  EXPECT_EQ(*all, 7U);
  EXPECT_EQ(store_.values.count("__coredb:tag:x"), 1U) << "the service's own keys survive";
}

TEST_F(CacheManagerTest, LiteralPatternIsOneDeleteWithoutScanning) {
  store_.values["a:b"] = {"1", 60};
  auto n = Run(cache_->InvalidatePattern("a:b"));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 1U);
  EXPECT_EQ(store_.scans, 0);
  auto reserved = Run(cache_->InvalidatePattern("__coredb:epoch"));
  ASSERT_TRUE(reserved.has_value());
  EXPECT_EQ(*reserved, 0U);
}

TEST_F(CacheManagerTest, InvalidateTagsDropsTaggedEntriesInBatches) {
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(Run(cache_->Set("u" + std::to_string(i), json::value(i), 60s, {"users"})).has_value());
  }
  ASSERT_TRUE(Run(cache_->Set("lib", json::value("x"), 60s, {"libraries"})).has_value());
  ASSERT_TRUE(Run(cache_->Set("both", json::value("x"), 60s, {"users", "libraries"})).has_value());
  auto n = Run(cache_->InvalidateTags({"users"}));
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(*n, 26U);
  EXPECT_EQ(store_.values.size(), 1U);
  EXPECT_EQ(store_.values.count("lib"), 1U);
  auto both = Run(cache_->Invalidate({"libraries"}, {"nothing:*"}));
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(*both, 1U) << "'both' is gone already; its stale tag membership costs nothing";
  EXPECT_TRUE(store_.values.empty());
}

TEST_F(CacheManagerTest, ValuesOverTheLimitAreReturnedButNotCached) {
  auto o = Options();
  o.max_value_bytes = 16;
  Make(o);
  auto r = Run(cache_->GetOrSet("big", 60s, {}, Loader(json::string(100, 'x'))));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->value->as_string().size(), 100U);
  EXPECT_TRUE(store_.values.empty());
  EXPECT_EQ(cache_->Stats().stores_skipped, 1U);
  auto set = Run(cache_->Set("big", json::value(json::string(100, 'x')), 60s));
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.error().code, ErrorCode::kPayloadTooLarge);
}

TEST_F(CacheManagerTest, RejectsBadKeysTtlsAndTagsBeforeTouchingTheStore) {
  EXPECT_EQ(Run(cache_->GetOrSet("", 60s, {}, Loader(1))).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->GetOrSet("k", 0s, {}, Loader(1))).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->GetOrSet("k", kMaxTtl + 1s, {}, Loader(1))).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->GetOrSet("k", 60s, {""}, Loader(1))).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->Set("__coredb:epoch", json::value(1), 60s)).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->Set("k", json::value(1), -5s)).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(Run(cache_->InvalidatePattern("")).error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(store_.calls, 0);
  EXPECT_EQ(loader_runs_, 0);
}

TEST_F(CacheManagerTest, GetReturnsValueAndTtlAndNonJsonAsAString) {
  ASSERT_TRUE(Run(cache_->Set("j", json::parse(R"({"a":[1,2.5,"x"]})"), 120s)).has_value());
  auto j = Run(cache_->Get("j"));
  ASSERT_TRUE(j.has_value() && j->has_value());
  EXPECT_EQ((*j)->value, json::parse(R"({"a":[1,2.5,"x"]})"));
  EXPECT_EQ((*j)->ttl_seconds, 120);
  store_.values["raw"] = {"plain text", -1};
  auto raw = Run(cache_->Get("raw"));
  ASSERT_TRUE(raw.has_value() && raw->has_value());
  EXPECT_EQ((*raw)->value, json::value("plain text"));
  EXPECT_EQ((*raw)->ttl_seconds, -1);
  store_.values["bin"] = {"\xFF\xFE", -1};
  auto bin = Run(cache_->Get("bin"));
  ASSERT_FALSE(bin.has_value());
  EXPECT_EQ(bin.error().code, ErrorCode::kQueryError);
  auto none = Run(cache_->Get("none"));
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST_F(CacheManagerTest, NonJsonEntryIsAMissAndTheLoadReplacesIt) {
  store_.values["k"] = {"not json", 60};
  auto r = Run(cache_->GetOrSet("k", 60s, {}, Loader(json::value{{"ok", true}})));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->hit);
  EXPECT_EQ(store_.values.at("k").bytes, R"({"ok":true})");
}

TEST_F(CacheManagerTest, IncrementCreatesWithTtlAndKeepsItsExpiry) {
  auto first = Run(cache_->Increment("hits", 60s));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 1);
  auto second = Run(cache_->Increment("hits", 30s, 5));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, 6);
  EXPECT_EQ(store_.values.at("hits").ttl, 60);
  auto exists = Run(cache_->Exists("hits"));
  ASSERT_TRUE(exists.has_value());
  EXPECT_TRUE(*exists);
}

}  // namespace
}  // namespace coredb::cache
