// ReplyToJson: the JSON form of Redis replies in POST /api/v1/query (API.md "Queries", Redis).
#include "coredb/adapters/redis/redis_reply.hpp"

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <climits>
#include <string>

namespace coredb::redis {
namespace {

using namespace std::string_literals;

TEST(RedisReplyToJson, BulkStringBecomesString) {
  EXPECT_EQ(ReplyToJson(Reply::String("hello")), boost::json::value("hello"));
}

TEST(RedisReplyToJson, EmptyBulkStringIsEmptyStringNotNull) {
  EXPECT_EQ(ReplyToJson(Reply::String("")), boost::json::value(""));
}

TEST(RedisReplyToJson, StatusBecomesString) {
  EXPECT_EQ(ReplyToJson(Reply::Status("OK")), boost::json::value("OK"));
}

TEST(RedisReplyToJson, IntegerBecomesNumber) {
  EXPECT_EQ(ReplyToJson(Reply::Integer(42)), boost::json::value(42));
  EXPECT_EQ(ReplyToJson(Reply::Integer(-7)), boost::json::value(-7));
  const boost::json::value max = ReplyToJson(Reply::Integer(LLONG_MAX));
  ASSERT_TRUE(max.is_int64());
  EXPECT_EQ(max.as_int64(), LLONG_MAX);
}

TEST(RedisReplyToJson, NilBecomesNull) { EXPECT_TRUE(ReplyToJson(Reply::Nil()).is_null()); }

TEST(RedisReplyToJson, ArrayBecomesArrayOfConvertedElements) {
  const Reply reply = Reply::Array({Reply::String("a"), Reply::Integer(1), Reply::Nil(), Reply::Status("OK")});
  EXPECT_EQ(boost::json::serialize(ReplyToJson(reply)), R"(["a",1,null,"OK"])");
}

TEST(RedisReplyToJson, EmptyArrayBecomesEmptyArray) {
  EXPECT_EQ(boost::json::serialize(ReplyToJson(Reply::Array({}))), "[]");
}

TEST(RedisReplyToJson, NestedArraysConvertRecursively) {
  // The shape of SCAN's reply and of EXEC's reply around a nested command.
  const Reply reply = Reply::Array({
      Reply::String("17"),
      Reply::Array({Reply::String("k1"), Reply::Array({Reply::Integer(2), Reply::Array({})}), Reply::Nil()}),
  });
  EXPECT_EQ(boost::json::serialize(ReplyToJson(reply)), R"(["17",["k1",[2,[]],null]])");
}

TEST(RedisReplyToJson, NestedErrorReplyBecomesErrorObject) {
  const Reply reply = Reply::Array({Reply::Status("OK"), Reply::ErrorReply("WRONGTYPE Operation against a key")});
  EXPECT_EQ(boost::json::serialize(ReplyToJson(reply)), R"(["OK",{"error":"WRONGTYPE Operation against a key"}])");
}

TEST(RedisReplyToJson, NulAndControlBytesSurviveEscaped) {
  const boost::json::value json = ReplyToJson(Reply::String("a\0b\x01"s));
  ASSERT_TRUE(json.is_string());
  EXPECT_EQ(std::string(json.as_string()), "a\0b\x01"s);
  EXPECT_EQ(boost::json::serialize(json), R"("a\u0000b\u0001")");
}

TEST(RedisReplyToJson, Utf8PassesThroughUnchanged) {
  const std::string text = "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80";  // héllo ✓ 日本 😀
  EXPECT_EQ(std::string(ReplyToJson(Reply::String(text)).as_string()), text);
}

TEST(RedisReplyToJson, InvalidUtf8BecomesReplacementCharacter) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(std::string(ReplyToJson(Reply::String("a\xFF" "b")).as_string()), "a" + fffd + "b");
  EXPECT_EQ(std::string(ReplyToJson(Reply::Status("\x80")).as_string()), fffd);
}

TEST(RedisSanitizeUtf8, ReplacesEachMaximalInvalidSubpartOnce) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8(""), "");
  EXPECT_EQ(SanitizeUtf8("\xE6\x97"), fffd);                    // truncated 3-byte sequence
  EXPECT_EQ(SanitizeUtf8("\xE6\x97x"), fffd + "x");             // cut short by an ASCII byte
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), fffd + fffd);             // overlong: C0 never valid
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), fffd + fffd + fffd);  // UTF-16 surrogate
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(SanitizeUtf8("ok\xF0\x9F\x98\x80"), "ok\xF0\x9F\x98\x80");
}

TEST(RedisReplyTypeName, NamesEveryType) {
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kString), "string");
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kStatus), "status");
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kInteger), "integer");
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kNil), "nil");
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kArray), "array");
  EXPECT_STREQ(ReplyTypeName(Reply::Type::kError), "error");
}

}  // namespace
}  // namespace coredb::redis
