#include "coredb/vectors/vector_store.hpp"

#include <boost/json/serialize.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <regex>
#include <unordered_set>

namespace coredb::vectors {

namespace json = boost::json;
using boost::asio::awaitable;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kCatalog = "coredb_vectors._collections";
constexpr const char* kGuardSql =
    "SELECT 1 / count(*)::int AS ok FROM coredb_vectors._collections WHERE name = $1 AND dimension = $2 AND "
    "metric = $3";

const char* OperatorClass(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "vector_cosine_ops";
    case Metric::kL2:
      return "vector_l2_ops";
    case Metric::kInnerProduct:
      return "vector_ip_ops";
  }
  return "vector_l2_ops";
}

// pgvector's distance operators: <=> cosine distance, <-> Euclidean distance, <#> negative inner
// product (so that smaller is better for all three, which is what its indexes order by).
const char* DistanceOperator(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "<=>";
    case Metric::kL2:
      return "<->";
    case Metric::kInnerProduct:
      return "<#>";
  }
  return "<->";
}

// API.md: score is higher-is-better (cosine: 1 − cosine distance; l2: −distance; ip: inner
// product, which is −<#>).
double Score(Metric metric, double distance) { return metric == Metric::kCosine ? 1.0 - distance : -distance; }

std::string NotFound(std::string_view name) { return "collection '" + std::string(name) + "' not found"; }

bool HasSqlState(const Error& error, std::string_view state) { return error.pg && error.pg->sqlstate == state; }
// A relation or schema that is not there (any more): a collection's table, or the whole store.
bool RelationGone(const Error& error) { return HasSqlState(error, "42P01") || HasSqlState(error, "3F000"); }

const json::array* Rows(const SqlOutcome& outcome) {
  const json::value* rows = outcome.body.if_contains("rows");
  return rows != nullptr && rows->is_array() ? &rows->get_array() : nullptr;
}

std::int64_t RowCount(const SqlOutcome& outcome) {
  const json::value* count = outcome.body.if_contains("rowCount");
  if (count == nullptr) return 0;
  if (count->is_int64()) return count->get_int64();
  if (count->is_uint64()) return static_cast<std::int64_t>(count->get_uint64());
  return 0;
}

std::optional<std::int64_t> IntegerOf(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_string()) {
    std::int64_t out = 0;
    std::string_view s = v.get_string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && ptr == s.data() + s.size()) return out;
  }
  return std::nullopt;
}

Error Unavailable(std::string message) {
  Error error(ErrorCode::kDatabaseUnavailable, std::move(message));
  error.retry_after_seconds = static_cast<int>(VectorStore::kRecheckInterval.count());
  return error;
}

// pgvector's version "0.8.7" → true when >= 0.8 (hnsw.iterative_scan exists).
bool HasIterativeScan(std::string_view version) {
  int major = 0, minor = 0;
  auto [p, ec] = std::from_chars(version.data(), version.data() + version.size(), major);
  if (ec != std::errc() || p == version.data() + version.size() || *p != '.') return false;
  std::from_chars(p + 1, version.data() + version.size(), minor);
  return major > 0 || minor >= 8;
}

}  // namespace

std::optional<Metric> ParseMetric(std::string_view name) {
  if (name == "cosine") return Metric::kCosine;
  if (name == "l2") return Metric::kL2;
  if (name == "ip") return Metric::kInnerProduct;
  return std::nullopt;
}

const char* MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCosine:
      return "cosine";
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "ip";
  }
  return "l2";
}

Result<void> ValidateCollectionName(std::string_view name) {
  static const std::regex kPattern(kCollectionNamePattern);
  if (!std::regex_match(name.begin(), name.end(), kPattern)) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "invalid collection name: 1 to 63 characters, lower-case letters, digits and '_', starting "
                     "with a letter (" +
                         std::string(kCollectionNamePattern) + ")");
  }
  if (name == "collections") {
    return MakeError(ErrorCode::kInvalidRequest, "'collections' is reserved (it is a route of its own)");
  }
  return {};
}

std::string QualifiedTable(std::string_view name) {
  // The name matched kCollectionNamePattern: no quote can be in it; quoting keeps it exact.
  return std::string("\"") + kSchema + "\".\"" + std::string(name) + "\"";
}

Result<std::string> EmbeddingText(const json::value& embedding, std::size_t dimension, Metric metric,
                                  const std::string& path) {
  if (!embedding.is_array()) {
    return MakeError(ErrorCode::kInvalidRequest, "'" + path + "' must be an array of numbers");
  }
  const json::array& values = embedding.get_array();
  if (values.empty()) return MakeError(ErrorCode::kInvalidRequest, "'" + path + "' must not be empty");
  if (values.size() != dimension) {
    return MakeError(ErrorCode::kInvalidRequest, "'" + path + "' has " + std::to_string(values.size()) +
                                                     " dimensions; the collection has " + std::to_string(dimension));
  }
  std::string out;
  out.reserve(values.size() * 12 + 2);
  out.push_back('[');
  bool all_zero = true;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const json::value& v = values[i];
    double d = 0;
    if (v.is_int64())
      d = static_cast<double>(v.get_int64());
    else if (v.is_uint64())
      d = static_cast<double>(v.get_uint64());
    else if (v.is_double())
      d = v.get_double();
    else {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'" + path + "[" + std::to_string(i) + "]' must be a number (NaN and Infinity are not allowed)");
    }
    // pgvector stores float4: a value beyond its range is as unusable as Infinity.
    if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(FLT_MAX)) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'" + path + "[" + std::to_string(i) +
                           "]' must be a finite number within float4's range (|x| <= " + "3.4028235e38)");
    }
    const float f = static_cast<float>(d);
    if (f != 0.0F) all_zero = false;
    if (i != 0) out.push_back(',');
    char buf[32];
    out.append(buf, std::to_chars(buf, buf + sizeof buf, f).ptr);
  }
  out.push_back(']');
  if (all_zero && metric == Metric::kCosine) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'" + path + "' is the zero vector, which has no cosine distance to anything");
  }
  return out;
}

Result<std::string> FilterSql(const json::value& filter, json::array& params) {
  if (!filter.is_object()) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "'filter' must be an object: {key: value} or {key: {\"$in\": [values]}} on metadata");
  }
  json::object equal;
  std::string sql;
  auto add = [&sql](const std::string& clause) {
    if (!sql.empty()) sql += " AND ";
    sql += clause;
  };
  for (const auto& kv : filter.get_object()) {
    const std::string key(kv.key());
    if (!key.empty() && key.front() == '$') {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'filter." + key + "': operators go inside a key ({key: {\"$in\": [...]}})");
    }
    const json::value& v = kv.value();
    const bool has_operator =
        v.is_object() && std::any_of(v.get_object().begin(), v.get_object().end(),
                                     [](const auto& m) { return !m.key().empty() && m.key().front() == '$'; });
    if (!has_operator) {
      // Scalars: equality; arrays and objects: containment (jsonb @> semantics).
      equal[key] = v;
      continue;
    }
    const json::object& op = v.get_object();
    const json::value* in = op.if_contains("$in");
    if (op.size() != 1 || in == nullptr) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'filter." + key + "': the only operator is $in ({\"$in\": [values]}, alone)");
    }
    if (!in->is_array() || in->get_array().empty() || in->get_array().size() > kMaxInValues) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "'filter." + key + ".$in' must be an array of 1.." + std::to_string(kMaxInValues) + " values");
    }
    json::array alternatives;
    alternatives.reserve(in->get_array().size());
    for (const json::value& candidate : in->get_array()) alternatives.push_back(json::object{{key, candidate}});
    params.push_back(std::move(alternatives));
    add("metadata @> ANY($" + std::to_string(params.size()) + "::jsonb[])");
  }
  if (!equal.empty()) {
    params.push_back(std::move(equal));
    add("metadata @> $" + std::to_string(params.size()) + "::jsonb");
  }
  if (sql.empty()) sql = "true";
  return sql;
}

// ---------------------------------------------------------------------------------------------

awaitable<Result<void>> VectorStore::Initialize() {
  checked_at_ = Clock::now();
  const std::string probe_sql =
      "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed, "
      "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available, "
      "to_regclass('coredb_vectors._collections') IS NOT NULL AS catalog, "
      "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'coredb_vectors' AND table_name = "
      "'_collections' AND column_name = 'ef_search') AS index_options";
  const SqlStatement probe{probe_sql, nullptr, RowMode::kObject, timeout_};
  auto probed = co_await backend_.Run(probe);
  if (!probed) {
    spdlog::warn("vector store: cannot check pgvector on VECTOR_URL: {}", probed.error().message);
    co_return probed.error();
  }
  const json::array* rows = Rows(*probed);
  if (rows == nullptr || rows->empty()) co_return MakeError(ErrorCode::kInternal, "pgvector probe returned no row");
  const json::object& row = rows->front().as_object();
  std::string version = row.at("installed").is_string() ? std::string(row.at("installed").get_string()) : "";
  if (version.empty()) {
    if (!row.at("available").as_bool()) {
      unavailable_ = Unavailable(
          "pgvector is missing: the `vector` extension is not installed on VECTOR_URL's PostgreSQL server, so the "
          "vectors API is unavailable (install pgvector, then CREATE EXTENSION vector)");
      spdlog::warn("vector store: {}", unavailable_->message);
      co_return *unavailable_;
    }
    const std::string create_sql = "CREATE EXTENSION IF NOT EXISTS vector";
    const SqlStatement create{create_sql, nullptr, RowMode::kObject, timeout_};
    auto created = co_await backend_.Run(create);
    if (!created) {
      unavailable_ = Unavailable(
          "pgvector is missing: the `vector` extension is available on VECTOR_URL's server but not created in its "
          "database, and CREATE EXTENSION vector failed (" +
          created.error().message + "); a superuser must run it");
      spdlog::warn("vector store: {}", unavailable_->message);
      co_return *unavailable_;
    }
    spdlog::info("vector store: created the `vector` extension on VECTOR_URL's database");
    auto again = co_await backend_.Run(probe);
    if (again && Rows(*again) != nullptr && !Rows(*again)->empty()) {
      const json::value& v = Rows(*again)->front().as_object().at("installed");
      if (v.is_string()) version = std::string(v.get_string());
    }
  }
  if (!row.at("catalog").as_bool() || !row.at("index_options").as_bool()) {
    // The index options (m, ef_construction, ef_search) came after the first catalogs: a catalog
    // without them gains them (NULL = the defaults those collections were built with).
    const std::string schema_sql = "CREATE SCHEMA IF NOT EXISTS coredb_vectors";
    const std::string catalog_sql =
        "CREATE TABLE IF NOT EXISTS coredb_vectors._collections (name text PRIMARY KEY, dimension integer NOT "
        "NULL, metric text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())";
    const std::string options_sql =
        "ALTER TABLE coredb_vectors._collections ADD COLUMN IF NOT EXISTS m integer, ADD COLUMN IF NOT EXISTS "
        "ef_construction integer, ADD COLUMN IF NOT EXISTS ef_search integer";
    std::vector<SqlStatement> statements{SqlStatement{schema_sql, nullptr, RowMode::kObject, timeout_},
                                         SqlStatement{catalog_sql, nullptr, RowMode::kObject, timeout_},
                                         SqlStatement{options_sql, nullptr, RowMode::kObject, timeout_}};
    auto created = co_await backend_.RunBatch(statements, true, timeout_);
    Error failure;
    bool failed = !created;
    if (created) {
      for (auto& r : *created) {
        if (!r) {
          failure = r.error();
          failed = true;
          break;
        }
      }
    } else {
      failure = created.error();
    }
    if (failed) {
      spdlog::warn("vector store: cannot create the catalog coredb_vectors._collections: {}", failure.message);
      co_return failure;
    }
  }
  iterative_scan_ = HasIterativeScan(version);
  unavailable_.reset();
  ready_ = true;
  spdlog::info("vector store: pgvector {} on VECTOR_URL, collections in schema {}", version, kSchema);
  co_return Result<void>();
}

awaitable<Result<void>> VectorStore::EnsureReady() {
  if (ready_) co_return Result<void>();
  if (unavailable_ && Clock::now() - checked_at_ < kRecheckInterval) co_return *unavailable_;
  auto initialized = co_await Initialize();
  co_return initialized;
}

awaitable<Result<std::vector<SqlOutcome>>> VectorStore::RunAtomic(std::span<const SqlStatement> statements,
                                                                  const std::string& name) {
  for (int attempt = 0;; ++attempt) {
    auto results = co_await backend_.RunBatch(statements, true, timeout_);
    if (!results) co_return results.error();
    std::vector<SqlOutcome> out;
    out.reserve(results->size());
    std::optional<Error> failed;
    for (auto& r : *results) {
      if (!r) {
        failed = r.error();
        break;
      }
      out.push_back(std::move(*r));
    }
    if (!failed) co_return out;
    // A relation or schema gone behind our back: the collection's table, or the whole store (a
    // vector server that came back empty, as PGlite does after a restart). Check the catalog again
    // (Initialize recreates it) and run once more: nothing of the atomic batch took effect.
    if (RelationGone(*failed)) {
      meta_.erase(name);
      ready_ = false;
      if (attempt == 0) {
        auto ready = co_await EnsureReady();
        if (!ready) co_return ready.error();
        continue;
      }
      co_return MakeError(ErrorCode::kNotFound, NotFound(name));
    }
    co_return *failed;
  }
}

awaitable<Result<VectorStore::Meta>> VectorStore::LoadMeta(const std::string& name, bool refresh) {
  if (!refresh) {
    if (auto it = meta_.find(name); it != meta_.end()) co_return it->second;
  }
  meta_.erase(name);
  const std::string sql = "SELECT dimension, metric, ef_search FROM coredb_vectors._collections WHERE name = $1";
  const json::array params{json::string(name)};
  const SqlStatement statement{sql, &params, RowMode::kObject, timeout_};
  auto outcome = co_await backend_.Run(statement);
  if (!outcome && RelationGone(outcome.error())) {
    // The catalog itself is gone (a vector server that came back empty): the next call makes it again.
    ready_ = false;
    co_return MakeError(ErrorCode::kNotFound, NotFound(name));
  }
  if (!outcome) co_return outcome.error();
  const json::array* rows = Rows(*outcome);
  if (rows == nullptr || rows->empty()) co_return MakeError(ErrorCode::kNotFound, NotFound(name));
  const json::object& row = rows->front().as_object();
  auto metric = ParseMetric(row.at("metric").as_string());
  if (!metric) co_return MakeError(ErrorCode::kInternal, "catalog row of '" + name + "' has an unknown metric");
  Meta meta{row.at("dimension").as_int64(), *metric, kDefaultIndexOptions.ef_search};
  if (row.at("ef_search").is_int64()) meta.ef_search = row.at("ef_search").as_int64();
  // Bounded: the map only ever holds collections that exist (or existed) in the catalog.
  if (meta_.size() >= 100000) meta_.clear();
  meta_[name] = meta;
  co_return meta;
}

Result<void> ValidateIndexOptions(const IndexOptions& options) {
  if (options.m < 2 || options.m > 100) {
    return MakeError(ErrorCode::kInvalidRequest, "'m' must be an integer in 2..100");
  }
  if (options.ef_construction < 4 || options.ef_construction > 1000) {
    return MakeError(ErrorCode::kInvalidRequest, "'efConstruction' must be an integer in 4..1000");
  }
  if (options.ef_construction < 2 * options.m) {
    return MakeError(ErrorCode::kInvalidRequest, "'efConstruction' must be at least twice 'm' (pgvector's rule)");
  }
  if (options.ef_search < 1 || options.ef_search > kMaxEfSearch) {
    return MakeError(ErrorCode::kInvalidRequest, "'efSearch' must be an integer in 1.." + std::to_string(kMaxEfSearch));
  }
  return {};
}

awaitable<Result<CollectionInfo>> VectorStore::CreateCollection(std::string name, std::int64_t dimension,
                                                                Metric metric, IndexOptions options) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  if (dimension < 1 || dimension > kMaxDimension) {
    co_return MakeError(ErrorCode::kInvalidRequest,
                        "'dimension' must be an integer in 1.." + std::to_string(kMaxDimension));
  }
  if (auto valid = ValidateIndexOptions(options); !valid) co_return valid.error();
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();

  const std::string table = QualifiedTable(name);
  const bool indexed = dimension <= kMaxIndexedDimension;
  const std::string insert_sql =
      std::string("INSERT INTO ") + kCatalog +
      " (name, dimension, metric, m, ef_construction, ef_search) VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at";
  // The dimension is a validated integer, the metric one of three constants, the name validated.
  const std::string table_sql = "CREATE TABLE " + table + " (id text PRIMARY KEY, embedding vector(" +
                                std::to_string(dimension) +
                                ") NOT NULL, metadata jsonb NOT NULL DEFAULT '{}'::jsonb, created_at timestamptz NOT "
                                "NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())";
  // m and ef_construction are validated integers.
  const std::string hnsw_sql = "CREATE INDEX ON " + table + " USING hnsw (embedding " + OperatorClass(metric) +
                               ") WITH (m = " + std::to_string(options.m) +
                               ", ef_construction = " + std::to_string(options.ef_construction) + ")";
  const std::string gin_sql = "CREATE INDEX ON " + table + " USING gin (metadata jsonb_path_ops)";
  const std::string comment_sql = "COMMENT ON TABLE " + table + " IS 'coredb vector collection: dimension " +
                                  std::to_string(dimension) + ", metric " + MetricName(metric) + "'";
  const json::array params{json::string(name),  dimension,
                           json::string(MetricName(metric)), options.m,
                           options.ef_construction, options.ef_search};
  std::vector<SqlStatement> statements{SqlStatement{insert_sql, &params, RowMode::kObject, timeout_},
                                       SqlStatement{table_sql, nullptr, RowMode::kObject, timeout_},
                                       SqlStatement{gin_sql, nullptr, RowMode::kObject, timeout_},
                                       SqlStatement{comment_sql, nullptr, RowMode::kObject, timeout_}};
  if (indexed) statements.push_back(SqlStatement{hnsw_sql, nullptr, RowMode::kObject, timeout_});
  auto outcome = co_await RunAtomic(statements, name);
  if (!outcome) {
    Error error = outcome.error();
    if (HasSqlState(error, "23505") || HasSqlState(error, "42P07")) {
      co_return MakeError(ErrorCode::kConflict, "collection '" + name + "' already exists");
    }
    co_return error;
  }
  meta_[name] = Meta{dimension, metric, options.ef_search};
  CollectionInfo info;
  info.name = name;
  info.dimension = dimension;
  info.metric = metric;
  info.indexed = indexed;
  info.options = options;
  info.count = 0;
  if (const json::array* rows = Rows(outcome->front()); rows != nullptr && !rows->empty()) {
    info.created_at = rows->front().as_object().at("created_at");
  }
  co_return info;
}

awaitable<Result<std::vector<CollectionInfo>>> VectorStore::ListCollections() {
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  const std::string sql = std::string("SELECT name, dimension, metric, m, ef_construction, ef_search, created_at FROM ") +
                          kCatalog + " ORDER BY name";
  const SqlStatement statement{sql, nullptr, RowMode::kObject, timeout_};
  auto outcome = co_await backend_.Run(statement);
  if (!outcome) co_return outcome.error();
  std::vector<CollectionInfo> out;
  for (const json::value& v : *Rows(*outcome)) {
    const json::object& row = v.as_object();
    CollectionInfo info;
    info.name = std::string(row.at("name").as_string());
    info.dimension = row.at("dimension").as_int64();
    info.metric = ParseMetric(row.at("metric").as_string()).value_or(Metric::kL2);
    info.indexed = info.dimension <= kMaxIndexedDimension;
    if (row.at("m").is_int64()) info.options.m = row.at("m").as_int64();
    if (row.at("ef_construction").is_int64()) info.options.ef_construction = row.at("ef_construction").as_int64();
    if (row.at("ef_search").is_int64()) info.options.ef_search = row.at("ef_search").as_int64();
    info.created_at = row.at("created_at");
    out.push_back(std::move(info));
  }
  // Exact counts, in batches of at most 1000 statements, each round trip one pipeline.
  constexpr std::size_t kChunk = 1000;
  for (std::size_t begin = 0; begin < out.size(); begin += kChunk) {
    const std::size_t end = std::min(out.size(), begin + kChunk);
    std::vector<std::string> sqls;
    sqls.reserve(end - begin);
    for (std::size_t i = begin; i < end; ++i)
      sqls.push_back("SELECT count(*) AS n FROM " + QualifiedTable(out[i].name));
    std::vector<SqlStatement> statements;
    statements.reserve(sqls.size());
    for (const auto& s : sqls) statements.push_back(SqlStatement{s, nullptr, RowMode::kObject, timeout_});
    auto counts = co_await backend_.RunBatch(statements, false, timeout_);
    if (!counts) co_return counts.error();
    for (std::size_t i = 0; i < counts->size(); ++i) {
      auto& r = (*counts)[i];
      if (!r) continue;  // a catalog row without its table: no count
      const json::array* rows = Rows(*r);
      if (rows != nullptr && !rows->empty()) out[begin + i].count = IntegerOf(rows->front().as_object().at("n"));
    }
  }
  co_return out;
}

awaitable<Result<void>> VectorStore::DropCollection(std::string name) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  const std::string drop_sql = "DROP TABLE IF EXISTS " + QualifiedTable(name);
  const std::string delete_sql = std::string("DELETE FROM ") + kCatalog + " WHERE name = $1";
  const json::array params{json::string(name)};
  std::vector<SqlStatement> statements{SqlStatement{drop_sql, nullptr, RowMode::kObject, timeout_},
                                       SqlStatement{delete_sql, &params, RowMode::kObject, timeout_}};
  auto outcome = co_await RunAtomic(statements, name);
  meta_.erase(name);
  if (!outcome) co_return outcome.error();
  if (RowCount(outcome->back()) == 0) co_return MakeError(ErrorCode::kNotFound, NotFound(name));
  co_return Result<void>();
}

awaitable<Result<std::size_t>> VectorStore::Upsert(std::string name, const json::array& items) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  if (items.empty() || items.size() > kMaxUpsertItems) {
    co_return MakeError(ErrorCode::kInvalidRequest, "'items' must hold 1.." + std::to_string(kMaxUpsertItems) +
                                                        " items (it holds " + std::to_string(items.size()) + ")");
  }
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  auto meta = co_await LoadMeta(name, false);
  if (!meta) co_return meta.error();

  const std::string table = QualifiedTable(name);
  const std::string upsert_sql =
      "INSERT INTO " + table +
      " (id, embedding, metadata) SELECT u.id, u.embedding::vector, u.metadata FROM unnest($1::text[], $2::text[], "
      "$3::jsonb[]) AS u(id, embedding, metadata) ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding, "
      "metadata = EXCLUDED.metadata, updated_at = now()";
  for (int attempt = 0;; ++attempt) {
    // Every item is checked before anything is sent: one bad item fails the batch with its index.
    json::array ids, embeddings, metadata;
    ids.reserve(items.size());
    embeddings.reserve(items.size());
    metadata.reserve(items.size());
    std::unordered_map<std::string_view, std::size_t> seen;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string path = "items[" + std::to_string(i) + "]";
      auto fail = [&](std::string message) {
        Error error(ErrorCode::kInvalidRequest, std::move(message));
        error.failed_index = i;
        return error;
      };
      if (!items[i].is_object()) co_return fail("'" + path + "' must be an object {id, embedding, metadata?}");
      const json::object& item = items[i].get_object();
      for (const auto& kv : item) {
        if (kv.key() != "id" && kv.key() != "embedding" && kv.key() != "metadata") {
          co_return fail("unknown member '" + path + "." + std::string(kv.key()) + "'");
        }
      }
      const json::value* id = item.if_contains("id");
      if (id == nullptr || !id->is_string() || id->get_string().empty() || id->get_string().size() > kMaxIdBytes ||
          id->get_string().find('\0') != std::string_view::npos) {
        co_return fail("'" + path + ".id' must be a string of 1.." + std::to_string(kMaxIdBytes) +
                       " bytes without NUL");
      }
      const std::string_view id_text = id->get_string();
      if (auto [it, inserted] = seen.emplace(id_text, i); !inserted) {
        co_return fail("'" + path + ".id' repeats items[" + std::to_string(it->second) + "].id ('" +
                       std::string(id_text) + "'); send each id once per batch");
      }
      const json::value* embedding = item.if_contains("embedding");
      if (embedding == nullptr) co_return fail("missing required member '" + path + ".embedding'");
      auto text =
          EmbeddingText(*embedding, static_cast<std::size_t>(meta->dimension), meta->metric, path + ".embedding");
      if (!text) co_return fail(text.error().message);
      const json::value* meta_value = item.if_contains("metadata");
      if (meta_value != nullptr && !meta_value->is_null() && !meta_value->is_object()) {
        co_return fail("'" + path + ".metadata' must be an object");
      }
      ids.push_back(*id);
      embeddings.push_back(json::string(std::move(*text)));
      metadata.push_back(meta_value != nullptr && meta_value->is_object() ? *meta_value : json::object());
    }
    const json::array guard_params{json::string(name), meta->dimension, json::string(MetricName(meta->metric))};
    const json::array params{std::move(ids), std::move(embeddings), std::move(metadata)};
    std::vector<SqlStatement> statements{SqlStatement{kGuardSql, &guard_params, RowMode::kObject, timeout_},
                                         SqlStatement{upsert_sql, &params, RowMode::kObject, timeout_}};
    auto outcome = co_await RunAtomic(statements, name);
    if (!outcome && HasSqlState(outcome.error(), "22012") && attempt == 0) {
      // The catalog no longer matches what this instance cached: reload and check again.
      meta = co_await LoadMeta(name, true);
      if (!meta) co_return meta.error();
      continue;
    }
    if (!outcome) co_return outcome.error();
    co_return items.size();
  }
}

awaitable<Result<json::array>> VectorStore::Search(std::string name, SearchRequest request) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  // $1 (embedding) and $2 (topK) are filled in per attempt; the filter's parameters follow.
  json::array base_params{nullptr, nullptr};
  std::string where = "true";
  if (request.filter != nullptr) {
    auto filter = FilterSql(*request.filter, base_params);
    if (!filter) co_return filter.error();
    where = std::move(*filter);
  }
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  auto meta = co_await LoadMeta(name, false);
  if (!meta) co_return meta.error();

  // hnsw.ef_search bounds how many rows an HNSW scan returns (the recall/latency trade-off): the
  // request's, else the collection's, never below topK. Set for this query only
  // (set_config(..., true) is transaction-local and the pipeline is one transaction).
  const std::int64_t ef = std::max(request.ef_search.value_or(meta->ef_search), request.top_k);
  const bool filtered = where != "true";
  json::array settings_params{json::string(std::to_string(ef))};
  std::string settings_sql = "SELECT set_config('hnsw.ef_search', $1, true)";
  // pgvector >= 0.8: keep scanning the index until topK rows pass the filter, in exact order.
  if (filtered && iterative_scan_) settings_sql += ", set_config('hnsw.iterative_scan', 'strict_order', true)";

  for (int attempt = 0;; ++attempt) {
    if (request.embedding == nullptr) co_return MakeError(ErrorCode::kInvalidRequest, "missing 'embedding'");
    auto text = EmbeddingText(*request.embedding, static_cast<std::size_t>(meta->dimension), meta->metric, "embedding");
    if (!text) co_return text.error();
    json::array params = base_params;
    params[0] = json::string(std::move(*text));
    params[1] = request.top_k;
    const std::string op = DistanceOperator(meta->metric);
    const std::string search_sql = "SELECT id, embedding " + op + " $1::vector AS distance, metadata FROM " +
                                   QualifiedTable(name) + " WHERE " + where + " ORDER BY embedding " + op +
                                   " $1::vector LIMIT $2";
    const json::array guard_params{json::string(name), meta->dimension, json::string(MetricName(meta->metric))};
    std::vector<SqlStatement> statements{SqlStatement{kGuardSql, &guard_params, RowMode::kObject, timeout_}};
    statements.push_back(SqlStatement{settings_sql, &settings_params, RowMode::kObject, timeout_});
    statements.push_back(SqlStatement{search_sql, &params, RowMode::kObject, timeout_});
    auto outcome = co_await RunAtomic(statements, name);
    if (!outcome && HasSqlState(outcome.error(), "22012") && attempt == 0) {
      meta = co_await LoadMeta(name, true);
      if (!meta) co_return meta.error();
      continue;
    }
    if (!outcome) co_return outcome.error();
    json::array matches;
    const json::array* rows = Rows(outcome->back());
    if (rows == nullptr) co_return matches;
    matches.reserve(rows->size());
    for (const json::value& v : *rows) {
      const json::object& row = v.as_object();
      const json::value& distance = row.at("distance");
      json::value score = distance;  // NaN arrives as the string "NaN": passed through
      if (distance.is_double())
        score = Score(meta->metric, distance.get_double());
      else if (distance.is_int64())
        score = Score(meta->metric, static_cast<double>(distance.get_int64()));
      matches.push_back(json::object{
          {"id", row.at("id")}, {"score", score}, {"distance", distance}, {"metadata", row.at("metadata")}});
    }
    co_return matches;
  }
}

awaitable<Result<void>> VectorStore::DeleteById(std::string name, std::string id) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  if (id.empty() || id.size() > kMaxIdBytes || id.find('\0') != std::string::npos) {
    co_return MakeError(ErrorCode::kInvalidRequest,
                        "the item id must be 1.." + std::to_string(kMaxIdBytes) + " bytes without NUL");
  }
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  const std::string sql = "DELETE FROM " + QualifiedTable(name) + " WHERE id = $1";
  const json::array params{json::string(id)};
  std::vector<SqlStatement> statements{SqlStatement{sql, &params, RowMode::kObject, timeout_}};
  auto outcome = co_await RunAtomic(statements, name);
  if (!outcome) co_return outcome.error();
  if (RowCount(outcome->back()) == 0) {
    co_return MakeError(ErrorCode::kNotFound, "no item '" + id + "' in collection '" + name + "'");
  }
  co_return Result<void>();
}

awaitable<Result<std::int64_t>> VectorStore::DeleteByFilter(std::string name, const json::value& filter) {
  if (auto valid = ValidateCollectionName(name); !valid) co_return valid.error();
  json::array params;
  auto where = FilterSql(filter, params);
  if (!where) co_return where.error();
  if (filter.get_object().empty()) {
    co_return MakeError(ErrorCode::kInvalidRequest,
                        "'filter' must name at least one key (to delete everything, drop the collection)");
  }
  auto ready = co_await EnsureReady();
  if (!ready) co_return ready.error();
  const std::string sql = "DELETE FROM " + QualifiedTable(name) + " WHERE " + *where;
  std::vector<SqlStatement> statements{SqlStatement{sql, &params, RowMode::kObject, timeout_}};
  auto outcome = co_await RunAtomic(statements, name);
  if (!outcome) co_return outcome.error();
  co_return RowCount(outcome->back());
}

}  // namespace coredb::vectors
