#include "coredb/config/settings.hpp"

#include <cctype>

namespace coredb::config {

namespace {

constexpr std::string_view kMask = "****";

std::vector<Setting> BuildSettings() {
  using S = Secrecy;
  std::vector<Setting> list = {
      {"HOST", "127.0.0.1", S::kNone, "", "listen address (0.0.0.0 in a container)"},
      {"PORT", "8095", S::kNone, "", "listen port (0: any free port, logged at start)"},
      {"TLS_CERT", "", S::kNone, "", "PEM certificate chain: the listener speaks HTTPS only (with TLS_KEY)"},
      {"TLS_KEY", "", S::kNone, "", "PEM private key file (a path, not the key)"},
      {"COREDB_ADMIN_TOKEN", "", S::kSecret, "", "bootstrap admin bearer token, >= 16 characters (serve needs it)"},
      {"METRICS_TOKEN", "", S::kSecret, "", "when set, GET /metrics needs Bearer <METRICS_TOKEN> or an admin token"},
      {"LOG_LEVEL", "info", S::kNone, "", "trace, debug, info, warn, error, critical, off"},
      {"COREDB_INSTANCE_ID", "", S::kNone, "",
       "1..32 letters/digits naming this instance in lease ids (random per start)"},
      {"MAX_BODY_BYTES", "1048576", S::kNone, "", "request body limit"},
      {"MAX_RESULT_BYTES", "16777216", S::kNone, "", "result size limit"},
      {"MAX_STREAM_BYTES", "0", S::kNone, "", "size limit of a streamed (NDJSON) result; 0: none"},
      {"MAX_CONCURRENT_PER_CLIENT", "256", S::kNone, "", "requests one client may have running (0: no limit)"},
      {"MAX_CONNECTIONS", "10000", S::kNone, "",
       "HTTP connections held at once; past it a new one closes the longest-idle keep-alive connection, or is refused"},
      {"AUTH_FAILURE_LIMIT", "20", S::kNone, "",
       "failed authentications per AUTH_FAILURE_WINDOW from one source before it gets 429 (0: off)"},
      {"AUTH_FAILURE_WINDOW", "10000", S::kNone, "", "ms of the AUTH_FAILURE_LIMIT window"},
      {"TRUSTED_PROXIES", "", S::kNone, "",
       "comma-separated addresses/networks whose X-Forwarded-For names the client's address"},
      {"DEFAULT_QUERY_TIMEOUT", "30000", S::kNone, "", "ms, when a query gives no timeout"},
      {"KEEP_ALIVE_TIMEOUT", "65000", S::kNone, "", "ms an idle keep-alive connection is kept"},
      {"SHUTDOWN_DRAIN_DELAY", "0", S::kNone, "", "ms after SIGTERM with readiness 503 while still serving"},
      {"SHUTDOWN_TIMEOUT", "10000", S::kNone, "", "ms given to in-flight requests after the drain delay"},
      {"DATABASE_URL", "", S::kConnection, "", "PostgreSQL: libpq URL or key=value string (else the PG_* variables)"},
      {"PG_HOST", "127.0.0.1", S::kNone, "DATABASE_URL", "PostgreSQL host"},
      {"PG_PORT", "5432", S::kNone, "DATABASE_URL", "PostgreSQL port"},
      {"PG_DATABASE", "coredb", S::kNone, "DATABASE_URL", "PostgreSQL database"},
      {"PG_USER", "postgres", S::kNone, "DATABASE_URL", "PostgreSQL user"},
      {"PG_PASSWORD", "", S::kSecret, "DATABASE_URL", "PostgreSQL password"},
      {"PG_SSL", "", S::kNone, "", "true/false or a libpq sslmode, appended to the connection string"},
      {"PG_SSL_ROOT_CERT", "", S::kNone, "", "CA file for verify-ca/verify-full"},
      {"PG_POOL_SIZE", "20", S::kNone, "", "PostgreSQL pool size"},
      {"PG_IDLE_TIMEOUT", "30000", S::kNone, "", "ms an idle PostgreSQL connection is kept"},
      {"PG_CONNECT_TIMEOUT", "5000", S::kNone, "", "ms to open a PostgreSQL connection"},
      {"VECTOR_URL", "", S::kConnection, "", "pgvector server (default: the PostgreSQL settings)"},
      {"VECTOR_POOL_SIZE", "10", S::kNone, "", "pgvector pool size"},
      {"REDIS_URL", "", S::kConnection, "", "redis://[user:password@]host:port/db (else the REDIS_* variables)"},
      {"REDIS_HOST", "127.0.0.1", S::kNone, "REDIS_URL", "Redis host"},
      {"REDIS_PORT", "6379", S::kNone, "REDIS_URL", "Redis port"},
      {"REDIS_USERNAME", "", S::kNone, "REDIS_URL", "Redis ACL user"},
      {"REDIS_PASSWORD", "", S::kSecret, "REDIS_URL", "Redis password"},
      {"REDIS_DB", "0", S::kNone, "", "cache database (overrides the URL's)"},
      {"REDIS_SESSION_DB", "1", S::kNone, "", "sessions database"},
      {"REDIS_COMMAND_TIMEOUT", "1000", S::kNone, "", "ms bound on every Redis command"},
      {"REDIS_POOL_SIZE", "10", S::kNone, "", "dedicated Redis connections for leases"},
      {"REDIS_IDLE_TIMEOUT", "30000", S::kNone, "", "ms an idle lease connection is kept"},
      {"SAGA_CONCURRENCY", "8", S::kNone, "", "sagas running at once per instance"},
      {"SAGA_COMPENSATION_ATTEMPTS", "5", S::kNone, "", "tries per compensation"},
      {"COREDB_MIGRATIONS_DIR", "", S::kNone, "", "read migrations from this directory instead of the embedded set"},
      {"COREDB_PLATFORM_CACHE_PREFIX", "", S::kNone, "", "prefix of the platform data API's cache keys and tags"},
      {"COREDB_ENV", "", S::kNone, "", "development lets `coredb reset` run without --force (read by main.cpp)"},
      {"NODE_ENV", "", S::kNone, "", "the story's variable: used when COREDB_ENV is unset (read by main.cpp)"},
  };
  // BREAKER_<BACKEND>_<SETTING>: the defaults of config.hpp's BreakerConfig (redis has its own).
  struct Breaker {
    const char* backend;
    const char* timeout_ms;
    const char* volume_threshold;
    const char* reset_timeout_ms;
  };
  for (const Breaker& b : {Breaker{"POSTGRESQL", "0", "10", "2000"}, Breaker{"VECTOR", "0", "10", "2000"},
                           Breaker{"REDIS", "1000", "5", "1000"}}) {
    const std::string p = std::string("BREAKER_") + b.backend + "_";
    list.push_back({p + "TIMEOUT_MS", b.timeout_ms, S::kNone, "", "ms after which a call counts as failed (0: off)"});
    list.push_back({p + "ERROR_THRESHOLD_PERCENT", "50", S::kNone, "", "failed % in the window that opens it"});
    list.push_back(
        {p + "VOLUME_THRESHOLD", b.volume_threshold, S::kNone, "", "calls in the window before it may open"});
    list.push_back({p + "ROLLING_WINDOW_MS", "10000", S::kNone, "", "ms of the rolling window"});
    list.push_back({p + "ROLLING_BUCKETS", "10", S::kNone, "", "buckets of the rolling window"});
    list.push_back({p + "RESET_TIMEOUT_MS", b.reset_timeout_ms, S::kNone, "", "ms open before one probe call"});
  }
  return list;
}

bool IsPasswordKey(std::string_view key) { return key == "password" || key == "sslpassword"; }

// `a=1&password=x` → `a=1&password=****`
std::string MaskQuery(std::string_view query) {
  std::string out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    const std::size_t eq = item.find('=');
    if (eq != std::string_view::npos && IsPasswordKey(item.substr(0, eq))) {
      out.append(item.substr(0, eq + 1)).append(kMask);
    } else {
      out.append(item);
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string MaskUrl(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  std::string out(url.substr(0, scheme_end + 3));
  std::string_view rest = url.substr(scheme_end + 3);
  // The user info ends at the last '@' before the query: a password with an unescaped '/' or
  // '@' must not leak into what looks like the path.
  const std::size_t last_at = rest.substr(0, rest.find_first_of("?#")).rfind('@');
  const std::size_t authority_end = rest.find_first_of("/?#", last_at == std::string_view::npos ? 0 : last_at);
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (const std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      out.append(userinfo.substr(0, colon + 1)).append(kMask);
    } else {
      out.append(userinfo);
    }
    out.append(authority.substr(at));
  } else {
    out.append(authority);
  }
  if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
    const std::size_t hash = rest.find('#', q);
    out.append(rest.substr(0, q + 1));
    out.append(MaskQuery(rest.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1)));
    if (hash != std::string_view::npos) out.append(rest.substr(hash));
  } else {
    out.append(rest);
  }
  return out;
}

// libpq key=value: `key = value` pairs, values bare or single-quoted with backslash escapes.
std::string MaskKeyValue(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[i]))) {
      out += s[i++];
      continue;
    }
    const std::size_t key_start = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::string_view key = s.substr(key_start, i - key_start);
    std::size_t j = i;
    while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j >= s.size() || s[j] != '=') {  // not key=value: copy as is
      out.append(s.substr(key_start, j - key_start));
      i = j;
      continue;
    }
    ++j;
    while (j < s.size() && std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    const std::size_t value_start = j;
    if (j < s.size() && s[j] == '\'') {
      ++j;
      while (j < s.size() && s[j] != '\'') j += (s[j] == '\\' && j + 1 < s.size()) ? 2 : 1;
      if (j < s.size()) ++j;
    } else {
      while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    }
    out.append(s.substr(key_start, value_start - key_start));
    if (IsPasswordKey(key)) {
      out.append(kMask);
    } else {
      out.append(s.substr(value_start, j - value_start));
    }
    i = j;
  }
  return out;
}

}  // namespace

const std::vector<Setting>& Settings() {
  static const std::vector<Setting> settings = BuildSettings();
  return settings;
}

const Setting* FindSetting(std::string_view name) {
  for (const Setting& s : Settings()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string MaskConnectionString(std::string_view value) {
  if (value.find("://") != std::string_view::npos) return MaskUrl(value);
  return MaskKeyValue(value);
}

std::string MaskedValue(const Setting& setting, std::string_view value) {
  switch (setting.secrecy) {
    case Secrecy::kSecret:
      return value.empty() ? std::string() : std::string(kMask);
    case Secrecy::kConnection:
      return MaskConnectionString(value);
    case Secrecy::kNone:
      break;
  }
  return std::string(value);
}

}  // namespace coredb::config
