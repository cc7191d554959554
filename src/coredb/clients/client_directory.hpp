// The in-memory authentication table: SHA-256 digest of a token → the client it belongs to.
// Authentication never touches PostgreSQL: the table is loaded at start, replaced after every
// local change and reloaded periodically (ClientRegistry in application.cpp).
//
// Timing: a presented token is hashed once, then its digest is compared with EVERY entry of
// the table (the bootstrap admin token included) with CRYPTO_memcmp, and the scan never stops
// early. So the time taken depends on the number of active clients only, not on the token:
// not on how much of it matches, nor on whether it is unknown, revoked (revoked clients are
// simply not in the table) or valid. Every refusal of a well-formed header has the same message.
#pragma once

#include "coredb/clients/client_rules.hpp"
#include "coredb/core/token_auth.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::clients {

// Who a token belongs to, with its quotas (none for the bootstrap admin).
struct Identity {
  Principal principal;
  std::optional<std::int64_t> quota_per_minute;
  std::optional<std::int64_t> quota_per_day;
};

inline constexpr std::string_view kBootstrapAdminId = "admin";

class ClientDirectory {
 public:
  explicit ClientDirectory(std::string_view admin_token);

  // Replaces the client entries (revoked records and records with a malformed hash are skipped).
  void Replace(const std::vector<ClientRecord>& active);
  // Drops one client at once (a revoke on this instance). True when it was there.
  bool Remove(std::string_view client_id);

  // `authorization` is the raw header value ("Bearer <token>"). 401 UNAUTHENTICATED otherwise.
  Result<Identity> Authenticate(std::string_view authorization) const;

  std::size_t size() const { return entries_.size(); }  // clients, the bootstrap admin included
  // How many table entries the last Authenticate compared the digest with (for the test that
  // proves the scan never stops early).
  std::size_t last_comparisons() const { return last_comparisons_; }

 private:
  struct Entry {
    TokenDigest digest{};
    Identity identity;
  };
  std::vector<Entry> entries_;  // [0] is the bootstrap admin when there is one
  bool has_admin_ = false;
  mutable std::size_t last_comparisons_ = 0;
};

}  // namespace coredb::clients
