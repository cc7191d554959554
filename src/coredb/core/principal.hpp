// Who is calling: the client a token belongs to, and what it may do.
#pragma once

#include <cstdint>
#include <string>

namespace coredb {

enum class Scope : std::uint8_t { kRead = 1, kWrite = 2, kAdmin = 4 };

struct Principal {
  std::string client_id;    // stable id; leases and transactions belong to it
  std::string client_name;  // for logs and audit
  std::uint8_t scopes = 0;  // bit set of Scope; write implies read, admin implies both

  bool Has(Scope scope) const { return (scopes & static_cast<std::uint8_t>(scope)) != 0; }
};

}  // namespace coredb
