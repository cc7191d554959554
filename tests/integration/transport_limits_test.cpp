// Issue 6 items 4 and 5, black-box: PG_SSL against a server without SSL, a Redis ACL user (and a
// wrong password), HTTPS on the listener with a self-signed certificate made by `openssl req`
// here, MAX_CONCURRENT_PER_CLIENT, and DEFAULT_QUERY_TIMEOUT on every SQL path.
#include "support/service_process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Runs a shell command; returns its exit status and fills `out` with stdout+stderr.
int Shell(const std::string& command, std::string* out = nullptr) {
  std::string full = "(" + command + ") 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string text;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
  const int status = pclose(pipe);
  if (out != nullptr) *out = text;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Random(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  return prefix + std::to_string(rng() % 1000000000ULL);
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/coredb_tls_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

// redis://user:password@host:port/db → its parts.
struct RedisUrl {
  std::string user, password, host, port;
  explicit RedisUrl(const std::string& url) {
    std::string rest = url.substr(url.find("://") + 3);
    const auto at = rest.rfind('@');
    if (at != std::string::npos) {
      const std::string credentials = rest.substr(0, at);
      rest = rest.substr(at + 1);
      const auto colon = credentials.find(':');
      user = credentials.substr(0, colon);
      password = colon == std::string::npos ? "" : credentials.substr(colon + 1);
    }
    rest = rest.substr(0, rest.find('/'));
    host = rest.substr(0, rest.find(':'));
    port = rest.substr(rest.find(':') + 1);
  }
  std::string Cli() const {
    return "redis-cli --no-auth-warning -h " + host + " -p " + port + " --user '" + (user.empty() ? "default" : user) +
           "' --pass '" + password + "' ";
  }
};

std::string PasswordOf(const std::string& database_url) {
  const auto scheme = database_url.find("://");
  const auto at = database_url.find('@');
  const std::string credentials = database_url.substr(scheme + 3, at - scheme - 3);
  const auto colon = credentials.find(':');
  return colon == std::string::npos ? "" : credentials.substr(colon + 1);
}

TEST(Transport, PgSslRequireAgainstAServerWithoutSslStopsTheStartUpWithAClearError) {
  const std::string password = PasswordOf(RequireEnv("DATABASE_URL"));
  ASSERT_FALSE(password.empty());
  std::string output;
  try {
    ServiceProcess svc(ServiceProcess::Env{{"PG_SSL", "require"}});
    FAIL() << "the service started although PostgreSQL cannot do SSL";
  } catch (const std::runtime_error& e) {
    output = e.what();
  }
  EXPECT_NE(output.find("postgresql refused the connection settings"), std::string::npos) << output;
  EXPECT_NE(output.find("SSL"), std::string::npos) << output;
  EXPECT_EQ(output.find(password), std::string::npos) << "the password was logged";
}

TEST(Transport, RedisAclUserWorksAndAWrongPasswordIsReportedWithoutLeakingIt) {
  const RedisUrl admin(RequireEnv("REDIS_URL"));
  const std::string user = Random("coredb_acl_");
  const std::string password = Random("pw_") + Random("x");
  std::string out;
  ASSERT_EQ(Shell(admin.Cli() + "ACL SETUSER " + user + " on '>" + password + "' '~*' '&*' '+@all'", &out), 0) << out;
  {
    ServiceProcess svc({{"REDIS_URL", "redis://" + user + ":" + password + "@" + admin.host + ":" + admin.port + "/0"}});
    auto set = svc.Query({{"database", "redis"}, {"command", {"SET", user, "1"}}});
    EXPECT_EQ(set.status, 200u) << set.body;
    // /health reports what its background probe saw last: poll it.
    HttpResult health;
    for (int i = 0; i < 50; ++i) {
      health = svc.Get("/health");
      if (health.status == 200) break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(health.json.at("services").at("redis"), json::value(true)) << health.body;
    EXPECT_EQ(Shell(admin.Cli() + "DEL " + user, &out), 0) << out;
    EXPECT_EQ(svc.Output().find(password), std::string::npos) << "the password was logged";
  }
  {
    const std::string wrong = password + "wrong";
    ServiceProcess svc(
        {{"REDIS_URL", "redis://" + user + ":" + wrong + "@" + admin.host + ":" + admin.port + "/0"}});
    // The service starts without Redis (it is optional for correctness) and says so.
    ASSERT_TRUE(svc.WaitForOutput("WRONGPASS", 5s)) << svc.Output();
    const HttpResult health = svc.Get("/health");
    EXPECT_EQ(health.json.at("status"), "degraded") << health.body;
    EXPECT_EQ(health.json.at("services").at("redis"), json::value(false)) << health.body;
    const std::string logs = svc.Output();
    EXPECT_EQ(logs.find(wrong), std::string::npos) << "the password was logged";
  }
  Shell(admin.Cli() + "ACL DELUSER " + user);
}

TEST(Transport, HttpsWithASelfSignedCertificateAndPlainHttpRefused) {
  TempDir dir;
  const std::string cert = dir.path + "/cert.pem", key = dir.path + "/key.pem";
  std::string out;
  ASSERT_EQ(Shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
                  "subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert, &out), 0) << out;
  ServiceProcess svc({{"TLS_CERT", cert}, {"TLS_KEY", key}});
  const std::string port = std::to_string(svc.port());
  // Verified against the certificate itself (the client trusts exactly it).
  ASSERT_EQ(Shell("curl -sS --max-time 10 --cacert " + cert + " https://127.0.0.1:" + port + "/health/live", &out), 0)
      << out;
  EXPECT_NE(out.find("\"alive\""), std::string::npos) << out;
  ASSERT_EQ(Shell("curl -sS --max-time 10 --cacert " + cert + " -H 'Authorization: Bearer " + svc.admin_token() +
                      "' -H 'Content-Type: application/json' -d '{\"sql\":\"SELECT 1 AS one\"}' https://127.0.0.1:" +
                      port + "/api/v1/query",
                  &out),
            0)
      << out;
  EXPECT_NE(out.find("\"one\":1"), std::string::npos) << out;
  // A client that does not trust it fails the handshake.
  EXPECT_NE(Shell("curl -sS --max-time 10 https://127.0.0.1:" + port + "/health/live", &out), 0) << out;
  // Plain HTTP on the TLS port gets no HTTP answer.
  const int plain = Shell("curl -sS --max-time 15 -o /dev/null -w '%{http_code}' http://127.0.0.1:" + port +
                              "/health/live",
                          &out);
  EXPECT_TRUE(plain != 0 || out.find("000") != std::string::npos) << out;
  // The service is still fine afterwards.
  ASSERT_EQ(Shell("curl -sS --max-time 10 --cacert " + cert + " https://127.0.0.1:" + port + "/health/live", &out), 0)
      << out;
}

TEST(Transport, MismatchedTlsFilesStopTheStartUp) {
  TempDir dir;
  std::string out;
  ASSERT_EQ(Shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=a -keyout " + dir.path +
                  "/a.key -out " + dir.path + "/a.pem && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
                  "/CN=b -keyout " + dir.path + "/b.key -out " + dir.path + "/b.pem", &out), 0) << out;
  try {
    ServiceProcess svc({{"TLS_CERT", dir.path + "/a.pem"}, {"TLS_KEY", dir.path + "/b.key"}});
    FAIL() << "started with a key that does not match the certificate";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("TLS_KEY"), std::string::npos) << e.what();
  }
}

TEST(Limits, ConcurrentRequestsPerClientAreBoundedWith429AndRetryAfter) {
  ServiceProcess svc(ServiceProcess::Env{{"MAX_CONCURRENT_PER_CLIENT", "2"}});
  std::vector<HttpResult> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = svc.Query({{"sql", "SELECT pg_sleep(2)"}}); });
  }
  for (auto& t : threads) t.join();
  int ok = 0, limited = 0;
  for (const auto& r : results) {
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.ErrorCode(), "RATE_LIMITED") << r.body;
      EXPECT_EQ(r.Header("retry-after"), "1");
    }
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(limited, 2);
  // The slots come back.
  EXPECT_EQ(svc.Query({{"sql", "SELECT 1"}}).status, 200u);
}

TEST(Limits, DefaultQueryTimeoutBoundsEveryPathWithoutATimeout) {
  ServiceProcess svc(ServiceProcess::Env{{"DEFAULT_QUERY_TIMEOUT", "300"}});
  const std::string sleep = "SELECT pg_sleep(5)";
  auto one = svc.Query({{"sql", sleep}});
  EXPECT_EQ(one.status, 504u) << one.body;
  auto batch = svc.Post("/api/v1/query/batch", {{"queries", {{{"sql", sleep}}}}});
  EXPECT_EQ(batch.status, 504u) << batch.body;
  auto lease = svc.Post("/api/v1/connections/acquire", {{"database", "postgresql"}});
  ASSERT_EQ(lease.status, 200u) << lease.body;
  const json::value id = lease.json.at("connectionId");
  auto on_lease = svc.Query({{"sql", sleep}, {"connectionId", id}});
  EXPECT_EQ(on_lease.status, 504u) << on_lease.body;
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 200u);
  auto tx = svc.Post("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(tx.status, 200u) << tx.body;
  auto in_tx = svc.Query({{"sql", sleep}, {"transactionId", tx.json.at("transactionId")}});
  EXPECT_EQ(in_tx.status, 504u) << in_tx.body;
  svc.Post("/api/v1/transaction/rollback", {{"transactionId", tx.json.at("transactionId")}});
  // A saga step without `timeout`: failed by the statement timeout.
  auto saga = svc.Request("POST", "/api/v1/sagas",
                          json::serialize(json::object{
                              {"steps", {{{"name", "slow"}, {"action", {{"sql", sleep}}}, {"compensation", nullptr}}}}}),
                          {{"Content-Type", "application/json"}});
  EXPECT_NE(saga.body.find("timeout"), std::string::npos) << saga.body;
  EXPECT_NE(saga.status, 200u) << saga.body;
  // The connections are usable afterwards.
  EXPECT_EQ(svc.Query({{"sql", "SELECT 1"}}).status, 200u);
}

}  // namespace
}  // namespace coredb::testing
