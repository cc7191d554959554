#include "coredb/http/client_limiter.hpp"

#include <gtest/gtest.h>

namespace coredb::http {
namespace {

TEST(ClientLimiter, BoundsEachClientSeparatelyAndSlotsComeBack) {
  ClientLimiter limiter(2);
  ClientLimiter::Slot a1, a2, a3, b1;
  EXPECT_TRUE(limiter.TryAcquire("a", a1));
  EXPECT_TRUE(limiter.TryAcquire("a", a2));
  EXPECT_FALSE(limiter.TryAcquire("a", a3));
  EXPECT_TRUE(limiter.TryAcquire("b", b1)) << "another client is not affected";
  EXPECT_EQ(limiter.running("a"), 2u);
  a1 = ClientLimiter::Slot();  // given back
  EXPECT_EQ(limiter.running("a"), 1u);
  EXPECT_TRUE(limiter.TryAcquire("a", a3));
  {
    ClientLimiter::Slot moved = std::move(a3);
    EXPECT_EQ(limiter.running("a"), 2u) << "a move does not give the slot back";
  }
  EXPECT_EQ(limiter.running("a"), 1u);
}

TEST(ClientLimiter, ZeroMeansNoLimit) {
  ClientLimiter limiter(0);
  std::vector<ClientLimiter::Slot> slots(1000);
  for (auto& s : slots) EXPECT_TRUE(limiter.TryAcquire("a", s));
  EXPECT_EQ(limiter.running("a"), 0u);
}

}  // namespace
}  // namespace coredb::http
