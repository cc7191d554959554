// What the adapter knows about PostgreSQL types: name, array element, category and delimiter, by
// OID. Results are decoded from the text format by these facts (result_json.hpp) and `fields[]`
// reports the names. The builtin rows of PostgreSQL 15's pg_type are known from the start (their
// OIDs are fixed in the catalog); types whose OIDs differ per database (extensions such as
// pgvector's `vector`, enums, composites) are learned at run time:
//
//   auto missing = types.Missing(res);
//   if (!missing.empty()) {
//     run TypeRegistry::LookupSql() with $1 = TypeRegistry::LookupParam(missing), then
//     types.AddFromLookup(lookup_result);
//   }
//
// One registry per database (OIDs of extension types are per database). Not thread-safe: it
// lives on the event-loop thread like the connections that feed it.
#pragma once

#include <libpq-fe.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::pg {

struct TypeInfo {
  std::string name;      // pg_type.typname, e.g. "int4", "_int4", "vector"
  Oid element = 0;       // pg_type.typelem (0 when none)
  char category = 'U';   // pg_type.typcategory ('A' array, 'N' numeric, 'U' user, ...)
  char delimiter = ',';  // pg_type.typdelim: separates array elements (';' for box)
};

// A few OIDs the decoder dispatches on (fixed in PostgreSQL's catalog).
namespace oid {
inline constexpr Oid kBool = 16;
inline constexpr Oid kBytea = 17;
inline constexpr Oid kInt8 = 20;
inline constexpr Oid kInt2 = 21;
inline constexpr Oid kInt4 = 23;
inline constexpr Oid kText = 25;
inline constexpr Oid kOid = 26;
inline constexpr Oid kJson = 114;
inline constexpr Oid kFloat4 = 700;
inline constexpr Oid kFloat8 = 701;
inline constexpr Oid kDate = 1082;
inline constexpr Oid kTimestamp = 1114;
inline constexpr Oid kTimestamptz = 1184;
inline constexpr Oid kNumeric = 1700;
inline constexpr Oid kJsonb = 3802;
}  // namespace oid

class TypeRegistry {
 public:
  // Prepopulated with every builtin base, pseudo, range and multirange type of PostgreSQL 15
  // (OID < 10000, catalog row types excluded) and their array types.
  TypeRegistry();

  // nullptr when the OID is not known (yet).
  const TypeInfo* Find(Oid type) const;
  // Adds or replaces.
  void Add(Oid type, TypeInfo info);
  // Number of known types.
  std::size_t Size() const { return types_.size(); }

  // The distinct column type OIDs of `res` that are not known, plus the unknown element OIDs of
  // known array types, in column order. Empty when the result can be decoded as it is.
  std::vector<Oid> Missing(const PGresult* res) const;

  // SQL fetching the pg_type rows of the OIDs in $1 (an `oid[]` in text form, see LookupParam),
  // and of their element types, so an unknown array of an unknown type (an enum's `_mood`) is
  // learned in one round trip. Columns: oid, typname, typelem, typcategory, typdelim.
  static std::string_view LookupSql();
  // The text form of $1 for LookupSql: `{16385,16390}`.
  static std::string LookupParam(const std::vector<Oid>& oids);
  // Learns the rows of a successful LookupSql result (text format). Malformed rows are skipped.
  void AddFromLookup(const PGresult* res);

 private:
  std::unordered_map<Oid, TypeInfo> types_;
};

}  // namespace coredb::pg
