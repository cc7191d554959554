// Test support: API clients (issue 6). Creates a client through POST /api/v1/clients with the
// service's bootstrap admin token and returns its token, so black-box tests can act as
// clients with given scopes, pgRole, quotas or cachePrefixes. Migrates first (the clients
// table is migration 3). Requests as that client: svc.Request(method, target, body, {}, token).
#pragma once

#include "support/service_process.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace coredb::testing {

struct TestClientOptions {
  std::optional<std::string> pg_role;
  std::optional<std::int64_t> quota_per_minute;
  std::optional<std::int64_t> quota_per_day;
  std::vector<std::string> cache_prefixes;
};

struct TestClient {
  std::string id;
  std::string name;
  std::string token;  // the bearer token (shown once by the service)
};

// POST /api/v1/migrations/run once per service (idempotent); throws on failure.
void EnsureMigrated(ServiceProcess& svc);

// A unique name "<base>-<pid>-<n>" (clients names are unique among active clients).
std::string UniqueClientName(const std::string& base);

// Creates the client (throws std::runtime_error with the service's answer on failure).
TestClient CreateClient(ServiceProcess& svc, const std::string& name_base, const std::vector<std::string>& scopes,
                        const TestClientOptions& options = {});

// DELETE /api/v1/clients/{id} with the admin token; returns the HTTP result.
HttpResult RevokeClient(ServiceProcess& svc, const std::string& id);

}  // namespace coredb::testing
