#include "coredb/http/handlers/query_handler.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace coredb::http {
namespace {

using namespace std::chrono_literals;

Result<QueryRequest> Parse(const char* text, boost::json::object& storage) {
  storage = boost::json::parse(text).as_object();
  return ParseQueryRequest(storage, 30000ms);
}

TEST(QueryRequest, DefaultsAndFields) {
  boost::json::object o;
  auto q = Parse(R"({"sql":"SELECT $1","params":[1],"rowMode":"array","timeout":5000})", o);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->database, Database::kPostgresql);
  EXPECT_EQ(q->sql, "SELECT $1");
  EXPECT_EQ(q->params->size(), 1u);
  EXPECT_EQ(q->row_mode, RowMode::kArray);
  EXPECT_EQ(q->timeout, 5000ms);
  auto d = Parse(R"({"sql":"SELECT 1"})", o);
  EXPECT_EQ(d->timeout, 30000ms);
  EXPECT_EQ(d->row_mode, RowMode::kObject);
}

TEST(QueryRequest, RedisTakesACommandOfStrings) {
  boost::json::object o;
  auto q = Parse(R"({"database":"redis","command":["GET","k"]})", o);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->command, (std::vector<std::string>{"GET", "k"}));
  for (const char* bad : {R"({"database":"redis","command":[]})", R"({"database":"redis","command":"GET k"})",
                          R"({"database":"redis","command":["GET",1]})", R"({"database":"redis","sql":"x"})",
                          R"({"database":"redis"})", R"({"sql":"SELECT 1","command":["GET"]})"}) {
    auto r = Parse(bad, o);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(QueryRequest, EveryBadFieldIsNamed) {
  struct Case {
    const char* body;
    const char* mentions;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"sql":1})", "'sql' must be a string"},
           {R"({})", "missing required member 'sql'"},
           {R"({"sql":"SELECT 1","params":{}})", "'params' must be an array"},
           {R"({"sql":"SELECT 1","parms":[]})", "unknown member 'parms'"},
           {R"({"sql":"SELECT 1","database":"oracle"})", "unknown database 'oracle'"},
           {R"({"sql":"SELECT 1","timeout":0})", "'timeout' must be an integer in 1..300000"},
           {R"({"sql":"SELECT 1","timeout":"5"})", "'timeout' must be an integer"},
           {R"({"sql":"SELECT 1","timeout":18446744073709551615})", "'timeout' must be an integer in 1..300000"},
           {R"({"sql":"SELECT 1","rowMode":"rows"})", "'rowMode'"},
           {R"({"sql":""})", "must not be empty"},
           {R"({"sql":"SELECT 1","connectionId":5})", "'connectionId' must be a string"},
       }) {
    boost::json::object o;
    auto r = Parse(c.body, o);
    ASSERT_FALSE(r.has_value()) << c.body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(r.error().message.find(c.mentions), std::string::npos) << r.error().message;
  }
}

TEST(QueryRequest, IntegralDoublesAreAcceptedAsIntegers) {
  boost::json::object o;
  auto q = Parse(R"({"sql":"SELECT 1","timeout":2500.0})", o);
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->timeout, 2500ms);
}

TEST(QueryRequest, CacheAndInvalidateAreParsedAndChecked) {
  boost::json::object o;
  auto q = Parse(R"({"sql":"SELECT 1","cache":{"ttl":60,"key":"k:1","tags":["a","b"]}})", o);
  ASSERT_TRUE(q.has_value()) << q.error().message;
  ASSERT_TRUE(q->cache.has_value());
  EXPECT_EQ(q->cache->ttl, std::chrono::seconds(60));
  EXPECT_EQ(*q->cache->key, "k:1");
  EXPECT_EQ(q->cache->tags, (std::vector<std::string>{"a", "b"}));
  auto w = Parse(R"({"sql":"UPDATE t SET x = 1","invalidate":{"tags":["a"],"keys":["user:*"]}})", o);
  ASSERT_TRUE(w.has_value()) << w.error().message;
  EXPECT_EQ(w->invalidate->tags, (std::vector<std::string>{"a"}));
  EXPECT_EQ(w->invalidate->patterns, (std::vector<std::string>{"user:*"}));
  for (const char* bad :
       {R"({"sql":"SELECT 1","cache":{"ttl":0}})", R"({"sql":"SELECT 1","cache":{"ttl":2592001}})",
        R"({"sql":"SELECT 1","cache":{"ttl":1.5}})", R"({"sql":"SELECT 1","cache":{}})",
        R"({"sql":"SELECT 1","cache":{"ttl":60,"key":""}})", R"({"sql":"SELECT 1","cache":{"ttl":60,"tags":[1]}})",
        R"({"sql":"SELECT 1","invalidate":{"keys":[""]}})", R"({"sql":"SELECT 1","invalidate":{"tags":"a"}})",
        R"({"sql":"SELECT 1","invalidate":[]})", R"({"sql":"SELECT 1","cache":{"ttl":60},"invalidate":{}})",
        R"({"sql":"SELECT 1","cache":{"ttl":60},"transactionId":"tx"})",
        R"({"database":"redis","command":["GET","k"],"cache":{"ttl":60}})"}) {
    auto r = Parse(bad, o);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(QueryRequest, DefaultCacheKeyDependsOnDatabaseSqlParamsAndRowMode) {
  boost::json::object o1, o2;
  auto key = [](const char* text, boost::json::object& storage) { return DefaultCacheKey(*Parse(text, storage)); };
  const std::string base = key(R"({"sql":"SELECT $1","params":[1],"cache":{"ttl":1}})", o1);
  EXPECT_EQ(base.size(), 2u + 64u);
  EXPECT_TRUE(base.starts_with("q:"));
  EXPECT_EQ(base, key(R"({"params":[1],"cache":{"ttl":9},"sql":"SELECT $1"})", o2));
  EXPECT_NE(base, key(R"({"sql":"SELECT $1","params":[2],"cache":{"ttl":1}})", o2));
  EXPECT_NE(base, key(R"({"sql":"SELECT $1 ","params":[1],"cache":{"ttl":1}})", o2));
  EXPECT_NE(base, key(R"({"sql":"SELECT $1","params":[1],"rowMode":"array","cache":{"ttl":1}})", o2));
  EXPECT_NE(base, key(R"({"sql":"SELECT $1","params":[1],"database":"vector","cache":{"ttl":1}})", o2));
  EXPECT_NE(base, key(R"({"sql":"SELECT $1","params":["1"],"cache":{"ttl":1}})", o2));
}

}  // namespace
}  // namespace coredb::http
