#include "coredb/app/application.hpp"

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/adapters/postgres/pg_pool.hpp"
#include "coredb/adapters/redis/redis_backend.hpp"
#include "coredb/adapters/redis/redis_cache_store.hpp"
#include "coredb/adapters/redis/redis_client.hpp"
#include "coredb/adapters/redis/redis_pool.hpp"
#include "coredb/cache/cache_manager.hpp"
#include "coredb/clients/client_registry.hpp"
#include "coredb/clients/client_store.hpp"
#include "coredb/clients/quota.hpp"
#include "coredb/http/handlers/cache_handler.hpp"
#include "coredb/http/handlers/clients_handler.hpp"
#include "coredb/http/handlers/health_handler.hpp"
#include "coredb/http/handlers/metrics_handler.hpp"
#include "coredb/http/handlers/migrations_handler.hpp"
#include "coredb/http/handlers/console_handler.hpp"
#include "coredb/http/handlers/openapi_handler.hpp"
#include "coredb/http/handlers/platform_handler.hpp"
#include "coredb/http/handlers/query_handler.hpp"
#include "coredb/http/handlers/saga_handler.hpp"
#include "coredb/http/handlers/session_handler.hpp"
#include "coredb/http/handlers/vector_handler.hpp"
#include "coredb/http/router.hpp"
#include "coredb/http/server.hpp"
#include "coredb/migrations/pg_migrator.hpp"
#include "coredb/observability/health.hpp"
#include "coredb/observability/logging.hpp"
#include "coredb/observability/metrics.hpp"
#include "coredb/platform/platform_service.hpp"
#include "coredb/sagas/idempotency.hpp"
#include "coredb/sagas/saga_service.hpp"
#include "coredb/sessions/pool_history.hpp"
#include "coredb/sessions/session_manager.hpp"
#include "coredb/vectors/vector_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include <sys/resource.h>

namespace coredb::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kRedisStartupWait{2000};
// The pool history of GET /api/v1/pools/history: one sample per period, the last ten minutes.
constexpr std::chrono::milliseconds kPoolHistoryPeriod{5000};
constexpr std::size_t kPoolHistorySamples = 120;

// How often the client table is reloaded from PostgreSQL (changes made by other instances or
// the CLI), and the bound on one reload.
constexpr std::chrono::milliseconds kClientsReloadInterval{5000};
constexpr std::chrono::milliseconds kClientsLoadTimeout{2000};

// Bearer tokens → clients (in memory, no I/O), then the client's quotas.
class ClientAuthenticator final : public http::Authenticator {
 public:
  explicit ClientAuthenticator(clients::ClientRegistry& registry) : registry_(registry) {}
  asio::awaitable<Result<Principal>> Authenticate(std::string_view header) override {
    co_return registry_.Authenticate(header);
  }
  asio::awaitable<Result<void>> Admit(const Principal& principal) override {
    auto admitted = co_await registry_.Admit(principal);
    co_return admitted;
  }

 private:
  clients::ClientRegistry& registry_;
};

// libpq's words for a connection refused because of its settings rather than an outage.
bool IsSettingsRefusal(std::string_view message) {
  for (std::string_view needle : {"SSL", "certificate", "authentication failed", "sslmode", "does not exist"}) {
    if (message.find(needle) != std::string_view::npos) return true;
  }
  return false;
}

pg::PoolOptions MakePoolOptions(const std::string& name, const config::PostgresConfig& pg,
                                const config::Config& cfg, std::size_t size) {
  pg::PoolOptions options;
  options.name = name;
  options.connection.conninfo = pg.conninfo;
  options.connection.connect_timeout = pg.connect_timeout;
  options.connection.default_statement_timeout = cfg.default_query_timeout;
  options.max_size = size;
  options.idle_timeout = pg.idle_timeout;
  // Named prepared statements on the PostgreSQL pools only: the dev stack's pgvector server
  // (PGlite) shares one session between connections, where names of two connections collide.
  if (&pg == &cfg.vector) options.connection.prepared_statements = 0;
  return options;
}

// The client table's own two connections, named so they are told apart in pg_stat_activity.
pg::PoolOptions ClientsPoolOptions(const config::Config& cfg) {
  pg::PoolOptions options = MakePoolOptions("clients", cfg.postgres, cfg, 2);
  options.connection.application_name = "coredb-clients";
  return options;
}

migrations::MigratorOptions MakeMigratorOptions(const config::Config& cfg) {
  migrations::MigratorOptions options;
  options.connection.conninfo = cfg.postgres.conninfo;
  options.connection.connect_timeout = cfg.postgres.connect_timeout;
  return options;
}

redis::RedisOptions MakeRedisOptions(const config::RedisConfig& r, int db, const std::string& name) {
  redis::RedisOptions options;
  options.host = r.host;
  options.port = r.port;
  options.username = r.username;
  options.password = r.password;
  options.db = db;
  options.command_timeout = r.command_timeout;
  // Retry at least once a second: the cache is back within a few seconds of Redis.
  options.reconnect_max = std::chrono::milliseconds(1000);
  options.name = name;
  return options;
}

redis::RedisPoolOptions MakeRedisPoolOptions(const config::RedisConfig& r) {
  redis::RedisPoolOptions options;
  options.connection = MakeRedisOptions(r, r.db, "lease");
  options.max_size = r.pool_size;
  options.idle_timeout = r.idle_timeout;
  return options;
}

// COREDB_INSTANCE_ID, or 8 random hex digits: lease ids name the instance that owns them.
std::string InstanceId(const config::Config& cfg) {
  if (!cfg.instance_id.empty()) return cfg.instance_id;
  unsigned char bytes[4] = {};
  // Ids must not collide across instances: a failed CSPRNG stops the start instead.
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("the system's random number generator failed (RAND_bytes)");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

sagas::SagaOptions MakeSagaOptions(const config::Config& cfg) {
  sagas::SagaOptions options;
  options.compensation_attempts = cfg.saga_compensation_attempts;
  options.default_step_timeout = cfg.default_query_timeout;
  options.instance_id = cfg.instance_id;
  return options;
}

CircuitBreakerOptions MakeBreakerOptions(const std::string& name, const config::BreakerConfig& b) {
  CircuitBreakerOptions options;
  options.name = name;
  options.call_timeout = b.timeout;
  options.error_threshold_percent = b.error_threshold_percent;
  options.volume_threshold = b.volume_threshold;
  options.rolling_window = b.rolling_window;
  options.rolling_buckets = b.rolling_buckets;
  options.reset_timeout = b.reset_timeout;
  return options;
}

cache::CacheManagerOptions MakeCacheOptions(const config::Config& cfg) {
  cache::CacheManagerOptions options;
  options.command_timeout = cfg.redis.command_timeout;
  options.breaker = MakeBreakerOptions("redis", cfg.breaker_redis);
  return options;
}

observability::PoolSnapshot PoolSnapshotOf(const char* name, const sessions::DatabaseStats& s) {
  observability::PoolSnapshot p;
  p.database = name;
  p.max = s.max;
  p.size = s.size;
  p.active = s.active;
  p.idle = s.idle;
  p.leased = s.leased;
  p.waiting = s.waiting;
  p.utilization = s.utilization;
  p.expired_total = s.expired_total;
  p.timeouts_total = s.timeouts_total;
  return p;
}

// Everything the running service owns, in construction order (destroyed in reverse).
struct Service {
  explicit Service(const config::Config& cfg, std::vector<migrations::Migration> migration_set = {})
      : config(cfg),
        metrics(COREDB_VERSION),
        pg_breaker(MakeBreakerOptions("postgresql", cfg.breaker_postgresql)),
        vector_breaker(MakeBreakerOptions("vector", cfg.breaker_vector)),
        pg_pool(ioc.get_executor(), MakePoolOptions("postgresql", cfg.postgres, cfg, cfg.postgres.pool_size),
                cancel_worker),
        vector_pool(ioc.get_executor(), MakePoolOptions("vector", cfg.vector, cfg, cfg.vector.pool_size),
                    vector_cancel_worker),
        // Probes have their own connection, so an exhausted pool never reads as a dead database.
        pg_probe_pool(ioc.get_executor(), MakePoolOptions("postgresql-health", cfg.postgres, cfg, 1), cancel_worker),
        vector_probe_pool(ioc.get_executor(), MakePoolOptions("vector-health", cfg.vector, cfg, 1),
                          vector_cancel_worker),
        // The saga log and locks: one connection per saga running on this instance.
        saga_pool(ioc.get_executor(), MakePoolOptions("sagas", cfg.postgres, cfg, cfg.saga_concurrency), cancel_worker),
        // The client table: its own small pool, so a busy main pool never delays a reload.
        clients_pool(ioc.get_executor(), ClientsPoolOptions(cfg), cancel_worker),
        redis_client(ioc.get_executor(), MakeRedisOptions(cfg.redis, cfg.redis.db, "cache")),
        redis_pool(ioc.get_executor(), MakeRedisPoolOptions(cfg.redis)),
        redis_sessions(ioc.get_executor(), MakeRedisOptions(cfg.redis, cfg.redis.session_db, "sessions")),
        pg_backend(pg_pool, cfg.max_result_bytes),
        vector_backend(vector_pool, cfg.max_result_bytes),
        pg_probe(pg_probe_pool, cfg.max_result_bytes),
        vector_probe(vector_probe_pool, cfg.max_result_bytes),
        saga_log(saga_pool, cfg.max_result_bytes),
        clients_sql(clients_pool, cfg.max_result_bytes),
        redis_backend(redis_client),
        vector_store(vector_backend, cfg.default_query_timeout),
        sessions(ioc.get_executor(), sessions::SessionOptions{InstanceId(cfg)}, pg_backend, vector_backend,
                 redis_pool),
        // The console's pool charts: a sample every 5 s, ten minutes kept.
        pool_history(ioc.get_executor(), kPoolHistoryPeriod, kPoolHistorySamples,
                     [this] {
                       sessions::PoolSample sample{.at = std::chrono::system_clock::now(), .pools = {}};
                       for (std::size_t i = 0; i < sessions::kPoolHistoryDatabases.size(); ++i) {
                         sample.pools[i] = sessions::PointOf(sessions.Stats(sessions::kPoolHistoryDatabases[i]));
                       }
                       return sample;
                     }),
        session_backend(redis_sessions),
        cache_store(redis_client),
        cache(ioc.get_executor(), cache_store, MakeCacheOptions(cfg)),
        sagas(ioc.get_executor(), MakeSagaOptions(cfg), saga_log, pg_backend, vector_backend, redis_backend),
        idempotency(pg_backend),
        platform(pg_backend, cache, platform::PlatformOptions{cfg.platform_cache_prefix, cfg.default_query_timeout}),
        migrator(ioc.get_executor(), cancel_worker, std::move(migration_set), MakeMigratorOptions(cfg)),
        client_store(clients_sql, kClientsLoadTimeout),
        quotas(redis_backend, MakeCacheOptions(cfg).breaker, cfg.redis.command_timeout),
        client_registry(ioc.get_executor(), client_store, quotas, cfg.admin_token, kClientsReloadInterval),
        authenticator(client_registry),
        health(ioc.get_executor(),
               {{"database", [this](std::chrono::milliseconds t) { return pg_probe.Ping(t); }},
                {"redis", [this](std::chrono::milliseconds t) { return PingRedis(t); }},
                {"vector", [this](std::chrono::milliseconds t) { return vector_probe.Ping(t); }}}),
        server(ioc, cfg.http, router, authenticator, [this](const http::CompletedRequest& r) {
          metrics.ObserveRequest(r.route, r.method, r.status, r.error_code, r.duration);
          LogRequest(r);
        }) {
    vector_backend.EnableVectorParams();
    // Statements of the API (queries, leases, transactions, sagas' steps, platform data) pass the
    // backend's breaker; the health probes and the saga log have pools of their own without one.
    pg_backend.SetBreaker(&pg_breaker);
    vector_backend.SetBreaker(&vector_breaker);
    pg_backend.SetObserver(
        [this](double seconds, const Error* error) { metrics.ObserveQuery(Database::kPostgresql, seconds, error); });
    vector_backend.SetObserver(
        [this](double seconds, const Error* error) { metrics.ObserveQuery(Database::kVector, seconds, error); });
    http::RegisterHealthRoutes(router, health);
    http::RegisterOpenApiRoutes(router);
    http::RegisterConsoleRoutes(router);
    http::RegisterMetricsRoutes(router, {metrics, [this] { return MetricsSnapshot(); }, authenticator, cfg.metrics_token});
    http::RegisterQueryRoutes(router,
                              {pg_backend, vector_backend, redis_backend, sessions, cache, cfg.default_query_timeout, &idempotency,
                               cfg.max_stream_bytes});
    // `invalidate` of statements in a transaction, applied after its COMMIT (SessionManager).
    sessions.SetInvalidator([this](sessions::PendingInvalidation what) -> boost::asio::awaitable<void> {
      auto done = co_await cache.Invalidate(std::move(what.tags), std::move(what.patterns));
      if (!done) spdlog::warn("cache: invalidation after a commit failed: {}", done.error().message);
    });
    http::RegisterSessionRoutes(router, sessions, pool_history);
    http::RegisterCacheRoutes(router, cache);
    http::RegisterMigrationRoutes(router, migrator);
    http::RegisterSagaRoutes(router, sagas);
    http::RegisterVectorRoutes(router, vector_store);
    http::RegisterPlatformRoutes(router, platform);
    http::RegisterClientRoutes(router, client_registry);
  }

  // What /metrics reads from the components that count it themselves.
  observability::MetricsSnapshot MetricsSnapshot() const {
    observability::MetricsSnapshot s;
    const pg::PoolStats pg_stats = pg_pool.Stats(), vector_stats = vector_pool.Stats();
    s.pools.push_back(PoolSnapshotOf("postgresql", sessions.Stats(Database::kPostgresql)));
    s.pools.back().broken_total = pg_stats.broken_total;
    s.pools.back().session_resets_total = pg_stats.session_resets_total;
    s.pools.push_back(PoolSnapshotOf("redis", sessions.Stats(Database::kRedis)));
    s.pools.push_back(PoolSnapshotOf("vector", sessions.Stats(Database::kVector)));
    s.pools.back().broken_total = vector_stats.broken_total;
    s.pools.back().session_resets_total = vector_stats.session_resets_total;
    s.breakers.push_back({"postgresql", pg_breaker.state(), pg_breaker.stats()});
    s.breakers.push_back({"redis", cache.breaker().state(), cache.breaker().stats()});
    s.breakers.push_back({"vector", vector_breaker.state(), vector_breaker.stats()});
    const auto& c = cache.Stats();
    s.cache_hits = c.hits;
    s.cache_misses = c.misses;
    s.cache_errors = c.errors;  // cache calls that failed or met the open breaker
    s.cache_loads = c.loads;
    s.cache_load_errors = c.load_errors;
    const auto& g = sagas.stats();
    s.sagas_started = g.started;
    s.sagas_completed = g.completed;
    s.sagas_compensated = g.compensated;
    s.sagas_failed = g.failed;
    s.sagas_recovered = g.recovered;
    s.http_connections = server.active_sessions();
    s.auth_failures = server.auth_throttle_stats().failures;
    s.auth_throttled = server.auth_throttle_stats().throttled;
    const pg::CancelWorkerStats cancels = cancel_worker.Stats(), vector_cancels = vector_cancel_worker.Stats();
    s.pg_cancels_delivered = cancels.delivered + vector_cancels.delivered;
    s.pg_cancels_failed = cancels.failed + vector_cancels.failed;
    s.pg_cancels_dropped = cancels.dropped + vector_cancels.dropped;
    s.ready = !health.draining() && health.IsUp("database") && health.IsUp("redis");
    return s;
  }

  // Redis is up when both of its databases answer (cache and sessions), each within half the time.
  asio::awaitable<bool> PingRedis(std::chrono::milliseconds timeout) {
    const bool cache_up = co_await redis_backend.Ping(timeout / 2);
    if (!cache_up) co_return false;
    const bool sessions_up = co_await session_backend.Ping(timeout / 2);
    co_return sessions_up;
  }

  static void LogRequest(const http::CompletedRequest& r) {
    const auto level = r.status >= 500 ? spdlog::level::warn : spdlog::level::info;
    if (!observability::LogEnabled(level)) return;
    boost::json::object fields{{"requestId", r.request_id},
                               {"method", r.method},
                               {"route", r.route},
                               {"status", r.status},
                               {"durationMs", std::chrono::duration<double, std::milli>(r.duration).count()}};
    if (!r.client.empty()) fields["client"] = r.client;
    if (!r.statement.empty()) fields["statement"] = r.statement;
    if (r.error_code) fields["errorCode"] = *r.error_code;
    observability::LogEvent(level, "request", fields);
  }

  asio::awaitable<void> Stop() {
    spdlog::info("shutting down: readiness is now 503, draining in-flight requests");
    health.SetDraining();
    if (config.http.shutdown_drain_delay.count() > 0) {
      // Still serving (readiness says 503) so load balancers take us out before the listener closes.
      asio::steady_timer delay(ioc, config.http.shutdown_drain_delay);
      auto [ec] = co_await delay.async_wait(asio::as_tuple(asio::use_awaitable));
      (void)ec;
    }
    co_await server.Shutdown(std::chrono::steady_clock::now() + config.http.shutdown_timeout);
    health.Stop();
    pool_history.Stop();
    client_registry.Stop();
    sagas.Stop();  // a saga cut short here is finished by the recovery sweep of the next start
    // Open transactions are rolled back and leases given back (their pools reset the sessions).
    sessions.CloseAll();
    pg_pool.Close();
    vector_pool.Close();
    pg_probe_pool.Close();
    vector_probe_pool.Close();
    saga_pool.Close();
    clients_pool.Close();
    redis_pool.Close();
    redis_client.Stop();
    redis_sessions.Stop();
    spdlog::info("stopped");
    ioc.stop();
  }

  const config::Config& config;
  asio::io_context ioc{1};
  observability::Metrics metrics;
  CircuitBreaker pg_breaker;
  CircuitBreaker vector_breaker;
  pg::CancelWorker cancel_worker;
  // The vector store's cancels have threads of their own: a server that never ends a cancel
  // request (the dev stack's PGlite server keeps the connection open) cannot hold up PostgreSQL's.
  pg::CancelWorker vector_cancel_worker;
  pg::Pool pg_pool;
  pg::Pool vector_pool;
  pg::Pool pg_probe_pool;
  pg::Pool vector_probe_pool;
  pg::Pool saga_pool;
  pg::Pool clients_pool;
  redis::RedisClient redis_client;
  redis::RedisPool redis_pool;
  redis::RedisClient redis_sessions;  // REDIS_SESSION_DB
  pg::PgBackend pg_backend;
  pg::PgBackend vector_backend;
  pg::PgBackend pg_probe;
  pg::PgBackend vector_probe;
  pg::PgBackend saga_log;
  pg::PgBackend clients_sql;
  redis::RedisBackend redis_backend;
  vectors::VectorStore vector_store;
  sessions::SessionManager sessions;
  sessions::PoolHistoryRecorder pool_history;
  redis::RedisBackend session_backend;
  redis::RedisCacheStore cache_store;
  cache::CacheManager cache;
  sagas::SagaService sagas;
  sagas::IdempotencyStore idempotency;
  platform::PlatformService platform;
  migrations::PgMigrator migrator;  // its own connection per call (session advisory lock)
  clients::ClientStore client_store;
  clients::QuotaEnforcer quotas;  // per-client quotas in Redis, per-instance limiter as fallback
  clients::ClientRegistry client_registry;
  ClientAuthenticator authenticator;
  http::Router router;
  observability::HealthMonitor health;
  http::Server server;
};

}  // namespace

namespace {

// Every HTTP connection is a descriptor: raise the soft RLIMIT_NOFILE (often 1024) to what
// MAX_CONNECTIONS and the pools need, as far as the hard limit allows, and say so if it does not.
void RaiseOpenFileLimit(const config::Config& cfg) {
  const rlim_t needed = static_cast<rlim_t>(cfg.http.max_connections + cfg.postgres.pool_size +
                                            cfg.vector.pool_size + cfg.redis.pool_size + 256);
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= needed) return;
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : std::min(needed, limit.rlim_max);
  if (raised.rlim_cur > limit.rlim_cur && ::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur < needed) {
    spdlog::warn("MAX_CONNECTIONS={} needs about {} file descriptors but RLIMIT_NOFILE allows {}: connections past "
                 "it are refused by the kernel (raise the hard limit, e.g. ulimit -Hn, or lower MAX_CONNECTIONS)",
                 cfg.http.max_connections, static_cast<unsigned long long>(needed),
                 static_cast<unsigned long long>(limit.rlim_cur));
  }
}

}  // namespace

int Serve(const config::Config& cfg) {
  if (cfg.admin_token.empty()) {
    spdlog::critical("config: COREDB_ADMIN_TOKEN is required to serve (the bootstrap admin token)");
    return 2;
  }
  if (auto problem = pg::ConninfoProblem(cfg.postgres.conninfo)) {
    spdlog::critical("config: DATABASE_URL / PG_* settings are invalid: {}", *problem);
    return 2;
  }
  if (auto problem = pg::ConninfoProblem(cfg.vector.conninfo)) {
    spdlog::critical("config: VECTOR_URL is invalid: {}", *problem);
    return 2;
  }

  auto migration_set = migrations::LoadMigrations(cfg.migrations_dir);
  if (!migration_set) {
    spdlog::critical("config: {}", migration_set.error().message);
    return 2;
  }

  RaiseOpenFileLimit(cfg);
  std::unique_ptr<Service> service;
  try {
    service = std::make_unique<Service>(cfg, std::move(*migration_set));
  } catch (const std::exception& e) {  // e.g. the CSPRNG failed (InstanceId)
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  if (auto listening = service->server.Listen(); !listening) {
    spdlog::critical("{}", listening.error().message);
    return 1;
  }
  service->redis_client.Start();
  service->redis_sessions.Start();
  service->health.Start();
  service->pool_history.Start();
  service->sagas.Start();
  service->client_registry.Start();
  // The pgvector check logs what is missing; the vectors API re-checks until it passes.
  asio::co_spawn(
      service->ioc, [&service]() -> asio::awaitable<void> { co_await service->vector_store.Initialize(); },
      [](std::exception_ptr e) {
        if (e) spdlog::error("vector store start-up check failed unexpectedly");
      });
  // Redis connects in the background. Give it a moment (bounded: a Redis that is down must not
  // keep the service from serving SQL) before taking requests, so the first cache requests do
  // not find it "down" and open its breaker.
  int exit_code = 0;
  asio::co_spawn(
      service->ioc,
      [&service, &cfg, &exit_code]() -> asio::awaitable<void> {
        // A PostgreSQL that refuses this service's settings (an sslmode it cannot do, a
        // certificate that does not verify, wrong credentials) is a configuration error: stop
        // now with its reason. One that is down is not (the pools connect when it is back).
        const auto pg_options = MakePoolOptions("postgresql", cfg.postgres, cfg, 1).connection;
        auto probe = co_await pg::Connection::Open(service->ioc.get_executor(), pg_options, service->cancel_worker);
        if (!probe && IsSettingsRefusal(probe.error().message)) {
          spdlog::critical("postgresql refused the connection settings (DATABASE_URL / PG_SSL): {}",
                           probe.error().message);
          exit_code = 1;
          service->ioc.stop();
          co_return;
        }
        const auto deadline = std::chrono::steady_clock::now() + kRedisStartupWait;
        const bool cache_up = co_await service->redis_client.WaitConnected(kRedisStartupWait);
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        const bool sessions_up = co_await service->redis_sessions.WaitConnected(std::max(left, 1ms));
        if (service->health.draining()) co_return;  // SIGTERM came first
        if (!cache_up || !sessions_up) spdlog::warn("starting without redis: the cache is bypassed until it connects");
        // The client tokens, before the first request (bounded by the load's timeout; without
        // PostgreSQL only the bootstrap admin token works until a reload succeeds).
        co_await service->client_registry.Reload();
        if (service->health.draining()) co_return;
        service->server.Start();
        observability::LogEvent(
            spdlog::level::info, "listening",
            {{"host", cfg.http.host},
             {"port", service->server.port()},
             {"version", COREDB_VERSION},
             {"instance", service->sessions.registry().instance_id()}});
        spdlog::default_logger()->flush();
      },
      [](std::exception_ptr e) {
        if (e) spdlog::critical("start-up failed");
      });

  asio::signal_set signals(service->ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("received signal {}", signal);
    asio::co_spawn(service->ioc, service->Stop(), [](std::exception_ptr e) {
      if (e) spdlog::critical("shutdown failed");
    });
  });
  service->ioc.run();
  return exit_code;
}

std::vector<http::RouteEntry> RouteTable() {
  // Built as Serve builds it; nothing connects (pools open lazily, Redis clients are not started).
  const config::Config cfg;
  Service service(cfg);
  return service.router.Routes();
}

int PrintRoutes(bool json) {
  const auto routes = RouteTable();
  if (json) {
    boost::json::array out;
    for (const auto& r : routes) {
      out.push_back(
          boost::json::object{{"method", r.method}, {"path", r.path_template}, {"access", http::AccessName(r.access)}});
    }
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return 0;
  }
  for (const auto& r : routes) {
    std::printf("%-7s %-40s %s\n", r.method.c_str(), r.path_template.c_str(), http::AccessName(r.access));
  }
  return 0;
}

int CheckHealth(const config::Config& cfg) {
  Service service(cfg);
  service.redis_client.Start();
  bool db = false, redis_ok = false, vector = false;
  asio::co_spawn(
      service.ioc,
      [&]() -> asio::awaitable<void> {
        co_await service.redis_client.WaitConnected(3s);
        db = co_await service.pg_probe.Ping(3s);
        redis_ok = co_await service.redis_backend.Ping(3s);
        vector = co_await service.vector_probe.Ping(3s);
        service.pg_probe_pool.Close();
        service.vector_probe_pool.Close();
        service.redis_client.Stop();
        service.ioc.stop();
      },
      asio::detached);
  service.ioc.run();
  std::printf("postgresql: %s\nredis: %s\nvector: %s\n", db ? "up" : "DOWN", redis_ok ? "up" : "DOWN",
              vector ? "up" : "DOWN");
  return db && redis_ok ? 0 : 1;
}

}  // namespace coredb::app
