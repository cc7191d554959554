#include "coredb/core/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace coredb {
namespace {

using namespace std::chrono_literals;
using Clock = CircuitBreaker::Clock;

// A breaker on a fake clock that only moves when the test says so.
class BreakerTest : public ::testing::Test {
 protected:
  CircuitBreakerOptions Options() {
    CircuitBreakerOptions o;
    o.name = "test";
    o.call_timeout = 100ms;
    o.error_threshold_percent = 50;
    o.volume_threshold = 4;
    o.rolling_window = 10s;
    o.rolling_buckets = 10;
    o.reset_timeout = 3s;
    return o;
  }
  std::unique_ptr<CircuitBreaker> Make(CircuitBreakerOptions o) {
    return std::make_unique<CircuitBreaker>(std::move(o), [this] { return now_; });
  }

  void Succeed(CircuitBreaker& b, int n = 1) {
    for (int i = 0; i < n; ++i) {
      auto p = b.Acquire();
      ASSERT_TRUE(p.has_value());
      p->Success();
    }
  }
  void Fail(CircuitBreaker& b, int n = 1) {
    for (int i = 0; i < n; ++i) {
      auto p = b.Acquire();
      ASSERT_TRUE(p.has_value());
      p->Failure();
    }
  }

  Clock::time_point now_ = Clock::time_point(1000h);
};

TEST_F(BreakerTest, StaysClosedBelowTheVolumeThresholdEvenWhenEveryCallFails) {
  auto b = Make(Options());
  Fail(*b, 3);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(b->window_calls(), 3U);
  EXPECT_EQ(b->window_failures(), 3U);
  EXPECT_TRUE(b->Acquire().has_value());
}

TEST_F(BreakerTest, OpensWhenTheErrorShareReachesTheThreshold) {
  auto b = Make(Options());
  Succeed(*b, 3);
  Fail(*b, 2);  // 2 of 5: 40 %
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  Fail(*b, 1);  // 3 of 6: 50 %
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  EXPECT_EQ(b->stats().opened_total, 1U);
}

TEST_F(BreakerTest, OpenFailsFastWithCircuitOpenAndRetryAfter) {
  auto b = Make(Options());
  Fail(*b, 4);
  ASSERT_EQ(b->state(), BreakerState::kOpen);
  now_ += 1200ms;
  auto p = b->Acquire();
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code, ErrorCode::kCircuitOpen);
  ASSERT_TRUE(p.error().retry_after_seconds.has_value());
  EXPECT_EQ(*p.error().retry_after_seconds, 2);  // 1.8 s left, rounded up
  EXPECT_EQ(b->stats().rejected_total, 1U);
}

TEST_F(BreakerTest, HalfOpenAfterResetTimeoutLetsExactlyOneProbeThrough) {
  auto b = Make(Options());
  Fail(*b, 4);
  now_ += 3s;
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  auto probe = b->Acquire();
  ASSERT_TRUE(probe.has_value());
  EXPECT_TRUE(probe->probe());
  auto second = b->Acquire();
  ASSERT_FALSE(second.has_value()) << "only one probe at a time";
  EXPECT_EQ(second.error().code, ErrorCode::kCircuitOpen);
  EXPECT_EQ(*second.error().retry_after_seconds, 1);
}

TEST_F(BreakerTest, ProbeSuccessClosesWithAFreshWindow) {
  auto b = Make(Options());
  Fail(*b, 4);
  now_ += 3s;
  auto probe = b->Acquire();
  ASSERT_TRUE(probe.has_value());
  probe->Success();
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(b->window_calls(), 0U);
  Fail(*b, 3);  // the old failures are forgotten: below the volume threshold again
  EXPECT_EQ(b->state(), BreakerState::kClosed);
}

TEST_F(BreakerTest, ProbeFailureOpensAgainForAnotherResetTimeout) {
  auto b = Make(Options());
  Fail(*b, 4);
  now_ += 3s;
  auto probe = b->Acquire();
  ASSERT_TRUE(probe.has_value());
  probe->Failure();
  EXPECT_EQ(b->state(), BreakerState::kOpen);
  EXPECT_EQ(b->stats().opened_total, 2U);
  now_ += 2999ms;
  EXPECT_FALSE(b->Acquire().has_value());
  now_ += 1ms;
  EXPECT_TRUE(b->Acquire().has_value());
}

TEST_F(BreakerTest, AbandonedProbeFreesTheSlotForTheNextCaller) {
  auto b = Make(Options());
  Fail(*b, 4);
  now_ += 3s;
  {
    auto probe = b->Acquire();
    ASSERT_TRUE(probe.has_value());
  }  // dropped without an outcome (its caller was cancelled)
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  auto next = b->Acquire();
  ASSERT_TRUE(next.has_value());
  EXPECT_TRUE(next->probe());
}

TEST_F(BreakerTest, SlowSuccessCountsAsTimeoutFailure) {
  auto b = Make(Options());
  for (int i = 0; i < 4; ++i) {
    auto p = b->Acquire();
    ASSERT_TRUE(p.has_value());
    now_ += 101ms;
    p->Success();
  }
  EXPECT_EQ(b->stats().timeouts_total, 4U);
  EXPECT_EQ(b->stats().successes_total, 0U);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, SuccessWithinTheCallTimeoutIsASuccess) {
  auto b = Make(Options());
  auto p = b->Acquire();
  ASSERT_TRUE(p.has_value());
  now_ += 100ms;
  p->Success();
  EXPECT_EQ(b->stats().successes_total, 1U);
  EXPECT_EQ(b->stats().timeouts_total, 0U);
}

TEST_F(BreakerTest, FailuresOlderThanTheRollingWindowAreForgotten) {
  auto b = Make(Options());
  Fail(*b, 3);
  now_ += 10s;  // the window has slid past them
  EXPECT_EQ(b->window_calls(), 0U);
  Fail(*b, 1);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  now_ += 5s;
  Fail(*b, 3);  // 4 in the window now
  EXPECT_EQ(b->state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, WindowSlidesOneBucketAtATime) {
  auto b = Make(Options());
  Fail(*b, 2);
  now_ += 9500ms;  // still inside the 10 s window (the first bucket is 9 buckets old)
  EXPECT_EQ(b->window_failures(), 2U);
  Fail(*b, 2);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, LateResultsOfCallsStartedBeforeATransitionDoNotCount) {
  auto b = Make(Options());
  auto slow = b->Acquire();  // issued while closed
  ASSERT_TRUE(slow.has_value());
  Fail(*b, 4);
  ASSERT_EQ(b->state(), BreakerState::kOpen);
  now_ += 3s;
  auto probe = b->Acquire();
  ASSERT_TRUE(probe.has_value());
  slow->Failure();  // a stale verdict: must neither reopen nor close the breaker
  EXPECT_EQ(b->state(), BreakerState::kHalfOpen);
  probe->Success();
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  EXPECT_EQ(b->window_calls(), 0U);
}

TEST_F(BreakerTest, ThresholdOfOneHundredPercentNeedsEveryCallToFail) {
  auto o = Options();
  o.error_threshold_percent = 100;
  auto b = Make(o);
  Succeed(*b, 1);
  Fail(*b, 10);
  EXPECT_EQ(b->state(), BreakerState::kClosed);
  now_ += 11s;
  Fail(*b, 4);
  EXPECT_EQ(b->state(), BreakerState::kOpen);
}

TEST_F(BreakerTest, CountsEveryOutcome) {
  auto b = Make(Options());
  Succeed(*b, 2);
  Fail(*b, 1);
  auto t = b->Acquire();
  ASSERT_TRUE(t.has_value());
  t->Timeout();
  EXPECT_EQ(b->stats().successes_total, 2U);
  EXPECT_EQ(b->stats().failures_total, 2U);
  EXPECT_EQ(b->stats().timeouts_total, 1U);
  EXPECT_EQ(b->state(), BreakerState::kOpen);  // 2 of 4
  EXPECT_STREQ(BreakerStateName(b->state()), "open");
}

TEST_F(BreakerTest, ReportingTwiceCountsOnce) {
  auto b = Make(Options());
  auto p = b->Acquire();
  ASSERT_TRUE(p.has_value());
  p->Failure();
  p->Failure();
  p->Success();
  EXPECT_EQ(b->stats().failures_total, 1U);
  EXPECT_EQ(b->stats().successes_total, 0U);
}

}  // namespace
}  // namespace coredb
