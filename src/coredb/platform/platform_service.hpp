// The platform's data (API.md "Platform data"): the story's DatabaseService in C++ — users, api
// keys, libraries and usage logs in the tables of migration 0001, read and written through the
// SqlBackend port (parameters always bound), with the story's cache-aside reads on CacheManager:
//   getUserByEmail   key <prefix>user:email:<email>, 5 min, the user with its non-revoked apiKeys;
//                    misses (no such user) are not cached;
//   searchLibraries  key <prefix>libraries:search:<q>:<limit>, 15 min, tag <prefix>libraries:search.
// Beyond the story, a write drops what it makes stale before it answers: a new api key (and a new
// user) its user's by-email entry, a new library every search entry. The drop goes through
// CacheManager::Invalidate, so a drop that cannot reach Redis is replayed before this instance
// serves a cached value again, and a load that started before the write never stores its result.
// Redis is never needed for a correct answer: every read falls back to PostgreSQL.
//
// Answers use the Prisma field names of the story's schema.prisma; DateTime values are written
// as Prisma's JSON shows them (ISO 8601 UTC with milliseconds and "Z").
//
// Single-threaded like CacheManager: use it from the event loop's thread only.
#pragma once

#include "coredb/cache/cache_manager.hpp"
#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coredb::platform {

inline constexpr std::chrono::seconds kUserCacheTtl{300};    // story: 5 minutes
inline constexpr std::chrono::seconds kSearchCacheTtl{900};  // story: 15 minutes
inline constexpr int kDefaultSearchLimit = 10;
inline constexpr int kMaxSearchLimit = 100;

// Bounds of the fields (docs/openapi.yaml "Platform data"), in bytes of UTF-8.
inline constexpr std::size_t kMaxEmailBytes = 254;  // RFC 5321 path limit
inline constexpr std::size_t kMaxEmailLocalBytes = 64;
inline constexpr std::size_t kMaxIdBytes = 128;  // user / api key ids (text, uuid by default)
inline constexpr std::size_t kMaxLibraryIdBytes = 256;
inline constexpr std::size_t kMaxNameBytes = 256;     // names, vendors, providers, versions, prefixes
inline constexpr std::size_t kMaxSecretBytes = 1024;  // hashedPassword, keyHash, oauthId
inline constexpr std::size_t kMaxUrlBytes = 2048;
inline constexpr std::size_t kMaxSearchQueryBytes = 256;
inline constexpr std::size_t kMaxUsageQueryBytes = 10000;
inline constexpr std::size_t kMaxMetadataBytes = 64 * 1024;
inline constexpr std::int64_t kMaxInt4 = 2147483647;

struct NewUser {
  std::string email;
  std::optional<std::string> hashed_password;
  std::optional<std::string> oauth_provider;
  std::optional<std::string> oauth_id;
};

struct NewApiKey {
  std::string user_id;
  std::string key_hash;
  std::string key_prefix;
  std::string name;
  std::optional<std::int64_t> quota_requests_per_minute;  // database default 60
  std::optional<std::int64_t> quota_requests_per_day;     // database default 10000
};

struct NewLibrary {
  std::string id;  // "/vendor/name"
  std::string name;
  std::optional<std::string> vendor;
  std::optional<std::string> repo_url;
  std::optional<std::string> docs_url;
  std::optional<std::string> default_version;
  std::optional<std::int64_t> popularity_score;  // database default 0
  std::optional<boost::json::value> metadata;    // any JSON; JSON null is SQL NULL
};

struct LibrarySearch {
  std::string query;
  int limit = kDefaultSearchLimit;
};

struct NewUsageLog {
  std::optional<std::string> user_id;
  std::optional<std::string> api_key_id;
  std::string tool_name;
  std::optional<std::string> library_id;
  std::optional<std::string> query;
  std::optional<std::int64_t> tokens_returned;
  std::optional<std::int64_t> response_time_ms;
};

// Plain counters (single-threaded), for logs and /metrics.
struct PlatformStats {
  std::uint64_t usage_logs_stored = 0;
  std::uint64_t usage_logs_failed = 0;     // LogUsage inserts that failed (the caller still got 202)
  std::uint64_t invalidations_failed = 0;  // a write's cache drop that did not reach Redis (replayed later)
};

struct PlatformOptions {
  // Prepended to every cache key and tag of this module (COREDB_PLATFORM_CACHE_PREFIX); empty:
  // the story's keys, shared with the platform's TypeScript services.
  std::string cache_prefix;
  std::chrono::milliseconds timeout{30000};  // each statement: pool wait and execution
};

// Format checks, 400 INVALID_REQUEST naming the member (also used by the HTTP layer).
// An email: 3..254 bytes, one '@', a local part of 1..64 bytes, a domain of dot-separated labels
// (letters, digits, '-', not starting or ending with '-') with at least one dot; no spaces,
// control characters or quotes anywhere. Compared exactly as stored (case-sensitive, as Prisma).
Result<void> CheckEmail(std::string_view email, std::string_view member = "email");
// A library id: "/vendor/name", two segments of [A-Za-z0-9._-] (not "." or ".."), 3..256 bytes.
Result<void> CheckLibraryId(std::string_view id, std::string_view member = "id");
// Valid UTF-8 without control characters (tab, LF and CR allowed when `multiline`), 1..max
// bytes, not only spaces.
Result<void> CheckText(std::string_view text, std::string_view member, std::size_t max_bytes, bool multiline = false);
// An absolute http(s) URL without spaces or control characters, up to kMaxUrlBytes.
Result<void> CheckUrl(std::string_view url, std::string_view member);
// The text fields of a usage log (toolName 1..256, ids 1..128, query 1..10000 bytes). Whether
// the ids name rows is the database's business: a failed insert is not the caller's failure.
Result<void> CheckUsageLog(const NewUsageLog& log);

class PlatformService {
 public:
  PlatformService(SqlBackend& database, cache::CacheManager& cache, PlatformOptions options);

  // The created user (without apiKeys). 409 CONSTRAINT_VIOLATION for a duplicate email.
  boost::asio::awaitable<Result<boost::json::object>> CreateUser(const NewUser& user);
  // The user with its non-revoked apiKeys (oldest first); 404 NOT_FOUND. Cached 5 minutes.
  // `from_cache` (optional) tells whether the answer came from Redis.
  boost::asio::awaitable<Result<boost::json::object>> GetUserByEmail(std::string email, bool* from_cache = nullptr);
  // The created api key. 409 CONSTRAINT_VIOLATION naming api_keys_userId_fkey for an unknown
  // user, api_keys_keyHash_key for a duplicate hash.
  boost::asio::awaitable<Result<boost::json::object>> CreateApiKey(const NewApiKey& key);
  // The api key (revoked or not) with `user: {id, email}`; 404 NOT_FOUND. Not cached: a
  // revocation must be seen at once by whoever authenticates with the key.
  boost::asio::awaitable<Result<boost::json::object>> GetApiKeyByHash(std::string key_hash);
  // The created library. 409 CONSTRAINT_VIOLATION for an id that exists.
  boost::asio::awaitable<Result<boost::json::object>> CreateLibrary(const NewLibrary& library);
  // Full-text search on the name (the GIN index libraries_name_idx), popularityScore desc then
  // name asc, at most `limit`: [{id, name, vendor, defaultVersion, popularityScore,
  // totalSnippets}]. Cached 15 minutes (empty results too).
  boost::asio::awaitable<Result<boost::json::array>> SearchLibraries(LibrarySearch search, bool* from_cache = nullptr);
  // The stored usage log, or nullopt when the insert failed (logged at warn and counted; never
  // an error for the caller).
  boost::asio::awaitable<std::optional<boost::json::object>> LogUsage(const NewUsageLog& log);

  std::string UserCacheKey(std::string_view email) const;
  std::string SearchCacheKey(std::string_view query, int limit) const;
  std::string SearchCacheTag() const;

  const PlatformStats& Stats() const { return stats_; }

 private:
  // Drops cache entries after a write, before its answer; a failure is logged and counted (the
  // CacheManager replays it before serving from the cache again).
  boost::asio::awaitable<void> DropStale(std::vector<std::string> tags, std::vector<std::string> patterns,
                                         std::string_view why);
  boost::asio::awaitable<Result<boost::json::object>> LoadUser(const std::string& email);
  boost::asio::awaitable<Result<boost::json::array>> LoadSearch(const LibrarySearch& search);

  SqlBackend& database_;
  cache::CacheManager& cache_;
  PlatformOptions options_;
  PlatformStats stats_;
};

// The search statement the service runs ($1 the query text, $2 the limit), for tests that check
// its plan uses libraries_name_idx.
extern const char* const kSearchLibrariesSql;

}  // namespace coredb::platform
