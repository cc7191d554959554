// Service configuration: plain structs loaded once from the environment and validated at
// start-up. Every problem is reported as one line naming the variable; nothing is checked later.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace coredb::config {

struct PostgresConfig {
  std::string conninfo;  // libpq URL or key=value string; may hold a password: never log it
  std::size_t pool_size = 20;
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds connect_timeout{5000};
  bool operator==(const PostgresConfig&) const = default;
};

struct RedisConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string username;
  std::string password;
  int db = 0;
  int session_db = 1;
  std::chrono::milliseconds command_timeout{1000};
  std::size_t pool_size = 10;  // dedicated connections for leases (REDIS_POOL_SIZE)
  std::chrono::milliseconds idle_timeout{30000};
  bool operator==(const RedisConfig&) const = default;
};

// One backend's circuit breaker (core/circuit_breaker: opossum's semantics), from
// BREAKER_<POSTGRESQL|VECTOR|REDIS>_<SETTING>; an unknown BREAKER_* variable is a start-up error.
struct BreakerConfig {
  std::chrono::milliseconds timeout{0};        // _TIMEOUT_MS: a call slower than this is a failure; 0: off
  unsigned error_threshold_percent = 50;       // _ERROR_THRESHOLD_PERCENT (1..100)
  std::uint32_t volume_threshold = 10;         // _VOLUME_THRESHOLD: calls in the window before it may open
  std::chrono::milliseconds rolling_window{10000};  // _ROLLING_WINDOW_MS
  std::uint32_t rolling_buckets = 10;               // _ROLLING_BUCKETS
  std::chrono::milliseconds reset_timeout{2000};    // _RESET_TIMEOUT_MS: open → half-open
  bool operator==(const BreakerConfig&) const = default;
};

struct HttpConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8095;
  std::size_t max_body_bytes = 1024 * 1024;
  std::chrono::milliseconds shutdown_timeout{10000};
  std::chrono::milliseconds keep_alive_timeout{65000};
  // SHUTDOWN_DRAIN_DELAY: after SIGTERM, readiness answers 503 this long while requests are still
  // served normally (so load balancers stop sending before the listener closes). 0: close at once.
  std::chrono::milliseconds shutdown_drain_delay{0};
  std::size_t max_concurrent_per_client = 256;  // MAX_CONCURRENT_PER_CLIENT; 0: no limit
  std::size_t max_connections = 10000;  // MAX_CONNECTIONS: HTTP connections held at once
  // AUTH_FAILURE_LIMIT failed authentications per AUTH_FAILURE_WINDOW from one source, after
  // which it is answered 429 until the window ends (0: off); TRUSTED_PROXIES (addresses and
  // networks, validated at load) are the peers whose X-Forwarded-For names the source.
  std::size_t auth_failure_limit = 20;
  std::chrono::milliseconds auth_failure_window{10000};
  std::vector<std::string> trusted_proxies;
  // TLS_CERT / TLS_KEY (PEM files): HTTPS on the listener; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  bool operator==(const HttpConfig&) const = default;
};

struct Config {
  HttpConfig http;
  PostgresConfig postgres;
  PostgresConfig vector;  // VECTOR_URL; defaults to the PostgreSQL settings
  RedisConfig redis;
  std::string log_level = "info";
  std::string admin_token;
  std::size_t max_result_bytes = 16 * 1024 * 1024;
  std::uint64_t max_stream_bytes = 0;  // MAX_STREAM_BYTES: a streamed (NDJSON) result's limit; 0: none
  std::chrono::milliseconds default_query_timeout{30000};
  // Names this instance in lease and transaction ids (COREDB_INSTANCE_ID, [A-Za-z0-9]{1,32});
  // random per start when unset.
  std::string instance_id;
  // Sagas: how many run at once on this instance (each holds a connection of its own for its
  // lock and log: SAGA_CONCURRENCY) and how often a compensation is tried before the saga is
  // `failed` (SAGA_COMPENSATION_ATTEMPTS).
  std::size_t saga_concurrency = 8;
  int saga_compensation_attempts = 5;
  std::string migrations_dir;  // COREDB_MIGRATIONS_DIR; empty: the migrations embedded at build time
  // COREDB_PLATFORM_CACHE_PREFIX: prepended to the platform data API's cache keys and tags (0..64
  // printable ASCII bytes, no spaces or glob characters); empty: the story's keys.
  std::string platform_cache_prefix;
  // METRICS_TOKEN: when set, GET /metrics needs `Bearer <METRICS_TOKEN>` or an admin token.
  std::string metrics_token;
  BreakerConfig breaker_postgresql;
  BreakerConfig breaker_vector;
  BreakerConfig breaker_redis{std::chrono::milliseconds(1000), 50, 5, std::chrono::milliseconds(10000), 10,
                              std::chrono::milliseconds(1000)};
  // Field by field (tests: a variable set to its documented default changes nothing).
  bool operator==(const Config&) const = default;
};

// Reads variables through `getenv` (injectable for tests). Returns the config, or the list of
// problems, one human-readable line each.
using EnvReader = std::function<std::optional<std::string>(const std::string&)>;
struct LoadResult {
  Config config;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};
// `names`: the names of the variables set (to find unknown BREAKER_* settings).
LoadResult Load(const EnvReader& env, const std::vector<std::string>& names = {});
LoadResult LoadFromProcessEnvironment();

}  // namespace coredb::config
