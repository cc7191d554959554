// The cache::CacheStore port on the shared RedisClient (the cache database, REDIS_DB).
//
// Layout of the service's own keys (under cache::kReservedPrefix, never reachable through the
// API): "__coredb:epoch" holds the invalidation epoch (a random 128-bit token, replaced by every
// invalidation); "__coredb:tag:<tag>" is the set of keys stored with that tag, expiring with its
// longest-lived member. Conditional stores and tag batches are Lua scripts (EVAL), so each is one
// atomic step on the server.
#pragma once

#include "coredb/adapters/redis/redis_client.hpp"
#include "coredb/cache/cache_store.hpp"

#include <random>

namespace coredb::redis {

class RedisCacheStore final : public cache::CacheStore {
 public:
  explicit RedisCacheStore(RedisClient& client);

  static std::string EpochKey();
  static std::string TagKey(std::string_view tag);

  // ---- cache::CacheStore
  boost::asio::awaitable<Result<std::optional<cache::StoredEntry>>> Get(std::string key, Ms timeout) override;
  boost::asio::awaitable<Result<cache::LookupResult>> Lookup(std::string key, Ms timeout) override;
  boost::asio::awaitable<Result<void>> Set(std::string key, std::string bytes, std::chrono::seconds ttl,
                                           std::vector<std::string> tags, Ms timeout) override;
  boost::asio::awaitable<Result<bool>> SetIfEpoch(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                  std::vector<std::string> tags, std::string epoch,
                                                  Ms timeout) override;
  boost::asio::awaitable<Result<bool>> Exists(std::string key, Ms timeout) override;
  boost::asio::awaitable<Result<std::int64_t>> Increment(std::string key, std::int64_t by,
                                                         std::optional<std::chrono::seconds> ttl, Ms timeout) override;
  boost::asio::awaitable<Result<std::uint64_t>> Delete(std::vector<std::string> keys, Ms timeout) override;
  boost::asio::awaitable<Result<void>> NewEpoch(Ms timeout) override;
  boost::asio::awaitable<Result<cache::ScanPage>> Scan(std::string cursor, std::string pattern, std::size_t count,
                                                       Ms timeout) override;
  boost::asio::awaitable<Result<std::uint64_t>> Unlink(std::vector<std::string> keys, Ms timeout) override;
  boost::asio::awaitable<Result<cache::TagBatch>> PopTagged(std::string tag, std::size_t count, Ms timeout) override;

 private:
  std::string NewToken();

  RedisClient& client_;
  std::mt19937_64 rng_;
};

}  // namespace coredb::redis
