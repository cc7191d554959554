// The vector store of API.md "Vectors": collections of embeddings kept in pgvector, reached
// through the SqlBackend port of the `vector` database (VECTOR_URL). Each collection is a table
// `coredb_vectors."<name>"` (id text primary key, embedding vector(d), metadata jsonb,
// timestamps) with an HNSW index of the collection's metric, and a row in the catalog table
// `coredb_vectors._collections` (name, dimension, metric: what list answers and what requests
// are checked against).
//
// Nothing user-given is ever spliced into SQL: collection names are checked against
// kCollectionNamePattern and then quoted; every value (ids, embeddings, metadata, filters,
// limits) is a parameter. Embeddings are checked (count, finite, float4 range) before anything
// is sent, so a bad item fails its whole batch with its index and nothing is written.
//
// Requests for one collection run in one round trip: the statements go as one atomic pipeline
// led by a guard statement that fails (22012) unless the catalog still has the dimension and
// metric this instance cached for the collection (another instance may have dropped and
// recreated it); the store then reloads the catalog row and retries once.
//
// Loop-thread only (no locks), like everything on the request path.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::vectors {

enum class Metric { kCosine, kL2, kInnerProduct };

std::optional<Metric> ParseMetric(std::string_view name);  // "cosine", "l2", "ip"
const char* MetricName(Metric metric);

inline constexpr const char* kSchema = "coredb_vectors";
inline constexpr const char* kCollectionNamePattern = "^[a-z][a-z0-9_]{0,62}$";
inline constexpr std::int64_t kMaxDimension = 16000;        // pgvector's limit for `vector`
inline constexpr std::int64_t kMaxIndexedDimension = 2000;  // pgvector's limit for an HNSW index on `vector`
inline constexpr std::size_t kMaxUpsertItems = 1000;
inline constexpr std::int64_t kMaxTopK = 1000;
inline constexpr std::int64_t kMaxEfSearch = 1000;  // hnsw.ef_search's range is 1..1000
inline constexpr std::size_t kMaxIdBytes = 512;
inline constexpr std::size_t kMaxInValues = 1000;

// kInvalidRequest unless `name` matches kCollectionNamePattern and is not reserved
// ("collections" is a route of its own).
Result<void> ValidateCollectionName(std::string_view name);

// `embedding` (a JSON number array) → pgvector's text form "[x,y,...]", checked: an array of
// `dimension` finite numbers within float4's range; for cosine, not all zero (no direction).
// Messages start with `path` ("items[3].embedding").
Result<std::string> EmbeddingText(const boost::json::value& embedding, std::size_t dimension, Metric metric,
                                  const std::string& path);

// A metadata filter as SQL over `metadata`: {key: value} pairs are one containment
// (`metadata @> $n::jsonb`); {key: {"$in": [v, ...]}} is `metadata @> ANY($m::jsonb[])`.
// Parameters are appended to `params` and numbered from params.size() + 1. An empty filter
// gives "true".
Result<std::string> FilterSql(const boost::json::value& filter, boost::json::array& params);

// `"coredb_vectors"."name"` for a validated name.
std::string QualifiedTable(std::string_view name);

// The HNSW index of a collection, chosen at creation. m and ef_construction are pgvector's
// defaults (16, 64); ef_search is the collection's default for searches (a request's `efSearch`
// overrides it). pgvector's own default ef_search (40) gives recall@10 ≈ 0.34 on 10 000 random
// 384-d vectors; 500 gives ≈ 0.97 (bench/README.md "Vectors"), hence the default. Collections
// of clustered real embeddings reach the same recall with a much lower ef_search.
struct IndexOptions {
  std::int64_t m = 16;                // 2..100
  std::int64_t ef_construction = 64;  // 4..1000, at least 2 m
  std::int64_t ef_search = 500;       // 1..kMaxEfSearch
};
inline constexpr IndexOptions kDefaultIndexOptions{};
Result<void> ValidateIndexOptions(const IndexOptions& options);

struct CollectionInfo {
  std::string name;
  std::int64_t dimension = 0;
  Metric metric = Metric::kCosine;
  bool indexed = false;               // HNSW index (dimension <= kMaxIndexedDimension)
  IndexOptions options;
  std::optional<std::int64_t> count;  // rows, when listed
  boost::json::value created_at;      // RFC 3339, as the catalog has it
};

struct SearchRequest {
  const boost::json::value* embedding = nullptr;
  std::int64_t top_k = 10;
  const boost::json::value* filter = nullptr;  // null: none
  std::optional<std::int64_t> ef_search;
};

class VectorStore {
 public:
  // `timeout` bounds each request's pool wait and statements.
  VectorStore(SqlBackend& backend, std::chrono::milliseconds timeout) : backend_(backend), timeout_(timeout) {}

  // The start-up check: is pgvector installed on VECTOR_URL's database (created when it is
  // available but not yet created), and the catalog there. Logs a warning naming what is missing;
  // until it passes, every operation answers 503 (re-checked at most every kRecheckInterval).
  boost::asio::awaitable<Result<void>> Initialize();

  boost::asio::awaitable<Result<CollectionInfo>> CreateCollection(std::string name, std::int64_t dimension,
                                                                  Metric metric,
                                                                  IndexOptions options = kDefaultIndexOptions);
  boost::asio::awaitable<Result<std::vector<CollectionInfo>>> ListCollections();
  boost::asio::awaitable<Result<void>> DropCollection(std::string name);
  // {items: [{id, embedding, metadata?}]} already shape-checked by the caller except for ids,
  // embeddings and metadata, which are checked here. Returns the number of items written.
  boost::asio::awaitable<Result<std::size_t>> Upsert(std::string name, const boost::json::array& items);
  // Matches best first: [{id, score, distance, metadata}].
  boost::asio::awaitable<Result<boost::json::array>> Search(std::string name, SearchRequest request);
  boost::asio::awaitable<Result<void>> DeleteById(std::string name, std::string id);
  boost::asio::awaitable<Result<std::int64_t>> DeleteByFilter(std::string name, const boost::json::value& filter);

  static constexpr std::chrono::seconds kRecheckInterval{10};

 private:
  struct Meta {
    std::int64_t dimension = 0;
    Metric metric = Metric::kCosine;
    std::int64_t ef_search = kDefaultIndexOptions.ef_search;
  };

  boost::asio::awaitable<Result<void>> EnsureReady();
  // The collection's dimension and metric: cached, or read from the catalog (404 when absent).
  boost::asio::awaitable<Result<Meta>> LoadMeta(const std::string& name, bool refresh);
  // Runs `statements` as one atomic pipeline; the failing statement's error is returned with
  // SQLSTATE-specific wording for collections (42P01 → 404).
  boost::asio::awaitable<Result<std::vector<SqlOutcome>>> RunAtomic(std::span<const SqlStatement> statements,
                                                                    const std::string& name);

  SqlBackend& backend_;
  std::chrono::milliseconds timeout_;
  bool ready_ = false;
  bool iterative_scan_ = false;  // pgvector >= 0.8: hnsw.iterative_scan keeps filtered searches complete
  std::optional<Error> unavailable_;
  std::chrono::steady_clock::time_point checked_at_{};
  std::unordered_map<std::string, Meta> meta_;
};

}  // namespace coredb::vectors
