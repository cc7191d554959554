// API.md "Vectors": collections (create, list, drop), upsert, similarity search, delete by id
// and by filter, over the VectorStore. This file checks bodies and scopes; the store checks
// names, embeddings and filters and owns the SQL.
#pragma once

#include "coredb/http/router.hpp"
#include "coredb/vectors/vector_store.hpp"

namespace coredb::http {

void RegisterVectorRoutes(Router& router, vectors::VectorStore& store);

}  // namespace coredb::http
