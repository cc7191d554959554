// An in-memory cache::CacheStore for unit tests: the same contract as the Redis adapter
// (epoch check, tag sets, SCAN pages, reserved keys left out), plus switches to make it fail
// and counters of what was asked. Every call yields to the event loop once, as a round trip to
// Redis would, so concurrent callers interleave. TTLs are recorded, never enforced.
#pragma once

#include "coredb/cache/cache_key.hpp"
#include "coredb/cache/cache_store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <set>
#include <string>

namespace coredb::testing {

class FakeCacheStore final : public cache::CacheStore {
 public:
  struct Entry {
    std::string bytes;
    std::int64_t ttl = -1;
  };

  std::map<std::string, Entry> values;
  std::map<std::string, std::set<std::string>> tags;
  std::string epoch;
  bool down = false;  // every call fails with kDatabaseUnavailable
  int calls = 0;      // store calls made (failed ones included)
  int lookups = 0;
  int scans = 0;
  int set_if_epoch_calls = 0;

  // Simple glob: '*' and '?' (enough for the tests).
  static bool Glob(std::string_view p, std::string_view s) {
    if (p.empty()) return s.empty();
    if (p[0] == '*') {
      for (std::size_t i = 0; i <= s.size(); ++i) {
        if (Glob(p.substr(1), s.substr(i))) return true;
      }
      return false;
    }
    if (s.empty()) return false;
    return (p[0] == '?' || p[0] == s[0]) && Glob(p.substr(1), s.substr(1));
  }

  boost::asio::awaitable<Result<std::optional<cache::StoredEntry>>> Get(std::string key, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    auto it = values.find(key);
    if (it == values.end()) co_return std::optional<cache::StoredEntry>();
    co_return std::optional<cache::StoredEntry>(cache::StoredEntry{it->second.bytes, it->second.ttl});
  }

  boost::asio::awaitable<Result<cache::LookupResult>> Lookup(std::string key, Ms) override {
    ++lookups;
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    cache::LookupResult out;
    if (auto it = values.find(key); it != values.end()) out.bytes = it->second.bytes;
    out.epoch = epoch;
    co_return out;
  }

  boost::asio::awaitable<Result<void>> Set(std::string key, std::string bytes, std::chrono::seconds ttl,
                                           std::vector<std::string> tag_list, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    Store(key, std::move(bytes), ttl, tag_list);
    co_return Result<void>();
  }

  boost::asio::awaitable<Result<bool>> SetIfEpoch(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                  std::vector<std::string> tag_list, std::string expected,
                                                  Ms) override {
    ++set_if_epoch_calls;
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    if (expected != epoch) co_return false;
    Store(key, std::move(bytes), ttl, tag_list);
    co_return true;
  }

  boost::asio::awaitable<Result<bool>> Exists(std::string key, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    co_return values.count(key) > 0;
  }

  boost::asio::awaitable<Result<std::int64_t>> Increment(std::string key, std::int64_t by,
                                                         std::optional<std::chrono::seconds> ttl, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    auto it = values.find(key);
    std::int64_t value = 0;
    if (it != values.end()) {
      try {
        value = std::stoll(it->second.bytes);
      } catch (const std::exception&) {
        co_return MakeError(ErrorCode::kQueryError, "ERR value is not an integer or out of range");
      }
    }
    value += by;
    Entry& entry = values[key];
    entry.bytes = std::to_string(value);
    if (ttl && entry.ttl < 0) entry.ttl = ttl->count();
    co_return value;
  }

  boost::asio::awaitable<Result<std::uint64_t>> Delete(std::vector<std::string> keys, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    NextEpoch();
    std::uint64_t n = 0;
    for (const auto& key : keys) n += values.erase(key);
    co_return n;
  }

  boost::asio::awaitable<Result<void>> NewEpoch(Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    NextEpoch();
    co_return Result<void>();
  }

  // The cursor names the last key looked at ("0": start / done), so deleting what a page
  // returned does not shift the next page. A page looks at `count` keys.
  boost::asio::awaitable<Result<cache::ScanPage>> Scan(std::string cursor, std::string pattern, std::size_t count,
                                                       Ms) override {
    ++scans;
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    cache::ScanPage page;
    auto it = cursor == "0" ? values.begin() : values.upper_bound(cursor.substr(2));
    std::size_t looked = 0;
    std::string last;
    for (; it != values.end() && looked < count; ++it, ++looked) {
      last = it->first;
      if (Glob(pattern, it->first) && !std::string_view(it->first).starts_with(cache::kReservedPrefix)) {
        page.keys.push_back(it->first);
      }
    }
    page.cursor = it == values.end() ? "0" : "k:" + last;
    co_return page;
  }

  boost::asio::awaitable<Result<std::uint64_t>> Unlink(std::vector<std::string> keys, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    std::uint64_t n = 0;
    for (const auto& key : keys) n += values.erase(key);
    co_return n;
  }

  boost::asio::awaitable<Result<cache::TagBatch>> PopTagged(std::string tag, std::size_t count, Ms) override {
    auto ok = co_await Call();
    if (!ok) co_return ok.error();
    cache::TagBatch batch;
    auto& members = tags[tag];
    while (!members.empty() && batch.popped < count) {
      batch.deleted += values.erase(*members.begin());
      members.erase(members.begin());
      ++batch.popped;
    }
    co_return batch;
  }

 private:
  boost::asio::awaitable<Result<void>> Call() {
    ++calls;
    auto executor = co_await boost::asio::this_coro::executor;
    co_await boost::asio::post(executor, boost::asio::use_awaitable);
    if (down) co_return MakeError(ErrorCode::kDatabaseUnavailable, "redis is not connected");
    co_return Result<void>();
  }
  void Store(const std::string& key, std::string bytes, std::chrono::seconds ttl,
             const std::vector<std::string>& tag_list) {
    values[key] = Entry{std::move(bytes), ttl.count()};
    for (const auto& tag : tag_list) tags[tag].insert(key);
  }
  void NextEpoch() { epoch = "e" + std::to_string(++epochs_); }

  int epochs_ = 0;
};

}  // namespace coredb::testing
