// The last ten minutes of every pool's numbers, for GET /api/v1/pools/history (the admin
// console's charts): `PoolHistory` is a fixed ring of samples (bounded memory, no I/O,
// unit-tested), `PoolHistoryRecorder` fills it from a timer on the event loop.
#pragma once

#include "coredb/core/ports.hpp"
#include "coredb/sessions/session_manager.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>

namespace coredb::sessions {

struct PoolPoint {
  std::size_t max = 0, size = 0, active = 0, idle = 0, leased = 0, waiting = 0;
};

struct PoolSample {
  WallTime at;
  std::array<PoolPoint, 3> pools{};  // postgresql, redis, vector (kPoolHistoryDatabases)
};

inline constexpr std::array<Database, 3> kPoolHistoryDatabases = {Database::kPostgresql, Database::kRedis,
                                                                  Database::kVector};

PoolPoint PointOf(const DatabaseStats& stats);

class PoolHistory {
 public:
  explicit PoolHistory(std::size_t capacity) : capacity_(capacity) {}

  // Appends a sample; the oldest goes once `capacity` are kept.
  void Record(PoolSample sample);
  // Oldest first.
  const std::deque<PoolSample>& samples() const { return samples_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_;
  std::deque<PoolSample> samples_;
};

// Records `read()` every `period` (the first at Start) until Stop.
class PoolHistoryRecorder {
 public:
  using Reader = std::function<PoolSample()>;
  PoolHistoryRecorder(boost::asio::any_io_executor executor, std::chrono::milliseconds period, std::size_t capacity,
                      Reader read);
  ~PoolHistoryRecorder();
  PoolHistoryRecorder(const PoolHistoryRecorder&) = delete;
  PoolHistoryRecorder& operator=(const PoolHistoryRecorder&) = delete;

  void Start();
  void Stop();
  const PoolHistory& history() const { return history_; }
  std::chrono::milliseconds period() const { return period_; }

 private:
  boost::asio::awaitable<void> Loop();

  boost::asio::any_io_executor executor_;
  std::chrono::milliseconds period_;
  PoolHistory history_;
  Reader read_;
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> stopped_;
  bool started_ = false;
};

}  // namespace coredb::sessions
