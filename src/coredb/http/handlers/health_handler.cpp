#include "coredb/http/handlers/health_handler.hpp"

#include "coredb/core/rfc3339.hpp"
#include "coredb/http/response.hpp"

namespace coredb::http {

void RegisterHealthRoutes(Router& router, const observability::HealthMonitor& health) {
  const auto* monitor = &health;
  router.Add(beast_http::verb::get, "/health", Access::kPublic,
             [monitor](RequestContext&) -> boost::asio::awaitable<Response> {
               bool db = monitor->IsUp("database");
               bool redis = monitor->IsUp("redis");
               bool vector = monitor->IsUp("vector");
               bool all = db && redis && vector;
               co_return JsonResponse(all ? 200 : 503,
                                      boost::json::object{{"status", all ? "ok" : "degraded"},
                                                          {"timestamp", NowRfc3339()},
                                                          {"services", boost::json::object{{"database", db},
                                                                                           {"redis", redis},
                                                                                           {"vector", vector}}}});
             });
  router.Add(beast_http::verb::get, "/health/ready", Access::kPublic,
             [monitor](RequestContext&) -> boost::asio::awaitable<Response> {
               bool ready = !monitor->draining() && monitor->IsUp("database") && monitor->IsUp("redis");
               co_return JsonResponse(ready ? 200 : 503,
                                      boost::json::object{{"ready", ready}, {"timestamp", NowRfc3339()}});
             });
  router.Add(beast_http::verb::get, "/health/live", Access::kPublic,
             [](RequestContext&) -> boost::asio::awaitable<Response> {
               co_return JsonResponse(200, boost::json::object{{"alive", true}, {"timestamp", NowRfc3339()}});
             });
}

}  // namespace coredb::http
