// coredb::pg::Connection against a real PostgreSQL (DATABASE_URL).
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "coredb/adapters/postgres/sqlstate.hpp"
#include "pg_test_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace coredb::pg {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using namespace coredb::pg::testing;

std::string SqlState(const Error& e) { return e.pg ? e.pg->sqlstate : std::string(); }


// The conninfo of DATABASE_URL with one keyword replaced (as a key=value string).
std::string WithKeyword(const std::string& conninfo, const std::string& key, const std::string& value) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    if (err) PQfreemem(err);
    ADD_FAILURE() << "DATABASE_URL does not parse";
    return conninfo;
  }
  auto quote = [](const std::string& v) {
    std::string out = "'";
    for (char c : v) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    return out + "'";
  };
  std::string out;
  bool replaced = false;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    std::string v;
    if (key == o->keyword) {
      v = value;
      replaced = true;
    } else if (o->val) {
      v = o->val;
    } else {
      continue;
    }
    out += std::string(o->keyword) + "=" + quote(v) + " ";
  }
  if (!replaced) out += key + "=" + quote(value);
  PQconninfoFree(opts);
  return out;
}

std::string Keyword(const std::string& conninfo, const std::string& key) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    if (err) PQfreemem(err);
    return {};
  }
  std::string out;
  for (PQconninfoOption* o = opts; o->keyword; ++o) {
    if (key == o->keyword && o->val) out = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

class PgConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(DatabaseUrl().empty()); }
  asio::io_context io_;
  CancelWorker worker_;
};

TEST_F(PgConnectionTest, ConnectsWithTheServiceSessionSettings) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_, Options("coredb_conn_settings"));
    if (!c) co_return;
    EXPECT_GT(c->backend_pid(), 0);
    EXPECT_FALSE(c->broken());
    EXPECT_FALSE(c->needs_reset());
    EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE);
    auto r = co_await MustExecute(*c,
                                  "SELECT current_setting('TimeZone'), current_setting('DateStyle'), "
                                  "current_setting('IntervalStyle'), current_setting('extra_float_digits'), "
                                  "current_setting('bytea_output'), current_setting('statement_timeout'), "
                                  "current_setting('client_encoding'), current_setting('application_name'), "
                                  "pg_backend_pid()",
                                  {}, milliseconds(30000));  // the default timeout: no set_config
    if (!r) co_return;
    EXPECT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK);
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "UTC");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "ISO, MDY");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 2), "postgres");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 3), "1");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 4), "hex");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 5), "30s");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 6), "UTF8");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 7), "coredb_conn_settings");
    EXPECT_EQ(std::stoi(PQgetvalue(r.get(), 0, 8)), c->backend_pid());
    EXPECT_FALSE(c->needs_reset()) << "a SELECT leaves the session clean";
  }());
}

TEST_F(PgConnectionTest, AtomicBatchIsOneImplicitTransactionAndSkipsAfterAFailure) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    auto created = co_await MustExecute(*c, "CREATE TEMP TABLE batch_t (v int PRIMARY KEY)");
    CO_ASSERT_TRUE(created != nullptr);
    const Params one = Args(std::string("1")), two = Args(std::string("2"));
    std::vector<Statement> ok{{"INSERT INTO batch_t VALUES ($1)", one, milliseconds(5000)},
                              {"INSERT INTO batch_t VALUES ($1)", two, milliseconds(5000)},
                              {"SELECT count(*) FROM batch_t", {}, milliseconds(5000)}};
    auto r = co_await c->ExecuteBatch(ok, /*atomic=*/true, milliseconds(5000));
    CO_ASSERT_TRUE(r.has_value());
    CO_ASSERT_TRUE(r->size() == 3u);
    EXPECT_EQ(PQresultStatus((*r)[0].get()), PGRES_COMMAND_OK);
    EXPECT_STREQ(PQgetvalue((*r)[2].get(), 0, 0), "2");

    const Params three = Args(std::string("3"));
    std::vector<Statement> failing{{"INSERT INTO batch_t VALUES ($1)", three, milliseconds(5000)},
                                   {"INSERT INTO batch_t VALUES ($1)", one, milliseconds(5000)},  // duplicate
                                   {"INSERT INTO batch_t VALUES (4)", {}, milliseconds(5000)}};
    auto f = co_await c->ExecuteBatch(failing, true, milliseconds(5000));
    CO_ASSERT_TRUE(f.has_value());
    EXPECT_EQ(PQresultStatus((*f)[0].get()), PGRES_COMMAND_OK);
    EXPECT_EQ(PQresultStatus((*f)[1].get()), PGRES_FATAL_ERROR);
    EXPECT_EQ(PQresultStatus((*f)[2].get()), PGRES_PIPELINE_ABORTED);
    EXPECT_EQ(Connection::StatementError((*f)[1].get(), milliseconds(5000)).code, ErrorCode::kConstraintViolation);
    EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE) << "the implicit transaction ended at the Sync";
    auto count = co_await MustExecute(*c, "SELECT count(*) FROM batch_t");
    EXPECT_EQ(Scalar(count), "2") << "the row inserted before the failure was undone";

    // Not atomic: each statement stands alone.
    auto n = co_await c->ExecuteBatch(failing, false, milliseconds(5000));
    CO_ASSERT_TRUE(n.has_value());
    EXPECT_EQ(PQresultStatus((*n)[0].get()), PGRES_COMMAND_OK);
    EXPECT_EQ(PQresultStatus((*n)[1].get()), PGRES_FATAL_ERROR);
    EXPECT_EQ(PQresultStatus((*n)[2].get()), PGRES_COMMAND_OK);
    auto after = co_await MustExecute(*c, "SELECT count(*) FROM batch_t");
    EXPECT_EQ(Scalar(after), "4");
  }());
}

TEST_F(PgConnectionTest, BatchTimeoutBoundsTheWholeRoundTrip) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    std::vector<Statement> slow{{"SELECT pg_sleep(0.2)", {}, {}}, {"SELECT pg_sleep(5)", {}, {}}};
    const auto start = Clock::now();
    auto r = co_await c->ExecuteBatch(slow, false, milliseconds(500));
    CO_ASSERT_TRUE(r.has_value());
    EXPECT_EQ(PQresultStatus((*r)[0].get()), PGRES_TUPLES_OK);
    EXPECT_EQ(Connection::StatementError((*r)[1].get(), milliseconds(500)).code, ErrorCode::kQueryTimeout);
    EXPECT_LT(Clock::now() - start, milliseconds(2000));
    auto ok = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(ok), "1");
  }());
}

TEST_F(PgConnectionTest, SendsTextParametersIncludingNull) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const Params params = Args(std::string("41"), std::nullopt, std::string("it's \"quoted\"; DROP TABLE x"));
    auto r = co_await MustExecute(*c, "SELECT $1::int + 1, $2::text IS NULL, $3::text", params);
    if (!r) co_return;
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "42");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "t");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 2), "it's \"quoted\"; DROP TABLE x");
    // NULL comes back as NULL
    auto n = co_await MustExecute(*c, "SELECT $1::int", Args(std::nullopt));
    if (n) {
      EXPECT_TRUE(PQgetisnull(n.get(), 0, 0));
    }
  }());
}

TEST_F(PgConnectionTest, TwoStatementsInOneSqlAreAQueryError) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    auto r = co_await c->Execute(Statement{"SELECT 1; SELECT 2", {}, milliseconds(5000)});
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kQueryError);
    CO_ASSERT_TRUE(r.error().pg.has_value());
    EXPECT_EQ(SqlState(r.error()), "42601");
    // the connection is still fine
    auto ok = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(ok), "1");
  }());
}

TEST_F(PgConnectionTest, SyntaxErrorCarriesPositionAndEmptySqlIsRejected) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    auto r = co_await c->Execute(Statement{"SELECT * FORM t", {}, milliseconds(5000)});
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kQueryError);
    CO_ASSERT_TRUE(r.error().pg.has_value());
    EXPECT_EQ(SqlState(r.error()), "42601");
    EXPECT_EQ(r.error().pg->position, 10);
    EXPECT_NE(r.error().message.find("syntax error"), std::string::npos) << r.error().message;

    auto empty = co_await c->Execute(Statement{"", {}, milliseconds(5000)});
    EXPECT_FALSE(empty);
    if (!empty) {
      EXPECT_EQ(empty.error().code, ErrorCode::kQueryError);
    }

    auto nul = co_await c->Execute(Statement{std::string_view("SELECT 1\0; DROP", 15), {}, milliseconds(5000)});
    EXPECT_FALSE(nul);
    if (!nul) {
      EXPECT_EQ(nul.error().code, ErrorCode::kInvalidRequest);
    }
  }());
}

TEST_F(PgConnectionTest, UniqueViolationIsAConstraintViolationNamingTheConstraint) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "CREATE TEMP TABLE uv_items (id int, CONSTRAINT uv_items_id_key UNIQUE (id))");
    co_await MustExecute(*c, "INSERT INTO uv_items VALUES ($1)", Args(std::string("1")));
    const Params one = Args(std::string("1"));
    auto r = co_await c->Execute(Statement{"INSERT INTO uv_items VALUES ($1)", one, milliseconds(5000)});
    EXPECT_FALSE(r);
    if (r) co_return;
    const Error& e = r.error();
    EXPECT_EQ(e.code, ErrorCode::kConstraintViolation);
    CO_ASSERT_TRUE(e.pg.has_value());
    EXPECT_EQ(e.pg->sqlstate, "23505");
    EXPECT_EQ(e.pg->constraint, "uv_items_id_key");
    EXPECT_EQ(e.pg->table, "uv_items");
    EXPECT_NE(e.pg->detail.find("(id)=(1)"), std::string::npos) << e.pg->detail;
    EXPECT_NE(e.message.find("duplicate key"), std::string::npos) << e.message;

    // not-null violation names the column
    co_await MustExecute(*c, "CREATE TEMP TABLE nn_items (name text NOT NULL)");
    auto nn = co_await c->Execute(Statement{"INSERT INTO nn_items VALUES (NULL)", {}, milliseconds(5000)});
    EXPECT_FALSE(nn);
    if (!nn) {
      EXPECT_EQ(nn.error().code, ErrorCode::kConstraintViolation);
      EXPECT_EQ((nn.error().pg ? nn.error().pg->column : std::string()), "name");
    }
  }());
}

TEST_F(PgConnectionTest, ReadOnlyRefusalIsForbiddenAndAbortedTransactionSaysRollBack) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "BEGIN READ ONLY");
    EXPECT_TRUE(c->needs_reset());
    auto ro = co_await c->Execute(Statement{"CREATE TEMP TABLE ro_t (x int)", {}, milliseconds(5000)});
    EXPECT_FALSE(ro);
    if (!ro) {
      EXPECT_EQ(ro.error().code, ErrorCode::kForbidden);
      EXPECT_EQ(SqlState(ro.error()), "25006");
    }
    EXPECT_EQ(c->transaction_status(), PQTRANS_INERROR);
    // a timeout change inside an aborted transaction cannot be applied: still a clean 25P02
    auto aborted = co_await c->Execute(Statement{"SELECT 1", {}, milliseconds(4321)});
    EXPECT_FALSE(aborted);
    if (!aborted) {
      EXPECT_EQ(aborted.error().code, ErrorCode::kQueryError);
      EXPECT_EQ(SqlState(aborted.error()), "25P02");
      EXPECT_NE(aborted.error().message.find("roll it back"), std::string::npos) << aborted.error().message;
    }
    co_await MustExecute(*c, "ROLLBACK");
    EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE);
    auto t = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(4321));
    EXPECT_EQ(Scalar(t), "4321ms");
  }());
}

TEST_F(PgConnectionTest, StatementTimeoutIsEnforcedByTheServer) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    auto monitor = co_await MustOpen(worker_);
    if (!c || !monitor) co_return;
    const auto start = Clock::now();
    auto r = co_await c->Execute(Statement{"SELECT pg_sleep(5)", {}, milliseconds(200)});
    const auto elapsed = ElapsedMs(start);
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kQueryTimeout);
    EXPECT_EQ(SqlState(r.error()), "57014");
    EXPECT_EQ(r.error().message, "statement exceeded its timeout of 200 ms and was cancelled");
    EXPECT_GE(elapsed, 190);
    EXPECT_LT(elapsed, 400);
    EXPECT_FALSE(c->broken());
    auto active = co_await MustExecute(
        *monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
        Args(std::to_string(c->backend_pid())));
    EXPECT_EQ(Scalar(active), "0");
    // the connection goes on, with the next statement's own timeout
    auto t = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(10000));
    EXPECT_EQ(Scalar(t), "10s");
  }());
}

TEST_F(PgConnectionTest, PerStatementTimeoutThenDefaultAgain) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    EXPECT_EQ(c->server_statement_timeout(), milliseconds(30000));
    auto a = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(1234));
    EXPECT_EQ(Scalar(a), "1234ms");
    EXPECT_EQ(c->server_statement_timeout(), milliseconds(1234));
    auto b = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(1234));
    EXPECT_EQ(Scalar(b), "1234ms");
    auto d = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(30000));
    EXPECT_EQ(Scalar(d), "30s");
    // a failing statement does not roll the new setting back (separate Sync)
    auto fail = co_await c->Execute(Statement{"SELECT 1/0", {}, milliseconds(777)});
    EXPECT_FALSE(fail);
    auto e = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(777));
    EXPECT_EQ(Scalar(e), "777ms");
    EXPECT_FALSE(c->needs_reset()) << "our own timeout management is not lessee state";
  }());
}

TEST_F(PgConnectionTest, TimeoutSetInsideARolledBackTransactionIsSetAgain) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "BEGIN", {}, milliseconds(30000));
    auto in = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(5000));
    EXPECT_EQ(Scalar(in), "5s");
    co_await MustExecute(*c, "ROLLBACK", {}, milliseconds(5000));  // undoes set_config(5000)
    auto after = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(5000));
    EXPECT_EQ(Scalar(after), "5s");
    // a SET by the lessee is noticed too
    co_await MustExecute(*c, "SET statement_timeout = 60000", {}, milliseconds(5000));
    auto set = co_await MustExecute(*c, "SHOW statement_timeout", {}, milliseconds(5000));
    EXPECT_EQ(Scalar(set), "5s");
  }());
}

TEST_F(PgConnectionTest, ClientSideCancelWhenTheServerDoesNotTimeOut) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    // Switch the server-side timeout off behind the connection's back (a SELECT it cannot see).
    co_await MustExecute(*c, "SELECT set_config('statement_timeout', '0', false)", {}, milliseconds(300));
    const auto start = Clock::now();
    auto r = co_await c->Execute(Statement{"SELECT pg_sleep(10)", {}, milliseconds(300)});
    const auto elapsed = ElapsedMs(start);
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kQueryTimeout);
    EXPECT_EQ(r.error().message, "statement exceeded its timeout of 300 ms and was cancelled");
    EXPECT_GE(elapsed, 1250);  // timeout + 1 s grace, then PQcancel on the worker
    EXPECT_LT(elapsed, 3000);
    EXPECT_FALSE(c->broken());
    EXPECT_EQ(worker_.Stats().submitted, 1u);
    auto ok = co_await MustExecute(*c, "SELECT 1", {}, milliseconds(2000));
    EXPECT_EQ(Scalar(ok), "1");
    EXPECT_EQ(worker_.Stats().delivered, 1u) << "the next statement waits for the cancel request to land";
  }());
}

TEST_F(PgConnectionTest, CancellationSignalCancelsTheStatementOnTheServer) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    auto monitor = co_await MustOpen(worker_);
    if (!c || !monitor) co_return;
    asio::cancellation_signal signal;
    std::optional<Result<PgResultPtr>> outcome;
    Clock::time_point finished;
    asio::co_spawn(io_, c->Execute(Statement{"SELECT pg_sleep(30)", {}, milliseconds(60000)}),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Result<PgResultPtr> r) {
                     EXPECT_FALSE(e);
                     outcome.emplace(std::move(r));
                     finished = Clock::now();
                   }));
    co_await Sleep(milliseconds(300));
    auto running = co_await MustExecute(
        *monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
        Args(std::to_string(c->backend_pid())));
    EXPECT_EQ(Scalar(running), "1");
    const auto emitted = Clock::now();
    signal.emit(asio::cancellation_type::terminal);
    co_await Sleep(milliseconds(50));
    EXPECT_TRUE(outcome.has_value()) << "Execute returns promptly after cancellation";
    if (!outcome) co_return;
    EXPECT_FALSE(*outcome);
    EXPECT_LT(std::chrono::duration_cast<milliseconds>(finished - emitted).count(), 50);
    EXPECT_TRUE(c->needs_drain());
    // the server stops the statement within ~1 s
    std::string still = "1";
    for (int i = 0; i < 20 && still != "0"; ++i) {
      co_await Sleep(milliseconds(50));
      auto r = co_await MustExecute(*monitor,
                                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                                    Args(std::to_string(c->backend_pid())));
      still = Scalar(r);
    }
    EXPECT_EQ(still, "0");
    // the next statement drains the abandoned one first
    auto ok = co_await MustExecute(*c, "SELECT 2", {}, milliseconds(5000));
    EXPECT_EQ(Scalar(ok), "2");
    EXPECT_FALSE(c->needs_drain());
    EXPECT_TRUE(c->needs_reset()) << "what an abandoned statement did is unknown";
  }());
}

TEST_F(PgConnectionTest, LosingARaceInAwaitableOperatorsCancelsTheStatement) {
  using namespace boost::asio::experimental::awaitable_operators;
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    auto monitor = co_await MustOpen(worker_);
    if (!c || !monitor) co_return;
    const auto start = Clock::now();
    // What the HTTP layer does when the client disconnects: the other branch wins.
    auto winner = co_await (c->Execute(Statement{"SELECT pg_sleep(30)", {}, milliseconds(60000)}) ||
                            Sleep(milliseconds(200)));
    EXPECT_EQ(winner.index(), 1u);
    EXPECT_LT(ElapsedMs(start), 400);
    EXPECT_TRUE(c->needs_drain());
    std::string active = "1";
    for (int i = 0; i < 20 && active != "0"; ++i) {
      co_await Sleep(milliseconds(50));
      auto r = co_await MustExecute(*monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                                    Args(std::to_string(c->backend_pid())));
      active = Scalar(r);
    }
    EXPECT_EQ(active, "0");
    auto drained = co_await c->Drain(milliseconds(2000));
    EXPECT_TRUE(drained);
    EXPECT_FALSE(c->needs_drain());
    auto ok = co_await MustExecute(*c, "SELECT 3");
    EXPECT_EQ(Scalar(ok), "3");
  }());
}

TEST_F(PgConnectionTest, ASecondStatementWhileOneRunsIsAConflict) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    std::optional<Result<PgResultPtr>> first;
    asio::co_spawn(io_, c->Execute(Statement{"SELECT pg_sleep(0.2)", {}, milliseconds(5000)}),
                   [&](std::exception_ptr, Result<PgResultPtr> r) { first.emplace(std::move(r)); });
    co_await Sleep(milliseconds(20));
    auto second = co_await c->Execute(Statement{"SELECT 1", {}, milliseconds(5000)});
    EXPECT_FALSE(second);
    if (!second) {
      EXPECT_EQ(second.error().code, ErrorCode::kConflict);
    }
    while (!first) {
      co_await Sleep(milliseconds(10));
    }
    EXPECT_TRUE(*first);
    auto third = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(third), "1");
  }());
}

TEST_F(PgConnectionTest, ResetRestoresTheInitialSession) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "SET TimeZone = 'Europe/Paris'");
    EXPECT_TRUE(c->needs_reset());
    co_await MustExecute(*c, "CREATE TEMP TABLE reset_t (x int)");
    co_await MustExecute(*c, "PREPARE reset_p AS SELECT 1");
    co_await MustExecute(*c, "LISTEN reset_channel");
    co_await MustExecute(*c, "BEGIN");
    co_await MustExecute(*c, "INSERT INTO reset_t VALUES (1)");
    EXPECT_EQ(c->transaction_status(), PQTRANS_INTRANS);
    auto reset = co_await c->Reset(milliseconds(5000));
    EXPECT_TRUE(reset) << (reset ? "" : reset.error().message);
    EXPECT_FALSE(c->needs_reset());
    EXPECT_EQ(c->transaction_status(), PQTRANS_IDLE);
    auto r = co_await MustExecute(*c,
                                  "SELECT current_setting('TimeZone'), to_regclass('reset_t') IS NULL, "
                                  "(SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^coredb_s[0-9]+$'), "
                                  "(SELECT count(*) FROM pg_listening_channels()), current_setting('statement_timeout')",
                                  {}, milliseconds(30000));  // the default: runs without set_config
    if (!r) co_return;
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "UTC");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "t");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 2), "0");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 3), "0");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 4), "30s") << "DISCARD ALL restores the startup value";
    EXPECT_FALSE(c->needs_reset());
  }());
}

TEST_F(PgConnectionTest, CommandsThatCannotRunInATransactionBlockWork) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    co_await MustExecute(*c, "CREATE TEMP TABLE vac_t (x int)", {}, milliseconds(5000));
    auto v = co_await c->Execute(Statement{"VACUUM vac_t", {}, milliseconds(5000)});
    EXPECT_TRUE(v) << (v ? "" : v.error().message);
    auto d = co_await c->Execute(Statement{"DISCARD ALL", {}, milliseconds(5000)});
    EXPECT_TRUE(d) << (d ? "" : d.error().message);
  }());
}

TEST_F(PgConnectionTest, LargeResultsAndLargeParametersDoNotStall) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    auto big = co_await MustExecute(*c, "SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g", {},
                                    milliseconds(20000));
    if (big) {
      EXPECT_EQ(PQntuples(big.get()), 100000);
    }
    const Params params = Args(std::string(16 * 1024 * 1024, 'y'));
    auto len = co_await MustExecute(*c, "SELECT length($1)", params, milliseconds(20000));
    EXPECT_EQ(Scalar(len), std::to_string(16 * 1024 * 1024));
  }());
}

// Counts the rows it is shown per statement and refuses every row after the first `keep`.
class CountingSink final : public RowSink {
 public:
  explicit CountingSink(std::size_t keep) : keep_(keep) {}
  bool OnRow(std::size_t index, const PGresult* row) override {
    if (rows.size() <= index) rows.resize(index + 1);
    ++rows[index];
    EXPECT_EQ(PQresultStatus(row), PGRES_SINGLE_TUPLE);
    EXPECT_EQ(PQntuples(row), 1);
    return ++seen_ <= keep_;
  }
  std::vector<int> rows;

 private:
  std::size_t keep_;
  std::size_t seen_ = 0;
};

TEST_F(PgConnectionTest, RowsGoToTheSinkOneByOneAcrossSyncsAndTheFinalResultHasNone) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    // Not atomic: a Sync after each statement, so single-row mode is set again after each Sync.
    std::vector<Statement> three{{"SELECT generate_series(1, 3)", {}, milliseconds(5000)},
                                 {"SELECT 'x' WHERE false", {}, milliseconds(5000)},
                                 {"SELECT generate_series(1, 5), 'y'", {}, milliseconds(5000)}};
    CountingSink sink(1000);
    auto r = co_await c->ExecuteBatch(three, /*atomic=*/false, milliseconds(5000), &sink);
    CO_ASSERT_TRUE(r.has_value());
    CO_ASSERT_TRUE(r->size() == 3u);
    for (const auto& result : *r) {
      EXPECT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK);
      EXPECT_EQ(PQntuples(result.get()), 0) << "rows went to the sink";
    }
    EXPECT_EQ(PQnfields((*r)[2].get()), 2) << "the final result still describes the fields";
    EXPECT_EQ(std::string(PQcmdStatus((*r)[2].get())), "SELECT 5");
    EXPECT_EQ(sink.rows, (std::vector<int>{3, 0, 5}));
    // Atomic (one Sync): the same.
    CountingSink atomic(1000);
    auto a = co_await c->ExecuteBatch(three, /*atomic=*/true, milliseconds(5000), &atomic);
    CO_ASSERT_TRUE(a.has_value());
    EXPECT_EQ(atomic.rows, (std::vector<int>{3, 0, 5}));
    // Without a sink nothing changes.
    auto plain = co_await MustExecute(*c, "SELECT generate_series(1, 4)");
    if (plain) {
      EXPECT_EQ(PQntuples(plain.get()), 4);
    }
  }());
}

TEST_F(PgConnectionTest, ASinkThatRefusesARowCancelsTheStatementAndTheConnectionStaysUsable) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const int pid = c->backend_pid();
    CountingSink sink(10);
    // Endless unless cancelled: 10^9 rows streamed from the select list.
    const Statement endless{"SELECT generate_series(1, 1000000000)", {}, milliseconds(20000)};
    const auto start = Clock::now();
    auto r = co_await c->Execute(endless, &sink);
    EXPECT_LT(Clock::now() - start, milliseconds(10000)) << "the statement ran on after the refusal";
    CO_ASSERT_TRUE(!r.has_value());
    EXPECT_EQ(SqlState(r.error()), "57014") << r.error().message;
    CO_ASSERT_TRUE(!sink.rows.empty());
    EXPECT_GT(sink.rows[0], 10);
    EXPECT_FALSE(c->broken());
    auto after = co_await MustExecute(*c, "SELECT pg_backend_pid()");
    EXPECT_EQ(Scalar(after), std::to_string(pid)) << "the same session serves the next statement";
  }());
}

TEST_F(PgConnectionTest, WrongPasswordIsDatabaseUnavailableWithoutThePassword) {
  const std::string url = DatabaseUrl();
  const std::string real_password = Keyword(url, "password");
  const std::string wrong = "Wr0ng-Secret-Pw-" + UniqueName("x");
  RunCoro(io_, [&]() -> awaitable<void> {
    ConnectionOptions o = Options();
    o.conninfo = WithKeyword(url, "password", wrong);
    const auto start = Clock::now();
    auto executor = co_await asio::this_coro::executor;
    auto r = co_await Connection::Open(executor, o, worker_);
    EXPECT_FALSE(r) << "the server accepted a wrong password: DATABASE_URL must point at a server that checks "
                       "passwords for TCP connections (scripts/devstack uses scram-sha-256)";
    if (r) co_return;
    EXPECT_LT(ElapsedMs(start), 2000);
    EXPECT_EQ(r.error().code, ErrorCode::kDatabaseUnavailable);
    EXPECT_EQ(r.error().message.find(wrong), std::string::npos) << r.error().message;
    if (!real_password.empty()) {
      EXPECT_EQ(r.error().message.find(real_password), std::string::npos);
    }
    EXPECT_NE(r.error().message.find("password authentication failed"), std::string::npos) << r.error().message;
  }());
}

TEST_F(PgConnectionTest, UnreachablePortIsDatabaseUnavailableQuickly) {
  RunCoro(io_, [&]() -> awaitable<void> {
    ConnectionOptions o = Options();
    o.conninfo = "postgresql://someone:S3cretPass@127.0.0.1:1/db?sslmode=disable";
    const auto start = Clock::now();
    auto executor = co_await asio::this_coro::executor;
    auto r = co_await Connection::Open(executor, o, worker_);
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_LT(ElapsedMs(start), 1000);
    EXPECT_EQ(r.error().code, ErrorCode::kDatabaseUnavailable);
    EXPECT_EQ(r.error().message.find("S3cretPass"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("could not connect"), std::string::npos) << r.error().message;
  }());
}

TEST_F(PgConnectionTest, SilentServerHitsTheConnectTimeout) {
  // A listener that completes the TCP handshake (backlog) but never answers the startup packet.
  asio::ip::tcp::acceptor silent(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto port = silent.local_endpoint().port();
  RunCoro(io_, [&]() -> awaitable<void> {
    ConnectionOptions o = Options();
    o.conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=u password=TopSecret99 sslmode=disable";
    o.connect_timeout = milliseconds(300);
    const auto start = Clock::now();
    auto executor = co_await asio::this_coro::executor;
    auto r = co_await Connection::Open(executor, o, worker_);
    const auto elapsed = ElapsedMs(start);
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_GE(elapsed, 290);
    EXPECT_LT(elapsed, 1000);
    EXPECT_EQ(r.error().code, ErrorCode::kDatabaseUnavailable);
    EXPECT_EQ(r.error().message, "could not connect to PostgreSQL within 300 ms");
  }());
}

TEST_F(PgConnectionTest, HostNamesAreResolvedAndEveryAddressIsTried) {
  const std::string url = DatabaseUrl();
  if (Keyword(url, "host") != "127.0.0.1") GTEST_SKIP() << "needs DATABASE_URL on host 127.0.0.1";
  RunCoro(io_, [&]() -> awaitable<void> {
    ConnectionOptions o = Options();
    // "localhost" may resolve to ::1 first, where nothing listens: the next address must be tried.
    o.conninfo = WithKeyword(url, "host", "localhost");
    auto c = co_await MustOpen(worker_, o);
    if (!c) co_return;
    auto r = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
  }());
}

TEST_F(PgConnectionTest, TerminatedBackendBreaksTheConnection) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    auto monitor = co_await MustOpen(worker_);
    if (!c || !monitor) co_return;
    EXPECT_TRUE(c->LooksHealthyWhileIdle());
    co_await MustExecute(*monitor, "SELECT pg_terminate_backend($1)", Args(std::to_string(c->backend_pid())));
    co_await Sleep(milliseconds(200));
    EXPECT_FALSE(c->LooksHealthyWhileIdle());
    auto r = co_await c->Execute(Statement{"SELECT 1", {}, milliseconds(2000)});
    EXPECT_FALSE(r);
    if (r) co_return;
    EXPECT_EQ(r.error().code, ErrorCode::kDatabaseUnavailable) << r.error().message;
    EXPECT_TRUE(c->broken());
  }());
}

TEST(PgSqlState, MapsEveryDocumentedClass) {
  EXPECT_EQ(ErrorCodeForSqlState("23505"), ErrorCode::kConstraintViolation);
  EXPECT_EQ(ErrorCodeForSqlState("23503"), ErrorCode::kConstraintViolation);
  EXPECT_EQ(ErrorCodeForSqlState("40001"), ErrorCode::kSerializationFailure);
  EXPECT_EQ(ErrorCodeForSqlState("40P01"), ErrorCode::kSerializationFailure);
  EXPECT_EQ(ErrorCodeForSqlState("57014"), ErrorCode::kQueryTimeout);
  EXPECT_EQ(ErrorCodeForSqlState("42501"), ErrorCode::kForbidden);
  EXPECT_EQ(ErrorCodeForSqlState("25006"), ErrorCode::kForbidden);
  EXPECT_EQ(ErrorCodeForSqlState("08006"), ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("57P01"), ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("57P02"), ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("57P03"), ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("53300"), ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(ErrorCodeForSqlState("42601"), ErrorCode::kQueryError);
  EXPECT_EQ(ErrorCodeForSqlState("22012"), ErrorCode::kQueryError);
  EXPECT_EQ(ErrorCodeForSqlState("40002"), ErrorCode::kQueryError);
}

TEST(PgSqlState, RedactsPasswords) {
  EXPECT_EQ(RedactSecrets("host=x password=abc user=u"), "host=x password=*** user=u");
  EXPECT_EQ(RedactSecrets("password = 'a b\\'c' user=u"), "password = *** user=u");
  EXPECT_EQ(RedactSecrets("postgresql://bob:hunter2@db:5432/x"), "postgresql://bob:***@db:5432/x");
  EXPECT_EQ(RedactSecrets("FATAL:  password authentication failed for user \"bob\"\n"),
            "FATAL:  password authentication failed for user \"bob\"");
  EXPECT_EQ(RedactSecrets("oops hunter2 here", "hunter2"), "oops *** here");
  const Error e = MapConnectionError("could not connect", "failed: x\n\tIs the server running?\n");
  EXPECT_EQ(e.code, ErrorCode::kDatabaseUnavailable);
  EXPECT_EQ(e.message, "could not connect: failed: x Is the server running?");
}

}  // namespace
}  // namespace coredb::pg
