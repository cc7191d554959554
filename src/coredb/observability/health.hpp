// Health of the backends, probed in the background once a second with a short deadline, so
// /health and /health/ready answer at once from the last probe and a dead backend shows
// within two seconds (one period plus one probe timeout).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace coredb::observability {

// Returns true when the backend answered within `timeout`.
using ProbeFn = std::function<boost::asio::awaitable<bool>(std::chrono::milliseconds timeout)>;

class HealthMonitor {
 public:
  struct Probe {
    std::string name;  // "database", "redis", "vector"
    ProbeFn check;
  };

  HealthMonitor(boost::asio::any_io_executor executor, std::vector<Probe> probes,
                std::chrono::milliseconds period = std::chrono::milliseconds(1000),
                std::chrono::milliseconds timeout = std::chrono::milliseconds(900));
  ~HealthMonitor();

  void Start();
  void Stop();
  // Last known state; false until the first probe answered.
  bool IsUp(const std::string& name) const;
  // Readiness: false once shutdown began (load balancers drain us first).
  void SetDraining() { draining_ = true; }
  bool draining() const { return draining_; }

 private:
  struct State;
  boost::asio::awaitable<void> Loop(std::size_t index);

  boost::asio::any_io_executor executor_;
  std::chrono::milliseconds period_;
  std::chrono::milliseconds timeout_;
  std::vector<Probe> probes_;
  std::vector<bool> up_;
  std::shared_ptr<bool> stopped_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
  bool draining_ = false;
};

}  // namespace coredb::observability
