// The platform data API's input rules: email and library id formats, text bounds, the search
// query string and strict bodies (unknown members, types, ranges).
#include "coredb/http/handlers/platform_handler.hpp"
#include "coredb/platform/platform_service.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

namespace coredb::platform {
namespace {

TEST(PlatformValidation, AcceptsOrdinaryEmailsAndRefusesMalformedOnes) {
  for (const char* ok : {"a@b.co", "first.last+tag@sub.example.co.uk", "o'brien@example.org", "x@xn--bcher-kva.ch",
                         "user@d\xc3\xa9j\xc3\xa0.example"}) {
    EXPECT_TRUE(CheckEmail(ok)) << ok;
  }
  for (const char* bad : {"",         "a",       "a@b",     "@example.com", "a@",        "a@@b.co", "a@b@c.co",
                          "a b@c.co", "a@b .co", ".a@b.co", "a.@b.co",      "a..b@c.co", "a@-b.co", "a@b-.co",
                          "a@b..co",  "a@.b.co", "a@b.co.", "\"q\"@b.co",   "a\n@b.co",  "a@b_c.co"}) {
    auto r = CheckEmail(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(r.error().message.find("'email' is not a valid email address"), std::string::npos);
  }
  EXPECT_FALSE(CheckEmail(std::string(65, 'a') + "@b.co"));
  EXPECT_TRUE(CheckEmail(std::string(64, 'a') + "@b.co"));
  EXPECT_FALSE(CheckEmail("a@" + std::string(250, 'b') + ".co"));
}

TEST(PlatformValidation, LibraryIdsAreSlashVendorSlashName) {
  for (const char* ok : {"/mongodb/docs", "/vercel/next.js", "/supabase/supabase", "/a_b/c-d.e", "/A/B"}) {
    EXPECT_TRUE(CheckLibraryId(ok)) << ok;
  }
  for (const char* bad : {"", "/", "//", "/a", "/a/", "//b", "a/b", "/a/b/", "/a/b/c", "/./b", "/a/..", "/a b/c",
                          "/a/b?c", "/a/b%20", "/\xc3\xa9/b"}) {
    auto r = CheckLibraryId(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("/vendor/name"), std::string::npos);
  }
  EXPECT_FALSE(CheckLibraryId("/a/" + std::string(254, 'b')));
}

TEST(PlatformValidation, TextIsNonBlankBoundedUtf8WithoutControls) {
  EXPECT_TRUE(CheckText("x", "name", 1));
  EXPECT_FALSE(CheckText("xy", "name", 1));
  EXPECT_FALSE(CheckText("", "name", 10));
  EXPECT_FALSE(CheckText("  ", "name", 10));
  EXPECT_FALSE(CheckText("a\tb", "name", 10));
  EXPECT_TRUE(CheckText("a\tb\r\nc", "query", 10, /*multiline=*/true));
  EXPECT_FALSE(CheckText("a\x01", "query", 10, true));
  EXPECT_FALSE(CheckText("\xff", "name", 10));
  EXPECT_TRUE(CheckText("\xc3\xa9t\xc3\xa9", "name", 10));
}

TEST(PlatformValidation, UrlsAreAbsoluteHttp) {
  EXPECT_TRUE(CheckUrl("https://nextjs.org/docs", "docsUrl"));
  EXPECT_TRUE(CheckUrl("http://localhost:3000", "docsUrl"));
  for (const char* bad : {"ftp://x", "https://", "https:///path", "nextjs.org", "https://a b"}) {
    EXPECT_FALSE(CheckUrl(bad, "docsUrl")) << bad;
  }
}

TEST(PlatformSearchQuery, DefaultsAndBounds) {
  auto plain = http::ParseLibrarySearch("q=next.js");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->query, "next.js");
  EXPECT_EQ(plain->limit, 10);
  auto spaced = http::ParseLibrarySearch("limit=100&q=react+hooks%21");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->query, "react hooks!");
  EXPECT_EQ(spaced->limit, 100);
  EXPECT_EQ(http::ParseLibrarySearch("q=x&limit=1")->limit, 1);
  for (const char* bad : {"", "limit=5", "q=x&limit=0", "q=x&limit=101", "q=x&limit=+5", "q=x&limit=5.0",
                          "q=x&limit=", "q=x&q=y", "q=x&limit=1&limit=2", "q=x&other=1", "q=%4"}) {
    auto r = http::ParseLibrarySearch(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(PlatformBodies, UnknownMembersWrongTypesAndRangesAreRefused) {
  namespace json = boost::json;
  auto user = http::ParseNewUser(json::parse(R"({"email":"a@b.co","hashedPassword":null})").as_object());
  ASSERT_TRUE(user);
  EXPECT_FALSE(user->hashed_password);
  EXPECT_FALSE(http::ParseNewUser(json::parse(R"({"email":"a@b.co","password":"x"})").as_object()));
  EXPECT_FALSE(http::ParseNewUser(json::parse(R"({"email":["a@b.co"]})").as_object()));

  auto key = http::ParseNewApiKey(
      json::parse(R"({"userId":"u","keyHash":"h","keyPrefix":"p","name":"n","quotaRequestsPerDay":5})").as_object());
  ASSERT_TRUE(key);
  EXPECT_EQ(key->quota_requests_per_day, 5);
  EXPECT_FALSE(key->quota_requests_per_minute);
  EXPECT_FALSE(http::ParseNewApiKey(
      json::parse(R"({"userId":"u","keyHash":"h","keyPrefix":"p","name":"n","quotaRequestsPerMinute":0})")
          .as_object()));

  auto library =
      http::ParseNewLibrary(json::parse(R"({"id":"/a/b","name":"n","metadata":[1,{"x":null}]})").as_object());
  ASSERT_TRUE(library);
  ASSERT_TRUE(library->metadata);
  EXPECT_EQ(*library->metadata, json::parse(R"([1,{"x":null}])"));
  EXPECT_FALSE(
      http::ParseNewLibrary(json::parse(R"({"id":"/a/b","name":"n","popularityScore":2147483648})").as_object()));

  auto log = http::ParseNewUsageLog(json::parse(R"({"toolName":"t","libraryId":"/a/b","query":"l1\nl2"})").as_object());
  ASSERT_TRUE(log);
  EXPECT_FALSE(http::ParseNewUsageLog(json::parse(R"({"toolName":"t","libraryId":"ab"})").as_object()));
  EXPECT_FALSE(http::ParseNewUsageLog(json::parse(R"({"toolName":"t","tokensReturned":-1})").as_object()));
}

}  // namespace
}  // namespace coredb::platform
