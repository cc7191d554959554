#include "coredb/adapters/postgres/result_json.hpp"

#include "coredb/core/json_writer.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/string.hpp>

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <system_error>
#include <utility>
#include <vector>

namespace coredb::pg {

namespace {

namespace json = boost::json;

// PostgreSQL validated json/jsonb already; the limit only guards our stack.
constexpr std::size_t kJsonMaxDepth = 1000;
// PostgreSQL's MAXDIM: deeper array text is not PostgreSQL's and is returned as text.
constexpr int kMaxArrayDepth = 6;
// Types created after initdb (extensions, enums) have OIDs from here on.
constexpr Oid kFirstNormalObjectId = 16384;
// Doubles represent every integer up to 2^53 exactly.
constexpr std::int64_t kMaxExactInteger = std::int64_t{1} << 53;

enum class ValueKind : std::uint8_t {
  kText,
  kBool,
  kInteger,
  kFloat,
  kJson,
  kTimestamptz,
  kTimestamp,
  kVector,
  kArray,
};

// How a column's values are decoded; computed once per column, not per value.
struct Codec {
  ValueKind kind = ValueKind::kText;
  ValueKind element = ValueKind::kText;  // for kArray
  char delimiter = ',';                  // for kArray: the element type's typdelim
};

ValueKind ScalarKind(Oid type, const TypeInfo* info) {
  switch (type) {
    case oid::kBool: return ValueKind::kBool;
    case oid::kInt2:
    case oid::kInt4:
    case oid::kOid: return ValueKind::kInteger;
    case oid::kFloat4:
    case oid::kFloat8: return ValueKind::kFloat;
    case oid::kJson:
    case oid::kJsonb: return ValueKind::kJson;
    case oid::kTimestamptz: return ValueKind::kTimestamptz;
    case oid::kTimestamp: return ValueKind::kTimestamp;
    default: break;
  }
  // pgvector's types: OIDs differ per database, so they are known by name once learned.
  if (info != nullptr && type >= kFirstNormalObjectId && info->category != 'A' &&
      (info->name == "vector" || info->name == "halfvec")) {
    return ValueKind::kVector;
  }
  return ValueKind::kText;
}

Codec CodecFor(Oid type, const TypeRegistry& types) {
  const TypeInfo* info = types.Find(type);
  // Category 'A' only: `name`, `point`, `box`... have a typelem too but print as scalars.
  if (info != nullptr && info->category == 'A' && info->element != 0) {
    const TypeInfo* element = types.Find(info->element);
    return Codec{ValueKind::kArray, ScalarKind(info->element, element),
                 element != nullptr ? element->delimiter : ','};
  }
  return Codec{ScalarKind(type, info)};
}

bool IsSpace(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

bool IsDigit(char ch) { return ch >= '0' && ch <= '9'; }

bool EqualsNoCase(std::string_view text, std::string_view upper) {
  if (text.size() != upper.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char ch = text[i];
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    if (ch != upper[i]) return false;
  }
  return true;
}

// A number text, as PostgreSQL prints float4/float8/vector elements. Integral texts become
// int64 (exact, and they serialize as `3` rather than `3E0`); `-0` stays a double.
bool ParseNumber(std::string_view text, const json::storage_ptr& sp, json::value& out) {
  const char* first = text.data();
  const char* last = first + text.size();
  std::int64_t integer = 0;
  auto [iend, iec] = std::from_chars(first, last, integer);
  if (iec == std::errc() && iend == last && text != "-0" && integer <= kMaxExactInteger &&
      integer >= -kMaxExactInteger) {
    out = json::value(integer, sp);
    return true;
  }
  double number = 0;
  auto [dend, dec] = std::from_chars(first, last, number);
  if (dec != std::errc() || dend != last || !std::isfinite(number)) return false;
  out = json::value(number, sp);
  return true;
}

// Boost.JSON 1.81 parses an out-of-range number (`1e400`, legal in jsonb) as infinity and would
// then serialize invalid JSON. Only texts with a long digit run or a 3-digit exponent can do that.
bool MayOverflowDouble(std::string_view text) {
  std::size_t digits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (IsDigit(ch)) {
      if (++digits > 300) return true;
      continue;
    }
    digits = 0;
    if (ch == 'e' || ch == 'E') {
      std::size_t j = i + 1;
      if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
      std::size_t exponent_digits = 0;
      while (j < text.size() && IsDigit(text[j])) ++j, ++exponent_digits;
      if (exponent_digits >= 3) return true;
    }
  }
  return false;
}

bool HasNonFinite(const json::value& value) {
  switch (value.kind()) {
    case json::kind::double_: return !std::isfinite(value.get_double());
    case json::kind::array:
      for (const json::value& element : value.get_array()) {
        if (HasNonFinite(element)) return true;
      }
      return false;
    case json::kind::object:
      for (const auto& member : value.get_object()) {
        if (HasNonFinite(member.value())) return true;
      }
      return false;
    default: return false;
  }
}

// --- timestamps ------------------------------------------------------------------------------

std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

// Reads exactly `count` digits at `pos`.
bool ReadDigits(std::string_view text, std::size_t& pos, std::size_t count, unsigned& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const char ch = text[pos + i];
    if (!IsDigit(ch)) return false;
    out = out * 10 + static_cast<unsigned>(ch - '0');
  }
  pos += count;
  return true;
}

bool Expect(std::string_view text, std::size_t& pos, char ch) {
  if (pos >= text.size() || text[pos] != ch) return false;
  ++pos;
  return true;
}

char* WritePadded(char* out, std::int64_t value, int width) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  for (auto n = end - digits; n < width; ++n) *out++ = '0';
  for (const char* p = digits; p != end; ++p) *out++ = *p;
  return out;
}

// The ISO DateStyle output `YYYY-MM-DD HH:MM:SS[.ffffff]` (+ `±HH[:MM[:SS]]` when with_offset)
// → `YYYY-MM-DDTHH:MM:SS[.ffffff]` (+ `Z`, the time moved to UTC). Returns the length written
// to `out`, 0 when the text has another shape (infinity, BC, other DateStyles).
std::size_t FormatTimestamp(std::string_view text, bool with_offset, char (&out)[64]) {
  std::size_t pos = 0;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  const std::size_t year_digits = pos;
  if (year_digits < 4 || year_digits > 9) return 0;
  std::int64_t year = 0;
  std::from_chars(text.data(), text.data() + year_digits, year);
  unsigned month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Expect(text, pos, '-') || !ReadDigits(text, pos, 2, month) || !Expect(text, pos, '-') ||
      !ReadDigits(text, pos, 2, day) || !Expect(text, pos, ' ')) {
    return 0;
  }
  const std::size_t time_start = pos;
  if (!ReadDigits(text, pos, 2, hour) || !Expect(text, pos, ':') ||
      !ReadDigits(text, pos, 2, minute) || !Expect(text, pos, ':') ||
      !ReadDigits(text, pos, 2, second)) {
    return 0;
  }
  const std::size_t fraction_start = pos;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    const std::size_t digits_start = pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    if (pos == digits_start || pos - digits_start > 9) return 0;
  }
  const std::string_view fraction = text.substr(fraction_start, pos - fraction_start);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return 0;
  }

  std::int64_t offset_seconds = 0;
  if (with_offset) {
    if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return 0;
    const bool negative = text[pos++] == '-';
    unsigned oh = 0, om = 0, os = 0;
    if (!ReadDigits(text, pos, 2, oh)) return 0;
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadDigits(text, pos, 2, om)) return 0;
      if (pos < text.size() && text[pos] == ':') {
        ++pos;
        if (!ReadDigits(text, pos, 2, os)) return 0;
      }
    }
    offset_seconds = static_cast<std::int64_t>(oh) * 3600 + om * 60 + os;
    if (negative) offset_seconds = -offset_seconds;
  }
  if (pos != text.size()) return 0;  // " BC" and anything else: not ours to rewrite

  char* p = out;
  if (offset_seconds == 0) {
    // Copy the digits exactly as PostgreSQL printed them.
    for (std::size_t i = 0; i < time_start - 1; ++i) *p++ = text[i];
    *p++ = 'T';
    for (std::size_t i = time_start; i < fraction_start + fraction.size(); ++i) *p++ = text[i];
  } else {
    std::int64_t seconds = DaysFromCivil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                           second - offset_seconds;
    std::int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
    std::int64_t in_day = seconds - days * 86400;
    CivilFromDays(days, year, month, day);
    if (year < 1) return 0;
    p = WritePadded(p, year, 4);
    *p++ = '-';
    p = WritePadded(p, month, 2);
    *p++ = '-';
    p = WritePadded(p, day, 2);
    *p++ = 'T';
    p = WritePadded(p, in_day / 3600, 2);
    *p++ = ':';
    p = WritePadded(p, in_day / 60 % 60, 2);
    *p++ = ':';
    p = WritePadded(p, in_day % 60, 2);
    for (char ch : fraction) *p++ = ch;
  }
  if (with_offset) *p++ = 'Z';
  return static_cast<std::size_t>(p - out);
}

// --- values ----------------------------------------------------------------------------------

// Decodes the text of one value. Reused across a whole result, so the JSON parser's stack and
// the unescape buffer are allocated once.
class Decoder {
 public:
  explicit Decoder(json::storage_ptr sp) : sp_(std::move(sp)) {}

  json::value Decode(const Codec& codec, std::string_view text) {
    if (codec.kind == ValueKind::kArray) return Array(text, codec.element, codec.delimiter);
    return Scalar(codec.kind, text);
  }

 private:
  json::value Text(std::string_view text) {
    return json::value(json::string_view(text.data(), text.size()), sp_);
  }

  json::value Scalar(ValueKind kind, std::string_view text) {
    switch (kind) {
      case ValueKind::kBool:
        if (text == "t") return json::value(true, sp_);
        if (text == "f") return json::value(false, sp_);
        return Text(text);
      case ValueKind::kInteger: {
        std::int64_t number = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
        if (ec != std::errc() || end != text.data() + text.size()) return Text(text);
        return json::value(number, sp_);
      }
      case ValueKind::kFloat: {
        json::value number;
        if (ParseNumber(text, sp_, number)) return number;
        return Text(text);  // NaN, Infinity, -Infinity
      }
      case ValueKind::kJson: return Json(text);
      case ValueKind::kTimestamptz:
      case ValueKind::kTimestamp: {
        char buf[64];
        const std::size_t n = FormatTimestamp(text, kind == ValueKind::kTimestamptz, buf);
        return n == 0 ? Text(text) : Text(std::string_view(buf, n));
      }
      case ValueKind::kVector: return Vector(text);
      case ValueKind::kText:
      case ValueKind::kArray: break;
    }
    return Text(text);
  }

  json::value Json(std::string_view text) {
    if (!parser_) {
      json::parse_options options;
      options.max_depth = kJsonMaxDepth;
      parser_.emplace(json::storage_ptr(), options);
    }
    parser_->reset(sp_);
    json::error_code ec;
    parser_->write(text.data(), text.size(), ec);
    if (ec) return Text(text);
    json::value parsed = parser_->release();
    if (MayOverflowDouble(text) && HasNonFinite(parsed)) return Text(text);
    return parsed;
  }

  // pgvector's text: `[1,2.5,3]`.
  json::value Vector(std::string_view text) {
    if (text.size() < 2 || text.front() != '[' || text.back() != ']') return Text(text);
    const std::string_view body = text.substr(1, text.size() - 2);
    json::array numbers(sp_);
    if (body.empty()) return numbers;
    std::size_t count = 1;
    for (char ch : body) count += ch == ',' ? 1 : 0;
    numbers.reserve(count);
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = body.find(',', start);
      const std::string_view item = body.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      json::value number;
      if (!ParseNumber(item, sp_, number)) return Text(text);
      numbers.push_back(std::move(number));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return numbers;
  }

  // PostgreSQL's array output: `{a,b}`, `{{1,2},{3,4}}`, `[0:1]={1,2}`; quoted elements use
  // backslash escapes; an unquoted NULL is SQL NULL ("NULL" quoted is the string). Text that is
  // not such an array (int2vector's `1 2`) is returned as text.
  json::value Array(std::string_view text, ValueKind element, char delimiter) {
    std::size_t pos = 0;
    if (!text.empty() && text.front() == '[') {  // explicit bounds: dropped
      pos = text.find('=');
      if (pos == std::string_view::npos) return Text(text);
      ++pos;
    }
    SkipSpace(text, pos);
    json::array out(sp_);
    if (!ArrayLevel(text, pos, element, delimiter, 1, out)) return Text(text);
    SkipSpace(text, pos);
    if (pos != text.size()) return Text(text);
    return out;
  }

  static void SkipSpace(std::string_view text, std::size_t& pos) {
    while (pos < text.size() && IsSpace(text[pos])) ++pos;
  }

  bool ArrayLevel(std::string_view text, std::size_t& pos, ValueKind element, char delimiter,
                  int depth, json::array& out) {
    if (depth > kMaxArrayDepth || pos >= text.size() || text[pos] != '{') return false;
    ++pos;
    SkipSpace(text, pos);
    if (pos < text.size() && text[pos] == '}') {
      ++pos;
      return true;
    }
    for (;;) {
      SkipSpace(text, pos);
      if (pos >= text.size()) return false;
      const char first = text[pos];
      if (first == '{') {
        json::array inner(sp_);
        if (!ArrayLevel(text, pos, element, delimiter, depth + 1, inner)) return false;
        out.push_back(std::move(inner));
      } else if (first == '"') {
        ++pos;
        scratch_.clear();
        for (;;) {
          if (pos >= text.size()) return false;
          char ch = text[pos++];
          if (ch == '"') break;
          if (ch == '\\') {
            if (pos >= text.size()) return false;
            ch = text[pos++];
          }
          scratch_.push_back(ch);
        }
        out.push_back(Scalar(element, scratch_));
      } else {
        const std::size_t start = pos;
        bool escaped = false;
        while (pos < text.size() && text[pos] != delimiter && text[pos] != '}') {
          const char ch = text[pos];
          if (ch == '{' || ch == '"') return false;
          if (ch == '\\') {
            escaped = true;
            ++pos;
          }
          ++pos;
        }
        if (pos > text.size()) return false;
        std::string_view token = text.substr(start, pos - start);
        while (!token.empty() && IsSpace(token.back())) token.remove_suffix(1);
        if (token.empty()) return false;
        if (escaped) {
          scratch_.clear();
          for (std::size_t i = 0; i < token.size(); ++i) {
            if (token[i] == '\\' && i + 1 < token.size()) ++i;
            scratch_.push_back(token[i]);
          }
          out.push_back(Scalar(element, scratch_));
        } else if (EqualsNoCase(token, "NULL")) {
          out.push_back(json::value(nullptr, sp_));
        } else {
          out.push_back(Scalar(element, token));
        }
      }
      SkipSpace(text, pos);
      if (pos >= text.size()) return false;
      if (text[pos] == '}') {
        ++pos;
        return true;
      }
      if (text[pos] != delimiter) return false;
      ++pos;
    }
  }

  json::storage_ptr sp_;
  std::optional<json::parser> parser_;
  std::string scratch_;
};

// Rough serialized size of one field entry of `fields`.
constexpr std::size_t kFieldOverhead = 48;
constexpr std::size_t kResultOverhead = 64;

Error TooLarge(std::size_t max_bytes) {
  return MakeError(ErrorCode::kPayloadTooLarge,
                   "result exceeds MAX_RESULT_BYTES (" + std::to_string(max_bytes) + " bytes)");
}

}  // namespace

std::string_view CommandVerb(const PGresult* res) {
  if (res == nullptr) return {};
  std::string_view tag = PQcmdStatus(const_cast<PGresult*>(res));
  return tag.substr(0, tag.find(' '));
}

void AppendFieldsJson(std::string& out, const PGresult* res, const TypeRegistry& types) {
  out += '[';
  const int columns = res == nullptr ? 0 : PQnfields(res);
  for (int c = 0; c < columns; ++c) {
    const Oid type = PQftype(res, c);
    out += c > 0 ? ",{\"name\":\"" : "{\"name\":\"";
    AppendEscaped(out, PQfname(res, c));
    out += "\",\"dataType\":";
    if (const TypeInfo* info = types.Find(type)) {
      out += '"';
      AppendEscaped(out, info->name);
      out += '"';
    } else {
      out += "null";
    }
    out += ",\"dataTypeID\":";
    char digits[16];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, static_cast<std::uint64_t>(type));
    out.append(digits, end);
    out += '}';
  }
  out += ']';
}

json::array FieldsJson(const PGresult* res, const TypeRegistry& types, json::storage_ptr sp) {
  json::array fields(sp);
  if (res == nullptr) return fields;
  const int columns = PQnfields(res);
  fields.reserve(static_cast<std::size_t>(columns));
  for (int c = 0; c < columns; ++c) {
    const Oid type = PQftype(res, c);
    json::object field(sp);
    field.reserve(3);
    field.emplace("name", PQfname(res, c));
    if (const TypeInfo* info = types.Find(type)) {
      field.emplace("dataType", json::string_view(info->name.data(), info->name.size()));
    } else {
      field.emplace("dataType", nullptr);
    }
    field.emplace("dataTypeID", static_cast<std::uint64_t>(type));
    fields.push_back(std::move(field));
  }
  return fields;
}

namespace {

// Where ResultToJson reads the rows from: the PGresult itself, or a RowSet read row by row.
class ResultRows {
 public:
  explicit ResultRows(const PGresult* res) : res_(res) {}
  int size() const { return PQntuples(res_); }
  bool IsNull(int r, int c) const { return PQgetisnull(res_, r, c) != 0; }
  std::string_view Value(int r, int c) const {
    return std::string_view(PQgetvalue(res_, r, c), static_cast<std::size_t>(PQgetlength(res_, r, c)));
  }

 private:
  const PGresult* res_;
};

// The row count of a command's tag ("INSERT 0 3" → 3); nullopt for a tag without one.
std::optional<std::uint64_t> AffectedRows(const PGresult* res) {
  const std::string_view count = PQcmdTuples(const_cast<PGresult*>(res));
  std::uint64_t affected = 0;
  auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), affected);
  if (count.empty() || ec != std::errc() || end != count.data() + count.size()) return std::nullopt;
  return affected;
}

template <class Rows>
std::size_t ValueBytes(const Rows& rows, int r, int columns) {
  std::size_t bytes = 0;
  for (int c = 0; c < columns; ++c) bytes += rows.IsNull(r, c) ? 4 : rows.Value(r, c).size() + 2;
  return bytes;
}

template <class Rows>
Result<json::object> BuildJson(const PGresult* res, const Rows& source, RowMode mode, const TypeRegistry& types,
                               std::size_t max_bytes, json::storage_ptr sp, std::size_t* estimated) {
  if (res == nullptr) return MakeError(ErrorCode::kInternal, "ResultToJson: no result");
  const ExecStatusType status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_SINGLE_TUPLE && status != PGRES_COMMAND_OK &&
      status != PGRES_EMPTY_QUERY) {
    return MakeError(ErrorCode::kInternal,
                     std::string("ResultToJson: unexpected result status ") + PQresStatus(status));
  }

  const int columns = PQnfields(res);
  const int row_total = source.size();

  json::array fields = FieldsJson(res, types, sp);
  const SizeEstimate shape = EstimateShape(res, mode, types);
  std::size_t used = shape.fixed;
  std::vector<Codec> codecs;
  std::vector<std::string_view> names;
  codecs.reserve(static_cast<std::size_t>(columns));
  names.reserve(static_cast<std::size_t>(columns));
  bool duplicate_names = false;
  for (int c = 0; c < columns; ++c) {
    const std::string_view name = PQfname(res, c);
    for (std::string_view earlier : names) duplicate_names = duplicate_names || earlier == name;
    names.push_back(name);
    codecs.push_back(CodecFor(PQftype(res, c), types));
  }
  if (used > max_bytes) return TooLarge(max_bytes);

  Decoder decoder(sp);
  json::array rows(sp);
  rows.reserve(static_cast<std::size_t>(row_total));
  for (int r = 0; r < row_total; ++r) {
    // Bound the response before building the row, not after building everything.
    used += shape.per_row + ValueBytes(source, r, columns);
    if (used > max_bytes) return TooLarge(max_bytes);

    if (mode == RowMode::kObject) {
      json::object row(sp);
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        const auto col = static_cast<std::size_t>(c);
        json::value value =
            source.IsNull(r, c) ? json::value(nullptr, sp) : decoder.Decode(codecs[col], source.Value(r, c));
        const json::string_view key(names[col].data(), names[col].size());
        if (duplicate_names) {
          row.insert_or_assign(key, std::move(value));  // keeps the first position, like JS
        } else {
          row.emplace(key, std::move(value));
        }
      }
      rows.push_back(std::move(row));
    } else {
      json::array row(sp);
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        if (source.IsNull(r, c)) {
          row.emplace_back(nullptr);
        } else {
          row.push_back(decoder.Decode(codecs[static_cast<std::size_t>(c)], source.Value(r, c)));
        }
      }
      rows.push_back(std::move(row));
    }
  }

  json::object out(sp);
  out.reserve(4);
  out.emplace("rows", std::move(rows));
  if (status == PGRES_TUPLES_OK || status == PGRES_SINGLE_TUPLE) {
    out.emplace("rowCount", static_cast<std::int64_t>(row_total));
  } else {
    if (const auto affected = AffectedRows(res)) {
      out.emplace("rowCount", *affected);
    } else {
      out.emplace("rowCount", nullptr);
    }
  }
  const std::string_view verb = CommandVerb(res);
  if (verb.empty()) {
    out.emplace("command", nullptr);
  } else {
    out.emplace("command", json::string_view(verb.data(), verb.size()));
  }
  out.emplace("fields", std::move(fields));
  if (estimated != nullptr) *estimated = used;
  return out;
}

}  // namespace

struct RowWriter::State {
  RowMode mode;
  std::vector<Codec> codecs;
  std::vector<std::string> keys;  // `"name":`, escaped
  bool duplicate_names = false;
  std::vector<std::string_view> names;
};

RowWriter::RowWriter(const PGresult* shape, RowMode mode, const TypeRegistry& types)
    : state_(std::make_unique<State>()) {
  state_->mode = mode;
  const int columns = PQnfields(shape);
  for (int c = 0; c < columns; ++c) {
    const std::string_view name = PQfname(shape, c);
    for (std::string_view earlier : state_->names) state_->duplicate_names = state_->duplicate_names || earlier == name;
    state_->names.push_back(name);
    state_->codecs.push_back(CodecFor(PQftype(shape, c), types));
    std::string key = "\"";
    AppendEscaped(key, name);
    key += "\":";
    state_->keys.push_back(std::move(key));
  }
}

RowWriter::~RowWriter() = default;

template <class Rows>
void RowWriter::AppendRow(std::string& out, const Rows& source, int r) {
  State& st = *state_;
  const int columns = static_cast<int>(st.codecs.size());
  // Every value is decoded into a small arena, released after the row.
  std::array<unsigned char, 4096> scratch;
  json::monotonic_resource arena(scratch.data(), scratch.size());
  json::storage_ptr sp(&arena);
  Decoder decoder(sp);
  auto value = [&](int c) -> json::value {
    if (source.IsNull(r, c)) return json::value(nullptr, sp);
    return decoder.Decode(st.codecs[static_cast<std::size_t>(c)], source.Value(r, c));
  };
  if (st.mode == RowMode::kObject && st.duplicate_names) {
    json::object row(sp);
    for (int c = 0; c < columns; ++c) {
      const auto name = st.names[static_cast<std::size_t>(c)];
      row.insert_or_assign(json::string_view(name.data(), name.size()), value(c));
    }
    AppendJson(out, row);
    return;
  }
  const bool object = st.mode == RowMode::kObject;
  out += object ? '{' : '[';
  for (int c = 0; c < columns; ++c) {
    if (c > 0) out += ',';
    if (object) out += st.keys[static_cast<std::size_t>(c)];
    const ValueKind kind = st.codecs[static_cast<std::size_t>(c)].kind;
    if (!source.IsNull(r, c) && (kind == ValueKind::kText || kind == ValueKind::kInteger)) {
      // The common kinds written straight from the text (what Decode would give, without a value).
      const std::string_view text = source.Value(r, c);
      std::int64_t number = 0;
      if (kind == ValueKind::kText) {
        out += '"';
        AppendEscaped(out, text);
        out += '"';
        continue;
      }
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
      if (ec == std::errc() && end == text.data() + text.size() && !text.empty() && text.front() != '+') {
        out += text;
        continue;
      }
    }
    AppendJson(out, value(c));
  }
  out += object ? '}' : ']';
}

void RowWriter::Append(std::string& out, const PGresult* one_row) { AppendRow(out, ResultRows(one_row), 0); }

void RowWriter::Append(std::string& out, const RowSet& rows, int r) { AppendRow(out, rows, r); }

namespace {

template <class Rows>
Result<std::string> BuildJsonText(const PGresult* res, const Rows& source, RowMode mode, const TypeRegistry& types,
                                  std::size_t max_bytes, std::size_t* estimated) {
  if (res == nullptr) return MakeError(ErrorCode::kInternal, "ResultToJsonText: no result");
  const ExecStatusType status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_SINGLE_TUPLE && status != PGRES_COMMAND_OK &&
      status != PGRES_EMPTY_QUERY) {
    return MakeError(ErrorCode::kInternal,
                     std::string("ResultToJsonText: unexpected result status ") + PQresStatus(status));
  }
  const int columns = PQnfields(res);
  const int row_total = source.size();
  // The same bound as BuildJson's, on the same estimate: both forms refuse the same results.
  const SizeEstimate shape = EstimateShape(res, mode, types);
  std::size_t used = shape.fixed;
  if (used > max_bytes) return TooLarge(max_bytes);
  std::string out;
  out.reserve(64 + shape.fixed + static_cast<std::size_t>(row_total) * (shape.per_row + 8 * static_cast<std::size_t>(columns)));
  out += "{\"rows\":[";
  if (row_total > 0) {
    RowWriter writer(res, mode, types);
    for (int r = 0; r < row_total; ++r) {
      used += shape.per_row + ValueBytes(source, r, columns);
      if (used > max_bytes) return TooLarge(max_bytes);
      if (r > 0) out += ',';
      writer.AppendRow(out, source, r);
    }
  }
  out += "],\"rowCount\":";
  if (status == PGRES_TUPLES_OK || status == PGRES_SINGLE_TUPLE) {
    out += std::to_string(row_total);
  } else {
    const auto affected = AffectedRows(res);
    out += affected ? std::to_string(*affected) : "null";
  }
  out += ",\"command\":";
  const std::string_view verb = CommandVerb(res);
  if (verb.empty()) {
    out += "null";
  } else {
    out += '"';
    AppendEscaped(out, verb);
    out += '"';
  }
  out += ",\"fields\":";
  AppendFieldsJson(out, res, types);
  out += '}';
  if (estimated != nullptr) *estimated = used;
  return out;
}

}  // namespace

Result<std::string> ResultToJsonText(const PGresult* res, const RowSet& rows, RowMode mode, const TypeRegistry& types,
                                     std::size_t max_bytes, std::size_t* estimated) {
  if (res != nullptr && PQntuples(res) > 0) {
    return BuildJsonText(res, ResultRows(res), mode, types, max_bytes, estimated);
  }
  return BuildJsonText(res, rows, mode, types, max_bytes, estimated);
}

void RowSet::Append(const PGresult* one_row) {
  const int columns = PQnfields(one_row);
  if (columns_ < 0) columns_ = columns;
  for (int c = 0; c < columns_; ++c) {
    const bool null = c >= columns || PQgetisnull(one_row, 0, c) != 0;
    if (!null) text_.append(PQgetvalue(one_row, 0, c), static_cast<std::size_t>(PQgetlength(one_row, 0, c)));
    nulls_.push_back(null);
    ends_.push_back(static_cast<std::uint32_t>(text_.size()));
  }
  ++rows_;
}

std::string_view RowSet::Value(int row, int column) const {
  const std::size_t cell = Cell(row, column);
  const std::size_t begin = cell == 0 ? 0 : ends_[cell - 1];
  return std::string_view(text_).substr(begin, ends_[cell] - begin);
}

SizeEstimate EstimateShape(const PGresult* res, RowMode mode, const TypeRegistry& types) {
  SizeEstimate shape{kResultOverhead, 3};  // per row: {} or [] and the comma between rows
  const int columns = PQnfields(res);
  for (int c = 0; c < columns; ++c) {
    const std::size_t name = std::strlen(PQfname(res, c));
    const TypeInfo* info = types.Find(PQftype(res, c));
    shape.fixed += kFieldOverhead + name + (info != nullptr ? info->name.size() : 0);
    shape.per_row += 1 + (mode == RowMode::kObject ? name + 3 : 0);
  }
  return shape;
}

std::size_t RowValueBytes(const PGresult* res, int row) { return ValueBytes(ResultRows(res), row, PQnfields(res)); }

Result<json::object> ResultToJson(const PGresult* res, RowMode mode, const TypeRegistry& types,
                                  std::size_t max_bytes, json::storage_ptr sp, std::size_t* estimated) {
  return BuildJson(res, ResultRows(res), mode, types, max_bytes, std::move(sp), estimated);
}

Result<json::object> ResultToJson(const PGresult* res, const RowSet& rows, RowMode mode, const TypeRegistry& types,
                                  std::size_t max_bytes, json::storage_ptr sp, std::size_t* estimated) {
  if (res != nullptr && PQntuples(res) > 0) {
    return BuildJson(res, ResultRows(res), mode, types, max_bytes, std::move(sp), estimated);
  }
  return BuildJson(res, rows, mode, types, max_bytes, std::move(sp), estimated);
}

json::value DecodeText(std::string_view text, Oid type, const TypeRegistry& types,
                       json::storage_ptr sp) {
  Decoder decoder(std::move(sp));
  return decoder.Decode(CodecFor(type, types), text);
}

std::optional<std::string> TimestamptzToRfc3339(std::string_view text) {
  char buf[64];
  const std::size_t n = FormatTimestamp(text, true, buf);
  if (n == 0) return std::nullopt;
  return std::string(buf, n);
}

std::optional<std::string> TimestampToIso8601(std::string_view text) {
  char buf[64];
  const std::size_t n = FormatTimestamp(text, false, buf);
  if (n == 0) return std::nullopt;
  return std::string(buf, n);
}

}  // namespace coredb::pg
