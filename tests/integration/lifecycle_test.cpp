// Black-box tests of health probes, backend failures, pool exhaustion, configuration errors
// and graceful shutdown.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <future>
#include <sys/wait.h>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `url` until it answers `status` or `timeout` passes; returns the time it took.
std::optional<std::chrono::milliseconds> WaitForStatus(ServiceProcess& svc, const std::string& url, unsigned status,
                                                       std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  while (Clock::now() - start < timeout) {
    if (svc.Get(url).status == status) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    }
    std::this_thread::sleep_for(50ms);
  }
  return std::nullopt;
}

TEST(Health, ReportsEveryBackendUp) {
  ServiceProcess svc;
  ASSERT_TRUE(WaitForStatus(svc, "/health", 200, 5s)) << svc.Get("/health").body;
  auto h = svc.Get("/health");
  EXPECT_EQ(h.json.at("status"), "ok");
  EXPECT_EQ(h.json.at("services"), json::parse(R"({"database":true,"redis":true,"vector":true})"));
  EXPECT_TRUE(h.json.at("timestamp").is_string());
  auto ready = svc.Get("/health/ready");
  EXPECT_EQ(ready.status, 200u);
  EXPECT_EQ(ready.json.at("ready"), true);
  auto live = svc.Get("/health/live");
  EXPECT_EQ(live.json.at("alive"), true);
}

TEST(Health, PostgresDownTurns503WithinTwoSecondsAndRecovers) {
  ServiceProcess svc;
  ASSERT_TRUE(WaitForStatus(svc, "/health", 200, 5s));
  Devstack("pg-kill");
  auto down = WaitForStatus(svc, "/health", 503, 5s);
  auto ready_down = svc.Get("/health/ready");
  auto h = svc.Get("/health");
  // A query now fails cleanly with 503, never hangs or crashes.
  auto q = svc.Query({{"sql", "SELECT 1"}, {"timeout", 2000}});
  Devstack("pg-start");
  ASSERT_TRUE(down.has_value());
  EXPECT_LE(down->count(), 2000);
  EXPECT_EQ(ready_down.status, 503u);
  EXPECT_EQ(h.json.at("status"), "degraded");
  EXPECT_EQ(h.json.at("services").at("database"), false);
  EXPECT_EQ(q.status, 503u) << q.body;
  EXPECT_EQ(q.ErrorCode(), "DATABASE_UNAVAILABLE");
  auto up = WaitForStatus(svc, "/health", 200, 10s);
  ASSERT_TRUE(up.has_value());
  EXPECT_LE(up->count(), 3000);
  EXPECT_EQ(svc.Query({{"sql", "SELECT 1"}}).status, 200u);
}

TEST(Health, RedisDownTurns503AndSqlKeepsWorking) {
  ServiceProcess svc;
  ASSERT_TRUE(WaitForStatus(svc, "/health", 200, 5s));
  Devstack("redis-kill");
  auto down = WaitForStatus(svc, "/health", 503, 5s);
  auto h = svc.Get("/health");
  auto sql = svc.Query({{"sql", "SELECT 1"}});
  auto redis = svc.Query({{"database", "redis"}, {"command", json::array{"PING"}}});
  Devstack("redis-start");
  ASSERT_TRUE(down.has_value());
  EXPECT_LE(down->count(), 2000);
  EXPECT_EQ(h.json.at("services").at("redis"), false);
  EXPECT_EQ(h.json.at("services").at("database"), true);
  EXPECT_EQ(sql.status, 200u);
  EXPECT_EQ(redis.status, 503u);
  EXPECT_EQ(redis.ErrorCode(), "DATABASE_UNAVAILABLE");
  EXPECT_TRUE(WaitForStatus(svc, "/health", 200, 10s).has_value());
}

TEST(Pool, WaiterTimesOutWith503PoolTimeout) {
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "1"}});
  auto busy = std::async(std::launch::async, [&] { return svc.Query({{"sql", "SELECT pg_sleep(1.5)"}}); });
  std::this_thread::sleep_for(300ms);
  auto started = Clock::now();
  auto r = svc.Query({{"sql", "SELECT 1"}, {"timeout", 300}});
  auto waited = Clock::now() - started;
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "POOL_TIMEOUT");
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 1000ms);
  EXPECT_EQ(busy.get().status, 200u);
  EXPECT_EQ(svc.Query({{"sql", "SELECT 1"}}).status, 200u);
}

TEST(Pool, OpensConnectionsLazilyAndNeverMoreThanItsSize) {
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "3"}});
  Psql db(RequireEnv("DATABASE_URL"));
  auto count = [&] {
    return std::stoi(db.Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'coredb' "
                               "AND backend_type = 'client backend'"));
  };
  std::this_thread::sleep_for(1500ms);
  int before = count();  // only the health probe's and the saga sweep's own connections
  EXPECT_LE(before, 2);
  std::vector<std::future<HttpResult>> calls;
  for (int i = 0; i < 10; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return svc.Query({{"sql", "SELECT pg_sleep(0.3)"}}); }));
  }
  std::this_thread::sleep_for(150ms);
  int during = count();
  for (auto& c : calls) EXPECT_EQ(c.get().status, 200u);
  EXPECT_LE(during, 3 + 2);  // pool + health probe + saga sweep
  EXPECT_GE(during, 3);
}

TEST(Shutdown, SigtermFinishesInFlightRequestsThenExitsZero) {
  ServiceProcess svc;
  auto in_flight = std::async(std::launch::async, [&] { return svc.Query({{"sql", "SELECT pg_sleep(1) AS slept"}}); });
  std::this_thread::sleep_for(300ms);
  auto started = Clock::now();
  int code = svc.Terminate(15s);
  auto r = in_flight.get();
  EXPECT_EQ(code, 0) << svc.Output();
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_NE(svc.Output().find("shutting down"), std::string::npos);
}

TEST(Shutdown, DeadlineCancelsWhatIsStillRunning) {
  ServiceProcess svc(ServiceProcess::Env{{"SHUTDOWN_TIMEOUT", "500"}});
  auto in_flight = std::async(std::launch::async, [&] {
    try {
      return svc.Query({{"sql", "SELECT pg_sleep(20) /* it_shutdown_cancel */"}}).status;
    } catch (const std::exception&) {
      return 0u;  // the connection was closed: expected
    }
  });
  std::this_thread::sleep_for(300ms);
  auto started = Clock::now();
  int code = svc.Terminate(15s);
  EXPECT_EQ(code, 0) << svc.Output();
  EXPECT_LT(Clock::now() - started, 5s);
  EXPECT_NE(in_flight.get(), 200u);
  Psql db(RequireEnv("DATABASE_URL"));
  std::string running = "1";
  for (int i = 0; i < 40 && running != "0"; ++i) {
    running = db.Scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%it_shutdown_cancel%' "
                        "AND state = 'active' AND pid <> pg_backend_pid()");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running, "0");
}

struct RunResult {
  int code = -1;
  std::string output;
};

RunResult RunCoredb(const std::string& env_prefix, const std::string& args) {
  std::string cmd = env_prefix + " '" COREDB_BINARY "' " + args + " 2>&1";
  RunResult out;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out.output += buf.data();
  int status = pclose(p);
  out.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(Config, EachProblemIsOneClearLineAndStartupFails) {
  auto r = RunCoredb("env PG_POOL_SIZE=abc REDIS_URL=http://x LOG_LEVEL=loud PORT=99999 COREDB_ADMIN_TOKEN=0123456789abcdef",
                     "serve");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("config: PG_POOL_SIZE must be an integer in 1..1000 (got \"abc\")"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("config: REDIS_URL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config: LOG_LEVEL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config: PORT"), std::string::npos) << r.output;
}

TEST(Config, MissingAdminTokenRefusesToServe) {
  auto r = RunCoredb("env -u COREDB_ADMIN_TOKEN PORT=0", "serve");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("COREDB_ADMIN_TOKEN"), std::string::npos) << r.output;
}

TEST(Config, PasswordsNeverAppearInOutput) {
  auto r = RunCoredb("env DATABASE_URL='postgresql://u:SuperSecret42@127.0.0.1:1/db?connect_timeout=1' "
                     "REDIS_URL='redis://:RedisSecret42@127.0.0.1:1/0' COREDB_ADMIN_TOKEN=0123456789abcdef",
                     "health");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output.find("SuperSecret42"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("RedisSecret42"), std::string::npos) << r.output;
}

TEST(Cli, HealthSubcommandExitsZeroWhenAllUp) {
  auto r = RunCoredb("env COREDB_ADMIN_TOKEN=0123456789abcdef", "health");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("postgresql: up"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace coredb::testing
