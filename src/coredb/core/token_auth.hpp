// Bearer-token authentication. Tokens are compared as SHA-256 digests with a constant-time
// comparison, so the time taken does not depend on how much of a token matches (nor on its
// length). Only the bootstrap admin token (COREDB_ADMIN_TOKEN) exists until client management.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/principal.hpp"

#include <array>
#include <string>
#include <string_view>

namespace coredb {

using TokenDigest = std::array<unsigned char, 32>;
TokenDigest Sha256(std::string_view data);

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
