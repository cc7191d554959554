// Black-box tests of the vectors API (API.md "Vectors") against the dev stack's pgvector server:
// collections, upsert, exact top-k for the three metrics against a brute-force computation done
// here, filters, efSearch staying local to its query, deletes, raw SQL with vector parameters,
// the documentation-chunks use case, every kind of bad input, and a VECTOR_URL without pgvector.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>

namespace coredb::testing {
namespace {

namespace json = boost::json;

std::string UniqueName(const std::string& base) {
  static std::atomic<int> counter{0};
  return base + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

class Vectors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { svc_ = new ServiceProcess(); }
  static void TearDownTestSuite() {
    delete svc_;
    svc_ = nullptr;
  }
  static ServiceProcess& svc() { return *svc_; }

  static HttpResult Create(const std::string& name, std::int64_t dimension, const std::string& metric) {
    return svc().Post("/api/v1/vectors/collections", {{"name", name}, {"dimension", dimension}, {"metric", metric}});
  }
  static HttpResult Upsert(const std::string& name, const json::array& items) {
    return svc().Post("/api/v1/vectors/" + name + "/upsert", {{"items", items}});
  }
  static HttpResult Search(const std::string& name, json::object body) {
    return svc().Post("/api/v1/vectors/" + name + "/search", body);
  }
  static HttpResult Delete(const std::string& target) { return svc().Request("DELETE", target); }
  static HttpResult RawPost(const std::string& target, const std::string& body) {
    return svc().Request("POST", target, body, {{"Content-Type", "application/json"}});
  }

  static ServiceProcess* svc_;
};

ServiceProcess* Vectors::svc_ = nullptr;

json::array Vec(std::initializer_list<double> values) {
  json::array a;
  for (double v : values) a.push_back(v);
  return a;
}

json::object Item(const std::string& id, json::array embedding, json::object metadata = {}) {
  return json::object{{"id", id}, {"embedding", std::move(embedding)}, {"metadata", std::move(metadata)}};
}

std::vector<std::string> Ids(const HttpResult& r) {
  std::vector<std::string> ids;
  if (!r.json.is_object() || !r.json.as_object().contains("matches")) return ids;
  for (const auto& m : r.json.at("matches").as_array()) ids.emplace_back(m.at("id").as_string());
  return ids;
}

double Number(const json::value& v) { return v.is_double() ? v.as_double() : static_cast<double>(v.as_int64()); }

// --- collections ---------------------------------------------------------------------------

TEST_F(Vectors, CreateListDropACollection) {
  const std::string name = UniqueName("coll");
  auto created = Create(name, 3, "l2");
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(created.json.at("name"), json::value(name));
  EXPECT_EQ(created.json.at("dimension"), 3);
  EXPECT_EQ(created.json.at("metric"), "l2");
  EXPECT_EQ(created.json.at("index"), "hnsw");

  auto again = Create(name, 3, "l2");
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_EQ(again.ErrorCode(), "CONFLICT");

  ASSERT_EQ(Upsert(name, {Item("a", Vec({1, 2, 3})), Item("b", Vec({4, 5, 6}))}).status, 200u);
  auto listed = svc().Get("/api/v1/vectors/collections");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  bool found = false;
  for (const auto& c : listed.json.at("collections").as_array()) {
    if (c.at("name") != json::value(name)) continue;
    found = true;
    EXPECT_EQ(c.at("dimension"), 3);
    EXPECT_EQ(c.at("metric"), "l2");
    EXPECT_EQ(c.at("count"), 2);
  }
  EXPECT_TRUE(found) << listed.body;

  auto dropped = Delete("/api/v1/vectors/collections/" + name);
  ASSERT_EQ(dropped.status, 200u) << dropped.body;
  EXPECT_EQ(Delete("/api/v1/vectors/collections/" + name).status, 404u);
  auto search = Search(name, {{"embedding", Vec({1, 2, 3})}, {"topK", 1}});
  EXPECT_EQ(search.status, 404u) << search.body;
  EXPECT_EQ(search.ErrorCode(), "NOT_FOUND");
  // The name is free again, with another dimension and metric.
  ASSERT_EQ(Create(name, 2, "cosine").status, 201u);
  EXPECT_EQ(Upsert(name, {Item("a", Vec({1, 2}))}).status, 200u);
}

TEST_F(Vectors, TheTableAndItsIndexAreInTheVectorDatabase) {
  const std::string name = UniqueName("ddl");
  ASSERT_EQ(Create(name, 4, "ip").status, 201u);
  auto r = svc().Query({{"database", "vector"},
                        {"sql",
                         "SELECT indexdef FROM pg_indexes WHERE schemaname = 'coredb_vectors' AND tablename = $1 "
                         "ORDER BY indexdef"},
                        {"params", json::array{json::value(name)}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  std::string all;
  for (const auto& row : r.json.at("rows").as_array()) all += std::string(row.at("indexdef").as_string()) + "\n";
  EXPECT_NE(all.find("hnsw (embedding vector_ip_ops)"), std::string::npos) << all;
  EXPECT_NE(all.find("gin (metadata jsonb_path_ops)"), std::string::npos) << all;
  EXPECT_NE(all.find("(id)"), std::string::npos) << all;
}

TEST_F(Vectors, IndexOptionsAreAppliedListedAndDefaulted) {
  const std::string tuned = UniqueName("tuned");
  auto created = svc().Post("/api/v1/vectors/collections", {{"name", tuned},
                                                              {"dimension", 3},
                                                              {"metric", "cosine"},
                                                              {"m", 24},
                                                              {"efConstruction", 100},
                                                              {"efSearch", 80}});
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(created.json.at("m"), 24);
  EXPECT_EQ(created.json.at("efConstruction"), 100);
  EXPECT_EQ(created.json.at("efSearch"), 80);
  const std::string plain = UniqueName("plain");
  auto defaulted = Create(plain, 3, "l2");
  ASSERT_EQ(defaulted.status, 201u) << defaulted.body;
  EXPECT_EQ(defaulted.json.at("m"), 16);
  EXPECT_EQ(defaulted.json.at("efConstruction"), 64);
  EXPECT_EQ(defaulted.json.at("efSearch"), 500) << "the default that reaches recall@10 >= 0.95 (bench/README.md)";

  // The index is built with them…
  auto r = svc().Query({{"database", "vector"},
                        {"sql",
                         "SELECT indexdef FROM pg_indexes WHERE schemaname = 'coredb_vectors' AND tablename = $1 "
                         "AND indexdef LIKE '%hnsw%'"},
                        {"params", json::array{json::value(tuned)}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_EQ(r.json.at("rows").as_array().size(), 1u) << r.body;
  const std::string indexdef(r.json.at("rows").at(0).at("indexdef").as_string());
  EXPECT_NE(indexdef.find("m='24'"), std::string::npos) << indexdef;
  EXPECT_NE(indexdef.find("ef_construction='100'"), std::string::npos) << indexdef;
  // …and listed.
  auto listed = svc().Get("/api/v1/vectors/collections");
  ASSERT_EQ(listed.status, 200u) << listed.body;
  bool seen = false;
  for (const auto& c : listed.json.at("collections").as_array()) {
    if (c.at("name") != json::value(tuned)) continue;
    seen = true;
    EXPECT_EQ(c.at("m"), 24);
    EXPECT_EQ(c.at("efConstruction"), 100);
    EXPECT_EQ(c.at("efSearch"), 80);
  }
  EXPECT_TRUE(seen) << listed.body;
  ASSERT_EQ(Upsert(tuned, {Item("a", Vec({1, 0, 0})), Item("b", Vec({0, 1, 0}))}).status, 200u);
  auto found = Search(tuned, {{"embedding", Vec({1, 0.1, 0})}, {"topK", 2}});
  ASSERT_EQ(found.status, 200u) << found.body;
  EXPECT_EQ(Ids(found), (std::vector<std::string>{"a", "b"}));

  struct Case {
    const char* what;
    const char* body;
  };
  const Case bad[] = {
      {"m 1", R"({"name":"o_x","dimension":3,"metric":"l2","m":1})"},
      {"m 101", R"({"name":"o_x","dimension":3,"metric":"l2","m":101})"},
      {"m a string", R"({"name":"o_x","dimension":3,"metric":"l2","m":"16"})"},
      {"efConstruction 3", R"({"name":"o_x","dimension":3,"metric":"l2","efConstruction":3})"},
      {"efConstruction below 2 m", R"({"name":"o_x","dimension":3,"metric":"l2","m":40,"efConstruction":64})"},
      {"efSearch 0", R"({"name":"o_x","dimension":3,"metric":"l2","efSearch":0})"},
      {"efSearch 1001", R"({"name":"o_x","dimension":3,"metric":"l2","efSearch":1001})"},
  };
  for (const auto& c : bad) {
    auto rejected = RawPost("/api/v1/vectors/collections", c.body);
    EXPECT_EQ(rejected.status, 400u) << c.what << ": " << rejected.body;
    EXPECT_EQ(rejected.ErrorCode(), "INVALID_REQUEST") << c.what;
  }
  auto none = svc().Get("/api/v1/vectors/collections");
  for (const auto& c : none.json.at("collections").as_array()) EXPECT_NE(c.at("name"), json::value("o_x"));
}

// --- exact search against brute force --------------------------------------------------------

struct Metric {
  const char* name;
  // distance as pgvector defines it (smaller is better); score as API.md defines it.
  double (*distance)(const std::vector<float>&, const std::vector<float>&);
  double (*score)(double distance);
};

double Dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}
double CosineDistance(const std::vector<float>& a, const std::vector<float>& b) {
  return 1.0 - Dot(a, b) / std::sqrt(Dot(a, a) * Dot(b, b));
}
double L2Distance(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    s += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return std::sqrt(s);
}
double NegativeInnerProduct(const std::vector<float>& a, const std::vector<float>& b) { return -Dot(a, b); }

json::array ToJson(const std::vector<float>& v) {
  json::array a;
  for (float f : v) a.push_back(static_cast<double>(f));
  return a;
}

TEST_F(Vectors, ExactTopKMatchesBruteForceForEveryMetric) {
  const Metric metrics[] = {
      {"cosine", CosineDistance, [](double d) { return 1.0 - d; }},
      {"l2", L2Distance, [](double d) { return -d; }},
      {"ip", NegativeInnerProduct, [](double d) { return -d; }},
  };
  constexpr int kDim = 8, kRows = 30, kQueries = 5, kTopK = 10;
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.0F, 1.0F);
  std::vector<std::vector<float>> rows(kRows, std::vector<float>(kDim));
  for (auto& r : rows) std::generate(r.begin(), r.end(), [&] { return uniform(rng); });

  for (const Metric& metric : metrics) {
    SCOPED_TRACE(metric.name);
    const std::string name = UniqueName(std::string("exact_") + metric.name);
    ASSERT_EQ(Create(name, kDim, metric.name).status, 201u);
    json::array items;
    for (int i = 0; i < kRows; ++i) items.push_back(Item("r" + std::to_string(i), ToJson(rows[i]), {{"n", i}}));
    auto up = Upsert(name, items);
    ASSERT_EQ(up.status, 200u) << up.body;
    EXPECT_EQ(up.json.at("upserted"), kRows);

    for (int q = 0; q < kQueries; ++q) {
      std::vector<float> query(kDim);
      std::generate(query.begin(), query.end(), [&] { return uniform(rng); });
      std::vector<std::pair<double, int>> expected;
      for (int i = 0; i < kRows; ++i) expected.emplace_back(metric.distance(rows[i], query), i);
      std::sort(expected.begin(), expected.end());

      auto r = Search(name, {{"embedding", ToJson(query)}, {"topK", kTopK}});
      ASSERT_EQ(r.status, 200u) << r.body;
      const auto& matches = r.json.at("matches").as_array();
      ASSERT_EQ(matches.size(), static_cast<std::size_t>(kTopK)) << r.body;
      for (int k = 0; k < kTopK; ++k) {
        const auto& m = matches[k];
        const std::string id(m.at("id").as_string());
        const int row = std::stoi(id.substr(1));
        const double distance = Number(m.at("distance"));
        // The distance is that of the row returned, and the k-th best overall (ties allowed).
        EXPECT_NEAR(distance, metric.distance(rows[row], query), 1e-4) << id;
        EXPECT_NEAR(distance, expected[k].first, 1e-4) << "position " << k << ": expected r" << expected[k].second;
        EXPECT_NEAR(Number(m.at("score")), metric.score(distance), 1e-9);
        EXPECT_EQ(m.at("metadata"), (json::object{{"n", row}}));
      }
    }
  }
}

TEST_F(Vectors, ScoresFollowTheApiDefinitionsOnAKnownSet) {
  const std::string cos = UniqueName("known_cos"), l2 = UniqueName("known_l2"), ip = UniqueName("known_ip");
  for (const auto& [name, metric] : {std::pair{cos, "cosine"}, std::pair{l2, "l2"}, std::pair{ip, "ip"}}) {
    ASSERT_EQ(Create(name, 2, metric).status, 201u);
    ASSERT_EQ(Upsert(name, {Item("x", Vec({1, 0})), Item("y", Vec({0, 2})), Item("z", Vec({-3, 0}))}).status, 200u);
  }
  auto c = Search(cos, {{"embedding", Vec({1, 0})}, {"topK", 3}});
  ASSERT_EQ(c.status, 200u) << c.body;
  EXPECT_EQ(Ids(c), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_NEAR(Number(c.json.at("matches").at(0).at("score")), 1.0, 1e-6);
  EXPECT_NEAR(Number(c.json.at("matches").at(1).at("distance")), 1.0, 1e-6);
  EXPECT_NEAR(Number(c.json.at("matches").at(2).at("score")), -1.0, 1e-6);

  auto e = Search(l2, {{"embedding", Vec({1, 0})}, {"topK", 3}});
  ASSERT_EQ(e.status, 200u) << e.body;
  EXPECT_EQ(Ids(e), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_NEAR(Number(e.json.at("matches").at(1).at("distance")), std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(Number(e.json.at("matches").at(1).at("score")), -std::sqrt(5.0), 1e-6);
  EXPECT_NEAR(Number(e.json.at("matches").at(2).at("distance")), 4.0, 1e-6);

  auto p = Search(ip, {{"embedding", Vec({1, 1})}, {"topK", 3}});
  ASSERT_EQ(p.status, 200u) << p.body;
  EXPECT_EQ(Ids(p), (std::vector<std::string>{"y", "x", "z"}));
  EXPECT_NEAR(Number(p.json.at("matches").at(0).at("score")), 2.0, 1e-6);
  EXPECT_NEAR(Number(p.json.at("matches").at(0).at("distance")), -2.0, 1e-6);
  EXPECT_NEAR(Number(p.json.at("matches").at(2).at("score")), -3.0, 1e-6);
}

// --- upsert ----------------------------------------------------------------------------------

TEST_F(Vectors, UpsertReplacesAndABadItemWritesNothing) {
  const std::string name = UniqueName("upsert");
  ASSERT_EQ(Create(name, 2, "l2").status, 201u);
  ASSERT_EQ(Upsert(name, {Item("a", Vec({0, 0}), {{"v", 1}})}).status, 200u);
  ASSERT_EQ(Upsert(name, {Item("a", Vec({5, 5}), {{"v", 2}}), Item("b", Vec({1, 1}))}).status, 200u);
  auto r = Search(name, {{"embedding", Vec({5, 5})}, {"topK", 5}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.json.at("matches").at(0).at("metadata"), (json::object{{"v", 2}}));
  EXPECT_EQ(r.json.at("matches").at(1).at("metadata"), json::object()) << "metadata defaults to {}";

  // Item 2 has the wrong dimension: the whole batch fails with its index, nothing is written.
  auto bad = Upsert(name, {Item("c", Vec({1, 2})), Item("a", Vec({9, 9})), Item("d", Vec({1, 2, 3}))});
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(bad.ErrorCode(), "INVALID_REQUEST");
  EXPECT_EQ(bad.json.at("error").at("failedIndex"), 2) << bad.body;
  auto after = Search(name, {{"embedding", Vec({5, 5})}, {"topK", 5}});
  EXPECT_EQ(Ids(after), (std::vector<std::string>{"a", "b"}));
  EXPECT_NEAR(Number(after.json.at("matches").at(0).at("distance")), 0.0, 1e-9) << "a was not overwritten";

  auto dup = Upsert(name, {Item("c", Vec({1, 2})), Item("c", Vec({1, 3}))});
  EXPECT_EQ(dup.status, 400u) << dup.body;
  EXPECT_EQ(dup.json.at("error").at("failedIndex"), 1);

  json::array many;
  for (int i = 0; i < 1000; ++i) many.push_back(Item("m" + std::to_string(i), Vec({double(i), 1})));
  auto big = Upsert(name, many);
  EXPECT_EQ(big.status, 200u) << big.body.substr(0, 300);
  EXPECT_EQ(big.json.at("upserted"), 1000);
  many.push_back(Item("m1000", Vec({1, 1})));
  EXPECT_EQ(Upsert(name, many).status, 400u) << "1001 items";
  EXPECT_EQ(Upsert(name, json::array{}).status, 400u) << "no items";
}

// --- filters and efSearch -----------------------------------------------------------------------

TEST_F(Vectors, FilterByEqualityAndIn) {
  const std::string name = UniqueName("filter");
  ASSERT_EQ(Create(name, 2, "l2").status, 201u);
  ASSERT_EQ(Upsert(name, {Item("a", Vec({0, 0}), {{"lang", "en"}, {"v", 1}}),
                          Item("b", Vec({0, 1}), {{"lang", "fr"}, {"v", 2}}),
                          Item("c", Vec({0, 2}), {{"lang", "en"}, {"v", 3}}),
                          Item("d", Vec({0, 3}), {{"lang", "de"}, {"v", 1}, {"tags", json::array{"x", "y"}}})})
                .status,
            200u);
  auto eq = Search(name, {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"lang", "en"}}}});
  ASSERT_EQ(eq.status, 200u) << eq.body;
  EXPECT_EQ(Ids(eq), (std::vector<std::string>{"a", "c"}));
  auto two = Search(name, {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"lang", "en"}, {"v", 3}}}});
  EXPECT_EQ(Ids(two), (std::vector<std::string>{"c"}));
  auto in = Search(
      name, {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"lang", {{"$in", json::array{"fr", "de"}}}}}}});
  ASSERT_EQ(in.status, 200u) << in.body;
  EXPECT_EQ(Ids(in), (std::vector<std::string>{"b", "d"}));
  auto both = Search(
      name,
      {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"v", {{"$in", json::array{1, 2}}}}, {"lang", "de"}}}});
  EXPECT_EQ(Ids(both), (std::vector<std::string>{"d"}));
  auto array = Search(name, {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"tags", json::array{"y"}}}}});
  EXPECT_EQ(Ids(array), (std::vector<std::string>{"d"})) << "arrays match by containment";
  // A hostile key is only data.
  auto hostile = Search(
      name,
      {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", {{"lang') OR true --", "en"}, {"x\"; DROP TABLE y", 1}}}});
  ASSERT_EQ(hostile.status, 200u) << hostile.body;
  EXPECT_TRUE(Ids(hostile).empty());
  auto none = Search(name, {{"embedding", Vec({0, 0})}, {"topK", 10}, {"filter", json::object{}}});
  EXPECT_EQ(Ids(none).size(), 4u) << "an empty filter matches everything";
}

TEST_F(Vectors, FilteredSearchStillReturnsTopKWhenFewRowsMatch) {
  // 300 rows, 1 in 30 matching: a plain HNSW scan (ef_search 40) would find only a few of them.
  const std::string name = UniqueName("sparse");
  ASSERT_EQ(Create(name, 4, "l2").status, 201u);
  json::array items;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0F, 1.0F);
  for (int i = 0; i < 300; ++i) {
    items.push_back(Item("s" + std::to_string(i), Vec({uniform(rng), uniform(rng), uniform(rng), uniform(rng)}),
                         {{"group", i % 30 == 0 ? "rare" : "common"}}));
  }
  ASSERT_EQ(Upsert(name, items).status, 200u);
  auto r = Search(name, {{"embedding", Vec({0, 0, 0, 0})}, {"topK", 10}, {"filter", {{"group", "rare"}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Ids(r).size(), 10u) << r.body;
}

TEST(VectorsSession, EfSearchDoesNotLeakIntoTheSharedConnection) {
  // One connection in the vector pool: the SHOW runs where the search ran.
  ServiceProcess svc(ServiceProcess::Env{{"VECTOR_POOL_SIZE", "1"}});
  const std::string name = UniqueName("ef");
  ASSERT_EQ(svc.Post("/api/v1/vectors/collections", {{"name", name}, {"dimension", 2}, {"metric", "l2"}}).status, 201u);
  ASSERT_EQ(svc.Post("/api/v1/vectors/" + name + "/upsert", {{"items", json::array{Item("a", Vec({1, 1}))}}}).status,
            200u);
  auto before = svc.Query({{"database", "vector"}, {"sql", "SHOW hnsw.ef_search"}});
  ASSERT_EQ(before.status, 200u) << before.body;
  const auto default_value = before.json.at("rows").at(0).at("hnsw.ef_search");
  ASSERT_NE(default_value, json::value("321"));
  for (auto ef : {321, 5}) {
    auto r =
        svc.Post("/api/v1/vectors/" + name + "/search", {{"embedding", Vec({1, 1})}, {"topK", 1}, {"efSearch", ef}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(Ids(r), (std::vector<std::string>{"a"}));
  }
  auto filtered = svc.Post("/api/v1/vectors/" + name + "/search",
                           {{"embedding", Vec({1, 1})}, {"topK", 100}, {"filter", {{"k", 1}}}});
  ASSERT_EQ(filtered.status, 200u) << filtered.body;
  auto after = svc.Query({{"database", "vector"}, {"sql", "SHOW hnsw.ef_search"}});
  ASSERT_EQ(after.status, 200u) << after.body;
  EXPECT_EQ(after.json.at("rows").at(0).at("hnsw.ef_search"), default_value);
  auto scan = svc.Query({{"database", "vector"}, {"sql", "SHOW hnsw.iterative_scan"}});
  ASSERT_EQ(scan.status, 200u) << scan.body;
  EXPECT_EQ(scan.json.at("rows").at(0).at("hnsw.iterative_scan"), "off");
}

// --- deletes ---------------------------------------------------------------------------------

TEST_F(Vectors, DeleteByIdAndByFilter) {
  const std::string name = UniqueName("del");
  ASSERT_EQ(Create(name, 2, "l2").status, 201u);
  ASSERT_EQ(Upsert(name, {Item("a/1", Vec({0, 0}), {{"k", 1}}), Item("b", Vec({0, 1}), {{"k", 2}}),
                          Item("c", Vec({0, 2}), {{"k", 2}}), Item("d", Vec({0, 3}), {{"k", 3}})})
                .status,
            200u);
  auto d = Delete("/api/v1/vectors/" + name + "/a%2F1");
  ASSERT_EQ(d.status, 200u) << d.body;
  EXPECT_EQ(Delete("/api/v1/vectors/" + name + "/a%2F1").status, 404u);
  EXPECT_EQ(Delete("/api/v1/vectors/" + UniqueName("nope") + "/b").status, 404u);

  auto f = svc().Post("/api/v1/vectors/" + name + "/delete", {{"filter", {{"k", 2}}}});
  ASSERT_EQ(f.status, 200u) << f.body;
  EXPECT_EQ(f.json.at("deleted"), 2);
  EXPECT_EQ(svc().Post("/api/v1/vectors/" + name + "/delete", {{"filter", json::object{}}}).status, 400u);
  EXPECT_EQ(svc().Post("/api/v1/vectors/" + name + "/delete", {{"filter", "k"}}).status, 400u);
  auto r = Search(name, {{"embedding", Vec({0, 0})}, {"topK", 10}});
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"d"}));
}

// --- raw SQL on the vector database ------------------------------------------------------------

TEST_F(Vectors, RawSqlMapsVectorsBothWays) {
  auto r = svc().Query({{"database", "vector"},
                        {"sql", "SELECT $1::vector AS v, $2::int[] AS a"},
                        {"params", json::array{Vec({1, 2.5, -3}), json::array{1, 2}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("rows").at(0).at("v"), json::parse("[1,2.5,-3]"));
  EXPECT_EQ(r.json.at("rows").at(0).at("a"), (json::array{1, 2}));
  EXPECT_EQ(r.json.at("fields").at(0).at("dataType"), "vector");

  const std::string name = UniqueName("raw");
  ASSERT_EQ(Create(name, 3, "l2").status, 201u);
  // The collection's own table, written and read with plain SQL and vector parameters.
  auto insert = svc().Query({{"database", "vector"},
                             {"sql", "INSERT INTO coredb_vectors." + name + " (id, embedding) VALUES ($1, $2)"},
                             {"params", json::array{"sql", Vec({1, 1, 1})}}});
  ASSERT_EQ(insert.status, 200u) << insert.body;
  auto nearest = svc().Query({{"database", "vector"},
                              {"sql", "SELECT id, embedding, embedding <-> $1 AS d FROM coredb_vectors." + name +
                                          " ORDER BY embedding <-> $1 LIMIT 1"},
                              {"params", json::array{Vec({1, 1, 2})}}});
  ASSERT_EQ(nearest.status, 200u) << nearest.body;
  EXPECT_EQ(nearest.json.at("rows").at(0).at("embedding"), json::parse("[1,1,1]"));
  EXPECT_NEAR(Number(nearest.json.at("rows").at(0).at("d")), 1.0, 1e-9);
  auto via_api = Search(name, {{"embedding", Vec({1, 1, 1})}, {"topK", 1}});
  EXPECT_EQ(Ids(via_api), (std::vector<std::string>{"sql"}));

  // In a batch too.
  auto batch =
      svc().Post("/api/v1/query/batch", {{"database", "vector"},
                                         {"queries", json::array{json::object{{"sql", "SELECT $1::vector AS v"},
                                                                              {"params", json::array{Vec({4, 5})}}}}}});
  ASSERT_EQ(batch.status, 200u) << batch.body;
  EXPECT_EQ(batch.json.at("results").at(0).at("rows").at(0).at("v"), json::parse("[4,5]"));
  // A malformed statement still reports PostgreSQL's error.
  auto bad = svc().Query({{"database", "vector"}, {"sql", "SELEC $1::vector"}, {"params", json::array{Vec({1})}}});
  EXPECT_EQ(bad.status, 400u) << bad.body;
  EXPECT_EQ(bad.ErrorCode(), "QUERY_ERROR");
}

// --- the platform's use: documentation chunks -------------------------------------------------

TEST_F(Vectors, DocumentationChunksSearchedByLibraryVersion) {
  const std::string name = UniqueName("documentation_chunks");
  ASSERT_EQ(Create(name, 4, "cosine").status, 201u);
  // Chunks of two versions of /vercel/next.js; the id is documentation_chunks.id, the
  // metadata carries what the platform filters on.
  json::array items;
  const char* versions[] = {"14.2.0", "15.0.0"};
  for (int v = 0; v < 2; ++v) {
    for (int c = 0; c < 5; ++c) {
      items.push_back(Item("chunk-" + std::to_string(v) + "-" + std::to_string(c),
                           Vec({1.0 + c, 0.5 * v, 1.0, 0.1 * c}),
                           {{"libraryId", "/vercel/next.js"}, {"version", versions[v]}, {"chunkIndex", c}}));
    }
  }
  ASSERT_EQ(Upsert(name, items).status, 200u);
  auto r = Search(name, {{"embedding", Vec({3.0, 0.5, 1.0, 0.2})},
                         {"topK", 3},
                         {"filter", {{"libraryId", "/vercel/next.js"}, {"version", "15.0.0"}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto& matches = r.json.at("matches").as_array();
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches.at(0).at("id"), "chunk-1-2");
  for (const auto& m : matches) EXPECT_EQ(m.at("metadata").at("version"), "15.0.0");
  for (std::size_t i = 1; i < matches.size(); ++i) {
    EXPECT_GE(Number(matches[i - 1].at("score")), Number(matches[i].at("score"))) << "best first";
  }
}

// --- bad input ---------------------------------------------------------------------------------

TEST_F(Vectors, BadInputIsASpecific4xx) {
  const std::string name = UniqueName("bad");
  ASSERT_EQ(Create(name, 3, "cosine").status, 201u);
  ASSERT_EQ(Upsert(name, {Item("a", Vec({1, 2, 3}))}).status, 200u);
  const std::string search = "/api/v1/vectors/" + name + "/search";
  const std::string upsert = "/api/v1/vectors/" + name + "/upsert";
  struct Case {
    std::string what, target, body;
    unsigned status;
  };
  const std::vector<Case> cases = {
      {"NaN as a string", search, R"({"embedding":[1,"NaN",3],"topK":1})", 400},
      {"NaN literal (not JSON)", search, R"({"embedding":[1,NaN,3],"topK":1})", 400},
      {"Infinity literal (not JSON)", search, R"({"embedding":[1,Infinity,3],"topK":1})", 400},
      {"1e400 overflows a double", search, R"({"embedding":[1,1e400,3],"topK":1})", 400},
      {"1e39 overflows float4", upsert, R"({"items":[{"id":"x","embedding":[1,1e39,3]}]})", 400},
      {"null component", upsert, R"({"items":[{"id":"x","embedding":[1,null,3]}]})", 400},
      {"wrong dimension (search)", search, R"({"embedding":[1,2],"topK":1})", 400},
      {"wrong dimension (upsert)", upsert, R"({"items":[{"id":"x","embedding":[1,2,3,4]}]})", 400},
      {"empty embedding", search, R"({"embedding":[],"topK":1})", 400},
      {"embedding not an array", search, R"({"embedding":"[1,2,3]","topK":1})", 400},
      {"zero vector for cosine", upsert, R"({"items":[{"id":"x","embedding":[0,0,0]}]})", 400},
      {"topK 0", search, R"({"embedding":[1,2,3],"topK":0})", 400},
      {"topK 10001", search, R"({"embedding":[1,2,3],"topK":10001})", 400},
      {"topK 1001", search, R"({"embedding":[1,2,3],"topK":1001})", 400},
      {"topK missing", search, R"({"embedding":[1,2,3]})", 400},
      {"efSearch 0", search, R"({"embedding":[1,2,3],"topK":1,"efSearch":0})", 400},
      {"filter a string", search, R"({"embedding":[1,2,3],"topK":1,"filter":"lang = 'en'"})", 400},
      {"filter an array", search, R"({"embedding":[1,2,3],"topK":1,"filter":[1]})", 400},
      {"filter unknown operator", search, R"({"embedding":[1,2,3],"topK":1,"filter":{"a":{"$gt":1}}})", 400},
      {"filter $in not an array", search, R"({"embedding":[1,2,3],"topK":1,"filter":{"a":{"$in":1}}})", 400},
      {"filter $in empty", search, R"({"embedding":[1,2,3],"topK":1,"filter":{"a":{"$in":[]}}})", 400},
      {"filter top-level operator", search, R"({"embedding":[1,2,3],"topK":1,"filter":{"$or":[]}})", 400},
      {"unknown member", search, R"({"embedding":[1,2,3],"topK":1,"topk":2})", 400},
      {"item unknown member", upsert, R"({"items":[{"id":"x","embedding":[1,2,3],"meta":{}}]})", 400},
      {"item id missing", upsert, R"({"items":[{"embedding":[1,2,3]}]})", 400},
      {"item id a number", upsert, R"({"items":[{"id":1,"embedding":[1,2,3]}]})", 400},
      {"item metadata an array", upsert, R"({"items":[{"id":"x","embedding":[1,2,3],"metadata":[]}]})", 400},
      {"unknown collection (search)", "/api/v1/vectors/" + UniqueName("missing") + "/search",
       R"({"embedding":[1,2,3],"topK":1})", 404},
      {"unknown collection (upsert)", "/api/v1/vectors/" + UniqueName("missing") + "/upsert",
       R"({"items":[{"id":"x","embedding":[1,2,3]}]})", 404},
      {"unknown metric", "/api/v1/vectors/collections", R"({"name":"m_x","dimension":3,"metric":"dot"})", 400},
      {"dimension 0", "/api/v1/vectors/collections", R"({"name":"m_x","dimension":0,"metric":"l2"})", 400},
      {"dimension 16001", "/api/v1/vectors/collections", R"({"name":"m_x","dimension":16001,"metric":"l2"})", 400},
      {"name missing", "/api/v1/vectors/collections", R"({"dimension":3,"metric":"l2"})", 400},
  };
  for (const auto& c : cases) {
    auto r = RawPost(c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), c.status == 404 ? "NOT_FOUND" : "INVALID_REQUEST") << c.what;
    EXPECT_FALSE(r.json.at("error").at("message").as_string().empty()) << c.what;
  }
  // Nothing of the rejected upserts was written.
  auto r = Search(name, {{"embedding", Vec({1, 2, 3})}, {"topK", 10}});
  EXPECT_EQ(Ids(r), (std::vector<std::string>{"a"}));
}

TEST_F(Vectors, HostileCollectionNamesAreRefusedAndNothingIsTouched) {
  auto guard = svc().Query({{"database", "vector"}, {"sql", "CREATE TABLE IF NOT EXISTS victim (x int)"}});
  ASSERT_EQ(guard.status, 200u) << guard.body;
  const std::vector<std::string> names = {"a; DROP TABLE victim",
                                          "victim\"; DROP TABLE victim; --",
                                          "Robert'); DROP TABLE victim;--",
                                          "UpperCase",
                                          std::string(64, 'a'),
                                          "",
                                          "1starts_with_digit",
                                          "_underscore",
                                          "has space",
                                          "has-dash",
                                          "dot.ted",
                                          "collections",
                                          "caf\xc3\xa9"};
  for (const auto& n : names) {
    auto created = svc().Post("/api/v1/vectors/collections", {{"name", n}, {"dimension", 2}, {"metric", "l2"}});
    EXPECT_EQ(created.status, 400u) << n << ": " << created.body;
    EXPECT_EQ(created.ErrorCode(), "INVALID_REQUEST") << n;
  }
  // The same names in paths (percent-encoded).
  const std::vector<std::string> paths = {"a%3B%20DROP%20TABLE%20victim", "victim%22%3B%20DROP%20TABLE%20victim",
                                          "UpperCase", std::string(64, 'b')};
  for (const auto& p : paths) {
    auto s = RawPost("/api/v1/vectors/" + p + "/search", R"({"embedding":[1,2],"topK":1})");
    EXPECT_EQ(s.status, 400u) << p << ": " << s.body;
    auto u = RawPost("/api/v1/vectors/" + p + "/upsert", R"({"items":[{"id":"x","embedding":[1,2]}]})");
    EXPECT_EQ(u.status, 400u) << p << ": " << u.body;
    EXPECT_EQ(Delete("/api/v1/vectors/collections/" + p).status, 400u) << p;
    EXPECT_EQ(Delete("/api/v1/vectors/" + p + "/x").status, 400u) << p;
  }
  // 63 characters is the longest name PostgreSQL keeps whole.
  auto longest = Create(std::string(63, 'z'), 2, "l2");
  EXPECT_TRUE(longest.status == 201u || longest.status == 409u) << longest.body;
  auto still = svc().Query({{"database", "vector"}, {"sql", "SELECT count(*) AS n FROM victim"}});
  EXPECT_EQ(still.status, 200u) << "victim survived: " << still.body;
}

// --- pgvector missing ---------------------------------------------------------------------------

TEST(VectorsWithoutPgvector, EndpointsAnswer503SayingPgvectorIsMissing) {
  // The main PostgreSQL 15 of the dev stack has no pgvector (Debian bookworm ships none).
  ServiceProcess svc(ServiceProcess::Env{{"VECTOR_URL", RequireEnv("DATABASE_URL")}});
  ASSERT_TRUE(svc.WaitForOutput("pgvector is missing", std::chrono::seconds(10))) << svc.Output();
  auto created = svc.Post("/api/v1/vectors/collections", {{"name", "x"}, {"dimension", 2}, {"metric", "l2"}});
  EXPECT_EQ(created.status, 503u) << created.body;
  EXPECT_EQ(created.ErrorCode(), "DATABASE_UNAVAILABLE");
  EXPECT_NE(created.body.find("pgvector is missing"), std::string::npos) << created.body;
  auto listed = svc.Get("/api/v1/vectors/collections");
  EXPECT_EQ(listed.status, 503u) << listed.body;
  // Everything else works.
  auto q = svc.Query({{"sql", "SELECT 1 AS one"}});
  EXPECT_EQ(q.status, 200u) << q.body;
}

}  // namespace
}  // namespace coredb::testing
