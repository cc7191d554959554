#include "coredb/adapters/postgres/statement_cache.hpp"

#include <gtest/gtest.h>

namespace coredb::pg {
namespace {

TEST(StatementCache, PreparesQueriesAndDmlButNotUtilityStatements) {
  for (const char* sql : {"SELECT 1", "  select id FROM t WHERE id = $1", "INSERT INTO t VALUES ($1)", "update t set v=1",
                          "DELETE FROM t", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)", "TABLE t",
                          "(SELECT 1) UNION (SELECT 2)", "-- a comment\nSELECT 1", "/* a /* nested */ comment */ SELECT 1",
                          "\n\tSeLeCt 1"}) {
    EXPECT_TRUE(StatementCache::Preparable(sql)) << sql;
  }
  for (const char* sql : {"BEGIN", "COMMIT", "SET search_path = x", "DISCARD ALL", "DEALLOCATE ALL", "CREATE TABLE t (v int)",
                          "ALTER TABLE t ADD COLUMN w int", "EXPLAIN SELECT 1", "", "   ", "-- only a comment",
                          "/* unterminated SELECT 1", "SELECTED", "selectx 1", "PREPARE p AS SELECT 1", "EXECUTE p",
                          "LISTEN x", "VACUUM"}) {
    EXPECT_FALSE(StatementCache::Preparable(sql)) << sql;
  }
}

TEST(StatementCache, FindsWhatWasAddedAndCountsHitsAndMisses) {
  StatementCache cache(4);
  EXPECT_EQ(cache.Find("SELECT 1"), nullptr);
  cache.CountMiss();
  const std::string name = cache.NewName();
  cache.Add("SELECT 1", name);
  const std::string* found = cache.Find("SELECT 1");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(*found, name);
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(cache.PendingDeallocations().empty());
}

TEST(StatementCache, NamesAreNeverReused) {
  StatementCache cache(2);
  const std::string a = cache.NewName();
  cache.Clear();
  const std::string b = cache.NewName();
  EXPECT_NE(a, b);
}

TEST(StatementCache, EvictsTheLeastRecentlyUsedAndAsksToDeallocateIt) {
  StatementCache cache(2);
  const std::string a = cache.NewName(), b = cache.NewName(), c = cache.NewName();
  cache.Add("SELECT 'a'", a);
  cache.Add("SELECT 'b'", b);
  ASSERT_NE(cache.Find("SELECT 'a'"), nullptr);  // 'a' is now the most recent
  cache.Add("SELECT 'c'", c);                    // evicts 'b'
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Find("SELECT 'b'"), nullptr);
  EXPECT_NE(cache.Find("SELECT 'a'"), nullptr);
  EXPECT_NE(cache.Find("SELECT 'c'"), nullptr);
  ASSERT_EQ(cache.PendingDeallocations().size(), 1u);
  EXPECT_EQ(cache.PendingDeallocations().front(), b);
  EXPECT_EQ(cache.evictions(), 1u);
  cache.ClearPendingDeallocations();
  EXPECT_TRUE(cache.PendingDeallocations().empty());
}

TEST(StatementCache, EvictOneAndClearAll) {
  StatementCache cache(8);
  const std::string a = cache.NewName(), b = cache.NewName();
  cache.Add("SELECT 'a'", a);
  cache.Add("SELECT 'b'", b);
  cache.Evict("SELECT 'a'");
  EXPECT_EQ(cache.Find("SELECT 'a'"), nullptr);
  ASSERT_EQ(cache.PendingDeallocations().size(), 1u);
  EXPECT_EQ(cache.PendingDeallocations().front(), a);
  cache.Evict("SELECT 'unknown'");  // no-op
  EXPECT_EQ(cache.PendingDeallocations().size(), 1u);
  cache.Clear();  // the session lost them all: nothing left to deallocate
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.Find("SELECT 'b'"), nullptr);
  EXPECT_TRUE(cache.PendingDeallocations().empty());
}

TEST(StatementCache, CapacityZeroKeepsNothing) {
  StatementCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.Add("SELECT 1", cache.NewName());
  EXPECT_EQ(cache.Find("SELECT 1"), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace coredb::pg
