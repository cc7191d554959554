#include "coredb/core/json_writer.hpp"

#include <cstdint>
#include <cstring>

#include <charconv>
#include <cmath>

namespace coredb {

namespace {

// Whether any of 8 bytes is below 0x20, '"' or '\\' (exact: bytes >= 0x80 are never flagged).
bool NeedsEscape8(const char* p) {
  constexpr std::uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  std::uint64_t x;
  std::memcpy(&x, p, sizeof x);
  auto has_zero = [](std::uint64_t v) { return (v - k01) & ~v & k80; };
  const std::uint64_t below_space = (x - k01 * 0x20) & ~x & k80;
  return (below_space | has_zero(x ^ (k01 * '"')) | has_zero(x ^ (k01 * '\\'))) != 0;
}

}  // namespace

void AppendEscaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Eight clean bytes at a time (most text needs no escaping at all).
    while (i + 8 <= s.size() && !NeedsEscape8(s.data() + i)) i += 8;
    if (i >= s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

namespace {

void AppendString(std::string& out, std::string_view s) {
  out += '"';
  AppendEscaped(out, s);
  out += '"';
}

template <class Number>
void AppendNumber(std::string& out, Number n) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

void AppendJson(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += value.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: AppendNumber(out, value.get_int64()); break;
    case boost::json::kind::uint64: AppendNumber(out, value.get_uint64()); break;
    case boost::json::kind::double_: {
      double d = value.get_double();
      if (std::isfinite(d)) AppendNumber(out, d);
      else out += "null";  // JSON has no NaN/Infinity (the type mapping sends those as strings)
      break;
    }
    case boost::json::kind::string: AppendString(out, value.get_string()); break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& v : value.get_array()) {
        if (!first) out += ',';
        first = false;
        AppendJson(out, v);
      }
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : value.get_object()) {
        if (!first) out += ',';
        first = false;
        AppendString(out, kv.key());
        out += ':';
        AppendJson(out, kv.value());
      }
      out += '}';
      break;
    }
  }
}

std::string ToJson(const boost::json::value& value) {
  std::string out;
  out.reserve(256);
  AppendJson(out, value);
  return out;
}

}  // namespace coredb
