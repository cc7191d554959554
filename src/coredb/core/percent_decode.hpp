// Percent-decoding (RFC 3986) for URL path segments, query components and URL userinfo.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coredb {

// nullopt when an escape is malformed or truncated ("%4", "%zz").
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space = false);

}  // namespace coredb
