// A PostgreSQL result (text format, produced under the service's session settings: TimeZone=UTC,
// DateStyle=ISO,MDY, IntervalStyle=postgres, extra_float_digits=1, bytea_output=hex) → the JSON
// of a query response (API.md "Queries"):
//   { rows, rowCount, command, fields: [{name, dataType, dataTypeID}] }
// Values are decoded by type: bool → boolean; int2/int4/oid/float4/float8 → number (NaN and
// ±Infinity → "NaN"/"Infinity"/"-Infinity"); int8/numeric → string (lossless); json/jsonb →
// embedded JSON; timestamptz → RFC 3339 `...Z`; timestamp → ISO 8601 with `T`; arrays → JSON
// arrays whose elements follow their own type's rule; pgvector's vector → number array; the rest
// (and unknown OIDs) → PostgreSQL's text. Where the API is silent we follow node-postgres.
#pragma once

#include "coredb/adapters/postgres/type_registry.hpp"
#include "coredb/core/error.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <libpq-fe.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace coredb::pg {

enum class RowMode { kObject, kArray };

// `res` must be PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE, PGRES_COMMAND_OK or PGRES_EMPTY_QUERY
// (anything else is a caller bug → kInternal). Fails with kPayloadTooLarge before decoding the
// row that would take the response past `max_bytes` (an estimate of the serialized size: value
// text lengths plus punctuation and keys). Object rows are keyed by column name; with duplicate
// names the later column's value wins (node-postgres). Every value is allocated from `sp`: pass a
// monotonic resource that outlives the response to make decoding cheap.
Result<boost::json::object> ResultToJson(const PGresult* res, RowMode mode,
                                         const TypeRegistry& types, std::size_t max_bytes,
                                         boost::json::storage_ptr sp = {});

// `fields` alone: [{name, dataType, dataTypeID}]; dataType is the pg_type name (`_int4` for
// int4[]), or null when the OID is not in the registry.
boost::json::array FieldsJson(const PGresult* res, const TypeRegistry& types,
                              boost::json::storage_ptr sp = {});

// The verb of the command tag ("CREATE TABLE" → "CREATE"); empty when there is no tag.
std::string_view CommandVerb(const PGresult* res);

// One non-NULL value in text format, decoded as ResultToJson decodes a cell of type `type`.
boost::json::value DecodeText(std::string_view text, Oid type, const TypeRegistry& types,
                              boost::json::storage_ptr sp = {});

// `2024-01-02 03:04:05.123456+00` → `2024-01-02T03:04:05.123456Z` (fractional digits kept as
// printed; a non-zero offset is converted to UTC). nullopt when the text is not an AD ISO
// timestamp with offset (`infinity`, `... BC`, another DateStyle): the caller keeps the text.
std::optional<std::string> TimestamptzToRfc3339(std::string_view text);
// `2024-01-02 03:04:05.5` → `2024-01-02T03:04:05.5`; nullopt as above.
std::optional<std::string> TimestampToIso8601(std::string_view text);

}  // namespace coredb::pg
