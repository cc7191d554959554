#include "coredb/clients/client_directory.hpp"

#include <openssl/crypto.h>

#include <algorithm>

namespace coredb::clients {

namespace {

std::optional<TokenDigest> FromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  TokenDigest d{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return d;
}

}  // namespace

ClientDirectory::ClientDirectory(std::string_view admin_token) {
  if (!admin_token.empty()) {
    Entry admin;
    admin.digest = Sha256(admin_token);
    admin.identity.principal = Principal{
        .client_id = std::string(kBootstrapAdminId),
        .client_name = std::string(kBootstrapAdminId),
        .scopes = static_cast<std::uint8_t>(static_cast<std::uint8_t>(Scope::kRead) |
                                            static_cast<std::uint8_t>(Scope::kWrite) |
                                            static_cast<std::uint8_t>(Scope::kAdmin)),
        .cache_prefixes = {},
        .pg_role = {},
    };
    entries_.push_back(std::move(admin));
    has_admin_ = true;
  }
}

void ClientDirectory::Replace(const std::vector<ClientRecord>& active) {
  entries_.resize(has_admin_ ? 1 : 0);
  for (const ClientRecord& c : active) {
    if (c.revoked_at) continue;
    auto digest = FromHex(c.token_hash);
    if (!digest) continue;
    Entry e;
    e.digest = *digest;
    e.identity.principal = Principal{
        .client_id = c.id,
        .client_name = c.name,
        .scopes = c.scopes,
        .cache_prefixes = c.cache_prefixes,
        .pg_role = c.pg_role,
    };
    e.identity.quota_per_minute = c.quota_per_minute;
    e.identity.quota_per_day = c.quota_per_day;
    entries_.push_back(std::move(e));
  }
}

bool ClientDirectory::Remove(std::string_view client_id) {
  if (client_id == kBootstrapAdminId) return false;
  const auto before = entries_.size();
  entries_.erase(std::remove_if(entries_.begin() + (has_admin_ ? 1 : 0), entries_.end(),
                                [&](const Entry& e) { return e.identity.principal.client_id == client_id; }),
                 entries_.end());
  return entries_.size() != before;
}

Result<Identity> ClientDirectory::Authenticate(std::string_view authorization) const {
  auto token = ExtractBearerToken(authorization);
  if (!token) return token.error();
  const TokenDigest digest = Sha256(*token);
  // Every entry is compared, whatever matched before: no early exit (see the header).
  const Entry* found = nullptr;
  std::size_t compared = 0;
  for (const Entry& e : entries_) {
    const bool equal = CRYPTO_memcmp(digest.data(), e.digest.data(), digest.size()) == 0;
    found = equal ? &e : found;
    ++compared;
  }
  last_comparisons_ = compared;
  if (found == nullptr) return MakeError(ErrorCode::kUnauthenticated, "unknown or revoked token");
  return found->identity;
}

}  // namespace coredb::clients
