#include "coredb/core/circuit_breaker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace coredb {

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kHalfOpen:
      return "half-open";
    case BreakerState::kOpen:
      return "open";
  }
  return "closed";
}

// ---- Permit -----------------------------------------------------------------------------------

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      started_(other.started_),
      probe_(other.probe_),
      generation_(other.generation_) {}

CircuitBreaker::Permit& CircuitBreaker::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    if (breaker_ != nullptr) breaker_->Complete(*this, Outcome::kAbandoned);
    breaker_ = std::exchange(other.breaker_, nullptr);
    started_ = other.started_;
    probe_ = other.probe_;
    generation_ = other.generation_;
  }
  return *this;
}

CircuitBreaker::Permit::~Permit() {
  if (breaker_ != nullptr) breaker_->Complete(*this, Outcome::kAbandoned);
}

void CircuitBreaker::Permit::Success() {
  if (breaker_ == nullptr) return;
  const auto limit = breaker_->options_.call_timeout;
  const bool late = limit.count() > 0 && breaker_->now_() - started_ > limit;
  std::exchange(breaker_, nullptr)->Complete(*this, late ? Outcome::kTimeout : Outcome::kSuccess);
}

void CircuitBreaker::Permit::Failure() {
  if (breaker_ != nullptr) std::exchange(breaker_, nullptr)->Complete(*this, Outcome::kFailure);
}

void CircuitBreaker::Permit::Timeout() {
  if (breaker_ != nullptr) std::exchange(breaker_, nullptr)->Complete(*this, Outcome::kTimeout);
}

// ---- CircuitBreaker ---------------------------------------------------------------------------

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, Now now)
    : options_(std::move(options)), now_(std::move(now)) {
  options_.error_threshold_percent = std::clamp(options_.error_threshold_percent, 1U, 100U);
  options_.rolling_buckets = std::max<std::uint32_t>(options_.rolling_buckets, 1);
  options_.rolling_window = std::max(options_.rolling_window, std::chrono::milliseconds(options_.rolling_buckets));
  buckets_.resize(options_.rolling_buckets);
  bucket_width_ = std::chrono::duration_cast<Clock::duration>(options_.rolling_window) / options_.rolling_buckets;
  epoch_ = now_();
}

Result<CircuitBreaker::Permit> CircuitBreaker::Acquire() {
  const auto now = now_();
  if (state_ == BreakerState::kOpen && now >= open_until_) {
    state_ = BreakerState::kHalfOpen;
    ++generation_;
    ++stats_.half_opened_total;
    probe_in_flight_ = false;
    spdlog::info("circuit breaker {}: half-open, letting one probe call through", options_.name);
  }
  if (state_ == BreakerState::kClosed) return Permit(this, now, false, generation_);
  if (state_ == BreakerState::kHalfOpen && !probe_in_flight_) {
    probe_in_flight_ = true;
    return Permit(this, now, true, generation_);
  }
  ++stats_.rejected_total;
  Error error(ErrorCode::kCircuitOpen,
              options_.name + " circuit breaker is open: failing fast after repeated " + options_.name + " failures");
  // Whole seconds, rounded up: a client that waits that long finds the breaker probing or closed.
  const auto left = state_ == BreakerState::kOpen ? open_until_ - now : Clock::duration::zero();
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(left).count();
  error.retry_after_seconds = static_cast<int>(std::max<std::int64_t>(seconds, 1));
  return error;
}

BreakerState CircuitBreaker::state() const {
  if (state_ == BreakerState::kOpen && now_() >= open_until_) return BreakerState::kHalfOpen;
  return state_;
}

std::uint64_t CircuitBreaker::window_calls() const {
  std::uint64_t calls = 0, failures = 0;
  if (state_ == BreakerState::kClosed) Totals(now_(), calls, failures);
  return calls;
}

std::uint64_t CircuitBreaker::window_failures() const {
  std::uint64_t calls = 0, failures = 0;
  if (state_ == BreakerState::kClosed) Totals(now_(), calls, failures);
  return failures;
}

void CircuitBreaker::Complete(const Permit& permit, Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess:
      ++stats_.successes_total;
      break;
    case Outcome::kTimeout:
      ++stats_.timeouts_total;
      ++stats_.failures_total;
      break;
    case Outcome::kFailure:
      ++stats_.failures_total;
      break;
    case Outcome::kAbandoned:
      break;
  }
  // A call issued before the last transition says nothing about the backend's state now.
  if (permit.generation_ != generation_) return;
  const auto now = now_();
  if (permit.probe_) {
    if (state_ != BreakerState::kHalfOpen) return;
    probe_in_flight_ = false;
    if (outcome == Outcome::kSuccess)
      Close();
    else if (outcome != Outcome::kAbandoned)
      Open(now, "the half-open probe failed");
    return;
  }
  if (state_ != BreakerState::kClosed || outcome == Outcome::kAbandoned) return;
  Bucket& bucket = CurrentBucket(now);
  ++bucket.calls;
  if (outcome == Outcome::kSuccess) return;
  ++bucket.failures;
  std::uint64_t calls = 0, failures = 0;
  Totals(now, calls, failures);
  if (calls >= options_.volume_threshold && failures * 100 >= calls * options_.error_threshold_percent) {
    Open(now, outcome == Outcome::kTimeout ? "calls time out" : "calls fail");
  }
}

void CircuitBreaker::Open(Clock::time_point now, const char* why) {
  std::uint64_t calls = 0, failures = 0;
  if (state_ == BreakerState::kClosed) Totals(now, calls, failures);
  state_ = BreakerState::kOpen;
  open_until_ = now + options_.reset_timeout;
  ++generation_;
  ++stats_.opened_total;
  if (calls > 0) {
    spdlog::warn("circuit breaker {}: open ({}: {} of the last {} calls failed); failing fast for {} ms", options_.name,
                 why, failures, calls, options_.reset_timeout.count());
  } else {
    spdlog::warn("circuit breaker {}: open again ({}); failing fast for {} ms", options_.name, why,
                 options_.reset_timeout.count());
  }
}

void CircuitBreaker::Close() {
  state_ = BreakerState::kClosed;
  ++generation_;
  ++stats_.closed_total;
  for (Bucket& bucket : buckets_) bucket = Bucket{};
  spdlog::info("circuit breaker {}: closed (the probe call succeeded)", options_.name);
}

std::int64_t CircuitBreaker::BucketIndex(Clock::time_point now) const {
  if (now < epoch_) return 0;
  return static_cast<std::int64_t>((now - epoch_) / bucket_width_);
}

CircuitBreaker::Bucket& CircuitBreaker::CurrentBucket(Clock::time_point now) {
  const std::int64_t index = BucketIndex(now);
  Bucket& bucket = buckets_[static_cast<std::size_t>(index) % buckets_.size()];
  if (bucket.index != index) bucket = Bucket{index, 0, 0};
  return bucket;
}

void CircuitBreaker::Totals(Clock::time_point now, std::uint64_t& calls, std::uint64_t& failures) const {
  const std::int64_t newest = BucketIndex(now);
  const std::int64_t oldest = newest - static_cast<std::int64_t>(buckets_.size()) + 1;
  calls = 0;
  failures = 0;
  for (const Bucket& bucket : buckets_) {
    if (bucket.index < oldest || bucket.index > newest) continue;
    calls += bucket.calls;
    failures += bucket.failures;
  }
}

}  // namespace coredb
