#include "coredb/observability/health.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

namespace coredb::observability {

namespace asio = boost::asio;

HealthMonitor::HealthMonitor(asio::any_io_executor executor, std::vector<Probe> probes,
                             std::chrono::milliseconds period, std::chrono::milliseconds timeout)
    : executor_(std::move(executor)),
      period_(period),
      timeout_(timeout),
      probes_(std::move(probes)),
      up_(probes_.size(), false),
      stopped_(std::make_shared<bool>(false)) {}

HealthMonitor::~HealthMonitor() { Stop(); }

void HealthMonitor::Start() {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    timers_.push_back(std::make_unique<asio::steady_timer>(executor_));
    // Each backend has its own loop so a slow one never delays the others' verdicts.
    asio::co_spawn(executor_, Loop(i), [stopped = stopped_](std::exception_ptr e) {
      if (e && !*stopped) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("health probe loop ended: {}", ex.what());
        }
      }
    });
  }
}

void HealthMonitor::Stop() {
  if (*stopped_) return;
  *stopped_ = true;
  for (auto& t : timers_) t->cancel();
}

bool HealthMonitor::IsUp(const std::string& name) const {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    if (probes_[i].name == name) return up_[i];
  }
  return false;
}

asio::awaitable<void> HealthMonitor::Loop(std::size_t index) {
  auto stopped = stopped_;
  while (!*stopped) {
    bool ok = co_await probes_[index].check(timeout_);
    if (*stopped) co_return;
    if (ok != up_[index]) {
      if (ok) spdlog::info("{} is up", probes_[index].name);
      else spdlog::warn("{} is down", probes_[index].name);
    }
    up_[index] = ok;
    timers_[index]->expires_after(period_);
    co_await timers_[index]->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace coredb::observability
