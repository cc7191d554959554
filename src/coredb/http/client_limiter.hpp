// Concurrent requests per client (issue 6 item 4, MAX_CONCURRENT_PER_CLIENT): a counter per
// client id, taken after authentication and given back when the request's answer is ready. Over
// the limit the request is refused at once with 429 RATE_LIMITED and Retry-After: 1 (never
// queued: a queue would hold a socket and memory per request of the greedy client). Event-loop
// thread only, like everything else on the request path.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>

namespace coredb::http {

class ClientLimiter {
 public:
  // 0: no limit.
  explicit ClientLimiter(std::size_t max_per_client) : max_(max_per_client) {}

  // Holds one slot of a client until destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), client_(std::move(other.client_)) {}
    Slot& operator=(Slot&& other) noexcept {
      if (this != &other) {
        Release();
        owner_ = std::exchange(other.owner_, nullptr);
        client_ = std::move(other.client_);
      }
      return *this;
    }
    ~Slot() { Release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    friend class ClientLimiter;
    Slot(ClientLimiter* owner, std::string client) : owner_(owner), client_(std::move(client)) {}
    void Release() {
      if (owner_ != nullptr) owner_->Give(client_);
      owner_ = nullptr;
    }
    ClientLimiter* owner_ = nullptr;
    std::string client_;
  };

  // A slot, or false when `client` already has max_per_client requests running.
  bool TryAcquire(const std::string& client, Slot& slot) {
    if (max_ == 0) return true;
    std::size_t& running = running_[client];
    if (running >= max_) {
      if (running == 0) running_.erase(client);
      return false;
    }
    ++running;
    slot = Slot(this, client);
    return true;
  }

  std::size_t max_per_client() const { return max_; }
  std::size_t running(const std::string& client) const {
    auto it = running_.find(client);
    return it == running_.end() ? 0 : it->second;
  }

 private:
  void Give(const std::string& client) {
    auto it = running_.find(client);
    if (it == running_.end()) return;
    if (--it->second == 0) running_.erase(it);
  }

  std::size_t max_;
  std::unordered_map<std::string, std::size_t> running_;
};

}  // namespace coredb::http
