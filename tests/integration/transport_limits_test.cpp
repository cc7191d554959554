// Issue 6 items 4 and 5, black-box: PG_SSL against the dev stack's SSL PostgreSQL (verify-full,
// verify-ca, require; a wrong host name or CA stops the start-up), a Redis ACL user (and a wrong
// password), HTTPS on the listener with a self-signed certificate made by `openssl req` here,
// MAX_CONCURRENT_PER_CLIENT, and DEFAULT_QUERY_TIMEOUT on every SQL path.
#include "support/clients.hpp"
#include "support/run_command.hpp"
#include "support/service_process.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
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

// DATABASE_URL (postgresql://user:password@127.0.0.1:port/db?sslmode=disable) with another host
// and without its query: the SSL settings then come from PG_SSL / PG_SSL_ROOT_CERT alone.
std::string PgUrlWithHost(const std::string& host) {
  std::string url = RequireEnv("DATABASE_URL");
  url = url.substr(0, url.find('?'));
  const auto at = url.rfind('@');
  const auto port = url.find(':', at);
  return url.substr(0, at + 1) + host + url.substr(port);
}

std::string PgPortOf(const std::string& database_url) {
  const auto at = database_url.rfind('@');
  const auto colon = database_url.find(':', at);
  return database_url.substr(colon + 1, database_url.find('/', colon) - colon - 1);
}

// What PostgreSQL says about the service's own backend: pg_stat_ssl for pg_backend_pid().
void ExpectTheServiceQueriesOverSsl(ServiceProcess& svc) {
  auto r = svc.Query({{"sql", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.json.at("rowCount"), json::value(1)) << r.body;
  EXPECT_EQ(r.json.at("rows").at(0).at("ssl"), json::value(true)) << r.body;
  EXPECT_NE(json::serialize(r.json.at("rows").at(0).at("version")).find("TLS"), std::string::npos) << r.body;
}

// Every PostgreSQL connection the service process holds (found by `ss -p` on the client side:
// pool, clients table, health probe), as PostgreSQL sees it: all of them encrypted.
void ExpectEveryBackendOfTheServiceIsEncrypted(ServiceProcess& svc) {
  const std::string pg_port = PgPortOf(RequireEnv("DATABASE_URL"));
  std::string out;
  ASSERT_EQ(Shell("ss -Htnp state established '( dport = :" + pg_port + " )'", &out), 0) << out;
  std::vector<std::string> ports;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("pid=" + std::to_string(svc.pid()) + ",") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string recv_q, send_q, local;
    fields >> recv_q >> send_q >> local;
    ports.push_back(local.substr(local.rfind(':') + 1));
  }
  ASSERT_FALSE(ports.empty()) << "no PostgreSQL connection of pid " << svc.pid() << " in:\n" << out;
  std::string list;
  for (const auto& p : ports) list += (list.empty() ? "" : ",") + p;
  Psql super(RequireEnv("PG_SUPERUSER_URL"));
  const auto rows = super.Exec(
      "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) "
      "WHERE a.client_addr = '127.0.0.1' AND a.client_port IN (" + list + ")");
  EXPECT_EQ(rows.at(0).at(0), std::to_string(ports.size())) << "ports " << list;
  EXPECT_EQ(rows.at(0).at(1), rows.at(0).at(0)) << "unencrypted backends among ports " << list;
}

TEST(Transport, PgSslVerifyFullWithTheDevStackCaAndHostLocalhostEncryptsEveryConnection) {
  const std::string password = PasswordOf(RequireEnv("DATABASE_URL"));
  ServiceProcess svc({{"DATABASE_URL", PgUrlWithHost("localhost")},
                      {"PG_SSL", "verify-full"},
                      {"PG_SSL_ROOT_CERT", RequireEnv("PG_SSL_CA")}});
  ExpectTheServiceQueriesOverSsl(svc);
  ExpectEveryBackendOfTheServiceIsEncrypted(svc);
  EXPECT_EQ(svc.Output().find(password), std::string::npos) << "the password was logged";
}

TEST(Transport, PgSslVerifyCaChecksTheCaButNotTheHostName) {
  ServiceProcess svc({{"DATABASE_URL", PgUrlWithHost("127.0.0.1")},
                      {"PG_SSL", "verify-ca"},
                      {"PG_SSL_ROOT_CERT", RequireEnv("PG_SSL_CA")}});
  ExpectTheServiceQueriesOverSsl(svc);
}

// PG_SSL and PG_SSL_ROOT_CERT are appended to DATABASE_URL, and libpq takes the last value:
// PG_SSL=require wins over the URL's own sslmode=disable.
TEST(Transport, PgSslRequireWinsOverTheUrlsSslmodeDisable) {
  const std::string url = RequireEnv("DATABASE_URL");
  ASSERT_NE(url.find("sslmode=disable"), std::string::npos) << "the dev stack's URL changed";
  ServiceProcess svc(ServiceProcess::Env{{"PG_SSL", "require"}});
  ExpectTheServiceQueriesOverSsl(svc);
  ExpectEveryBackendOfTheServiceIsEncrypted(svc);
  EXPECT_EQ(svc.Output().find(PasswordOf(url)), std::string::npos) << "the password was logged";
}

// `coredb serve` that should not start: its exit code and output (bounded: a service that does
// start is killed after 30 s, code -1).
CommandResult ServeExpectingRefusal(const std::string& database_url, const std::string& sslmode,
                                    const std::string& root_cert) {
  CommandEnv env;
  env.set = {{"DATABASE_URL", database_url},
             {"PG_SSL", sslmode},
             {"PG_SSL_ROOT_CERT", root_cert},
             {"PORT", "0"},
             {"HOST", "127.0.0.1"},
             {"COREDB_ADMIN_TOKEN", Random("admin-token-") + Random("-")}};
  return RunCoredbCommand({"serve"}, env, 30s);
}

TEST(Transport, PgSslVerifyFullAgainstAnIpAddressTheCertificateDoesNotNameStopsTheStartUp) {
  const std::string password = PasswordOf(RequireEnv("DATABASE_URL"));
  ASSERT_FALSE(password.empty());
  // The dev stack's certificate names DNS:localhost only; its CA is the right one.
  const auto r = ServeExpectingRefusal(PgUrlWithHost("127.0.0.1"), "verify-full", RequireEnv("PG_SSL_CA"));
  EXPECT_EQ(r.code, 1) << r.All();
  EXPECT_NE(r.All().find("postgresql refused the connection settings"), std::string::npos) << r.All();
  EXPECT_NE(r.All().find("does not match host name"), std::string::npos) << r.All();
  EXPECT_EQ(r.All().find("\"msg\":\"listening\""), std::string::npos) << r.All();
  EXPECT_EQ(r.All().find(password), std::string::npos) << "the password was logged";
}

TEST(Transport, PgSslVerifyFullWithACaThatDidNotSignTheCertificateStopsTheStartUp) {
  const std::string password = PasswordOf(RequireEnv("DATABASE_URL"));
  ASSERT_FALSE(password.empty());
  TempDir dir;
  const std::string other_ca = dir.path + "/other-ca.pem";
  std::string out;
  ASSERT_EQ(Shell("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                  "-subj '/CN=not the dev stack CA' -keyout " + dir.path + "/other-ca.key -out " + other_ca, &out), 0)
      << out;
  for (const std::string& mode : {std::string("verify-full"), std::string("verify-ca")}) {
    const auto r = ServeExpectingRefusal(PgUrlWithHost("localhost"), mode, other_ca);
    EXPECT_EQ(r.code, 1) << mode << ": " << r.All();
    EXPECT_NE(r.All().find("postgresql refused the connection settings"), std::string::npos) << r.All();
    EXPECT_NE(r.All().find("certificate verify failed"), std::string::npos) << r.All();
    EXPECT_EQ(r.All().find("\"msg\":\"listening\""), std::string::npos) << r.All();
    EXPECT_EQ(r.All().find(password), std::string::npos) << "the password was logged";
  }
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
  // The saga step below needs the saga log (migration 2): do not rely on an earlier test having
  // migrated the stack's database (CTest reorders tests by their last run's durations).
  EnsureMigrated(svc);
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
