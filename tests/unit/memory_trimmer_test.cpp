#include "coredb/core/memory_trimmer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace coredb {
namespace {

using namespace std::chrono_literals;

bool WaitFor(const MemoryTrimmer& t, std::size_t n) {
  for (auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    if (t.completed() >= n) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

TEST(MemoryTrimmer, EachRequestRunsATrimOnItsOwnThread) {
  std::atomic<int> calls{0};
  std::atomic<bool> other_thread{false};
  const auto caller = std::this_thread::get_id();
  MemoryTrimmer trimmer([&] {
    other_thread = std::this_thread::get_id() != caller;
    ++calls;
  });
  EXPECT_EQ(trimmer.completed(), 0u);
  trimmer.Request();
  ASSERT_TRUE(WaitFor(trimmer, 1));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(other_thread.load());
  trimmer.Request();
  ASSERT_TRUE(WaitFor(trimmer, 2));
  EXPECT_EQ(calls.load(), 2);
}

TEST(MemoryTrimmer, RequestsDuringATrimFoldIntoOneMoreAndNeverBlockTheCaller) {
  std::atomic<bool> release{false};
  std::atomic<int> calls{0};
  MemoryTrimmer trimmer([&] {
    ++calls;
    while (!release) std::this_thread::sleep_for(1ms);
  });
  trimmer.Request();
  while (calls.load() == 0) std::this_thread::sleep_for(1ms);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) trimmer.Request();  // while the first trim runs
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  release = true;
  ASSERT_TRUE(WaitFor(trimmer, 2));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 2);
}

TEST(MemoryTrimmer, TheDefaultTrimRunsAndDestructionWithoutRequestsEnds) {
  { MemoryTrimmer idle; }
  MemoryTrimmer trimmer;
  trimmer.Request();
  EXPECT_TRUE(WaitFor(trimmer, 1));
}

}  // namespace
}  // namespace coredb
