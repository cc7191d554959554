// What a client of the service is (issue 6, API.md "Authentication and scopes") and the pure
// rules about it: names, scopes, quotas, PostgreSQL roles, cache prefixes, and the tokens
// themselves. No I/O here: the HTTP handler and the CLI validate with the same functions.
//
// Tokens: "cdb_" + 8 characters (the visible prefix, 48 random bits, shown in listings so a
// leaked token can be traced to its client) + 43 characters (256 random bits from OpenSSL's
// CSPRNG), all base64url. Only the SHA-256 of the whole token is stored.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::clients {

inline constexpr std::string_view kTokenScheme = "cdb_";
inline constexpr std::size_t kTokenPrefixLength = 12;  // "cdb_" + 8
inline constexpr std::size_t kMaxNameLength = 64;
inline constexpr std::size_t kMaxCachePrefixes = 32;
inline constexpr std::int64_t kMaxQuotaPerMinute = 1'000'000;
inline constexpr std::int64_t kMaxQuotaPerDay = 1'000'000'000;

// What a caller asks for when creating a client (validated).
struct ClientSpec {
  std::string name;
  std::uint8_t scopes = 0;  // bit set of Scope
  std::optional<std::int64_t> quota_per_minute;
  std::optional<std::int64_t> quota_per_day;
  std::string pg_role;  // empty: none
  std::vector<std::string> cache_prefixes;
};

// A stored client (never its token).
struct ClientRecord {
  std::string id;
  std::string name;
  std::uint8_t scopes = 0;
  std::optional<std::int64_t> quota_per_minute;
  std::optional<std::int64_t> quota_per_day;
  std::string pg_role;
  std::vector<std::string> cache_prefixes;
  std::string token_prefix;
  std::string token_hash;  // 64 lower-case hex digits (SHA-256)
  std::string created_at;  // RFC 3339
  std::optional<std::string> revoked_at;
};

struct NewToken {
  std::string token;   // shown once
  std::string prefix;  // kept, shown in listings
  std::string hash;    // hex SHA-256 of `token`, kept
};

// 1..64 characters of letters, digits, '.', '_', '-', starting with a letter or digit.
Result<void> CheckName(std::string_view name);
// "read" | "write" | "admin", at least one, no duplicates; 400 naming the bad one.
Result<std::uint8_t> ParseScopes(const std::vector<std::string>& names);
std::vector<std::string> ScopeNames(std::uint8_t scopes);
// An unquoted PostgreSQL identifier: [a-z_][a-z0-9_$]{0,62}. Existence is checked by the store.
Result<void> CheckPgRole(std::string_view role);
// Each a valid cache key prefix (cache::CheckKey rules), at most kMaxCachePrefixes, no duplicates.
Result<void> CheckCachePrefixes(const std::vector<std::string>& prefixes);

// A fresh token from RAND_bytes; throws std::runtime_error if the CSPRNG fails (never silently weak).
NewToken GenerateToken();
std::string HexSha256(std::string_view data);
// Shape of a token this service issues (used only to reject garbage early; never a secret check).
bool LooksLikeClientToken(std::string_view token);

}  // namespace coredb::clients
