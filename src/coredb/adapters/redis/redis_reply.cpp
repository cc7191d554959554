#include "coredb/adapters/redis/redis_reply.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <cstdint>
#include <string_view>

namespace coredb::redis {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at `i`, or 0 when it is not valid; then
// `*bad_len` is the length of the maximal subpart to replace with one U+FFFD (at least 1).
std::size_t ValidSequenceLength(std::string_view s, std::size_t i, std::size_t* bad_len) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    *bad_len = 1;
    return 0;
  }
  for (std::size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) {
      *bad_len = k;
      return 0;
    }
    const unsigned char b = byte(i + k);
    const unsigned char min = k == 1 ? lo : 0x80;
    const unsigned char max = k == 1 ? hi : 0xBF;
    if (b < min || b > max) {
      *bad_len = k;
      return 0;
    }
  }
  return need + 1;
}

boost::json::value StringToJson(const std::string& s) {
  return boost::json::string(SanitizeUtf8(s));
}

}  // namespace

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  std::size_t i = 0;
  std::size_t copied = 0;  // bytes[copied, i) are valid and not yet appended
  while (i < bytes.size()) {
    std::size_t bad_len = 0;
    const std::size_t n = ValidSequenceLength(bytes, i, &bad_len);
    if (n != 0) {
      i += n;
      continue;
    }
    if (out.empty()) out.reserve(bytes.size() + 16);
    out.append(bytes.substr(copied, i - copied));
    out.append(kReplacement);
    i += bad_len;
    copied = i;
  }
  if (copied == 0) return std::string(bytes);  // nothing replaced: valid throughout
  out.append(bytes.substr(copied));
  return out;
}

boost::json::value ReplyToJson(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::kString:
    case Reply::Type::kStatus:
      return StringToJson(reply.str);
    case Reply::Type::kInteger:
      return static_cast<std::int64_t>(reply.integer);
    case Reply::Type::kNil:
      return nullptr;
    case Reply::Type::kArray: {
      boost::json::array array;
      array.reserve(reply.elements.size());
      for (const Reply& element : reply.elements) array.push_back(ReplyToJson(element));
      return array;
    }
    case Reply::Type::kError: {
      boost::json::object object;
      object["error"] = StringToJson(reply.str);
      return object;
    }
  }
  return nullptr;
}

const char* ReplyTypeName(Reply::Type type) {
  switch (type) {
    case Reply::Type::kString: return "string";
    case Reply::Type::kStatus: return "status";
    case Reply::Type::kInteger: return "integer";
    case Reply::Type::kNil: return "nil";
    case Reply::Type::kArray: return "array";
    case Reply::Type::kError: return "error";
  }
  return "unknown";
}

}  // namespace coredb::redis
