#include "coredb/adapters/postgres/pg_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <exception>
#include <optional>
#include <utility>

namespace coredb::pg {

namespace asio = boost::asio;
using asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

// Idle for less than this: taken without the poll(2) that finds a backend gone while idle.
constexpr auto kFreshIdle = std::chrono::milliseconds(1);

// Background work (connect, drain, reset) has no caller to report to: log what escapes.
void LogEscapedException(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("postgres pool: {} failed with an exception: {}", what, ex.what());
  } catch (...) {
    spdlog::error("postgres pool: {} failed with an unknown exception", what);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PooledConnection

PooledConnection& PooledConnection::operator=(PooledConnection&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::move(other.pool_);
    connection_ = std::move(other.connection_);
  }
  return *this;
}

PooledConnection::~PooledConnection() { Release(); }

void PooledConnection::Release() noexcept {
  if (!connection_) return;
  std::unique_ptr<Connection> connection = std::move(connection_);
  if (auto pool = pool_.lock(); pool && *pool) {
    (*pool)->GiveBack(std::move(connection));
  }
  // Otherwise the pool is gone: the connection just closes here.
}

// ---------------------------------------------------------------------------------------------
// Pool

struct Pool::Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;  // the waiter's own timeout; cancelled to wake it when served
  std::optional<Result<PooledConnection>> outcome;
  std::list<Waiter*>::iterator position;
  bool queued = false;
};

Pool::Pool(asio::any_io_executor executor, PoolOptions options, CancelWorker& cancel_worker)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      cancel_worker_(cancel_worker),
      self_(std::make_shared<Pool*>(this)),
      idle_timer_(executor_) {
  if (options_.name.empty()) options_.name = "postgresql";
}

Pool::~Pool() {
  Close();
  *self_ = nullptr;
}

PooledConnection Pool::Wrap(std::unique_ptr<Connection> connection) {
  ++acquired_total_;
  ++in_use_;
  return PooledConnection(self_, std::move(connection));
}

awaitable<Result<PooledConnection>> Pool::Acquire(std::chrono::milliseconds timeout, std::string_view session_owner) {
  auto acquired = co_await AcquireAny(timeout, session_owner);
  if (!acquired) co_return std::move(acquired);
  Connection& connection = **acquired;
  if (connection.session_owner().empty() || connection.session_owner() == session_owner) {
    co_return std::move(acquired);
  }
  // Another client may have left session state here: back to the state right after connect.
  ++session_resets_total_;
  auto reset = co_await connection.Reset(options_.reset_timeout);
  if (!reset) {
    // The handle goes back with the connection broken (closed) or still to be drained.
    co_return Error(ErrorCode::kDatabaseUnavailable,
                    "could not reset a pooled " + options_.name + " connection: " + reset.error().message);
  }
  co_return std::move(acquired);
}

awaitable<Result<PooledConnection>> Pool::AcquireAny(std::chrono::milliseconds timeout,
                                                     std::string_view session_owner) {
  if (closed_) co_return Error(ErrorCode::kDatabaseUnavailable, "the " + options_.name + " pool is closed");
  if (breaker_ != nullptr && breaker_->state() == BreakerState::kOpen) {
    auto refused = breaker_->Acquire();  // open: the fail-fast error (counted as rejected)
    if (!refused) co_return refused.error();
  }
  // Strict FIFO: an idle connection goes to a newcomer only when nobody is queued ahead.
  if (waiters_.empty()) {
    if (auto connection = TakeIdle(session_owner)) co_return Wrap(std::move(connection));
  }
  if (waiters_.size() >= options_.max_waiters) {
    ++timeouts_total_;
    co_return Error(ErrorCode::kPoolTimeout, "no " + options_.name + " connection available: " +
                                                 std::to_string(waiters_.size()) + " requests are already waiting");
  }

  Waiter waiter(executor_);
  waiter.position = waiters_.insert(waiters_.end(), &waiter);
  waiter.queued = true;
  // However this frame ends (even destroyed while suspended), it leaves the queue.
  struct Unqueue {
    std::weak_ptr<Pool*> pool;
    Waiter& waiter;
    ~Unqueue() {
      if (!waiter.queued) return;
      if (auto p = pool.lock(); p && *p) (*p)->waiters_.erase(waiter.position);
      waiter.queued = false;
    }
  } unqueue{self_, waiter};
  std::weak_ptr<Pool*> self = self_;

  OpenForWaiters();  // may serve `waiter` at once (a connect that fails synchronously)
  // Every co_await is a statement of its own (GCC 12 miscompiles them inside conditions).
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (!waiter.outcome) {
    if (cs.cancelled() != asio::cancellation_type::none) {
      co_return Error(ErrorCode::kPoolTimeout, "acquiring a connection was cancelled");
    }
    waiter.timer.expires_after(timeout);
    auto [ec] = co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;  // expired, or cancelled to wake us: the outcome decides
  }
  // Served, possibly at the same moment as a timeout or a cancellation: the outcome wins (if the
  // caller is gone, the handle it drops gives the connection back).
  if (waiter.outcome) co_return std::move(*waiter.outcome);
  auto pool = self.lock();
  if (!pool || !*pool) co_return Error(ErrorCode::kDatabaseUnavailable, "the postgresql pool is closed");
  if (cs.cancelled() != asio::cancellation_type::none) {
    co_return Error(ErrorCode::kPoolTimeout, "acquiring a connection was cancelled");
  }
  ++timeouts_total_;
  co_return Error(ErrorCode::kPoolTimeout, "no " + options_.name + " connection available within " +
                                               std::to_string(timeout.count()) + " ms");
}

void Pool::Serve(Waiter& waiter, Result<PooledConnection> outcome) {
  waiter.outcome.emplace(std::move(outcome));
  waiters_.erase(waiter.position);
  waiter.queued = false;
  waiter.timer.cancel();  // wakes it
}

void Pool::FailFirstWaiter(const Error& error) {
  if (!waiters_.empty()) Serve(*waiters_.front(), error);
}

std::unique_ptr<Connection> Pool::TakeIdle(std::string_view session_owner) {
  while (!idle_.empty()) {
    auto pick = std::prev(idle_.end());
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      const std::string& owner = it->connection->session_owner();
      if (owner.empty() || owner == session_owner) {
        pick = std::prev(it.base());
        break;
      }
    }
    std::unique_ptr<Connection> connection = std::move(pick->connection);
    const bool fresh = Clock::now() - pick->since < kFreshIdle;
    idle_.erase(pick);
    // A connection that came back a moment ago skips the check (a poll(2) per request under
    // load): the check is a best effort anyway, a backend can go right after it.
    if (fresh ? !connection->broken() : connection->LooksHealthyWhileIdle()) return connection;
    CloseConnection(std::move(connection), "went away while idle (server restarted or terminated it)");
  }
  return nullptr;
}

void Pool::OpenForWaiters() {
  while (!closed_ && size_ < options_.max_size && waiters_.size() > connecting_) StartOpen();
}

void Pool::StartOpen() {
  ++size_;
  ++connecting_;
  asio::co_spawn(executor_, OpenOne(self_), [](std::exception_ptr e) { LogEscapedException(e, "connecting"); });
}

awaitable<void> Pool::OpenOne(std::weak_ptr<Pool*> self) {
  const ConnectionOptions options = options_.connection;  // ours: the pool may change or go
  auto opened = co_await Connection::Open(executor_, options, cancel_worker_);
  auto pool = self.lock();
  if (!pool || !*pool) co_return;  // the pool is gone: the connection (if any) closes here
  --connecting_;
  if (!opened) {
    --size_;
    spdlog::warn("postgres pool {}: {}", options_.name, opened.error().message);
    FailFirstWaiter(opened.error());
    OpenForWaiters();
    co_return;
  }
  ++opened_total_;
  Recycle(std::move(*opened));
}

void Pool::GiveBack(std::unique_ptr<Connection> connection) noexcept {
  try {
    ++released_total_;
    --in_use_;
    if (connection->broken()) {
      CloseConnection(std::move(connection), "is broken");
      OpenForWaiters();
      return;
    }
    if (!closed_ && (connection->needs_drain() || connection->needs_reset())) {
      ++returning_;
      asio::co_spawn(executor_, Recover(std::move(connection), self_),
                     [](std::exception_ptr e) { LogEscapedException(e, "returning a connection"); });
      return;
    }
    Recycle(std::move(connection));
  } catch (const std::exception& e) {
    spdlog::error("postgres pool {}: giving a connection back failed: {}", options_.name, e.what());
  } catch (...) {
    spdlog::error("postgres pool {}: giving a connection back failed", options_.name);
  }
}

awaitable<void> Pool::Recover(std::unique_ptr<Connection> connection, std::weak_ptr<Pool*> self) {
  const auto drain_timeout = options_.drain_timeout;
  const auto reset_timeout = options_.reset_timeout;
  std::string problem;
  if (connection->needs_drain()) {
    auto drained = co_await connection->Drain(drain_timeout);
    if (!drained) problem = "could not be drained of an abandoned statement (" + drained.error().message + ")";
  }
  if (!connection->broken() && connection->needs_reset()) {
    auto reset = co_await connection->Reset(reset_timeout);
    if (!reset) problem = "could not be reset (" + reset.error().message + ")";
  }
  auto pool = self.lock();
  if (!pool || !*pool) co_return;  // the pool is gone: the connection closes here
  --returning_;
  if (connection->broken() || connection->needs_drain() || connection->needs_reset()) {
    CloseConnection(std::move(connection), problem.empty() ? "could not be made clean for reuse" : problem.c_str());
    OpenForWaiters();
    co_return;
  }
  Recycle(std::move(connection));
}

void Pool::Recycle(std::unique_ptr<Connection> connection) {
  if (closed_ || size_ > options_.max_size) {
    CloseConnection(std::move(connection), nullptr);
    return;
  }
  if (!waiters_.empty()) {
    Serve(*waiters_.front(), Wrap(std::move(connection)));
    return;
  }
  idle_.push_back(IdleConnection{std::move(connection), Clock::now()});
  ArmIdleTimer();
}

void Pool::CloseConnection(std::unique_ptr<Connection> connection, const char* broken_because) {
  --size_;
  ++closed_total_;
  if (broken_because != nullptr) {
    ++broken_total_;
    const bool replace = !closed_ && !waiters_.empty();
    spdlog::warn("postgres pool {}: connection to backend {} {}; closed{}", options_.name, connection->backend_pid(),
                 broken_because, replace ? ", opening a replacement for waiters" : "");
  }
  connection.reset();
}

void Pool::ArmIdleTimer() {
  if (closed_ || idle_.empty()) return;
  const auto expiry = idle_.front().since + options_.idle_timeout;
  if (idle_timer_armed_ && idle_timer_expiry_ <= expiry) return;
  idle_timer_armed_ = true;
  idle_timer_expiry_ = expiry;
  idle_timer_.expires_at(expiry);  // cancels a pending wait: its handler sees operation_aborted
  idle_timer_.async_wait([self = std::weak_ptr<Pool*>(self_)](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    auto pool = self.lock();
    if (pool && *pool) (*pool)->OnIdleTimer();
  });
}

void Pool::OnIdleTimer() {
  idle_timer_armed_ = false;
  const auto now = Clock::now();
  while (!idle_.empty() && idle_.front().since + options_.idle_timeout <= now) {
    std::unique_ptr<Connection> connection = std::move(idle_.front().connection);
    idle_.pop_front();
    CloseConnection(std::move(connection), nullptr);
  }
  ArmIdleTimer();
}

PoolStats Pool::Stats() const {
  PoolStats s;
  s.max = options_.max_size;
  s.size = size_;
  s.active = in_use_ + returning_;
  s.idle = idle_.size();
  s.waiting = waiters_.size();
  s.connecting = connecting_;
  s.acquired_total = acquired_total_;
  s.released_total = released_total_;
  s.timeouts_total = timeouts_total_;
  s.opened_total = opened_total_;
  s.closed_total = closed_total_;
  s.broken_total = broken_total_;
  s.session_resets_total = session_resets_total_;
  return s;
}

void Pool::Resize(std::size_t max_size) {
  options_.max_size = max_size;
  while (size_ > options_.max_size && !idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.front().connection);  // oldest first
    idle_.pop_front();
    CloseConnection(std::move(connection), nullptr);
  }
  OpenForWaiters();
}

void Pool::SetIdleTimeout(std::chrono::milliseconds idle_timeout) {
  options_.idle_timeout = idle_timeout;
  idle_timer_armed_ = false;  // recompute the expiry from the new timeout
  idle_timer_.cancel();
  ArmIdleTimer();
}

void Pool::Close() {
  if (closed_) return;
  closed_ = true;
  const Error error(ErrorCode::kDatabaseUnavailable, "the " + options_.name + " pool is closed");
  while (!waiters_.empty()) FailFirstWaiter(error);
  while (!idle_.empty()) {
    std::unique_ptr<Connection> connection = std::move(idle_.back().connection);
    idle_.pop_back();
    CloseConnection(std::move(connection), nullptr);
  }
  idle_timer_.cancel();
  idle_timer_armed_ = false;
}

}  // namespace coredb::pg
