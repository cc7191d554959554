#include "coredb/clients/redis_scope.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace coredb::clients {

namespace {

std::string Upper(std::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

constexpr std::array<std::string_view, 83> kReadCommands = {"GET",
                                                            "MGET",
                                                            "GETRANGE",
                                                            "SUBSTR",
                                                            "STRLEN",
                                                            "EXISTS",
                                                            "TYPE",
                                                            "TTL",
                                                            "PTTL",
                                                            "EXPIRETIME",
                                                            "PEXPIRETIME",
                                                            "HGET",
                                                            "HMGET",
                                                            "HGETALL",
                                                            "HKEYS",
                                                            "HVALS",
                                                            "HLEN",
                                                            "HEXISTS",
                                                            "HSTRLEN",
                                                            "HSCAN",
                                                            "HRANDFIELD",
                                                            "LRANGE",
                                                            "LLEN",
                                                            "LINDEX",
                                                            "LPOS",
                                                            "SMEMBERS",
                                                            "SISMEMBER",
                                                            "SMISMEMBER",
                                                            "SCARD",
                                                            "SRANDMEMBER",
                                                            "SSCAN",
                                                            "SINTER",
                                                            "SINTERCARD",
                                                            "SUNION",
                                                            "SDIFF",
                                                            "ZRANGE",
                                                            "ZRANGEBYSCORE",
                                                            "ZREVRANGE",
                                                            "ZREVRANGEBYSCORE",
                                                            "ZRANGEBYLEX",
                                                            "ZREVRANGEBYLEX",
                                                            "ZSCORE",
                                                            "ZMSCORE",
                                                            "ZCARD",
                                                            "ZCOUNT",
                                                            "ZLEXCOUNT",
                                                            "ZRANK",
                                                            "ZREVRANK",
                                                            "ZSCAN",
                                                            "ZRANDMEMBER",
                                                            "ZINTER",
                                                            "ZUNION",
                                                            "ZDIFF",
                                                            "ZINTERCARD",
                                                            "SCAN",
                                                            "DBSIZE",
                                                            "RANDOMKEY",
                                                            "PING",
                                                            "ECHO",
                                                            "TIME",
                                                            "BITCOUNT",
                                                            "BITPOS",
                                                            "GETBIT",
                                                            "BITFIELD_RO",
                                                            "PFCOUNT",
                                                            "XRANGE",
                                                            "XREVRANGE",
                                                            "XLEN",
                                                            "XINFO",
                                                            "XPENDING",
                                                            "GEOPOS",
                                                            "GEODIST",
                                                            "GEOHASH",
                                                            "GEOSEARCH",
                                                            "GEORADIUS_RO",
                                                            "GEORADIUSBYMEMBER_RO",
                                                            "LCS",
                                                            "DUMP",
                                                            "TOUCH",
                                                            "EVAL_RO",
                                                            "EVALSHA_RO",
                                                            "FCALL_RO",
                                                            "SORT_RO"};

constexpr std::array<std::string_view, 23> kAdminCommands = {
    "FLUSHALL", "FLUSHDB",   "CONFIG",   "SHUTDOWN", "DEBUG",   "SAVE",   "BGSAVE",   "BGREWRITEAOF",
    "SLAVEOF",  "REPLICAOF", "CLIENT",   "ACL",      "MODULE",  "SCRIPT", "FUNCTION", "CLUSTER",
    "MIGRATE",  "SWAPDB",    "FAILOVER", "LATENCY",  "SLOWLOG", "MEMORY", "KEYS"};

template <std::size_t N>
bool In(const std::array<std::string_view, N>& set, std::string_view name) {
  return std::find(set.begin(), set.end(), name) != set.end();
}

}  // namespace

Scope RedisCommandScope(const std::vector<std::string>& command) {
  if (command.empty()) return Scope::kRead;  // rejected as malformed elsewhere
  const std::string name = Upper(command.front());
  if (In(kAdminCommands, name)) return Scope::kAdmin;
  // XREAD with GROUP is XREADGROUP (a different name); plain XREAD only reads. OBJECT/INFO read.
  if (In(kReadCommands, name) || name == "XREAD" || name == "OBJECT" || name == "INFO") return Scope::kRead;
  return Scope::kWrite;
}

Result<void> CheckRedisCommandScope(const Principal& principal, const std::vector<std::string>& command) {
  const Scope needed = RedisCommandScope(command);
  if (principal.Allows(needed)) return {};
  const char* scope_name = needed == Scope::kAdmin ? "admin" : needed == Scope::kWrite ? "write" : "read";
  std::string name = command.empty() ? std::string() : Upper(command.front());
  return MakeError(ErrorCode::kForbidden, "redis command " + name + " needs the '" + scope_name + "' scope");
}

}  // namespace coredb::clients
