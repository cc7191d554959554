#include "coredb/adapters/redis/redis_cache_store.hpp"

#include "coredb/cache/cache_key.hpp"

#include <cstdio>
#include <utility>

namespace coredb::redis {

namespace asio = boost::asio;

namespace {

// KEYS: epoch, key, tag sets…  ARGV: expected epoch ("" for none), value, ttl seconds.
// Stores only when no invalidation happened since the caller read the epoch.
constexpr const char* kSetIfEpochScript = R"lua(
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
for i = 3, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[2])
  redis.call('EXPIRE', KEYS[i], ARGV[3], 'NX')
  redis.call('EXPIRE', KEYS[i], ARGV[3], 'GT')
end
return 1
)lua";

// KEYS: the tag set.  ARGV: batch size. Takes members out and deletes them in one step, so a
// key is never dropped from its tag set without being deleted. Returns {popped, deleted}.
constexpr const char* kPopTaggedScript = R"lua(
local members = redis.call('SPOP', KEYS[1], ARGV[1])
local deleted = 0
for i = 1, #members, 500 do
  deleted = deleted + redis.call('UNLINK', unpack(members, i, math.min(i + 499, #members)))
end
return {#members, deleted}
)lua";

constexpr std::string_view kEpochSuffix = "epoch";
constexpr std::string_view kTagInfix = "tag:";

Error Unexpected(const char* what, const Reply& reply) {
  return MakeError(ErrorCode::kInternal,
                   std::string("unexpected redis reply to ") + what + ": " + ReplyTypeName(reply.type));
}

// Error replies that say Redis cannot serve right now (loading its data set, busy with a script,
// out of memory, a replica that became read-only in a failover…): the cache is unavailable,
// not the caller's request wrong. They count against the breaker and answer 503.
Error Classify(Error error) {
  static constexpr std::string_view kUnavailable[] = {"LOADING",    "BUSY",     "OOM",         "READONLY",
                                                      "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"};
  if (error.code != ErrorCode::kQueryError) return error;
  const std::string_view message = error.message;
  for (std::string_view prefix : kUnavailable) {
    if (message.starts_with(prefix) && (message.size() == prefix.size() || message[prefix.size()] == ' ')) {
      error.code = ErrorCode::kDatabaseUnavailable;
      error.message = "redis cannot serve the cache right now: " + error.message;
      break;
    }
  }
  return error;
}

// Element `i` of an EXEC reply; an error reply of that command becomes kQueryError (or
// kDatabaseUnavailable, see Classify).
Result<const Reply*> Element(const Reply& exec, std::size_t i, const char* what) {
  if (exec.type != Reply::Type::kArray || exec.elements.size() <= i) return Unexpected(what, exec);
  const Reply& element = exec.elements[i];
  if (element.type == Reply::Type::kError) return Classify(MakeError(ErrorCode::kQueryError, element.str));
  return &element;
}

}  // namespace

RedisCacheStore::RedisCacheStore(RedisClient& client) : client_(client), rng_(std::random_device{}()) {}

std::string RedisCacheStore::EpochKey() { return std::string(cache::kReservedPrefix) + std::string(kEpochSuffix); }

std::string RedisCacheStore::TagKey(std::string_view tag) {
  return std::string(cache::kReservedPrefix) + std::string(kTagInfix) + std::string(tag);
}

std::string RedisCacheStore::NewToken() {
  char buffer[33];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx", static_cast<unsigned long long>(rng_()),
                static_cast<unsigned long long>(rng_()));
  return buffer;
}

asio::awaitable<Result<std::optional<cache::StoredEntry>>> RedisCacheStore::Get(std::string key, Ms timeout) {
  std::vector<std::vector<std::string>> commands(2);
  commands[0] = {"GET", key};
  commands[1] = {"TTL", std::move(key)};
  auto reply = co_await client_.Transaction(std::move(commands), timeout);
  if (!reply) co_return Classify(reply.error());
  auto value = Element(*reply, 0, "GET");
  if (!value) co_return value.error();
  auto ttl = Element(*reply, 1, "TTL");
  if (!ttl) co_return ttl.error();
  if ((*value)->is_nil()) co_return std::optional<cache::StoredEntry>();
  if ((*value)->type != Reply::Type::kString || (*ttl)->type != Reply::Type::kInteger) {
    co_return Unexpected("GET/TTL", *reply);
  }
  co_return std::optional<cache::StoredEntry>(cache::StoredEntry{std::move((*value)->str), (*ttl)->integer});
}

asio::awaitable<Result<cache::LookupResult>> RedisCacheStore::Lookup(std::string key, Ms timeout) {
  std::vector<std::string> command;
  command.reserve(3);
  command.emplace_back("MGET");
  command.push_back(std::move(key));
  command.push_back(EpochKey());
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kArray || reply->elements.size() != 2) co_return Unexpected("MGET", *reply);
  cache::LookupResult out;
  // MGET answers nil for a key of another type: a miss (the load overwrites it).
  Reply& value = reply->elements[0];
  if (value.type == Reply::Type::kString) out.bytes = std::move(value.str);
  if (reply->elements[1].type == Reply::Type::kString) out.epoch = std::move(reply->elements[1].str);
  co_return out;
}

asio::awaitable<Result<void>> RedisCacheStore::Set(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                   std::vector<std::string> tags, Ms timeout) {
  const std::string seconds = std::to_string(ttl.count());
  if (tags.empty()) {
    std::vector<std::string> command;
    command.reserve(5);
    command.emplace_back("SET");
    command.push_back(std::move(key));
    command.push_back(std::move(bytes));
    command.emplace_back("EX");
    command.push_back(seconds);
    auto reply = co_await client_.Command(std::move(command), timeout);
    if (!reply) co_return Classify(reply.error());
    co_return Result<void>();
  }
  std::vector<std::vector<std::string>> commands;
  commands.reserve(1 + 3 * tags.size());
  commands.push_back({"SET", key, std::move(bytes), "EX", seconds});
  for (const std::string& tag : tags) {
    const std::string set = TagKey(tag);
    commands.push_back({"SADD", set, key});
    commands.push_back({"EXPIRE", set, seconds, "NX"});
    commands.push_back({"EXPIRE", set, seconds, "GT"});
  }
  const std::size_t count = commands.size();
  auto reply = co_await client_.Transaction(std::move(commands), timeout);
  if (!reply) co_return Classify(reply.error());
  for (std::size_t i = 0; i < count; ++i) {
    auto element = Element(*reply, i, "SET/SADD/EXPIRE");
    if (!element) co_return element.error();
  }
  co_return Result<void>();
}

asio::awaitable<Result<bool>> RedisCacheStore::SetIfEpoch(std::string key, std::string bytes, std::chrono::seconds ttl,
                                                          std::vector<std::string> tags, std::string epoch,
                                                          Ms timeout) {
  std::vector<std::string> command;
  command.reserve(8 + tags.size());
  command.emplace_back("EVAL");
  command.emplace_back(kSetIfEpochScript);
  command.push_back(std::to_string(2 + tags.size()));
  command.push_back(EpochKey());
  command.push_back(std::move(key));
  for (const std::string& tag : tags) command.push_back(TagKey(tag));
  command.push_back(std::move(epoch));
  command.push_back(std::move(bytes));
  command.push_back(std::to_string(ttl.count()));
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kInteger) co_return Unexpected("EVAL", *reply);
  co_return reply->integer == 1;
}

asio::awaitable<Result<bool>> RedisCacheStore::Exists(std::string key, Ms timeout) {
  std::vector<std::string> command;
  command.emplace_back("EXISTS");
  command.push_back(std::move(key));
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kInteger) co_return Unexpected("EXISTS", *reply);
  co_return reply->integer > 0;
}

asio::awaitable<Result<std::int64_t>> RedisCacheStore::Increment(std::string key, std::int64_t by,
                                                                 std::optional<std::chrono::seconds> ttl, Ms timeout) {
  std::vector<std::vector<std::string>> commands;
  commands.push_back({"INCRBY", key, std::to_string(by)});
  // NX: only a counter that has no expiry yet (this call created it) gets one.
  if (ttl) commands.push_back({"EXPIRE", std::move(key), std::to_string(ttl->count()), "NX"});
  auto reply = co_await client_.Transaction(std::move(commands), timeout);
  if (!reply) co_return Classify(reply.error());
  auto value = Element(*reply, 0, "INCRBY");
  if (!value) co_return value.error();
  if ((*value)->type != Reply::Type::kInteger) co_return Unexpected("INCRBY", *reply);
  if (ttl) {
    auto expire = Element(*reply, 1, "EXPIRE");
    if (!expire) co_return expire.error();
  }
  co_return static_cast<std::int64_t>((*value)->integer);
}

asio::awaitable<Result<std::uint64_t>> RedisCacheStore::Delete(std::vector<std::string> keys, Ms timeout) {
  std::vector<std::vector<std::string>> commands(2);
  commands[0] = {"SET", EpochKey(), NewToken()};
  commands[1].reserve(keys.size() + 1);
  commands[1].emplace_back("UNLINK");
  for (std::string& key : keys) commands[1].push_back(std::move(key));
  auto reply = co_await client_.Transaction(std::move(commands), timeout);
  if (!reply) co_return Classify(reply.error());
  auto epoch = Element(*reply, 0, "SET");
  if (!epoch) co_return epoch.error();
  auto deleted = Element(*reply, 1, "UNLINK");
  if (!deleted) co_return deleted.error();
  if ((*deleted)->type != Reply::Type::kInteger) co_return Unexpected("UNLINK", *reply);
  co_return static_cast<std::uint64_t>((*deleted)->integer);
}

asio::awaitable<Result<void>> RedisCacheStore::NewEpoch(Ms timeout) {
  std::vector<std::string> command;
  command.emplace_back("SET");
  command.push_back(EpochKey());
  command.push_back(NewToken());
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  co_return Result<void>();
}

asio::awaitable<Result<cache::ScanPage>> RedisCacheStore::Scan(std::string cursor, std::string pattern,
                                                               std::size_t count, Ms timeout) {
  std::vector<std::string> command;
  command.reserve(6);
  command.emplace_back("SCAN");
  command.push_back(std::move(cursor));
  command.emplace_back("MATCH");
  command.push_back(std::move(pattern));
  command.emplace_back("COUNT");
  command.push_back(std::to_string(count));
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kArray || reply->elements.size() != 2 ||
      reply->elements[0].type != Reply::Type::kString || reply->elements[1].type != Reply::Type::kArray) {
    co_return Unexpected("SCAN", *reply);
  }
  cache::ScanPage page;
  page.cursor = std::move(reply->elements[0].str);
  for (Reply& key : reply->elements[1].elements) {
    if (key.type != Reply::Type::kString) continue;
    if (std::string_view(key.str).starts_with(cache::kReservedPrefix)) continue;  // the service's own keys
    page.keys.push_back(std::move(key.str));
  }
  co_return page;
}

asio::awaitable<Result<std::uint64_t>> RedisCacheStore::Unlink(std::vector<std::string> keys, Ms timeout) {
  std::uint64_t none = 0;
  if (keys.empty()) co_return none;
  std::vector<std::string> command;
  command.reserve(keys.size() + 1);
  command.emplace_back("UNLINK");
  for (std::string& key : keys) command.push_back(std::move(key));
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kInteger) co_return Unexpected("UNLINK", *reply);
  co_return static_cast<std::uint64_t>(reply->integer);
}

asio::awaitable<Result<cache::TagBatch>> RedisCacheStore::PopTagged(std::string tag, std::size_t count, Ms timeout) {
  std::vector<std::string> command;
  command.reserve(5);
  command.emplace_back("EVAL");
  command.emplace_back(kPopTaggedScript);
  command.emplace_back("1");
  command.push_back(TagKey(tag));
  command.push_back(std::to_string(count));
  auto reply = co_await client_.Command(std::move(command), timeout);
  if (!reply) co_return Classify(reply.error());
  if (reply->type != Reply::Type::kArray || reply->elements.size() != 2 ||
      reply->elements[0].type != Reply::Type::kInteger || reply->elements[1].type != Reply::Type::kInteger) {
    co_return Unexpected("EVAL", *reply);
  }
  co_return cache::TagBatch{static_cast<std::uint64_t>(reply->elements[0].integer),
                            static_cast<std::uint64_t>(reply->elements[1].integer)};
}

}  // namespace coredb::redis
