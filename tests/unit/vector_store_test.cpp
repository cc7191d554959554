// The pure parts of the vector store: collection names, embedding checks and text form, filters
// as parameterised SQL.
#include "coredb/vectors/vector_store.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace coredb::vectors {
namespace {

namespace json = boost::json;

TEST(VectorCollectionName, AcceptsLowerCaseIdentifiersUpTo63Characters) {
  EXPECT_TRUE(ValidateCollectionName("docs"));
  EXPECT_TRUE(ValidateCollectionName("documentation_chunks_v2"));
  EXPECT_TRUE(ValidateCollectionName(std::string(63, 'a')));
}

TEST(VectorCollectionName, RefusesEverythingElse) {
  for (const std::string& bad :
       {std::string(""), std::string(64, 'a'), std::string("A"), std::string("a b"), std::string("a;drop table x"),
        std::string("a\"b"), std::string("a'b"), std::string("1a"), std::string("_a"), std::string("a-b"),
        std::string("a.b"), std::string("collections"), std::string("a\nb"), std::string("a\0b", 3)}) {
    auto r = ValidateCollectionName(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  }
}

TEST(VectorCollectionName, TablesAreQuotedInTheirSchema) {
  EXPECT_EQ(QualifiedTable("docs"), "\"coredb_vectors\".\"docs\"");
}

TEST(VectorEmbedding, TextFormIsPgvectorsAndRoundTripsFloat4) {
  auto t = EmbeddingText(json::parse("[1, -2.5, 0.1, 3e-5]"), 4, Metric::kL2, "embedding");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(*t, "[1,-2.5,0.1,3e-05]");
}

TEST(VectorEmbedding, RefusesWhatPgvectorCannotStore) {
  const struct {
    const char* json;
    std::size_t dimension;
    Metric metric;
  } cases[] = {
      {"[]", 0, Metric::kL2},          {"[1,2]", 3, Metric::kL2},       {"[1,\"NaN\",3]", 3, Metric::kL2},
      {"[1,null,3]", 3, Metric::kL2},  {"[1,1e39,3]", 3, Metric::kL2},  {"[1,-1e39,3]", 3, Metric::kL2},
      {"[0,0,0]", 3, Metric::kCosine}, {"\"[1,2,3]\"", 3, Metric::kL2}, {"[[1],[2],[3]]", 3, Metric::kL2},
  };
  for (const auto& c : cases) {
    auto r = EmbeddingText(json::parse(c.json), c.dimension, c.metric, "items[7].embedding");
    ASSERT_FALSE(r) << c.json;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
    EXPECT_NE(r.error().message.find("items[7].embedding"), std::string::npos) << r.error().message;
  }
  json::array inf{1.0, std::numeric_limits<double>::infinity()};
  EXPECT_FALSE(EmbeddingText(inf, 2, Metric::kL2, "e"));
  json::array nan{std::nan(""), 1.0};
  EXPECT_FALSE(EmbeddingText(nan, 2, Metric::kL2, "e"));
  EXPECT_TRUE(EmbeddingText(json::parse("[0,0,0]"), 3, Metric::kL2, "e")) << "the zero vector is fine for l2";
}

TEST(VectorFilter, EqualityIsOneContainmentParameter) {
  json::array params{nullptr, nullptr};
  auto sql = FilterSql(json::parse(R"({"lang":"en","v":3})"), params);
  ASSERT_TRUE(sql) << sql.error().message;
  EXPECT_EQ(*sql, "metadata @> $3::jsonb");
  ASSERT_EQ(params.size(), 3u);
  EXPECT_EQ(params[2], json::parse(R"({"lang":"en","v":3})"));
}

TEST(VectorFilter, InIsAnyOverContainments) {
  json::array params;
  auto sql = FilterSql(json::parse(R"({"lang":{"$in":["en","fr"]},"v":1})"), params);
  ASSERT_TRUE(sql) << sql.error().message;
  EXPECT_EQ(*sql, "metadata @> ANY($1::jsonb[]) AND metadata @> $2::jsonb");
  EXPECT_EQ(params[0], json::parse(R"([{"lang":"en"},{"lang":"fr"}])"));
  EXPECT_EQ(params[1], json::parse(R"({"v":1})"));
}

TEST(VectorFilter, HostileKeysStayInParameters) {
  json::array params;
  auto sql = FilterSql(json::parse(R"({"a') OR 1=1 --":"x"})"), params);
  ASSERT_TRUE(sql);
  EXPECT_EQ(*sql, "metadata @> $1::jsonb");
  EXPECT_EQ(sql->find('\''), std::string::npos);
}

TEST(VectorFilter, RefusesWhatItCannotMean) {
  for (const char* bad : {R"("x")", "[1]", "1", R"({"$or":[]})", R"({"a":{"$gt":1}})", R"({"a":{"$in":1}})",
                          R"({"a":{"$in":[]}})", R"({"a":{"$in":[1],"b":2}})"}) {
    json::array params;
    auto sql = FilterSql(json::parse(bad), params);
    ASSERT_FALSE(sql) << bad;
    EXPECT_EQ(sql.error().code, ErrorCode::kInvalidRequest);
  }
  json::array params;
  EXPECT_EQ(*FilterSql(json::object(), params), "true");
}

TEST(VectorMetric, Names) {
  EXPECT_EQ(ParseMetric("cosine"), Metric::kCosine);
  EXPECT_EQ(ParseMetric("l2"), Metric::kL2);
  EXPECT_EQ(ParseMetric("ip"), Metric::kInnerProduct);
  EXPECT_FALSE(ParseMetric("dot"));
  EXPECT_FALSE(ParseMetric("L2"));
}

TEST(VectorIndexOptions, DefaultsAreValidAndBoundsAreChecked) {
  EXPECT_TRUE(ValidateIndexOptions(kDefaultIndexOptions));
  EXPECT_EQ(kDefaultIndexOptions.m, 16);
  EXPECT_EQ(kDefaultIndexOptions.ef_construction, 64);
  EXPECT_EQ(kDefaultIndexOptions.ef_search, 500);
  EXPECT_TRUE(ValidateIndexOptions(IndexOptions{2, 4, 1}));
  EXPECT_TRUE(ValidateIndexOptions(IndexOptions{100, 1000, 1000}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{1, 64, 40}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{101, 1000, 40}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{16, 3, 40}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{16, 31, 40})) << "ef_construction below 2 m";
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{16, 1001, 40}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{16, 64, 0}));
  EXPECT_FALSE(ValidateIndexOptions(IndexOptions{16, 64, 1001}));
}

}  // namespace
}  // namespace coredb::vectors
