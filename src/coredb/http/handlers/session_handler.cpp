#include "coredb/http/handlers/session_handler.hpp"

#include "coredb/core/rfc3339.hpp"
#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

#include <array>
#include <chrono>

namespace coredb::http {

namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kMaxAcquireTimeoutMs = 300000;     // as a query's timeout
constexpr std::int64_t kMaxTtlMs = 3600000;               // a lease or idle transaction: at most 1 h
constexpr std::int64_t kMaxTransactionMs = 3600000;       // a transaction's whole life: at most 1 h
constexpr std::int64_t kMaxPoolSize = 1000;
constexpr std::int64_t kMinIdleTimeoutMs = 1000;
constexpr std::int64_t kMaxIdleTimeoutMs = 86400000;

constexpr std::array<Database, 3> kDatabases = {Database::kPostgresql, Database::kRedis, Database::kVector};

std::optional<Database> ParseDatabase(std::string_view name, bool allow_redis) {
  if (name == "postgresql") return Database::kPostgresql;
  if (name == "vector") return Database::kVector;
  if (name == "redis" && allow_redis) return Database::kRedis;
  return std::nullopt;
}

boost::json::object LeaseJson(const sessions::LeaseInfo& lease, bool full) {
  boost::json::object o{{"connectionId", lease.connection_id},
                        {"database", DatabaseName(lease.database)},
                        {"acquiredAt", FormatRfc3339(lease.acquired_at)},
                        {"expiresAt", FormatRfc3339(lease.expires_at)}};
  if (full) {
    o["client"] = lease.client;
    o["inTransaction"] = lease.in_transaction;
    if (lease.transaction_id) o["transactionId"] = *lease.transaction_id;
  }
  return o;
}

// {transactionId} of commit and rollback.
Result<std::string> ReadTransactionId(const Request& request) {
  auto body = ParseJsonObject(request);
  if (!body) return body.error();
  FieldReader in(*body);
  in.AllowOnly({"transactionId"});
  auto id = in.String("transactionId", FieldReader::Required::kYes);
  if (in.failed()) return in.error();
  return std::string(*id);
}

}  // namespace

boost::json::object StatsJson(const sessions::DatabaseStats& s) {
  return boost::json::object{{"max", s.max},
                             {"size", s.size},
                             {"active", s.active},
                             {"idle", s.idle},
                             {"leased", s.leased},
                             {"waiting", s.waiting},
                             {"utilization", s.utilization},
                             {"acquiredTotal", s.acquired_total},
                             {"releasedTotal", s.released_total},
                             {"expiredTotal", s.expired_total},
                             {"timeoutsTotal", s.timeouts_total},
                             {"idleTimeout", s.idle_timeout.count()}};
}

namespace {

boost::json::object PoolPointJson(const sessions::PoolPoint& p) {
  return boost::json::object{{"max", p.max},   {"size", p.size},     {"active", p.active},
                             {"idle", p.idle}, {"leased", p.leased}, {"waiting", p.waiting}};
}

}  // namespace

void RegisterSessionRoutes(Router& router, sessions::SessionManager& sessions,
                           const sessions::PoolHistoryRecorder& history) {
  auto* manager = &sessions;
  const auto* recorder = &history;
  using Ctx = RequestContext;
  using boost::asio::awaitable;

  router.Add(beast_http::verb::post, "/api/v1/connections/acquire", Access::kAuthenticated,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"database", "timeout", "ttl"});
               auto name = in.String("database", FieldReader::Required::kYes);
               auto timeout = in.Integer("timeout", 1, kMaxAcquireTimeoutMs);
               auto ttl = in.Integer("ttl", 1, kMaxTtlMs);
               if (in.failed()) co_return ErrorResponse(in.error());
               auto database = ParseDatabase(*name, true);
               if (!database) {
                 co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                               "unknown database '" + std::string(*name) +
                                                   "' (expected postgresql, redis or vector)"));
               }
               auto lease = co_await manager->Acquire(ctx.principal, *database, ctx.Budget(milliseconds(timeout.value_or(5000))),
                                                      milliseconds(ttl.value_or(30000)));
               if (!lease) co_return ErrorResponse(lease.error());
               co_return JsonResponse(200, LeaseJson(*lease, false));
             });

  router.Add(beast_http::verb::post, "/api/v1/connections/release", Access::kAuthenticated,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"connectionId"});
               auto id = in.String("connectionId", FieldReader::Required::kYes);
               if (in.failed()) co_return ErrorResponse(in.error());
               auto released = manager->Release(ctx.principal, *id);
               if (!released) co_return ErrorResponse(released.error());
               co_return JsonResponse(200, boost::json::object{{"released", true}});
             });

  router.Add(beast_http::verb::get, "/api/v1/connections/stats", Access::kAuthenticated,
             [manager](Ctx&) -> awaitable<Response> {
               boost::json::object out;
               for (Database db : kDatabases) out[DatabaseName(db)] = StatsJson(manager->Stats(db));
               co_return JsonResponse(200, out);
             });

  router.Add(beast_http::verb::get, "/api/v1/pools/history", Access::kAuthenticated,
             [recorder](Ctx&) -> awaitable<Response> {
               boost::json::array samples;
               for (const auto& sample : recorder->history().samples()) {
                 boost::json::object o{{"at", FormatRfc3339(sample.at)}};
                 for (std::size_t i = 0; i < sessions::kPoolHistoryDatabases.size(); ++i) {
                   o[DatabaseName(sessions::kPoolHistoryDatabases[i])] = PoolPointJson(sample.pools[i]);
                 }
                 samples.push_back(std::move(o));
               }
               co_return JsonResponse(200, boost::json::object{{"periodMs", recorder->period().count()},
                                                               {"samples", std::move(samples)}});
             });

  router.Add(beast_http::verb::get, "/api/v1/connections", Access::kAdmin,
             [manager](Ctx&) -> awaitable<Response> {
               boost::json::array leases;
               for (const auto& lease : manager->List()) leases.push_back(LeaseJson(lease, true));
               co_return JsonResponse(200, boost::json::object{{"leases", std::move(leases)}});
             });

  router.Add(beast_http::verb::delete_, "/api/v1/connections/{connectionId}", Access::kAdmin,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto ended = manager->End(ctx.PathParam("connectionId"));
               if (!ended) co_return ErrorResponse(ended.error());
               co_return JsonResponse(200, boost::json::object{{"ended", true}, {"lease", LeaseJson(*ended, true)}});
             });

  router.Add(beast_http::verb::patch, "/api/v1/pools/{database}", Access::kAdmin,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto database = ParseDatabase(ctx.PathParam("database"), true);
               if (!database) {
                 co_return ErrorResponse(Error(ErrorCode::kNotFound, "unknown pool '" +
                                                                         std::string(ctx.PathParam("database")) +
                                                                         "' (postgresql, redis or vector)"));
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"size", "idleTimeout"});
               auto size = in.Integer("size", 1, kMaxPoolSize);
               auto idle = in.Integer("idleTimeout", kMinIdleTimeoutMs, kMaxIdleTimeoutMs);
               if (in.failed()) co_return ErrorResponse(in.error());
               if (!size && !idle) {
                 co_return ErrorResponse(Error(ErrorCode::kInvalidRequest, "send 'size' and/or 'idleTimeout'"));
               }
               std::optional<std::size_t> new_size;
               if (size) new_size = static_cast<std::size_t>(*size);
               std::optional<milliseconds> new_idle;
               if (idle) new_idle = milliseconds(*idle);
               manager->ConfigurePool(*database, new_size, new_idle);
               co_return JsonResponse(200, StatsJson(manager->Stats(*database)));
             });

  router.Add(beast_http::verb::post, "/api/v1/transaction/begin", Access::kAuthenticated,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"database", "connectionId", "isolationLevel", "readOnly", "timeout", "maxDuration"});
               auto name = in.String("database");
               auto connection_id = in.String("connectionId");
               auto isolation = in.String("isolationLevel");
               auto read_only = in.Bool("readOnly");
               auto timeout = in.Integer("timeout", 1, kMaxTtlMs);
               auto max_duration = in.Integer("maxDuration", 1, kMaxTransactionMs);
               if (in.failed()) co_return ErrorResponse(in.error());
               sessions::BeginOptions options;
               if (name) {
                 auto database = ParseDatabase(*name, false);
                 if (!database) {
                   co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                                 "transactions run on database postgresql or vector, not '" +
                                                     std::string(*name) + "'"));
                 }
                 options.database = *database;
               }
               if (isolation) {
                 auto level = sessions::ParseIsolationLevel(*isolation);
                 if (!level) {
                   co_return ErrorResponse(Error(ErrorCode::kInvalidRequest,
                                                 "'isolationLevel' must be \"read committed\", \"repeatable read\" "
                                                 "or \"serializable\""));
                 }
                 options.isolation = *level;
               }
               if (connection_id) options.connection_id = std::string(*connection_id);
               options.read_only = read_only.value_or(false);
               if (timeout) options.idle_timeout = milliseconds(*timeout);
               if (max_duration) options.max_duration = milliseconds(*max_duration);
               auto tx = co_await manager->Begin(ctx.principal, std::move(options));
               if (!tx) co_return ErrorResponse(tx.error());
               co_return JsonResponse(200, boost::json::object{{"transactionId", tx->transaction_id},
                                                               {"connectionId", tx->connection_id},
                                                               {"startedAt", FormatRfc3339(tx->started_at)},
                                                               {"expiresAt", FormatRfc3339(tx->expires_at)}});
             });

  router.Add(beast_http::verb::post, "/api/v1/transaction/commit", Access::kAuthenticated,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto id = ReadTransactionId(ctx.request);
               if (!id) co_return ErrorResponse(id.error());
               auto duration = co_await manager->Commit(ctx.principal, *id);
               if (!duration) co_return ErrorResponse(duration.error());
               co_return JsonResponse(200, boost::json::object{{"committed", true}, {"duration", *duration}});
             });

  router.Add(beast_http::verb::post, "/api/v1/transaction/rollback", Access::kAuthenticated,
             [manager](Ctx& ctx) -> awaitable<Response> {
               auto id = ReadTransactionId(ctx.request);
               if (!id) co_return ErrorResponse(id.error());
               auto rolled_back = co_await manager->Rollback(ctx.principal, *id);
               if (!rolled_back) co_return ErrorResponse(rolled_back.error());
               co_return JsonResponse(200, boost::json::object{{"rolledBack", true}});
             });
}

}  // namespace coredb::http
