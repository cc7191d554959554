#include "coredb/http/handlers/query_handler.hpp"

#include "coredb/clients/fingerprint.hpp"
#include "coredb/clients/redis_scope.hpp"

#include "coredb/http/json_body.hpp"
#include "coredb/core/rfc3339.hpp"
#include "coredb/http/response.hpp"
#include "coredb/sagas/saga_service.hpp"

#include "coredb/cache/cache_key.hpp"
#include "coredb/core/json_writer.hpp"
#include "coredb/core/token_auth.hpp"

#include <spdlog/spdlog.h>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>

namespace coredb::http {
namespace {

constexpr std::int64_t kMaxTimeoutMs = 300000;
constexpr std::size_t kMaxParams = 65535;        // the protocol's limit on bind parameters
constexpr std::size_t kMaxRedisArgs = 100000;
constexpr std::size_t kMaxInvalidatePatterns = 64;

double MillisSince(std::chrono::steady_clock::time_point start) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(ns / 1000) / 1000.0;  // microsecond resolution
}

// sql, params and rowMode of a statement (a query request or a batch entry).
struct SqlFields {
  std::string_view sql;
  const boost::json::array* params = nullptr;
  RowMode row_mode = RowMode::kObject;
};

Result<SqlFields> ReadSqlFields(FieldReader& in, const std::string& path) {
  SqlFields f;
  auto sql = in.String("sql", FieldReader::Required::kYes);
  f.params = in.Array("params");
  if (auto mode = in.String("rowMode")) {
    if (*mode == "object") f.row_mode = RowMode::kObject;
    else if (*mode == "array") f.row_mode = RowMode::kArray;
    else in.Fail("'" + path + "rowMode' must be \"object\" or \"array\"");
  }
  if (in.failed()) return in.error();
  if (sql->find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidRequest, "'" + path + "sql' must not be empty");
  }
  // libpq takes C strings: a NUL would silently cut the statement short.
  if (sql->find('\0') != std::string_view::npos) {
    return MakeError(ErrorCode::kInvalidRequest, "'" + path + "sql' must not contain NUL characters");
  }
  if (f.params != nullptr && f.params->size() > kMaxParams) {
    return MakeError(ErrorCode::kInvalidRequest, "'" + path + "params' holds more than " +
                                                     std::to_string(kMaxParams) +
                                                     " values (the PostgreSQL protocol limit)");
  }
  f.sql = *sql;
  return f;
}

std::optional<Database> ReadDatabase(FieldReader& in, bool allow_redis) {
  auto db = in.String("database");
  if (!db) return std::nullopt;
  if (*db == "postgresql") return Database::kPostgresql;
  if (*db == "vector") return Database::kVector;
  if (*db == "redis" && allow_redis) return Database::kRedis;
  in.Fail("unknown database '" + std::string(*db) + (allow_redis ? "' (expected postgresql, vector or redis)"
                                                                  : "' (expected postgresql or vector)"));
  return std::nullopt;
}

// An array of strings (`path` names it in errors); nullopt after in.Fail().
std::optional<std::vector<std::string>> ReadStrings(FieldReader& in, std::string_view name, const std::string& path) {
  const boost::json::array* array = in.Array(name);
  if (array == nullptr) return in.failed() ? std::nullopt : std::optional<std::vector<std::string>>(std::in_place);
  std::vector<std::string> out;
  out.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    if (!(*array)[i].is_string()) {
      in.Fail("'" + path + std::string(name) + "[" + std::to_string(i) + "]' must be a string");
      return std::nullopt;
    }
    out.emplace_back((*array)[i].as_string());
  }
  return out;
}

Result<QueryCache> ReadCache(FieldReader& in) {
  const boost::json::object* object = in.Object("cache");
  if (in.failed()) return in.error();
  FieldReader c(*object, "cache.");
  c.AllowOnly({"ttl", "key", "tags"});
  QueryCache out;
  if (auto ttl = c.Integer("ttl", 1, cache::kMaxTtl.count(), FieldReader::Required::kYes)) {
    out.ttl = std::chrono::seconds(*ttl);
  }
  out.key = c.String("key");
  auto tags = ReadStrings(c, "tags", "cache.");
  if (c.failed()) return c.error();
  if (out.key) {
    if (auto ok = cache::CheckKey(*out.key); !ok) {
      return MakeError(ErrorCode::kInvalidRequest, "'cache.key': " + ok.error().message);
    }
  }
  if (tags->size() > cache::kMaxTags) {
    return MakeError(ErrorCode::kInvalidRequest, "'cache.tags' holds more than " + std::to_string(cache::kMaxTags));
  }
  for (const std::string& tag : *tags) {
    if (auto ok = cache::CheckTag(tag); !ok) {
      return MakeError(ErrorCode::kInvalidRequest, "'cache.tags': " + ok.error().message);
    }
  }
  out.tags = std::move(*tags);
  return out;
}

Result<sessions::PendingInvalidation> ReadInvalidate(FieldReader& in) {
  const boost::json::object* object = in.Object("invalidate");
  if (in.failed()) return in.error();
  FieldReader v(*object, "invalidate.");
  v.AllowOnly({"tags", "keys"});
  auto tags = ReadStrings(v, "tags", "invalidate.");
  auto keys = ReadStrings(v, "keys", "invalidate.");
  if (v.failed()) return v.error();
  if (tags->size() > cache::kMaxTags) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'invalidate.tags' holds more than " + std::to_string(cache::kMaxTags));
  }
  if (keys->size() > kMaxInvalidatePatterns) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'invalidate.keys' holds more than " + std::to_string(kMaxInvalidatePatterns));
  }
  for (const std::string& tag : *tags) {
    if (auto ok = cache::CheckTag(tag); !ok) {
      return MakeError(ErrorCode::kInvalidRequest, "'invalidate.tags': " + ok.error().message);
    }
  }
  for (const std::string& key : *keys) {
    if (auto ok = cache::CheckPattern(key); !ok) {
      return MakeError(ErrorCode::kInvalidRequest, "'invalidate.keys': " + ok.error().message);
    }
  }
  sessions::PendingInvalidation out;
  out.tags = std::move(*tags);
  out.patterns = std::move(*keys);
  return out;
}

}  // namespace

Result<QueryRequest> ParseQueryRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout) {
  FieldReader in(body);
  in.AllowOnly({"sql", "params", "connectionId", "transactionId", "database", "timeout", "rowMode", "cache",
                "invalidate", "command"});
  QueryRequest q;
  q.timeout = default_timeout;
  if (auto db = ReadDatabase(in, true)) {
    q.database = *db;
    q.database_given = true;
  }
  if (auto t = in.Integer("timeout", 1, kMaxTimeoutMs)) q.timeout = std::chrono::milliseconds(*t);
  q.connection_id = in.String("connectionId");
  q.transaction_id = in.String("transactionId");
  if (in.failed()) return in.error();

  if (q.database == Database::kRedis) {
    for (const char* member : {"sql", "params", "rowMode", "cache", "invalidate", "transactionId"}) {
      if (in.Has(member)) {
        return MakeError(ErrorCode::kInvalidRequest,
                         std::string("'") + member + "' does not apply to database redis (send 'command'" +
                             (std::string_view(member) == "transactionId" ? "; lease a redis connection for MULTI/EXEC)"
                                                                          : ")"));
      }
    }
    const boost::json::array* command = in.Array("command", FieldReader::Required::kYes);
    if (in.failed()) return in.error();
    if (command->empty() || command->size() > kMaxRedisArgs) {
      return MakeError(ErrorCode::kInvalidRequest, "'command' must hold 1.." + std::to_string(kMaxRedisArgs) +
                                                       " strings, the command name first");
    }
    q.command.reserve(command->size());
    for (std::size_t i = 0; i < command->size(); ++i) {
      const auto& arg = (*command)[i];
      if (!arg.is_string()) {
        return MakeError(ErrorCode::kInvalidRequest, "'command[" + std::to_string(i) + "]' must be a string");
      }
      q.command.emplace_back(arg.as_string());
    }
    return q;
  }

  if (in.Has("command")) {
    return MakeError(ErrorCode::kInvalidRequest, "'command' only applies to database redis (send 'sql')");
  }
  auto fields = ReadSqlFields(in, "");
  if (!fields) return fields.error();
  q.sql = fields->sql;
  q.params = fields->params;
  q.row_mode = fields->row_mode;
  if (in.Has("cache")) {
    auto cache = ReadCache(in);
    if (!cache) return cache.error();
    q.cache = std::move(*cache);
  }
  if (in.Has("invalidate")) {
    auto invalidate = ReadInvalidate(in);
    if (!invalidate) return invalidate.error();
    q.invalidate = std::move(*invalidate);
  }
  if (q.cache && q.invalidate) {
    return MakeError(
        ErrorCode::kInvalidRequest,
        "'cache' and 'invalidate' exclude each other: a cached statement is a read, it makes nothing stale");
  }
  if (q.cache && (q.connection_id || q.transaction_id)) {
    // A lease or a transaction sees its own uncommitted state (and a lease its session state):
    // caching what it reads could serve that state to everybody else.
    return MakeError(ErrorCode::kInvalidRequest,
                     "'cache' does not apply to statements on a lease or in a transaction (send it without "
                     "connectionId/transactionId)");
  }
  return q;
}

std::string DefaultCacheKey(const QueryRequest& q, std::string_view pg_role) {
  boost::json::array identity;
  identity.emplace_back(DatabaseName(q.database));
  identity.emplace_back(boost::json::string_view(q.sql.data(), q.sql.size()));
  identity.emplace_back(q.params != nullptr ? boost::json::value(*q.params) : boost::json::value(boost::json::array()));
  identity.emplace_back(q.row_mode == RowMode::kArray ? "array" : "object");
  // Clients with different PostgreSQL roles may see different rows: they never share a result.
  if (!pg_role.empty()) identity.emplace_back(boost::json::string_view(pg_role.data(), pg_role.size()));
  const std::string text = boost::json::serialize(identity);
  const TokenDigest digest = Sha256(text);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "q:";
  for (unsigned char b : digest) {
    key += kHex[b >> 4];
    key += kHex[b & 15];
  }
  return key;
}

Result<BatchRequest> ParseBatchRequest(const boost::json::object& body, std::chrono::milliseconds default_timeout) {
  FieldReader in(body);
  in.AllowOnly({"queries", "atomic", "connectionId", "transactionId", "database", "timeout"});
  BatchRequest b;
  b.timeout = default_timeout;
  if (auto db = ReadDatabase(in, false)) {
    b.database = *db;
    b.database_given = true;
  }
  if (auto t = in.Integer("timeout", 1, kMaxTimeoutMs)) b.timeout = std::chrono::milliseconds(*t);
  if (auto atomic = in.Bool("atomic")) b.atomic = *atomic;
  b.connection_id = in.String("connectionId");
  b.transaction_id = in.String("transactionId");
  const boost::json::array* queries = in.Array("queries", FieldReader::Required::kYes);
  if (in.failed()) return in.error();
  if (queries->empty() || queries->size() > kMaxBatchStatements) {
    return MakeError(ErrorCode::kInvalidRequest, "'queries' must hold 1.." + std::to_string(kMaxBatchStatements) +
                                                     " statements (it holds " + std::to_string(queries->size()) +
                                                     ")");
  }
  b.statements.reserve(queries->size());
  for (std::size_t i = 0; i < queries->size(); ++i) {
    const std::string path = "queries[" + std::to_string(i) + "].";
    const auto& entry = (*queries)[i];
    if (!entry.is_object()) {
      return MakeError(ErrorCode::kInvalidRequest, "'queries[" + std::to_string(i) + "]' must be an object");
    }
    FieldReader e(entry.as_object(), path);
    e.AllowOnly({"sql", "params", "rowMode"});
    auto fields = ReadSqlFields(e, path);
    if (!fields) {
      Error error = fields.error();
      error.failed_index = i;
      return error;
    }
    b.statements.push_back(SqlStatement{fields->sql, fields->params, fields->row_mode, b.timeout});
  }
  return b;
}

namespace {

// A result given as text (SqlStatement::text_result): `{...}` with the duration added last, as
// the object path adds it.
Response TextResultResponse(SqlOutcome outcome) {
  Response r;
  r.status = 200;
  r.body = std::move(outcome.text);
  r.body.pop_back();  // the closing brace
  r.body += ",\"duration\":";
  AppendJson(r.body, boost::json::value(outcome.duration_ms));
  r.body += '}';
  return r;
}

boost::json::object WithLease(boost::json::object body, const sessions::LeaseInfo& lease) {
  if (!lease.connection_id.empty()) body["expiresAt"] = FormatRfc3339(lease.expires_at);
  return body;
}

// A query with `cache`: served from the cache, or run read-only (PgBackend::RunReadOnly) and
// stored, with single-flight (CacheManager::GetOrSet). Redis trouble only costs the caching.
boost::asio::awaitable<Response> CachedQuery(const QueryDependencies& deps, const QueryRequest& q,
                                             const Principal& principal) {
  const auto started = std::chrono::steady_clock::now();
  pg::PgBackend& backend = q.database == Database::kVector ? deps.vector : deps.postgres;
  const SqlStatement statement{q.sql, q.params, q.row_mode, q.timeout, CallerScope(principal)};
  std::string key = q.cache->key ? std::string(*q.cache->key) : DefaultCacheKey(q, principal.pg_role);
  double load_ms = -1;  // set when this request ran the statement itself
  cache::CacheManager::Loader loader = [&backend, &statement,
                                        &load_ms]() -> boost::asio::awaitable<Result<boost::json::value>> {
    auto outcome = co_await backend.RunReadOnly(statement);
    if (!outcome) co_return outcome.error();
    load_ms = outcome->duration_ms;
    co_return boost::json::value(std::move(outcome->body));
  };
  auto got = co_await deps.cache.GetOrSet(key, q.cache->ttl, q.cache->tags, std::move(loader));
  if (!got) co_return ErrorResponse(got.error());
  if (!got->value->is_object()) {
    // An explicit key holding something else (written through /api/v1/cache): not an answer.
    spdlog::warn("cache: key '{}' holds a value that is not a query result; the query ran uncached", key);
    auto outcome = co_await backend.RunReadOnly(statement);
    if (!outcome) co_return ErrorResponse(outcome.error());
    outcome->body["duration"] = outcome->duration_ms;
    co_return JsonResponse(200, std::move(outcome->body));
  }
  boost::json::object body = got->value->as_object();
  if (got->hit) body["cached"] = true;
  // A hit's duration is the cache lookup's; a caller that joined another's load reports its wait.
  body["duration"] = load_ms >= 0 ? load_ms : MillisSince(started);
  co_return JsonResponse(200, std::move(body));
}

// Who may use `cache` / `invalidate`: an explicit key under the client's cachePrefixes; patterns
// as for POST /api/v1/cache/invalidate; invalidating needs the write scope.
Result<void> CheckCacheAccess(const Principal& principal, const QueryRequest& q) {
  if (q.cache && q.cache->key) {
    if (auto ok = cache::CheckKeyAccess(principal, *q.cache->key); !ok) return ok;
  }
  if (q.cache) {
    for (const std::string& tag : q.cache->tags) {
      if (auto ok = cache::CheckTagAccess(principal, tag); !ok) return ok;
    }
  }
  if (q.invalidate) {
    if (!principal.Allows(Scope::kWrite)) {
      return MakeError(ErrorCode::kForbidden, "'invalidate' needs the 'write' scope");
    }
    for (const std::string& pattern : q.invalidate->patterns) {
      if (auto ok = cache::CheckPatternAccess(principal, pattern); !ok) return ok;
    }
    for (const std::string& tag : q.invalidate->tags) {
      if (auto ok = cache::CheckTagAccess(principal, tag); !ok) return ok;
    }
  }
  return {};
}

// `Accept: application/x-ndjson` (alone or in a list): the caller asks for a streamed result.
bool WantsNdjson(const Request& request) {
  auto it = request.find(beast_http::field::accept);
  if (it == request.end()) return false;
  std::string accept(it->value());
  std::transform(accept.begin(), accept.end(), accept.begin(), [](unsigned char c) { return std::tolower(c); });
  return accept.find("application/x-ndjson") != std::string::npos;
}

// A streamed (NDJSON) result: `{"fields":[...]}`, one line per row, then
// `{"rowCount":N,"command":"SELECT","duration":ms}` — or, after the first byte, an
// `{"error":{...}}` line. Rows are buffered up to kChunk and then written as one chunk while the
// statement waits (pg::RowSink::Flush): memory stays at a chunk whatever the result's size, and a
// slow reader slows the statement. Nothing is sent before the first chunk is full, so an error
// before that (or a result smaller than a chunk) is an ordinary answer with its status code.
class NdjsonSink final : public RowStream {
 public:
  static constexpr std::size_t kChunk = 64 * 1024;

  NdjsonSink(ResponseStream& out, std::uint64_t max_bytes) : out_(out), max_bytes_(max_bytes) {}

  void OnFields(std::string_view fields_json) override {
    buffer_ += "{\"fields\":";
    buffer_ += fields_json;
    buffer_ += "}\n";
    fields_sent_ = true;
  }
  bool OnRow(std::string_view row_json) override {
    bytes_ += row_json.size() + 1;
    if (max_bytes_ > 0 && bytes_ > max_bytes_) {
      limit_hit_ = true;
      return false;
    }
    buffer_ += row_json;
    buffer_ += '\n';
    ++rows_;
    return true;
  }
  bool WantsFlush() const override { return buffer_.size() >= kChunk && !limit_hit_; }
  boost::asio::awaitable<bool> Flush(std::chrono::steady_clock::time_point deadline) override {
    if (!out_.begun()) {
      const bool begun = co_await out_.Begin(200, "application/x-ndjson");
      if (!begun) co_return false;
    }
    const bool written = co_await out_.Write(buffer_, deadline);
    buffer_.clear();
    co_return written;
  }

  // The answer once the statement is over: the rest of the stream and its last line, or (nothing
  // sent yet) an ordinary error answer.
  boost::asio::awaitable<Response> Finish(Result<SqlOutcome> outcome, const sessions::LeaseInfo& lease) {
    std::optional<Error> error;
    if (limit_hit_) {
      error.emplace(ErrorCode::kPayloadTooLarge, "streamed result exceeds MAX_STREAM_BYTES (" +
                                                     std::to_string(max_bytes_) +
                                                     " bytes); reading stopped and the statement was cancelled");
    } else if (!outcome) {
      error.emplace(outcome.error());
    }
    Response r;
    if (out_.failed()) co_return r;  // the reader is gone: nobody reads an answer (logged 499)
    if (error && !out_.begun()) co_return ErrorResponse(*error);
    std::string last;
    if (error) {
      last = ErrorLine(*error);
      r.error_code = ErrorCodeName(error->code);
    } else {
      const boost::json::object& body = outcome->body;
      if (!fields_sent_) {
        const auto* fields = body.if_contains("fields");
        buffer_ += "{\"fields\":";
        buffer_ += fields != nullptr ? boost::json::serialize(*fields) : std::string("[]");
        buffer_ += "}\n";
      }
      boost::json::object end;
      const auto* count = body.if_contains("rowCount");
      if (rows_ > 0 || count == nullptr) {
        end["rowCount"] = rows_;
      } else {
        end["rowCount"] = *count;
      }
      const auto* command = body.if_contains("command");
      end["command"] = command != nullptr ? *command : boost::json::value(nullptr);
      end["duration"] = outcome->duration_ms;
      if (!lease.connection_id.empty()) end["expiresAt"] = FormatRfc3339(lease.expires_at);
      last = ToJson(end);
      last += '\n';
    }
    buffer_ += last;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    if (!out_.begun() && !(co_await out_.Begin(200, "application/x-ndjson"))) co_return r;
    if (!(co_await out_.Write(buffer_, deadline))) co_return r;
    co_await out_.End();
    co_return r;
  }

 private:
  ResponseStream& out_;
  std::uint64_t max_bytes_;
  std::string buffer_;
  std::uint64_t bytes_ = 0;
  std::int64_t rows_ = 0;
  bool fields_sent_ = false;
  bool limit_hit_ = false;
};

}  // namespace

// A single SQL write with an Idempotency-Key: run once per key (sagas/idempotency.hpp).
boost::asio::awaitable<Response> RunIdempotent(const QueryDependencies& deps, RequestContext& ctx,
                                               const QueryRequest& q, const SqlStatement& statement,
                                               std::string key) {
  const bool printable = std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (key.empty() || key.size() > 255 || !printable) {
    co_return ErrorResponse(Error(ErrorCode::kInvalidRequest, "Idempotency-Key must be 1..255 visible ASCII characters"));
  }
  if (q.cache) {
    co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                  "Idempotency-Key is for writes and 'cache' for reads: they cannot be combined"));
  }
  if (!ctx.principal.Allows(Scope::kWrite)) {
    co_return ErrorResponse(Error(ErrorCode::kForbidden, "Idempotency-Key applies to writes: it needs the 'write' scope"));
  }
  if (auto ok = CheckCacheAccess(ctx.principal, q); !ok) co_return ErrorResponse(ok.error());
  if (q.connection_id || q.transaction_id || q.database != Database::kPostgresql || deps.idempotency == nullptr) {
    co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                  "Idempotency-Key applies to a single postgresql statement outside leases and "
                                  "transactions"));
  }
  auto outcome = co_await deps.idempotency->Run(ctx.principal, std::move(key), sagas::RequestHash(ctx.request.body()),
                                                statement);
  if (!outcome) co_return ErrorResponse(outcome.error());
  if (q.invalidate) {
    // A replay invalidates again: the first call may have committed and then lost its
    // invalidation (crash, Redis down); invalidating twice is harmless.
    auto invalidated = co_await deps.cache.Invalidate(q.invalidate->tags, q.invalidate->patterns);
    if (!invalidated) spdlog::warn("cache: invalidation after a write failed: {}", invalidated.error().message);
  }
  Response r = JsonResponse(200, outcome->body);
  if (outcome->replayed) r.headers.emplace_back("Idempotent-Replayed", "true");
  co_return r;
}

void RegisterQueryRoutes(Router& router, QueryDependencies deps) {
  router.Add(beast_http::verb::post, "/api/v1/query", Access::kAuthenticated,
             [deps](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto q = ParseQueryRequest(*body, deps.default_timeout);
               if (!q) co_return ErrorResponse(q.error());
               q->timeout = ctx.Budget(q->timeout);  // X-Request-Timeout: the smaller wins
               ctx.audit_statement = q->database == Database::kRedis
                                         ? clients::RedisFingerprint(q->command.empty() ? "" : q->command.front())
                                         : clients::SqlFingerprint(q->sql);
               const bool stream = WantsNdjson(ctx.request);
               if (stream && (q->database == Database::kRedis || q->cache ||
                              ctx.request.find("Idempotency-Key") != ctx.request.end())) {
                 co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                               "a streamed result (Accept: application/x-ndjson) is for SQL "
                                               "statements without 'cache' or Idempotency-Key"));
               }
               if (auto key = ctx.request.find("Idempotency-Key"); key != ctx.request.end()) {
                 const SqlStatement write{q->sql, q->params, q->row_mode, q->timeout, CallerScope(ctx.principal)};
                 auto replied = co_await RunIdempotent(deps, ctx, *q, write, std::string(key->value()));
                 co_return replied;
               }
               const bool on_lease = q->connection_id || q->transaction_id;
               if (q->database == Database::kRedis) {
                 if (auto ok = clients::CheckRedisCommandScope(ctx.principal, q->command); !ok) {
                   co_return ErrorResponse(ok.error());
                 }
                 auto started = std::chrono::steady_clock::now();
                 sessions::LeaseInfo lease;
                 Result<boost::json::value> reply = Error();
                 if (on_lease) {
                   reply = co_await deps.sessions.RedisCommand(ctx.principal, *q->connection_id,
                                                               std::move(q->command), q->timeout, lease);
                 } else {
                   reply = co_await deps.redis.Command(std::move(q->command), q->timeout);
                 }
                 if (!reply) co_return ErrorResponse(reply.error());
                 co_return JsonResponse(
                     200, WithLease(boost::json::object{{"result", std::move(*reply)}, {"duration", MillisSince(started)}},
                                    lease));
               }
               if (auto ok = CheckCacheAccess(ctx.principal, *q); !ok) co_return ErrorResponse(ok.error());
               if (q->cache) {
                 Response cached = co_await CachedQuery(deps, *q, ctx.principal);
                 co_return cached;
               }
               // PostgreSQL enforces the caller's scope (read-only, role) on every path below.
               SqlStatement statement{q->sql, q->params, q->row_mode, q->timeout, CallerScope(ctx.principal)};
               std::optional<NdjsonSink> sink;
               if (stream) {
                 sink.emplace(*ctx.stream, deps.max_stream_bytes);
                 statement.stream = &*sink;
               }
               sessions::LeaseInfo lease;
               Result<SqlOutcome> outcome = Error();
               if (on_lease) {
                 sessions::Target target{q->connection_id, q->transaction_id, std::nullopt};
                 if (q->database_given) target.database = q->database;
                 // Invalidation (now, or queued until the transaction commits) is SessionManager's.
                 outcome = co_await deps.sessions.Query(ctx.principal, target, statement, lease,
                                                        q->invalidate.value_or(sessions::PendingInvalidation{}));
               } else {
                 SqlBackend& backend = q->database == Database::kVector ? deps.vector : deps.postgres;
                 statement.text_result = !stream;  // the answer is the result: no JSON values needed
                 outcome = co_await backend.Run(statement);
                 if (outcome && q->invalidate) {
                   // Before the answer, so an entry this write made stale is never served after it
                   // returned. A Redis failure does not fail the write: CacheManager remembers the
                   // invalidation and bypasses the cache until it is replayed.
                   auto invalidated = co_await deps.cache.Invalidate(std::move(q->invalidate->tags),
                                                                     std::move(q->invalidate->patterns));
                   if (!invalidated) {
                     spdlog::warn("cache: invalidation after a write failed: {}", invalidated.error().message);
                   }
                 }
               }
               if (sink) {
                 Response streamed = co_await sink->Finish(std::move(outcome), lease);
                 co_return streamed;
               }
               if (!outcome) co_return ErrorResponse(outcome.error());
               if (!outcome->text.empty()) co_return TextResultResponse(std::move(*outcome));
               outcome->body["duration"] = outcome->duration_ms;
               co_return JsonResponse(200, WithLease(std::move(outcome->body), lease));
             });

  router.Add(beast_http::verb::post, "/api/v1/query/batch", Access::kAuthenticated,
             [deps](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto b = ParseBatchRequest(*body, deps.default_timeout);
               if (!b) co_return ErrorResponse(b.error());
               b->timeout = ctx.Budget(b->timeout);  // X-Request-Timeout: the smaller wins
               for (SqlStatement& statement : b->statements) statement.timeout = b->timeout;
               for (SqlStatement& statement : b->statements) statement.scope = CallerScope(ctx.principal);
               {
                 std::vector<std::string_view> sqls;
                 for (const auto& st : b->statements) sqls.push_back(st.sql);
                 ctx.audit_statement = clients::BatchFingerprint(sqls);
               }
               auto started = std::chrono::steady_clock::now();
               sessions::LeaseInfo lease;
               const bool in_transaction = b->transaction_id.has_value();
               Result<std::vector<Result<SqlOutcome>>> outcome = Error();
               if (b->connection_id || b->transaction_id) {
                 sessions::Target target{b->connection_id, b->transaction_id, std::nullopt};
                 if (b->database_given) target.database = b->database;
                 outcome = co_await deps.sessions.Batch(ctx.principal, target, b->statements, b->atomic, b->timeout,
                                                        lease);
               } else {
                 SqlBackend& backend = b->database == Database::kVector ? deps.vector : deps.postgres;
                 outcome = co_await backend.RunBatch(b->statements, b->atomic, b->timeout);
               }
               if (!outcome) co_return ErrorResponse(outcome.error());
               // In a transaction a batch is all or nothing whatever `atomic` says (API.md).
               const bool all_or_nothing = b->atomic || in_transaction;
               const bool undone = !in_transaction && !lease.in_transaction;
               boost::json::array results;
               results.reserve(outcome->size());
               for (std::size_t i = 0; i < outcome->size(); ++i) {
                 auto& item = (*outcome)[i];
                 if (!item) {
                   if (all_or_nothing) {
                     // All or nothing: the failing statement's error, with its index.
                     Error error = item.error();
                     error.failed_index = i;
                     error.message = "queries[" + std::to_string(i) + "]: " + error.message +
                                     (undone ? " (nothing of the batch was kept)" : "");
                     co_return ErrorResponse(error);
                   }
                   results.push_back(boost::json::object{{"error", ErrorJson(item.error())}});
                   continue;
                 }
                 item->body["duration"] = item->duration_ms;
                 results.push_back(std::move(item->body));
               }
               co_return JsonResponse(200, WithLease(boost::json::object{{"results", std::move(results)},
                                                                         {"duration", MillisSince(started)}},
                                                     lease));
             });
}

}  // namespace coredb::http
