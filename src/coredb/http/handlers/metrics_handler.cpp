#include "coredb/http/handlers/metrics_handler.hpp"

#include "coredb/http/response.hpp"

#include <openssl/crypto.h>

#include <memory>

namespace coredb::http {

namespace {

bool SameToken(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

void RegisterMetricsRoutes(Router& router, MetricsRouteOptions options) {
  auto shared = std::make_shared<MetricsRouteOptions>(std::move(options));
  router.Add(beast_http::verb::get, "/metrics", Access::kPublic,
             [shared](RequestContext& ctx) -> boost::asio::awaitable<Response> {
               if (!shared->metrics_token.empty()) {
                 const std::string_view header = ctx.request[beast_http::field::authorization];
                 constexpr std::string_view kBearer = "Bearer ";
                 const bool scrape_token = header.size() > kBearer.size() && header.substr(0, kBearer.size()) == kBearer &&
                                           SameToken(header.substr(kBearer.size()), shared->metrics_token);
                 if (!scrape_token) {
                   auto principal = co_await shared->authenticator.Authenticate(header);
                   if (!principal) co_return ErrorResponse(principal.error());
                   if (!principal->Has(Scope::kAdmin)) {
                     co_return ErrorResponse(
                         MakeError(ErrorCode::kForbidden, "/metrics needs METRICS_TOKEN or a token with the admin scope"));
                   }
                   ctx.principal = std::move(*principal);
                 }
               }
               Response r;
               r.status = 200;
               r.content_type = "text/plain; version=0.0.4; charset=utf-8";
               r.body = shared->metrics.Render(shared->snapshot());
               co_return r;
             });
}

}  // namespace coredb::http
