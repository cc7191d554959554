#include "coredb/cache/cache_manager.hpp"

#include "coredb/cache/cache_key.hpp"
#include "coredb/core/json_writer.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <algorithm>
#include <utility>

namespace coredb::cache {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// A caller that joined a load its leader abandoned (the leader was cancelled) tries again as
// a leader; after this many rounds it loads for itself.
constexpr int kMaxRounds = 3;
// Bound on tag batches per tag: 10 000 × scan_batch members, then the invalidation reports
// what it deleted so far as an error rather than looping forever on a set that keeps growing.
constexpr int kMaxTagBatches = 10000;
// Cached values were written by this service as JSON (≤ 64 levels from a request body; SQL
// results may nest jsonb deeper). Boost.JSON's parser is not recursive: a generous bound.
constexpr std::size_t kMaxStoredDepth = 10000;
// Bound on remembered invalidations (distinct tags + patterns). Beyond it new ones are dropped
// with an error log: a deployment that loses Redis for that long has bigger problems.
constexpr std::size_t kMaxPendingInvalidations = 100000;

Result<void> CheckTtl(std::chrono::seconds ttl) {
  if (ttl.count() < 1 || ttl > kMaxTtl) {
    return MakeError(ErrorCode::kInvalidRequest, "cache ttl must be 1.." + std::to_string(kMaxTtl.count()) +
                                                     " seconds (got " + std::to_string(ttl.count()) + ")");
  }
  return {};
}

Result<void> CheckTags(const std::vector<std::string>& tags) {
  if (tags.size() > kMaxTags) {
    return MakeError(ErrorCode::kInvalidRequest, "at most " + std::to_string(kMaxTags) + " cache tags");
  }
  for (const std::string& tag : tags) {
    if (auto ok = CheckTag(tag); !ok) return ok;
  }
  return {};
}

std::optional<json::value> ParseStored(const std::string& bytes) {
  json::parse_options options;
  options.max_depth = kMaxStoredDepth;
  boost::system::error_code ec;
  json::value value = json::parse(bytes, ec, json::storage_ptr(), options);
  if (ec) return std::nullopt;
  return value;
}

bool IsBackendFailure(ErrorCode code) {
  return code == ErrorCode::kDatabaseUnavailable || code == ErrorCode::kQueryTimeout || code == ErrorCode::kPoolTimeout;
}

bool IsUnreachable(ErrorCode code) { return IsBackendFailure(code) || code == ErrorCode::kCircuitOpen; }

}  // namespace

// ---- single-flight ----------------------------------------------------------------------------

// One load of one key, shared by the callers that missed it with the same epoch.
struct CacheManager::Flight {
  explicit Flight(std::string e) : epoch(std::move(e)) {}
  void Wake();

  std::string epoch;
  std::optional<Result<std::shared_ptr<const json::value>>> result;  // set once the loader returned
  bool abandoned = false;  // the leader was cancelled before a result: joiners load themselves
  std::vector<Joiner*> joiners;
};

// A caller waiting for a flight; lives in that caller's coroutine frame.
struct CacheManager::Joiner {
  Joiner(std::shared_ptr<Flight> f, const asio::any_io_executor& executor, std::chrono::milliseconds wait)
      : flight(std::move(f)), timer(executor, wait) {
    flight->joiners.push_back(this);
  }
  Joiner(const Joiner&) = delete;
  Joiner& operator=(const Joiner&) = delete;
  ~Joiner() { std::erase(flight->joiners, this); }

  std::shared_ptr<Flight> flight;
  asio::steady_timer timer;
};

void CacheManager::Flight::Wake() {
  for (Joiner* joiner : joiners) joiner->timer.cancel();
}

// Takes the flight out of the table when its leader is done, on every path (exceptions
// included), and never leaves a joiner waiting for nothing.
class CacheManager::FlightGuard {
 public:
  FlightGuard(CacheManager& manager, const std::string& key, std::shared_ptr<Flight> flight)
      : manager_(manager), alive_(manager.alive_), key_(key), flight_(std::move(flight)) {}
  FlightGuard(const FlightGuard&) = delete;
  FlightGuard& operator=(const FlightGuard&) = delete;
  ~FlightGuard() {
    if (!alive_.expired()) {
      auto it = manager_.flights_.find(key_);
      // A caller that missed with a newer epoch may have replaced it: leave that one alone.
      if (it != manager_.flights_.end() && it->second == flight_) manager_.flights_.erase(it);
    }
    if (!flight_->result && !flight_->abandoned) {
      flight_->result = MakeError(ErrorCode::kInternal, "the cache loader failed unexpectedly");
    }
    flight_->Wake();
  }

 private:
  CacheManager& manager_;
  std::weak_ptr<char> alive_;
  const std::string& key_;
  std::shared_ptr<Flight> flight_;
};

// ---- CacheManager -----------------------------------------------------------------------------

CacheManager::CacheManager(asio::any_io_executor executor, CacheStore& store, CacheManagerOptions options,
                           CircuitBreaker::Now now)
    : executor_(std::move(executor)),
      store_(store),
      options_(std::move(options)),
      breaker_(
          [&] {
            CircuitBreakerOptions b = options_.breaker;
            b.call_timeout = options_.command_timeout;
            return b;
          }(),
          std::move(now)) {
  options_.scan_batch = std::max<std::size_t>(options_.scan_batch, 1);
}

Result<CircuitBreaker::Permit> CacheManager::Acquire() {
  auto permit = breaker_.Acquire();
  if (!permit) ++stats_.errors;
  return permit;
}

template <class T>
void CacheManager::Report(CircuitBreaker::Permit& permit, const Result<T>& result, bool cancelled) {
  if (result) {
    permit.Success();
    return;
  }
  if (!IsBackendFailure(result.error().code)) {
    permit.Success();  // Redis answered (an error reply such as WRONGTYPE): it is up
    return;
  }
  // A caller that went away says nothing about Redis: drop the permit without an outcome.
  if (cancelled) return;
  ++stats_.errors;
  permit.Failure();
}

asio::awaitable<Result<std::optional<CachedValue>>> CacheManager::Get(std::string key) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  if (!pending_tags_.empty() || !pending_patterns_.empty()) {
    const bool replayed = co_await ReplayPending();
    if (!replayed) {
      co_return MakeError(ErrorCode::kDatabaseUnavailable,
                          "the cache is unavailable until earlier invalidations reach redis");
    }
  }
  auto permit = Acquire();
  if (!permit) co_return permit.error();
  auto entry = co_await store_.Get(std::move(key), options_.command_timeout);
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  Report(*permit, entry, state.cancelled() != asio::cancellation_type::none);
  if (!entry) co_return entry.error();
  if (!*entry) {
    ++stats_.misses;
    co_return std::optional<CachedValue>();
  }
  ++stats_.hits;
  CachedValue out;
  out.ttl_seconds = (*entry)->ttl_seconds;
  if (auto parsed = ParseStored((*entry)->bytes)) {
    out.value = std::move(*parsed);
  } else if (IsValidUtf8((*entry)->bytes, /*allow_controls=*/true)) {
    out.value = json::string((*entry)->bytes);  // written by something else than this service
  } else {
    co_return MakeError(ErrorCode::kQueryError, "the cache key holds binary data that is neither JSON nor UTF-8");
  }
  co_return std::optional<CachedValue>(std::move(out));
}

asio::awaitable<Result<void>> CacheManager::Set(std::string key, const json::value& value, std::chrono::seconds ttl,
                                                std::vector<std::string> tags) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  if (auto ok = CheckTtl(ttl); !ok) co_return ok.error();
  if (auto ok = CheckTags(tags); !ok) co_return ok.error();
  std::string bytes = ToJson(value);
  if (bytes.size() > options_.max_value_bytes) {
    co_return MakeError(ErrorCode::kPayloadTooLarge, "the cache value is " + std::to_string(bytes.size()) +
                                                         " bytes of JSON; the limit is " +
                                                         std::to_string(options_.max_value_bytes));
  }
  auto permit = Acquire();
  if (!permit) co_return permit.error();
  auto stored = co_await store_.Set(std::move(key), std::move(bytes), ttl, std::move(tags), options_.command_timeout);
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  Report(*permit, stored, state.cancelled() != asio::cancellation_type::none);
  co_return stored;
}

asio::awaitable<Result<bool>> CacheManager::Delete(std::string key) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  auto permit = Acquire();
  if (!permit) co_return permit.error();
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  auto deleted = co_await store_.Delete(std::move(keys), options_.command_timeout);
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  Report(*permit, deleted, state.cancelled() != asio::cancellation_type::none);
  if (!deleted) co_return deleted.error();
  co_return *deleted > 0;
}

asio::awaitable<Result<bool>> CacheManager::Exists(std::string key) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  auto permit = Acquire();
  if (!permit) co_return permit.error();
  auto exists = co_await store_.Exists(std::move(key), options_.command_timeout);
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  Report(*permit, exists, state.cancelled() != asio::cancellation_type::none);
  co_return exists;
}

asio::awaitable<Result<std::int64_t>> CacheManager::Increment(std::string key, std::optional<std::chrono::seconds> ttl,
                                                              std::int64_t by) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  if (ttl) {
    if (auto ok = CheckTtl(*ttl); !ok) co_return ok.error();
  }
  auto permit = Acquire();
  if (!permit) co_return permit.error();
  auto value = co_await store_.Increment(std::move(key), by, ttl, options_.command_timeout);
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  Report(*permit, value, state.cancelled() != asio::cancellation_type::none);
  co_return value;
}

asio::awaitable<Result<std::uint64_t>> CacheManager::InvalidatePattern(std::string pattern) {
  if (auto ok = CheckPattern(pattern); !ok) co_return ok.error();
  co_return co_await DeleteMatching(pattern);
}

asio::awaitable<Result<std::uint64_t>> CacheManager::InvalidateTags(std::vector<std::string> tags) {
  if (auto ok = CheckTags(tags); !ok) co_return ok.error();
  std::uint64_t total = 0;
  if (tags.empty()) co_return total;
  {
    auto permit = Acquire();
    if (!permit) co_return permit.error();
    auto epoch = co_await store_.NewEpoch(options_.command_timeout);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    Report(*permit, epoch, state.cancelled() != asio::cancellation_type::none);
    if (!epoch) co_return epoch.error();
  }
  for (const std::string& tag : tags) {
    auto deleted = co_await DeleteTagged(tag);
    if (!deleted) co_return deleted.error();
    total += *deleted;
  }
  co_return total;
}

asio::awaitable<Result<std::uint64_t>> CacheManager::Invalidate(std::vector<std::string> tags,
                                                                std::vector<std::string> patterns) {
  if (auto ok = CheckTags(tags); !ok) co_return ok.error();
  for (const std::string& pattern : patterns) {
    if (auto ok = CheckPattern(pattern); !ok) co_return ok.error();
  }
  auto total = co_await InvalidateTags(tags);
  if (!total) {
    if (IsUnreachable(total.error().code)) Remember(tags, patterns);
    co_return total.error();
  }
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    auto deleted = co_await DeleteMatching(patterns[i]);
    if (!deleted) {
      if (IsUnreachable(deleted.error().code)) {
        Remember({}, std::vector<std::string>(patterns.begin() + static_cast<std::ptrdiff_t>(i), patterns.end()));
      }
      co_return deleted.error();
    }
    *total += *deleted;
  }
  co_return total;
}

void CacheManager::Remember(const std::vector<std::string>& tags, const std::vector<std::string>& patterns) {
  ++stats_.invalidations_deferred;
  std::size_t dropped = 0;
  auto keep = [&](std::set<std::string>& into, const std::string& what) {
    if (pending_tags_.size() + pending_patterns_.size() < kMaxPendingInvalidations) {
      into.insert(what);
    } else {
      ++dropped;
    }
  };
  for (const std::string& tag : tags) keep(pending_tags_, tag);
  for (const std::string& pattern : patterns) keep(pending_patterns_, pattern);
  stats_.invalidations_pending = pending_tags_.size() + pending_patterns_.size();
  spdlog::warn(
      "cache: an invalidation could not reach redis; {} tag(s)/pattern(s) pending, the cache is bypassed until they "
      "are replayed",
      stats_.invalidations_pending);
  if (dropped > 0) spdlog::error("cache: {} invalidation(s) dropped: too many pending", dropped);
}

asio::awaitable<bool> CacheManager::ReplayPending() {
  if (replaying_) co_return false;  // another caller is at it: do not wait for it, bypass
  replaying_ = true;
  bool done = true;
  if (!pending_tags_.empty()) {
    const std::vector<std::string> tags(pending_tags_.begin(), pending_tags_.end());
    auto deleted = co_await InvalidateTags(tags);
    if (deleted) {
      for (const std::string& tag : tags) pending_tags_.erase(tag);
      stats_.invalidations_replayed += tags.size();
    } else {
      done = false;
    }
  }
  while (done && !pending_patterns_.empty()) {
    const std::string pattern = *pending_patterns_.begin();
    auto deleted = co_await DeleteMatching(pattern);
    if (!deleted) {
      done = false;
      break;
    }
    pending_patterns_.erase(pattern);
    ++stats_.invalidations_replayed;
  }
  stats_.invalidations_pending = pending_tags_.size() + pending_patterns_.size();
  if (done) spdlog::info("cache: pending invalidations replayed; the cache is in use again");
  replaying_ = false;
  co_return done;
}

asio::awaitable<Result<std::uint64_t>> CacheManager::DeleteMatching(const std::string& pattern) {
  const std::string_view literal = LiteralPrefix(pattern);
  std::uint64_t total = 0;
  if (literal.size() == pattern.size()) {
    // No glob character: one key. The service's own keys are never invalidated by a caller.
    if (pattern.starts_with(kReservedPrefix)) co_return total;
    auto permit = Acquire();
    if (!permit) co_return permit.error();
    std::vector<std::string> keys;
    keys.push_back(pattern);
    auto deleted = co_await store_.Delete(std::move(keys), options_.command_timeout);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    Report(*permit, deleted, state.cancelled() != asio::cancellation_type::none);
    co_return deleted;
  }
  {
    auto permit = Acquire();
    if (!permit) co_return permit.error();
    auto epoch = co_await store_.NewEpoch(options_.command_timeout);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    Report(*permit, epoch, state.cancelled() != asio::cancellation_type::none);
    if (!epoch) co_return epoch.error();
  }
  std::string cursor = "0";
  do {
    auto scan_permit = Acquire();
    if (!scan_permit) co_return scan_permit.error();
    auto page = co_await store_.Scan(cursor, pattern, options_.scan_batch, options_.command_timeout);
    const asio::cancellation_state scan_state = co_await asio::this_coro::cancellation_state;
    Report(*scan_permit, page, scan_state.cancelled() != asio::cancellation_type::none);
    if (!page) co_return page.error();
    cursor = page->cursor;
    if (page->keys.empty()) continue;
    auto unlink_permit = Acquire();
    if (!unlink_permit) co_return unlink_permit.error();
    auto deleted = co_await store_.Unlink(std::move(page->keys), options_.command_timeout);
    const asio::cancellation_state unlink_state = co_await asio::this_coro::cancellation_state;
    Report(*unlink_permit, deleted, unlink_state.cancelled() != asio::cancellation_type::none);
    if (!deleted) co_return deleted.error();
    total += *deleted;
  } while (cursor != "0");
  co_return total;
}

asio::awaitable<Result<std::uint64_t>> CacheManager::DeleteTagged(const std::string& tag) {
  std::uint64_t total = 0;
  for (int batch = 0; batch < kMaxTagBatches; ++batch) {
    auto permit = Acquire();
    if (!permit) co_return permit.error();
    auto popped = co_await store_.PopTagged(tag, options_.scan_batch, options_.command_timeout);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    Report(*permit, popped, state.cancelled() != asio::cancellation_type::none);
    if (!popped) co_return popped.error();
    total += popped->deleted;
    if (popped->popped < options_.scan_batch) co_return total;
  }
  co_return MakeError(ErrorCode::kDatabaseUnavailable, "cache tag '" + tag + "' kept growing while it was invalidated");
}

asio::awaitable<Result<GetOrSetResult>> CacheManager::GetOrSet(std::string key, std::chrono::seconds ttl,
                                                               std::vector<std::string> tags, Loader loader) {
  if (auto ok = CheckKey(key); !ok) co_return ok.error();
  if (auto ok = CheckTtl(ttl); !ok) co_return ok.error();
  if (auto ok = CheckTags(tags); !ok) co_return ok.error();
  if (!loader) co_return MakeError(ErrorCode::kInternal, "GetOrSet without a loader");
  if (!pending_tags_.empty() || !pending_patterns_.empty()) {
    const bool replayed = co_await ReplayPending();
    if (!replayed) {
      ++stats_.bypasses;
      co_return co_await LoadDirectly(loader);
    }
  }

  for (int round = 0; round < kMaxRounds; ++round) {
    auto permit = Acquire();
    if (!permit) break;  // breaker open: straight to the loader
    auto lookup = co_await store_.Lookup(key, options_.command_timeout);
    const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
    const bool cancelled = state.cancelled() != asio::cancellation_type::none;
    Report(*permit, lookup, cancelled);
    if (!lookup) {
      if (cancelled) co_return lookup.error();
      break;  // Redis down, slow or refusing: the answer must not depend on it
    }
    if (lookup->bytes) {
      if (auto parsed = ParseStored(*lookup->bytes)) {
        ++stats_.hits;
        co_return GetOrSetResult{std::make_shared<const json::value>(std::move(*parsed)), true};
      }
      // Not JSON (written by something else): a miss; the load overwrites it.
    }
    if (round == 0) ++stats_.misses;

    auto it = flights_.find(key);
    if (it == flights_.end() || it->second->abandoned || it->second->epoch != lookup->epoch) {
      // No load in flight, or one that started before an invalidation this caller saw: lead.
      auto flight = std::make_shared<Flight>(lookup->epoch);
      flights_[key] = flight;
      co_return co_await Lead(key, ttl, tags, loader, std::move(flight));
    }
    const std::shared_ptr<Flight> flight = it->second;
    if (!flight->result) {
      Joiner joiner(flight, executor_, options_.max_join_wait);
      co_await joiner.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (flight->result) {
      ++stats_.joins;
      if (!*flight->result) co_return flight->result->error();
      co_return GetOrSetResult{**flight->result, false};
    }
    if (flight->abandoned) continue;
    const asio::cancellation_state wait_state = co_await asio::this_coro::cancellation_state;
    if (wait_state.cancelled() != asio::cancellation_type::none) {
      co_return MakeError(ErrorCode::kDatabaseUnavailable, "cancelled while waiting for the cache load of a key");
    }
    co_return MakeError(ErrorCode::kDatabaseUnavailable,
                        "gave up waiting for another request's load of the same cache key after " +
                            std::to_string(options_.max_join_wait.count()) + " ms");
  }
  ++stats_.bypasses;
  co_return co_await LoadDirectly(loader);
}

asio::awaitable<Result<GetOrSetResult>> CacheManager::Lead(const std::string& key, std::chrono::seconds ttl,
                                                           const std::vector<std::string>& tags, const Loader& loader,
                                                           std::shared_ptr<Flight> flight) {
  FlightGuard guard(*this, key, flight);
  ++stats_.loads;
  auto loaded = co_await loader();
  const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
  if (!loaded && state.cancelled() != asio::cancellation_type::none) {
    // The leader's caller went away and its load with it: the others must not inherit that
    // failure; they load again (one of them leads).
    flight->abandoned = true;
    co_return loaded.error();
  }
  if (!loaded) {
    ++stats_.load_errors;
    flight->result = loaded.error();
    flight->Wake();
    co_return loaded.error();
  }
  auto value = std::make_shared<const json::value>(std::move(*loaded));
  flight->result = value;
  flight->Wake();  // joiners answer now; the flight stays in the table until stored, so a
                   // caller that misses meanwhile gets this result instead of loading again

  std::string bytes = ToJson(*value);
  if (bytes.size() > options_.max_value_bytes) {
    ++stats_.stores_skipped;
    co_return GetOrSetResult{value, false};
  }
  auto permit = Acquire();
  if (!permit) co_return GetOrSetResult{value, false};
  // (A leader whose caller went away stores nothing: the client refuses a cancelled command.)
  auto stored = co_await store_.SetIfEpoch(key, std::move(bytes), ttl, tags, flight->epoch, options_.command_timeout);
  const asio::cancellation_state store_state = co_await asio::this_coro::cancellation_state;
  Report(*permit, stored, store_state.cancelled() != asio::cancellation_type::none);
  if (stored && *stored) {
    ++stats_.stores;
  } else if (stored) {
    ++stats_.stores_skipped;  // invalidated while it loaded
  }
  co_return GetOrSetResult{value, false};
}

asio::awaitable<Result<GetOrSetResult>> CacheManager::LoadDirectly(const Loader& loader) {
  ++stats_.loads;
  auto loaded = co_await loader();
  if (!loaded) {
    ++stats_.load_errors;
    co_return loaded.error();
  }
  co_return GetOrSetResult{std::make_shared<const json::value>(std::move(*loaded)), false};
}

}  // namespace coredb::cache
