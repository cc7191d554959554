// What a cache key, pattern or tag may be, and which of them a client may touch
// (API.md "Cache": one key space shared by the platform's services; a client with
// `cachePrefixes` only touches keys under them; `*` alone needs admin).
//
// Keys are 1..1024 bytes of valid UTF-8 without control characters (U+0000–U+001F, U+007F):
// they travel in URL paths, logs and JSON, where those would be invisible or ambiguous. Anything
// else is allowed, spaces and glob characters included (a key is always taken literally; only
// invalidation patterns are globs). Keys starting with "__coredb:" are the service's own
// bookkeeping and cannot be read, written or invalidated through the API.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <cstddef>
#include <string_view>

namespace coredb::cache {

inline constexpr std::size_t kMaxKeyBytes = 1024;
inline constexpr std::size_t kMaxPatternBytes = 1024;
inline constexpr std::size_t kMaxTagBytes = 256;
inline constexpr std::size_t kMaxTags = 64;
inline constexpr std::string_view kReservedPrefix = "__coredb:";

// 400 INVALID_REQUEST naming the problem, or success.
Result<void> CheckKey(std::string_view key);
Result<void> CheckPattern(std::string_view pattern);  // a Redis glob (SCAN MATCH)
Result<void> CheckTag(std::string_view tag);

// Valid UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF; C0 controls and DEL
// only when `allow_controls`.
bool IsValidUtf8(std::string_view s, bool allow_controls);

// True for a pattern that matches every key: "*", "**", ...
bool MatchesEveryKey(std::string_view pattern);
// The part of a glob before its first special character (* ? [ or \).
std::string_view LiteralPrefix(std::string_view pattern);

// 403 FORBIDDEN unless the principal's cachePrefixes (empty: unrestricted) cover the key.
Result<void> CheckKeyAccess(const Principal& principal, std::string_view key);
// 403 FORBIDDEN unless every key the pattern can match lies under one of the principal's
// prefixes (its literal part starts with the prefix), and unless the principal is admin when
// the pattern matches every key.
Result<void> CheckPatternAccess(const Principal& principal, std::string_view pattern);
// 403 FORBIDDEN unless the tag starts with one of the principal's prefixes (tags live in the
// same key space: invalidating one deletes the keys it lists).
Result<void> CheckTagAccess(const Principal& principal, std::string_view tag);

}  // namespace coredb::cache
