#include "coredb/core/token_auth.hpp"

#include <gtest/gtest.h>

namespace coredb {
namespace {

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

TEST(TokenAuth, AdminTokenGrantsEveryScope) {
  TokenAuthenticator auth(kToken);
  auto p = auth.Authenticate(std::string("Bearer ") + kToken);
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->Has(Scope::kRead));
  EXPECT_TRUE(p->Has(Scope::kWrite));
  EXPECT_TRUE(p->Has(Scope::kAdmin));
  EXPECT_TRUE(auth.Authenticate(std::string("bearer  ") + kToken).has_value());
}

TEST(TokenAuth, RejectsMissingMalformedAndWrongTokens) {
  TokenAuthenticator auth(kToken);
  for (const char* header : {"", "Bearer", "Bearer ", "Basic abc", "Token abc", "Bearer 0123456789abcdef0123456789abcdeX",
                             "Bearer 0123456789abcdef0123456789abcde", "Bearer 0123456789abcdef0123456789abcdef0"}) {
    auto p = auth.Authenticate(header);
    ASSERT_FALSE(p.has_value()) << header;
    EXPECT_EQ(p.error().code, ErrorCode::kUnauthenticated);
    // Nothing of the presented token is echoed back.
    EXPECT_EQ(p.error().message.find("0123"), std::string::npos);
  }
}

TEST(TokenAuth, NoAdminTokenMeansNobodyGetsIn) {
  TokenAuthenticator auth("");
  EXPECT_FALSE(auth.Authenticate("Bearer ").has_value());
  EXPECT_FALSE(auth.Authenticate("Bearer x").has_value());
}

TEST(ErrorTable, EveryCodeHasTheContractsStatus) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidRequest), 400u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kConstraintViolation), 409u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPoolTimeout), 503u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kQueryTimeout), 504u);
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kSerializationFailure), "SERIALIZATION_FAILURE");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kPayloadTooLarge), "PAYLOAD_TOO_LARGE");
}

}  // namespace
}  // namespace coredb
