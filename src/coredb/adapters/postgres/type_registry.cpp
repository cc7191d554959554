#include "coredb/adapters/postgres/type_registry.hpp"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <utility>

namespace coredb::pg {

namespace {

struct BuiltinType {
  Oid oid;
  const char* name;
  Oid element;
  char category;
  char delimiter;
};

// pg_type of PostgreSQL 15 (generated from a live server with
//   SELECT oid, typname, typelem, typcategory, typdelim FROM pg_type
//   WHERE oid < 10000 AND typtype <> 'c'  -- plus arrays whose element is in the set
// and checked against the server by tests/integration/result_json_test.cpp).
constexpr BuiltinType kBuiltinTypes[] = {
    {16, "bool", 0, 'B', ','},
    {17, "bytea", 0, 'U', ','},
    {18, "char", 0, 'Z', ','},
    {19, "name", 18, 'S', ','},
    {20, "int8", 0, 'N', ','},
    {21, "int2", 0, 'N', ','},
    {22, "int2vector", 21, 'A', ','},
    {23, "int4", 0, 'N', ','},
    {24, "regproc", 0, 'N', ','},
    {25, "text", 0, 'S', ','},
    {26, "oid", 0, 'N', ','},
    {27, "tid", 0, 'U', ','},
    {28, "xid", 0, 'U', ','},
    {29, "cid", 0, 'U', ','},
    {30, "oidvector", 26, 'A', ','},
    {32, "pg_ddl_command", 0, 'P', ','},
    {114, "json", 0, 'U', ','},
    {142, "xml", 0, 'U', ','},
    {143, "_xml", 142, 'A', ','},
    {194, "pg_node_tree", 0, 'Z', ','},
    {199, "_json", 114, 'A', ','},
    {269, "table_am_handler", 0, 'P', ','},
    {271, "_xid8", 5069, 'A', ','},
    {325, "index_am_handler", 0, 'P', ','},
    {600, "point", 701, 'G', ','},
    {601, "lseg", 600, 'G', ','},
    {602, "path", 0, 'G', ','},
    {603, "box", 600, 'G', ';'},
    {604, "polygon", 0, 'G', ','},
    {628, "line", 701, 'G', ','},
    {629, "_line", 628, 'A', ','},
    {650, "cidr", 0, 'I', ','},
    {651, "_cidr", 650, 'A', ','},
    {700, "float4", 0, 'N', ','},
    {701, "float8", 0, 'N', ','},
    {705, "unknown", 0, 'X', ','},
    {718, "circle", 0, 'G', ','},
    {719, "_circle", 718, 'A', ','},
    {774, "macaddr8", 0, 'U', ','},
    {775, "_macaddr8", 774, 'A', ','},
    {790, "money", 0, 'N', ','},
    {791, "_money", 790, 'A', ','},
    {829, "macaddr", 0, 'U', ','},
    {869, "inet", 0, 'I', ','},
    {1000, "_bool", 16, 'A', ','},
    {1001, "_bytea", 17, 'A', ','},
    {1002, "_char", 18, 'A', ','},
    {1003, "_name", 19, 'A', ','},
    {1005, "_int2", 21, 'A', ','},
    {1006, "_int2vector", 22, 'A', ','},
    {1007, "_int4", 23, 'A', ','},
    {1008, "_regproc", 24, 'A', ','},
    {1009, "_text", 25, 'A', ','},
    {1010, "_tid", 27, 'A', ','},
    {1011, "_xid", 28, 'A', ','},
    {1012, "_cid", 29, 'A', ','},
    {1013, "_oidvector", 30, 'A', ','},
    {1014, "_bpchar", 1042, 'A', ','},
    {1015, "_varchar", 1043, 'A', ','},
    {1016, "_int8", 20, 'A', ','},
    {1017, "_point", 600, 'A', ','},
    {1018, "_lseg", 601, 'A', ','},
    {1019, "_path", 602, 'A', ','},
    {1020, "_box", 603, 'A', ';'},
    {1021, "_float4", 700, 'A', ','},
    {1022, "_float8", 701, 'A', ','},
    {1027, "_polygon", 604, 'A', ','},
    {1028, "_oid", 26, 'A', ','},
    {1033, "aclitem", 0, 'U', ','},
    {1034, "_aclitem", 1033, 'A', ','},
    {1040, "_macaddr", 829, 'A', ','},
    {1041, "_inet", 869, 'A', ','},
    {1042, "bpchar", 0, 'S', ','},
    {1043, "varchar", 0, 'S', ','},
    {1082, "date", 0, 'D', ','},
    {1083, "time", 0, 'D', ','},
    {1114, "timestamp", 0, 'D', ','},
    {1115, "_timestamp", 1114, 'A', ','},
    {1182, "_date", 1082, 'A', ','},
    {1183, "_time", 1083, 'A', ','},
    {1184, "timestamptz", 0, 'D', ','},
    {1185, "_timestamptz", 1184, 'A', ','},
    {1186, "interval", 0, 'T', ','},
    {1187, "_interval", 1186, 'A', ','},
    {1231, "_numeric", 1700, 'A', ','},
    {1263, "_cstring", 2275, 'A', ','},
    {1266, "timetz", 0, 'D', ','},
    {1270, "_timetz", 1266, 'A', ','},
    {1560, "bit", 0, 'V', ','},
    {1561, "_bit", 1560, 'A', ','},
    {1562, "varbit", 0, 'V', ','},
    {1563, "_varbit", 1562, 'A', ','},
    {1700, "numeric", 0, 'N', ','},
    {1790, "refcursor", 0, 'U', ','},
    {2201, "_refcursor", 1790, 'A', ','},
    {2202, "regprocedure", 0, 'N', ','},
    {2203, "regoper", 0, 'N', ','},
    {2204, "regoperator", 0, 'N', ','},
    {2205, "regclass", 0, 'N', ','},
    {2206, "regtype", 0, 'N', ','},
    {2207, "_regprocedure", 2202, 'A', ','},
    {2208, "_regoper", 2203, 'A', ','},
    {2209, "_regoperator", 2204, 'A', ','},
    {2210, "_regclass", 2205, 'A', ','},
    {2211, "_regtype", 2206, 'A', ','},
    {2249, "record", 0, 'P', ','},
    {2275, "cstring", 0, 'P', ','},
    {2276, "any", 0, 'P', ','},
    {2277, "anyarray", 0, 'P', ','},
    {2278, "void", 0, 'P', ','},
    {2279, "trigger", 0, 'P', ','},
    {2280, "language_handler", 0, 'P', ','},
    {2281, "internal", 0, 'P', ','},
    {2283, "anyelement", 0, 'P', ','},
    {2287, "_record", 2249, 'P', ','},
    {2776, "anynonarray", 0, 'P', ','},
    {2949, "_txid_snapshot", 2970, 'A', ','},
    {2950, "uuid", 0, 'U', ','},
    {2951, "_uuid", 2950, 'A', ','},
    {2970, "txid_snapshot", 0, 'U', ','},
    {3115, "fdw_handler", 0, 'P', ','},
    {3220, "pg_lsn", 0, 'U', ','},
    {3221, "_pg_lsn", 3220, 'A', ','},
    {3310, "tsm_handler", 0, 'P', ','},
    {3361, "pg_ndistinct", 0, 'Z', ','},
    {3402, "pg_dependencies", 0, 'Z', ','},
    {3500, "anyenum", 0, 'P', ','},
    {3614, "tsvector", 0, 'U', ','},
    {3615, "tsquery", 0, 'U', ','},
    {3642, "gtsvector", 0, 'U', ','},
    {3643, "_tsvector", 3614, 'A', ','},
    {3644, "_gtsvector", 3642, 'A', ','},
    {3645, "_tsquery", 3615, 'A', ','},
    {3734, "regconfig", 0, 'N', ','},
    {3735, "_regconfig", 3734, 'A', ','},
    {3769, "regdictionary", 0, 'N', ','},
    {3770, "_regdictionary", 3769, 'A', ','},
    {3802, "jsonb", 0, 'U', ','},
    {3807, "_jsonb", 3802, 'A', ','},
    {3831, "anyrange", 0, 'P', ','},
    {3838, "event_trigger", 0, 'P', ','},
    {3904, "int4range", 0, 'R', ','},
    {3905, "_int4range", 3904, 'A', ','},
    {3906, "numrange", 0, 'R', ','},
    {3907, "_numrange", 3906, 'A', ','},
    {3908, "tsrange", 0, 'R', ','},
    {3909, "_tsrange", 3908, 'A', ','},
    {3910, "tstzrange", 0, 'R', ','},
    {3911, "_tstzrange", 3910, 'A', ','},
    {3912, "daterange", 0, 'R', ','},
    {3913, "_daterange", 3912, 'A', ','},
    {3926, "int8range", 0, 'R', ','},
    {3927, "_int8range", 3926, 'A', ','},
    {4072, "jsonpath", 0, 'U', ','},
    {4073, "_jsonpath", 4072, 'A', ','},
    {4089, "regnamespace", 0, 'N', ','},
    {4090, "_regnamespace", 4089, 'A', ','},
    {4096, "regrole", 0, 'N', ','},
    {4097, "_regrole", 4096, 'A', ','},
    {4191, "regcollation", 0, 'N', ','},
    {4192, "_regcollation", 4191, 'A', ','},
    {4451, "int4multirange", 0, 'R', ','},
    {4532, "nummultirange", 0, 'R', ','},
    {4533, "tsmultirange", 0, 'R', ','},
    {4534, "tstzmultirange", 0, 'R', ','},
    {4535, "datemultirange", 0, 'R', ','},
    {4536, "int8multirange", 0, 'R', ','},
    {4537, "anymultirange", 0, 'P', ','},
    {4538, "anycompatiblemultirange", 0, 'P', ','},
    {4600, "pg_brin_bloom_summary", 0, 'Z', ','},
    {4601, "pg_brin_minmax_multi_summary", 0, 'Z', ','},
    {5017, "pg_mcv_list", 0, 'Z', ','},
    {5038, "pg_snapshot", 0, 'U', ','},
    {5039, "_pg_snapshot", 5038, 'A', ','},
    {5069, "xid8", 0, 'U', ','},
    {5077, "anycompatible", 0, 'P', ','},
    {5078, "anycompatiblearray", 0, 'P', ','},
    {5079, "anycompatiblenonarray", 0, 'P', ','},
    {5080, "anycompatiblerange", 0, 'P', ','},
    {6150, "_int4multirange", 4451, 'A', ','},
    {6151, "_nummultirange", 4532, 'A', ','},
    {6152, "_tsmultirange", 4533, 'A', ','},
    {6153, "_tstzmultirange", 4534, 'A', ','},
    {6155, "_datemultirange", 4535, 'A', ','},
    {6157, "_int8multirange", 4536, 'A', ','},
};

bool ParseOid(const char* text, int length, Oid& out) {
  const char* end = text + length;
  auto [ptr, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

TypeRegistry::TypeRegistry() {
  types_.reserve(std::size(kBuiltinTypes) + 16);
  for (const BuiltinType& row : kBuiltinTypes) {
    types_.emplace(row.oid, TypeInfo{row.name, row.element, row.category, row.delimiter});
  }
}

const TypeInfo* TypeRegistry::Find(Oid type) const {
  auto it = types_.find(type);
  return it == types_.end() ? nullptr : &it->second;
}

void TypeRegistry::Add(Oid type, TypeInfo info) { types_.insert_or_assign(type, std::move(info)); }

std::vector<Oid> TypeRegistry::Missing(const PGresult* res) const {
  std::vector<Oid> missing;
  if (res == nullptr) return missing;
  auto add = [&missing](Oid type) {
    if (type != 0 && std::find(missing.begin(), missing.end(), type) == missing.end()) {
      missing.push_back(type);
    }
  };
  const int columns = PQnfields(res);
  for (int c = 0; c < columns; ++c) {
    const Oid type = PQftype(res, c);
    const TypeInfo* info = Find(type);
    if (info == nullptr) {
      add(type);
    } else if (info->category == 'A' && info->element != 0 && Find(info->element) == nullptr) {
      add(info->element);
    }
  }
  return missing;
}

std::string_view TypeRegistry::LookupSql() {
  return "SELECT t.oid, t.typname, t.typelem, t.typcategory, t.typdelim "
         "FROM pg_catalog.pg_type t "
         "WHERE t.oid = ANY($1::oid[]) "
         "OR t.oid IN (SELECT a.typelem FROM pg_catalog.pg_type a "
         "WHERE a.oid = ANY($1::oid[]) AND a.typelem <> 0)";
}

std::string TypeRegistry::LookupParam(const std::vector<Oid>& oids) {
  std::string out;
  out.reserve(2 + oids.size() * 11);
  out.push_back('{');
  char buf[16];
  for (std::size_t i = 0; i < oids.size(); ++i) {
    if (i != 0) out.push_back(',');
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, oids[i]);
    out.append(buf, ptr);
  }
  out.push_back('}');
  return out;
}

void TypeRegistry::AddFromLookup(const PGresult* res) {
  if (res == nullptr || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) < 5) return;
  const int rows = PQntuples(res);
  for (int r = 0; r < rows; ++r) {
    Oid type = 0;
    Oid element = 0;
    if (PQgetisnull(res, r, 0) || PQgetisnull(res, r, 1) ||
        !ParseOid(PQgetvalue(res, r, 0), PQgetlength(res, r, 0), type) ||
        !ParseOid(PQgetvalue(res, r, 2), PQgetlength(res, r, 2), element)) {
      continue;
    }
    TypeInfo info;
    info.name.assign(PQgetvalue(res, r, 1), static_cast<std::size_t>(PQgetlength(res, r, 1)));
    info.element = element;
    if (PQgetlength(res, r, 3) == 1) info.category = PQgetvalue(res, r, 3)[0];
    if (PQgetlength(res, r, 4) == 1) info.delimiter = PQgetvalue(res, r, 4)[0];
    Add(type, std::move(info));
  }
}

}  // namespace coredb::pg
