// The PostgreSQL cancel worker: the one thread besides the event loop that may block.
// PQcancel (libpq 15) opens a new connection to the server and waits for it synchronously, with
// no timeout of its own, so it must never run on the loop. It is bounded by the TCP settings
// libpq copies from the connection (tcp_user_timeout and keepalives, which the service sets:
// see BuildParameters), and kThreads threads serve the queue, so that one unreachable server
// does not hold up the cancels of the others. Connections hand over a PGcancel
// (PQgetCancel, taken on the loop) and get a CancelTicket that completes on the loop when the
// request has been delivered (or failed). The queue is bounded: when it is full the request is
// dropped and logged, and the ticket completes at once with delivered() == false.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <libpq-fe.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace coredb::pg {

struct PgCancelDeleter {
  void operator()(PGcancel* c) const noexcept { PQfreeCancel(c); }
};
using PgCancelPtr = std::unique_ptr<PGcancel, PgCancelDeleter>;

// Shared between the loop (waiting) and the worker (completing): the worker posts the completion
// to the loop, so `done_`/`delivered_` are only read and written on the loop thread.
class CancelTicket {
 public:
  explicit CancelTicket(const boost::asio::any_io_executor& loop);

  bool done() const { return done_; }
  bool delivered() const { return delivered_; }
  // The waiter (one at a time) sets its deadline as the expiry and waits: the wait ends when the
  // ticket completes (operation_aborted) or at the deadline. Check done() before waiting.
  boost::asio::steady_timer& signal() { return signal_; }

 private:
  friend class CancelWorker;
  void Complete(bool delivered);  // on the loop

  boost::asio::steady_timer signal_;
  bool done_ = false;
  bool delivered_ = false;
};

struct CancelWorkerStats {
  std::uint64_t submitted = 0, delivered = 0, failed = 0, dropped = 0;
};

class CancelWorker {
 public:
  static constexpr std::size_t kDefaultMaxQueue = 256;
  static constexpr std::size_t kThreads = 4;

  explicit CancelWorker(std::size_t max_queue = kDefaultMaxQueue);
  // Stops the thread after the request in progress (queued requests are dropped). Must run
  // before the io_context the tickets post to is destroyed.
  ~CancelWorker();
  CancelWorker(const CancelWorker&) = delete;
  CancelWorker& operator=(const CancelWorker&) = delete;

  // On the loop. `backend_pid` is only for the log lines.
  std::shared_ptr<CancelTicket> Submit(const boost::asio::any_io_executor& loop, PgCancelPtr cancel,
                                       int backend_pid);

  CancelWorkerStats Stats() const;

 private:
  struct Request {
    PgCancelPtr cancel;
    std::shared_ptr<CancelTicket> ticket;
    boost::asio::any_io_executor loop;
    int backend_pid = 0;
  };

  void Run();

  const std::size_t max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Request> queue_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> submitted_{0}, delivered_{0}, failed_{0}, dropped_{0};
  std::vector<std::thread> threads_;  // last: they start after everything above is constructed
};

}  // namespace coredb::pg
