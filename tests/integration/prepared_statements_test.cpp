// Named prepared statements per connection (StatementCache) against a real PostgreSQL: parsed
// once, reused, evicted with DEALLOCATE, forgotten when the session loses them, re-prepared when
// a table's shape changes under them, never in the way of an error.
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "pg_test_support.hpp"

#include <gtest/gtest.h>

#include <string>

namespace coredb::pg {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using namespace coredb::pg::testing;

class PreparedStatementsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(DatabaseUrl().empty()); }
  asio::io_context io_;
  CancelWorker worker_;
};

// How many named statements the session holds, as PostgreSQL sees them.
awaitable<int> ServerStatements(Connection& c) {
  auto r = co_await MustExecute(c, "SELECT count(*) FROM pg_prepared_statements WHERE name ~ '^coredb_s[0-9]+$'");
  co_return r ? std::stoi(Scalar(r)) : -1;
}

TEST_F(PreparedStatementsTest, AStatementIsParsedOnceAndReused) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const auto params = Args("41");
    for (int i = 0; i < 3; ++i) {
      auto r = co_await c->Execute(Statement{"SELECT $1::int + 1", params, milliseconds(30000)});
      CO_ASSERT_TRUE(r.has_value());
      EXPECT_EQ(Scalar(*r), "42");
    }
    EXPECT_EQ(c->statement_cache().misses(), 1u);
    EXPECT_GE(c->statement_cache().hits(), 2u);
    auto listed = co_await MustExecute(*c, "SELECT statement FROM pg_prepared_statements WHERE name ~ '^coredb_s[0-9]+$' "
                                           "AND statement = 'SELECT $1::int + 1'");
    CO_ASSERT_TRUE(listed != nullptr);
    EXPECT_EQ(PQntuples(listed.get()), 1) << "one named statement on the server for the text";
    EXPECT_FALSE(c->needs_reset()) << "our own statements are not the caller's session state";
  }());
}

TEST_F(PreparedStatementsTest, ARefusedParseIsTheStatementsErrorAndNothingIsKept) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    auto bad = co_await c->Execute(Statement{"SELECT FROM WHERE", {}, milliseconds(30000)});
    CO_ASSERT_TRUE(!bad.has_value());
    CO_ASSERT_TRUE(bad.error().pg.has_value());
    EXPECT_EQ(bad.error().pg->sqlstate, "42601");
    auto missing = co_await c->Execute(Statement{"SELECT * FROM no_such_table_here", {}, milliseconds(30000)});
    CO_ASSERT_TRUE(!missing.has_value());
    EXPECT_EQ(missing.error().pg->sqlstate, "42P01");
    EXPECT_EQ(c->statement_cache().size(), 0u);
    // A batch: the refused Parse fails its statement, the next one (own Sync) still runs.
    const std::array<Statement, 2> batch{Statement{"SELECT nope FROM", {}, milliseconds(30000)},
                                         Statement{"SELECT 7", {}, milliseconds(30000)}};
    auto results = co_await c->ExecuteBatch(batch, /*atomic=*/false, milliseconds(30000));
    CO_ASSERT_TRUE(results.has_value());
    CO_ASSERT_TRUE(results->size() == 2);
    EXPECT_EQ(PQresultStatus((*results)[0].get()), PGRES_FATAL_ERROR);
    EXPECT_STREQ(PQresultErrorField((*results)[0].get(), PG_DIAG_SQLSTATE), "42601");
    EXPECT_EQ(Scalar((*results)[1]), "7");
    auto ok = co_await MustExecute(*c, "SELECT 1");
    EXPECT_EQ(Scalar(ok), "1");
  }());
}

TEST_F(PreparedStatementsTest, TheSameTextTwiceInOneBatchIsParsedOnce) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const auto p1 = Args("1");
    const auto p2 = Args("2");
    const std::array<Statement, 2> batch{Statement{"SELECT $1::int * 10", p1, milliseconds(30000)},
                                         Statement{"SELECT $1::int * 10", p2, milliseconds(30000)}};
    auto results = co_await c->ExecuteBatch(batch, /*atomic=*/true, milliseconds(30000));
    CO_ASSERT_TRUE(results.has_value());
    EXPECT_EQ(Scalar((*results)[0]), "10");
    EXPECT_EQ(Scalar((*results)[1]), "20");
    EXPECT_EQ(c->statement_cache().misses(), 1u);
    auto listed = co_await MustExecute(*c, "SELECT count(*) FROM pg_prepared_statements "
                                           "WHERE statement = 'SELECT $1::int * 10'");
    EXPECT_EQ(Scalar(listed), "1");
  }());
}

TEST_F(PreparedStatementsTest, EvictedStatementsAreDeallocatedOnTheServer) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto options = Options();
    options.prepared_statements = 2;
    auto c = co_await MustOpen(worker_, options);
    if (!c) co_return;
    for (int i = 0; i < 6; ++i) {
      const std::string sql = "SELECT " + std::to_string(i) + " AS v";
      auto r = co_await MustExecute(*c, sql);
      EXPECT_EQ(Scalar(r), std::to_string(i));
    }
    const int on_server = co_await ServerStatements(*c);
    // The capacity, plus at most the count query itself (its Parse comes before its eviction).
    EXPECT_LE(on_server, 3);
    EXPECT_LE(c->statement_cache().size(), 2u);
    EXPECT_GE(c->statement_cache().evictions(), 4u);
  }());
}

TEST_F(PreparedStatementsTest, CapacityZeroSendsUnnamedStatementsOnly) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto options = Options();
    options.prepared_statements = 0;
    auto c = co_await MustOpen(worker_, options);
    if (!c) co_return;
    (void)co_await MustExecute(*c, "SELECT 1");
    const int on_server = co_await ServerStatements(*c);
    EXPECT_EQ(on_server, 0);
  }());
}

TEST_F(PreparedStatementsTest, ASessionThatLostItsStatementsPreparesThemAgain) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    for (const char* drop : {"DISCARD ALL", "DEALLOCATE ALL"}) {
      auto first = co_await MustExecute(*c, "SELECT 'kept'::text");
      EXPECT_EQ(Scalar(first), "kept");
      (void)co_await MustExecute(*c, drop);
      EXPECT_EQ(c->statement_cache().size(), 0u) << drop;
      auto again = co_await c->Execute(Statement{"SELECT 'kept'::text", {}, milliseconds(30000)});
      CO_ASSERT_TRUE(again.has_value());
      EXPECT_EQ(Scalar(*again), "kept") << "after " << drop;
    }
    // Reset() runs DISCARD ALL too.
    (void)co_await MustExecute(*c, "SELECT 'kept'::text");
    auto reset = co_await c->Reset(milliseconds(5000));
    CO_ASSERT_TRUE(reset.has_value());
    EXPECT_EQ(c->statement_cache().size(), 0u);
    auto after_reset = co_await MustExecute(*c, "SELECT 'kept'::text");
    EXPECT_EQ(Scalar(after_reset), "kept");
  }());
}

TEST_F(PreparedStatementsTest, AStatementDeallocatedBehindOurBackIsOneErrorThenWorks) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    (void)co_await MustExecute(*c, "SELECT 'x'::text");
    // A function deallocates every named statement: no command tag tells us.
    (void)co_await MustExecute(*c,
                               "CREATE FUNCTION pg_temp.drop_all() RETURNS void LANGUAGE plpgsql AS "
                               "$$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$");
    auto dropped = co_await c->Execute(Statement{"SELECT pg_temp.drop_all()", {}, milliseconds(30000)});
    if (!dropped) {
      // (PostgreSQL may refuse DEALLOCATE through SPI: then nothing was lost.)
      GTEST_LOG_(INFO) << "DEALLOCATE in a function refused: " << dropped.error().message;
      co_return;
    }
    auto first = co_await c->Execute(Statement{"SELECT 'x'::text", {}, milliseconds(30000)});
    if (!first) {
      EXPECT_EQ(first.error().pg->sqlstate, "26000");
    }
    auto second = co_await c->Execute(Statement{"SELECT 'x'::text", {}, milliseconds(30000)});
    CO_ASSERT_TRUE(second.has_value());
    EXPECT_EQ(Scalar(*second), "x");
  }());
}

TEST_F(PreparedStatementsTest, AChangedTableShapeIsPreparedAgainTransparently) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    const std::string table = UniqueName("prep_shape");
    (void)co_await MustExecute(*c, "CREATE TABLE " + table + " (id int)");
    (void)co_await MustExecute(*c, "INSERT INTO " + table + " VALUES (1)");
    const std::string select = "SELECT * FROM " + table;
    auto before = co_await MustExecute(*c, select);
    CO_ASSERT_TRUE(before != nullptr);
    EXPECT_EQ(PQnfields(before.get()), 1);
    (void)co_await MustExecute(*c, "ALTER TABLE " + table + " ADD COLUMN name text DEFAULT 'n'");
    auto after = co_await c->Execute(Statement{select, {}, milliseconds(30000)});
    CO_ASSERT_TRUE(after.has_value());
    EXPECT_EQ(PQnfields(after->get()), 2) << "re-prepared with the new column";
    EXPECT_STREQ(PQgetvalue(after->get(), 0, 1), "n");

    // Inside a transaction block nothing is retried: the error is the caller's, then it works.
    (void)co_await MustExecute(*c, "ALTER TABLE " + table + " ADD COLUMN extra int DEFAULT 3");
    (void)co_await MustExecute(*c, "BEGIN");
    auto in_tx = co_await c->Execute(Statement{select, {}, milliseconds(30000)});
    CO_ASSERT_TRUE(!in_tx.has_value());
    EXPECT_EQ(in_tx.error().pg->sqlstate, "0A000");
    (void)co_await MustExecute(*c, "ROLLBACK");
    auto later = co_await c->Execute(Statement{select, {}, milliseconds(30000)});
    CO_ASSERT_TRUE(later.has_value());
    EXPECT_EQ(PQnfields(later->get()), 3);
    (void)co_await MustExecute(*c, "DROP TABLE " + table);
  }());
}

TEST_F(PreparedStatementsTest, ANamedStatementStillStreamsRowsToTheSink) {
  struct Collect final : RowSink {
    bool OnRow(std::size_t, const PGresult* row) override {
      values.emplace_back(PQgetvalue(row, 0, 0));
      return true;
    }
    std::vector<std::string> values;
  };
  RunCoro(io_, [&]() -> awaitable<void> {
    auto c = co_await MustOpen(worker_);
    if (!c) co_return;
    for (int round = 0; round < 2; ++round) {  // the first Parses, the second reuses
      Collect sink;
      auto r = co_await c->Execute(Statement{"SELECT generate_series(1, 3)::text", {}, milliseconds(30000)}, &sink);
      CO_ASSERT_TRUE(r.has_value());
      EXPECT_EQ(PQntuples(r->get()), 0);
      EXPECT_EQ(sink.values, (std::vector<std::string>{"1", "2", "3"}));
    }
    EXPECT_EQ(c->statement_cache().misses(), 1u);
  }());
}

}  // namespace
}  // namespace coredb::pg
