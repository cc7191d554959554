#include "coredb/http/handlers/console_handler.hpp"

#include "coredb/http/response.hpp"

#include <string>

namespace coredb::http {

namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const ConsoleAsset* FindAsset(std::string_view name) {
  for (const auto& asset : ConsoleAssets()) {
    if (asset.name == name) return &asset;
  }
  return nullptr;
}

Response Serve(std::string_view name) {
  const ConsoleAsset* asset = FindAsset(name);
  if (asset == nullptr) {
    return ErrorResponse(Error(ErrorCode::kNotFound, "the console has no file '" + std::string(name) + "'"));
  }
  Response r;
  r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  // The files change with the binary only, and are small: no validators, the browser asks again.
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.status = 200;
  r.content_type = std::string(ConsoleContentType(asset->name));
  r.body = std::string(asset->bytes);
  return r;
}

}  // namespace

std::string_view ConsoleContentType(std::string_view name) {
  if (EndsWith(name, ".html")) return "text/html; charset=utf-8";
  if (EndsWith(name, ".js")) return "text/javascript; charset=utf-8";
  if (EndsWith(name, ".css")) return "text/css; charset=utf-8";
  if (EndsWith(name, ".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

void RegisterConsoleRoutes(Router& router) {
  router.Add(beast_http::verb::get, "/console", Access::kPublic,
             [](RequestContext&) -> boost::asio::awaitable<Response> { co_return Serve("index.html"); });
  router.Add(beast_http::verb::get, "/console/{asset}", Access::kPublic,
             [](RequestContext& ctx) -> boost::asio::awaitable<Response> { co_return Serve(ctx.PathParam("asset")); });
}

}  // namespace coredb::http
