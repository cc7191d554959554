#include "coredb/adapters/postgres/cancel_worker.hpp"

#include "coredb/adapters/postgres/sqlstate.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include <array>
#include <utility>

namespace coredb::pg {

CancelTicket::CancelTicket(const boost::asio::any_io_executor& loop)
    : signal_(loop, boost::asio::steady_timer::time_point::max()) {}

void CancelTicket::Complete(bool delivered) {
  done_ = true;
  delivered_ = delivered;
  signal_.cancel();
}

CancelWorker::CancelWorker(std::size_t max_queue) : max_queue_(max_queue) {
  threads_.reserve(kThreads);
  for (std::size_t i = 0; i < kThreads; ++i) threads_.emplace_back([this] { Run(); });
}

CancelWorker::~CancelWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  // Requests still queued are dropped: their tickets are never completed, and waiters hit their
  // own deadlines (the loop is shutting down anyway).
}

std::shared_ptr<CancelTicket> CancelWorker::Submit(const boost::asio::any_io_executor& loop, PgCancelPtr cancel,
                                                   int backend_pid) {
  auto ticket = std::make_shared<CancelTicket>(loop);
  if (!cancel) {
    ticket->Complete(false);
    return ticket;
  }
  bool queued = false;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < max_queue_) {
      queue_.push_back(Request{std::move(cancel), ticket, loop, backend_pid});
      queued = true;
    }
  }
  if (!queued) {
    ++dropped_;
    spdlog::warn("postgres cancel queue is full ({} requests) or stopped: cancel for backend {} dropped", max_queue_,
                 backend_pid);
    ticket->Complete(false);
    return ticket;
  }
  ++submitted_;
  wake_.notify_one();
  return ticket;
}

CancelWorkerStats CancelWorker::Stats() const {
  return CancelWorkerStats{submitted_.load(), delivered_.load(), failed_.load(), dropped_.load()};
}

void CancelWorker::Run() {
  for (;;) {
    Request request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    // Blocking: connects to the server and waits until the postmaster has signalled the backend.
    std::array<char, 256> errbuf{};
    const bool ok = PQcancel(request.cancel.get(), errbuf.data(), static_cast<int>(errbuf.size())) == 1;
    if (ok) {
      ++delivered_;
    } else {
      ++failed_;
      spdlog::warn("postgres cancel for backend {} failed: {}", request.backend_pid, RedactSecrets(errbuf.data()));
    }
    request.cancel.reset();
    // The ticket's timer belongs to the loop: it is only touched (and released last) there.
    boost::asio::post(request.loop, [ticket = std::move(request.ticket), ok] { ticket->Complete(ok); });
  }
}

}  // namespace coredb::pg
