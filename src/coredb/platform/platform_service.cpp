#include "coredb/platform/platform_service.hpp"

#include "coredb/cache/cache_key.hpp"

#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <utility>

namespace coredb::platform {

namespace json = boost::json;
using boost::asio::awaitable;

// DateTime as Prisma's JSON shows it: ISO 8601, UTC (the session's TimeZone), milliseconds, "Z".
#define COREDB_TS(expr) "to_char(" expr ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

namespace {

constexpr const char* kUserColumns =
    "\"id\", \"email\", \"hashedPassword\", \"oauthProvider\", \"oauthId\", " COREDB_TS(
        "\"createdAt\"") " AS \"createdAt\", " COREDB_TS("\"updatedAt\"") " AS \"updatedAt\"";

constexpr const char* kApiKeyColumns =
    "k.\"id\", k.\"userId\", k.\"keyHash\", k.\"keyPrefix\", k.\"name\", k.\"quotaRequestsPerMinute\", "
    "k.\"quotaRequestsPerDay\", " COREDB_TS("k.\"lastUsedAt\"") " AS \"lastUsedAt\", " COREDB_TS(
        "k.\"createdAt\"") " AS \"createdAt\", " COREDB_TS("k.\"revokedAt\"") " AS \"revokedAt\"";

constexpr const char* kLibraryColumns =
    "\"id\", \"name\", \"vendor\", \"repoUrl\", \"docsUrl\", \"defaultVersion\", \"popularityScore\", "
    "\"totalSnippets\", \"totalTokens\", " COREDB_TS("\"lastCrawledAt\"") " AS \"lastCrawledAt\", " COREDB_TS(
        "\"createdAt\"") " AS \"createdAt\", " COREDB_TS("\"updatedAt\"") " AS \"updatedAt\", \"metadata\"";

constexpr const char* kUsageLogColumns =
    "\"id\", \"userId\", \"apiKeyId\", \"toolName\", \"libraryId\", \"query\", \"tokensReturned\", "
    "\"responseTimeMs\", " COREDB_TS("\"createdAt\"") " AS \"createdAt\"";

// The user with its non-revoked keys in one statement (apiKeys oldest first).
constexpr const char* kUserByEmailSql =
    "SELECT u.\"id\", u.\"email\", u.\"hashedPassword\", u.\"oauthProvider\", u.\"oauthId\", " COREDB_TS(
        "u.\"createdAt\"") " AS \"createdAt\", " COREDB_TS("u.\"updatedAt\"") " AS \"updatedAt\", "
    "COALESCE((SELECT json_agg(json_build_object("
    "'id', k.\"id\", 'userId', k.\"userId\", 'keyHash', k.\"keyHash\", 'keyPrefix', k.\"keyPrefix\", "
    "'name', k.\"name\", 'quotaRequestsPerMinute', k.\"quotaRequestsPerMinute\", "
    "'quotaRequestsPerDay', k.\"quotaRequestsPerDay\", 'lastUsedAt', " COREDB_TS("k.\"lastUsedAt\"") ", "
    "'createdAt', " COREDB_TS("k.\"createdAt\"") ", 'revokedAt', " COREDB_TS("k.\"revokedAt\"") ") "
    "ORDER BY k.\"createdAt\", k.\"id\") FROM \"api_keys\" k WHERE k.\"userId\" = u.\"id\" AND k.\"revokedAt\" IS NULL), "
    "'[]'::json) AS \"apiKeys\" "
    "FROM \"users\" u WHERE u.\"email\" = $1";

constexpr const char* kApiKeyByHashSql =
    "SELECT k.\"id\", k.\"userId\", k.\"keyHash\", k.\"keyPrefix\", k.\"name\", k.\"quotaRequestsPerMinute\", "
    "k.\"quotaRequestsPerDay\", " COREDB_TS("k.\"lastUsedAt\"") " AS \"lastUsedAt\", " COREDB_TS(
        "k.\"createdAt\"") " AS \"createdAt\", " COREDB_TS("k.\"revokedAt\"") " AS \"revokedAt\", "
    "json_build_object('id', u.\"id\", 'email', u.\"email\") AS \"user\" "
    "FROM \"api_keys\" k JOIN \"users\" u ON u.\"id\" = k.\"userId\" WHERE k.\"keyHash\" = $1";

// An INSERT of the columns the caller gave (the others keep their database defaults); the
// values are always bound parameters.
class Insert {
 public:
  void Add(std::string_view column, json::value value) {
    if (!columns_.empty()) {
      columns_ += ", ";
      values_ += ", ";
    }
    columns_ += '"';
    columns_ += column;
    columns_ += '"';
    params_.push_back(std::move(value));
    values_ += "$" + std::to_string(params_.size());
  }
  void AddIf(std::string_view column, const std::optional<std::string>& value) {
    if (value) Add(column, json::string(*value));
  }
  void AddIf(std::string_view column, const std::optional<std::int64_t>& value) {
    if (value) Add(column, *value);
  }
  std::string Sql(std::string_view table) const {
    return "INSERT INTO \"" + std::string(table) + "\" (" + columns_ + ") VALUES (" + values_ + ")";
  }
  const json::array& params() const { return params_; }

 private:
  std::string columns_;
  std::string values_;
  json::array params_;
};

std::string EscapeGlob(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

constexpr const char* kWhyNewUser = "a new user";
constexpr const char* kWhyNewApiKey = "a new api key";
constexpr const char* kWhyNewLibrary = "a new library";

Error Invalid(std::string message) { return MakeError(ErrorCode::kInvalidRequest, std::move(message)); }

std::string Quoted(std::string_view member) { return "'" + std::string(member) + "'"; }

// The first row of a statement's outcome, or nullopt when there is none.
std::optional<json::object> FirstRow(SqlOutcome& outcome) {
  auto* rows = outcome.body.if_contains("rows");
  if (rows == nullptr || !rows->is_array() || rows->as_array().empty()) return std::nullopt;
  auto& first = rows->as_array().front();
  if (!first.is_object()) return std::nullopt;
  return std::move(first.as_object());
}

bool IsLabelChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; }

}  // namespace

const char* const kSearchLibrariesSql =
    "SELECT \"id\", \"name\", \"vendor\", \"defaultVersion\", \"popularityScore\", \"totalSnippets\" "
    "FROM \"libraries\" WHERE to_tsvector('english', \"name\") @@ websearch_to_tsquery('english', $1) "
    "ORDER BY \"popularityScore\" DESC, \"name\" ASC LIMIT $2";

Result<void> CheckText(std::string_view text, std::string_view member, std::size_t max_bytes, bool multiline) {
  if (text.empty()) return Invalid(Quoted(member) + " must not be empty");
  if (text.size() > max_bytes) {
    return Invalid(Quoted(member) + " must be at most " + std::to_string(max_bytes) + " bytes");
  }
  const auto control = [multiline](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && !(multiline && (c == '\t' || c == '\n' || c == '\r'))) || u == 0x7f;
  };
  if (!cache::IsValidUtf8(text, true) || std::any_of(text.begin(), text.end(), control)) {
    return Invalid(Quoted(member) + " must be valid UTF-8 without control characters");
  }
  if (std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; })) {
    return Invalid(Quoted(member) + " must not be blank");
  }
  return {};
}

Result<void> CheckEmail(std::string_view email, std::string_view member) {
  const auto bad = [&](const char* why) { return Invalid(Quoted(member) + " is not a valid email address: " + why); };
  if (email.size() < 3 || email.size() > kMaxEmailBytes) return bad("it must be 3..254 bytes");
  if (!cache::IsValidUtf8(email, false)) return bad("not UTF-8 text without control characters");
  const auto at = email.find('@');
  if (at == std::string_view::npos || email.find('@', at + 1) != std::string_view::npos) {
    return bad("it must contain exactly one '@'");
  }
  const std::string_view local = email.substr(0, at);
  const std::string_view domain = email.substr(at + 1);
  if (local.empty() || local.size() > kMaxEmailLocalBytes) return bad("the part before '@' must be 1..64 bytes");
  for (char c : local) {
    if (c == ' ' || c == '"' || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' || c == '<' || c == '>' ||
        c == '[' || c == ']' || c == '\\') {
      return bad("the part before '@' contains a space or a special character");
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    return bad("the part before '@' has a misplaced '.'");
  }
  if (domain.find('.') == std::string_view::npos) return bad("the domain must contain a '.'");
  std::size_t start = 0;
  while (start <= domain.size()) {
    auto end = domain.find('.', start);
    if (end == std::string_view::npos) end = domain.size();
    const std::string_view label = domain.substr(start, end - start);
    const bool ascii_ok = std::all_of(label.begin(), label.end(), [](char c) {
      return IsLabelChar(c) || static_cast<unsigned char>(c) >= 0x80;  // internationalised domains
    });
    if (label.empty() || label.size() > 63 || !ascii_ok || label.front() == '-' || label.back() == '-') {
      return bad("the domain must be dot-separated labels of letters, digits and '-'");
    }
    start = end + 1;
  }
  return {};
}

Result<void> CheckLibraryId(std::string_view id, std::string_view member) {
  const auto bad = [&](const char* why) {
    return Invalid(Quoted(member) + " must be a library id of the form /vendor/name (" + why + ")");
  };
  if (id.size() < 4 || id.size() > kMaxLibraryIdBytes) return bad("4..256 bytes");
  if (id.front() != '/') return bad("it must start with '/'");
  const auto slash = id.find('/', 1);
  if (slash == std::string_view::npos) return bad("two segments");
  const std::string_view vendor = id.substr(1, slash - 1);
  const std::string_view name = id.substr(slash + 1);
  for (std::string_view segment : {vendor, name}) {
    if (segment.empty() || segment == "." || segment == "..") return bad("empty, '.' or '..' segment");
    for (char c : segment) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
        return bad("segments of letters, digits, '.', '_' and '-'");
      }
    }
  }
  return {};
}

Result<void> CheckUrl(std::string_view url, std::string_view member) {
  if (auto ok = CheckText(url, member, kMaxUrlBytes); !ok) return ok;
  const bool scheme = url.starts_with("https://") || url.starts_with("http://");
  const auto host_start = url.find("://") + 3;
  if (!scheme || host_start >= url.size() || url[host_start] == '/' || url.find(' ') != std::string_view::npos) {
    return Invalid(Quoted(member) + " must be an absolute http:// or https:// URL without spaces");
  }
  return {};
}

Result<void> CheckUsageLog(const NewUsageLog& log) {
  if (auto ok = CheckText(log.tool_name, "toolName", kMaxNameBytes); !ok) return ok;
  if (log.user_id) {
    if (auto ok = CheckText(*log.user_id, "userId", kMaxIdBytes); !ok) return ok;
  }
  if (log.api_key_id) {
    if (auto ok = CheckText(*log.api_key_id, "apiKeyId", kMaxIdBytes); !ok) return ok;
  }
  if (log.library_id) {
    if (auto ok = CheckLibraryId(*log.library_id, "libraryId"); !ok) return ok;
  }
  if (log.query) {
    if (auto ok = CheckText(*log.query, "query", kMaxUsageQueryBytes, true); !ok) return ok;
  }
  return {};
}

PlatformService::PlatformService(SqlBackend& database, cache::CacheManager& cache, PlatformOptions options)
    : database_(database), cache_(cache), options_(std::move(options)) {}

std::string PlatformService::UserCacheKey(std::string_view email) const {
  return options_.cache_prefix + "user:email:" + std::string(email);
}

std::string PlatformService::SearchCacheKey(std::string_view query, int limit) const {
  return options_.cache_prefix + "libraries:search:" + std::string(query) + ":" + std::to_string(limit);
}

std::string PlatformService::SearchCacheTag() const { return options_.cache_prefix + "libraries:search"; }

awaitable<void> PlatformService::DropStale(std::vector<std::string> tags, std::vector<std::string> patterns,
                                           std::string_view why) {
  auto dropped = co_await cache_.Invalidate(std::move(tags), std::move(patterns));
  if (!dropped) {
    ++stats_.invalidations_failed;
    spdlog::warn("platform: cache entries made stale by {} not dropped yet ({}); reads bypass the cache until they are",
                 why, dropped.error().message);
  }
}

awaitable<Result<json::object>> PlatformService::CreateUser(const NewUser& user) {
  if (auto ok = CheckEmail(user.email); !ok) co_return ok.error();
  if (user.hashed_password) {
    if (auto ok = CheckText(*user.hashed_password, "hashedPassword", kMaxSecretBytes); !ok) co_return ok.error();
  }
  if (user.oauth_provider) {
    if (auto ok = CheckText(*user.oauth_provider, "oauthProvider", kMaxNameBytes); !ok) co_return ok.error();
  }
  if (user.oauth_id) {
    if (auto ok = CheckText(*user.oauth_id, "oauthId", kMaxSecretBytes); !ok) co_return ok.error();
  }
  Insert insert;
  insert.Add("email", json::string(user.email));
  insert.AddIf("hashedPassword", user.hashed_password);
  insert.AddIf("oauthProvider", user.oauth_provider);
  insert.AddIf("oauthId", user.oauth_id);
  const std::string sql = insert.Sql("users") + " RETURNING " + kUserColumns;
  const SqlStatement statement{sql, &insert.params(), RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) co_return outcome.error();
  auto row = FirstRow(*outcome);
  if (!row) co_return MakeError(ErrorCode::kInternal, "INSERT ... RETURNING gave no row");
  // Nothing should be cached for a user that did not exist, but another service sharing the key
  // space may have cached something under this email: drop it.
  std::vector<std::string> patterns{EscapeGlob(UserCacheKey(user.email))};
  co_await DropStale(std::vector<std::string>(), std::move(patterns), kWhyNewUser);
  spdlog::info("platform: user created {}", std::string(row->at("id").as_string()));
  co_return std::move(*row);
}

awaitable<Result<json::object>> PlatformService::LoadUser(const std::string& email) {
  const json::array params{json::string(email)};
  const SqlStatement statement{kUserByEmailSql, &params, RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) co_return outcome.error();
  auto row = FirstRow(*outcome);
  if (!row) co_return MakeError(ErrorCode::kNotFound, "no user with this email");
  co_return std::move(*row);
}

awaitable<Result<json::object>> PlatformService::GetUserByEmail(std::string email, bool* from_cache) {
  if (auto ok = CheckEmail(email); !ok) co_return ok.error();
  auto loader = [this, email]() -> awaitable<Result<json::value>> {
    auto user = co_await LoadUser(email);
    if (!user) co_return user.error();  // a miss is an error here: not cached
    co_return json::value(std::move(*user));
  };
  std::vector<std::string> no_tags;
  auto result = co_await cache_.GetOrSet(UserCacheKey(email), kUserCacheTtl, std::move(no_tags), loader);
  if (!result) co_return result.error();
  if (from_cache != nullptr) *from_cache = result->hit;
  if (!result->value->is_object()) {
    co_return MakeError(ErrorCode::kInternal, "the cached user entry is not a JSON object");
  }
  co_return result->value->as_object();
}

awaitable<Result<json::object>> PlatformService::CreateApiKey(const NewApiKey& key) {
  if (auto ok = CheckText(key.user_id, "userId", kMaxIdBytes); !ok) co_return ok.error();
  if (auto ok = CheckText(key.key_hash, "keyHash", kMaxSecretBytes); !ok) co_return ok.error();
  if (auto ok = CheckText(key.key_prefix, "keyPrefix", kMaxNameBytes); !ok) co_return ok.error();
  if (auto ok = CheckText(key.name, "name", kMaxNameBytes); !ok) co_return ok.error();
  Insert insert;
  insert.Add("userId", json::string(key.user_id));
  insert.Add("keyHash", json::string(key.key_hash));
  insert.Add("keyPrefix", json::string(key.key_prefix));
  insert.Add("name", json::string(key.name));
  insert.AddIf("quotaRequestsPerMinute", key.quota_requests_per_minute);
  insert.AddIf("quotaRequestsPerDay", key.quota_requests_per_day);
  // The owner's email comes back with the row: it names the cache entry this key makes stale.
  const std::string sql = "WITH k AS (" + insert.Sql("api_keys") + " RETURNING *) SELECT " + kApiKeyColumns +
                          ", u.\"email\" AS \"__ownerEmail\" FROM k JOIN \"users\" u ON u.\"id\" = k.\"userId\"";
  const SqlStatement statement{sql, &insert.params(), RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) {
    Error error = std::move(outcome.error());
    if (error.pg && error.pg->constraint == "api_keys_userId_fkey") {
      error.message = "userId does not name a user (foreign key api_keys_userId_fkey): " + error.message;
    }
    co_return error;
  }
  auto row = FirstRow(*outcome);
  if (!row) co_return MakeError(ErrorCode::kInternal, "INSERT ... RETURNING gave no row");
  const std::string email(row->at("__ownerEmail").as_string());
  row->erase("__ownerEmail");
  // Before answering: a reader never sees an api key list older than this write.
  std::vector<std::string> patterns{EscapeGlob(UserCacheKey(email))};
  co_await DropStale(std::vector<std::string>(), std::move(patterns), kWhyNewApiKey);
  spdlog::info("platform: api key created {} for user {}", std::string(row->at("id").as_string()), key.user_id);
  co_return std::move(*row);
}

awaitable<Result<json::object>> PlatformService::GetApiKeyByHash(std::string key_hash) {
  if (auto ok = CheckText(key_hash, "keyHash", kMaxSecretBytes); !ok) co_return ok.error();
  const json::array params{json::string(key_hash)};
  const SqlStatement statement{kApiKeyByHashSql, &params, RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) co_return outcome.error();
  auto row = FirstRow(*outcome);
  if (!row) co_return MakeError(ErrorCode::kNotFound, "no api key with this hash");
  co_return std::move(*row);
}

awaitable<Result<json::object>> PlatformService::CreateLibrary(const NewLibrary& library) {
  if (auto ok = CheckLibraryId(library.id); !ok) co_return ok.error();
  if (auto ok = CheckText(library.name, "name", kMaxNameBytes); !ok) co_return ok.error();
  if (library.vendor) {
    if (auto ok = CheckText(*library.vendor, "vendor", kMaxNameBytes); !ok) co_return ok.error();
  }
  if (library.repo_url) {
    if (auto ok = CheckUrl(*library.repo_url, "repoUrl"); !ok) co_return ok.error();
  }
  if (library.docs_url) {
    if (auto ok = CheckUrl(*library.docs_url, "docsUrl"); !ok) co_return ok.error();
  }
  if (library.default_version) {
    if (auto ok = CheckText(*library.default_version, "defaultVersion", kMaxNameBytes); !ok) co_return ok.error();
  }
  Insert insert;
  insert.Add("id", json::string(library.id));
  insert.Add("name", json::string(library.name));
  insert.AddIf("vendor", library.vendor);
  insert.AddIf("repoUrl", library.repo_url);
  insert.AddIf("docsUrl", library.docs_url);
  insert.AddIf("defaultVersion", library.default_version);
  insert.AddIf("popularityScore", library.popularity_score);
  if (library.metadata && !library.metadata->is_null()) {
    std::string text = json::serialize(*library.metadata);
    if (text.size() > kMaxMetadataBytes) {
      co_return Invalid("'metadata' must be at most " + std::to_string(kMaxMetadataBytes) + " bytes of JSON");
    }
    insert.Add("metadata", json::string(text));  // the jsonb column parses the text
  }
  const std::string sql = insert.Sql("libraries") + " RETURNING " + kLibraryColumns;
  const SqlStatement statement{sql, &insert.params(), RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) co_return outcome.error();
  auto row = FirstRow(*outcome);
  if (!row) co_return MakeError(ErrorCode::kInternal, "INSERT ... RETURNING gave no row");
  // Every cached search may now miss this library. The pattern also catches entries another
  // service cached under the story's keys without our tag.
  std::vector<std::string> tags{SearchCacheTag()};
  std::vector<std::string> patterns{EscapeGlob(options_.cache_prefix) + "libraries:search:*"};
  co_await DropStale(std::move(tags), std::move(patterns), kWhyNewLibrary);
  spdlog::info("platform: library created {}", library.id);
  co_return std::move(*row);
}

awaitable<Result<json::array>> PlatformService::LoadSearch(const LibrarySearch& search) {
  const json::array params{json::string(search.query), search.limit};
  const SqlStatement statement{kSearchLibrariesSql, &params, RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  if (!outcome) co_return outcome.error();
  auto* rows = outcome->body.if_contains("rows");
  if (rows == nullptr || !rows->is_array()) co_return json::array{};
  co_return std::move(rows->as_array());
}

awaitable<Result<json::array>> PlatformService::SearchLibraries(LibrarySearch search, bool* from_cache) {
  if (auto ok = CheckText(search.query, "q", kMaxSearchQueryBytes); !ok) co_return ok.error();
  if (search.limit < 1 || search.limit > kMaxSearchLimit) {
    co_return Invalid("'limit' must be an integer in 1.." + std::to_string(kMaxSearchLimit));
  }
  auto loader = [this, search]() -> awaitable<Result<json::value>> {
    auto rows = co_await LoadSearch(search);
    if (!rows) co_return rows.error();
    co_return json::value(std::move(*rows));
  };
  std::vector<std::string> tags{SearchCacheTag()};
  auto result =
      co_await cache_.GetOrSet(SearchCacheKey(search.query, search.limit), kSearchCacheTtl, std::move(tags), loader);
  if (!result) co_return result.error();
  if (from_cache != nullptr) *from_cache = result->hit;
  if (!result->value->is_array()) {
    co_return MakeError(ErrorCode::kInternal, "the cached library search entry is not a JSON array");
  }
  co_return result->value->as_array();
}

awaitable<std::optional<json::object>> PlatformService::LogUsage(const NewUsageLog& log) {
  Insert insert;
  insert.AddIf("userId", log.user_id);
  insert.AddIf("apiKeyId", log.api_key_id);
  insert.Add("toolName", json::string(log.tool_name));
  insert.AddIf("libraryId", log.library_id);
  insert.AddIf("query", log.query);
  insert.AddIf("tokensReturned", log.tokens_returned);
  insert.AddIf("responseTimeMs", log.response_time_ms);
  const std::string sql = insert.Sql("usage_logs") + " RETURNING " + kUsageLogColumns;
  const SqlStatement statement{sql, &insert.params(), RowMode::kObject, options_.timeout};
  auto outcome = co_await database_.Run(statement);
  std::optional<json::object> row;
  if (outcome) row = FirstRow(*outcome);
  if (!row) {
    ++stats_.usage_logs_failed;
    spdlog::warn("platform: usage log not stored (tool {}): {} [{} failed so far]", log.tool_name,
                 outcome ? std::string("no row returned") : outcome.error().message, stats_.usage_logs_failed);
    co_return std::nullopt;
  }
  ++stats_.usage_logs_stored;
  co_return row;
}

}  // namespace coredb::platform
