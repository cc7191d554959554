#include "coredb/config/config.hpp"

#include "coredb/config/settings.hpp"
#include "coredb/core/percent_decode.hpp"
#include "coredb/http/auth_throttle.hpp"  // TRUSTED_PROXIES is validated where it is used

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>

#include <unistd.h>  // environ

namespace coredb::config {
namespace {

class Reader {
 public:
  explicit Reader(const EnvReader& env) : env_(env) {}

  std::optional<std::string> Get(const std::string& name) const {
    // settings.cpp is the one list of variables (config print, config vars, the deploy test):
    // reading one that is not in it is a bug in this file.
    if (FindSetting(name) == nullptr) {
      throw std::logic_error("config: " + name + " is not listed in config/settings.cpp");
    }
    auto value = env_(name);
    if (value && value->empty()) return std::nullopt;  // VAR= counts as unset
    return value;
  }

  template <class Int>
  void ReadInt(const std::string& name, Int& out, long long min, long long max) {
    auto text = Get(name);
    if (!text) return;
    long long value = 0;
    auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
    if (ec != std::errc() || ptr != text->data() + text->size() || value < min || value > max) {
      Problem(name + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
              " (got \"" + *text + "\")");
      return;
    }
    out = static_cast<Int>(value);
  }

  void ReadMillis(const std::string& name, std::chrono::milliseconds& out, long long min, long long max) {
    long long ms = out.count();
    ReadInt(name, ms, min, max);
    out = std::chrono::milliseconds(ms);
  }

  void Problem(std::string line) { problems_.push_back(std::move(line)); }
  std::vector<std::string>& problems() { return problems_; }

 private:
  const EnvReader& env_;
  std::vector<std::string> problems_;
};

// libpq key=value quoting: single quotes, backslash-escaped.
std::string QuoteConninfoValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

bool IsPostgresUrl(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

void LoadPostgres(Reader& r, Config& cfg) {
  auto url = r.Get("DATABASE_URL");
  if (url) {
    if (!IsPostgresUrl(*url) && url->find('=') == std::string::npos) {
      r.Problem("DATABASE_URL must be a postgresql:// URL or a libpq key=value string");
    }
    cfg.postgres.conninfo = *url;
  } else {
    std::string host = r.Get("PG_HOST").value_or("127.0.0.1");
    std::string port = r.Get("PG_PORT").value_or("5432");
    std::uint16_t port_num = 5432;
    r.ReadInt("PG_PORT", port_num, 1, 65535);
    std::string conninfo = "host=" + QuoteConninfoValue(host) + " port=" + std::to_string(port_num) +
                           " dbname=" + QuoteConninfoValue(r.Get("PG_DATABASE").value_or("coredb")) +
                           " user=" + QuoteConninfoValue(r.Get("PG_USER").value_or("postgres"));
    if (auto pw = r.Get("PG_PASSWORD")) conninfo += " password=" + QuoteConninfoValue(*pw);
    cfg.postgres.conninfo = conninfo;
  }
  if (auto ssl = r.Get("PG_SSL")) {
    static const char* kModes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    std::string mode = *ssl;
    if (mode == "true") mode = "require";
    if (mode == "false") mode = "disable";
    bool known = false;
    for (const char* m : kModes) known = known || mode == m;
    if (!known) {
      r.Problem("PG_SSL must be true, false or a libpq sslmode (disable, allow, prefer, require, verify-ca, verify-full); got \"" +
                *ssl + "\"");
    } else if (IsPostgresUrl(cfg.postgres.conninfo)) {
      cfg.postgres.conninfo += (cfg.postgres.conninfo.find('?') == std::string::npos ? "?" : "&");
      cfg.postgres.conninfo += "sslmode=" + mode;
    } else {
      cfg.postgres.conninfo += " sslmode=" + mode;
    }
  }
  if (auto root = r.Get("PG_SSL_ROOT_CERT")) {
    // The CA that must have signed the server's certificate (verify-ca, verify-full).
    if (IsPostgresUrl(cfg.postgres.conninfo)) {
      std::string encoded;
      for (unsigned char c : *root) {
        static const char* kHex = "0123456789ABCDEF";
        if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_') {
          encoded += static_cast<char>(c);
        } else {
          encoded += '%';
          encoded += kHex[c >> 4];
          encoded += kHex[c & 15];
        }
      }
      cfg.postgres.conninfo += (cfg.postgres.conninfo.find('?') == std::string::npos ? "?" : "&");
      cfg.postgres.conninfo += "sslrootcert=" + encoded;
    } else {
      cfg.postgres.conninfo += " sslrootcert=" + QuoteConninfoValue(*root);
    }
  }
  r.ReadInt("PG_POOL_SIZE", cfg.postgres.pool_size, 1, 1000);
  r.ReadMillis("PG_IDLE_TIMEOUT", cfg.postgres.idle_timeout, 1000, 24LL * 3600 * 1000);
  r.ReadMillis("PG_CONNECT_TIMEOUT", cfg.postgres.connect_timeout, 100, 120000);
}

void LoadVector(Reader& r, Config& cfg) {
  cfg.vector = cfg.postgres;
  cfg.vector.pool_size = 10;
  if (auto url = r.Get("VECTOR_URL")) {
    if (!IsPostgresUrl(*url) && url->find('=') == std::string::npos) {
      r.Problem("VECTOR_URL must be a postgresql:// URL or a libpq key=value string");
    }
    cfg.vector.conninfo = *url;
  }
  r.ReadInt("VECTOR_POOL_SIZE", cfg.vector.pool_size, 1, 1000);
}


// redis://[user[:password]@]host[:port][/db] — the form ioredis and redis-cli accept.
std::optional<std::string> ParseRedisUrl(const std::string& url, RedisConfig& redis) {
  const std::string_view kUsage = "REDIS_URL must look like redis://[user:password@]host:port/db";
  std::string_view rest = url;
  if (rest.rfind("rediss://", 0) == 0) return std::string("REDIS_URL: rediss:// (TLS) is not supported; use redis://");
  if (rest.rfind("redis://", 0) != 0) return std::string(kUsage);
  rest.remove_prefix(8);
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::string_view user = userinfo;
    std::string_view password;
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
    }
    auto u = PercentDecode(user);
    auto p = PercentDecode(password);
    if (!u || !p) return std::string("REDIS_URL has a malformed percent-escape in its user or password");
    redis.username = *u;
    redis.password = *p;
  }
  std::string_view host = rest;
  if (auto colon = rest.rfind(':'); colon != std::string_view::npos && rest.find(']') == std::string_view::npos) {
    host = rest.substr(0, colon);
    std::string_view port = rest.substr(colon + 1);
    int value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value < 1 || value > 65535) {
      return "REDIS_URL has an invalid port \"" + std::string(port) + "\"";
    }
    redis.port = static_cast<std::uint16_t>(value);
  }
  if (!host.empty()) redis.host = std::string(host);
  if (!path.empty()) {
    int value = -1;
    auto [ptr, ec] = std::from_chars(path.data(), path.data() + path.size(), value);
    if (ec != std::errc() || ptr != path.data() + path.size() || value < 0 || value > 15) {
      return "REDIS_URL database must be a number in 0..15 (got \"" + std::string(path) + "\")";
    }
    redis.db = value;
  }
  return std::nullopt;
}

void LoadRedis(Reader& r, Config& cfg) {
  auto& redis = cfg.redis;
  if (auto url = r.Get("REDIS_URL")) {
    if (auto problem = ParseRedisUrl(*url, redis)) r.Problem(*problem);
  } else {
    if (auto host = r.Get("REDIS_HOST")) redis.host = *host;
    r.ReadInt("REDIS_PORT", redis.port, 1, 65535);
    if (auto user = r.Get("REDIS_USERNAME")) redis.username = *user;
    if (auto pw = r.Get("REDIS_PASSWORD")) redis.password = *pw;
  }
  // Discrete variables refine the URL form (REDIS_DB overrides the URL's path).
  r.ReadInt("REDIS_DB", redis.db, 0, 15);
  r.ReadInt("REDIS_SESSION_DB", redis.session_db, 0, 15);
  r.ReadMillis("REDIS_COMMAND_TIMEOUT", redis.command_timeout, 10, 60000);
  r.ReadInt("REDIS_POOL_SIZE", redis.pool_size, 1, 1000);
  r.ReadMillis("REDIS_IDLE_TIMEOUT", redis.idle_timeout, 1000, 24LL * 3600 * 1000);
}

void LoadBreaker(Reader& r, const std::string& backend, BreakerConfig& b) {
  const std::string p = "BREAKER_" + backend + "_";
  r.ReadMillis(p + "TIMEOUT_MS", b.timeout, 0, 600000);
  r.ReadInt(p + "ERROR_THRESHOLD_PERCENT", b.error_threshold_percent, 1, 100);
  r.ReadInt(p + "VOLUME_THRESHOLD", b.volume_threshold, 1, 1000000);
  r.ReadMillis(p + "ROLLING_WINDOW_MS", b.rolling_window, 100, 3600000);
  r.ReadInt(p + "ROLLING_BUCKETS", b.rolling_buckets, 1, 1000);
  r.ReadMillis(p + "RESET_TIMEOUT_MS", b.reset_timeout, 10, 3600000);
  if (b.rolling_window.count() < static_cast<long long>(b.rolling_buckets)) {
    r.Problem(p + "ROLLING_WINDOW_MS must be at least " + p + "ROLLING_BUCKETS milliseconds");
  }
}

void CheckBreakerNames(Reader& r, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    if (name.rfind("BREAKER_", 0) != 0) continue;
    if (FindSetting(name) == nullptr) {
      r.Problem(name +
                " is not a breaker setting: use BREAKER_<POSTGRESQL|VECTOR|REDIS>_<TIMEOUT_MS|ERROR_THRESHOLD_PERCENT|"
                "VOLUME_THRESHOLD|ROLLING_WINDOW_MS|ROLLING_BUCKETS|RESET_TIMEOUT_MS>");
    }
  }
}

}  // namespace

LoadResult Load(const EnvReader& env, const std::vector<std::string>& names) {
  LoadResult result;
  Config& cfg = result.config;
  Reader r(env);

  if (auto host = r.Get("HOST")) cfg.http.host = *host;
  r.ReadInt("PORT", cfg.http.port, 0, 65535);
  r.ReadInt("MAX_BODY_BYTES", cfg.http.max_body_bytes, 1024, 64LL * 1024 * 1024);
  r.ReadMillis("SHUTDOWN_TIMEOUT", cfg.http.shutdown_timeout, 0, 600000);
  r.ReadMillis("KEEP_ALIVE_TIMEOUT", cfg.http.keep_alive_timeout, 1000, 3600000);
  r.ReadMillis("SHUTDOWN_DRAIN_DELAY", cfg.http.shutdown_drain_delay, 0, 600000);
  r.ReadInt("MAX_CONCURRENT_PER_CLIENT", cfg.http.max_concurrent_per_client, 0, 100000);
  r.ReadInt("MAX_CONNECTIONS", cfg.http.max_connections, 1, 1000000);
  r.ReadInt("AUTH_FAILURE_LIMIT", cfg.http.auth_failure_limit, 0, 1000000);
  r.ReadMillis("AUTH_FAILURE_WINDOW", cfg.http.auth_failure_window, 100, 86400000);
  if (auto proxies = r.Get("TRUSTED_PROXIES")) {
    std::string_view rest = *proxies;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      std::string entry(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      entry.erase(0, entry.find_first_not_of(" \t"));
      entry.erase(entry.find_last_not_of(" \t") + 1);
      if (!entry.empty()) cfg.http.trusted_proxies.push_back(std::move(entry));
    }
    std::string error;
    if (!http::TrustedProxies::Parse(cfg.http.trusted_proxies, &error)) r.Problem("TRUSTED_PROXIES: " + error);
  }
  if (auto cert = r.Get("TLS_CERT")) cfg.http.tls_cert_file = *cert;
  if (auto key = r.Get("TLS_KEY")) cfg.http.tls_key_file = *key;
  if (cfg.http.tls_cert_file.empty() != cfg.http.tls_key_file.empty()) {
    r.Problem("TLS_CERT and TLS_KEY must be given together (PEM certificate chain and private key)");
  }
  r.ReadInt("MAX_RESULT_BYTES", cfg.max_result_bytes, 1024, 1024LL * 1024 * 1024);
  r.ReadInt("MAX_STREAM_BYTES", cfg.max_stream_bytes, 0, std::numeric_limits<long long>::max());
  r.ReadMillis("DEFAULT_QUERY_TIMEOUT", cfg.default_query_timeout, 1, 300000);

  if (auto level = r.Get("LOG_LEVEL")) {
    static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    bool known = false;
    for (const char* l : kLevels) known = known || *level == l;
    if (!known) r.Problem("LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off (got \"" + *level + "\")");
    else cfg.log_level = *level;
  }

  if (auto token = r.Get("COREDB_ADMIN_TOKEN")) {
    if (token->size() < 16) r.Problem("COREDB_ADMIN_TOKEN must be at least 16 characters long");
    cfg.admin_token = *token;
  }

  if (auto id = r.Get("COREDB_INSTANCE_ID")) {
    const bool valid = !id->empty() && id->size() <= 32 &&
                       std::all_of(id->begin(), id->end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)); });
    if (!valid) r.Problem("COREDB_INSTANCE_ID must be 1..32 letters or digits (it is part of lease ids)");
    else cfg.instance_id = *id;
  }
  if (auto dir = r.Get("COREDB_MIGRATIONS_DIR")) cfg.migrations_dir = *dir;
  if (auto prefix = r.Get("COREDB_PLATFORM_CACHE_PREFIX")) {
    const bool valid = prefix->size() <= 64 && std::all_of(prefix->begin(), prefix->end(), [](char c) {
                         return c > ' ' && c < 0x7f && c != '*' && c != '?' && c != '[' && c != ']' && c != '\\';
                       });
    if (!valid) {
      r.Problem("COREDB_PLATFORM_CACHE_PREFIX must be at most 64 printable ASCII characters without spaces or * ? [ ] \\");
    } else {
      cfg.platform_cache_prefix = *prefix;
    }
  }

  r.ReadInt("SAGA_CONCURRENCY", cfg.saga_concurrency, 1, 100);
  r.ReadInt("SAGA_COMPENSATION_ATTEMPTS", cfg.saga_compensation_attempts, 1, 100);

  if (auto token = r.Get("METRICS_TOKEN")) {
    if (token->size() < 16) r.Problem("METRICS_TOKEN must be at least 16 characters long");
    cfg.metrics_token = *token;
  }
  LoadBreaker(r, "POSTGRESQL", cfg.breaker_postgresql);
  LoadBreaker(r, "VECTOR", cfg.breaker_vector);
  LoadBreaker(r, "REDIS", cfg.breaker_redis);
  CheckBreakerNames(r, names);

  LoadPostgres(r, cfg);
  LoadVector(r, cfg);
  LoadRedis(r, cfg);
  result.problems = std::move(r.problems());
  return result;
}

LoadResult LoadFromProcessEnvironment() {
  std::vector<std::string> names;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    names.emplace_back(entry.substr(0, entry.find('=')));
  }
  return Load(
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v) return std::nullopt;
        return std::string(v);
      },
      names);
}

}  // namespace coredb::config
