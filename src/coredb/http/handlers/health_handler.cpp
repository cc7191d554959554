#include "coredb/http/handlers/health_handler.hpp"

#include "coredb/http/response.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace coredb::http {

std::string NowRfc3339() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

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
