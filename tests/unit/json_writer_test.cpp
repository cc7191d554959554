#include "coredb/core/json_writer.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <limits>

namespace coredb {
namespace {

TEST(JsonWriter, NumbersInTheirShortestPlainForm) {
  EXPECT_EQ(ToJson(0.1), "0.1");
  EXPECT_EQ(ToJson(8.255), "8.255");
  EXPECT_EQ(ToJson(1.0), "1");
  EXPECT_EQ(ToJson(1e300), "1e+300");
  EXPECT_EQ(ToJson(-0.0), "-0");
  EXPECT_EQ(ToJson(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(ToJson(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(ToJson(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonWriter, StringsAreEscapedAndRoundTrip) {
  std::string nasty = "q\"b\\s/\n\r\t\b\f\x01\x1f é 😀";
  std::string text = ToJson(boost::json::value(nasty));
  EXPECT_EQ(text, "\"q\\\"b\\\\s/\\n\\r\\t\\b\\f\\u0001\\u001f é 😀\"");
  EXPECT_EQ(boost::json::parse(text).as_string(), nasty);
}

TEST(JsonWriter, NestedStructuresRoundTrip) {
  auto v = boost::json::parse(R"({"a":[1,2.5,{"b":null,"c":[true,false]}],"":"x"})");
  EXPECT_EQ(boost::json::parse(ToJson(v)), v);
  EXPECT_EQ(ToJson(v), R"({"a":[1,2.5,{"b":null,"c":[true,false]}],"":"x"})");
}

}  // namespace
}  // namespace coredb
