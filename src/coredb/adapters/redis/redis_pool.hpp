// Dedicated Redis connections for leases (MULTI/EXEC, WATCH need a connection of one's own; the
// unleased commands share RedisClient's one multiplexed connection instead). Bounded (max_size
// open or opening), lazy, fair (FIFO waiters, each within its own timeout), idle connections closed
// after idle_timeout. A connection coming back is cleaned (DISCARD, UNWATCH) before reuse; a lost
// or dirty one is closed.
//
// Not thread-safe: the loop thread only. Handles (RedisPool::Handle) may outlive the pool: they
// then close their connection.
#pragma once

#include "coredb/adapters/redis/redis_client.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>

namespace coredb::redis {

struct RedisPoolOptions {
  RedisOptions connection;  // `dedicated` is forced on
  std::size_t max_size = 10;
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_waiters = 10000;
  std::chrono::milliseconds cleanup_timeout{1000};
};

struct RedisPoolStats {
  std::size_t max = 0, size = 0, active = 0, idle = 0, waiting = 0, connecting = 0;
  std::uint64_t acquired_total = 0, released_total = 0, timeouts_total = 0;
};

class RedisPool {
 public:
  class Handle {
   public:
    Handle() = default;
    Handle(Handle&&) noexcept = default;
    Handle& operator=(Handle&& other) noexcept;
    ~Handle();
    RedisClient* get() const { return client_.get(); }
    RedisClient* operator->() const { return client_.get(); }
    explicit operator bool() const { return client_ != nullptr; }
    void Release() noexcept;

   private:
    friend class RedisPool;
    Handle(std::weak_ptr<RedisPool*> pool, std::unique_ptr<RedisClient> client)
        : pool_(std::move(pool)), client_(std::move(client)) {}
    std::weak_ptr<RedisPool*> pool_;
    std::unique_ptr<RedisClient> client_;
  };

  RedisPool(boost::asio::any_io_executor executor, RedisPoolOptions options);
  ~RedisPool();
  RedisPool(const RedisPool&) = delete;
  RedisPool& operator=(const RedisPool&) = delete;

  // An idle connection, a new one (connected within `timeout`), or a place in the queue.
  // Errors: kPoolTimeout (no connection within `timeout`, or the queue is full),
  // kDatabaseUnavailable (Redis unreachable, pool closed).
  boost::asio::awaitable<Result<Handle>> Acquire(std::chrono::milliseconds timeout);

  RedisPoolStats Stats() const;
  void Resize(std::size_t max_size);
  void SetIdleTimeout(std::chrono::milliseconds idle_timeout);
  std::chrono::milliseconds idle_timeout() const { return options_.idle_timeout; }
  void Close();

 private:
  struct Waiter;
  struct Idle {
    std::unique_ptr<RedisClient> client;
    std::chrono::steady_clock::time_point since;
  };
  void GiveBack(std::unique_ptr<RedisClient> client) noexcept;
  static boost::asio::awaitable<void> Clean(std::unique_ptr<RedisClient> client, std::weak_ptr<RedisPool*> self,
                                            boost::asio::any_io_executor executor, std::chrono::milliseconds timeout);
  void Recycle(std::unique_ptr<RedisClient> client);
  void Discard(std::unique_ptr<RedisClient> client);
  void WakeForSlot();
  boost::asio::awaitable<Result<Handle>> Open(std::chrono::steady_clock::time_point deadline,
                                              std::chrono::milliseconds timeout);
  void ArmIdleTimer();

  boost::asio::any_io_executor executor_;
  RedisPoolOptions options_;
  std::shared_ptr<RedisPool*> self_;
  std::deque<Idle> idle_;
  std::list<Waiter*> waiters_;
  std::size_t size_ = 0;        // open + opening
  std::size_t connecting_ = 0;
  std::size_t in_use_ = 0;      // handed out or being cleaned
  bool closed_ = false;
  boost::asio::steady_timer idle_timer_;
  bool idle_timer_armed_ = false;
  std::uint64_t acquired_total_ = 0, released_total_ = 0, timeouts_total_ = 0;
};

}  // namespace coredb::redis
