#include "coredb/clients/client_store.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>

namespace coredb::clients {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

// What a client role must not be able to do, read in the same query as its other properties:
// run procedural code (a DO block) or create functions (in a schema, or temporary ones). Either
// lets one statement switch to the service's own user, act with its privileges, and switch back
// before the check that follows every statement (pg_backend.cpp) looks.
constexpr const char* kRoleCheckSql =
    "SELECT r.rolsuper, pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER') AS member, "
    "(SELECT pg_catalog.string_agg(l.lanname::text, ', ' ORDER BY l.lanname) FROM pg_catalog.pg_language l "
    " WHERE l.laninline OPERATOR(pg_catalog.<>) 0 AND pg_catalog.has_language_privilege(r.oid, l.oid, 'USAGE')) "
    " AS languages, "
    "pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'TEMPORARY') AS temporary, "
    "(SELECT pg_catalog.string_agg(n.nspname::text, ', ' ORDER BY n.nspname) FROM pg_catalog.pg_namespace n "
    " WHERE pg_catalog.has_schema_privilege(r.oid, n.oid, 'CREATE')) AS schemas, "
    "pg_catalog.current_database() AS database, r.rolname::text AS rolname "
    "FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])";

// Why `role` (a row of kRoleCheckSql) could escape the per-statement role check, with what to
// revoke; nullopt when it cannot.
std::optional<std::string> RoleSwitchHazard(const std::string& role, const json::object& row) {
  auto text = [&row](const char* key) {
    const json::value* v = row.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
  };
  const std::string languages = text("languages"), schemas = text("schemas"), database = text("database");
  const json::value* temporary = row.if_contains("temporary");
  const bool temp = temporary != nullptr && temporary->is_bool() && temporary->as_bool();
  if (languages.empty() && schemas.empty() && !temp) return std::nullopt;
  std::string can, fix;
  if (!languages.empty()) {
    can += " it may run " + languages + " code (DO blocks);";
    fix += " REVOKE USAGE ON LANGUAGE " + languages + " FROM PUBLIC (and from \"" + role +
           "\"), then GRANT it back to the service's user;";
  }
  if (temp) {
    can += " it may create temporary functions;";
    fix += " REVOKE TEMPORARY ON DATABASE " + database + " FROM PUBLIC (and from \"" + role + "\");";
  }
  if (!schemas.empty()) {
    can += " it may create functions in schema(s) " + schemas + ";";
    fix += " REVOKE CREATE ON SCHEMA " + schemas + " FROM PUBLIC (and from \"" + role + "\");";
  }
  return "'pgRole': \"" + role +
         "\" could switch to the service's own PostgreSQL user and back inside one statement, which the "
         "service's per-statement role check cannot see:" +
         can + " as a superuser:" + fix + " (README.md, \"Client roles\")";
}

constexpr std::string_view kColumns =
    "SELECT id::text AS id, name, scopes, token_prefix, token_hash, quota_per_minute, quota_per_day, pg_role, "
    "cache_prefixes, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS created_at, "
    "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS revoked_at FROM coredb_clients ";

std::string Text(const json::object& row, std::string_view name) {
  const json::value* v = row.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<std::int64_t> Int(const json::object& row, std::string_view name) {
  const json::value* v = row.if_contains(name);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_string()) {
    // bigint may come back as a string when it does not fit a double exactly
    try {
      return std::stoll(std::string(v->as_string()));
    } catch (...) {
      return std::nullopt;
    }
  }
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return std::nullopt;
}

std::vector<std::string> Strings(const json::object& row, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = row.if_contains(name);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& e : v->as_array()) {
    if (e.is_string()) out.emplace_back(e.as_string());
  }
  return out;
}

ClientRecord FromRow(const json::object& row) {
  ClientRecord c;
  c.id = Text(row, "id");
  c.name = Text(row, "name");
  auto scopes = ParseScopes(Strings(row, "scopes"));
  c.scopes = scopes ? *scopes : 0;
  c.token_prefix = Text(row, "token_prefix");
  c.token_hash = Text(row, "token_hash");
  c.quota_per_minute = Int(row, "quota_per_minute");
  c.quota_per_day = Int(row, "quota_per_day");
  c.pg_role = Text(row, "pg_role");
  c.cache_prefixes = Strings(row, "cache_prefixes");
  c.created_at = Text(row, "created_at");
  if (auto revoked = Text(row, "revoked_at"); !revoked.empty()) c.revoked_at = revoked;
  return c;
}

json::value NullableInt(const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

json::array StringArray(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(json::string_view(s));
  return a;
}

}  // namespace

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

awaitable<Result<std::vector<ClientRecord>>> ClientStore::Select(std::string_view where, const json::array* params) {
  const std::string sql = std::string(kColumns) + std::string(where);
  const SqlStatement statement{sql, params, RowMode::kObject, timeout_};
  auto outcome = co_await sql_.Run(statement);
  if (!outcome) co_return outcome.error();
  std::vector<ClientRecord> out;
  if (const json::value* rows = outcome->body.if_contains("rows"); rows != nullptr && rows->is_array()) {
    for (const auto& row : rows->as_array()) {
      if (row.is_object()) out.push_back(FromRow(row.as_object()));
    }
  }
  co_return out;
}

awaitable<Result<CreatedClient>> ClientStore::Create(const ClientSpec& spec) {
  if (!spec.pg_role.empty()) {
    json::array role_params;  // one parameter: an array of one role name
    role_params.emplace_back(json::array{json::string_view(spec.pg_role)});
    const SqlStatement check{kRoleCheckSql, &role_params, RowMode::kObject, timeout_};
    auto role = co_await sql_.Run(check);
    if (!role) co_return role.error();
    const json::array& rows = role->body.at("rows").as_array();
    if (rows.empty()) {
      co_return MakeError(ErrorCode::kInvalidRequest, "'pgRole': PostgreSQL has no role \"" + spec.pg_role + "\"");
    }
    const json::object& r = rows.front().as_object();
    if (r.at("rolsuper").is_bool() && r.at("rolsuper").as_bool()) {
      co_return MakeError(ErrorCode::kInvalidRequest, "'pgRole': \"" + spec.pg_role +
                                                          "\" is a superuser role; a client role must have "
                                                          "only the privileges its client needs");
    }
    if (!(r.at("member").is_bool() && r.at("member").as_bool())) {
      co_return MakeError(ErrorCode::kInvalidRequest,
                          "'pgRole': the service's own PostgreSQL user is not a member of \"" + spec.pg_role +
                              "\", so it could not SET ROLE to it (GRANT " + spec.pg_role + " TO <service user>)");
    }
    if (auto hazard = RoleSwitchHazard(spec.pg_role, r)) co_return MakeError(ErrorCode::kInvalidRequest, *hazard);
  }
  NewToken token = GenerateToken();
  json::array scope_names = StringArray(ScopeNames(spec.scopes));
  const json::array params{json::string_view(spec.name),
                           scope_names,
                           json::string_view(token.hash),
                           json::string_view(token.prefix),
                           NullableInt(spec.quota_per_minute),
                           NullableInt(spec.quota_per_day),
                           spec.pg_role.empty() ? json::value(nullptr) : json::value(json::string_view(spec.pg_role)),
                           StringArray(spec.cache_prefixes)};
  const std::string sql =
      "WITH c AS (INSERT INTO coredb_clients (name, scopes, token_hash, token_prefix, quota_per_minute, "
      "quota_per_day, pg_role, cache_prefixes) VALUES ($1, $2::text[], $3, $4, $5::bigint, $6::bigint, $7, "
      "$8::text[]) RETURNING *) " +
      std::string(kColumns).replace(std::string(kColumns).find("FROM coredb_clients"), 19, "FROM c");
  const SqlStatement insert{sql, &params, RowMode::kObject, timeout_};
  auto outcome = co_await sql_.Run(insert);
  if (!outcome) {
    Error error = outcome.error();
    if (error.code == ErrorCode::kConstraintViolation && error.pg &&
        error.pg->constraint == "coredb_clients_active_name_key") {
      co_return MakeError(ErrorCode::kConflict,
                          "a client named \"" + spec.name + "\" exists already (revoke it first)");
    }
    co_return error;
  }
  const json::array& rows = outcome->body.at("rows").as_array();
  if (rows.empty()) co_return MakeError(ErrorCode::kInternal, "insert into coredb_clients returned no row");
  co_return CreatedClient{FromRow(rows.front().as_object()), std::move(token.token)};
}

awaitable<Result<std::vector<ClientRecord>>> ClientStore::List() {
  auto rows = co_await Select("ORDER BY created_at, id", nullptr);
  co_return rows;
}

awaitable<Result<std::vector<ClientRecord>>> ClientStore::LoadActive() {
  auto rows = co_await Select("WHERE revoked_at IS NULL", nullptr);
  co_return rows;
}

awaitable<Result<std::unordered_map<std::string, std::string>>> ClientStore::RoleHazards(
    const std::vector<std::string>& roles) {
  std::unordered_map<std::string, std::string> out;
  if (roles.empty()) co_return out;
  json::array names;
  for (const std::string& role : roles) names.emplace_back(json::string_view(role));
  json::array params;  // one parameter: the array of role names
  params.emplace_back(std::move(names));
  const SqlStatement check{kRoleCheckSql, &params, RowMode::kObject, timeout_};
  auto outcome = co_await sql_.Run(check);
  if (!outcome) co_return outcome.error();
  for (const auto& row : outcome->body.at("rows").as_array()) {
    const json::object& r = row.as_object();
    const std::string role = Text(r, "rolname");
    if (auto hazard = RoleSwitchHazard(role, r)) out.emplace(role, std::move(*hazard));
  }
  co_return out;
}

awaitable<Result<ClientRecord>> ClientStore::Revoke(const std::string& id) {
  if (!IsUuid(id)) co_return MakeError(ErrorCode::kNotFound, "no client with this id");
  const json::array params{json::string_view(id)};
  const std::string sql =
      "WITH c AS (UPDATE coredb_clients SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1::uuid "
      "RETURNING *) " +
      std::string(kColumns).replace(std::string(kColumns).find("FROM coredb_clients"), 19, "FROM c");
  const SqlStatement update{sql, &params, RowMode::kObject, timeout_};
  auto outcome = co_await sql_.Run(update);
  if (!outcome) co_return outcome.error();
  const json::array& rows = outcome->body.at("rows").as_array();
  if (rows.empty()) co_return MakeError(ErrorCode::kNotFound, "no client with this id");
  co_return FromRow(rows.front().as_object());
}

}  // namespace coredb::clients
