// Black-box tests of POST /api/v1/query against the built binary and the real dev stack.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class QueryApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { service_ = new ServiceProcess(); }
  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
  }
  void TearDown() override {
    // Whatever a test did, the service must still be healthy afterwards.
    auto live = service_->Get("/health/live");
    EXPECT_EQ(live.status, 200u) << service_->Output();
  }
  static ServiceProcess& svc() { return *service_; }
  static json::value Row0(const HttpResult& r) { return r.json.at("rows").at(0); }

  static ServiceProcess* service_;
};
ServiceProcess* QueryApi::service_ = nullptr;

TEST_F(QueryApi, SelectOneReturnsRowsFieldsAndCounts) {
  auto r = svc().Query({{"sql", "SELECT 1 AS test"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("rows"), json::parse(R"([{"test":1}])"));
  EXPECT_EQ(r.json.at("rowCount"), 1);
  EXPECT_EQ(r.json.at("command"), "SELECT");
  EXPECT_TRUE(r.json.at("duration").is_number());
  EXPECT_EQ(r.json.at("fields"), json::parse(R"([{"name":"test","dataType":"int4","dataTypeID":23}])"));
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("x-request-id").size(), 32u);
}

TEST_F(QueryApi, EchoesTheCallersRequestId) {
  auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {{"X-Request-Id", "trace-abc-123"}});
  EXPECT_EQ(r.Header("x-request-id"), "trace-abc-123");
  auto bad = svc().Request("GET", "/nowhere", "", {{"X-Request-Id", "trace-xyz"}});
  EXPECT_EQ(bad.status, 404u);
  EXPECT_EQ(bad.Header("x-request-id"), "trace-xyz");
}

TEST_F(QueryApi, ParametersAreSentSeparatelyNeverSpliced) {
  auto r = svc().Query({{"sql", "SELECT $1::text AS s, $2::int AS n, $3::bool AS b, $4::text AS nul"},
                        {"params", json::array{"x'); DROP TABLE users; --", 42, true, nullptr}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Row0(r), json::parse(R"({"s":"x'); DROP TABLE users; --","n":42,"b":true,"nul":null})"));
}

TEST_F(QueryApi, ArrayAndObjectParams) {
  auto r = svc().Query({{"sql", "SELECT $1::int[] AS a, $2::jsonb AS j, $3::text[] AS t"},
                        {"params", json::array{json::array{1, 2, 3}, json::object{{"k", json::array{1, "x"}}},
                                               json::array{"a,b", "\"q\"", nullptr, "NULL"}}}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Row0(r), json::parse(R"({"a":[1,2,3],"j":{"k":[1,"x"]},"t":["a,b","\"q\"",null,"NULL"]})"));
}

TEST_F(QueryApi, TypeMappingFollowsTheContract) {
  auto r = svc().Query(
      {{"sql",
        "SELECT true AS bool, 2::int2 AS i2, 4::int4 AS i4, 9007199254740993::int8 AS i8, "
        "12345678901234567890.123::numeric AS num, 1.5::float4 AS f4, 'NaN'::float8 AS nan, "
        "'Infinity'::float8 AS inf, '-Infinity'::float8 AS ninf, 'text' AS txt, '{\"a\":[1,2]}'::json AS js, "
        "'{\"b\":null}'::jsonb AS jb, '2024-01-02 03:04:05.123456+00'::timestamptz AS tstz, "
        "'2024-01-02 03:04:05.5'::timestamp AS ts, '2024-01-02'::date AS d, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '\\xdeadbeef'::bytea AS by, "
        "ARRAY[1,2,NULL]::int[] AS arr, ARRAY[[1,2],[3,4]] AS arr2, ARRAY['2024-01-02 00:00:00+00']::timestamptz[] AS tarr, "
        "NULL::text AS n, '1 day 02:00:00'::interval AS iv, '10.0.0.1'::inet AS ip"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  auto expected = json::parse(R"({
    "bool": true, "i2": 2, "i4": 4, "i8": "9007199254740993", "num": "12345678901234567890.123",
    "f4": 1.5, "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "txt": "text", "js": {"a":[1,2]},
    "jb": {"b": null}, "tstz": "2024-01-02T03:04:05.123456Z", "ts": "2024-01-02T03:04:05.5",
    "d": "2024-01-02", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "by": "\\xdeadbeef",
    "arr": [1,2,null], "arr2": [[1,2],[3,4]], "tarr": ["2024-01-02T00:00:00Z"], "n": null,
    "iv": "1 day 02:00:00", "ip": "10.0.0.1"})");
  EXPECT_EQ(Row0(r), expected);
  // dataType names come from pg_type, arrays with their leading underscore.
  const auto& fields = r.json.at("fields").as_array();
  EXPECT_EQ(fields.at(17).at("dataType"), "_int4");
  EXPECT_EQ(fields.at(17).at("dataTypeID"), 1007);
  EXPECT_EQ(fields.at(3).at("dataType"), "int8");
}

TEST_F(QueryApi, ArrayRowMode) {
  auto r = svc().Query({{"sql", "SELECT 1 AS a, 'x' AS b"}, {"rowMode", "array"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("rows"), json::parse(R"([[1,"x"]])"));
}

TEST_F(QueryApi, WritesReportAffectedRowsAndDdlHasNullCount) {
  auto ddl = svc().Query({{"sql", "CREATE TABLE IF NOT EXISTS it_query_counts (id serial PRIMARY KEY, v text UNIQUE)"}});
  ASSERT_EQ(ddl.status, 200u) << ddl.body;
  EXPECT_TRUE(ddl.json.at("rowCount").is_null());
  EXPECT_EQ(ddl.json.at("command"), "CREATE");
  svc().Query({{"sql", "TRUNCATE it_query_counts"}});
  auto ins = svc().Query({{"sql", "INSERT INTO it_query_counts (v) VALUES ($1), ($2) RETURNING id"},
                          {"params", json::array{"a", "b"}}});
  ASSERT_EQ(ins.status, 200u) << ins.body;
  EXPECT_EQ(ins.json.at("command"), "INSERT");
  EXPECT_EQ(ins.json.at("rowCount"), 2);
  EXPECT_EQ(ins.json.at("rows").as_array().size(), 2u);
  auto upd = svc().Query({{"sql", "UPDATE it_query_counts SET v = v || '!'"}});
  EXPECT_EQ(upd.json.at("command"), "UPDATE");
  EXPECT_EQ(upd.json.at("rowCount"), 2);
  EXPECT_EQ(upd.json.at("rows").as_array().size(), 0u);
}

TEST_F(QueryApi, ConstraintViolationIs409WithConstraintName) {
  svc().Query({{"sql", "CREATE TABLE IF NOT EXISTS it_unique (v text CONSTRAINT it_unique_v UNIQUE)"}});
  svc().Query({{"sql", "INSERT INTO it_unique VALUES ('dup') ON CONFLICT DO NOTHING"}});
  auto r = svc().Query({{"sql", "INSERT INTO it_unique VALUES ('dup')"}});
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "CONSTRAINT_VIOLATION");
  auto& e = r.json.at("error");
  EXPECT_EQ(e.at("sqlstate"), "23505");
  EXPECT_EQ(e.at("constraint"), "it_unique_v");
  EXPECT_EQ(e.at("table"), "it_unique");
  EXPECT_TRUE(e.as_object().contains("detail"));
}

TEST_F(QueryApi, SyntaxErrorCarriesSqlstateAndPosition) {
  auto r = svc().Query({{"sql", "SELEC 1"}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "QUERY_ERROR");
  EXPECT_EQ(r.json.at("error").at("sqlstate"), "42601");
  EXPECT_EQ(r.json.at("error").at("position"), 1);
}

TEST_F(QueryApi, UndefinedTableIsAQueryError) {
  auto r = svc().Query({{"sql", "SELECT * FROM no_such_table_xyz"}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.json.at("error").at("sqlstate"), "42P01");
}

TEST_F(QueryApi, TwoStatementsInOneSqlAreRefusedAndNothingRuns) {
  svc().Query({{"sql", "CREATE TABLE IF NOT EXISTS it_two (v int)"}});
  svc().Query({{"sql", "TRUNCATE it_two"}});
  auto r = svc().Query({{"sql", "INSERT INTO it_two VALUES (1); INSERT INTO it_two VALUES (2)"}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.ErrorCode(), "QUERY_ERROR");
  EXPECT_EQ(r.json.at("error").at("sqlstate"), "42601");
  auto count = svc().Query({{"sql", "SELECT count(*)::int AS n FROM it_two"}});
  EXPECT_EQ(Row0(count).at("n"), 0);
}

TEST_F(QueryApi, SqlstatesMapToTheContractsStatuses) {
  struct Case {
    const char* sqlstate;
    unsigned status;
    const char* code;
  };
  for (const Case& c : std::initializer_list<Case>{{"40001", 409, "SERIALIZATION_FAILURE"},
                                                   {"40P01", 409, "SERIALIZATION_FAILURE"},
                                                   {"23503", 409, "CONSTRAINT_VIOLATION"},
                                                   {"42501", 403, "FORBIDDEN"},
                                                   {"25006", 403, "FORBIDDEN"},
                                                   {"22012", 400, "QUERY_ERROR"},
                                                   {"57P01", 503, "DATABASE_UNAVAILABLE"}}) {
    std::string sql = std::string("DO $$ BEGIN RAISE EXCEPTION 'raised %', 1 USING ERRCODE = '") + c.sqlstate +
                      "', HINT = 'a hint', DETAIL = 'some detail'; END $$";
    auto r = svc().Query({{"sql", sql}});
    EXPECT_EQ(r.status, c.status) << c.sqlstate << " " << r.body;
    EXPECT_EQ(r.ErrorCode(), c.code) << c.sqlstate;
    EXPECT_EQ(r.json.at("error").at("sqlstate"), c.sqlstate);
    EXPECT_EQ(r.json.at("error").at("message"), "raised 1");
    EXPECT_EQ(r.json.at("error").at("hint"), "a hint");
    EXPECT_EQ(r.json.at("error").at("detail"), "some detail");
    bool retryable = r.json.at("error").as_object().contains("retryable");
    EXPECT_EQ(retryable, std::string(c.code) == "SERIALIZATION_FAILURE") << c.sqlstate;
  }
}

TEST_F(QueryApi, PrivilegeRefusedByPostgresIs403) {
  // The service connects as a role without superuser rights: PostgreSQL itself refuses.
  auto r = svc().Query({{"sql", "SELECT rolpassword FROM pg_authid"}});
  EXPECT_EQ(r.status, 403u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "FORBIDDEN");
  EXPECT_EQ(r.json.at("error").at("sqlstate"), "42501");
}

TEST_F(QueryApi, SessionStateOfAOneShotStatementDoesNotLeak) {
  // BEGIN without COMMIT, and SET, on the shared pool: the next statements never see them.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(svc().Query({{"sql", "BEGIN"}}).status, 200u);
    EXPECT_EQ(svc().Query({{"sql", "SET TimeZone = 'America/New_York'"}}).status, 200u);
  }
  std::set<std::string> seen_now;
  for (int i = 0; i < 10; ++i) {
    auto r = svc().Query({{"sql", "SELECT current_setting('TimeZone') AS tz, now()::text AS now, "
                                  "'2024-01-02 00:00:00+00'::timestamptz AS t"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(Row0(r).at("tz"), "UTC");
    EXPECT_EQ(Row0(r).at("t"), "2024-01-02T00:00:00Z");
    // Inside a transaction left open by BEGIN, now() would stand still.
    EXPECT_TRUE(seen_now.insert(std::string(Row0(r).at("now").as_string())).second)
        << "now() repeated: a transaction left open by BEGIN was reused";
    std::this_thread::sleep_for(2ms);
  }
}

TEST_F(QueryApi, StatementTimeoutCancelsOnTheServer) {
  auto started = std::chrono::steady_clock::now();
  auto r = svc().Query({{"sql", "SELECT pg_sleep(5) /* it_timeout */"}, {"timeout", 300}});
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "QUERY_TIMEOUT");
  EXPECT_LT(elapsed, 3s);
  Psql db(RequireEnv("DATABASE_URL"));
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%it_timeout%' AND state = 'active' "
                      "AND pid <> pg_backend_pid()"),
            "0");
  // The connection that ran it is usable again.
  EXPECT_EQ(svc().Query({{"sql", "SELECT 1"}}).status, 200u);
}

TEST_F(QueryApi, ClientThatDisconnectsMidQueryLeavesNothingRunning) {
  std::string body = R"({"sql":"SELECT pg_sleep(30) /* it_disconnect */"})";
  std::string request = "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + svc().admin_token() +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body;
  // Send, wait a moment so the statement is running, then go away.
  RawExchange(svc().port(), request, 500ms);
  Psql db(RequireEnv("DATABASE_URL"));
  std::string running = "1";
  for (int i = 0; i < 40 && running != "0"; ++i) {
    running = db.Scalar("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%it_disconnect%' AND state = 'active' "
                        "AND pid <> pg_backend_pid()");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(running, "0") << "the abandoned statement is still running";
  for (int i = 0; i < 5; ++i) EXPECT_EQ(svc().Query({{"sql", "SELECT 1"}}).status, 200u);
}

TEST_F(QueryApi, VectorDatabaseAcceptsSql) {
  auto r = svc().Query({{"sql", "SELECT 1 + 1 AS two"}, {"database", "vector"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(Row0(r).at("two"), 2);
}

TEST_F(QueryApi, RedisCommandRoundTrip) {
  auto set = svc().Query({{"database", "redis"}, {"command", json::array{"SET", "it:query:key", "v1"}}});
  ASSERT_EQ(set.status, 200u) << set.body;
  EXPECT_EQ(set.json.at("result"), "OK");
  auto get = svc().Query({{"database", "redis"}, {"command", json::array{"GET", "it:query:key"}}});
  EXPECT_EQ(get.json.at("result"), "v1");
  auto missing = svc().Query({{"database", "redis"}, {"command", json::array{"GET", "it:query:missing"}}});
  EXPECT_TRUE(missing.json.at("result").is_null());
  auto err = svc().Query({{"database", "redis"}, {"command", json::array{"INCR", "it:query:key"}}});
  EXPECT_EQ(err.status, 400u);
  EXPECT_EQ(err.ErrorCode(), "QUERY_ERROR");
  auto bad = svc().Query({{"database", "redis"}, {"command", json::array{"GET", 1}}});
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(bad.ErrorCode(), "INVALID_REQUEST");
}

TEST_F(QueryApi, UnknownConnectionAndTransactionIdsAre404) {
  EXPECT_EQ(svc().Query({{"sql", "SELECT 1"}, {"connectionId", "nope"}}).status, 404u);
  EXPECT_EQ(svc().Query({{"sql", "SELECT 1"}, {"transactionId", "nope"}}).status, 404u);
}

TEST_F(QueryApi, ConcurrentRequestsAllSucceed) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto r = svc().Query({{"sql", "SELECT $1::int * 2 AS v"}, {"params", json::array{t * 100 + i}}});
        if (r.status == 200 && Row0(r).at("v") == (t * 100 + i) * 2) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 16 * 20);
}

TEST(QueryLimits, ResultOverMaxResultBytesIs413) {
  ServiceProcess svc(ServiceProcess::Env{{"MAX_RESULT_BYTES", "4096"}});
  auto big = svc.Query({{"sql", "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 1000) g"}});
  EXPECT_EQ(big.status, 413u) << big.body.substr(0, 300);
  EXPECT_EQ(big.ErrorCode(), "PAYLOAD_TOO_LARGE");
  auto small = svc.Query({{"sql", "SELECT g FROM generate_series(1, 10) g"}});
  EXPECT_EQ(small.status, 200u);
}

}  // namespace
}  // namespace coredb::testing
