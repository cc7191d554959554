// Serializes Boost.JSON values the way JavaScript clients expect numbers to look: shortest
// round-trip form in plain notation where it is short ("0.1", "8.255", "1e+300"), where
// Boost.JSON 1.81 always writes scientific notation ("1E-1"). Strings are escaped per RFC 8259.
#pragma once

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace coredb {

// Appends `s` escaped as the inside of a JSON string (no quotes).
void AppendEscaped(std::string& out, std::string_view s);
void AppendJson(std::string& out, const boost::json::value& value);
std::string ToJson(const boost::json::value& value);

}  // namespace coredb
