// Helpers for the PostgreSQL adapter's integration tests: the server comes from DATABASE_URL
// (scripts/devstack); a missing DATABASE_URL fails the test, it never skips.
#pragma once

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

// ASSERT_* returns void: inside a coroutine, fail and co_return instead.
#define CO_ASSERT_TRUE(condition)                         \
  if (!(condition)) {                                     \
    ADD_FAILURE() << "expected true: " #condition;        \
    co_return;                                            \
  }

namespace coredb::pg::testing {

// Milliseconds since `since` on the steady clock.
inline long long ElapsedMs(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count();
}

inline std::string DatabaseUrl() {
  const char* url = std::getenv("DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "DATABASE_URL is not set: start the dev stack (scripts/devstack start) and export its env";
    return {};
  }
  return url;
}

// A name unique to this test run, for application_name filters and table names.
inline std::string UniqueName(const std::string& prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  return prefix + "_" + std::to_string(rng() % 1000000000ULL);
}

// Runs `awaitable` on `io` until it completes (other work on `io` keeps running meanwhile).
template <class T>
T RunCoro(boost::asio::io_context& io, boost::asio::awaitable<T> awaitable,
      std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, std::move(awaitable), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("test coroutine did not finish in time");
    io.restart();
    io.run_one_for(std::chrono::milliseconds(100));
  }
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void RunCoro(boost::asio::io_context& io, boost::asio::awaitable<void> awaitable,
                std::chrono::seconds limit = std::chrono::seconds(60)) {
  RunCoro(io, [](boost::asio::awaitable<void> a) -> boost::asio::awaitable<int> {
        co_await std::move(a);
        co_return 0;
      }(std::move(awaitable)),
      limit);
}

// Lets the loop run `d` (timers, background work) before going on.
inline boost::asio::awaitable<void> Sleep(std::chrono::milliseconds d) {
  auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(executor, d);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

inline ConnectionOptions Options(std::string application_name = "coredb_test") {
  ConnectionOptions o;
  o.conninfo = DatabaseUrl();
  o.application_name = std::move(application_name);
  return o;
}

using Params = std::vector<std::optional<std::string>>;

// Builds Params outside of any co_await expression (GCC 12 cannot keep an initializer_list's
// array alive across a suspension: "array used as initializer").
template <class... A>
Params Args(A&&... a) {
  Params p;
  (p.emplace_back(std::forward<A>(a)), ...);
  return p;
}

// Runs one statement; fails the test on error and returns the result.
inline boost::asio::awaitable<PgResultPtr> MustExecute(Connection& c, std::string_view sql, const Params& params = {},
                                                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto r = co_await c.Execute(Statement{sql, params, timeout});
  if (!r) {
    ADD_FAILURE() << "statement failed: " << sql << ": " << r.error().message;
    co_return PgResultPtr{};
  }
  co_return std::move(*r);
}

// The first column of the first row as text ("" when NULL or no row).
inline std::string Scalar(const PgResultPtr& r) {
  if (!r || PQntuples(r.get()) == 0 || PQgetisnull(r.get(), 0, 0)) return {};
  return PQgetvalue(r.get(), 0, 0);
}

inline boost::asio::awaitable<std::unique_ptr<Connection>> MustOpen(CancelWorker& worker,
                                                                     ConnectionOptions options = Options()) {
  auto executor = co_await boost::asio::this_coro::executor;
  auto r = co_await Connection::Open(executor, options, worker);
  if (!r) {
    ADD_FAILURE() << "could not connect: " << r.error().message;
    co_return nullptr;
  }
  co_return std::move(*r);
}

}  // namespace coredb::pg::testing
