// Black-box tests of interactive transactions and batches (API.md "Transactions", "Queries"
// batch) against the built binary and the real dev stack.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class Transactions : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = std::make_unique<Psql>(RequireEnv("DATABASE_URL"));
    app_->Exec("CREATE TABLE IF NOT EXISTS tx_items (id int PRIMARY KEY, note text)");
    app_->Exec("TRUNCATE tx_items");
  }
  std::string Count() { return app_->Scalar("SELECT count(*) FROM tx_items"); }

  json::object Begin(ServiceProcess& svc, json::object body = {}) {
    auto r = svc.Post("/api/v1/transaction/begin", body);
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.json.is_object() ? r.json.as_object() : json::object{};
  }
  static std::string Tx(const json::object& begun) {
    return begun.contains("transactionId") ? std::string(begun.at("transactionId").as_string()) : "";
  }
  static HttpResult InTx(ServiceProcess& svc, const std::string& tx, const std::string& sql, json::array params = {}) {
    return svc.Query({{"sql", sql}, {"params", params}, {"transactionId", tx}});
  }
  static HttpResult Commit(ServiceProcess& svc, const std::string& tx) {
    return svc.Post("/api/v1/transaction/commit", {{"transactionId", tx}});
  }
  static HttpResult Rollback(ServiceProcess& svc, const std::string& tx) {
    return svc.Post("/api/v1/transaction/rollback", {{"transactionId", tx}});
  }

  std::unique_ptr<Psql> app_;
};

TEST_F(Transactions, CommitMakesRowsVisibleOnlyThen) {
  ServiceProcess svc;
  auto begun = Begin(svc);
  const std::string tx = Tx(begun);
  for (const char* key : {"transactionId", "connectionId", "startedAt", "expiresAt"}) {
    EXPECT_TRUE(begun.contains(key)) << key;
  }
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES ($1, $2)", {1, "a"}).status, 200u);
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES ($1, $2)", {2, "b"}).status, 200u);
  // Inside: visible; outside: not yet.
  EXPECT_EQ(InTx(svc, tx, "SELECT count(*)::int AS n FROM tx_items").json.at("rows").at(0).at("n"), 2);
  EXPECT_EQ(Count(), "0");
  // The transaction's connectionId joins it too.
  auto via_lease = svc.Query({{"sql", "SELECT count(*)::int AS n FROM tx_items"},
                              {"connectionId", begun.at("connectionId")}});
  EXPECT_EQ(via_lease.json.at("rows").at(0).at("n"), 2) << via_lease.body;

  auto committed = Commit(svc, tx);
  ASSERT_EQ(committed.status, 200u) << committed.body;
  EXPECT_EQ(committed.json.at("committed"), true);
  EXPECT_TRUE(committed.json.at("duration").is_number());
  EXPECT_EQ(Count(), "2");
  // Ended: commit or rollback again is a conflict, a statement too; the implicit lease is gone.
  EXPECT_EQ(Commit(svc, tx).status, 409u);
  EXPECT_EQ(Rollback(svc, tx).status, 409u);
  EXPECT_EQ(InTx(svc, tx, "SELECT 1").status, 409u);
  auto stats = svc.Get("/api/v1/connections/stats").json.at("postgresql");
  EXPECT_EQ(stats.at("leased"), 0);
}

TEST_F(Transactions, RollbackDiscardsEverything) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc));
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES (1, 'x')").status, 200u);
  auto r = Rollback(svc, tx);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json, json::parse(R"({"rolledBack":true})"));
  EXPECT_EQ(Count(), "0");
  EXPECT_EQ(Commit(svc, tx).status, 409u);
}

TEST_F(Transactions, AStatementErrorAbortsUntilRollbackAndCommitThenConflicts) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc));
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES (1, 'kept?')").status, 200u);
  auto dup = InTx(svc, tx, "INSERT INTO tx_items VALUES (1, 'dup')");
  EXPECT_EQ(dup.status, 409u) << dup.body;
  EXPECT_EQ(dup.ErrorCode(), "CONSTRAINT_VIOLATION");
  EXPECT_NE(dup.body.find("aborted"), std::string::npos) << "says the transaction is aborted: " << dup.body;
  auto next = InTx(svc, tx, "SELECT 1");
  EXPECT_EQ(next.status, 400u) << next.body;
  EXPECT_EQ(next.json.at("error").at("sqlstate"), "25P02");
  auto commit = Commit(svc, tx);
  EXPECT_EQ(commit.status, 409u) << commit.body;
  EXPECT_EQ(commit.ErrorCode(), "CONFLICT");
  EXPECT_EQ(Count(), "0") << "commit of an aborted transaction rolls it back";
  EXPECT_EQ(Commit(svc, tx).status, 409u);
}

TEST_F(Transactions, IdleTimeoutRollsBackAndAnswers410) {
  Psql admin(RequireEnv("PG_SUPERUSER_URL"));
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc, {{"timeout", 400}}));
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES (7, 'abandoned')").status, 200u);
  std::this_thread::sleep_for(1000ms);
  auto late = InTx(svc, tx, "SELECT 1");
  EXPECT_EQ(late.status, 410u) << late.body;
  EXPECT_EQ(late.ErrorCode(), "TRANSACTION_EXPIRED");
  EXPECT_EQ(Commit(svc, tx).status, 410u);
  EXPECT_EQ(Count(), "0");
  EXPECT_EQ(admin.Scalar("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%' "
                         "AND application_name = 'coredb'"),
            "0");
  EXPECT_EQ(svc.Get("/api/v1/connections/stats").json.at("postgresql").at("expiredTotal"), 1);
}

TEST_F(Transactions, MaxDurationBoundsEvenABusyTransaction) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc, {{"timeout", 10000}, {"maxDuration", 700}}));
  const auto start = std::chrono::steady_clock::now();
  auto slow = InTx(svc, tx, "SELECT pg_sleep(3)");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(slow.status, 504u) << slow.body;
  EXPECT_LT(took, 2s) << "the statement was cut at the transaction's maximum duration";
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(Commit(svc, tx).status, 410u);
}

TEST_F(Transactions, IsolationReadOnlyAndOnAnExistingLease) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc, {{"isolationLevel", "serializable"}, {"readOnly", true}}));
  auto iso = InTx(svc, tx, "SHOW transaction_isolation");
  EXPECT_EQ(iso.json.at("rows").at(0).at("transaction_isolation"), "serializable") << iso.body;
  auto write = InTx(svc, tx, "INSERT INTO tx_items VALUES (1, 'ro')");
  EXPECT_EQ(write.status, 403u) << write.body;
  EXPECT_EQ(write.json.at("error").at("sqlstate"), "25006");
  ASSERT_EQ(Rollback(svc, tx).status, 200u);

  auto lease = svc.Post("/api/v1/connections/acquire", {{"database", "postgresql"}});
  const std::string id(lease.json.at("connectionId").as_string());
  auto begun = Begin(svc, {{"connectionId", id}, {"isolationLevel", "repeatable read"}});
  EXPECT_EQ(begun.at("connectionId"), json::value(id));
  // One transaction per lease at a time.
  auto twice = svc.Post("/api/v1/transaction/begin", {{"connectionId", id}});
  EXPECT_EQ(twice.status, 409u) << twice.body;
  ASSERT_EQ(InTx(svc, Tx(begun), "INSERT INTO tx_items VALUES (3, 'lease')").status, 200u);
  ASSERT_EQ(Commit(svc, Tx(begun)).status, 200u);
  EXPECT_EQ(Count(), "1");
  // The lease outlives its transaction.
  auto after = svc.Query({{"sql", "SELECT count(*)::int AS n FROM tx_items"}, {"connectionId", id}});
  EXPECT_EQ(after.status, 200u) << after.body;
  EXPECT_EQ(svc.Post("/api/v1/connections/release", {{"connectionId", id}}).status, 200u);
}

TEST_F(Transactions, ACommitStatementEndsTheTransactionRecordToo) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc));
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES (9, 'sql commit')").status, 200u);
  ASSERT_EQ(InTx(svc, tx, "COMMIT").status, 200u);
  EXPECT_EQ(Count(), "1");
  auto r = InTx(svc, tx, "INSERT INTO tx_items VALUES (10, 'after')");
  EXPECT_EQ(r.status, 409u) << "never runs outside the transaction it names: " << r.body;
  EXPECT_EQ(Count(), "1");
}

TEST_F(Transactions, BadInput) {
  ServiceProcess svc;
  auto begin = [&](const char* body) {
    return svc.Request("POST", "/api/v1/transaction/begin", body, {{"Content-Type", "application/json"}});
  };
  for (const char* body : {R"({"isolationLevel":"snapshot"})", R"({"isolationLevel":"SERIALIZABLE"})",
                           R"({"timeout":-1})", R"({"timeout":0})", R"({"maxDuration":99999999999})",
                           R"({"database":"redis"})", R"({"readOnly":"yes"})", R"({"isolation":"serializable"})"}) {
    auto r = begin(body);
    EXPECT_EQ(r.status, 400u) << body << " → " << r.body;
  }
  EXPECT_EQ(begin(R"({"connectionId":"cn_nowhere_00"})").status, 404u);
  EXPECT_EQ(Commit(svc, "tx_unknown_1234").status, 404u);
  EXPECT_EQ(Rollback(svc, "").status, 404u);
  EXPECT_EQ(svc.Post("/api/v1/transaction/commit", json::object{}).status, 400u);
  EXPECT_EQ(svc.Post("/api/v1/transaction/commit", {{"transactionId", 12}}).status, 400u);
  // transactionId and a connectionId that is not its lease.
  const std::string tx = Tx(Begin(svc));
  auto mismatch = svc.Query({{"sql", "SELECT 1"}, {"transactionId", tx}, {"connectionId", "cn_x_1"}});
  EXPECT_EQ(mismatch.status, 400u) << mismatch.body;
  ASSERT_EQ(Rollback(svc, tx).status, 200u);
  EXPECT_EQ(svc.Get("/api/v1/connections/stats").json.at("postgresql").at("leased"), 0);
}

TEST_F(Transactions, ConcurrentCommitsOnOneTransactionCommitOnce) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc));
  ASSERT_EQ(InTx(svc, tx, "INSERT INTO tx_items VALUES (1, 'once')").status, 200u);
  std::vector<std::future<HttpResult>> commits;
  for (int i = 0; i < 8; ++i) commits.push_back(std::async(std::launch::async, [&] { return Commit(svc, tx); }));
  int ok = 0, conflict = 0;
  for (auto& f : commits) {
    auto r = f.get();
    if (r.status == 200u) ++ok;
    else if (r.status == 409u) ++conflict;
    else ADD_FAILURE() << r.status << " " << r.body;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(conflict, 7);
  EXPECT_EQ(Count(), "1");
}

TEST_F(Transactions, ShutdownRollsBackOpenTransactionsAndReleasesLeases) {
  Psql admin(RequireEnv("PG_SUPERUSER_URL"));
  auto svc = std::make_unique<ServiceProcess>();
  const std::string tx = Tx(Begin(*svc));
  ASSERT_EQ(InTx(*svc, tx, "INSERT INTO tx_items VALUES (1, 'in flight at shutdown')").status, 200u);
  auto lease = svc->Post("/api/v1/connections/acquire", {{"database", "postgresql"}});
  ASSERT_EQ(lease.status, 200u);
  ASSERT_EQ(svc->Query({{"sql", "BEGIN"}, {"connectionId", lease.json.at("connectionId")}}).status, 200u);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(svc->Terminate(), 0) << svc->Output();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  svc.reset();
  EXPECT_EQ(Count(), "0");
  EXPECT_EQ(admin.Scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'coredb' "
                         "AND state LIKE 'idle in transaction%'"),
            "0");
}

// ---------------------------------------------------------------------------------------------
// batches

json::array Inserts(int from, int count) {
  json::array queries;
  for (int i = from; i < from + count; ++i) {
    queries.push_back({{"sql", "INSERT INTO tx_items VALUES ($1, $2)"}, {"params", {i, "batch"}}});
  }
  return queries;
}

TEST_F(Transactions, AtomicBatchIsAllOrNothingWithFailedIndex) {
  ServiceProcess svc;
  auto ok = svc.Post("/api/v1/query/batch", {{"queries", Inserts(1, 10)}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  ASSERT_EQ(ok.json.at("results").as_array().size(), 10u);
  EXPECT_EQ(ok.json.at("results").at(9).at("command"), "INSERT");
  EXPECT_EQ(ok.json.at("results").at(9).at("rowCount"), 1);
  EXPECT_EQ(Count(), "10");

  auto queries = Inserts(100, 10);
  queries[4] = {{"sql", "INSERT INTO tx_items VALUES ($1, $2)"}, {"params", {1, "duplicate of an existing row"}}};
  auto failed = svc.Post("/api/v1/query/batch", {{"queries", queries}});
  EXPECT_EQ(failed.status, 409u) << failed.body;
  EXPECT_EQ(failed.json.at("error").at("failedIndex"), 4);
  EXPECT_EQ(failed.ErrorCode(), "CONSTRAINT_VIOLATION");
  EXPECT_EQ(Count(), "10") << "nothing of the failed batch was kept";

  auto syntax = Inserts(200, 3);
  syntax[2] = {{"sql", "SELEC 1"}};
  auto bad = svc.Post("/api/v1/query/batch", {{"queries", syntax}, {"atomic", true}});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.json.at("error").at("failedIndex"), 2);
  EXPECT_EQ(Count(), "10");
}

TEST_F(Transactions, NonAtomicBatchKeepsWhatSucceeded) {
  ServiceProcess svc;
  auto queries = Inserts(1, 5);
  queries[2] = {{"sql", "INSERT INTO tx_items VALUES ($1, $2)"}, {"params", {1, "dup"}}};
  queries.push_back({{"sql", "SELECT count(*)::int AS n FROM tx_items"}, {"rowMode", "array"}});
  auto r = svc.Post("/api/v1/query/batch", {{"queries", queries}, {"atomic", false}});
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto& results = r.json.at("results").as_array();
  ASSERT_EQ(results.size(), 6u);
  EXPECT_EQ(results[2].at("error").at("code"), "CONSTRAINT_VIOLATION");
  EXPECT_EQ(results[3].at("rowCount"), 1);
  EXPECT_EQ(results[5].at("rows").at(0).at(0), 4);
  EXPECT_EQ(Count(), "4");
}

TEST_F(Transactions, BatchInsideATransactionAndOnALease) {
  ServiceProcess svc;
  const std::string tx = Tx(Begin(svc));
  auto in_tx = svc.Post("/api/v1/query/batch", {{"queries", Inserts(1, 3)}, {"transactionId", tx}});
  ASSERT_EQ(in_tx.status, 200u) << in_tx.body;
  EXPECT_EQ(Count(), "0");
  ASSERT_EQ(Commit(svc, tx).status, 200u);
  EXPECT_EQ(Count(), "3");

  // A failing batch in a transaction aborts it, atomic or not.
  const std::string tx2 = Tx(Begin(svc));
  auto queries = Inserts(10, 3);
  queries[1] = {{"sql", "SELECT 1/0"}};
  auto failed = svc.Post("/api/v1/query/batch", {{"queries", queries}, {"transactionId", tx2}, {"atomic", false}});
  EXPECT_EQ(failed.status, 400u) << failed.body;
  EXPECT_EQ(failed.json.at("error").at("failedIndex"), 1);
  EXPECT_EQ(InTx(svc, tx2, "SELECT 1").json.at("error").at("sqlstate"), "25P02");
  EXPECT_EQ(Commit(svc, tx2).status, 409u);
  EXPECT_EQ(Count(), "3");

  auto lease = svc.Post("/api/v1/connections/acquire", {{"database", "postgresql"}});
  const std::string id(lease.json.at("connectionId").as_string());
  auto on_lease = svc.Post("/api/v1/query/batch", {{"queries", Inserts(20, 2)}, {"connectionId", id}});
  ASSERT_EQ(on_lease.status, 200u) << on_lease.body;
  EXPECT_TRUE(on_lease.json.as_object().contains("expiresAt"));
  EXPECT_EQ(Count(), "5");
}

TEST_F(Transactions, BatchBadInput) {
  ServiceProcess svc;
  auto post = [&](const json::value& body) { return svc.Post("/api/v1/query/batch", body); };
  EXPECT_EQ(post({{"queries", json::array{}}}).status, 400u);
  EXPECT_EQ(post({{"queries", Inserts(1, 1001)}}).status, 400u);
  EXPECT_EQ(Count(), "0");
  auto typo = Inserts(1, 5);
  typo[3] = {{"sql", "SELECT 1"}, {"parms", {1}}};
  auto r = post({{"queries", typo}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("queries[3].parms"), std::string::npos) << r.body;
  EXPECT_EQ(post({{"queries", {1, 2}}}).status, 400u);
  EXPECT_EQ(post({{"queries", {{{"sql", "SELECT 1"}, {"connectionId", "x"}}}}}).status, 400u);
  EXPECT_EQ(post({{"queries", Inserts(1, 2)}, {"atomic", "yes"}}).status, 400u);
  EXPECT_EQ(post({{"queries", {{{"sql", ""}}}}}).status, 400u);
  EXPECT_EQ(post(json::object{}).status, 400u);
  EXPECT_EQ(Count(), "0");
  // 1 000 is allowed.
  auto big = post({{"queries", Inserts(1, 1000)}});
  EXPECT_EQ(big.status, 200u) << big.body.substr(0, 300);
  EXPECT_EQ(Count(), "1000");
}

}  // namespace
}  // namespace coredb::testing
