#include "coredb/clients/client_rules.hpp"

#include "coredb/cache/cache_key.hpp"
#include "coredb/core/token_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace coredb::clients {

namespace {

constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Base64Url(const unsigned char* data, std::size_t size) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    acc = (acc << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kBase64Url[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kBase64Url[(acc << (6 - bits)) & 63];
  return out;
}

bool IsBase64UrlChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

Result<void> CheckName(std::string_view name) {
  auto ok_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  };
  if (name.empty() || name.size() > kMaxNameLength || !std::all_of(name.begin(), name.end(), ok_char) ||
      name.front() == '.' || name.front() == '_' || name.front() == '-') {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'name' must be 1..64 letters, digits, '.', '_' or '-', starting with a letter or digit");
  }
  return {};
}

Result<std::uint8_t> ParseScopes(const std::vector<std::string>& names) {
  if (names.empty()) {
    return MakeError(ErrorCode::kInvalidRequest, "'scopes' must hold at least one of \"read\", \"write\", \"admin\"");
  }
  std::uint8_t bits = 0;
  for (const std::string& name : names) {
    Scope scope = Scope::kRead;
    if (name == "read") {
      scope = Scope::kRead;
    } else if (name == "write") {
      scope = Scope::kWrite;
    } else if (name == "admin") {
      scope = Scope::kAdmin;
    } else {
      std::string shown(name, 0, std::min<std::size_t>(name.size(), 32));
      if (name.size() > 32) shown.append("...");
      return MakeError(ErrorCode::kInvalidRequest,
                       "unknown scope \"" + shown + "\" in 'scopes' (expected \"read\", \"write\" or \"admin\")");
    }
    const auto bit = static_cast<std::uint8_t>(scope);
    if ((bits & bit) != 0)
      return MakeError(ErrorCode::kInvalidRequest, "scope \"" + name + "\" appears twice in 'scopes'");
    bits |= bit;
  }
  return bits;
}

std::vector<std::string> ScopeNames(std::uint8_t scopes) {
  std::vector<std::string> names;
  if (scopes & static_cast<std::uint8_t>(Scope::kRead)) names.emplace_back("read");
  if (scopes & static_cast<std::uint8_t>(Scope::kWrite)) names.emplace_back("write");
  if (scopes & static_cast<std::uint8_t>(Scope::kAdmin)) names.emplace_back("admin");
  return names;
}

Result<void> CheckPgRole(std::string_view role) {
  auto first_ok = [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; };
  auto rest_ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$'; };
  if (role.empty() || role.size() > 63 || !first_ok(role.front()) ||
      !std::all_of(role.begin() + 1, role.end(), rest_ok) || role.starts_with("pg_")) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'pgRole' must be an unquoted PostgreSQL identifier ([a-z_][a-z0-9_$]*, at most 63 characters, "
                     "not a pg_ system role)");
  }
  return {};
}

Result<void> CheckCachePrefixes(const std::vector<std::string>& prefixes) {
  if (prefixes.size() > kMaxCachePrefixes) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'cachePrefixes' holds at most " + std::to_string(kMaxCachePrefixes) + " prefixes");
  }
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    const std::string& p = prefixes[i];
    auto ok = cache::CheckKey(p);
    if (!ok || p.starts_with(cache::kReservedPrefix)) {
      return MakeError(ErrorCode::kInvalidRequest, "'cachePrefixes[" + std::to_string(i) +
                                                       "]' is not a valid cache key prefix (1..1024 bytes of "
                                                       "UTF-8 without control characters, not under \"__coredb:\")");
    }
    if (p.find_first_of("*?[\\") != std::string::npos) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'cachePrefixes[" + std::to_string(i) + "]' must not hold glob characters (* ? [ \\)");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (prefixes[j] == p) {
        return MakeError(ErrorCode::kInvalidRequest, "'cachePrefixes[" + std::to_string(i) + "]' appears twice");
      }
    }
  }
  return {};
}

std::string HexSha256(std::string_view data) {
  const TokenDigest digest = Sha256(data);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

NewToken GenerateToken() {
  unsigned char prefix_bytes[6];
  unsigned char secret[32];
  if (RAND_bytes(prefix_bytes, sizeof prefix_bytes) != 1 || RAND_bytes(secret, sizeof secret) != 1) {
    throw std::runtime_error("the system's random number generator failed (RAND_bytes)");
  }
  NewToken t;
  t.prefix = std::string(kTokenScheme) + Base64Url(prefix_bytes, sizeof prefix_bytes);
  t.token = t.prefix + Base64Url(secret, sizeof secret);
  t.hash = HexSha256(t.token);
  OPENSSL_cleanse(secret, sizeof secret);
  return t;
}

bool LooksLikeClientToken(std::string_view token) {
  return token.size() == kTokenPrefixLength + 43 && token.starts_with(kTokenScheme) &&
         std::all_of(token.begin() + kTokenScheme.size(), token.end(), IsBase64UrlChar);
}

}  // namespace coredb::clients
