#include "coredb/http/handlers/clients_handler.hpp"

#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

namespace coredb::http {

namespace json = boost::json;
using boost::asio::awaitable;

namespace {

// The strings of an optional array member; 400 naming the member when an element is not a string.
Result<std::vector<std::string>> StringList(const json::array* array, const char* member) {
  std::vector<std::string> out;
  if (array == nullptr) return out;
  for (std::size_t i = 0; i < array->size(); ++i) {
    if (!(*array)[i].is_string()) {
      return MakeError(ErrorCode::kInvalidRequest,
                       std::string("'") + member + "[" + std::to_string(i) + "]' must be a string");
    }
    out.emplace_back((*array)[i].as_string());
  }
  return out;
}

Result<clients::ClientSpec> ParseClientSpec(const json::object& body) {
  FieldReader in(body);
  in.AllowOnly({"name", "scopes", "quotaPerMinute", "quotaPerDay", "pgRole", "cachePrefixes"});
  clients::ClientSpec spec;
  auto name = in.String("name", FieldReader::Required::kYes);
  const json::array* scopes = in.Array("scopes", FieldReader::Required::kYes);
  spec.quota_per_minute = in.Integer("quotaPerMinute", 1, clients::kMaxQuotaPerMinute);
  spec.quota_per_day = in.Integer("quotaPerDay", 1, clients::kMaxQuotaPerDay);
  auto role = in.String("pgRole");
  const json::array* prefixes = in.Array("cachePrefixes");
  if (in.failed()) return in.error();
  spec.name = std::string(*name);
  if (auto ok = clients::CheckName(spec.name); !ok) return ok.error();
  auto scope_names = StringList(scopes, "scopes");
  if (!scope_names) return scope_names.error();
  auto bits = clients::ParseScopes(*scope_names);
  if (!bits) return bits.error();
  spec.scopes = *bits;
  if (role) {
    spec.pg_role = std::string(*role);
    if (auto ok = clients::CheckPgRole(spec.pg_role); !ok) return ok.error();
  }
  auto prefix_list = StringList(prefixes, "cachePrefixes");
  if (!prefix_list) return prefix_list.error();
  spec.cache_prefixes = std::move(*prefix_list);
  if (auto ok = clients::CheckCachePrefixes(spec.cache_prefixes); !ok) return ok.error();
  return spec;
}

}  // namespace

json::object ClientJson(const clients::ClientRecord& c) {
  json::array scopes;
  for (const auto& s : clients::ScopeNames(c.scopes)) scopes.emplace_back(json::string_view(s));
  json::array prefixes;
  for (const auto& p : c.cache_prefixes) prefixes.emplace_back(json::string_view(p));
  json::object o{{"id", c.id},
                 {"name", c.name},
                 {"scopes", std::move(scopes)},
                 {"tokenPrefix", c.token_prefix},
                 {"quotaPerMinute", c.quota_per_minute ? json::value(*c.quota_per_minute) : json::value(nullptr)},
                 {"quotaPerDay", c.quota_per_day ? json::value(*c.quota_per_day) : json::value(nullptr)},
                 {"pgRole", c.pg_role.empty() ? json::value(nullptr) : json::value(json::string_view(c.pg_role))},
                 {"cachePrefixes", std::move(prefixes)},
                 {"createdAt", c.created_at},
                 {"revokedAt", c.revoked_at ? json::value(json::string_view(*c.revoked_at)) : json::value(nullptr)}};
  return o;
}

void RegisterClientRoutes(Router& router, clients::ClientRegistry& registry) {
  clients::ClientRegistry* reg = &registry;

  router.Add(beast_http::verb::post, "/api/v1/clients", Access::kAdmin,
             [reg](RequestContext& ctx) -> awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               auto spec = ParseClientSpec(*body);
               if (!spec) co_return ErrorResponse(spec.error());
               auto created = co_await reg->Create(*spec);
               if (!created) co_return ErrorResponse(created.error());
               json::object out = ClientJson(created->client);
               out["token"] = created->token;  // the only time it is ever shown
               Response r = JsonResponse(201, out);
               r.headers.emplace_back("Cache-Control", "no-store");
               co_return r;
             });

  router.Add(beast_http::verb::get, "/api/v1/clients", Access::kAdmin, [reg](RequestContext&) -> awaitable<Response> {
    auto list = co_await reg->List();
    if (!list) co_return ErrorResponse(list.error());
    json::array clients;
    for (const auto& c : *list) clients.emplace_back(ClientJson(c));
    co_return JsonResponse(200, json::object{{"clients", std::move(clients)}});
  });

  router.Add(beast_http::verb::delete_, "/api/v1/clients/{id}", Access::kAdmin,
             [reg](RequestContext& ctx) -> awaitable<Response> {
               const std::string id(ctx.PathParam("id"));
               if (id == clients::kBootstrapAdminId) {
                 co_return ErrorResponse(MakeError(
                     ErrorCode::kForbidden,
                     "the bootstrap admin token comes from COREDB_ADMIN_TOKEN and cannot be revoked through the "
                     "API: change the variable and restart the service"));
               }
               auto revoked = co_await reg->Revoke(id);
               if (!revoked) co_return ErrorResponse(revoked.error());
               json::object out = ClientJson(*revoked);
               out["revoked"] = true;
               co_return JsonResponse(200, out);
             });
}

}  // namespace coredb::http
