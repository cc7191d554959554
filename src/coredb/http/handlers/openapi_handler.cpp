#include "coredb/http/handlers/openapi_handler.hpp"

#include "coredb/http/response.hpp"

namespace coredb::http {

void RegisterOpenApiRoutes(Router& router) {
  router.Add(beast_http::verb::get, "/openapi.json", Access::kPublic,
             [](RequestContext&) -> boost::asio::awaitable<Response> {
               Response r;
               r.status = 200;
               r.body = std::string(OpenApiDocument());
               // It changes with the binary only: caches may keep it, but must ask again.
               r.headers.emplace_back("Cache-Control", "no-cache");
               co_return r;
             });
}

}  // namespace coredb::http
