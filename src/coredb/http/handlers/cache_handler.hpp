// GET/PUT/DELETE /api/v1/cache/{key} and POST /api/v1/cache/invalidate (API.md "Cache").
#pragma once

#include "coredb/cache/cache_manager.hpp"
#include "coredb/http/router.hpp"

namespace coredb::http {

inline constexpr std::int64_t kDefaultCacheTtlSeconds = 3600;

void RegisterCacheRoutes(Router& router, cache::CacheManager& cache);

}  // namespace coredb::http
