// Who is calling: the client a token belongs to, and what it may do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coredb {

enum class Scope : std::uint8_t { kRead = 1, kWrite = 2, kAdmin = 4 };

struct Principal {
  std::string client_id;    // stable id; leases and transactions belong to it
  std::string client_name;  // for logs and audit
  std::uint8_t scopes = 0;  // bit set of Scope; write implies read, admin implies both
  // Cache keys this client may read, write or invalidate: keys starting with one of these.
  // Empty: the whole shared key space (API.md "Cache").
  std::vector<std::string> cache_prefixes;
  // PostgreSQL role the client's statements run as (issue 6); empty: no role of its own.
  std::string pg_role;

  bool Has(Scope scope) const { return (scopes & static_cast<std::uint8_t>(scope)) != 0; }
  // With the implications of API.md: write includes read, admin includes both.
  bool Allows(Scope scope) const {
    switch (scope) {
      case Scope::kRead:
        return Has(Scope::kRead) || Has(Scope::kWrite) || Has(Scope::kAdmin);
      case Scope::kWrite:
        return Has(Scope::kWrite) || Has(Scope::kAdmin);
      case Scope::kAdmin:
        return Has(Scope::kAdmin);
    }
    return false;
  }
};

}  // namespace coredb
