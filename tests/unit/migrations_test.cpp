// Migration files, the SQL splitter and the planning rules, without a server.
#include "coredb/migrations/migration.hpp"
#include "coredb/migrations/migrator.hpp"
#include "coredb/migrations/sql_script.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

#include <fstream>
#include <sstream>

namespace coredb::migrations {
namespace {

// The value, or a test failure (an exception) naming the error.
template <class T>
T Must(coredb::Result<T> r) {
  if (!r) throw std::runtime_error("unexpected error: " + r.error().message);
  return std::move(*r);
}

std::vector<std::string> Sql(std::string_view script) {
  auto split = SplitSqlScript(script);
  EXPECT_TRUE(split) << (split ? "" : split.error().message);
  std::vector<std::string> out;
  if (split) {
    for (auto& s : *split) out.push_back(s.sql);
  }
  return out;
}

TEST(SplitSqlScript, SplitsOnSemicolonsAndDropsEmptyAndCommentOnlySegments) {
  EXPECT_EQ(Sql("CREATE TABLE a (x int);\n\n  ;; SELECT 1;\n-- trailing comment\n"),
            (std::vector<std::string>{"CREATE TABLE a (x int)", "SELECT 1"}));
  EXPECT_EQ(Sql("SELECT 1"), std::vector<std::string>{"SELECT 1"});  // no final semicolon
  EXPECT_TRUE(Sql("-- only a comment\n/* and another */\n").empty());
}

TEST(SplitSqlScript, IgnoresSemicolonsInsideLiteralsIdentifiersCommentsAndDollarQuotes) {
  EXPECT_EQ(Sql("SELECT 'a;b', 'it''s;';"), std::vector<std::string>{"SELECT 'a;b', 'it''s;'"});
  EXPECT_EQ(Sql(R"(SELECT E'x\';y';)"), std::vector<std::string>{R"(SELECT E'x\';y')"});
  EXPECT_EQ(Sql(R"(SELECT 'x\'; SELECT 2;)"), (std::vector<std::string>{R"(SELECT 'x\')", "SELECT 2"}));
  EXPECT_EQ(Sql(R"(SELECT 1 AS "a;""b";)"), std::vector<std::string>{R"(SELECT 1 AS "a;""b")"});
  EXPECT_EQ(Sql("SELECT 1 -- a; comment\n;"), std::vector<std::string>{"SELECT 1 -- a; comment"});
  EXPECT_EQ(Sql("SELECT /* a; /* nested; */ b; */ 1;"), std::vector<std::string>{"SELECT /* a; /* nested; */ b; */ 1"});
  const std::string fn =
      "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.x := 1;\n  RETURN NEW;\nEND\n$$";
  EXPECT_EQ(Sql(fn + ";\nSELECT 2;"), (std::vector<std::string>{fn, "SELECT 2"}));
  EXPECT_EQ(Sql("SELECT $body$ a; $$ b; $body$;"), std::vector<std::string>{"SELECT $body$ a; $$ b; $body$"});
  // $1 is a parameter and a$b$ an identifier, not dollar quotes.
  EXPECT_EQ(Sql("SELECT $1; SELECT a$b$c; SELECT 3;"),
            (std::vector<std::string>{"SELECT $1", "SELECT a$b$c", "SELECT 3"}));
}

TEST(SplitSqlScript, StatementsKnowTheirLineAndStartAtTheirFirstToken) {
  auto split = SplitSqlScript("-- header\nCREATE TABLE a (x int);\n\n/* c */ SELECT\n 'multi\nline';\nSELECT 3;");
  ASSERT_TRUE(split);
  ASSERT_EQ(split->size(), 3u);
  EXPECT_EQ((*split)[0].line, 2);
  EXPECT_EQ((*split)[1].line, 4);
  EXPECT_EQ((*split)[1].sql, "SELECT\n 'multi\nline'");
  EXPECT_EQ((*split)[2].line, 7);
}

TEST(SplitSqlScript, UnterminatedConstructsAreErrorsNamingTheLine) {
  for (const char* script : {"SELECT 'abc;", "SELECT \"abc;", "SELECT 1;\nSELECT $$ x;", "/* never closed"}) {
    auto split = SplitSqlScript(script);
    ASSERT_FALSE(split) << script;
    EXPECT_EQ(split.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(split.error().message.find("unterminated"), std::string::npos) << split.error().message;
  }
  auto dollar = SplitSqlScript("SELECT 1;\nSELECT $$ x;");
  EXPECT_NE(dollar.error().message.find("line 2"), std::string::npos) << dollar.error().message;
}

std::vector<MigrationFile> Pair(const std::string& stem, std::string up = "SELECT 1;", std::string down = "") {
  return {{stem + ".up.sql", std::move(up)}, {stem + ".down.sql", std::move(down)}};
}

TEST(BuildMigrationSet, PairsFilesSortsByVersionAndChecksumsTheUpFile) {
  auto files = Pair("0010_later", "SELECT 10;");
  auto first = Pair("0002_first", "CREATE TABLE t (x int);", "DROP TABLE t;");
  files.insert(files.end(), first.begin(), first.end());
  auto set = BuildMigrationSet(files);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[0].version, 2);
  EXPECT_EQ((*set)[0].name, "first");
  EXPECT_EQ((*set)[0].checksum, Sha256Hex("CREATE TABLE t (x int);"));
  EXPECT_EQ((*set)[0].up.size(), 1u);
  EXPECT_EQ((*set)[0].down.size(), 1u);
  EXPECT_EQ((*set)[1].version, 10);
  EXPECT_TRUE((*set)[1].down.empty());
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(BuildMigrationSet, RefusesBadNamesMissingHalvesDuplicatesAndEmptyUpFiles) {
  auto fails = [](std::vector<MigrationFile> files, const std::string& needle) {
    auto set = BuildMigrationSet(std::move(files));
    ASSERT_FALSE(set) << needle;
    EXPECT_EQ(set.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(set.error().message.find(needle), std::string::npos) << set.error().message;
  };
  fails({}, "no migration files");
  fails({{"1_x.sql", "SELECT 1;"}}, "1_x.sql: the name must be");
  fails({{"0000_zero.up.sql", "SELECT 1;"}}, "0000_zero.up.sql");
  fails({{"0001_Bad-Name.up.sql", "SELECT 1;"}}, "0001_Bad-Name.up.sql");
  fails({{"0001_a.up.sql", "SELECT 1;"}}, "0001_a.up.sql: has no down file");
  fails({{"0001_a.down.sql", ""}}, "has no up file");
  auto renamed = Pair("0001_a");
  renamed.push_back({"0001_b.up.sql", "SELECT 1;"});
  fails(renamed, "version 1 is also used by 'a'");
  auto duplicate = Pair("0001_a");
  duplicate.push_back({"01_a.up.sql", "SELECT 2;"});
  fails(duplicate, "duplicate");
  fails(Pair("0001_a", "-- nothing\n"), "holds no SQL statement");
  fails(Pair("0001_a", "SELECT 'oops;"), "0001_a.up.sql: unterminated string literal");
}

TEST(EmbeddedMigrations, AreTheRepositoryFilesByteForByte) {
  auto files = EmbeddedMigrationFiles();
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {
    std::ifstream in(std::string(COREDB_SOURCE_DIR) + "/migrations/" + f.name, std::ios::binary);
    ASSERT_TRUE(in) << f.name;
    std::stringstream content;
    content << in.rdbuf();
    EXPECT_EQ(f.content, content.str()) << f.name;
  }
  auto set = LoadMigrations("");
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ((*set)[0].version, 1);
  EXPECT_EQ((*set)[0].name, "platform_schema");
  EXPECT_GT((*set)[0].up.size(), 30u);  // tables, indexes, foreign keys, trigger
}

// --- planning ----------------------------------------------------------------------------------

std::vector<Migration> Known(std::initializer_list<int> versions) {
  std::vector<MigrationFile> files;
  for (int v : versions) {
    auto p = Pair("000" + std::to_string(v) + "_m" + std::to_string(v), "SELECT " + std::to_string(v) + ";");
    files.insert(files.end(), p.begin(), p.end());
  }
  return Must(BuildMigrationSet(files));
}

AppliedMigration Applied(const Migration& m) {
  return {m.version, m.name, m.checksum, "2024-01-01T00:00:00.000Z", 1.5};
}

std::vector<int> Versions(const std::vector<const Migration*>& plan) {
  std::vector<int> out;
  for (auto* m : plan) out.push_back(m->version);
  return out;
}

TEST(PlanMigrate, AppliesPendingInOrderUpToTheTarget) {
  auto known = Known({1, 2, 3});
  EXPECT_EQ(Versions(Must(PlanMigrate(known, {}, std::nullopt))), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(Versions(Must(PlanMigrate(known, {Applied(known[0])}, std::nullopt))), (std::vector<int>{2, 3}));
  EXPECT_EQ(Versions(Must(PlanMigrate(known, {Applied(known[0])}, 2))), (std::vector<int>{2}));
  EXPECT_TRUE(Must(PlanMigrate(known, {Applied(known[0]), Applied(known[1])}, 1)).empty());
  auto unknown = PlanMigrate(known, {}, 7);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(unknown.error().message.find("known: 1, 2, 3"), std::string::npos);
}

TEST(PlanMigrate, RefusesChangedUnknownAndOutOfOrderHistories) {
  auto known = Known({1, 2, 3});
  auto changed = Applied(known[0]);
  changed.checksum = std::string(64, 'f');
  auto r1 = PlanMigrate(known, {changed}, std::nullopt);
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, ErrorCode::kConflict);
  EXPECT_NE(
      r1.error().message.find("migration 1 (m1) was changed after it was applied: recorded checksum ffffffffffff"),
      std::string::npos)
      << r1.error().message;

  AppliedMigration stranger{9, "future", std::string(64, '0'), "", 0};
  auto r2 = PlanMigrate(known, {Applied(known[0]), stranger}, std::nullopt);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("migration 9 (future) is applied in the database but unknown"), std::string::npos);

  auto r3 = PlanMigrate(known, {Applied(known[0]), Applied(known[2])}, std::nullopt);
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("migration 2 (m2) is pending but the later migration 3"), std::string::npos);
}

TEST(PlanRollback, UndoesNewestFirstAndRefusesWhatCannotBeUndone) {
  auto known = Known({1, 2, 3});
  std::vector<AppliedMigration> applied{Applied(known[0]), Applied(known[1]), Applied(known[2])};
  EXPECT_EQ(Versions(Must(PlanRollback(known, applied, 1))), std::vector<int>{3});
  EXPECT_EQ(Versions(Must(PlanRollback(known, applied, 3))), (std::vector<int>{3, 2, 1}));
  auto none = PlanRollback(known, {}, 1);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kConflict);
  auto too_many = PlanRollback(known, applied, 4);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, ErrorCode::kConflict);
  EXPECT_EQ(PlanRollback(known, applied, 0).error().code, ErrorCode::kInvalidRequest);
  applied[2].checksum = "x";
  EXPECT_EQ(PlanRollback(known, applied, 1).error().code, ErrorCode::kConflict);
}

TEST(DescribeStatus, ReportsCurrentPendingHistoryAndProblemsAsJson) {
  auto known = Known({1, 2});
  auto status = DescribeStatus(known, {Applied(known[0])});
  EXPECT_EQ(status.current, 1);
  EXPECT_EQ(status.pending, std::vector<int>{2});
  EXPECT_TRUE(status.problems.empty());
  auto json = StatusToJson(status);
  EXPECT_EQ(json.at("current"), 1);
  EXPECT_EQ(json.at("pending"), boost::json::parse("[2]"));
  EXPECT_EQ(json.at("history").at(0).at("appliedAt"), "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(json.at("history").at(0).at("duration"), 1.5);
  EXPECT_TRUE(StatusToJson(DescribeStatus(known, {})).at("current").is_null());
}

}  // namespace
}  // namespace coredb::migrations
