// API.md "Authentication and scopes": POST /api/v1/clients, GET /api/v1/clients,
// DELETE /api/v1/clients/{id} (admin).
#pragma once

#include "coredb/clients/client_registry.hpp"
#include "coredb/http/router.hpp"

namespace coredb::http {

void RegisterClientRoutes(Router& router, clients::ClientRegistry& registry);

// A client as the API shows it (never its token or token hash).
boost::json::object ClientJson(const clients::ClientRecord& client);

}  // namespace coredb::http
