#include "coredb/cache/cache_key.hpp"

#include <algorithm>
#include <string>

namespace coredb::cache {

bool IsValidUtf8(std::string_view s, bool allow_controls) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      if (!allow_controls && (c < 0x20 || c == 0x7F)) return false;
      ++p;
      continue;
    }
    int extra = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int i = 2; i <= extra; ++i) {
      if (p[i] < 0x80 || p[i] > 0xBF) return false;
    }
    p += extra + 1;
  }
  return true;
}

namespace {

Result<void> CheckText(std::string_view what, std::string_view s, std::size_t max_bytes) {
  // (Messages are appended piecewise: GCC 12 reports a false -Warray-bounds on
  // std::string(view) + "literal" here.)
  std::string message(what);
  if (s.empty()) return MakeError(ErrorCode::kInvalidRequest, message.append(" must not be empty"));
  if (s.size() > max_bytes) {
    message.append(" is ").append(std::to_string(s.size())).append(" bytes long; the limit is ");
    return MakeError(ErrorCode::kInvalidRequest, message.append(std::to_string(max_bytes)));
  }
  if (!IsValidUtf8(s, /*allow_controls=*/false)) {
    return MakeError(ErrorCode::kInvalidRequest, message.append(" must be valid UTF-8 without control characters"));
  }
  return {};
}

}  // namespace

Result<void> CheckKey(std::string_view key) {
  if (auto r = CheckText("cache key", key, kMaxKeyBytes); !r) return r;
  if (key.starts_with(kReservedPrefix)) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "cache keys starting with \"" + std::string(kReservedPrefix) + "\" are reserved");
  }
  return {};
}

Result<void> CheckPattern(std::string_view pattern) { return CheckText("'pattern'", pattern, kMaxPatternBytes); }

Result<void> CheckTag(std::string_view tag) { return CheckText("cache tag", tag, kMaxTagBytes); }

bool MatchesEveryKey(std::string_view pattern) {
  return !pattern.empty() && pattern.find_first_not_of('*') == std::string_view::npos;
}

std::string_view LiteralPrefix(std::string_view pattern) {
  return pattern.substr(0, std::min(pattern.find_first_of("*?[\\"), pattern.size()));
}

Result<void> CheckKeyAccess(const Principal& principal, std::string_view key) {
  if (principal.cache_prefixes.empty()) return {};
  for (const std::string& prefix : principal.cache_prefixes) {
    if (key.starts_with(prefix)) return {};
  }
  return MakeError(ErrorCode::kForbidden, "this client may only use cache keys under its cachePrefixes");
}

Result<void> CheckPatternAccess(const Principal& principal, std::string_view pattern) {
  if (MatchesEveryKey(pattern) && !principal.Allows(Scope::kAdmin)) {
    return MakeError(ErrorCode::kForbidden, "invalidating every key ('pattern' \"*\") needs the admin scope");
  }
  if (principal.cache_prefixes.empty()) return {};
  const std::string_view literal = LiteralPrefix(pattern);
  for (const std::string& prefix : principal.cache_prefixes) {
    if (literal.starts_with(prefix)) return {};
  }
  return MakeError(ErrorCode::kForbidden,
                   "this client may only invalidate patterns under its cachePrefixes (the part before the first "
                   "* ? [ must start with one of them)");
}

Result<void> CheckTagAccess(const Principal& principal, std::string_view tag) {
  if (principal.cache_prefixes.empty()) return {};
  for (const std::string& prefix : principal.cache_prefixes) {
    if (tag.starts_with(prefix)) return {};
  }
  return MakeError(ErrorCode::kForbidden, "this client may only use cache tags under its cachePrefixes");
}

}  // namespace coredb::cache
