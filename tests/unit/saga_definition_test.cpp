// Saga definitions: validation and placeholder resolution (no I/O).
#include "coredb/sagas/saga_definition.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace coredb::sagas {
namespace {

namespace json = boost::json;

Result<SagaDefinition> Parse(const char* text) { return ParseSagaDefinition(json::parse(text).as_object()); }

TEST(SagaDefinition, AcceptsSqlAndRedisStepsWithExplicitNullCompensation) {
  auto d = Parse(R"({"steps":[
    {"name":"insert","action":{"sql":"INSERT INTO t VALUES ($1) RETURNING id","params":[1]},
     "compensation":{"sql":"DELETE FROM t WHERE id = $1","params":["${steps.insert.rows.0.id}"]}},
    {"name":"cache","action":{"database":"redis","command":["SET","k","${steps.insert.rows.0.id}"]},"compensation":null}]})");
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d->steps.size(), 2u);
  EXPECT_EQ(d->steps[1].action.database, Database::kRedis);
  EXPECT_FALSE(d->steps[1].compensation.has_value());
  // Round trip through the log's JSON.
  auto again = DefinitionFromJson(DefinitionJson(*d));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->steps[0].compensation->json, d->steps[0].compensation->json);
}

TEST(SagaDefinition, RefusesWhatCannotRun) {
  for (const char* bad : {
           R"({"steps":[]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT 1"}}]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT 1"},"compensation":null,"extra":1}]})",
           R"({"steps":[{"name":"","action":{"sql":"SELECT 1"},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"database":"oracle","sql":"SELECT 1"},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT 1","transactionId":"tx"},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT 1","timeout":0},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"database":"redis","sql":"x"},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT $1","params":["${steps.a.rows}"]},"compensation":null}]})",
           R"({"steps":[{"name":"a","action":{"sql":"SELECT 1"},"compensation":{"sql":"SELECT $1","params":["${steps.b.x}"]}},
                        {"name":"b","action":{"sql":"SELECT 1"},"compensation":null}]})",
       }) {
    auto d = Parse(bad);
    EXPECT_FALSE(d) << bad;
    if (!d) {
      EXPECT_EQ(d.error().code, ErrorCode::kInvalidRequest) << bad;
    }
  }
}

TEST(SagaDefinition, ACompensationMayUseItsOwnStepsResult) {
  auto d = Parse(R"({"steps":[{"name":"a","action":{"sql":"SELECT 1 AS id"},
                               "compensation":{"sql":"SELECT $1","params":["${steps.a.rows.0.id}"]}}]})");
  EXPECT_TRUE(d) << d.error().message;
}

TEST(Placeholders, ReplaceWholeParamsKeepingTypesAndStringifyForRedis) {
  const std::vector<std::string> names{"a", "b"};
  const std::vector<json::value> results{json::parse(R"({"rows":[{"id":42,"tags":["x"]}],"rowCount":1})"),
                                         json::parse(R"({"result":"OK"})")};
  auto sql = ResolvePlaceholders(
      json::parse(R"({"sql":"SELECT $1, $2, $3, $4","params":["${steps.a.rows.0.id}","${steps.a.rows.0.tags}",
                 "$${steps.a.rows.0.id}","text ${steps.a.rows.0.id}"]})").as_object(),
      names, results);
  ASSERT_TRUE(sql) << sql.error().message;
  EXPECT_EQ(sql->at("params"), json::parse(R"([42,["x"],"${steps.a.rows.0.id}","text ${steps.a.rows.0.id}"])"));
  auto redis = ResolvePlaceholders(
      json::parse(R"({"database":"redis","command":["SET","k","${steps.a.rows.0.id}","${steps.b.result}"]})").as_object(),
      names, results);
  ASSERT_TRUE(redis);
  EXPECT_EQ(redis->at("command"), json::parse(R"(["SET","k","42","OK"])"));
  auto missing = ResolvePlaceholders(json::parse(R"({"sql":"SELECT $1","params":["${steps.a.rows.5.id}"]})").as_object(),
                                     names, results);
  EXPECT_FALSE(missing);
}

}  // namespace
}  // namespace coredb::sagas
