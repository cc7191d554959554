// Which scope a Redis command sent through POST /api/v1/query needs (API.md: a `read` client
// may run Redis commands that do not write; `admin` adds Redis admin commands). An allow-list:
// commands known not to write need `read`; server administration needs `admin`; everything
// else (unknown commands, EVAL, FUNCTION calls, modules) needs `write`.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <string>
#include <vector>

namespace coredb::clients {

Scope RedisCommandScope(const std::vector<std::string>& command);
// 403 FORBIDDEN ("redis command SET needs the 'write' scope") or success.
Result<void> CheckRedisCommandScope(const Principal& principal, const std::vector<std::string>& command);

}  // namespace coredb::clients
