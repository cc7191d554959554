// coredb::pg::Pool against a real PostgreSQL (DATABASE_URL).
#include "coredb/adapters/postgres/pg_pool.hpp"
#include "pg_test_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace coredb::pg {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using namespace coredb::pg::testing;


// Fails the test when a background coroutine throws.
auto NoThrow() {
  return [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      ADD_FAILURE() << "coroutine threw: " << ex.what();
    }
  };
}

class PgPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(DatabaseUrl().empty());
    app_ = UniqueName("coredb_pool");
  }

  PoolOptions MakeOptions(std::size_t max_size) {
    PoolOptions o;
    o.name = "postgresql";
    o.connection = Options(app_);
    o.max_size = max_size;
    return o;
  }

  // Backends of this test's pool, as the server sees them.
  awaitable<int> ServerSideCount(Connection& monitor) {
    auto r = co_await MustExecute(monitor, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                                  Args(app_));
    co_return r ? std::stoi(Scalar(r)) : -1;
  }

  awaitable<bool> BackendActive(Connection& monitor, int pid) {
    auto r = co_await MustExecute(monitor, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
                                  Args(std::to_string(pid)));
    co_return Scalar(r) != "0";
  }

  // Polls (up to `limit`) until the server counts `expected` backends of this pool.
  awaitable<int> WaitForServerCount(Connection& monitor, int expected, milliseconds limit = milliseconds(2000)) {
    const auto deadline = Clock::now() + limit;
    int n = co_await ServerSideCount(monitor);
    while (n != expected && Clock::now() < deadline) {
      co_await Sleep(milliseconds(25));
      n = co_await ServerSideCount(monitor);
    }
    co_return n;
  }

  asio::io_context io_;
  CancelWorker worker_;
  std::string app_;
};

TEST_F(PgPoolTest, IsLazyUntilTheFirstAcquire) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(5), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    co_await Sleep(milliseconds(50));
    EXPECT_EQ(pool.Stats().size, 0u);
    const int before = co_await ServerSideCount(*monitor);
    EXPECT_EQ(before, 0);
    {
      auto c = co_await pool.Acquire(milliseconds(5000));
      EXPECT_TRUE(c);
      if (!c) co_return;
      auto r = co_await MustExecute(**c, "SELECT 1");
      EXPECT_EQ(Scalar(r), "1");
      const PoolStats s = pool.Stats();
      EXPECT_EQ(s.size, 1u);
      EXPECT_EQ(s.active, 1u);
      EXPECT_EQ(s.idle, 0u);
      const int during = co_await ServerSideCount(*monitor);
      EXPECT_EQ(during, 1);
    }
    const PoolStats s = pool.Stats();
    EXPECT_EQ(s.size, 1u);
    EXPECT_EQ(s.idle, 1u);
    EXPECT_EQ(s.active, 0u);
    EXPECT_EQ(s.acquired_total, 1u);
    EXPECT_EQ(s.released_total, 1u);
    EXPECT_EQ(s.opened_total, 1u);
  }());
}

TEST_F(PgPoolTest, NeverOpensMoreThanMaxUnderFiftyConcurrentAcquirers) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(5), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    int done = 0, succeeded = 0, in_flight = 0, max_in_flight = 0;
    std::size_t max_size = 0;
    for (int i = 0; i < 50; ++i) {
      asio::co_spawn(
          io_,
          [&]() -> awaitable<void> {
            auto c = co_await pool.Acquire(milliseconds(20000));
            max_size = std::max(max_size, pool.Stats().size);
            if (!c) {
              ADD_FAILURE() << c.error().message;
              ++done;
              co_return;
            }
            max_in_flight = std::max(max_in_flight, ++in_flight);
            auto r = co_await (*c)->Execute(Statement{"SELECT pg_sleep(0.05)", {}, milliseconds(5000)});
            EXPECT_TRUE(r);
            --in_flight;
            if (r) ++succeeded;
            ++done;
          },
          NoThrow());
    }
    int max_server = 0;
    while (done < 50) {
      const int n = co_await ServerSideCount(*monitor);
      max_server = std::max(max_server, n);
      max_size = std::max(max_size, pool.Stats().size);
      co_await Sleep(milliseconds(10));
    }
    EXPECT_EQ(succeeded, 50);
    EXPECT_LE(max_in_flight, 5);
    EXPECT_LE(max_size, 5u);
    EXPECT_LE(max_server, 5);
    EXPECT_GE(max_server, 1);
    const PoolStats s = pool.Stats();
    EXPECT_EQ(s.size, 5u);
    EXPECT_EQ(s.opened_total, 5u);
    EXPECT_EQ(s.acquired_total, 50u);
    EXPECT_EQ(s.released_total, 50u);
    EXPECT_EQ(s.waiting, 0u);
    EXPECT_EQ(s.timeouts_total, 0u);
  }());
}

TEST_F(PgPoolTest, ServesWaitersInArrivalOrderEachOnce) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto holder = co_await pool.Acquire(milliseconds(5000));
    if (!holder) co_return;
    std::vector<int> order;
    int holders = 0, max_holders = 1;
    for (int i = 0; i < 6; ++i) {
      asio::co_spawn(
          io_,
          [&, i]() -> awaitable<void> {
            auto c = co_await pool.Acquire(milliseconds(10000));
            EXPECT_TRUE(c);
            if (!c) co_return;
            order.push_back(i);
            max_holders = std::max(max_holders, ++holders + 0);
            co_await Sleep(milliseconds(5));
            --holders;
          },
          NoThrow());
      co_await Sleep(milliseconds(2));  // arrival order is spawn order
    }
    EXPECT_EQ(pool.Stats().waiting, 6u);
    holder->Release();
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (order.size() < 6 && Clock::now() < deadline) {
      co_await Sleep(milliseconds(5));
    }
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
    EXPECT_EQ(max_holders, 1);
    EXPECT_EQ(pool.Stats().acquired_total, 7u);
    EXPECT_EQ(pool.Stats().size, 1u);
  }());
}

TEST_F(PgPoolTest, WaiterTimesOutAtItsOwnTimeoutAndIsNeverServedLater) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto holder = co_await pool.Acquire(milliseconds(5000));
    if (!holder) co_return;
    std::vector<std::string> served;
    std::optional<Result<PooledConnection>> short_outcome;
    Clock::time_point short_done;
    const auto start = Clock::now();
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto c = co_await pool.Acquire(milliseconds(5000));
      if (c) served.push_back("first");
    }, NoThrow());
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto c = co_await pool.Acquire(milliseconds(200));
      short_done = Clock::now();
      if (c) served.push_back("short");
      short_outcome.emplace(std::move(c));
    }, NoThrow());
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto c = co_await pool.Acquire(milliseconds(5000));
      if (c) served.push_back("last");
    }, NoThrow());
    co_await Sleep(milliseconds(400));
    EXPECT_TRUE(short_outcome.has_value());
    if (!short_outcome) co_return;
    EXPECT_FALSE(*short_outcome);
    if (*short_outcome) co_return;
    const auto waited = std::chrono::duration_cast<milliseconds>(short_done - start).count();
    EXPECT_GE(waited, 195);
    EXPECT_LT(waited, 350);
    EXPECT_EQ(short_outcome->error().code, ErrorCode::kPoolTimeout);
    EXPECT_EQ(short_outcome->error().message, "no postgresql connection available within 200 ms");
    EXPECT_EQ(pool.Stats().waiting, 2u);
    EXPECT_EQ(pool.Stats().timeouts_total, 1u);
    holder->Release();
    co_await Sleep(milliseconds(100));
    EXPECT_EQ(served, (std::vector<std::string>{"first", "last"}));
    EXPECT_EQ(pool.Stats().acquired_total, 3u);
    EXPECT_EQ(pool.Stats().released_total, 3u);
    EXPECT_EQ(pool.Stats().idle, 1u);
  }());
}

TEST_F(PgPoolTest, FullWaitQueueIsAPoolTimeoutAtOnce) {
  RunCoro(io_, [&]() -> awaitable<void> {
    PoolOptions o = MakeOptions(1);
    o.max_waiters = 2;
    Pool pool(io_.get_executor(), o, worker_);
    auto holder = co_await pool.Acquire(milliseconds(5000));
    if (!holder) co_return;
    int served = 0;
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(io_, [&]() -> awaitable<void> {
        auto c = co_await pool.Acquire(milliseconds(5000));
        if (c) ++served;
      }, NoThrow());
    }
    co_await Sleep(milliseconds(20));
    EXPECT_EQ(pool.Stats().waiting, 2u);
    const auto start = Clock::now();
    auto third = co_await pool.Acquire(milliseconds(5000));
    EXPECT_LT(ElapsedMs(start), 50);
    EXPECT_FALSE(third);
    if (!third) {
      EXPECT_EQ(third.error().code, ErrorCode::kPoolTimeout);
    }
    holder->Release();
    co_await Sleep(milliseconds(50));
    EXPECT_EQ(served, 2);
  }());
}

TEST_F(PgPoolTest, CancelledWaiterLeavesTheQueue) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto holder = co_await pool.Acquire(milliseconds(5000));
    if (!holder) co_return;
    asio::cancellation_signal signal;
    bool finished = false;
    asio::co_spawn(io_, pool.Acquire(milliseconds(5000)),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr, Result<PooledConnection> r) {
                     EXPECT_FALSE(r);
                     finished = true;
                   }));
    co_await Sleep(milliseconds(20));
    EXPECT_EQ(pool.Stats().waiting, 1u);
    signal.emit(asio::cancellation_type::terminal);
    co_await Sleep(milliseconds(20));
    EXPECT_TRUE(finished);
    EXPECT_EQ(pool.Stats().waiting, 0u);
    holder->Release();
    EXPECT_EQ(pool.Stats().idle, 1u);
    EXPECT_EQ(pool.Stats().acquired_total, 1u);
  }());
}

TEST_F(PgPoolTest, CancelledStatementIsStoppedAndTheConnectionReused) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    asio::cancellation_signal signal;
    int pid = 0;
    bool finished = false;
    std::optional<Error> error;
    asio::co_spawn(
        io_,
        [&]() -> awaitable<void> {
          auto c = co_await pool.Acquire(milliseconds(5000));
          if (!c) co_return;
          pid = (*c)->backend_pid();
          auto r = co_await (*c)->Execute(Statement{"SELECT pg_sleep(30)", {}, milliseconds(60000)});
          if (!r) error = r.error();
          finished = true;
        },
        asio::bind_cancellation_slot(signal.slot(), NoThrow()));
    co_await Sleep(milliseconds(300));
    EXPECT_NE(pid, 0);
    const bool sleeping = co_await BackendActive(*monitor, pid);
    EXPECT_TRUE(sleeping);
    const auto emitted = Clock::now();
    signal.emit(asio::cancellation_type::terminal);
    co_await Sleep(milliseconds(20));
    EXPECT_TRUE(finished) << "the cancelled request returns at once";
    EXPECT_TRUE(error.has_value());
    bool active = true;
    while (active && ElapsedMs(emitted) < 1000) {
      active = co_await BackendActive(*monitor, pid);
      if (active) {
        co_await Sleep(milliseconds(20));
      }
    }
    EXPECT_FALSE(active) << "pg_sleep still running 1 s after the cancellation";
    auto again = co_await pool.Acquire(milliseconds(5000));
    EXPECT_TRUE(again);
    if (!again) co_return;
    EXPECT_EQ((*again)->backend_pid(), pid) << "the drained connection is reused";
    auto r = co_await MustExecute(**again, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
    EXPECT_EQ(pool.Stats().broken_total, 0u);
    EXPECT_EQ(pool.Stats().opened_total, 1u);
  }());
}

TEST_F(PgPoolTest, DeadIdleConnectionIsReplacedOnAcquire) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(2), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    int first_pid = 0;
    {
      auto c = co_await pool.Acquire(milliseconds(5000));
      if (!c) co_return;
      first_pid = (*c)->backend_pid();
    }
    co_await MustExecute(*monitor, "SELECT pg_terminate_backend($1)", Args(std::to_string(first_pid)));
    co_await Sleep(milliseconds(200));
    auto c = co_await pool.Acquire(milliseconds(5000));
    EXPECT_TRUE(c);
    if (!c) co_return;
    EXPECT_NE((*c)->backend_pid(), first_pid);
    auto r = co_await MustExecute(**c, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
    EXPECT_EQ(pool.Stats().broken_total, 1u);
    EXPECT_EQ(pool.Stats().size, 1u);
  }());
}

TEST_F(PgPoolTest, ConnectionBrokenInUseIsClosedAndReplacedForWaiters) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    auto c = co_await pool.Acquire(milliseconds(5000));
    if (!c) co_return;
    const int pid = (*c)->backend_pid();
    std::optional<int> waiter_pid;
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto w = co_await pool.Acquire(milliseconds(5000));
      EXPECT_TRUE(w);
      if (!w) co_return;
      auto r = co_await MustExecute(**w, "SELECT 1");
      EXPECT_EQ(Scalar(r), "1");
      waiter_pid = (*w)->backend_pid();
    }, NoThrow());
    co_await MustExecute(*monitor, "SELECT pg_terminate_backend($1)", Args(std::to_string(pid)));
    co_await Sleep(milliseconds(100));
    auto r = co_await (*c)->Execute(Statement{"SELECT 1", {}, milliseconds(2000)});
    EXPECT_FALSE(r);
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kDatabaseUnavailable);
    }
    EXPECT_TRUE((*c)->broken());
    c->Release();
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!waiter_pid && Clock::now() < deadline) {
      co_await Sleep(milliseconds(10));
    }
    EXPECT_TRUE(waiter_pid.has_value());
    if (waiter_pid) {
      EXPECT_NE(*waiter_pid, pid);
    }
    EXPECT_EQ(pool.Stats().broken_total, 1u);
    EXPECT_EQ(pool.Stats().size, 1u);
    auto next = co_await pool.Acquire(milliseconds(5000));
    EXPECT_TRUE(next);
  }());
}

TEST_F(PgPoolTest, NextLesseeSeesNothingOfThePreviousSession) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    int pid = 0;
    {
      auto c = co_await pool.Acquire(milliseconds(5000));
      if (!c) co_return;
      pid = (*c)->backend_pid();
      co_await MustExecute(**c, "SET TimeZone = 'Europe/Paris'");
      co_await MustExecute(**c, "CREATE TEMP TABLE lessee_t (x int)");
      co_await MustExecute(**c, "LISTEN lessee_channel");
      co_await MustExecute(**c, "PREPARE lessee_p AS SELECT 1");
      co_await MustExecute(**c, "BEGIN");
      co_await MustExecute(**c, "INSERT INTO lessee_t VALUES (1)");
      EXPECT_TRUE((*c)->needs_reset());
    }
    auto c = co_await pool.Acquire(milliseconds(5000));
    EXPECT_TRUE(c);
    if (!c) co_return;
    EXPECT_EQ((*c)->backend_pid(), pid) << "pool max 1: the same backend";
    EXPECT_FALSE((*c)->needs_reset());
    EXPECT_EQ((*c)->transaction_status(), PQTRANS_IDLE);
    auto r = co_await MustExecute(**c,
                                  "SELECT current_setting('TimeZone'), to_regclass('lessee_t') IS NULL, "
                                  "(SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^coredb_s[0-9]+$'), "
                                  "(SELECT count(*) FROM pg_listening_channels())");
    if (!r) co_return;
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 0), "UTC");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 1), "t");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 2), "0");
    EXPECT_STREQ(PQgetvalue(r.get(), 0, 3), "0");
    EXPECT_EQ(pool.Stats().broken_total, 0u);
  }());
}

TEST_F(PgPoolTest, MarkNeedsResetReleasesAdvisoryLocks) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    {
      auto c = co_await pool.Acquire(milliseconds(5000));
      if (!c) co_return;
      co_await MustExecute(**c, "SELECT pg_advisory_lock(424242)");
      EXPECT_FALSE((*c)->needs_reset()) << "a SELECT cannot be seen to take a session lock";
      (*c)->MarkNeedsReset();  // what a lease does when it ends
    }
    auto c = co_await pool.Acquire(milliseconds(5000));
    if (!c) co_return;
    auto r = co_await MustExecute(
        **c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()");
    EXPECT_EQ(Scalar(r), "0");
  }());
}

TEST_F(PgPoolTest, ResizeUpAndDownWithBusyConnections) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(2), worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    auto a = co_await pool.Acquire(milliseconds(5000));
    auto b = co_await pool.Acquire(milliseconds(5000));
    if (!a || !b) co_return;
    std::optional<Result<PooledConnection>> w;
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto r = co_await pool.Acquire(milliseconds(5000));
      w.emplace(std::move(r));
    },
                   NoThrow());
    co_await Sleep(milliseconds(50));
    EXPECT_EQ(pool.Stats().waiting, 1u);
    EXPECT_FALSE(w.has_value());
    pool.Resize(3);  // the waiter gets a new connection at once
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!w && Clock::now() < deadline) {
      co_await Sleep(milliseconds(5));
    }
    EXPECT_TRUE(w && *w);
    if (!w || !*w) co_return;
    EXPECT_EQ(pool.Stats().size, 3u);
    const int three = co_await WaitForServerCount(*monitor, 3);
    EXPECT_EQ(three, 3);

    pool.Resize(1);  // busy connections are not dropped...
    EXPECT_EQ(pool.Stats().max, 1u);
    EXPECT_EQ(pool.Stats().size, 3u);
    auto r = co_await MustExecute(**a, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
    a->Release();  // ...but closed as they come back
    EXPECT_EQ(pool.Stats().size, 2u);
    b->Release();
    EXPECT_EQ(pool.Stats().size, 1u);
    (*w)->Release();
    EXPECT_EQ(pool.Stats().size, 1u);
    EXPECT_EQ(pool.Stats().idle, 1u);
    const int one = co_await WaitForServerCount(*monitor, 1);
    EXPECT_EQ(one, 1);

    pool.Resize(4);  // growing opens nothing by itself (lazy)
    co_await Sleep(milliseconds(50));
    EXPECT_EQ(pool.Stats().size, 1u);
  }());
}

TEST_F(PgPoolTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  RunCoro(io_, [&]() -> awaitable<void> {
    PoolOptions o = MakeOptions(3);
    o.idle_timeout = milliseconds(200);
    Pool pool(io_.get_executor(), o, worker_);
    auto monitor = co_await MustOpen(worker_, Options("coredb_monitor"));
    if (!monitor) co_return;
    {
      auto a = co_await pool.Acquire(milliseconds(5000));
      auto b = co_await pool.Acquire(milliseconds(5000));
      EXPECT_TRUE(a && b);
    }
    EXPECT_EQ(pool.Stats().idle, 2u);
    co_await Sleep(milliseconds(100));
    EXPECT_EQ(pool.Stats().idle, 2u);
    co_await Sleep(milliseconds(250));
    EXPECT_EQ(pool.Stats().size, 0u);
    EXPECT_EQ(pool.Stats().closed_total, 2u);
    const int none = co_await WaitForServerCount(*monitor, 0);
    EXPECT_EQ(none, 0);

    pool.SetIdleTimeout(milliseconds(10000));
    { auto a = co_await pool.Acquire(milliseconds(5000)); }
    co_await Sleep(milliseconds(300));
    EXPECT_EQ(pool.Stats().idle, 1u);
    pool.SetIdleTimeout(milliseconds(50));
    co_await Sleep(milliseconds(150));
    EXPECT_EQ(pool.Stats().size, 0u);
  }());
}

TEST_F(PgPoolTest, CloseFailsWaitersAndRefusesAcquires) {
  RunCoro(io_, [&]() -> awaitable<void> {
    Pool pool(io_.get_executor(), MakeOptions(1), worker_);
    auto holder = co_await pool.Acquire(milliseconds(5000));
    if (!holder) co_return;
    std::optional<Result<PooledConnection>> w;
    asio::co_spawn(io_, [&]() -> awaitable<void> {
      auto r = co_await pool.Acquire(milliseconds(5000));
      w.emplace(std::move(r));
    },
                   NoThrow());
    co_await Sleep(milliseconds(20));
    pool.Close();
    co_await Sleep(milliseconds(20));
    EXPECT_TRUE(w.has_value());
    if (w) {
      EXPECT_FALSE(*w);
      if (!*w) {
        EXPECT_EQ(w->error().code, ErrorCode::kDatabaseUnavailable);
      }
    }
    auto refused = co_await pool.Acquire(milliseconds(100));
    EXPECT_FALSE(refused);
    if (!refused) {
      EXPECT_EQ(refused.error().code, ErrorCode::kDatabaseUnavailable);
    }
    EXPECT_EQ(pool.Stats().size, 1u);
    holder->Release();
    EXPECT_EQ(pool.Stats().size, 0u);
  }());
}

TEST_F(PgPoolTest, ConnectFailureReachesTheAcquirerAndFreesTheSlot) {
  RunCoro(io_, [&]() -> awaitable<void> {
    PoolOptions o = MakeOptions(2);
    o.connection.conninfo = "postgresql://u:Secret123@127.0.0.1:1/db?sslmode=disable";
    Pool pool(io_.get_executor(), o, worker_);
    int failures = 0;
    for (int i = 0; i < 3; ++i) {
      asio::co_spawn(io_, [&]() -> awaitable<void> {
        auto c = co_await pool.Acquire(milliseconds(3000));
        EXPECT_FALSE(c);
        if (!c) {
          EXPECT_EQ(c.error().code, ErrorCode::kDatabaseUnavailable);
          EXPECT_EQ(c.error().message.find("Secret123"), std::string::npos);
          ++failures;
        }
      }, NoThrow());
    }
    const auto start = Clock::now();
    while (failures < 3 && ElapsedMs(start) < 2000) {
      co_await Sleep(milliseconds(5));
    }
    EXPECT_EQ(failures, 3);
    EXPECT_LT(ElapsedMs(start), 1000);
    EXPECT_EQ(pool.Stats().size, 0u);
    EXPECT_EQ(pool.Stats().waiting, 0u);
    EXPECT_EQ(pool.Stats().connecting, 0u);
  }());
}

TEST_F(PgPoolTest, HandlesOutlivingThePoolJustClose) {
  RunCoro(io_, [&]() -> awaitable<void> {
    auto pool = std::make_unique<Pool>(io_.get_executor(), MakeOptions(1), worker_);
    auto c = co_await pool->Acquire(milliseconds(5000));
    if (!c) co_return;
    pool.reset();
    auto r = co_await MustExecute(**c, "SELECT 1");
    EXPECT_EQ(Scalar(r), "1");
    c->Release();  // the pool is gone: the connection just closes
  }());
}

}  // namespace
}  // namespace coredb::pg
