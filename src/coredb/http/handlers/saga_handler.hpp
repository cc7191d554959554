// API.md "Sagas": POST /api/v1/sagas (Idempotency-Key), POST /api/v1/sagas/{id}/compensate,
// GET /api/v1/sagas/{id}, GET /api/v1/sagas?status=...
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/sagas/saga_service.hpp"

namespace coredb::http {

void RegisterSagaRoutes(Router& router, sagas::SagaService& sagas);

}  // namespace coredb::http
