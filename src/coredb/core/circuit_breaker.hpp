// A circuit breaker for one backend, with opossum's semantics: calls are counted in a rolling
// window split into buckets; once the window holds at least `volume_threshold` calls and the
// share of failures reaches `error_threshold_percent`, the breaker opens and every call fails
// fast (kCircuitOpen, with Retry-After) for `reset_timeout`. Then it is half-open: one call goes
// through as a probe; its success closes the breaker (with a fresh window), its failure opens it
// again for another `reset_timeout`.
//
// The breaker does not run calls: a caller asks for a Permit, bounds the call by its own
// deadline (`call_timeout` is the one to use) and reports the outcome on the permit. A success
// reported after `call_timeout` counts as a timeout (a failure), as in opossum, so a slow backend
// trips the breaker as surely as a dead one. Which errors are the backend's fault (failures) and
// which are the caller's (a syntax error: the backend answered, so a success) is the caller's call.
//
// Single-threaded (the event loop's thread); the clock is injectable so tests control time.
#pragma once

#include "coredb/core/error.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace coredb {

// The values are those of the coredb_circuit_breaker_state metric (API.md).
enum class BreakerState : std::uint8_t { kClosed = 0, kHalfOpen = 1, kOpen = 2 };
const char* BreakerStateName(BreakerState state);

struct CircuitBreakerOptions {
  std::string name = "backend";  // for logs and error messages ("redis", "postgresql")
  // Callers bound each call by this; a success reported later counts as a timeout. 0: no limit.
  std::chrono::milliseconds call_timeout{1000};
  unsigned error_threshold_percent = 50;  // opens when failures / calls ≥ this (1..100)
  std::uint32_t volume_threshold = 5;     // … and the window holds at least this many calls
  std::chrono::milliseconds rolling_window{10000};
  std::uint32_t rolling_buckets = 10;             // the window slides one bucket at a time
  std::chrono::milliseconds reset_timeout{5000};  // open → half-open
};

// Plain counters since construction (for metrics).
struct CircuitBreakerStats {
  std::uint64_t successes_total = 0;
  std::uint64_t failures_total = 0;  // timeouts included
  std::uint64_t timeouts_total = 0;
  std::uint64_t rejected_total = 0;  // failed fast: open, or half-open with its probe in flight
  std::uint64_t opened_total = 0;    // transitions to open (from closed or half-open)
  std::uint64_t half_opened_total = 0;  // transitions open → half-open
  std::uint64_t closed_total = 0;       // transitions half-open → closed (a probe succeeded)
};

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  explicit CircuitBreaker(CircuitBreakerOptions options, Now now = &Clock::now);
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // The right to make one call. Report exactly one outcome; a permit dropped without one (the
  // caller was cancelled) counts as nothing, but frees the half-open probe slot. Must not outlive
  // its breaker.
  class Permit {
   public:
    Permit(Permit&& other) noexcept;
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit();

    void Success();
    void Failure();
    void Timeout();  // a failure, counted as a timeout too
    bool probe() const { return probe_; }

   private:
    friend class CircuitBreaker;
    Permit(CircuitBreaker* breaker, Clock::time_point started, bool probe, std::uint64_t generation)
        : breaker_(breaker), started_(started), probe_(probe), generation_(generation) {}

    CircuitBreaker* breaker_;
    Clock::time_point started_;
    bool probe_;
    std::uint64_t generation_;  // the closed period the permit was issued in
  };

  // A permit, or kCircuitOpen (with retry_after_seconds) when the call must fail fast.
  Result<Permit> Acquire();

  BreakerState state() const;  // as the next Acquire() would see it (open turns half-open on time)
  const CircuitBreakerStats& stats() const { return stats_; }
  const CircuitBreakerOptions& options() const { return options_; }
  // Calls and failures in the current window (closed state only; zero otherwise).
  std::uint64_t window_calls() const;
  std::uint64_t window_failures() const;

 private:
  enum class Outcome { kSuccess, kFailure, kTimeout, kAbandoned };
  struct Bucket {
    std::int64_t index = -1;  // which bucket-sized slice of time this bucket counts
    std::uint64_t calls = 0;
    std::uint64_t failures = 0;
  };

  void Complete(const Permit& permit, Outcome outcome);
  void Open(Clock::time_point now, const char* why);
  void Close();
  Bucket& CurrentBucket(Clock::time_point now);
  void Totals(Clock::time_point now, std::uint64_t& calls, std::uint64_t& failures) const;
  std::int64_t BucketIndex(Clock::time_point now) const;

  CircuitBreakerOptions options_;
  Now now_;
  BreakerState state_ = BreakerState::kClosed;
  Clock::time_point open_until_{};
  bool probe_in_flight_ = false;
  std::uint64_t generation_ = 0;  // bumped on every transition: late permits of an old period count for nothing
  std::vector<Bucket> buckets_;
  Clock::duration bucket_width_{};
  Clock::time_point epoch_;
  CircuitBreakerStats stats_;
};

}  // namespace coredb
