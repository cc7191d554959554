// The port CacheManager stores through: Redis in production (adapters/redis/redis_cache_store),
// an in-memory fake in unit tests. Values are opaque bytes here (CacheManager stores JSON text).
//
// The invalidation epoch: an opaque token that every invalidation (Delete, NewEpoch) replaces
// with a fresh, never-repeating one before it deletes anything. A load remembers the epoch it
// saw when it missed and stores its result only if the epoch is still the same (SetIfEpoch, one
// atomic step), so a value read before a write can never be stored after that write's
// invalidation — whichever instance of the service ran either of them. Reserved keys (the epoch,
// tag sets) live under cache::kReservedPrefix and are never returned by Scan.
#pragma once

#include "coredb/core/error.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coredb::cache {

struct StoredEntry {
  std::string bytes;
  std::int64_t ttl_seconds = -1;  // seconds left; -1 when the key has no expiry
};

struct LookupResult {
  std::optional<std::string> bytes;  // nullopt: miss (or a key of another type)
  std::string epoch;                 // the current invalidation epoch ("" when none was ever set)
};

struct ScanPage {
  std::string cursor;  // "0" when the scan is complete
  std::vector<std::string> keys;
};

struct TagBatch {
  std::uint64_t popped = 0;   // members taken out of the tag's set
  std::uint64_t deleted = 0;  // of which keys that still existed
};

// Every call is one round trip bounded by `timeout`; errors are those of the Redis client
// (kDatabaseUnavailable: down, slow, not connected; kQueryError: an error reply, e.g. WRONGTYPE).
class CacheStore {
 public:
  using Ms = std::chrono::milliseconds;
  virtual ~CacheStore() = default;

  // The value and its remaining time to live.
  virtual boost::asio::awaitable<Result<std::optional<StoredEntry>>> Get(std::string key, Ms timeout) = 0;
  // The value and the invalidation epoch, read together.
  virtual boost::asio::awaitable<Result<LookupResult>> Lookup(std::string key, Ms timeout) = 0;
  // Stores with a TTL and adds the key to each tag's set (the set lives as long as its longest member).
  virtual boost::asio::awaitable<Result<void>> Set(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                   std::vector<std::string> tags, Ms timeout) = 0;
  // Set, only if the invalidation epoch is still `epoch`; returns whether it stored.
  virtual boost::asio::awaitable<Result<bool>> SetIfEpoch(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                          std::vector<std::string> tags, std::string epoch,
                                                          Ms timeout) = 0;
  virtual boost::asio::awaitable<Result<bool>> Exists(std::string key, Ms timeout) = 0;
  // Adds `by`; a counter created by this call gets `ttl` (later increments keep its expiry).
  virtual boost::asio::awaitable<Result<std::int64_t>> Increment(std::string key, std::int64_t by,
                                                                 std::optional<std::chrono::seconds> ttl,
                                                                 Ms timeout) = 0;
  // A new epoch, then the keys deleted; returns how many existed.
  virtual boost::asio::awaitable<Result<std::uint64_t>> Delete(std::vector<std::string> keys, Ms timeout) = 0;
  // A new epoch (before a multi-step invalidation).
  virtual boost::asio::awaitable<Result<void>> NewEpoch(Ms timeout) = 0;
  // One SCAN step (MATCH pattern, COUNT count), reserved keys left out.
  virtual boost::asio::awaitable<Result<ScanPage>> Scan(std::string cursor, std::string pattern, std::size_t count,
                                                        Ms timeout) = 0;
  // Deletes (UNLINK) keys; returns how many existed.
  virtual boost::asio::awaitable<Result<std::uint64_t>> Unlink(std::vector<std::string> keys, Ms timeout) = 0;
  // Takes up to `count` members out of the tag's set and deletes them, atomically.
  virtual boost::asio::awaitable<Result<TagBatch>> PopTagged(std::string tag, std::size_t count, Ms timeout) = 0;
};

}  // namespace coredb::cache
