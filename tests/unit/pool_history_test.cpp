// PoolHistory: the bounded ring behind GET /api/v1/pools/history (the console's pool charts).
#include "coredb/sessions/pool_history.hpp"

#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

namespace coredb::sessions {
namespace {

PoolSample At(int seconds, std::size_t active) {
  PoolSample s{.at = WallTime{std::chrono::seconds(seconds)}, .pools = {}};
  s.pools[0].active = active;
  return s;
}

TEST(PoolHistory, KeepsTheNewestSamplesOldestFirstWithinItsCapacity) {
  PoolHistory history(3);
  for (int i = 0; i < 5; ++i) history.Record(At(i, static_cast<std::size_t>(i)));
  ASSERT_EQ(history.samples().size(), 3u);
  EXPECT_EQ(history.samples().front().pools[0].active, 2u);
  EXPECT_EQ(history.samples().back().pools[0].active, 4u);
  EXPECT_LT(history.samples().front().at, history.samples().back().at);
}

TEST(PoolHistory, APointCopiesThePoolsFigures) {
  DatabaseStats stats;
  stats.max = 20;
  stats.size = 5;
  stats.active = 3;
  stats.idle = 2;
  stats.leased = 1;
  stats.waiting = 4;
  const PoolPoint p = PointOf(stats);
  EXPECT_EQ(p.max, 20u);
  EXPECT_EQ(p.size, 5u);
  EXPECT_EQ(p.active, 3u);
  EXPECT_EQ(p.idle, 2u);
  EXPECT_EQ(p.leased, 1u);
  EXPECT_EQ(p.waiting, 4u);
}

TEST(PoolHistory, TheRecorderSamplesAtOnceAndStopsWhenAsked) {
  boost::asio::io_context ioc;
  int reads = 0;
  PoolHistoryRecorder recorder(ioc.get_executor(), std::chrono::milliseconds(10), 100, [&] {
    ++reads;
    if (reads == 3) ioc.stop();
    return At(reads, 0);
  });
  recorder.Start();
  ioc.run_for(std::chrono::seconds(5));
  EXPECT_EQ(reads, 3);
  EXPECT_EQ(recorder.history().samples().size(), 3u);
  recorder.Stop();
  ioc.restart();
  ioc.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(reads, 3) << "no sample after Stop";
}

}  // namespace
}  // namespace coredb::sessions
