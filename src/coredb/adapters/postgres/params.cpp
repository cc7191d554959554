#include "coredb/adapters/postgres/params.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cmath>
#include <string_view>
#include <system_error>

namespace coredb::pg {

namespace {

namespace json = boost::json;

// PostgreSQL's MAXDIM.
constexpr std::size_t kMaxArrayDimensions = 6;

// The notation of JavaScript's Number#toString, which is what node-postgres sends: fixed for
// 1e-7 <= |x| < 1e21 (so `1e15` or `3.0` in a request still fits an int8/int4 parameter),
// scientific otherwise; either way the shortest digits that round-trip. Non-finite values
// (which a parsed request cannot hold) use the spellings float8in accepts.
void AppendDouble(double value, std::string& out) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-Infinity" : "Infinity";
    return;
  }
  char buf[64];
  const double magnitude = std::fabs(value);
  const auto format = (magnitude == 0 || (magnitude >= 1e-7 && magnitude < 1e21))
                          ? std::chars_format::fixed
                          : std::chars_format::scientific;
  // Fixed notation below 1e21 takes at most ~45 characters, scientific at most 24.
  const auto result = std::to_chars(buf, buf + sizeof buf, value, format);
  out.append(buf, result.ptr);
}

template <class Int>
void AppendInteger(Int value, std::string& out) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
}

// An element inside an array literal, always double-quoted (as node-postgres does): quoting
// makes "NULL", "", spaces, braces, commas and the delimiter plain data.
void AppendQuoted(std::string_view text, std::string& out) {
  out.push_back('"');
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    out.push_back(ch);
  }
  out.push_back('"');
}

class ParamEncoder {
 public:
  explicit ParamEncoder(std::size_t index) : index_(index) {}

  Result<std::optional<std::string>> Encode(const json::value& param) {
    switch (param.kind()) {
      case json::kind::null: return std::optional<std::string>();
      case json::kind::bool_:
        return std::optional<std::string>(param.get_bool() ? "true" : "false");
      case json::kind::int64: {
        std::string out;
        AppendInteger(param.get_int64(), out);
        return std::optional<std::string>(std::move(out));
      }
      case json::kind::uint64: {
        std::string out;
        AppendInteger(param.get_uint64(), out);
        return std::optional<std::string>(std::move(out));
      }
      case json::kind::double_: {
        std::string out;
        AppendDouble(param.get_double(), out);
        return std::optional<std::string>(std::move(out));
      }
      case json::kind::string: {
        std::string_view text = param.get_string();
        if (text.find('\0') != std::string_view::npos) return NulError();
        return std::optional<std::string>(std::string(text));
      }
      case json::kind::object:
        return std::optional<std::string>(json::serialize(param.get_object()));
      case json::kind::array: return EncodeArray(param.get_array());
    }
    return MakeError(ErrorCode::kInternal, "unknown JSON kind");
  }

 private:
  Result<std::optional<std::string>> EncodeArray(const json::array& array) {
    // The shape is taken from the first element of each level; every other sub-array must match.
    dims_.clear();
    for (const json::array* level = &array;;) {
      dims_.push_back(level->size());
      if (dims_.size() > kMaxArrayDimensions) {
        Fail("array has more than " + std::to_string(kMaxArrayDimensions) +
             " dimensions; PostgreSQL allows at most " + std::to_string(kMaxArrayDimensions));
        return std::move(*error_);
      }
      if (level->empty() || !level->front().is_array()) break;
      level = &level->front().get_array();
    }
    std::string out;
    out.reserve(array.size() * 8 + 2);
    if (!AppendArray(array, 0, out)) return std::move(*error_);
    return std::optional<std::string>(std::move(out));
  }

  bool AppendArray(const json::array& array, std::size_t depth, std::string& out) {
    if (array.size() != dims_[depth]) {
      return Fail("has " + std::to_string(array.size()) + " elements where " +
                  std::to_string(dims_[depth]) +
                  " were expected; PostgreSQL rejects ragged multidimensional arrays (all "
                  "sub-arrays of a level must have the same length)");
    }
    if (array.empty() && depth > 0) {
      return Fail(
          "is an empty nested array; PostgreSQL cannot represent empty sub-arrays (send [] for "
          "an empty array)");
    }
    const bool inner_level = depth + 1 < dims_.size();
    out.push_back('{');
    for (std::size_t i = 0; i < array.size(); ++i) {
      if (i != 0) out.push_back(',');
      path_.push_back(i);
      const json::value& element = array[i];
      if (element.is_array() != inner_level) {
        return Fail(
            "mixes arrays and non-array values at one level; PostgreSQL rejects ragged "
            "multidimensional arrays");
      }
      if (inner_level) {
        if (!AppendArray(element.get_array(), depth + 1, out)) return false;
      } else if (!AppendElement(element, out)) {
        return false;
      }
      path_.pop_back();
    }
    out.push_back('}');
    return true;
  }

  bool AppendElement(const json::value& element, std::string& out) {
    switch (element.kind()) {
      case json::kind::null: out += "NULL"; return true;
      case json::kind::bool_: out += element.get_bool() ? "true" : "false"; return true;
      case json::kind::int64: AppendInteger(element.get_int64(), out); return true;
      case json::kind::uint64: AppendInteger(element.get_uint64(), out); return true;
      case json::kind::double_: AppendDouble(element.get_double(), out); return true;
      case json::kind::string: {
        std::string_view text = element.get_string();
        if (text.find('\0') != std::string_view::npos) return FailNul();
        AppendQuoted(text, out);
        return true;
      }
      case json::kind::object:
        AppendQuoted(json::serialize(element.get_object()), out);
        return true;
      case json::kind::array: break;  // handled by AppendArray
    }
    return Fail("unexpected nested array");
  }

  bool FailNul() {
    return Fail("contains a NUL character (\\u0000), which PostgreSQL text cannot store");
  }

  Error NulError() {
    FailNul();
    return *error_;
  }

  // Records the error for the current path; returns false so callers can `return Fail(...)`.
  bool Fail(std::string detail) {
    std::string message = "params[" + std::to_string(index_) + "]";
    for (std::size_t i : path_) message += "[" + std::to_string(i) + "]";
    message += ": ";
    message += detail;
    error_ = MakeError(ErrorCode::kInvalidRequest, std::move(message));
    return false;
  }

  std::size_t index_;
  std::vector<std::size_t> dims_;
  std::vector<std::size_t> path_;
  std::optional<Error> error_;
};

}  // namespace

Result<std::vector<std::optional<std::string>>> EncodeParams(const json::array& params) {
  if (params.size() > kMaxParams) {
    return MakeError(ErrorCode::kInvalidRequest, "params: " + std::to_string(params.size()) +
                                                     " parameters; PostgreSQL accepts at most " +
                                                     std::to_string(kMaxParams));
  }
  std::vector<std::optional<std::string>> encoded;
  encoded.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    ParamEncoder encoder(i);
    auto value = encoder.Encode(params[i]);
    if (!value) return value.error();
    encoded.push_back(std::move(*value));
  }
  return encoded;
}

}  // namespace coredb::pg
