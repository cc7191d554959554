// Request bodies: JSON objects, checked strictly. Unknown members are errors (a typo like
// `parms` must not be ignored), every type and range check names the member.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/http/router.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace coredb::http {

inline constexpr std::size_t kMaxJsonDepth = 64;

// Content-Type must be application/json (415), the body non-empty, well-formed UTF-8 JSON no
// deeper than kMaxJsonDepth, and an object (400 otherwise).
Result<boost::json::object> ParseJsonObject(const Request& request);

// Reads members of a request object, remembering the first problem. Typical use:
//   FieldReader in(body, "");
//   in.AllowOnly({"sql", "params"});
//   auto sql = in.String("sql", Required::kYes);
//   if (in.failed()) return ErrorResponse(in.error());
class FieldReader {
 public:
  enum class Required { kNo, kYes };

  // `path` prefixes member names in messages ("queries[3].").
  FieldReader(const boost::json::object& object, std::string path = {});

  void AllowOnly(std::initializer_list<std::string_view> names);
  std::optional<std::string_view> String(std::string_view name, Required required = Required::kNo);
  std::optional<std::int64_t> Integer(std::string_view name, std::int64_t min, std::int64_t max,
                                      Required required = Required::kNo);
  std::optional<bool> Bool(std::string_view name, Required required = Required::kNo);
  const boost::json::array* Array(std::string_view name, Required required = Required::kNo);
  const boost::json::object* Object(std::string_view name, Required required = Required::kNo);
  // Present, whatever its type (null included).
  bool Has(std::string_view name) const { return object_.contains(name); }

  void Fail(std::string message);
  bool failed() const { return error_.has_value(); }
  const Error& error() const { return *error_; }

 private:
  const boost::json::value* Lookup(std::string_view name, Required required, const char* expected);
  std::string Name(std::string_view name) const { return path_ + std::string(name); }

  const boost::json::object& object_;
  std::string path_;
  std::optional<Error> error_;
};

}  // namespace coredb::http
