// The cache of the service (API.md "Cache", and the cache-aside `cache`/`invalidate` of
// "Queries"): JSON values in the shared Redis key space, with TTLs and tags, pattern and tag
// invalidation, and GetOrSet with single-flight — however many callers miss the same key at
// once, the loader runs once and all of them get its result (a failure too; nothing is cached
// then).
//
// Redis is optional for correctness: every store call goes through a circuit breaker, so a
// dead or slow Redis costs a caller at most one command timeout until the breaker opens and
// then nothing. GetOrSet then calls the loader directly (the answer stays correct, only
// uncached); the other operations fail with kDatabaseUnavailable, or kCircuitOpen (Retry-After)
// while the breaker is open. The breaker's half-open probe brings the cache back by itself.
//
// A value loaded before an invalidation is never stored after it (the store's epoch check), and
// a caller that missed after an invalidation never joins a load that started before it. An
// Invalidate() that could not reach Redis is remembered and replayed before this instance
// serves anything from the cache again (until then reads bypass it), so a write whose
// invalidation failed is never followed by a stale hit from this instance.
//
// Single-threaded: use it from the event loop's thread only.
#pragma once

#include "coredb/cache/cache_store.hpp"
#include "coredb/core/circuit_breaker.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace coredb::cache {

inline constexpr std::chrono::seconds kMaxTtl{30 * 24 * 3600};  // API.md: ttl 1..2592000 s

struct CacheManagerOptions {
  std::chrono::milliseconds command_timeout{1000};  // each store round trip
  std::size_t scan_batch = 1000;                    // SCAN COUNT, UNLINK and tag batches
  std::size_t max_value_bytes = 8 * 1024 * 1024;    // GetOrSet does not cache larger values
  // Bound on how long a caller waits for another caller's load (the loader has its own deadline).
  std::chrono::milliseconds max_join_wait{600000};
  CircuitBreakerOptions breaker;  // name, thresholds; its call_timeout is set to command_timeout
};

// Plain counters (single-threaded), for /metrics.
struct CacheStats {
  std::uint64_t hits = 0;    // reads (Get, GetOrSet) answered from the cache
  std::uint64_t misses = 0;  // reads that found nothing
  std::uint64_t loads = 0;   // loader calls, bypasses included
  std::uint64_t load_errors = 0;
  std::uint64_t joins = 0;                   // callers given another caller's load result (single-flight)
  std::uint64_t bypasses = 0;                // loader called directly because the cache was unavailable
  std::uint64_t stores = 0;                  // loaded values stored
  std::uint64_t stores_skipped = 0;          // not stored: invalidated meanwhile, or over max_value_bytes
  std::uint64_t errors = 0;                  // store calls that failed or were refused by the open breaker
  std::uint64_t invalidations_deferred = 0;  // Invalidate() calls that failed and were remembered
  std::uint64_t invalidations_replayed = 0;  // remembered tags/patterns invalidated later
  std::size_t invalidations_pending = 0;     // tags + patterns still to replay (a gauge)
};

struct CachedValue {
  boost::json::value value;
  std::int64_t ttl_seconds = -1;  // seconds left; -1: no expiry
};

struct GetOrSetResult {
  std::shared_ptr<const boost::json::value> value;  // shared by every caller of one load
  bool hit = false;                                 // served from the cache
};

class CacheManager {
 public:
  using Loader = std::function<boost::asio::awaitable<Result<boost::json::value>>()>;

  CacheManager(boost::asio::any_io_executor executor, CacheStore& store, CacheManagerOptions options,
               CircuitBreaker::Now now = &CircuitBreaker::Clock::now);
  CacheManager(const CacheManager&) = delete;
  CacheManager& operator=(const CacheManager&) = delete;

  // Keys, patterns and tags are checked (cache_key.hpp: kInvalidRequest); ttl must be in
  // 1 s..kMaxTtl. Access control (scopes, cachePrefixes) is the caller's business.

  // nullopt when the key does not exist. A value that is not JSON comes back as a JSON string
  // when it is UTF-8 (written by something else than this service); otherwise kQueryError.
  boost::asio::awaitable<Result<std::optional<CachedValue>>> Get(std::string key);
  boost::asio::awaitable<Result<void>> Set(std::string key, const boost::json::value& value, std::chrono::seconds ttl,
                                           std::vector<std::string> tags = {});
  // Deletes the key (an invalidation: loads in flight for it will not store). True when it existed.
  boost::asio::awaitable<Result<bool>> Delete(std::string key);
  boost::asio::awaitable<Result<bool>> Exists(std::string key);
  // INCRBY; a counter created by this call expires after `ttl` (fixed window: later increments
  // do not extend it). kQueryError when the key holds something that is not an integer.
  boost::asio::awaitable<Result<std::int64_t>> Increment(std::string key,
                                                         std::optional<std::chrono::seconds> ttl = std::nullopt,
                                                         std::int64_t by = 1);
  // Deletes every key matching the glob (SCAN + UNLINK in batches of scan_batch, never KEYS);
  // returns how many. A pattern without glob characters is one UNLINK.
  boost::asio::awaitable<Result<std::uint64_t>> InvalidatePattern(std::string pattern);
  // Deletes every entry stored with one of the tags; returns how many.
  boost::asio::awaitable<Result<std::uint64_t>> InvalidateTags(std::vector<std::string> tags);
  // Both, for `invalidate: {tags, keys}` of a query (keys are glob patterns), after its write
  // committed. When Redis cannot be reached (kDatabaseUnavailable, kCircuitOpen) the tags and
  // patterns are remembered and replayed later (see above); the error is still returned.
  boost::asio::awaitable<Result<std::uint64_t>> Invalidate(std::vector<std::string> tags,
                                                           std::vector<std::string> patterns);

  // The cached value of `key`, or the loader's result (stored for `ttl` with `tags`). Concurrent
  // misses of one key share one loader run. When the cache is unavailable (Redis down or slow,
  // breaker open) the loader runs directly and its result is returned uncached. Errors: the
  // loader's; kInvalidRequest for a bad key/tag/ttl; kDatabaseUnavailable when the caller gave up
  // waiting for another caller's load (max_join_wait) or was cancelled while waiting.
  boost::asio::awaitable<Result<GetOrSetResult>> GetOrSet(std::string key, std::chrono::seconds ttl,
                                                          std::vector<std::string> tags, Loader loader);

  const CacheStats& Stats() const { return stats_; }
  const CircuitBreaker& breaker() const { return breaker_; }
  const CacheManagerOptions& options() const { return options_; }
  // Loads in flight (single-flight entries), for tests and metrics.
  std::size_t flights() const { return flights_.size(); }

 private:
  struct Flight;
  struct Joiner;
  class FlightGuard;

  boost::asio::awaitable<Result<GetOrSetResult>> Lead(const std::string& key, std::chrono::seconds ttl,
                                                      const std::vector<std::string>& tags, const Loader& loader,
                                                      std::shared_ptr<Flight> flight);
  boost::asio::awaitable<Result<GetOrSetResult>> LoadDirectly(const Loader& loader);
  boost::asio::awaitable<Result<std::uint64_t>> DeleteMatching(const std::string& pattern);
  boost::asio::awaitable<Result<std::uint64_t>> DeleteTagged(const std::string& tag);
  // Replays remembered invalidations; true when none is left.
  boost::asio::awaitable<bool> ReplayPending();
  void Remember(const std::vector<std::string>& tags, const std::vector<std::string>& patterns);
  // Reports a store call's outcome to the breaker and counts errors. A call that failed because
  // its caller was cancelled reports nothing.
  template <class T>
  void Report(CircuitBreaker::Permit& permit, const Result<T>& result, bool cancelled);
  Result<CircuitBreaker::Permit> Acquire();

  boost::asio::any_io_executor executor_;
  CacheStore& store_;
  CacheManagerOptions options_;
  CircuitBreaker breaker_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
  std::set<std::string> pending_tags_;  // invalidations that could not reach Redis
  std::set<std::string> pending_patterns_;
  bool replaying_ = false;
  CacheStats stats_;
  // Held weakly by flight guards: a coroutine frame destroyed after the manager touches nothing.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace coredb::cache
