#include "coredb/http/router.hpp"

#include <gtest/gtest.h>

namespace coredb::http {
namespace {

Handler Noop() {
  return [](RequestContext&) -> boost::asio::awaitable<Response> { co_return Response{}; };
}

TEST(Router, LiteralSegmentsBeatParameters) {
  Router r;
  r.Add(beast_http::verb::post, "/api/v1/vectors/{collection}/search", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::get, "/api/v1/vectors/collections", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::delete_, "/api/v1/vectors/{collection}/{id}", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::delete_, "/api/v1/vectors/collections/{name}", Access::kAuthenticated, Noop());
  auto m = r.Find(beast_http::verb::delete_, "/api/v1/vectors/collections/docs");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->path_template, "/api/v1/vectors/collections/{name}");
  EXPECT_EQ(m.params.at(0).second, "docs");
  auto s = r.Find(beast_http::verb::post, "/api/v1/vectors/docs/search");
  ASSERT_NE(s.route, nullptr);
  EXPECT_EQ(s.params.at(0), (std::pair<std::string, std::string>{"collection", "docs"}));
}

TEST(Router, UnknownPathIsNotKnownAndWrongMethodListsAllowed) {
  Router r;
  r.Add(beast_http::verb::get, "/api/v1/cache/{key}", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::put, "/api/v1/cache/{key}", Access::kAuthenticated, Noop());
  auto none = r.Find(beast_http::verb::get, "/api/v1/nope");
  EXPECT_EQ(none.route, nullptr);
  EXPECT_FALSE(none.path_known);
  auto wrong = r.Find(beast_http::verb::post, "/api/v1/cache/k");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_TRUE(wrong.path_known);
  EXPECT_EQ(wrong.allow, "GET, PUT");
}

TEST(Router, LiteralTemplatesFoundDirectlyOrThroughTheScan) {
  Router r;
  r.Add(beast_http::verb::post, "/api/v1/query", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::post, "/api/v1/query/batch", Access::kAuthenticated, Noop());
  r.Add(beast_http::verb::get, "/api/v1/{thing}", Access::kAuthenticated, Noop());
  auto exact = r.Find(beast_http::verb::post, "/api/v1/query");
  ASSERT_NE(exact.route, nullptr);
  EXPECT_EQ(exact.route->path_template, "/api/v1/query");
  EXPECT_TRUE(exact.params.empty());
  // Spelled differently (extra slashes): the same route, found by the scan.
  auto slashes = r.Find(beast_http::verb::post, "//api/v1//query/");
  ASSERT_NE(slashes.route, nullptr);
  EXPECT_EQ(slashes.route->path_template, "/api/v1/query");
  // The literal template is the path's only fit: other methods get 405 with its methods, even
  // though "/api/v1/{thing}" would take a GET of the same shape.
  auto wrong = r.Find(beast_http::verb::get, "/api/v1/query");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_TRUE(wrong.path_known);
  EXPECT_EQ(wrong.allow, "POST");
  auto param = r.Find(beast_http::verb::get, "/api/v1/other");
  ASSERT_NE(param.route, nullptr);
  EXPECT_EQ(param.params.at(0).second, "other");
}

TEST(Router, ParametersArePercentDecoded) {
  Router r;
  r.Add(beast_http::verb::get, "/api/v1/cache/{key}", Access::kAuthenticated, Noop());
  auto m = r.Find(beast_http::verb::get, "/api/v1/cache/user%3Aemail%3Aa%40b.c%2Fx");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at(0).second, "user:email:a@b.c/x");
  auto bad = r.Find(beast_http::verb::get, "/api/v1/cache/%zz");
  EXPECT_TRUE(bad.bad_encoding);
}

TEST(PercentDecode, RejectsTruncatedEscapes) {
  EXPECT_FALSE(PercentDecode("%4").has_value());
  EXPECT_FALSE(PercentDecode("%").has_value());
  EXPECT_EQ(PercentDecode("a+b", true).value(), "a b");
  EXPECT_EQ(PercentDecode("a+b").value(), "a+b");
}

}  // namespace
}  // namespace coredb::http
