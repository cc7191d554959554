#include "coredb/sessions/pool_history.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace coredb::sessions {

namespace asio = boost::asio;

PoolPoint PointOf(const DatabaseStats& s) {
  return PoolPoint{.max = s.max, .size = s.size, .active = s.active, .idle = s.idle, .leased = s.leased,
                   .waiting = s.waiting};
}

void PoolHistory::Record(PoolSample sample) {
  if (capacity_ == 0) return;
  if (samples_.size() == capacity_) samples_.pop_front();
  samples_.push_back(sample);
}

PoolHistoryRecorder::PoolHistoryRecorder(asio::any_io_executor executor, std::chrono::milliseconds period,
                                         std::size_t capacity, Reader read)
    : executor_(executor),
      period_(period),
      history_(capacity),
      read_(std::move(read)),
      timer_(executor),
      stopped_(std::make_shared<bool>(false)) {}

PoolHistoryRecorder::~PoolHistoryRecorder() { Stop(); }

void PoolHistoryRecorder::Start() {
  if (started_ || *stopped_) return;
  started_ = true;
  asio::co_spawn(executor_, Loop(), [stopped = stopped_](std::exception_ptr e) {
    if (e && !*stopped) spdlog::error("pool history: the recorder stopped unexpectedly");
  });
}

void PoolHistoryRecorder::Stop() {
  if (*stopped_) return;
  *stopped_ = true;
  timer_.cancel();
}

asio::awaitable<void> PoolHistoryRecorder::Loop() {
  auto stopped = stopped_;  // `this` may be gone once Stop() has run and the timer fired
  while (!*stopped) {
    history_.Record(read_());
    timer_.expires_after(period_);
    co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace coredb::sessions
