// A pool of PostgreSQL connections for one database, on the event loop. Lazy (no connection until
// the first Acquire), bounded (max_size open or opening), fair (waiters are served strictly in
// arrival order, each exactly once, each within its own timeout). A connection comes back through
// its PooledConnection handle: broken ones are closed (and replaced if someone waits), abandoned
// statements are drained, dirty sessions reset, and only then is it reused. Idle connections
// older than idle_timeout are closed by one timer.
//
// Not thread-safe: use on the loop thread only. The pool may be destroyed while handles or
// background work (drain, reset, connect) are still out: they then just close their connection.
// The CancelWorker must outlive the pool and its connections.
#pragma once

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_connection.hpp"
#include "coredb/core/circuit_breaker.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>

namespace coredb::pg {

struct PoolOptions {
  std::string name;  // for logs and metrics ("postgresql", "vector")
  ConnectionOptions connection;
  std::size_t max_size = 20;
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_waiters = 10000;
  // Bounds for the work done when a connection comes back (drain an abandoned statement, reset a
  // dirty session). Past them the connection is closed instead.
  std::chrono::milliseconds drain_timeout{5000};
  std::chrono::milliseconds reset_timeout{5000};
};

struct PoolStats {
  std::size_t max = 0;
  std::size_t size = 0;     // open or opening connections
  std::size_t active = 0;   // handed out, or being drained/reset on their way back
  std::size_t idle = 0;
  std::size_t waiting = 0;  // Acquire calls queued
  std::size_t connecting = 0;
  std::uint64_t acquired_total = 0, released_total = 0, timeouts_total = 0, opened_total = 0, closed_total = 0,
                broken_total = 0;
  std::uint64_t session_resets_total = 0;  // resets because another client had used the session
};

class Pool;

// The lease on one pooled connection: move-only; the destructor (or Release()) gives it back.
class PooledConnection {
 public:
  PooledConnection() = default;
  PooledConnection(PooledConnection&& other) noexcept = default;
  PooledConnection& operator=(PooledConnection&& other) noexcept;
  ~PooledConnection();

  Connection* get() const { return connection_.get(); }
  Connection* operator->() const { return connection_.get(); }
  Connection& operator*() const { return *connection_; }
  explicit operator bool() const { return connection_ != nullptr; }

  // Gives the connection back now (no-op when empty). Never throws.
  void Release() noexcept;

 private:
  friend class Pool;
  PooledConnection(std::weak_ptr<Pool*> pool, std::unique_ptr<Connection> connection)
      : pool_(std::move(pool)), connection_(std::move(connection)) {}

  std::weak_ptr<Pool*> pool_;
  std::unique_ptr<Connection> connection_;
};

class Pool {
 public:
  Pool(boost::asio::any_io_executor executor, PoolOptions options, CancelWorker& cancel_worker);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // An idle connection (most recently used first), a new one when below max_size, or a place in
  // the queue. Errors: kPoolTimeout ("no postgresql connection available within N ms", or at
  // once when max_waiters are already queued); kDatabaseUnavailable when connecting failed, the
  // pool is closed, or a connection could not be reset. A waiter whose coroutine is cancelled
  // leaves the queue.
  // `session_owner` is who will use the connection (Connection::session_owner: a client id, or
  // empty for the service itself and for leases). A connection whose session another client may
  // have changed is Reset before it is handed out (one round trip, within reset_timeout); idle
  // connections that need no reset are preferred.
  boost::asio::awaitable<Result<PooledConnection>> Acquire(std::chrono::milliseconds timeout,
                                                           std::string_view session_owner = {});

  PoolStats Stats() const;
  // While `breaker` (not owned; may be null) is open, Acquire fails at once with kCircuitOpen
  // (Retry-After) instead of connecting to a backend known to be down. Half-open lets it through.
  void SetBreaker(CircuitBreaker* breaker) { breaker_ = breaker; }
  const PoolOptions& options() const { return options_; }

  // Grows at once (opening for waiters); shrinks by closing idle connections now and busy ones as
  // they come back.
  void Resize(std::size_t max_size);
  void SetIdleTimeout(std::chrono::milliseconds idle_timeout);
  // Refuses new acquires (kDatabaseUnavailable), fails the waiters, closes idle connections now
  // and the others as they come back.
  void Close();

 private:
  friend class PooledConnection;
  struct Waiter;
  struct IdleConnection {
    std::unique_ptr<Connection> connection;
    std::chrono::steady_clock::time_point since;
  };

  // From PooledConnection: never throws.
  void GiveBack(std::unique_ptr<Connection> connection) noexcept;
  boost::asio::awaitable<void> Recover(std::unique_ptr<Connection> connection, std::weak_ptr<Pool*> self);
  // A connection ready for reuse: to the first waiter, or to the idle list (or closed when the
  // pool is over size or closed).
  void Recycle(std::unique_ptr<Connection> connection);
  // `broken_because` (nullptr for an orderly close) is logged and counted in broken_total.
  void CloseConnection(std::unique_ptr<Connection> connection, const char* broken_because);
  // Starts connecting while there are more waiters than connections being opened for them.
  void OpenForWaiters();
  void StartOpen();
  boost::asio::awaitable<void> OpenOne(std::weak_ptr<Pool*> self);
  void FailFirstWaiter(const Error& error);
  void Serve(Waiter& waiter, Result<PooledConnection> outcome);
  PooledConnection Wrap(std::unique_ptr<Connection> connection);
  boost::asio::awaitable<Result<PooledConnection>> AcquireAny(std::chrono::milliseconds timeout,
                                                              std::string_view session_owner);
  // The most recently used healthy idle connection, one that `session_owner` can use without a
  // reset if there is one.
  std::unique_ptr<Connection> TakeIdle(std::string_view session_owner);
  void ArmIdleTimer();
  void OnIdleTimer();

  boost::asio::any_io_executor executor_;
  PoolOptions options_;
  CancelWorker& cancel_worker_;
  // Handles and background work hold a weak reference, so they can tell when the pool is gone.
  std::shared_ptr<Pool*> self_;

  std::deque<IdleConnection> idle_;  // back = most recently used; front = oldest
  std::list<Waiter*> waiters_;       // FIFO
  std::size_t size_ = 0;             // open + opening
  std::size_t connecting_ = 0;
  std::size_t in_use_ = 0;           // handed out
  std::size_t returning_ = 0;        // being drained or reset
  bool closed_ = false;
  CircuitBreaker* breaker_ = nullptr;

  boost::asio::steady_timer idle_timer_;
  bool idle_timer_armed_ = false;
  std::chrono::steady_clock::time_point idle_timer_expiry_;

  std::uint64_t acquired_total_ = 0, released_total_ = 0, timeouts_total_ = 0, opened_total_ = 0, closed_total_ = 0,
                broken_total_ = 0, session_resets_total_ = 0;
};

}  // namespace coredb::pg
