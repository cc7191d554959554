#include "coredb/config/config.hpp"

#include <gtest/gtest.h>

#include <map>

namespace coredb::config {
namespace {

LoadResult LoadWith(std::map<std::string, std::string> vars) {
  return Load([&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

TEST(Config, DefaultsMatchTheContract) {
  auto r = LoadWith({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.http.port, 8095);
  EXPECT_EQ(r.config.http.host, "127.0.0.1");
  EXPECT_EQ(r.config.http.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(r.config.max_result_bytes, 16u * 1024u * 1024u);
  EXPECT_EQ(r.config.default_query_timeout.count(), 30000);
  EXPECT_EQ(r.config.postgres.pool_size, 20u);
  EXPECT_EQ(r.config.redis.db, 0);
  EXPECT_EQ(r.config.redis.session_db, 1);
}

TEST(Config, DiscretePostgresSettingsBuildAQuotedConninfo) {
  auto r = LoadWith({{"PG_HOST", "db.internal"}, {"PG_PORT", "6543"}, {"PG_DATABASE", "app"},
                     {"PG_USER", "svc"}, {"PG_PASSWORD", "it's\\secret"}, {"PG_SSL", "true"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.postgres.conninfo,
            "host='db.internal' port=6543 dbname='app' user='svc' password='it\\'s\\\\secret' sslmode=require");
  // The vector store defaults to the same server.
  EXPECT_EQ(r.config.vector.conninfo, r.config.postgres.conninfo);
}

TEST(Config, UrlFormWinsAndSslIsAppended) {
  auto r = LoadWith({{"DATABASE_URL", "postgresql://u:p@h:5432/d"}, {"PG_SSL", "verify-full"},
                     {"VECTOR_URL", "postgresql://v@h2/vec"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.postgres.conninfo, "postgresql://u:p@h:5432/d?sslmode=verify-full");
  EXPECT_EQ(r.config.vector.conninfo, "postgresql://v@h2/vec");
}

TEST(Config, RedisUrlWithUserPasswordAndDb) {
  auto r = LoadWith({{"REDIS_URL", "redis://svc:p%40ss@cache.local:6380/3"}});
  ASSERT_TRUE(r.ok()) << r.problems[0];
  EXPECT_EQ(r.config.redis.host, "cache.local");
  EXPECT_EQ(r.config.redis.port, 6380);
  EXPECT_EQ(r.config.redis.username, "svc");
  EXPECT_EQ(r.config.redis.password, "p@ss");
  EXPECT_EQ(r.config.redis.db, 3);
}

TEST(Config, RedisDiscreteSettings) {
  auto r = LoadWith({{"REDIS_HOST", "r"}, {"REDIS_PORT", "7000"}, {"REDIS_PASSWORD", "x"}, {"REDIS_DB", "2"},
                     {"REDIS_SESSION_DB", "5"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.redis.host, "r");
  EXPECT_EQ(r.config.redis.port, 7000);
  EXPECT_EQ(r.config.redis.db, 2);
  EXPECT_EQ(r.config.redis.session_db, 5);
}

TEST(Config, PlatformCachePrefixIsShortPrintableAndGlobFree) {
  EXPECT_EQ(LoadWith({}).config.platform_cache_prefix, "");
  auto ok = LoadWith({{"COREDB_PLATFORM_CACHE_PREFIX", "staging:"}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.config.platform_cache_prefix, "staging:");
  for (const char* bad : {"a b", "a*", "a?", "a[", "a\\", "t\x01", "\xc3\xa9"}) {
    auto r = LoadWith({{"COREDB_PLATFORM_CACHE_PREFIX", bad}});
    ASSERT_EQ(r.problems.size(), 1u) << bad;
    EXPECT_NE(r.problems[0].find("COREDB_PLATFORM_CACHE_PREFIX"), std::string::npos);
  }
  EXPECT_FALSE(LoadWith({{"COREDB_PLATFORM_CACHE_PREFIX", std::string(65, 'p')}}).ok());
}

TEST(Config, EveryProblemIsReportedOnItsOwnLine) {
  auto r = LoadWith({{"PORT", "http"}, {"PG_POOL_SIZE", "0"}, {"REDIS_URL", "rediss://x"}, {"LOG_LEVEL", "verbose"},
                     {"PG_SSL", "maybe"}, {"COREDB_ADMIN_TOKEN", "short"}, {"DATABASE_URL", "mysql://x"}});
  ASSERT_EQ(r.problems.size(), 7u);
  for (const auto& p : r.problems) EXPECT_EQ(p.find('\n'), std::string::npos);
  EXPECT_EQ(r.problems[0], "PORT must be an integer in 0..65535 (got \"http\")");
}

LoadResult LoadWithNames(std::map<std::string, std::string> vars) {
  std::vector<std::string> names;
  for (const auto& [name, value] : vars) names.push_back(name);
  return Load(
      [&](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
      },
      names);
}

TEST(Config, BreakerSettingsPerBackend) {
  auto r = LoadWithNames({{"BREAKER_POSTGRESQL_RESET_TIMEOUT_MS", "750"},
                          {"BREAKER_POSTGRESQL_VOLUME_THRESHOLD", "3"},
                          {"BREAKER_VECTOR_TIMEOUT_MS", "5000"},
                          {"BREAKER_REDIS_ERROR_THRESHOLD_PERCENT", "25"}});
  ASSERT_TRUE(r.ok()) << r.problems[0];
  EXPECT_EQ(r.config.breaker_postgresql.reset_timeout.count(), 750);
  EXPECT_EQ(r.config.breaker_postgresql.volume_threshold, 3u);
  EXPECT_EQ(r.config.breaker_postgresql.error_threshold_percent, 50u);
  EXPECT_EQ(r.config.breaker_vector.timeout.count(), 5000);
  EXPECT_EQ(r.config.breaker_redis.error_threshold_percent, 25u);
  EXPECT_EQ(r.config.breaker_redis.reset_timeout.count(), 1000);
}

TEST(Config, UnknownOrInvalidBreakerSettingsAreStartUpErrorsNamingTheVariable) {
  auto unknown = LoadWithNames({{"BREAKER_POSTGRES_TIMEOUT_MS", "100"}});
  ASSERT_EQ(unknown.problems.size(), 1u);
  EXPECT_EQ(unknown.problems[0].rfind("BREAKER_POSTGRES_TIMEOUT_MS is not a breaker setting", 0), 0u);
  auto misspelt = LoadWithNames({{"BREAKER_REDIS_RESET_TIMEOUT", "100"}});
  ASSERT_EQ(misspelt.problems.size(), 1u);
  EXPECT_NE(misspelt.problems[0].find("BREAKER_REDIS_RESET_TIMEOUT"), std::string::npos);
  auto invalid = LoadWithNames({{"BREAKER_VECTOR_ERROR_THRESHOLD_PERCENT", "150"}});
  ASSERT_EQ(invalid.problems.size(), 1u);
  EXPECT_EQ(invalid.problems[0], "BREAKER_VECTOR_ERROR_THRESHOLD_PERCENT must be an integer in 1..100 (got \"150\")");
  auto window = LoadWithNames({{"BREAKER_REDIS_ROLLING_WINDOW_MS", "100"}, {"BREAKER_REDIS_ROLLING_BUCKETS", "500"}});
  EXPECT_EQ(window.problems.size(), 1u);
}

TEST(Config, MetricsTokenAndDrainDelay) {
  auto r = LoadWith({{"METRICS_TOKEN", "scrape-token-0123456789"}, {"SHUTDOWN_DRAIN_DELAY", "1500"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.config.metrics_token, "scrape-token-0123456789");
  EXPECT_EQ(r.config.http.shutdown_drain_delay.count(), 1500);
  EXPECT_FALSE(LoadWith({{"METRICS_TOKEN", "short"}}).ok());
}

TEST(Config, AuthThrottleSettings) {
  auto defaults = LoadWith({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config.http.auth_failure_limit, 20u);
  EXPECT_EQ(defaults.config.http.auth_failure_window, std::chrono::milliseconds(10000));
  EXPECT_TRUE(defaults.config.http.trusted_proxies.empty());

  auto r = LoadWith({{"AUTH_FAILURE_LIMIT", "0"}, {"AUTH_FAILURE_WINDOW", "60000"},
                     {"TRUSTED_PROXIES", " 10.0.0.0/8 , fd00::/8,,192.168.0.1 "}});
  ASSERT_TRUE(r.ok()) << r.problems[0];
  EXPECT_EQ(r.config.http.auth_failure_limit, 0u);
  EXPECT_EQ(r.config.http.auth_failure_window, std::chrono::milliseconds(60000));
  EXPECT_EQ(r.config.http.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "fd00::/8", "192.168.0.1"}));

  auto bad = LoadWith({{"TRUSTED_PROXIES", "10.0.0.0/8, proxy.example"}, {"AUTH_FAILURE_LIMIT", "-1"}});
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_NE(bad.problems[0].find("AUTH_FAILURE_LIMIT"), std::string::npos) << bad.problems[0];
  EXPECT_NE(bad.problems[1].find("TRUSTED_PROXIES"), std::string::npos) << bad.problems[1];
  EXPECT_NE(bad.problems[1].find("proxy.example"), std::string::npos) << bad.problems[1];
}

}  // namespace
}  // namespace coredb::config

namespace coredb::config {
namespace {

TEST(Config, SecuritySettingsOfIssue6) {
  auto defaults = LoadWith({});
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config.http.max_concurrent_per_client, 256u);
  EXPECT_TRUE(defaults.config.http.tls_cert_file.empty());

  auto r = LoadWith({{"MAX_CONCURRENT_PER_CLIENT", "0"}, {"TLS_CERT", "/c.pem"}, {"TLS_KEY", "/k.pem"},
                     {"DATABASE_URL", "postgresql://u@h/d"}, {"PG_SSL", "verify-full"},
                     {"PG_SSL_ROOT_CERT", "/etc/ssl/my ca.pem"}});
  ASSERT_TRUE(r.ok()) << r.problems[0];
  EXPECT_EQ(r.config.http.max_concurrent_per_client, 0u);
  EXPECT_EQ(r.config.http.tls_cert_file, "/c.pem");
  EXPECT_EQ(r.config.http.tls_key_file, "/k.pem");
  EXPECT_EQ(r.config.postgres.conninfo, "postgresql://u@h/d?sslmode=verify-full&sslrootcert=/etc/ssl/my%20ca.pem");

  auto discrete = LoadWith({{"PG_HOST", "h"}, {"PG_SSL_ROOT_CERT", "/ca.pem"}});
  ASSERT_TRUE(discrete.ok());
  EXPECT_NE(discrete.config.postgres.conninfo.find(" sslrootcert='/ca.pem'"), std::string::npos)
      << discrete.config.postgres.conninfo;

  auto half = LoadWith({{"TLS_CERT", "/c.pem"}, {"MAX_CONCURRENT_PER_CLIENT", "-1"}});
  ASSERT_EQ(half.problems.size(), 2u);
  EXPECT_NE(half.problems[0].find("MAX_CONCURRENT_PER_CLIENT"), std::string::npos) << half.problems[0];
  EXPECT_NE(half.problems[1].find("TLS_CERT and TLS_KEY"), std::string::npos) << half.problems[1];
}

}  // namespace
}  // namespace coredb::config
