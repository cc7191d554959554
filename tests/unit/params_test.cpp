// JSON params → PostgreSQL text parameters (adapters/postgres/params.hpp).
#include "coredb/adapters/postgres/params.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace coredb::pg {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;

// Encodes one parameter given as JSON text; "<NULL>" stands for SQL NULL.
std::string EncodeOne(const json::value& param) {
  json::array params;
  params.push_back(param);
  auto encoded = EncodeParams(params);
  if (!encoded) return "<ERROR " + encoded.error().message + ">";
  EXPECT_EQ(encoded->size(), 1u);
  return encoded->front() ? *encoded->front() : "<NULL>";
}

std::string EncodeJson(std::string_view param_json) { return EncodeOne(json::parse(param_json)); }

Error EncodeError(const json::array& params) {
  auto encoded = EncodeParams(params);
  EXPECT_FALSE(encoded.has_value());
  return encoded ? Error() : encoded.error();
}

TEST(EncodeParams, EmptyListEncodesToNoParameters) {
  auto encoded = EncodeParams(json::array());
  ASSERT_TRUE(encoded);
  EXPECT_TRUE(encoded->empty());
}

TEST(EncodeParams, ScalarsBecomeTheirTextForms) {
  EXPECT_EQ(EncodeJson("null"), "<NULL>");
  EXPECT_EQ(EncodeJson("true"), "true");
  EXPECT_EQ(EncodeJson("false"), "false");
  EXPECT_EQ(EncodeJson("0"), "0");
  EXPECT_EQ(EncodeJson("-42"), "-42");
  EXPECT_EQ(EncodeJson("\"hello\""), "hello");
  EXPECT_EQ(EncodeJson("\"\""), "");
  EXPECT_EQ(EncodeJson("\"NULL\""), "NULL");
  EXPECT_EQ(EncodeJson("\"h\\u00e9 \\\" \\\\ {x}\""), "h\xc3\xa9 \" \\ {x}");
}

TEST(EncodeParams, IntegersKeepEveryDigit) {
  EXPECT_EQ(EncodeJson("9007199254740993"), "9007199254740993");
  EXPECT_EQ(EncodeJson("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(EncodeJson("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(EncodeJson("18446744073709551615"), "18446744073709551615");  // uint64
}

TEST(EncodeParams, DoublesUseTheShortestTextThatRoundTrips) {
  EXPECT_EQ(EncodeOne(0.1), "0.1");
  EXPECT_EQ(EncodeOne(1.5), "1.5");
  EXPECT_EQ(EncodeOne(-2.25), "-2.25");
  EXPECT_EQ(EncodeOne(1e300), "1e+300");
  EXPECT_EQ(EncodeOne(-1e-300), "-1e-300");
  EXPECT_EQ(EncodeOne(-0.0), "-0");
  EXPECT_EQ(EncodeOne(0.0), "0");
  EXPECT_EQ(EncodeOne(5e-324), "5e-324");
  EXPECT_EQ(EncodeOne(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(EncodeOne(0.30000000000000004), "0.30000000000000004");
  EXPECT_EQ(EncodeOne(123456.789), "123456.789");
}

TEST(EncodeParams, IntegralDoublesBelow1e21PrintWithoutExponentLikeJavaScript) {
  // So `1e15` or `3.0` in a request still fits an int8/int4 parameter.
  EXPECT_EQ(EncodeJson("3.0"), "3");
  EXPECT_EQ(EncodeJson("1e15"), "1000000000000000");
  EXPECT_EQ(EncodeOne(1e20), "100000000000000000000");
  EXPECT_EQ(EncodeOne(1e21), "1e+21");
  EXPECT_EQ(EncodeOne(1e-7), "0.0000001");
  EXPECT_EQ(EncodeOne(1.5e-8), "1.5e-08");
}

TEST(EncodeParams, NonFiniteDoublesUseFloat8Spellings) {
  EXPECT_EQ(EncodeOne(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(EncodeOne(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(EncodeOne(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(EncodeParams, ObjectsBecomeJsonText) {
  EXPECT_EQ(EncodeJson(R"({"a":[1,"x",null],"b":{"c":true}})"),
            R"({"a":[1,"x",null],"b":{"c":true}})");
  EXPECT_EQ(EncodeJson("{}"), "{}");
  // A NUL inside JSON is escaped by the serializer, so it is not a NUL byte.
  EXPECT_EQ(EncodeJson(R"({"s":"a\u0000b"})"), R"({"s":"a\u0000b"})");
}

TEST(EncodeParams, ArraysBecomeArrayLiterals) {
  EXPECT_EQ(EncodeJson("[]"), "{}");
  EXPECT_EQ(EncodeJson("[1,2,3]"), "{1,2,3}");
  EXPECT_EQ(EncodeJson("[1,null,-3]"), "{1,NULL,-3}");
  EXPECT_EQ(EncodeJson("[true,false,null]"), "{true,false,NULL}");
  EXPECT_EQ(EncodeJson("[1.5,1e300,9007199254740993]"), "{1.5,1e+300,9007199254740993}");
  EXPECT_EQ(EncodeJson("[null]"), "{NULL}");
}

TEST(EncodeParams, EveryStringElementIsQuotedAndEscaped) {
  EXPECT_EQ(EncodeJson(R"(["a","b c",""])"), R"({"a","b c",""})");
  EXPECT_EQ(EncodeJson(R"(["NULL","null",null])"), R"({"NULL","null",NULL})");
  EXPECT_EQ(EncodeJson(R"(["say \"hi\"","back\\slash"])"), R"({"say \"hi\"","back\\slash"})");
  EXPECT_EQ(EncodeJson(R"(["{a,b}","x,y",";","  lead","trail  "])"),
            R"({"{a,b}","x,y",";","  lead","trail  "})");
  EXPECT_EQ(EncodeJson(R"(["tab\there","new\nline"])"), "{\"tab\there\",\"new\nline\"}");
  EXPECT_EQ(EncodeJson(R"(["\\\""])"), R"({"\\\""})");
}

TEST(EncodeParams, ObjectsInsideArraysBecomeQuotedJsonText) {
  EXPECT_EQ(EncodeJson(R"([{"a":1},{"b":"x\"y"}])"), R"({"{\"a\":1}","{\"b\":\"x\\\"y\"}"})");
}

TEST(EncodeParams, NestedArraysBecomeMultidimensionalLiterals) {
  EXPECT_EQ(EncodeJson("[[1,2],[3,4]]"), "{{1,2},{3,4}}");
  EXPECT_EQ(EncodeJson("[[[1],[2]],[[3],[4]]]"), "{{{1},{2}},{{3},{4}}}");
  EXPECT_EQ(EncodeJson(R"([["a",null],["",  "NULL"]])"), R"({{"a",NULL},{"","NULL"}})");
  EXPECT_EQ(EncodeJson("[[[[[[1]]]]]]"), "{{{{{{1}}}}}}");  // PostgreSQL's maximum: 6
}

TEST(EncodeParams, RaggedNestedArraysAreRejectedNamingTheSubArray) {
  json::array params{1, 2, 3, json::parse("[[1,2],[3]]")};
  Error error = EncodeError(params);
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("params[3][1]: "));
  EXPECT_THAT(error.message, HasSubstr("ragged"));

  error = EncodeError(json::array{json::parse("[[[1,2],[3,4]],[[5,6],[7]]]")});
  EXPECT_THAT(error.message, HasSubstr("params[0][1][1]: "));
}

TEST(EncodeParams, ArraysMixingScalarsAndArraysAreRejected) {
  Error error = EncodeError(json::array{json::parse("[1,[2]]")});
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("params[0][1]: "));
  error = EncodeError(json::array{json::parse("[[1],2]")});
  EXPECT_THAT(error.message, HasSubstr("params[0][1]: "));
}

TEST(EncodeParams, EmptySubArraysAreRejected) {
  Error error = EncodeError(json::array{json::parse("[[],[]]")});
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("params[0][0]: "));
  EXPECT_THAT(error.message, HasSubstr("empty"));
}

TEST(EncodeParams, MoreThanSixDimensionsAreRejected) {
  Error error = EncodeError(json::array{json::parse("[[[[[[[1]]]]]]]")});
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("params[0]: "));
  EXPECT_THAT(error.message, HasSubstr("at most 6"));
}

TEST(EncodeParams, StringsWithNulAreRejectedNamingTheParameter) {
  json::array params{"ok", nullptr, json::string(std::string_view("a\0b", 3))};
  Error error = EncodeError(params);
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("params[2]: "));
  EXPECT_THAT(error.message, HasSubstr("NUL"));

  json::array nested;
  nested.push_back(json::array{json::string("x"), json::string(std::string_view("\0", 1))});
  error = EncodeError(nested);
  EXPECT_THAT(error.message, HasSubstr("params[0][1]: "));
}

TEST(EncodeParams, AcceptsExactlyTheProtocolLimitOfParameters) {
  json::array params(kMaxParams, json::value(nullptr));
  auto encoded = EncodeParams(params);
  ASSERT_TRUE(encoded);
  EXPECT_EQ(encoded->size(), kMaxParams);

  params.push_back(1);
  Error error = EncodeError(params);
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_THAT(error.message, HasSubstr("65535"));
}

TEST(EncodeParams, KeepsParameterOrder) {
  auto encoded = EncodeParams(json::parse(R"([1,"two",null,[3],{"four":4}])").as_array());
  ASSERT_TRUE(encoded);
  ASSERT_EQ(encoded->size(), 5u);
  EXPECT_EQ((*encoded)[0], "1");
  EXPECT_EQ((*encoded)[1], "two");
  EXPECT_EQ((*encoded)[2], std::nullopt);
  EXPECT_EQ((*encoded)[3], "{3}");
  EXPECT_EQ((*encoded)[4], R"({"four":4})");
}

}  // namespace
}  // namespace coredb::pg
