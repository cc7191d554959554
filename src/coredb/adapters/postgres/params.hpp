// JSON request parameters → PostgreSQL text-format parameters (API.md "Queries"). The statement
// is sent with paramTypes NULL, so the server infers each parameter's type from its use and
// parses the text we send:
//   null → NULL; true/false → "true"/"false"; integers → exact decimal; doubles → the shortest
//   text that parses back to the same double; strings → as is; arrays → a PostgreSQL array
//   literal (nested arrays → multidimensional); objects → JSON text.
// Input PostgreSQL would only reject later with a vaguer message (a NUL in a string, ragged or
// too deep arrays, too many parameters) is refused here as kInvalidRequest naming the parameter.
#pragma once

#include "coredb/core/error.hpp"

#include <boost/json/array.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace coredb::pg {

// The protocol's limit: Bind carries the parameter count in 16 bits.
constexpr std::size_t kMaxParams = 65535;

// nullopt is SQL NULL. The strings are what goes into PQsendQueryParams' paramValues.
Result<std::vector<std::optional<std::string>>> EncodeParams(const boost::json::array& params);

}  // namespace coredb::pg
