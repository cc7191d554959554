// GET /console and /console/{asset}: the embedded files (console/, compiled and embedded at build
// time), their Content-Type and the security headers every answer carries.
#include "coredb/http/handlers/console_handler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <string>

namespace coredb::http {
namespace {

Response Get(const Router& router, const std::string& path) {
  Request request{beast_http::verb::get, path, 11};
  auto match = router.Find(beast_http::verb::get, path);
  EXPECT_NE(match.route, nullptr) << path;
  Response out;
  if (match.route == nullptr) return out;
  RequestContext ctx{request, "t", {}, {}, {}, {}, {}};
  ctx.route = match.route->path_template;
  ctx.path_params = match.params;
  boost::asio::io_context ioc;
  boost::asio::co_spawn(ioc, match.route->handler(ctx), [&](std::exception_ptr e, Response r) {
    if (!e) out = std::move(r);
  });
  ioc.run();
  return out;
}

std::string Header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

TEST(Console, TheBuildEmbedsThePageItsScriptsAndItsStylesheet) {
  bool html = false, app = false, css = false;
  for (const auto& asset : ConsoleAssets()) {
    html |= asset.name == "index.html";
    app |= asset.name == "app.js";
    css |= asset.name == "console.css";
    EXPECT_FALSE(asset.bytes.empty()) << asset.name;
  }
  EXPECT_TRUE(html && app && css);
}

TEST(Console, ContentTypesFollowTheExtension) {
  EXPECT_EQ(ConsoleContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ConsoleContentType("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ConsoleContentType("console.css"), "text/css; charset=utf-8");
  EXPECT_EQ(ConsoleContentType("x.bin"), "application/octet-stream");
}

TEST(Console, ThePageComesWithAStrictContentSecurityPolicyAndNoInlineScript) {
  Router router;
  RegisterConsoleRoutes(router);
  const Response page = Get(router, "/console");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<script type=\"module\" src=\"/console/app.js\"></script>"), std::string::npos);
  EXPECT_EQ(page.body.find("<script>"), std::string::npos) << "no inline script";
  const std::string csp = Header(page, "Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(Header(page, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(page, "Cache-Control"), "no-cache");

  const Response script = Get(router, "/console/app.js");
  EXPECT_EQ(script.status, 200u);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_FALSE(Header(script, "Content-Security-Policy").empty());
}

TEST(Console, AnUnknownFileIs404) {
  Router router;
  RegisterConsoleRoutes(router);
  const Response missing = Get(router, "/console/nothing.js");
  EXPECT_EQ(missing.status, 404u);
  EXPECT_NE(missing.body.find("NOT_FOUND"), std::string::npos);
}

}  // namespace
}  // namespace coredb::http
