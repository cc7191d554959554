// GET /openapi.json: the OpenAPI 3.1 document of every route (docs/openapi.yaml, converted to JSON
// and embedded at build time by cmake/embed_openapi.py); no token needed, like /health.
// tests/unit/openapi_test.cpp checks it against the route table, tests/openapi/ the service's
// real answers against its schemas.
#pragma once

#include "coredb/http/router.hpp"

#include <string_view>

namespace coredb::http {

// The embedded document (compact JSON, info.version = the build's version).
std::string_view OpenApiDocument();

void RegisterOpenApiRoutes(Router& router);

}  // namespace coredb::http
