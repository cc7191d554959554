#include "coredb/core/token_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <memory>
#include <stdexcept>

namespace coredb {

TokenDigest Sha256(std::string_view data) {
  // Every request hashes its token (and its SQL for the audit line): OpenSSL 3 looks the algorithm
  // up again on each EVP_Digest(EVP_sha256()) call, which costs more than hashing a token. So the
  // algorithm is fetched once and each thread keeps one context.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  TokenDigest digest{};
  unsigned int len = 0;
  if (kSha256 == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &len) != 1 || len != digest.size()) {
    throw std::runtime_error("SHA-256 failed in OpenSSL");  // a broken crypto library: a bug, not input
  }
  return digest;
}

TokenAuthenticator::TokenAuthenticator(std::string_view admin_token) {
  if (!admin_token.empty()) {
    admin_digest_ = Sha256(admin_token);
    has_admin_ = true;
  }
}

Result<std::string_view> ExtractBearerToken(std::string_view authorization) {
  if (authorization.empty()) {
    return MakeError(ErrorCode::kUnauthenticated, "missing Authorization header (expected: Bearer <token>)");
  }
  constexpr std::string_view kScheme = "bearer ";
  bool scheme_ok = authorization.size() > kScheme.size();
  for (std::size_t i = 0; scheme_ok && i < kScheme.size(); ++i) {
    scheme_ok = std::tolower(static_cast<unsigned char>(authorization[i])) == kScheme[i];
  }
  if (!scheme_ok) {
    return MakeError(ErrorCode::kUnauthenticated, "malformed Authorization header (expected: Bearer <token>)");
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty() || token.size() > 512) {
    return MakeError(ErrorCode::kUnauthenticated, "malformed Authorization header (expected: Bearer <token>)");
  }
  return token;
}

Result<Principal> TokenAuthenticator::Authenticate(std::string_view authorization) const {
  auto extracted = ExtractBearerToken(authorization);
  if (!extracted) return extracted.error();
  std::string_view token = *extracted;
  TokenDigest digest = Sha256(token);
  if (has_admin_ && CRYPTO_memcmp(digest.data(), admin_digest_.data(), digest.size()) == 0) {
    Principal admin;
    admin.client_id = "admin";
    admin.client_name = "admin";
    admin.scopes = static_cast<std::uint8_t>(Scope::kRead) | static_cast<std::uint8_t>(Scope::kWrite) |
                   static_cast<std::uint8_t>(Scope::kAdmin);
    return admin;
  }
  return MakeError(ErrorCode::kUnauthenticated, "unknown or revoked token");
}

}  // namespace coredb
