#include "coredb/cache/cache_key.hpp"

#include <gtest/gtest.h>

#include <string>

namespace coredb::cache {
namespace {

Principal Client(std::uint8_t scopes, std::vector<std::string> prefixes = {}) {
  Principal p;
  p.client_id = "c1";
  p.client_name = "c1";
  p.scopes = scopes;
  p.cache_prefixes = std::move(prefixes);
  return p;
}
constexpr auto kRead = static_cast<std::uint8_t>(Scope::kRead);
constexpr auto kWrite = static_cast<std::uint8_t>(Scope::kWrite);
constexpr auto kAdmin = static_cast<std::uint8_t>(Scope::kAdmin);

TEST(CacheKey, AcceptsPrintableUtf8UpToOneKibibyte) {
  EXPECT_TRUE(CheckKey("user:email:a@b.c").has_value());
  EXPECT_TRUE(CheckKey("libraries:search:react hooks:10").has_value()) << "spaces are allowed";
  EXPECT_TRUE(CheckKey("glob*chars?[taken]literally").has_value());
  EXPECT_TRUE(CheckKey("caf\xC3\xA9:\xF0\x9F\x98\x80").has_value());
  EXPECT_TRUE(CheckKey(std::string(kMaxKeyBytes, 'k')).has_value());
}

TEST(CacheKey, RejectsEmptyOversizedControlAndInvalidUtf8) {
  auto empty = CheckKey("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(empty.error().message.find("must not be empty"), std::string::npos);

  auto huge = CheckKey(std::string(kMaxKeyBytes + 1, 'k'));
  ASSERT_FALSE(huge.has_value());
  EXPECT_NE(huge.error().message.find("1025 bytes"), std::string::npos) << huge.error().message;

  EXPECT_FALSE(CheckKey(std::string("a\0b", 3)).has_value());
  EXPECT_FALSE(CheckKey("tab\there").has_value());
  EXPECT_FALSE(CheckKey("new\nline").has_value());
  EXPECT_FALSE(CheckKey("del\x7F").has_value());
  EXPECT_FALSE(CheckKey("\xC3").has_value()) << "truncated sequence";
  EXPECT_FALSE(CheckKey("\xC0\xAF").has_value()) << "overlong";
  EXPECT_FALSE(CheckKey("\xED\xA0\x80").has_value()) << "surrogate";
  EXPECT_FALSE(CheckKey("\xF4\x90\x80\x80").has_value()) << "above U+10FFFF";
  EXPECT_FALSE(CheckKey("\xFF").has_value());
}

TEST(CacheKey, ReservedPrefixIsRefused) {
  auto r = CheckKey("__coredb:epoch");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(r.error().message.find("reserved"), std::string::npos);
  EXPECT_TRUE(CheckKey("_coredb:epoch").has_value());
}

TEST(CacheKey, PatternsAndTagsFollowTheSameCharacterRules) {
  EXPECT_TRUE(CheckPattern("user:*").has_value());
  EXPECT_FALSE(CheckPattern("").has_value());
  EXPECT_FALSE(CheckPattern(std::string(kMaxPatternBytes + 1, '*')).has_value());
  EXPECT_FALSE(CheckPattern("a\nb*").has_value());
  EXPECT_TRUE(CheckTag("users").has_value());
  EXPECT_FALSE(CheckTag("").has_value());
  EXPECT_FALSE(CheckTag(std::string(kMaxTagBytes + 1, 't')).has_value());
}

TEST(CacheKey, LiteralPrefixStopsAtTheFirstGlobCharacter) {
  EXPECT_EQ(LiteralPrefix("user:*"), "user:");
  EXPECT_EQ(LiteralPrefix("user:?x"), "user:");
  EXPECT_EQ(LiteralPrefix("user:[ab]"), "user:");
  EXPECT_EQ(LiteralPrefix("user:\\*"), "user:");
  EXPECT_EQ(LiteralPrefix("plain"), "plain");
  EXPECT_EQ(LiteralPrefix("*"), "");
}

TEST(CacheKeyAccess, EmptyPrefixesMeanTheWholeKeySpace) {
  EXPECT_TRUE(CheckKeyAccess(Client(kRead), "anything:at:all").has_value());
}

TEST(CacheKeyAccess, PrefixesRestrictKeys) {
  auto p = Client(kWrite, {"user:", "session:"});
  EXPECT_TRUE(CheckKeyAccess(p, "user:1").has_value());
  EXPECT_TRUE(CheckKeyAccess(p, "session:abc").has_value());
  auto other = CheckKeyAccess(p, "library:1");
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, ErrorCode::kForbidden);
  EXPECT_FALSE(CheckKeyAccess(p, "use").has_value()) << "a key shorter than the prefix is not under it";
}

TEST(CachePatternAccess, StarAloneNeedsAdmin) {
  for (const char* all : {"*", "**", "***"}) {
    auto writer = CheckPatternAccess(Client(kRead | kWrite), all);
    ASSERT_FALSE(writer.has_value()) << all;
    EXPECT_EQ(writer.error().code, ErrorCode::kForbidden);
    EXPECT_NE(writer.error().message.find("admin"), std::string::npos);
    EXPECT_TRUE(CheckPatternAccess(Client(kAdmin), all).has_value()) << all;
  }
  EXPECT_TRUE(CheckPatternAccess(Client(kWrite), "user:*").has_value());
  EXPECT_TRUE(CheckPatternAccess(Client(kWrite), "*:user:1").has_value()) << "only '*' alone is admin-only";
}

TEST(CachePatternAccess, PrefixesCoverOnlyPatternsWhoseLiteralPartIsUnderThem) {
  auto p = Client(kWrite, {"user:"});
  EXPECT_TRUE(CheckPatternAccess(p, "user:*").has_value());
  EXPECT_TRUE(CheckPatternAccess(p, "user:1").has_value());
  EXPECT_TRUE(CheckPatternAccess(p, "user:1:*:x").has_value());
  EXPECT_FALSE(CheckPatternAccess(p, "us*").has_value()) << "could match usX...";
  EXPECT_FALSE(CheckPatternAccess(p, "user*").has_value()) << "could match userX";
  EXPECT_FALSE(CheckPatternAccess(p, "*user:1").has_value());
  EXPECT_FALSE(CheckPatternAccess(p, "user?1").has_value());
  auto admin_with_prefixes = CheckPatternAccess(Client(kAdmin, {"user:"}), "*");
  EXPECT_FALSE(admin_with_prefixes.has_value()) << "prefixes bind admins too";
}

TEST(PrincipalScopes, WriteImpliesReadAndAdminImpliesBoth) {
  EXPECT_TRUE(Client(kWrite).Allows(Scope::kRead));
  EXPECT_FALSE(Client(kRead).Allows(Scope::kWrite));
  EXPECT_TRUE(Client(kAdmin).Allows(Scope::kWrite));
  EXPECT_TRUE(Client(kAdmin).Allows(Scope::kRead));
  EXPECT_FALSE(Client(kWrite).Allows(Scope::kAdmin));
  EXPECT_FALSE(Client(0).Allows(Scope::kRead));
}

}  // namespace
}  // namespace coredb::cache
