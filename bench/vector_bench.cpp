// vector_bench — the vectors API beside the same SQL sent straight through libpq, against the
// same pgvector server, in the same run (bench/README.md "Vectors"). One client, closed loop, on
// both sides:
//   1. upsert N random D-dimensional vectors (batches of B, one statement each: INSERT ...
//      SELECT FROM unnest(...) ON CONFLICT DO UPDATE, into a table with its HNSW index) →
//      vectors/s; directly into `bench_vec_direct`, and through POST /api/v1/vectors/{c}/upsert
//      into collection `bench_vec_http`;
//   2. Q searches at topK K (ORDER BY embedding <=> $1 LIMIT K) → p50/p99 latency;
//   3. recall@K of the HNSW answers (from the service) against an exact brute-force top-K computed
//      here, over the first R queries: with the default search, then for each efSearch of
//      --ef-sweep (default 40,100,200,400,1000), with its p50/p99.
// --skip-direct runs the service side only (the sweep without waiting for the direct upsert).
// Prints a table and one line `RESULT ...` per side. Blocking I/O is fine here: a benchmark
// client, not the service.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string conninfo;  // VECTOR_URL
  std::string host = "127.0.0.1";
  std::string port;
  std::string token;
  int rows = 10000, dim = 384, batch = 1000, queries = 500, top_k = 10, recall_queries = 100;
  bool skip_direct = false;
  std::vector<int> ef_sweep = {40, 100, 200, 400, 1000};  // recall and p50 at each efSearch
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "vector_bench: error: %s\n", message.c_str());
  std::exit(1);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

std::string VectorText(const std::vector<float>& v) {
  std::string out = "[";
  char buf[32];
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out.push_back(',');
    out.append(buf, std::to_chars(buf, buf + sizeof buf, v[i]).ptr);
  }
  out.push_back(']');
  return out;
}

// Array literal of quoted elements: {"a","b"} (the elements here never hold quotes or backslashes).
std::string ArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out.push_back(',');
    out += '"' + items[i] + '"';
  }
  out.push_back('}');
  return out;
}

class Pg {
 public:
  explicit Pg(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) Die(std::string("libpq: ") + PQerrorMessage(conn_));
  }
  ~Pg() { PQfinish(conn_); }
  void Exec(const std::string& sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    PGresult* r =
        PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      std::string message = PQresultErrorMessage(r);
      PQclear(r);
      Die("libpq: " + message);
    }
    last_rows_ = PQntuples(r);
    PQclear(r);
  }
  int last_rows() const { return last_rows_; }

 private:
  PGconn* conn_;
  int last_rows_ = 0;
};

class HttpClient {
 public:
  HttpClient(const std::string& host, const std::string& port, std::string token)
      : socket_(ioc_), token_(std::move(token)) {
    asio::ip::tcp::resolver resolver(ioc_);
    asio::connect(socket_, resolver.resolve(host, port));
    host_ = host;
  }
  // Returns the status; the body in `body`.
  unsigned Request(http::verb method, const std::string& target, const std::string& payload, std::string& body) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = payload;
    req.prepare_payload();
    http::write(socket_, req);
    http::response<http::string_body> res;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(socket_, buffer_, parser);
    res = parser.release();
    body = std::move(res.body());
    return res.result_int();
  }

 private:
  asio::io_context ioc_;
  asio::ip::tcp::socket socket_;
  beast::flat_buffer buffer_;
  std::string token_;
  std::string host_;
};

struct SideResult {
  double upsert_vps = 0, upsert_s = 0, p50 = 0, p99 = 0, mean = 0;
};

std::string UpsertSql(const std::string& table) {
  return "INSERT INTO " + table +
         " (id, embedding, metadata) SELECT u.id, u.embedding::vector, u.metadata FROM unnest($1::text[], "
         "$2::text[], $3::jsonb[]) AS u(id, embedding, metadata) ON CONFLICT (id) DO UPDATE SET embedding = "
         "EXCLUDED.embedding, metadata = EXCLUDED.metadata, updated_at = now()";
}

SideResult RunDirect(const Options& o, const std::vector<std::vector<float>>& data,
                     const std::vector<std::vector<float>>& queries) {
  Pg pg(o.conninfo);
  const std::string table = "public.bench_vec_direct";
  pg.Exec("DROP TABLE IF EXISTS " + table);
  // The DDL a collection gets (vector_store.cpp).
  pg.Exec("CREATE TABLE " + table + " (id text PRIMARY KEY, embedding vector(" + std::to_string(o.dim) +
          ") NOT NULL, metadata jsonb NOT NULL DEFAULT '{}'::jsonb, created_at timestamptz NOT NULL DEFAULT now(), "
          "updated_at timestamptz NOT NULL DEFAULT now())");
  pg.Exec("CREATE INDEX ON " + table + " USING gin (metadata jsonb_path_ops)");
  pg.Exec("CREATE INDEX ON " + table + " USING hnsw (embedding vector_cosine_ops)");
  SideResult result;
  const std::string sql = UpsertSql(table);
  const auto start = Clock::now();
  for (int begin = 0; begin < o.rows; begin += o.batch) {
    std::vector<std::string> ids, embeddings, metadata;
    for (int i = begin; i < std::min(o.rows, begin + o.batch); ++i) {
      ids.push_back("v" + std::to_string(i));
      embeddings.push_back(VectorText(data[i]));
      metadata.push_back("{\\\"n\\\":" + std::to_string(i) + "}");
    }
    pg.Exec(sql, {ArrayLiteral(ids), ArrayLiteral(embeddings), ArrayLiteral(metadata)});
  }
  result.upsert_s = std::chrono::duration<double>(Clock::now() - start).count();
  result.upsert_vps = o.rows / result.upsert_s;

  const std::string search = "SELECT id, embedding <=> $1::vector AS distance, metadata FROM " + table +
                             " WHERE true ORDER BY embedding <=> $1::vector LIMIT $2";
  // Like for like: the service searches with the collection's default ef_search (500,
  // vectors::kDefaultIndexOptions), not pgvector's 40 (recall@10 ≈ 0.34 on this data).
  pg.Exec("SET hnsw.ef_search = 500");
  std::vector<double> latencies;
  for (const auto& q : queries) {
    const auto t0 = Clock::now();
    pg.Exec(search, {VectorText(q), std::to_string(o.top_k)});
    latencies.push_back(Ms(Clock::now() - t0));
    if (pg.last_rows() != o.top_k) Die("direct search returned " + std::to_string(pg.last_rows()) + " rows");
  }
  result.p50 = Percentile(latencies, 50);
  result.p99 = Percentile(latencies, 99);
  double sum = 0;
  for (double l : latencies) sum += l;
  result.mean = sum / static_cast<double>(latencies.size());
  pg.Exec("DROP TABLE " + table);
  return result;
}

json::array ToJson(const std::vector<float>& v) {
  json::array a;
  a.reserve(v.size());
  for (float f : v) a.push_back(static_cast<double>(f));
  return a;
}

SideResult RunHttp(const Options& o, const std::vector<std::vector<float>>& data,
                   const std::vector<std::vector<float>>& queries, double& recall) {
  HttpClient client(o.host, o.port, o.token);
  std::string body;
  const std::string name = "bench_vec_http";
  client.Request(http::verb::delete_, "/api/v1/vectors/collections/" + name, "", body);
  const json::object create{{"name", name}, {"dimension", o.dim}, {"metric", "cosine"}};
  if (unsigned s = client.Request(http::verb::post, "/api/v1/vectors/collections", json::serialize(create), body);
      s != 201) {
    Die("create collection: " + std::to_string(s) + " " + body);
  }
  SideResult result;
  const auto start = Clock::now();
  for (int begin = 0; begin < o.rows; begin += o.batch) {
    json::array items;
    for (int i = begin; i < std::min(o.rows, begin + o.batch); ++i) {
      items.push_back(json::object{
          {"id", "v" + std::to_string(i)}, {"embedding", ToJson(data[i])}, {"metadata", json::object{{"n", i}}}});
    }
    const std::string payload = json::serialize(json::object{{"items", std::move(items)}});
    if (unsigned s = client.Request(http::verb::post, "/api/v1/vectors/" + name + "/upsert", payload, body); s != 200) {
      Die("upsert: " + std::to_string(s) + " " + body.substr(0, 300));
    }
  }
  result.upsert_s = std::chrono::duration<double>(Clock::now() - start).count();
  result.upsert_vps = o.rows / result.upsert_s;

  std::vector<double> latencies;
  std::vector<std::vector<int>> answers;
  for (const auto& q : queries) {
    const std::string payload = json::serialize(json::object{{"embedding", ToJson(q)}, {"topK", o.top_k}});
    const auto t0 = Clock::now();
    unsigned s = client.Request(http::verb::post, "/api/v1/vectors/" + name + "/search", payload, body);
    latencies.push_back(Ms(Clock::now() - t0));
    if (s != 200) Die("search: " + std::to_string(s) + " " + body.substr(0, 300));
    std::vector<int> ids;
    const json::value answer = json::parse(body);
    for (const auto& m : answer.at("matches").as_array()) {
      ids.push_back(std::stoi(std::string(m.at("id").as_string()).substr(1)));
    }
    if (static_cast<int>(ids.size()) != o.top_k) Die("search returned " + std::to_string(ids.size()) + " matches");
    answers.push_back(std::move(ids));
  }
  result.p50 = Percentile(latencies, 50);
  result.p99 = Percentile(latencies, 99);
  double sum = 0;
  for (double l : latencies) sum += l;
  result.mean = sum / static_cast<double>(latencies.size());

  // Recall@K against exact cosine top-K, for the default search and for each efSearch of the sweep.
  std::vector<double> norms(data.size());
  for (std::size_t i = 0; i < data.size(); ++i) {
    double s = 0;
    for (float f : data[i]) s += static_cast<double>(f) * f;
    norms[i] = std::sqrt(s);
  }
  const int n = std::min<int>(o.recall_queries, static_cast<int>(queries.size()));
  std::vector<std::unordered_set<int>> exact(static_cast<std::size_t>(n));
  for (int qi = 0; qi < n; ++qi) {
    const auto& q = queries[qi];
    double qn = 0;
    for (float f : q) qn += static_cast<double>(f) * f;
    qn = std::sqrt(qn);
    std::vector<std::pair<double, int>> d(data.size());
    for (std::size_t i = 0; i < data.size(); ++i) {
      double dot = 0;
      for (int k = 0; k < o.dim; ++k) dot += static_cast<double>(data[i][k]) * q[k];
      d[i] = {1.0 - dot / (norms[i] * qn), static_cast<int>(i)};
    }
    std::partial_sort(d.begin(), d.begin() + o.top_k, d.end());
    for (int k = 0; k < o.top_k; ++k) exact[qi].insert(d[k].second);
  }
  auto recall_of = [&](const std::vector<std::vector<int>>& got) {
    std::size_t hits = 0, total = 0;
    for (int qi = 0; qi < n; ++qi) {
      for (int id : got[qi]) hits += exact[qi].count(id);
      total += static_cast<std::size_t>(o.top_k);
    }
    return total ? static_cast<double>(hits) / static_cast<double>(total) : 0.0;
  };
  recall = recall_of(answers);
  for (int ef : o.ef_sweep) {
    std::vector<std::vector<int>> got;
    std::vector<double> lat;
    for (int qi = 0; qi < n; ++qi) {
      const std::string payload =
          json::serialize(json::object{{"embedding", ToJson(queries[qi])}, {"topK", o.top_k}, {"efSearch", ef}});
      const auto t0 = Clock::now();
      unsigned st = client.Request(http::verb::post, "/api/v1/vectors/" + name + "/search", payload, body);
      lat.push_back(Ms(Clock::now() - t0));
      if (st != 200) Die("search: " + std::to_string(st) + " " + body.substr(0, 300));
      const json::value answer = json::parse(body);
      std::vector<int> ids;
      for (const auto& m : answer.at("matches").as_array()) {
        ids.push_back(std::stoi(std::string(m.at("id").as_string()).substr(1)));
      }
      got.push_back(std::move(ids));
    }
    std::printf("efSearch %4d: recall@%d %.4f, p50 %.3f ms, p99 %.3f ms (%d queries, via coredb)\n", ef, o.top_k,
                recall_of(got), Percentile(lat, 50), Percentile(lat, 99), n);
    std::fflush(stdout);
  }
  client.Request(http::verb::delete_, "/api/v1/vectors/collections/" + name, "", body);
  return result;
}

int ParseInt(const char* s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s, s + std::strlen(s), v);
  if (ec != std::errc() || *p != '\0' || v <= 0) Die(std::string("not a positive integer: ") + s);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) Die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--conninfo")
      o.conninfo = next();
    else if (a == "--port")
      o.port = next();
    else if (a == "--token")
      o.token = next();
    else if (a == "--rows")
      o.rows = ParseInt(next());
    else if (a == "--dim")
      o.dim = ParseInt(next());
    else if (a == "--batch")
      o.batch = ParseInt(next());
    else if (a == "--queries")
      o.queries = ParseInt(next());
    else if (a == "--top-k")
      o.top_k = ParseInt(next());
    else if (a == "--recall-queries")
      o.recall_queries = ParseInt(next());
    else if (a == "--skip-direct")
      o.skip_direct = true;
    else if (a == "--ef-sweep") {
      o.ef_sweep.clear();
      const std::string list = next();
      for (std::size_t pos = 0; pos < list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        o.ef_sweep.push_back(ParseInt(list.substr(pos, comma - pos).c_str()));
        pos = comma + 1;
      }
    } else
      Die("unknown option " + a + " (see bench/README.md)");
  }
  if (o.token.empty()) {
    if (const char* t = std::getenv("COREDB_ADMIN_TOKEN")) o.token = t;
  }
  if (o.conninfo.empty() || o.port.empty() || o.token.empty()) Die("--conninfo, --port and --token are required");

  std::mt19937 rng(12345);
  std::normal_distribution<float> normal(0.0F, 1.0F);
  auto random_vector = [&] {
    std::vector<float> v(static_cast<std::size_t>(o.dim));
    for (float& f : v) f = normal(rng);
    return v;
  };
  std::vector<std::vector<float>> data, queries;
  for (int i = 0; i < o.rows; ++i) data.push_back(random_vector());
  for (int i = 0; i < o.queries; ++i) queries.push_back(random_vector());

  std::fprintf(stderr, "vector_bench: %d x %d-d vectors (cosine), batches of %d, %d searches at topK %d\n", o.rows,
               o.dim, o.batch, o.queries, o.top_k);
  std::fprintf(stderr, "vector_bench: libpq direct ...\n");
  const SideResult direct = o.skip_direct ? SideResult{} : RunDirect(o, data, queries);
  std::fprintf(stderr, "vector_bench: HTTP via coredb ...\n");
  double recall = 0;
  const SideResult service = RunHttp(o, data, queries, recall);

  std::printf("%-22s %14s %12s %10s %10s %10s\n", "side", "upsert vec/s", "upsert s", "p50 ms", "p99 ms", "mean ms");
  std::printf("%-22s %14.0f %12.2f %10.3f %10.3f %10.3f\n", "libpq direct", direct.upsert_vps, direct.upsert_s,
              direct.p50, direct.p99, direct.mean);
  std::printf("%-22s %14.0f %12.2f %10.3f %10.3f %10.3f\n", "coredb HTTP", service.upsert_vps, service.upsert_s,
              service.p50, service.p99, service.mean);
  std::printf("recall@%d (HNSW via coredb vs exact, %d queries): %.4f\n", o.top_k,
              std::min(o.recall_queries, o.queries), recall);
  std::printf("RESULT side=direct upsert_vps=%.0f p50_ms=%.3f p99_ms=%.3f\n", direct.upsert_vps, direct.p50,
              direct.p99);
  std::printf("RESULT side=http upsert_vps=%.0f p50_ms=%.3f p99_ms=%.3f recall=%.4f\n", service.upsert_vps, service.p50,
              service.p99, recall);
  return 0;
}
