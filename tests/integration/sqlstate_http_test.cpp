// SQLSTATE → HTTP (issue 21) against the real PostgreSQL: every row of the table (README
// "SQLSTATE → HTTP") through the running binary — status, code, sqlstate, and whether the
// PostgreSQL breaker counted it as the backend's failure. A parameter count that does not match
// the statement is the caller's 400 with both counts in the message, never the breaker's
// business, and it leaves the pooled connection (and its named prepared statement) usable.
// Rows PostgreSQL only sends about its own trouble (disk full, I/O error, ...) are raised with
// RAISE ... USING ERRCODE: a real report with that SQLSTATE, at severity ERROR.
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "pg_test_support.hpp"
#include "support/metrics_scrape.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// What the PostgreSQL breaker and pool have seen so far.
struct BreakerView {
  double failures = 0;  // calls the breaker counted as failed
  double state = -1;    // 0 closed, 1 half-open, 2 open
  double opened = 0;
  double broken = 0;  // pool connections found broken and closed
};

BreakerView View(ServiceProcess& svc) {
  const PromParse m = Scrape(svc);
  BreakerView v;
  v.failures =
      m.Value("coredb_circuit_breaker_calls_total", {{"backend", "postgresql"}, {"result", "failure"}}).value_or(-1);
  v.state = m.Value("coredb_circuit_breaker_state", {{"backend", "postgresql"}}).value_or(-1);
  v.opened =
      m.Value("coredb_circuit_breaker_transitions_total", {{"backend", "postgresql"}, {"to", "open"}}).value_or(-1);
  v.broken = m.Value("coredb_pool_connections_broken_total", {{"database", "postgresql"}}).value_or(0);
  return v;
}

std::string Raise(const std::string& sqlstate) {
  return "DO $$ BEGIN RAISE EXCEPTION 'raised %', '" + sqlstate + "' USING ERRCODE = '" + sqlstate + "'; END $$";
}

class SqlStateRows : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A breaker that never opens here, so that every row can be run and its count read.
    service_ = new ServiceProcess(ServiceProcess::Env{{"BREAKER_POSTGRESQL_VOLUME_THRESHOLD", "1000000"}});
    suffix_ = std::to_string(::getpid());
    Psql db(RequireEnv("DATABASE_URL"));
    db.Exec("DROP TABLE IF EXISTS " + Child() + ", " + Parent());
    db.Exec("CREATE TABLE " + Parent() + " (id int PRIMARY KEY)");
    db.Exec("CREATE TABLE " + Child() + " (id int PRIMARY KEY, parent int REFERENCES " + Parent() +
            ", v int NOT NULL CHECK (v > 0))");
    db.Exec("INSERT INTO " + Parent() + " VALUES (1)");
    db.Exec("INSERT INTO " + Child() + " VALUES (1, 1, 1)");
  }
  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
    Psql db(RequireEnv("DATABASE_URL"));
    db.Exec("DROP TABLE IF EXISTS " + Child() + ", " + Parent());
  }
  void TearDown() override {
    auto r = svc().Query({{"sql", "SELECT 1 AS ok"}});
    EXPECT_EQ(r.status, 200u) << "service unhealthy after the test: " << r.body;
  }
  static ServiceProcess& svc() { return *service_; }
  static std::string Parent() { return "sqlstate_parent_" + suffix_; }
  static std::string Child() { return "sqlstate_child_" + suffix_; }

  // Sends `body` to /api/v1/query and checks the row: status, code, sqlstate, whether the
  // breaker counted a failure, and optionally a part of the message.
  static HttpResult ExpectRow(const json::object& body, unsigned status, const std::string& code,
                              const std::string& sqlstate, bool counted, const std::string& message_part = {}) {
    const BreakerView before = View(svc());
    HttpResult r = svc().Query(body);
    const BreakerView after = View(svc());
    const std::string what = json::serialize(body) + " → " + r.body;
    EXPECT_EQ(r.status, status) << what;
    EXPECT_EQ(r.ErrorCode(), code) << what;
    const json::value* state = r.json.is_object() && r.json.as_object().contains("error")
                                   ? r.json.at("error").as_object().if_contains("sqlstate")
                                   : nullptr;
    EXPECT_TRUE(state != nullptr && *state == sqlstate.c_str()) << "sqlstate " << sqlstate << ": " << what;
    EXPECT_EQ(after.failures - before.failures, counted ? 1 : 0) << "breaker failures: " << what;
    if (!message_part.empty()) {
      EXPECT_NE(r.body.find(message_part), std::string::npos) << what;
    }
    return r;
  }
  static HttpResult ExpectCallersRow(const std::string& sql, const std::string& sqlstate, json::array params = {},
                                     const std::string& message_part = {}) {
    json::object body{{"sql", sql}};
    if (!params.empty()) body["params"] = std::move(params);
    return ExpectRow(body, 400, "QUERY_ERROR", sqlstate, /*counted=*/false, message_part);
  }

  static ServiceProcess* service_;
  static std::string suffix_;
};
ServiceProcess* SqlStateRows::service_ = nullptr;
std::string SqlStateRows::suffix_;

TEST_F(SqlStateRows, AParameterCountMismatchIsTheCallers400NamingBothCounts) {
  // A named (prepared, cached) statement given too few and too many parameters.
  ExpectCallersRow("SELECT $1::int + $2::int AS s", "08P01", {1}, "the statement requires 2 ($1..$2), params has 1");
  ExpectCallersRow("SELECT $1::int + $2::int AS s", "08P01", {1, 2, 3}, "requires 2 ($1..$2), params has 3");
  ExpectCallersRow("SELECT $1::int AS s", "08P01", {}, "requires 1 ($1), params has 0");
  // A statement the gateway cannot count for itself: a utility statement (sent unnamed), and a
  // "placeholder" in a string literal that a naive count would take for one.
  ExpectCallersRow("SHOW work_mem", "08P01", {1}, "the statement takes none, params has 1");
  ExpectCallersRow("SELECT '$2' AS s, $1::int AS n", "08P01", {1, 2}, "requires 1 ($1), params has 2");
  // The internal statement name never shows.
  auto r = svc().Query({{"sql", "SELECT $1::int + $2::int AS s"}, {"params", {1}}});
  EXPECT_EQ(r.body.find("coredb_s"), std::string::npos) << r.body;
  // The same statement with the right count works on the same pool.
  auto ok = svc().Query({{"sql", "SELECT $1::int + $2::int AS s"}, {"params", {1, 2}}});
  ASSERT_EQ(ok.status, 200u) << ok.body;
  EXPECT_EQ(ok.json.at("rows").at(0).at("s"), 3);
}

TEST_F(SqlStateRows, AMismatchInABatchIsItsEntrysQueryError) {
  const BreakerView before = View(svc());
  json::array queries{json::object{{"sql", "SELECT 1 AS a"}},
                      json::object{{"sql", "SELECT $1::int + $2::int AS s"}, {"params", {1}}}};
  auto atomic = svc().Post("/api/v1/query/batch", {{"queries", queries}});
  EXPECT_EQ(atomic.status, 400u) << atomic.body;
  EXPECT_EQ(atomic.ErrorCode(), "QUERY_ERROR") << atomic.body;
  EXPECT_EQ(atomic.json.at("error").at("sqlstate"), "08P01") << atomic.body;
  EXPECT_EQ(atomic.json.at("error").at("failedIndex"), 1) << atomic.body;
  auto each = svc().Post("/api/v1/query/batch", {{"queries", queries}, {"atomic", false}});
  ASSERT_EQ(each.status, 200u) << each.body;
  EXPECT_EQ(each.json.at("results").at(0).at("rows").at(0).at("a"), 1) << each.body;
  EXPECT_EQ(each.json.at("results").at(1).at("error").at("code"), "QUERY_ERROR") << each.body;
  EXPECT_EQ(each.json.at("results").at(1).at("error").at("sqlstate"), "08P01") << each.body;
  EXPECT_EQ(View(svc()).failures, before.failures);
}

TEST_F(SqlStateRows, DataExceptionsAreQueryErrors) {
  ExpectCallersRow("SELECT 1/0", "22012");
  ExpectCallersRow("SELECT 'x'::int", "22P02");
  ExpectCallersRow("SELECT $1::int AS n", "22P02", {"not a number"});  // refused during Bind
  ExpectCallersRow("SELECT 99999999999::int4", "22003");
  ExpectCallersRow("DO $$ DECLARE v varchar(3); BEGIN v := 'abcdef'; END $$", "22001");
  ExpectCallersRow("SELECT 'nonsense'::date", "22007");
  ExpectCallersRow("SELECT '2020-13-45'::date", "22008");
  ExpectCallersRow("SELECT 'a' ~ '('", "2201B");
  ExpectCallersRow("SELECT ln(-1)", "2201E");
  ExpectCallersRow("SELECT 1 LIMIT -1", "2201W");
  ExpectCallersRow("SELECT 1 OFFSET -1", "2201X");
  ExpectCallersRow("SELECT convert_from('\\xff'::bytea, 'UTF8')", "22021");
  ExpectCallersRow("SET work_mem = '1kB'", "22023");
  ExpectCallersRow("SELECT substring('abc' from -1 for -1)", "22011");
}

TEST_F(SqlStateRows, SyntaxAndUndefinedObjectsAreQueryErrors) {
  ExpectCallersRow("SELEC 1", "42601");
  ExpectCallersRow("SELECT 1; SELECT 2", "42601");
  ExpectCallersRow("SELECT * FROM no_such_table_here", "42P01");
  ExpectCallersRow("SELECT no_such_column FROM pg_class", "42703");
  ExpectCallersRow("SELECT no_such_function_here()", "42883");
  ExpectCallersRow("SELECT oid FROM pg_class, pg_type", "42702");
  ExpectCallersRow("SELECT CASE WHEN true THEN 1 ELSE 'a'::text END", "42804");
  ExpectCallersRow("SET no_such_setting_here = 1", "42704");
  ExpectCallersRow("CREATE TABLE no_such_schema_here.t ()", "3F000");
}

TEST_F(SqlStateRows, OtherStatementErrorsAreQueryErrors) {
  ExpectCallersRow("SELECT count(*) FROM pg_class FOR UPDATE", "0A000");  // feature not supported
  ExpectCallersRow("SELECT array_fill(0, ARRAY[200000000])", "54000");    // program limit
  std::string many = "SELECT concat(";
  for (int i = 1; i <= 101; ++i) many += (i > 1 ? "," : "") + std::to_string(i);
  ExpectCallersRow(many + ")", "54023");                               // too many arguments
  ExpectCallersRow("SELECT (SELECT generate_series(1, 2))", "21000");  // cardinality
  ExpectCallersRow("EXECUTE no_such_statement_here", "26000");
  ExpectCallersRow("FETCH ALL FROM no_such_cursor_here", "34000");
  ExpectCallersRow("DO $$ BEGIN RAISE EXCEPTION 'the caller''s own'; END $$", "P0001");
  // Raised: what PostgreSQL sends for a statement's own limits, files and internal errors.
  for (const char* s : {"53400", "58P01", "58P02", "XX000", "XX001", "2BP01", "44000", "55006"}) {
    ExpectCallersRow(Raise(s), s, {}, std::string("raised ") + s);
  }
}

TEST_F(SqlStateRows, LockNotAvailableIsAQueryError) {
  Psql holder(RequireEnv("DATABASE_URL"));
  holder.Exec("BEGIN");
  holder.Exec("SELECT id FROM " + Parent() + " WHERE id = 1 FOR UPDATE");
  ExpectCallersRow("SELECT id FROM " + Parent() + " WHERE id = 1 FOR UPDATE NOWAIT", "55P03");
  holder.Exec("ROLLBACK");
}

TEST_F(SqlStateRows, IntegrityViolationsAre409) {
  const auto insert = "INSERT INTO " + Child() + " (id, parent, v) VALUES ($1, $2, $3)";
  auto dup = ExpectRow({{"sql", insert}, {"params", {1, 1, 1}}}, 409, "CONSTRAINT_VIOLATION", "23505", false);
  EXPECT_EQ(dup.json.at("error").at("constraint"), json::value(Child() + "_pkey")) << dup.body;
  ExpectRow({{"sql", insert}, {"params", {2, 1, nullptr}}}, 409, "CONSTRAINT_VIOLATION", "23502", false);
  ExpectRow({{"sql", insert}, {"params", {2, 1, -1}}}, 409, "CONSTRAINT_VIOLATION", "23514", false);
  ExpectRow({{"sql", insert}, {"params", {2, 99, 1}}}, 409, "CONSTRAINT_VIOLATION", "23503", false);
}

TEST_F(SqlStateRows, SerializationFailuresAndDeadlocksAre409Retryable) {
  for (const char* s : {"40001", "40P01"}) {
    auto r = ExpectRow({{"sql", Raise(s)}}, 409, "SERIALIZATION_FAILURE", s, false);
    EXPECT_EQ(r.json.at("error").at("retryable"), true) << r.body;
  }
}

TEST_F(SqlStateRows, PrivilegeAndReadOnlyRefusalsAre403) {
  ExpectRow({{"sql", "SELECT * FROM pg_authid"}}, 403, "FORBIDDEN", "42501", false);
  auto begun = svc().Post("/api/v1/transaction/begin", {{"readOnly", true}});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const json::value tx = begun.json.at("transactionId");
  ExpectRow({{"sql", "INSERT INTO " + Parent() + " VALUES (2)"}, {"transactionId", tx}}, 403, "FORBIDDEN", "25006",
            false);
  svc().Post("/api/v1/transaction/rollback", {{"transactionId", tx}});
}

TEST_F(SqlStateRows, AStatementInAnAbortedTransactionIsAQueryError) {
  auto begun = svc().Post("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const json::value tx = begun.json.at("transactionId");
  // A mismatch aborts the transaction like any statement error does in PostgreSQL.
  ExpectRow({{"sql", "SELECT $1::int + $2::int"}, {"params", {1}}, {"transactionId", tx}}, 400, "QUERY_ERROR", "08P01",
            false);
  ExpectRow({{"sql", "SELECT 1"}, {"transactionId", tx}}, 400, "QUERY_ERROR", "25P02", false, "roll it back");
  // One note, not two: it was aborted before this statement, not by it.
  auto again = svc().Query({{"sql", "SELECT 1"}, {"transactionId", tx}});
  ASSERT_EQ(again.status, 400u) << again.body;
  const std::string message(again.json.at("error").at("message").as_string());
  EXPECT_EQ(message.find("now aborted"), std::string::npos) << message;
  auto rolled = svc().Post("/api/v1/transaction/rollback", {{"transactionId", tx}});
  EXPECT_EQ(rolled.status, 200u) << rolled.body;
}

TEST_F(SqlStateRows, TheCallersStatementTimeoutIs504AndNotCounted) {
  ExpectRow({{"sql", "SELECT pg_sleep(5)"}, {"timeout", 200}}, 504, "QUERY_TIMEOUT", "57014", false);
}

TEST_F(SqlStateRows, ConnectionOperatorResourceAndSystemErrorsAre503) {
  // At severity ERROR the server answered and the session goes on: 503 with the sqlstate, but
  // not the breaker's (a caller could raise them at will).
  for (const char* s : {"08000", "08001", "08003", "08004", "08006", "08007", "57000", "57P01", "57P02", "57P03",
                        "57P04", "53000", "53100", "53200", "53300", "58000", "58030"}) {
    ExpectRow({{"sql", Raise(s)}}, 503, "DATABASE_UNAVAILABLE", s, /*counted=*/false, std::string("raised ") + s);
  }
  // An 08P01 that is not a Bind's parameter count keeps PostgreSQL's message.
  ExpectCallersRow(Raise("08P01"), "08P01", {}, "raised 08P01");
}

TEST_F(SqlStateRows, ASessionTheServerEndsIs503AndCounted) {
  // FATAL 57P01 (what an administrator's pg_terminate_backend or a fast shutdown sends).
  const BreakerView before = View(svc());
  ExpectRow({{"sql", "SELECT pg_terminate_backend(pg_backend_pid())"}}, 503, "DATABASE_UNAVAILABLE", "57P01",
            /*counted=*/true);
  EXPECT_EQ(View(svc()).broken, before.broken + 1) << "the lost connection is closed";
}

TEST_F(SqlStateRows, TheSessionsOwnIdleTimeoutIs503ButNotCounted) {
  auto begun = svc().Post("/api/v1/transaction/begin", json::object{});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const json::value tx = begun.json.at("transactionId");
  auto set = svc().Query({{"sql", "SET idle_in_transaction_session_timeout = 100"}, {"transactionId", tx}});
  ASSERT_EQ(set.status, 200u) << set.body;
  std::this_thread::sleep_for(600ms);  // PostgreSQL ends the session (FATAL 25P03)
  ExpectRow({{"sql", "SELECT 1"}, {"transactionId", tx}}, 503, "DATABASE_UNAVAILABLE", "25P03", /*counted=*/false);
  svc().Post("/api/v1/transaction/rollback", {{"transactionId", tx}});
}

// Issue 21's drill: one client sending mismatched parameters must not open the breaker for
// everybody, nor spoil the pool's connections.
TEST(ParameterMismatchDrill, HundredMismatchesLeaveTheBreakerClosedAndThePoolClean) {
  // A breaker that opens after 3 calls in a minute if half of them failed.
  ServiceProcess svc(ServiceProcess::Env{{"PG_POOL_SIZE", "2"},
                                         {"BREAKER_POSTGRESQL_VOLUME_THRESHOLD", "3"},
                                         {"BREAKER_POSTGRESQL_ERROR_THRESHOLD_PERCENT", "50"},
                                         {"BREAKER_POSTGRESQL_ROLLING_WINDOW_MS", "60000"}});
  const std::string sql = "SELECT $1::int + $2::int AS s /* mismatch_drill */";
  auto first = svc.Query({{"sql", sql}, {"params", {20, 22}}});
  ASSERT_EQ(first.status, 200u) << first.body;
  const BreakerView before = View(svc);
  ASSERT_EQ(before.state, 0);

  int wrong = 0;
  for (int i = 0; i < 100; ++i) {
    json::array params;
    for (int k = 0; k < (i % 2 == 0 ? 1 : 3); ++k) params.push_back(k);
    // Mostly the cached named statement, sometimes one parsed in the same round trip, or unnamed.
    const std::string text = i % 10 == 3   ? "SELECT $1::int + $2::int AS s /* fresh " + std::to_string(i) + " */"
                             : i % 10 == 7 ? std::string("SHOW work_mem")
                                           : sql;
    auto r = svc.Query({{"sql", text}, {"params", params}});
    if (r.status != 400 || r.ErrorCode() != "QUERY_ERROR" || r.json.at("error").at("sqlstate") != "08P01") {
      ++wrong;
      ADD_FAILURE() << "mismatch " << i << ": " << r.body;
      if (wrong > 3) break;
    }
  }
  const BreakerView after = View(svc);
  EXPECT_EQ(after.state, 0) << "the PostgreSQL breaker must stay closed";
  EXPECT_EQ(after.failures, before.failures);
  EXPECT_EQ(after.opened, before.opened);
  EXPECT_EQ(after.broken, before.broken) << "no pooled connection was discarded";

  // The cached statement is not poisoned, and a burst of good queries from 8 clients succeeds.
  auto again = svc.Query({{"sql", sql}, {"params", {20, 22}}});
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(again.json.at("rows").at(0).at("s"), 42);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 25; ++i) {
        auto r = svc.Query({{"sql", sql}, {"params", {c, i}}});
        (r.status == 200 && r.json.at("rows").at(0).at("s") == c + i ? ok : failed)++;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 200);
  EXPECT_EQ(failed.load(), 0);
  auto stats = svc.Get("/api/v1/connections/stats");
  ASSERT_EQ(stats.status, 200u) << stats.body;
  EXPECT_LE(stats.json.at("postgresql").at("size").to_number<int>(), 2) << stats.body;
  const BreakerView end = View(svc);
  EXPECT_EQ(end.state, 0);
  EXPECT_EQ(end.broken, before.broken);
}

}  // namespace
}  // namespace coredb::testing

// The connection itself after a refused Bind: clean, reusable, its named statement kept.
namespace coredb::pg {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using namespace coredb::pg::testing;

class ParameterMismatchConnection : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(DatabaseUrl().empty()); }
  asio::io_context io_;
  CancelWorker worker_;
};

// The connection's default statement_timeout: no set_config (itself a named statement) is sent.
constexpr milliseconds kDefaultTimeout{30000};

awaitable<int> ServerStatementsFor(Connection& c, const std::string& sql) {
  const Params text = Args(sql);
  auto r = co_await MustExecute(c, "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", text);
  co_return r ? std::stoi(Scalar(r)) : -1;
}

void ExpectClean(const Connection& c) {
  EXPECT_FALSE(c.broken());
  EXPECT_FALSE(c.needs_drain());
  EXPECT_FALSE(c.needs_reset());
  EXPECT_EQ(c.transaction_status(), PQTRANS_IDLE);
  EXPECT_TRUE(c.LooksHealthyWhileIdle());
}

TEST_F(ParameterMismatchConnection, ARefusedBindLeavesTheConnectionAndItsNamedStatementUsable) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const std::string sql = "SELECT $1::int + $2::int";
    const Params one = Args("1");
    const Params two = Args("1", "2");
    // First use: Parse (accepted) and the refused Bind in one round trip.
    auto bad = co_await c->Execute(Statement{sql, one, kDefaultTimeout});
    CO_ASSERT_TRUE(!bad.has_value());
    EXPECT_EQ(bad.error().code, ErrorCode::kQueryError);
    CO_ASSERT_TRUE(bad.error().pg.has_value());
    EXPECT_EQ(bad.error().pg->sqlstate, "08P01");
    EXPECT_FALSE(bad.error().pg->session_ended);
    EXPECT_EQ(bad.error().message, "wrong number of parameters: the statement requires 2 ($1..$2), params has 1");
    ExpectClean(*c);
    EXPECT_EQ(c->statement_cache().size(), 1u) << "the accepted Parse is kept: it was right";
    // The right count on the same named statement.
    auto good = co_await c->Execute(Statement{sql, two, kDefaultTimeout});
    CO_ASSERT_TRUE(good.has_value());
    EXPECT_EQ(Scalar(*good), "3");
    EXPECT_EQ(c->statement_cache().misses(), 1u);
    EXPECT_GE(c->statement_cache().hits(), 1u);
    // A mismatch on the cached statement, then the right count again.
    auto bad_again = co_await c->Execute(Statement{sql, one, kDefaultTimeout});
    CO_ASSERT_TRUE(!bad_again.has_value());
    EXPECT_EQ(bad_again.error().pg ? bad_again.error().pg->sqlstate : "", "08P01");
    ExpectClean(*c);
    auto good_again = co_await c->Execute(Statement{sql, two, kDefaultTimeout});
    CO_ASSERT_TRUE(good_again.has_value());
    EXPECT_EQ(Scalar(*good_again), "3");
    EXPECT_EQ(c->statement_cache().misses(), 1u) << "never re-parsed";
    EXPECT_EQ(co_await ServerStatementsFor(*c, sql), 1);
    ExpectClean(*c);
  }());
}

TEST_F(ParameterMismatchConnection, InsideATransactionBlockItAbortsTheTransactionOnly) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "BEGIN");
    const Params one = Args("1");
    auto bad = co_await c->Execute(Statement{"SELECT $1::int + $2::int", one, milliseconds(10000)});
    CO_ASSERT_TRUE(!bad.has_value());
    EXPECT_EQ(bad.error().pg ? bad.error().pg->sqlstate : "", "08P01");
    EXPECT_FALSE(c->broken());
    EXPECT_EQ(c->transaction_status(), PQTRANS_INERROR);
    co_await MustExecute(*c, "ROLLBACK");
    auto r = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
    EXPECT_FALSE(c->broken());
  }());
}

}  // namespace
}  // namespace coredb::pg
