// The platform data endpoints (API.md "Platform data"): users, api keys, libraries and usage logs
// over platform::PlatformService. Bodies and answers use the Prisma field names, unwrapped;
// creation answers 201, a usage log 202. Reads need the `read` scope, writes `write`.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/platform/platform_service.hpp"

#include <boost/json/object.hpp>

#include <string_view>

namespace coredb::http {

// Body parsers (strict: unknown members, wrong types and out-of-range values are 400 naming the
// member; format checks are the service's). The results copy what they need from `body`.
Result<platform::NewUser> ParseNewUser(const boost::json::object& body);
Result<platform::NewApiKey> ParseNewApiKey(const boost::json::object& body);
Result<platform::NewLibrary> ParseNewLibrary(const boost::json::object& body);
Result<platform::NewUsageLog> ParseNewUsageLog(const boost::json::object& body);
// The query string of GET /api/v1/libraries/search: q (required) and limit (1..100, default 10);
// nothing else, each once.
Result<platform::LibrarySearch> ParseLibrarySearch(std::string_view query_string);

void RegisterPlatformRoutes(Router& router, platform::PlatformService& platform);

}  // namespace coredb::http
