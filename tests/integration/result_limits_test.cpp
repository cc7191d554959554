// MAX_RESULT_BYTES, black-box: results are read row by row, and the row that takes the response
// past the limit stops the reading — 413, the statement cancelled on the server, the service's
// memory untouched by the rest — on every path that runs caller SQL (one-shot, batch atomic and
// not, transaction, cached read).
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::size_t kLimit = 1 << 20;

// 1 KB rows from a series of 50 million: 50 GB if it were read whole, which at any realistic
// speed outlasts the statement timeout many times over; a 413 at all proves the reading stopped.
// (In the select list the series streams; in FROM it would be materialised first, for seconds.)
std::string HugeSql(const std::string& marker) {
  return "SELECT /* " + marker + " */ generate_series(1, 50000000) AS g, repeat('x', 1000) AS pad";
}

std::string Marker() {
  std::random_device rd;
  return "huge_" + std::to_string(rd()) + std::to_string(rd());
}

// The peak resident memory of a process, in KiB (VmHWM).
long PeakRssKib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class ResultLimits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A small pool, so that the connection that ran (and cancelled) a huge statement is the one
    // the next requests get.
    service_ = new ServiceProcess(ServiceProcess::Env{{"MAX_RESULT_BYTES", std::to_string(kLimit)},
                                                      {"PG_POOL_SIZE", "2"},
                                                      {"DEFAULT_QUERY_TIMEOUT", "30000"}});
  }
  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
  }
  void TearDown() override {
    // Whatever a test did: no statement left running, and the pool serves again.
    Psql db(RequireEnv("PG_SUPERUSER_URL"));
    EXPECT_TRUE(NothingRunning(db, "huge_")) << "a huge statement is still running on the server";
    for (int i = 0; i < 4; ++i) {
      auto r = svc().Query({{"sql", "SELECT 1 AS one"}});
      EXPECT_EQ(r.status, 200u) << r.body;
    }
  }
  static ServiceProcess& svc() { return *service_; }

  // True once no active statement's text contains `marker` (polled for up to 5 s: the cancel
  // travels on its own connection).
  static bool NothingRunning(Psql& db, const std::string& marker) {
    for (int i = 0; i < 50; ++i) {
      const std::string n = db.Scalar(
          "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() "
          "AND query LIKE '%" +
          marker + "%'");
      if (n == "0") return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  static std::string Table() {
    const std::string name = "rl_" + Marker().substr(5, 12);
    auto r = svc().Query({{"sql", "CREATE TABLE " + name + " (id int)"}});
    EXPECT_EQ(r.status, 200u) << r.body;
    return name;
  }
  static std::string Ids(const std::string& table) {
    auto r = svc().Query({{"sql", "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') AS ids FROM " + table},
                          {"rowMode", "array"}});
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.status == 200u ? std::string(r.json.at("rows").at(0).at(0).as_string()) : "?";
  }

  static ServiceProcess* service_;
};
ServiceProcess* ResultLimits::service_ = nullptr;

TEST_F(ResultLimits, AHugeResultStopsAt413CancelledWithoutCostingItsMemory) {
  const std::string marker = Marker();
  const long before = PeakRssKib(svc().pid());
  ASSERT_GT(before, 0);
  auto r = svc().Query({{"sql", HugeSql(marker)}});
  ASSERT_EQ(r.status, 413u) << r.body.substr(0, 300);
  EXPECT_EQ(r.ErrorCode(), "PAYLOAD_TOO_LARGE");
  const std::string message(r.json.at("error").at("message").as_string());
  EXPECT_NE(message.find("MAX_RESULT_BYTES (1048576 bytes)"), std::string::npos) << message;
  EXPECT_NE(message.find("cancelled"), std::string::npos) << message;
  Psql db(RequireEnv("PG_SUPERUSER_URL"));
  EXPECT_TRUE(NothingRunning(db, marker)) << "the statement still runs on the server";
  // What the service held for it: about the limit, not the result (50 GB) or even 64 MB of it.
  const long after = PeakRssKib(svc().pid());
  EXPECT_LT(after - before, 64 * 1024) << "peak RSS grew from " << before << " KiB to " << after << " KiB";
}

TEST_F(ResultLimits, UpToTheLimitEveryRowArrivesInOrderInBothRowModes) {
  auto objects = svc().Query({{"sql", "SELECT g, md5(g::text) AS h, NULL::int AS n FROM generate_series(1, 5000) g"}});
  ASSERT_EQ(objects.status, 200u) << objects.body.substr(0, 300);
  EXPECT_EQ(objects.json.at("rowCount"), 5000);
  const auto& rows = objects.json.at("rows").as_array();
  ASSERT_EQ(rows.size(), 5000u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].at("g"), static_cast<std::int64_t>(i + 1)) << i;
    ASSERT_EQ(rows[i].at("n"), nullptr) << i;
  }
  EXPECT_EQ(rows[0].at("h"), "c4ca4238a0b923820dcc509a6f75849b");
  EXPECT_EQ(objects.json.at("fields").as_array().size(), 3u);

  auto arrays = svc().Query({{"sql", "SELECT g, g * 2 AS d FROM generate_series(1, 3) g"}, {"rowMode", "array"}});
  ASSERT_EQ(arrays.status, 200u) << arrays.body;
  EXPECT_EQ(arrays.json.at("rows"), json::parse("[[1,2],[2,4],[3,6]]"));
  auto none = svc().Query({{"sql", "SELECT g FROM generate_series(1, 0) g"}});
  ASSERT_EQ(none.status, 200u) << none.body;
  EXPECT_EQ(none.json.at("rows"), json::array{});
  EXPECT_EQ(none.json.at("fields").as_array().size(), 1u);
}

TEST_F(ResultLimits, AnErrorAfterSomeRowsAnswersTheErrorAlone) {
  auto r = svc().Query({{"sql", "SELECT 10 / (5 - g) AS q FROM generate_series(1, 10) g"}});
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.json.at("error").at("sqlstate"), "22012") << r.body;
  EXPECT_FALSE(r.json.as_object().contains("rows")) << r.body;
}

TEST_F(ResultLimits, AnAtomicBatchOverTheLimitKeepsNothing) {
  const std::string table = Table();
  const std::string marker = Marker();
  json::array queries{json::object{{"sql", "INSERT INTO " + table + " VALUES (1)"}},
                      json::object{{"sql", HugeSql(marker)}},
                      json::object{{"sql", "INSERT INTO " + table + " VALUES (2)"}}};
  auto r = svc().Post("/api/v1/query/batch", {{"queries", queries}});
  ASSERT_EQ(r.status, 413u) << r.body.substr(0, 300);
  EXPECT_EQ(r.json.at("error").at("failedIndex"), 1) << r.body;
  EXPECT_NE(std::string(r.json.at("error").at("message").as_string()).find("at queries[1]"), std::string::npos)
      << r.body;
  EXPECT_EQ(Ids(table), "");
}

TEST_F(ResultLimits, ANonAtomicBatchReportsTheEntriesOverTheLimitAndKeepsTheOthers) {
  const std::string table = Table();
  const std::string marker = Marker();
  json::array queries{json::object{{"sql", "INSERT INTO " + table + " VALUES (1)"}},
                      json::object{{"sql", HugeSql(marker)}},
                      json::object{{"sql", "INSERT INTO " + table + " VALUES (2)"}},
                      json::object{{"sql", "SELECT 1 AS one"}}};
  auto r = svc().Post("/api/v1/query/batch", {{"queries", queries}, {"atomic", false}});
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 600);
  const auto& results = r.json.at("results").as_array();
  ASSERT_EQ(results.size(), 4u);
  auto code = [](const json::value& entry) -> std::string {
    const auto* error = entry.as_object().if_contains("error");
    return error != nullptr ? std::string(error->at("code").as_string()) : "(none)";
  };
  EXPECT_EQ(results[0].as_object().if_contains("rowCount") ? results[0].at("rowCount") : nullptr, 1) << r.body;
  EXPECT_EQ(code(results[1]), "PAYLOAD_TOO_LARGE") << r.body;
  EXPECT_EQ(results[2].as_object().if_contains("rowCount") ? results[2].at("rowCount") : nullptr, 1) << r.body;
  // No budget is left for later rows: the response never grows past the limit.
  EXPECT_EQ(code(results[3]), "PAYLOAD_TOO_LARGE") << r.body;
  EXPECT_EQ(Ids(table), "1,2");
}

TEST_F(ResultLimits, InATransactionA413FailsTheTransactionLikeAnyFailedStatement) {
  const std::string table = Table();
  auto begun = svc().Post("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const std::string tx(begun.json.at("transactionId").as_string());
  auto insert = svc().Query({{"sql", "INSERT INTO " + table + " VALUES (1)"}, {"transactionId", tx}});
  ASSERT_EQ(insert.status, 200u) << insert.body;
  const std::string marker = Marker();
  auto huge = svc().Query({{"sql", HugeSql(marker)}, {"transactionId", tx}});
  ASSERT_EQ(huge.status, 413u) << huge.body.substr(0, 300);
  auto after = svc().Query({{"sql", "SELECT 1"}, {"transactionId", tx}});
  EXPECT_NE(after.status, 200u) << "the transaction went on after a cancelled statement: " << after.body;
  auto rolled_back = svc().Post("/api/v1/transaction/rollback", {{"transactionId", tx}});
  EXPECT_EQ(rolled_back.status, 200u) << rolled_back.body;
  EXPECT_EQ(Ids(table), "");
}

TEST_F(ResultLimits, ACachedReadOverTheLimitIs413AndNothingIsCached) {
  const std::string marker = Marker();
  const std::string key = "rl:" + marker;
  auto r = svc().Query({{"sql", HugeSql(marker)}, {"cache", {{"ttl", 60}, {"key", key}}}});
  ASSERT_EQ(r.status, 413u) << r.body.substr(0, 300);
  auto cached = svc().Get("/api/v1/cache/" + key);
  EXPECT_EQ(cached.status, 404u) << cached.body.substr(0, 300);
}

}  // namespace
}  // namespace coredb::testing
