#include "coredb/http/json_body.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/json/stream_parser.hpp>

#include <algorithm>
#include <cctype>

namespace coredb::http {
namespace {

bool IsJsonContentType(std::string_view value) {
  // "application/json", optionally with parameters ("; charset=utf-8"), case-insensitive.
  std::string_view type = value.substr(0, value.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  return type.size() == kJson.size() &&
         std::equal(type.begin(), type.end(), kJson.begin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

const char* TypeName(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: return "null";
    case boost::json::kind::bool_: return "a boolean";
    case boost::json::kind::int64:
    case boost::json::kind::uint64:
    case boost::json::kind::double_: return "a number";
    case boost::json::kind::string: return "a string";
    case boost::json::kind::array: return "an array";
    case boost::json::kind::object: return "an object";
  }
  return "unknown";
}

}  // namespace

Result<boost::json::object> ParseJsonObject(const Request& request) {
  const std::string& body = request.body();
  if (body.empty()) {
    return MakeError(ErrorCode::kInvalidRequest, "request body is empty; expected a JSON object");
  }
  auto content_type = request[boost::beast::http::field::content_type];
  if (!IsJsonContentType(content_type)) {
    return MakeError(ErrorCode::kUnsupportedMediaType, "Content-Type must be application/json");
  }
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::json::stream_parser parser(boost::json::storage_ptr(), options);
  boost::system::error_code ec;
  std::size_t consumed = parser.write_some(body.data(), body.size(), ec);
  if (!ec && consumed < body.size()) ec = boost::json::error::extra_data;
  if (!ec) parser.finish(ec);
  if (ec) {
    std::string why = ec == boost::json::error::too_deep
                          ? "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"
                          : ec.message();
    return MakeError(ErrorCode::kInvalidRequest,
                     "malformed JSON body at byte " + std::to_string(consumed) + ": " + why);
  }
  boost::json::value value = parser.release();
  if (!value.is_object()) {
    return MakeError(ErrorCode::kInvalidRequest, std::string("request body must be a JSON object, got ") +
                                                     TypeName(value));
  }
  return std::move(value.as_object());
}

FieldReader::FieldReader(const boost::json::object& object, std::string path)
    : object_(object), path_(std::move(path)) {}

void FieldReader::Fail(std::string message) {
  if (!error_) error_ = MakeError(ErrorCode::kInvalidRequest, std::move(message));
}

void FieldReader::AllowOnly(std::initializer_list<std::string_view> names) {
  for (const auto& kv : object_) {
    if (std::find(names.begin(), names.end(), kv.key()) == names.end()) {
      Fail("unknown member '" + Name(kv.key()) + "'");
      return;
    }
  }
}

const boost::json::value* FieldReader::Lookup(std::string_view name, Required required, const char* expected) {
  if (error_) return nullptr;
  const boost::json::value* v = object_.if_contains(name);
  if (v == nullptr || (v->is_null() && required == Required::kNo)) {
    if (required == Required::kYes) Fail("missing required member '" + Name(name) + "' (" + expected + ")");
    return nullptr;
  }
  return v;
}

std::optional<std::string_view> FieldReader::String(std::string_view name, Required required) {
  const auto* v = Lookup(name, required, "a string");
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    Fail("'" + Name(name) + "' must be a string, got " + TypeName(*v));
    return std::nullopt;
  }
  return std::string_view(v->as_string());
}

std::optional<std::int64_t> FieldReader::Integer(std::string_view name, std::int64_t min, std::int64_t max,
                                                  Required required) {
  const auto* v = Lookup(name, required, "an integer");
  if (v == nullptr) return std::nullopt;
  std::optional<std::int64_t> value;
  if (v->is_int64()) {
    value = v->as_int64();
  } else if (v->is_uint64()) {
    // Boost.JSON only stores numbers above INT64_MAX as uint64: always out of range here.
    Fail("'" + Name(name) + "' must be an integer in " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  } else if (v->is_double() && v->as_double() == static_cast<double>(static_cast<std::int64_t>(v->as_double())) &&
             v->as_double() >= -9.0e15 && v->as_double() <= 9.0e15) {
    value = static_cast<std::int64_t>(v->as_double());  // 5000.0 is an integer too
  }
  if (!value) {
    Fail("'" + Name(name) + "' must be an integer, got " + (v->is_double() ? std::string("a fractional number")
                                                                              : std::string(TypeName(*v))));
    return std::nullopt;
  }
  if (*value < min || *value > max) {
    Fail("'" + Name(name) + "' must be an integer in " + std::to_string(min) + ".." + std::to_string(max) +
         " (got " + std::to_string(*value) + ")");
    return std::nullopt;
  }
  return value;
}

std::optional<bool> FieldReader::Bool(std::string_view name, Required required) {
  const auto* v = Lookup(name, required, "a boolean");
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    Fail("'" + Name(name) + "' must be a boolean, got " + TypeName(*v));
    return std::nullopt;
  }
  return v->as_bool();
}

const boost::json::array* FieldReader::Array(std::string_view name, Required required) {
  const auto* v = Lookup(name, required, "an array");
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    Fail("'" + Name(name) + "' must be an array, got " + TypeName(*v));
    return nullptr;
  }
  return &v->as_array();
}

const boost::json::object* FieldReader::Object(std::string_view name, Required required) {
  const auto* v = Lookup(name, required, "an object");
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    Fail("'" + Name(name) + "' must be an object, got " + TypeName(*v));
    return nullptr;
  }
  return &v->as_object();
}

}  // namespace coredb::http
