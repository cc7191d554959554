// A Redis reply as a plain value, independent of hiredis, and its JSON form for the API
// (API.md "Queries", Redis paragraph). Fakes of the Redis port build these directly.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coredb::redis {

// The RESP2 reply types (hiredis 0.14 speaks RESP2 only, so there is no double, map, set...).
struct Reply {
  enum class Type {
    kString,   // bulk string: binary-safe bytes
    kStatus,   // simple string, e.g. "OK", "PONG"
    kInteger,
    kNil,      // null bulk string or null array
    kArray,
    kError,    // error reply; at top level RedisClient turns it into kQueryError, so it only
               // reaches callers nested in an array (e.g. inside the reply to EXEC)
  };

  Type type = Type::kNil;
  std::string str;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<Reply> elements;  // kArray

  static Reply String(std::string s) { return {Type::kString, std::move(s), 0, {}}; }
  static Reply Status(std::string s) { return {Type::kStatus, std::move(s), 0, {}}; }
  static Reply Integer(long long i) { return {Type::kInteger, {}, i, {}}; }
  static Reply Nil() { return {}; }
  static Reply Array(std::vector<Reply> e) { return {Type::kArray, {}, 0, std::move(e)}; }
  static Reply ErrorReply(std::string s) { return {Type::kError, std::move(s), 0, {}}; }

  bool is_nil() const { return type == Type::kNil; }
  friend bool operator==(const Reply&, const Reply&) = default;
};

// bulk and status strings → string, integer → number, nil → null, array → array (recursively).
// Bytes that are not valid UTF-8 become U+FFFD (as Node's Buffer#toString does), so the
// response is always valid JSON; NUL and other control characters survive (JSON escapes them).
// An error reply nested in an array becomes {"error": "<message>"}.
boost::json::value ReplyToJson(const Reply& reply);

// Replaces every invalid UTF-8 sequence of `bytes` with U+FFFD (maximal-subpart rule).
std::string SanitizeUtf8(std::string_view bytes);

const char* ReplyTypeName(Reply::Type type);

}  // namespace coredb::redis
