// Bearer-token authentication. Tokens are compared as SHA-256 digests with a constant-time
// comparison, so the time taken does not depend on how much of a token matches (nor on its
// length). This class knows only the bootstrap admin token (COREDB_ADMIN_TOKEN); the service
// authenticates clients with clients/client_directory, which includes that token.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <array>
#include <string>
#include <string_view>

namespace coredb {

using TokenDigest = std::array<unsigned char, 32>;
TokenDigest Sha256(std::string_view data);

// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive, spaces
// around the token ignored, 1..512 characters), or 401 UNAUTHENTICATED describing the header
// (never the token).
Result<std::string_view> ExtractBearerToken(std::string_view authorization);

class TokenAuthenticator {
 public:
  explicit TokenAuthenticator(std::string_view admin_token);
  // `authorization` is the raw header value ("Bearer <token>").
  Result<Principal> Authenticate(std::string_view authorization) const;

 private:
  TokenDigest admin_digest_{};
  bool has_admin_ = false;
};

}  // namespace coredb
