#include "coredb/adapters/redis/redis_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace coredb::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct RedisPool::Waiter {
  explicit Waiter(asio::any_io_executor executor) : timer(executor) {}
  asio::steady_timer timer;
  std::list<Waiter*>::iterator position;
  bool queued = false;
  bool slot = false;  // a free place to open a connection was reserved for this waiter
  std::optional<Handle> handle;
  std::optional<Error> error;
};

namespace {

// Destroys a client later, from the loop: never from inside one of its own hiredis callbacks.
void DestroyLater(const asio::any_io_executor& executor, std::unique_ptr<RedisClient> client) {
  if (!client) return;
  client->Stop();
  asio::post(executor, [c = std::shared_ptr<RedisClient>(std::move(client))] {});
}

}  // namespace

RedisPool::Handle& RedisPool::Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    Release();
    pool_ = std::move(other.pool_);
    client_ = std::move(other.client_);
  }
  return *this;
}

RedisPool::Handle::~Handle() { Release(); }

void RedisPool::Handle::Release() noexcept {
  if (!client_) return;
  if (auto pool = pool_.lock()) {
    (*pool)->GiveBack(std::move(client_));
  } else {
    client_->Stop();
    client_.reset();
  }
}

RedisPool::RedisPool(asio::any_io_executor executor, RedisPoolOptions options)
    : executor_(executor),
      options_(std::move(options)),
      self_(std::make_shared<RedisPool*>(this)),
      idle_timer_(executor) {
  options_.connection.dedicated = true;
}

RedisPool::~RedisPool() {
  self_.reset();  // handles and background work now see the pool gone
  for (auto& idle : idle_) idle.client->Stop();
  for (Waiter* w : waiters_) {
    w->queued = false;
    w->error.emplace(ErrorCode::kDatabaseUnavailable, "the redis pool is closed");
    w->timer.cancel();
  }
}

asio::awaitable<Result<RedisPool::Handle>> RedisPool::Acquire(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (closed_) co_return Error(ErrorCode::kDatabaseUnavailable, "the redis pool is closed");
  while (!idle_.empty()) {
    auto client = std::move(idle_.back().client);
    idle_.pop_back();
    if (client->connected() && !client->lost()) {
      ++in_use_;
      ++acquired_total_;
      co_return Handle(self_, std::move(client));
    }
    --size_;
    DestroyLater(executor_, std::move(client));
  }
  if (size_ < options_.max_size) {
    ++size_;
    auto opened = co_await Open(deadline, timeout);
    co_return opened;
  }
  if (waiters_.size() >= options_.max_waiters) {
    ++timeouts_total_;
    co_return Error(ErrorCode::kPoolTimeout, "too many callers are waiting for a redis connection");
  }

  const std::weak_ptr<RedisPool*> self = self_;
  Waiter waiter(executor_);
  waiter.position = waiters_.insert(waiters_.end(), &waiter);
  waiter.queued = true;
  // Whatever happens to this coroutine (timeout, cancellation, exception), the waiter leaves the
  // queue and a slot reserved for it goes to the next one.
  struct Leave {
    std::weak_ptr<RedisPool*> pool;
    Waiter& w;
    ~Leave() {
      auto p = pool.lock();
      if (!p) return;
      if (w.queued) (*p)->waiters_.erase(w.position);
      if (w.slot) {
        --(*p)->size_;
        (*p)->WakeForSlot();
      }
    }
  } leave{self, waiter};
  waiter.timer.expires_at(deadline);
  auto [ec] = co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  (void)ec;
  if (self.expired() || waiter.error) {
    co_return waiter.error.value_or(Error(ErrorCode::kDatabaseUnavailable, "the redis pool is closed"));
  }
  if (waiter.handle) co_return std::move(*waiter.handle);
  if (waiter.slot) {
    waiter.slot = false;  // Open owns the reserved place now
    auto opened = co_await Open(deadline, timeout);
    co_return opened;
  }
  ++timeouts_total_;
  co_return Error(ErrorCode::kPoolTimeout,
                  "no redis connection available within " + std::to_string(timeout.count()) + " ms");
}

asio::awaitable<Result<RedisPool::Handle>> RedisPool::Open(Clock::time_point deadline, milliseconds timeout) {
  // The caller reserved a place (size_ includes it): give it back on every failure path.
  struct Reservation {
    std::weak_ptr<RedisPool*> pool;
    bool kept = false;
    ~Reservation() {
      auto p = pool.lock();
      if (!p) return;
      --(*p)->connecting_;
      if (!kept) {
        --(*p)->size_;
        (*p)->WakeForSlot();
      }
    }
  } reservation{self_};
  const std::weak_ptr<RedisPool*> self = self_;
  const asio::any_io_executor executor = executor_;
  ++connecting_;
  auto client = std::make_unique<RedisClient>(executor_, options_.connection);
  client->Start();
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  const bool connected = co_await client->WaitConnected(std::max(left, milliseconds(1)));
  if (self.expired() || closed_) {
    DestroyLater(executor, std::move(client));
    co_return Error(ErrorCode::kDatabaseUnavailable, "the redis pool is closed");
  }
  if (!connected) {
    std::string why = client->last_error();
    DestroyLater(executor_, std::move(client));
    co_return Error(ErrorCode::kDatabaseUnavailable, "could not connect to redis within " +
                                                         std::to_string(timeout.count()) + " ms" +
                                                         (why.empty() ? "" : ": " + why));
  }
  reservation.kept = true;
  ++in_use_;
  ++acquired_total_;
  co_return Handle(self_, std::move(client));
}

void RedisPool::GiveBack(std::unique_ptr<RedisClient> client) noexcept {
  ++released_total_;
  if (closed_ || client->lost() || !client->connected()) {
    --in_use_;
    --size_;
    DestroyLater(executor_, std::move(client));
    WakeForSlot();
    return;
  }
  asio::co_spawn(executor_, Clean(std::move(client), self_, executor_, options_.cleanup_timeout), asio::detached);
}

// Static: the pool may be gone by the time the commands answer.
asio::awaitable<void> RedisPool::Clean(std::unique_ptr<RedisClient> client, std::weak_ptr<RedisPool*> self,
                                       asio::any_io_executor executor, milliseconds timeout) {
  // Whatever the lessee left: a MULTI in progress (DISCARD), watched keys (UNWATCH). An error
  // reply ("DISCARD without MULTI") is fine; no reply in time means the connection is stuck.
  bool clean = true;
  const std::vector<std::string> discard{"DISCARD"};
  auto d = co_await client->Command(discard, timeout);
  if (!d && d.error().code != ErrorCode::kQueryError) clean = false;
  if (clean) {
    const std::vector<std::string> unwatch{"UNWATCH"};
    auto u = co_await client->Command(unwatch, timeout);
    if (!u) clean = false;
  }
  auto pool = self.lock();
  if (!pool) {
    DestroyLater(executor, std::move(client));
    co_return;
  }
  RedisPool& p = **pool;
  --p.in_use_;
  if (!clean) {
    --p.size_;
    DestroyLater(executor, std::move(client));
    p.WakeForSlot();
    co_return;
  }
  p.Recycle(std::move(client));
}

void RedisPool::Recycle(std::unique_ptr<RedisClient> client) {
  if (closed_ || size_ > options_.max_size) {
    --size_;
    DestroyLater(executor_, std::move(client));
    WakeForSlot();
    return;
  }
  if (!waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->queued = false;
    ++in_use_;
    ++acquired_total_;
    w->handle.emplace(Handle(self_, std::move(client)));
    w->timer.cancel();
    return;
  }
  idle_.push_back(Idle{std::move(client), Clock::now()});
  ArmIdleTimer();
}

void RedisPool::WakeForSlot() {
  if (closed_) return;
  while (!waiters_.empty() && size_ < options_.max_size) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->queued = false;
    w->slot = true;
    ++size_;
    w->timer.cancel();
  }
}

void RedisPool::ArmIdleTimer() {
  if (idle_timer_armed_ || idle_.empty()) return;
  idle_timer_armed_ = true;
  idle_timer_.expires_after(std::min(options_.idle_timeout, milliseconds(1000)));
  idle_timer_.async_wait([self = std::weak_ptr<RedisPool*>(self_)](const boost::system::error_code&) {
    auto pool = self.lock();
    if (!pool) return;
    RedisPool& p = **pool;
    p.idle_timer_armed_ = false;
    const auto now = Clock::now();
    while (!p.idle_.empty() && p.idle_.front().since + p.options_.idle_timeout <= now) {
      --p.size_;
      DestroyLater(p.executor_, std::move(p.idle_.front().client));
      p.idle_.pop_front();
    }
    p.WakeForSlot();
    p.ArmIdleTimer();
  });
}

RedisPoolStats RedisPool::Stats() const {
  RedisPoolStats s;
  s.max = options_.max_size;
  s.size = size_;
  s.active = in_use_;
  s.idle = idle_.size();
  s.waiting = waiters_.size();
  s.connecting = connecting_;
  s.acquired_total = acquired_total_;
  s.released_total = released_total_;
  s.timeouts_total = timeouts_total_;
  return s;
}

void RedisPool::Resize(std::size_t max_size) {
  options_.max_size = max_size;
  while (size_ > options_.max_size && !idle_.empty()) {
    --size_;
    DestroyLater(executor_, std::move(idle_.front().client));
    idle_.pop_front();
  }
  WakeForSlot();
}

void RedisPool::SetIdleTimeout(milliseconds idle_timeout) {
  options_.idle_timeout = idle_timeout;
  ArmIdleTimer();
}

void RedisPool::Close() {
  closed_ = true;
  for (auto& idle : idle_) {
    --size_;
    DestroyLater(executor_, std::move(idle.client));
  }
  idle_.clear();
  while (!waiters_.empty()) {
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->queued = false;
    w->error.emplace(ErrorCode::kDatabaseUnavailable, "the redis pool is closed");
    w->timer.cancel();
  }
  idle_timer_.cancel();
}

}  // namespace coredb::redis
