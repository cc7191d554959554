#include "coredb/core/ports.hpp"

namespace coredb {

const char* DatabaseName(Database db) {
  switch (db) {
    case Database::kPostgresql: return "postgresql";
    case Database::kRedis: return "redis";
    case Database::kVector: return "vector";
  }
  return "postgresql";
}

}  // namespace coredb
