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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::pg {

enum class RowMode { kObject, kArray };

// The rows of one result read in single-row mode (pg::RowSink), copied out of libpq's one-row
// results as their text back to back: a result read row by row costs its bytes plus 4 bytes and
// a bit per value, not a PGresult per row.
class RowSet {
 public:
  // Appends row 0 of `one_row` (a PGRES_SINGLE_TUPLE result); every row must have as many
  // columns as the first.
  void Append(const PGresult* one_row);
  int size() const { return rows_; }
  bool IsNull(int row, int column) const { return nulls_[Cell(row, column)]; }
  std::string_view Value(int row, int column) const;

 private:
  std::size_t Cell(int row, int column) const {
    return static_cast<std::size_t>(row) * static_cast<std::size_t>(columns_) + static_cast<std::size_t>(column);
  }
  int columns_ = -1;
  int rows_ = 0;
  std::string text_;
  std::vector<std::uint32_t> ends_;  // where each value's text ends in text_
  std::vector<bool> nulls_;
};

// ResultToJson's estimate of the serialized size (value text lengths plus punctuation and keys),
// a piece at a time, so that a result read row by row can be stopped as soon as it is too big:
// `fixed` for a result with the fields of `res` (fields, punctuation), `per_row` the punctuation
// and keys every row adds, then RowValueBytes for each row's values.
struct SizeEstimate {
  std::size_t fixed = 0;
  std::size_t per_row = 0;
};
SizeEstimate EstimateShape(const PGresult* res, RowMode mode, const TypeRegistry& types);
std::size_t RowValueBytes(const PGresult* res, int row);

// `res` must be PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE, PGRES_COMMAND_OK or PGRES_EMPTY_QUERY
// (anything else is a caller bug → kInternal). Fails with kPayloadTooLarge before decoding the
// row that would take the response past `max_bytes` (SizeEstimate). Object rows are keyed by
// column name; with duplicate names the later column's value wins (node-postgres). Every value
// is allocated from `sp`: pass a monotonic resource that outlives the response to make decoding
// cheap. `estimated`, when given, receives the estimate of the whole response.
Result<boost::json::object> ResultToJson(const PGresult* res, RowMode mode,
                                         const TypeRegistry& types, std::size_t max_bytes,
                                         boost::json::storage_ptr sp = {},
                                         std::size_t* estimated = nullptr);
// The same for a result read in single-row mode: `res` (its final, row-less PGRES_TUPLES_OK)
// gives the fields and the command tag, `rows` the rows. When `res` holds rows itself (it was
// not read row by row), those are used and `rows` must be empty.
Result<boost::json::object> ResultToJson(const PGresult* res, const RowSet& rows, RowMode mode,
                                         const TypeRegistry& types, std::size_t max_bytes,
                                         boost::json::storage_ptr sp = {},
                                         std::size_t* estimated = nullptr);

// Rows as JSON text, one at a time (NDJSON streaming): each row of a result with the fields of
// `shape` (its first row, or any result of the statement) decoded as ResultToJson decodes it,
// appended to `out` as an object or array, without a newline.
class RowWriter {
 public:
  RowWriter(const PGresult* shape, RowMode mode, const TypeRegistry& types);
  ~RowWriter();
  RowWriter(const RowWriter&) = delete;
  RowWriter& operator=(const RowWriter&) = delete;
  // Row 0 of `one_row` (a PGRES_SINGLE_TUPLE result with the shape's fields).
  void Append(std::string& out, const PGresult* one_row);
  // Row `r` of `rows` (read with the shape's fields).
  void Append(std::string& out, const RowSet& rows, int r);
  // Row `r` of any source with IsNull(r, c) and Value(r, c) (result_json.cpp only).
  template <class Rows>
  void AppendRow(std::string& out, const Rows& source, int r);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ResultToJson's object as JSON text, written straight from the result (no JSON values built):
// byte for byte what ToJson(ResultToJson(...)) gives, refused past `max_bytes` on the same
// estimate. The query path answers with it (SqlStatement::text_result).
Result<std::string> ResultToJsonText(const PGresult* res, const RowSet& rows, RowMode mode, const TypeRegistry& types,
                                     std::size_t max_bytes, std::size_t* estimated = nullptr);

// `fields` alone: [{name, dataType, dataTypeID}]; dataType is the pg_type name (`_int4` for
// int4[]), or null when the OID is not in the registry.
boost::json::array FieldsJson(const PGresult* res, const TypeRegistry& types,
                              boost::json::storage_ptr sp = {});

// The same array as JSON text, appended to `out`.
void AppendFieldsJson(std::string& out, const PGresult* res, const TypeRegistry& types);

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
