#include "coredb/http/handlers/vector_handler.hpp"

#include "coredb/http/json_body.hpp"
#include "coredb/http/response.hpp"

namespace coredb::http {

namespace {

using boost::asio::awaitable;
namespace json = boost::json;

Error Needs(std::string_view scope, std::string_view what) {
  return Error(ErrorCode::kForbidden, std::string(what) + " needs the " + std::string(scope) + " scope");
}

json::object CollectionJson(const vectors::CollectionInfo& c) {
  json::object o{{"name", c.name},
                 {"dimension", c.dimension},
                 {"metric", vectors::MetricName(c.metric)},
                 {"index", c.indexed ? "hnsw" : "none"},
                 {"m", c.options.m},
                 {"efConstruction", c.options.ef_construction},
                 {"efSearch", c.options.ef_search},
                 {"createdAt", c.created_at}};
  if (c.count) o["count"] = *c.count;
  return o;
}

}  // namespace

void RegisterVectorRoutes(Router& router, vectors::VectorStore& store) {
  auto* s = &store;
  using Ctx = RequestContext;

  router.Add(
      beast_http::verb::post, "/api/v1/vectors/collections", Access::kAuthenticated,
      [s](Ctx& ctx) -> awaitable<Response> {
        if (!ctx.principal.Has(Scope::kWrite) && !ctx.principal.Has(Scope::kAdmin)) {
          co_return ErrorResponse(Needs("write", "creating a collection"));
        }
        auto body = ParseJsonObject(ctx.request);
        if (!body) co_return ErrorResponse(body.error());
        FieldReader in(*body);
        in.AllowOnly({"name", "dimension", "metric", "m", "efConstruction", "efSearch"});
        auto name = in.String("name", FieldReader::Required::kYes);
        auto dimension = in.Integer("dimension", 1, vectors::kMaxDimension, FieldReader::Required::kYes);
        auto metric_name = in.String("metric", FieldReader::Required::kYes);
        auto m = in.Integer("m", 2, 100, FieldReader::Required::kNo);
        auto ef_construction = in.Integer("efConstruction", 4, 1000, FieldReader::Required::kNo);
        auto ef_search = in.Integer("efSearch", 1, vectors::kMaxEfSearch, FieldReader::Required::kNo);
        if (in.failed()) co_return ErrorResponse(in.error());
        auto metric = vectors::ParseMetric(*metric_name);
        if (!metric) {
          co_return ErrorResponse(Error(ErrorCode::kInvalidRequest, "unknown metric '" + std::string(*metric_name) +
                                                                        "' (expected cosine, l2 or ip)"));
        }
        vectors::IndexOptions options;
        if (m) options.m = *m;
        if (ef_construction) options.ef_construction = *ef_construction;
        if (ef_search) options.ef_search = *ef_search;
        auto created = co_await s->CreateCollection(std::string(*name), *dimension, *metric, options);
        if (!created) co_return ErrorResponse(created.error());
        co_return JsonResponse(201, CollectionJson(*created));
      });

  router.Add(beast_http::verb::get, "/api/v1/vectors/collections", Access::kAuthenticated,
             [s](Ctx&) -> awaitable<Response> {
               auto listed = co_await s->ListCollections();
               if (!listed) co_return ErrorResponse(listed.error());
               json::array collections;
               for (const auto& c : *listed) collections.push_back(CollectionJson(c));
               co_return JsonResponse(200, json::object{{"collections", std::move(collections)}});
             });

  router.Add(beast_http::verb::delete_, "/api/v1/vectors/collections/{name}", Access::kAuthenticated,
             [s](Ctx& ctx) -> awaitable<Response> {
               if (!ctx.principal.Has(Scope::kAdmin)) co_return ErrorResponse(Needs("admin", "dropping a collection"));
               std::string name(ctx.PathParam("name"));
               auto dropped = co_await s->DropCollection(name);
               if (!dropped) co_return ErrorResponse(dropped.error());
               co_return JsonResponse(200, json::object{{"dropped", true}, {"name", name}});
             });

  router.Add(beast_http::verb::post, "/api/v1/vectors/{collection}/upsert", Access::kAuthenticated,
             [s](Ctx& ctx) -> awaitable<Response> {
               if (!ctx.principal.Has(Scope::kWrite) && !ctx.principal.Has(Scope::kAdmin)) {
                 co_return ErrorResponse(Needs("write", "upserting vectors"));
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"items"});
               const json::array* items = in.Array("items", FieldReader::Required::kYes);
               if (in.failed()) co_return ErrorResponse(in.error());
               auto upserted = co_await s->Upsert(std::string(ctx.PathParam("collection")), *items);
               if (!upserted) co_return ErrorResponse(upserted.error());
               co_return JsonResponse(200, json::object{{"upserted", *upserted}});
             });

  router.Add(beast_http::verb::post, "/api/v1/vectors/{collection}/search", Access::kAuthenticated,
             [s](Ctx& ctx) -> awaitable<Response> {
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"embedding", "topK", "filter", "efSearch"});
               vectors::SearchRequest request;
               request.embedding =
                   in.Array("embedding", FieldReader::Required::kYes) != nullptr ? &body->at("embedding") : nullptr;
               if (auto k = in.Integer("topK", 1, vectors::kMaxTopK, FieldReader::Required::kYes)) request.top_k = *k;
               if (auto ef = in.Integer("efSearch", 1, vectors::kMaxEfSearch)) request.ef_search = *ef;
               if (in.failed()) co_return ErrorResponse(in.error());
               if (const json::value* filter = body->if_contains("filter"); filter != nullptr && !filter->is_null()) {
                 request.filter = filter;
               }
               auto matches = co_await s->Search(std::string(ctx.PathParam("collection")), request);
               if (!matches) co_return ErrorResponse(matches.error());
               co_return JsonResponse(200, json::object{{"matches", std::move(*matches)}});
             });

  // Delete by filter (admin): {filter} → {deleted}.
  router.Add(beast_http::verb::post, "/api/v1/vectors/{collection}/delete", Access::kAuthenticated,
             [s](Ctx& ctx) -> awaitable<Response> {
               if (!ctx.principal.Has(Scope::kAdmin)) {
                 co_return ErrorResponse(Needs("admin", "deleting vectors by filter"));
               }
               auto body = ParseJsonObject(ctx.request);
               if (!body) co_return ErrorResponse(body.error());
               FieldReader in(*body);
               in.AllowOnly({"filter"});
               if (!in.Has("filter")) in.Fail("missing required member 'filter' (an object)");
               if (in.failed()) co_return ErrorResponse(in.error());
               auto deleted = co_await s->DeleteByFilter(std::string(ctx.PathParam("collection")), body->at("filter"));
               if (!deleted) co_return ErrorResponse(deleted.error());
               co_return JsonResponse(200, json::object{{"deleted", *deleted}});
             });

  router.Add(beast_http::verb::delete_, "/api/v1/vectors/{collection}/{id}", Access::kAuthenticated,
             [s](Ctx& ctx) -> awaitable<Response> {
               if (!ctx.principal.Has(Scope::kWrite) && !ctx.principal.Has(Scope::kAdmin)) {
                 co_return ErrorResponse(Needs("write", "deleting vectors"));
               }
               std::string id(ctx.PathParam("id"));
               auto deleted = co_await s->DeleteById(std::string(ctx.PathParam("collection")), id);
               if (!deleted) co_return ErrorResponse(deleted.error());
               co_return JsonResponse(200, json::object{{"deleted", true}, {"id", id}});
             });
}

}  // namespace coredb::http
