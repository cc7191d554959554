#include "support/clients.hpp"

#include <unistd.h>

#include <atomic>
#include <stdexcept>

namespace coredb::testing {

namespace json = boost::json;

void EnsureMigrated(ServiceProcess& svc) {
  auto r = svc.Post("/api/v1/migrations/run", json::object{});
  if (r.status != 200) throw std::runtime_error("migrations/run failed: " + std::to_string(r.status) + " " + r.body);
}

std::string UniqueClientName(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

TestClient CreateClient(ServiceProcess& svc, const std::string& name_base, const std::vector<std::string>& scopes,
                        const TestClientOptions& options) {
  EnsureMigrated(svc);
  json::object body;
  const std::string name = UniqueClientName(name_base);
  body["name"] = name;
  json::array scope_array;
  for (const auto& s : scopes) scope_array.emplace_back(json::string_view(s));
  body["scopes"] = std::move(scope_array);
  if (options.pg_role) body["pgRole"] = *options.pg_role;
  if (options.quota_per_minute) body["quotaPerMinute"] = *options.quota_per_minute;
  if (options.quota_per_day) body["quotaPerDay"] = *options.quota_per_day;
  if (!options.cache_prefixes.empty()) {
    json::array prefixes;
    for (const auto& p : options.cache_prefixes) prefixes.emplace_back(json::string_view(p));
    body["cachePrefixes"] = std::move(prefixes);
  }
  auto r = svc.Post("/api/v1/clients", body);
  if (r.status != 201 || !r.json.is_object() || !r.json.as_object().contains("token")) {
    throw std::runtime_error("creating client " + name + " failed: " + std::to_string(r.status) + " " + r.body);
  }
  const auto& o = r.json.as_object();
  return TestClient{std::string(o.at("id").as_string()), name, std::string(o.at("token").as_string())};
}

HttpResult RevokeClient(ServiceProcess& svc, const std::string& id) {
  return svc.Request("DELETE", "/api/v1/clients/" + id);
}

}  // namespace coredb::testing
