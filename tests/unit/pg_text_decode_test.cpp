// PostgreSQL text-format values → JSON (adapters/postgres/result_json.hpp), without a server:
// single values through DecodeText, whole results through libpq's PQmakeEmptyPGresult.
#include "coredb/adapters/postgres/result_json.hpp"
#include "coredb/adapters/postgres/type_registry.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace coredb::pg {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

constexpr Oid kInt2vector = 22;
constexpr Oid kName = 19;
constexpr Oid kPoint = 600;
constexpr Oid kUuid = 2950;
constexpr Oid kBoolArray = 1000;
constexpr Oid kInt4Array = 1007;
constexpr Oid kTextArray = 1009;
constexpr Oid kInt8Array = 1016;
constexpr Oid kBoxArray = 1020;
constexpr Oid kFloat8Array = 1022;
constexpr Oid kTimestamptzArray = 1185;
constexpr Oid kJsonbArray = 3807;
constexpr Oid kNumericArray = 1231;
// What a database with pgvector might have assigned.
constexpr Oid kVector = 16390;
constexpr Oid kVectorArray = 16395;

class PgTextDecode : public ::testing::Test {
 protected:
  json::value Decode(std::string_view text, Oid type) { return DecodeText(text, type, types_); }
  TypeRegistry types_;
};

TEST_F(PgTextDecode, BoolBecomesBoolean) {
  EXPECT_EQ(Decode("t", oid::kBool), json::value(true));
  EXPECT_EQ(Decode("f", oid::kBool), json::value(false));
}

TEST_F(PgTextDecode, SmallIntegersBecomeNumbers) {
  EXPECT_EQ(Decode("42", oid::kInt4), json::value(42));
  EXPECT_EQ(Decode("-2147483648", oid::kInt4), json::value(-2147483648LL));
  EXPECT_EQ(Decode("-32768", oid::kInt2), json::value(-32768));
  EXPECT_EQ(Decode("4294967295", oid::kOid), json::value(4294967295LL));
  EXPECT_TRUE(Decode("42", oid::kInt4).is_int64());
}

TEST_F(PgTextDecode, Int8AndNumericStayStringsSoNoDigitIsLost) {
  EXPECT_EQ(Decode("9007199254740993", oid::kInt8), json::value("9007199254740993"));
  EXPECT_EQ(Decode("-9223372036854775808", oid::kInt8), json::value("-9223372036854775808"));
  EXPECT_EQ(Decode("123456789012345678901234567890.000000000000000000001", oid::kNumeric),
            json::value("123456789012345678901234567890.000000000000000000001"));
  EXPECT_EQ(Decode("NaN", oid::kNumeric), json::value("NaN"));
  EXPECT_EQ(Decode("Infinity", oid::kNumeric), json::value("Infinity"));
}

TEST_F(PgTextDecode, FloatsBecomeNumbers) {
  json::value v = Decode("1.5", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 1.5);
  v = Decode("0.1", oid::kFloat4);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 0.1);  // as parseFloat("0.1") in node-postgres
  v = Decode("1e+300", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 1e300);
  v = Decode("-1.2345678901234567e-300", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), -1.2345678901234567e-300);
  v = Decode("5e-324", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 5e-324);
  v = Decode("1e-05", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_EQ(v.get_double(), 1e-05);
}

TEST_F(PgTextDecode, IntegralFloatsBecomeIntegersAndNegativeZeroStaysADouble) {
  json::value v = Decode("3", oid::kFloat8);
  ASSERT_TRUE(v.is_int64());
  EXPECT_EQ(v.get_int64(), 3);
  v = Decode("-123456789012345", oid::kFloat8);
  ASSERT_TRUE(v.is_int64());
  EXPECT_EQ(v.get_int64(), -123456789012345);
  v = Decode("-0", oid::kFloat8);
  ASSERT_TRUE(v.is_double());
  EXPECT_TRUE(std::signbit(v.get_double()));
  EXPECT_EQ(Decode("1e+15", oid::kFloat8), json::value(1e15));
}

TEST_F(PgTextDecode, NonFiniteFloatsBecomeStrings) {
  EXPECT_EQ(Decode("NaN", oid::kFloat8), json::value("NaN"));
  EXPECT_EQ(Decode("Infinity", oid::kFloat8), json::value("Infinity"));
  EXPECT_EQ(Decode("-Infinity", oid::kFloat4), json::value("-Infinity"));
}

TEST_F(PgTextDecode, JsonAndJsonbAreEmbedded) {
  EXPECT_EQ(Decode(R"({"a": [1, 2.5, {"b": null}], "c": "x"})", oid::kJsonb),
            json::parse(R"({"a":[1,2.5,{"b":null}],"c":"x"})"));
  EXPECT_EQ(Decode("  [1, \"two\", true]  ", oid::kJson), json::parse(R"([1,"two",true])"));
  EXPECT_EQ(Decode("\"just a string\"", oid::kJsonb), json::value("just a string"));
  EXPECT_EQ(Decode("null", oid::kJsonb), json::value(nullptr));
  EXPECT_EQ(Decode("12", oid::kJsonb), json::value(12));
  // json keeps duplicate keys; the last one wins, as in JSON.parse.
  EXPECT_EQ(Decode(R"({"a": 1, "a": 2})", oid::kJson), json::parse(R"({"a":2})"));
}

TEST_F(PgTextDecode, DeeplyNestedJsonIsEmbedded) {
  std::string deep(900, '[');
  deep += std::string(900, ']');
  json::value v = Decode(deep, oid::kJsonb);
  ASSERT_TRUE(v.is_array());
  int depth = 0;
  for (const json::value* p = &v; p->is_array() && !p->get_array().empty();
       p = &p->get_array()[0]) {
    ++depth;
  }
  EXPECT_EQ(depth, 899);
}

TEST_F(PgTextDecode, JsonThatCannotBeParsedOrRepresentedIsReturnedAsText) {
  EXPECT_EQ(Decode("{not json", oid::kJson), json::value("{not json"));
  // jsonb is numeric inside: 1e400 is legal there but is no finite double.
  EXPECT_EQ(Decode(R"({"big": 1e400})", oid::kJsonb), json::value(R"({"big": 1e400})"));
  EXPECT_EQ(Decode(R"([1e100])", oid::kJsonb), json::parse("[1e100]"));
}

TEST_F(PgTextDecode, TimestamptzBecomesRfc3339InUtcKeepingTheFraction) {
  EXPECT_EQ(Decode("2024-01-02 03:04:05.123456+00", oid::kTimestamptz),
            json::value("2024-01-02T03:04:05.123456Z"));
  EXPECT_EQ(Decode("2024-01-02 03:04:05+00", oid::kTimestamptz),
            json::value("2024-01-02T03:04:05Z"));
  EXPECT_EQ(Decode("2024-01-02 03:04:05.5+00", oid::kTimestamptz),
            json::value("2024-01-02T03:04:05.5Z"));
  EXPECT_EQ(Decode("2024-01-02 03:04:05.010+00", oid::kTimestamptz),
            json::value("2024-01-02T03:04:05.010Z"));
  EXPECT_EQ(Decode("0001-01-01 00:00:00+00", oid::kTimestamptz),
            json::value("0001-01-01T00:00:00Z"));
  EXPECT_EQ(Decode("294276-12-31 23:59:59.999999+00", oid::kTimestamptz),
            json::value("294276-12-31T23:59:59.999999Z"));
}

TEST_F(PgTextDecode, TimestamptzWithAnotherOffsetIsMovedToUtc) {
  EXPECT_EQ(TimestamptzToRfc3339("2024-01-01 01:30:00.25+05:30"), "2023-12-31T20:00:00.25Z");
  EXPECT_EQ(TimestamptzToRfc3339("2024-02-28 23:30:00-01"), "2024-02-29T00:30:00Z");
  EXPECT_EQ(TimestamptzToRfc3339("2023-03-01 00:30:00+01"), "2023-02-28T23:30:00Z");
  EXPECT_EQ(TimestamptzToRfc3339("1850-01-01 00:00:00+00:53:28"), "1849-12-31T23:06:32Z");
  EXPECT_EQ(TimestamptzToRfc3339("2000-01-01 00:00:00+00:00"), "2000-01-01T00:00:00Z");
}

TEST_F(PgTextDecode, SpecialAndBcTimestampsKeepPostgresText) {
  EXPECT_EQ(Decode("infinity", oid::kTimestamptz), json::value("infinity"));
  EXPECT_EQ(Decode("-infinity", oid::kTimestamptz), json::value("-infinity"));
  EXPECT_EQ(Decode("0044-03-15 12:00:00+00 BC", oid::kTimestamptz),
            json::value("0044-03-15 12:00:00+00 BC"));
  EXPECT_EQ(Decode("0044-03-15 12:00:00 BC", oid::kTimestamp),
            json::value("0044-03-15 12:00:00 BC"));
  EXPECT_EQ(Decode("01/02/2024 03:04:05 UTC", oid::kTimestamptz),
            json::value("01/02/2024 03:04:05 UTC"));
  EXPECT_EQ(TimestamptzToRfc3339("2024-01-02 03:04:05"), std::nullopt);  // no offset
  EXPECT_EQ(TimestamptzToRfc3339("2024-13-02 03:04:05+00"), std::nullopt);
  EXPECT_EQ(TimestamptzToRfc3339("2024-01-02 03:04:05.+00"), std::nullopt);
  EXPECT_EQ(TimestamptzToRfc3339(""), std::nullopt);
}

TEST_F(PgTextDecode, TimestampGetsTheTSeparatorAndNoOffset) {
  EXPECT_EQ(Decode("2024-01-02 03:04:05.123456", oid::kTimestamp),
            json::value("2024-01-02T03:04:05.123456"));
  EXPECT_EQ(Decode("2024-01-02 03:04:05", oid::kTimestamp), json::value("2024-01-02T03:04:05"));
  EXPECT_EQ(Decode("infinity", oid::kTimestamp), json::value("infinity"));
  EXPECT_EQ(TimestampToIso8601("2024-01-02 03:04:05+00"), std::nullopt);
}

TEST_F(PgTextDecode, DatesAndOtherTypesKeepPostgresText) {
  EXPECT_EQ(Decode("2024-01-02", oid::kDate), json::value("2024-01-02"));
  EXPECT_EQ(Decode("\\x00ff", oid::kBytea), json::value("\\x00ff"));
  EXPECT_EQ(Decode("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", kUuid),
            json::value("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
  EXPECT_EQ(Decode("(1,2)", kPoint), json::value("(1,2)"));
  EXPECT_EQ(Decode("abc", kName), json::value("abc"));  // name has a typelem but is no array
  EXPECT_EQ(Decode("1 2", kInt2vector), json::value("1 2"));
  EXPECT_EQ(Decode("anything", 987654), json::value("anything"));  // unknown OID
}

TEST_F(PgTextDecode, ArraysDecodeEachElementByTheElementType) {
  EXPECT_EQ(Decode("{1,2,3}", kInt4Array), json::parse("[1,2,3]"));
  EXPECT_EQ(Decode("{1,9007199254740993}", kInt8Array), json::parse(R"(["1","9007199254740993"])"));
  EXPECT_EQ(Decode("{1.50,NaN}", kNumericArray), json::parse(R"(["1.50","NaN"])"));
  EXPECT_EQ(Decode("{t,f,NULL}", kBoolArray), json::parse("[true,false,null]"));
  EXPECT_EQ(Decode("{1.5,NaN,-Infinity,3}", kFloat8Array),
            json::parse(R"([1.5,"NaN","-Infinity",3])"));
  EXPECT_EQ(Decode(R"({"2024-01-02 03:04:05.5+00",NULL})", kTimestamptzArray),
            json::parse(R"(["2024-01-02T03:04:05.5Z",null])"));
  EXPECT_EQ(Decode(R"({"{\"a\": 1}","[1, \"x\\\\y\"]",NULL})", kJsonbArray),
            json::parse(R"([{"a":1},[1,"x\\y"],null])"));
}

TEST_F(PgTextDecode, ArrayQuotingEscapesAndNullAreUnderstood) {
  EXPECT_EQ(Decode(R"({"a b","NULL",NULL,null,"\"q\"","\\\\","",plain,"{x}","a,b"})", kTextArray),
            json::parse(R"(["a b","NULL",null,null,"\"q\"","\\\\","","plain","{x}","a,b"])"));
  EXPECT_EQ(Decode(R"({"back\\slash"})", kTextArray), json::parse(R"(["back\\slash"])"));
  EXPECT_EQ(Decode("{\"h\xc3\xa9\"}", kTextArray), json::parse("[\"h\\u00e9\"]"));
  EXPECT_EQ(Decode("{}", kTextArray), json::parse("[]"));
  // array_in syntax PostgreSQL does not print but accepts: blanks around elements, escapes.
  EXPECT_EQ(Decode("{ a , b\\,c }", kTextArray), json::parse(R"(["a","b,c"])"));
}

TEST_F(PgTextDecode, MultidimensionalArraysNest) {
  EXPECT_EQ(Decode("{{1,2},{3,4}}", kInt4Array), json::parse("[[1,2],[3,4]]"));
  EXPECT_EQ(Decode("{{{1},{2}},{{NULL},{4}}}", kInt4Array),
            json::parse("[[[1],[2]],[[null],[4]]]"));
  EXPECT_EQ(Decode(R"({{"a","b"},{"c",NULL}})", kTextArray),
            json::parse(R"([["a","b"],["c",null]])"));
}

TEST_F(PgTextDecode, ExplicitBoundsAreDropped) {
  EXPECT_EQ(Decode("[0:1]={1,2}", kInt4Array), json::parse("[1,2]"));
  EXPECT_EQ(Decode("[-2:-1][1:2]={{1,2},{3,4}}", kInt4Array), json::parse("[[1,2],[3,4]]"));
}

TEST_F(PgTextDecode, ArraysUseTheElementTypesDelimiter) {
  EXPECT_EQ(Decode("{(1,1),(0,0);(2,2),(1,1)}", kBoxArray),
            json::parse(R"j(["(1,1),(0,0)","(2,2),(1,1)"])j"));
}

TEST_F(PgTextDecode, MalformedArrayTextIsReturnedAsText) {
  for (std::string_view bad : {"{1,2", "{1,,2}", "{\"a}", "{1}x", "[1:2]{1,2}", "{{{{{{{1}}}}}}}",
                               "1,2", "{\"a\"b}", "{a\"b}"}) {
    EXPECT_EQ(Decode(bad, kInt4Array), json::value(json::string_view(bad.data(), bad.size())))
        << bad;
  }
}

TEST_F(PgTextDecode, PgvectorVectorsBecomeNumberArrays) {
  types_.Add(kVector, TypeInfo{"vector", 0, 'U', ','});
  types_.Add(kVectorArray, TypeInfo{"_vector", kVector, 'A', ','});
  EXPECT_EQ(Decode("[1,2.5,-3]", kVector), json::parse("[1,2.5,-3]"));
  EXPECT_EQ(Decode("[1e-05,0.1]", kVector), json::value(json::array{1e-05, 0.1}));
  EXPECT_EQ(Decode("[]", kVector), json::parse("[]"));
  EXPECT_EQ(Decode("[1,x]", kVector), json::value("[1,x]"));
  EXPECT_EQ(Decode(R"({"[1,2]","[3,4]"})", kVectorArray), json::parse("[[1,2],[3,4]]"));
}

TEST_F(PgTextDecode, TypesLearnedAtRunTimeWithoutSpecialRulesAreText) {
  types_.Add(16500, TypeInfo{"mood", 0, 'E', ','});
  types_.Add(16499, TypeInfo{"_mood", 16500, 'A', ','});
  EXPECT_EQ(Decode("happy", 16500), json::value("happy"));
  EXPECT_EQ(Decode("{happy,sad}", 16499), json::parse(R"(["happy","sad"])"));
  // An array of a type nobody looked up yet still decodes, its elements as text.
  types_.Add(16600, TypeInfo{"_thing", 16601, 'A', ','});
  EXPECT_EQ(Decode("{a,NULL}", 16600), json::parse(R"(["a",null])"));
}

// --- registry --------------------------------------------------------------------------------

TEST(TypeRegistry, KnowsTheBuiltinTypesAndTheirArrays) {
  TypeRegistry types;
  const TypeInfo* int4 = types.Find(oid::kInt4);
  ASSERT_NE(int4, nullptr);
  EXPECT_EQ(int4->name, "int4");
  EXPECT_EQ(int4->category, 'N');
  const TypeInfo* int4_array = types.Find(kInt4Array);
  ASSERT_NE(int4_array, nullptr);
  EXPECT_EQ(int4_array->name, "_int4");
  EXPECT_EQ(int4_array->element, oid::kInt4);
  EXPECT_EQ(int4_array->category, 'A');
  EXPECT_EQ(types.Find(603)->delimiter, ';');  // box
  EXPECT_EQ(types.Find(987654), nullptr);
}

TEST(TypeRegistry, LookupParamIsAnOidArrayLiteral) {
  EXPECT_EQ(TypeRegistry::LookupParam({}), "{}");
  EXPECT_EQ(TypeRegistry::LookupParam({16385, 4294967295u}), "{16385,4294967295}");
}

// --- whole results ---------------------------------------------------------------------------

struct ResultDeleter {
  void operator()(PGresult* res) const { PQclear(res); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// A TUPLES_OK result with the given columns; values: nullptr is SQL NULL.
ResultPtr MakeResult(const std::vector<std::pair<std::string, Oid>>& columns,
                     const std::vector<std::vector<const char*>>& rows) {
  ResultPtr res(PQmakeEmptyPGresult(nullptr, PGRES_TUPLES_OK));
  std::vector<PGresAttDesc> attrs(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    attrs[i].name = const_cast<char*>(columns[i].first.c_str());
    attrs[i].typid = columns[i].second;
    attrs[i].typlen = -1;
    attrs[i].atttypmod = -1;
  }
  EXPECT_TRUE(PQsetResultAttrs(res.get(), static_cast<int>(attrs.size()), attrs.data()));
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const char* value = rows[r][c];
      EXPECT_TRUE(PQsetvalue(res.get(), static_cast<int>(r), static_cast<int>(c),
                             const_cast<char*>(value),
                             value == nullptr ? -1 : static_cast<int>(std::strlen(value))));
    }
  }
  return res;
}

TEST(ResultToJson, ObjectRowsAreKeyedByColumnNameAndFieldsDescribeTypes) {
  TypeRegistry types;
  auto res = MakeResult({{"id", oid::kInt4}, {"tags", kTextArray}, {"n", oid::kInt8}},
                        {{"1", "{a,b}", "10"}, {"2", nullptr, nullptr}});
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 1 << 20);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(json::value(*out), json::parse(R"({
    "rows": [{"id":1,"tags":["a","b"],"n":"10"}, {"id":2,"tags":null,"n":null}],
    "rowCount": 2, "command": null,
    "fields": [{"name":"id","dataType":"int4","dataTypeID":23},
               {"name":"tags","dataType":"_text","dataTypeID":1009},
               {"name":"n","dataType":"int8","dataTypeID":20}]})"));
}

TEST(ResultToJson, ArrayRowsKeepColumnOrder) {
  TypeRegistry types;
  auto res = MakeResult({{"a", oid::kText}, {"a", oid::kBool}}, {{"x", "t"}});
  auto out = ResultToJson(res.get(), RowMode::kArray, types, 1 << 20);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->at("rows"), json::parse(R"([["x",true]])"));
}

TEST(ResultToJson, WithDuplicateColumnNamesTheLaterColumnWins) {
  TypeRegistry types;
  auto res =
      MakeResult({{"a", oid::kInt4}, {"b", oid::kInt4}, {"a", oid::kText}}, {{"1", "2", "x"}});
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 1 << 20);
  ASSERT_TRUE(out);
  const json::object& row = out->at("rows").as_array().at(0).as_object();
  EXPECT_EQ(json::serialize(row), R"({"a":"x","b":2})");  // first position, last value
  EXPECT_EQ(out->at("fields").as_array().size(), 3u);
}

TEST(ResultToJson, UnknownTypesHaveNoNameAndDecodeAsText) {
  TypeRegistry types;
  auto res = MakeResult({{"v", 777777}}, {{"[1,2]"}});
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 1 << 20);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->at("rows"), json::parse(R"([{"v":"[1,2]"}])"));
  EXPECT_EQ(out->at("fields"),
            json::parse(R"([{"name":"v","dataType":null,"dataTypeID":777777}])"));
}

TEST(ResultToJson, RowsReadOneAtATimeGiveTheSameJsonAndTheSameEstimate) {
  TypeRegistry types;
  const std::vector<std::pair<std::string, Oid>> columns{{"id", oid::kInt4}, {"t", oid::kText}, {"b", oid::kBool}};
  const std::vector<std::vector<const char*>> values{{"1", "one", "t"}, {"2", nullptr, "f"}, {"3", "", nullptr}};
  auto whole = MakeResult(columns, values);
  // Single-row mode: one result per row, then a row-less final result with the fields.
  RowSet rows;
  for (const auto& row : values) {
    auto one = MakeResult(columns, {row});
    rows.Append(one.get());
  }
  auto final_result = MakeResult(columns, {});
  ASSERT_EQ(rows.size(), 3);
  EXPECT_TRUE(rows.IsNull(1, 1));
  EXPECT_FALSE(rows.IsNull(2, 1));
  EXPECT_EQ(rows.Value(2, 1), "");
  EXPECT_EQ(rows.Value(0, 1), "one");
  for (RowMode mode : {RowMode::kObject, RowMode::kArray}) {
    std::size_t whole_estimate = 0, streamed_estimate = 0;
    auto expected = ResultToJson(whole.get(), mode, types, 1 << 20, {}, &whole_estimate);
    auto streamed = ResultToJson(final_result.get(), rows, mode, types, 1 << 20, {}, &streamed_estimate);
    ASSERT_TRUE(expected);
    ASSERT_TRUE(streamed);
    EXPECT_EQ(json::serialize(*streamed), json::serialize(*expected));
    EXPECT_EQ(streamed_estimate, whole_estimate);
    // The pieces a reader adds up as rows arrive make the same estimate.
    const SizeEstimate shape = EstimateShape(final_result.get(), mode, types);
    std::size_t sum = shape.fixed;
    for (int r = 0; r < 3; ++r) sum += shape.per_row + RowValueBytes(whole.get(), r);
    EXPECT_EQ(sum, whole_estimate);
    // ... and the budget applies to rows read one at a time as it does to a whole result.
    auto too_big = ResultToJson(final_result.get(), rows, mode, types, whole_estimate - 1);
    ASSERT_FALSE(too_big);
    EXPECT_EQ(too_big.error().code, ErrorCode::kPayloadTooLarge);
  }
  // A final result that holds rows itself (not read row by row) is used as it is.
  RowSet empty;
  auto direct = ResultToJson(whole.get(), empty, RowMode::kArray, types, 1 << 20);
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->at("rows").as_array().size(), 3u);
}

TEST(ResultToJson, FailsWithPayloadTooLargeBeyondMaxBytes) {
  TypeRegistry types;
  std::string big(1000, 'x');
  std::vector<std::vector<const char*>> rows(100, {big.c_str()});
  auto res = MakeResult({{"t", oid::kText}}, rows);
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 50'000);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(out.error().message, "result exceeds MAX_RESULT_BYTES (50000 bytes)");

  auto fits = ResultToJson(res.get(), RowMode::kObject, types, 200'000);
  ASSERT_TRUE(fits);
  const std::size_t real_size = json::serialize(*fits).size();
  EXPECT_GT(real_size, 100'000u);
  // The estimate is close to the real size, and never below it for plain text.
  auto just_below = ResultToJson(res.get(), RowMode::kObject, types, real_size - 1);
  EXPECT_FALSE(just_below);
  auto generous = ResultToJson(res.get(), RowMode::kObject, types, real_size + real_size / 20);
  EXPECT_TRUE(generous);
}

TEST(ResultToJson, EmptyQueryHasNoRowsNoCountNoCommand) {
  TypeRegistry types;
  ResultPtr res(PQmakeEmptyPGresult(nullptr, PGRES_EMPTY_QUERY));
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 1 << 20);
  ASSERT_TRUE(out);
  EXPECT_EQ(json::value(*out),
            json::parse(R"({"rows":[],"rowCount":null,"command":null,"fields":[]})"));
}

TEST(ResultToJson, ErrorResultsAreACallerBug) {
  TypeRegistry types;
  ResultPtr res(PQmakeEmptyPGresult(nullptr, PGRES_FATAL_ERROR));
  auto out = ResultToJson(res.get(), RowMode::kObject, types, 1 << 20);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().code, ErrorCode::kInternal);
}

TEST(TypeRegistry, MissingListsUnknownColumnTypesAndUnknownArrayElementsOnce) {
  TypeRegistry types;
  types.Add(16600, TypeInfo{"_thing", 16601, 'A', ','});
  auto res = MakeResult(
      {{"a", oid::kInt4}, {"b", 777777}, {"c", 777777}, {"d", 16600}, {"e", kInt4Array}}, {});
  EXPECT_EQ(types.Missing(res.get()), (std::vector<Oid>{777777, 16601}));
  types.Add(777777, TypeInfo{"x", 0, 'U', ','});
  types.Add(16601, TypeInfo{"thing", 0, 'U', ','});
  EXPECT_TRUE(types.Missing(res.get()).empty());
}

}  // namespace
}  // namespace coredb::pg
