// The OpenAPI document served at /openapi.json (docs/openapi.yaml, embedded at build time) against
// the service's own route table (app::RouteTable(), built as `coredb serve` builds it): a route
// cannot exist without its document, nor a documented operation without its route. The real
// answers are checked against the document's schemas by tests/openapi/ (ajv, JSON Schema 2020-12).
#include "coredb/app/application.hpp"
#include "coredb/http/handlers/openapi_handler.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace coredb {
namespace {

namespace json = boost::json;

const std::set<std::string> kMethods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "GET /health" → the operation object, for every operation of the document.
std::map<std::string, const json::object*> Operations(const json::object& doc) {
  std::map<std::string, const json::object*> out;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      if (!kMethods.count(std::string(method))) continue;  // "parameters", "summary"...
      std::string upper(method);
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out[upper + " " + std::string(path)] = &op.as_object();
    }
  }
  return out;
}

// What differs between the route table and the document's operations, one line per problem.
std::vector<std::string> Mismatches(const std::vector<http::RouteEntry>& routes, const json::object& doc) {
  std::vector<std::string> problems;
  const auto ops = Operations(doc);
  std::set<std::string> routed;
  for (const auto& r : routes) {
    const std::string key = r.method + " " + r.path_template;
    if (!routed.insert(key).second) problems.push_back("routed twice: " + key);
    if (!ops.count(key)) problems.push_back("routed but not in the document: " + key);
  }
  for (const auto& [key, op] : ops) {
    if (!routed.count(key)) problems.push_back("documented but not routed: " + key);
  }
  return problems;
}

// The scopes a security requirement list names for `bearer`, and whether it admits no token.
struct Security {
  bool anonymous = false;
  std::set<std::string> bearer_scopes;
  bool bearer = false;
};

Security SecurityOf(const json::object& doc, const json::object& op) {
  const json::value* list = op.if_contains("security");
  if (list == nullptr) list = doc.if_contains("security");
  Security s;
  if (list == nullptr || list->as_array().empty()) {
    s.anonymous = true;
    return s;
  }
  for (const auto& requirement : list->as_array()) {
    const auto& r = requirement.as_object();
    if (r.empty()) s.anonymous = true;
    if (const auto* scopes = r.if_contains("bearer")) {
      s.bearer = true;
      for (const auto& scope : scopes->as_array()) s.bearer_scopes.insert(std::string(scope.as_string()));
    }
  }
  return s;
}

// Problems of access: public routes admit callers without a token, others name the bearer scheme
// with the scope they need (admin routes: admin).
std::vector<std::string> AccessMismatches(const std::vector<http::RouteEntry>& routes, const json::object& doc) {
  std::vector<std::string> problems;
  const auto ops = Operations(doc);
  for (const auto& r : routes) {
    const std::string key = r.method + " " + r.path_template;
    auto it = ops.find(key);
    if (it == ops.end()) continue;
    const Security s = SecurityOf(doc, *it->second);
    if (r.access == http::Access::kPublic) {
      if (!s.anonymous) problems.push_back(key + " is public but its security needs a token");
      continue;
    }
    if (s.anonymous) problems.push_back(key + " needs a token but its security admits none");
    if (!s.bearer || s.bearer_scopes.size() != 1) {
      problems.push_back(key + " must name exactly one scope of the bearer scheme");
      continue;
    }
    const std::string scope = *s.bearer_scopes.begin();
    if (r.access == http::Access::kAdmin && scope != "admin")
      problems.push_back(key + " is admin-only, documented as " + scope);
    if (scope != "read" && scope != "write" && scope != "admin") problems.push_back(key + ": unknown scope " + scope);
  }
  return problems;
}

json::object Document() { return json::parse(http::OpenApiDocument()).as_object(); }

std::string Join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "  " + l + "\n";
  return out;
}

TEST(OpenApi, DocumentIsOpenApi31WithTheBuildsVersion) {
  const auto doc = Document();
  EXPECT_EQ(std::string(doc.at("openapi").as_string()).substr(0, 4), "3.1.");
  EXPECT_EQ(doc.at("info").at("version").as_string(), COREDB_VERSION);
  ASSERT_TRUE(doc.at("components").at("securitySchemes").as_object().contains("bearer"));
  EXPECT_EQ(doc.at("components").at("securitySchemes").at("bearer").at("scheme").as_string(), "bearer");
}

TEST(OpenApi, EveryRouteIsDocumentedAndEveryDocumentedOperationIsRouted) {
  const auto routes = app::RouteTable();
  ASSERT_GT(routes.size(), 40u);  // the table really was built
  const auto problems = Mismatches(routes, Document());
  EXPECT_TRUE(problems.empty()) << "docs/openapi.yaml and the route table differ:\n" << Join(problems);
  // The document itself is among the routes, public.
  EXPECT_TRUE(std::any_of(routes.begin(), routes.end(), [](const http::RouteEntry& r) {
    return r.method == "GET" && r.path_template == "/openapi.json" && r.access == http::Access::kPublic;
  }));
}

TEST(OpenApi, TheComparisonFindsAMissingAndAnUnroutedOperation) {
  auto doc = json::parse(R"({"paths":{"/a":{"get":{}},"/b/{id}":{"parameters":[],"delete":{}}}})").as_object();
  std::vector<http::RouteEntry> routes{{"GET", "/a", http::Access::kPublic}, {"POST", "/a", http::Access::kPublic}};
  const auto problems = Mismatches(routes, doc);
  EXPECT_EQ(problems, (std::vector<std::string>{"routed but not in the document: POST /a",
                                                "documented but not routed: DELETE /b/{id}"}));
  routes.push_back({"DELETE", "/b/{id}", http::Access::kAdmin});
  doc["paths"].as_object()["/a"].as_object()["post"] = json::object{};
  EXPECT_TRUE(Mismatches(routes, doc).empty());
}

TEST(OpenApi, SecurityMatchesEachRoutesAccess) {
  const auto problems = AccessMismatches(app::RouteTable(), Document());
  EXPECT_TRUE(problems.empty()) << Join(problems);
}

TEST(OpenApi, TheAccessCheckFindsAPublicRouteThatAsksForATokenAndAnAdminRouteDocumentedAsWrite) {
  auto doc = json::parse(R"({"security":[{"bearer":["read"]}],"paths":{
      "/health":{"get":{}},
      "/x":{"post":{"security":[{"bearer":["write"]}]}},
      "/y":{"get":{"security":[]}}}})")
                 .as_object();
  const std::vector<http::RouteEntry> routes{{"GET", "/health", http::Access::kPublic},
                                             {"POST", "/x", http::Access::kAdmin},
                                             {"GET", "/y", http::Access::kAuthenticated}};
  EXPECT_EQ(AccessMismatches(routes, doc),
            (std::vector<std::string>{"GET /health is public but its security needs a token",
                                      "POST /x is admin-only, documented as write",
                                      "GET /y needs a token but its security admits none",
                                      "GET /y must name exactly one scope of the bearer scheme"}));
}

// Every operation: a unique operationId, a summary, its path parameters, a schema for every
// answer; every error answer is the error model (but a health probe's 503, which is its status);
// token-protected ones document 401, and those with a JSON body 400 and 415.
TEST(OpenApi, EveryOperationDocumentsItsParametersAndAnswers) {
  const auto doc = Document();
  std::vector<std::string> problems;
  std::set<std::string> ids;
  for (const auto& [path, item_value] : doc.at("paths").as_object()) {
    const auto& item = item_value.as_object();
    // The names of the path parameters a `parameters` list declares ($refs resolved).
    auto path_params = [&](const json::value* list) {
      std::set<std::string> names;
      if (list == nullptr) return names;
      for (const auto& p : list->as_array()) {
        const json::object* param = &p.as_object();
        if (const auto* ref = param->if_contains("$ref")) {
          const std::string name = std::string(ref->as_string()).substr(std::string("#/components/parameters/").size());
          param = &doc.at("components").at("parameters").at(name).as_object();
        }
        if (param->at("in") == "path") names.insert(std::string(param->at("name").as_string()));
      }
      return names;
    };
    const std::set<std::string> item_params = path_params(item.if_contains("parameters"));
    for (const auto& [method, op_value] : item) {
      if (!kMethods.count(std::string(method))) continue;
      const auto& op = op_value.as_object();
      const std::string key = Lower(std::string(method)) + " " + std::string(path);
      std::set<std::string> params = path_params(op.if_contains("parameters"));
      params.insert(item_params.begin(), item_params.end());
      for (std::size_t i = path.find('{'); i != std::string::npos; i = path.find('{', i + 1)) {
        const std::string name(path.substr(i + 1, path.find('}', i) - i - 1));
        if (!params.count(name)) problems.push_back(key + ": path parameter {" + name + "} is not documented");
      }
      const auto* id = op.if_contains("operationId");
      if (id == nullptr) {
        problems.push_back(key + ": no operationId");
      } else if (!ids.insert(std::string(id->as_string())).second) {
        problems.push_back(key + ": operationId " + std::string(id->as_string()) + " used twice");
      }
      if (!op.contains("summary")) problems.push_back(key + ": no summary");
      const auto& responses = op.at("responses").as_object();
      const Security s = SecurityOf(doc, op);
      for (const auto& [status, response_value] : responses) {
        const json::object* response = &response_value.as_object();
        if (const auto* ref = response->if_contains("$ref")) {
          const std::string name = std::string(ref->as_string()).substr(std::string("#/components/responses/").size());
          response = &doc.at("components").at("responses").at(name).as_object();
        }
        const auto* content = response->if_contains("content");
        if (content == nullptr || content->as_object().empty()) {
          problems.push_back(key + " " + std::string(status) + ": no content");
          continue;
        }
        for (const auto& [type, media] : content->as_object()) {
          if (!media.as_object().contains("schema")) {
            problems.push_back(key + " " + std::string(status) + " " + std::string(type) + ": no schema");
          }
        }
        // 4xx and the API's 5xx are the error model; a health probe's 503 is its status body.
        if (status.size() == 3 && (status[0] == '4' || (status[0] == '5' && !s.anonymous))) {
          const auto* media = content->as_object().if_contains("application/json");
          const std::string schema = media != nullptr ? json::serialize(media->at("schema")) : "";
          if (schema.find("Error") == std::string::npos) {
            problems.push_back(key + " " + std::string(status) + ": an error answer that is not the error model");
          }
        }
      }
      if (!s.anonymous && !responses.contains("401")) problems.push_back(key + ": needs a token, 401 not documented");
      if (op.contains("requestBody")) {
        for (const char* status : {"400", "415"}) {
          if (!responses.contains(status))
            problems.push_back(key + ": takes a JSON body, " + status + " not documented");
        }
      }
    }
  }
  EXPECT_TRUE(problems.empty()) << Join(problems);
}

}  // namespace
}  // namespace coredb
