// API.md "Connections" and "Transactions": leases (acquire, release, stats, list), pool settings,
// and interactive transactions (begin, commit, rollback). The statements themselves go through
// the query handler with a connectionId or transactionId.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/sessions/pool_history.hpp"
#include "coredb/sessions/session_manager.hpp"

#include <boost/json/object.hpp>

namespace coredb::http {

// `history`: GET /api/v1/pools/history (the admin console's charts).
void RegisterSessionRoutes(Router& router, sessions::SessionManager& sessions,
                           const sessions::PoolHistoryRecorder& history);

// The per-database stats object of GET /api/v1/connections/stats.
boost::json::object StatsJson(const sessions::DatabaseStats& stats);

}  // namespace coredb::http
