// GET /api/v1/migrations/status, POST /api/v1/migrations/run {target?},
// POST /api/v1/migrations/rollback {steps?: 1} (API.md "Migrations (admin)"). Admin scope only.
// An empty body counts as {}.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/migrations/migrator.hpp"

#include <boost/json/object.hpp>

#include <optional>

namespace coredb::http {

inline constexpr int kMaxRollbackSteps = 1000;

struct MigrateRequest {
  std::optional<int> target;
};
struct RollbackRequest {
  int steps = 1;
};

Result<MigrateRequest> ParseMigrateRequest(const boost::json::object& body);
Result<RollbackRequest> ParseRollbackRequest(const boost::json::object& body);

void RegisterMigrationRoutes(Router& router, migrations::Migrator& migrator);

}  // namespace coredb::http
