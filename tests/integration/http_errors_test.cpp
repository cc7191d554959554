// Black-box tests of hostile and malformed input: every case gets its specific 4xx JSON error
// and the service stays healthy.
#include "support/service_process.hpp"

#include <gtest/gtest.h>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { service_ = new ServiceProcess(ServiceProcess::Env{{"MAX_BODY_BYTES", "65536"}}); }
  static void TearDownTestSuite() {
    delete service_;
    service_ = nullptr;
  }
  void TearDown() override {
    auto r = service_->Query({{"sql", "SELECT 1 AS ok"}});
    EXPECT_EQ(r.status, 200u) << "service unhealthy after the test: " << r.body;
  }
  static ServiceProcess& svc() { return *service_; }
  static HttpResult PostRaw(const std::string& body, std::map<std::string, std::string> headers = {}) {
    return service_->Request("POST", "/api/v1/query", body, std::move(headers));
  }
  static void ExpectError(const HttpResult& r, unsigned status, const std::string& code,
                          const std::string& message_part = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.ErrorCode(), code) << r.body;
    if (!message_part.empty()) {
      EXPECT_NE(r.body.find(message_part), std::string::npos) << "message should mention '" << message_part
                                                              << "': " << r.body;
    }
    EXPECT_FALSE(r.Header("x-request-id").empty());
  }
  static ServiceProcess* service_;
};
ServiceProcess* BadInput::service_ = nullptr;

TEST_F(BadInput, MissingTokenIs401) {
  auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {}, std::string());
  ExpectError(r, 401, "UNAUTHENTICATED");
}

TEST_F(BadInput, MalformedAuthorizationHeaderIs401) {
  auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {{"Authorization", "Basic abc"}},
                         std::string());
  ExpectError(r, 401, "UNAUTHENTICATED");
}

TEST_F(BadInput, WrongTokenIs401EvenForUnknownApiRoutes) {
  ExpectError(svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {}, std::string("wrong-token-123456")),
              401, "UNAUTHENTICATED");
  ExpectError(svc().Request("GET", "/api/v1/secret-route", "", {}, std::string("wrong-token-123456")), 401,
              "UNAUTHENTICATED");
  // A token that shares a long prefix with the real one is no better.
  std::string almost = svc().admin_token();
  almost.back() = almost.back() == 'a' ? 'b' : 'a';
  ExpectError(svc().Request("GET", "/api/v1/query", "", {}, almost), 401, "UNAUTHENTICATED");
}

TEST_F(BadInput, HealthNeedsNoToken) {
  EXPECT_EQ(svc().Request("GET", "/health/live", "", {}, std::string()).status, 200u);
}

TEST_F(BadInput, UnknownRouteIs404) { ExpectError(svc().Get("/api/v1/nothing-here"), 404, "NOT_FOUND"); }

TEST_F(BadInput, WrongMethodIs405WithAllow) {
  auto r = svc().Get("/api/v1/query");
  ExpectError(r, 405, "METHOD_NOT_ALLOWED");
  EXPECT_EQ(r.Header("allow"), "POST");
}

TEST_F(BadInput, MalformedJsonIs400) {
  ExpectError(PostRaw(R"({"sql": "SELECT 1",)"), 400, "INVALID_REQUEST", "malformed JSON");
}

TEST_F(BadInput, EmptyBodyIs400) { ExpectError(PostRaw(""), 400, "INVALID_REQUEST", "empty"); }

TEST_F(BadInput, NonObjectBodyIs400) { ExpectError(PostRaw("[1,2]"), 400, "INVALID_REQUEST", "object"); }

TEST_F(BadInput, WrongContentTypeIs415) {
  ExpectError(PostRaw(R"({"sql":"SELECT 1"})", {{"Content-Type", "text/plain"}}), 415, "UNSUPPORTED_MEDIA_TYPE");
}

TEST_F(BadInput, SqlMustBeAString) {
  ExpectError(svc().Query({{"sql", 42}}), 400, "INVALID_REQUEST", "'sql' must be a string");
}

TEST_F(BadInput, MissingSqlIs400) { ExpectError(svc().Query(json::object{}), 400, "INVALID_REQUEST", "sql"); }

TEST_F(BadInput, EmptySqlIs400) { ExpectError(svc().Query({{"sql", "   "}}), 400, "INVALID_REQUEST", "empty"); }

TEST_F(BadInput, ParamsMustBeAnArray) {
  ExpectError(svc().Query({{"sql", "SELECT $1"}, {"params", "x"}}), 400, "INVALID_REQUEST", "'params' must be an array");
}

TEST_F(BadInput, UnknownMemberIsNamed) {
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"parms", json::array{1}}}), 400, "INVALID_REQUEST", "parms");
}

TEST_F(BadInput, UnknownDatabaseIs400) {
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"database", "mysql"}}), 400, "INVALID_REQUEST", "mysql");
}

TEST_F(BadInput, OutOfRangeTimeoutIs400) {
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"timeout", 0}}), 400, "INVALID_REQUEST", "timeout");
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"timeout", 300001}}), 400, "INVALID_REQUEST", "timeout");
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"timeout", -5}}), 400, "INVALID_REQUEST", "timeout");
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"timeout", 1.5}}), 400, "INVALID_REQUEST", "timeout");
}

TEST_F(BadInput, UnknownRowModeIs400) {
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"rowMode", "table"}}), 400, "INVALID_REQUEST", "rowMode");
}

TEST_F(BadInput, DeeplyNestedJsonIs400) {
  std::string deep = std::string(10000, '[') + std::string(10000, ']');
  ExpectError(PostRaw(R"({"sql":"SELECT 1","params":)" + deep + "}"), 400, "INVALID_REQUEST", "deeper");
}

TEST_F(BadInput, InvalidUtf8Is400) {
  std::string body = "{\"sql\":\"SELECT '\xff\xfe'\"}";
  ExpectError(PostRaw(body), 400, "INVALID_REQUEST", "malformed JSON");
}

TEST_F(BadInput, NulInSqlIs400) {
  ExpectError(PostRaw(R"({"sql":"SELECT 1\u0000; DROP TABLE x"})"), 400, "INVALID_REQUEST", "NUL");
}

TEST_F(BadInput, NulInTextParamIs400) {
  ExpectError(PostRaw(R"({"sql":"SELECT $1::text","params":["a\u0000b"]})"), 400, "INVALID_REQUEST", "params[0]");
}

TEST_F(BadInput, BodyOverTheLimitIs413) {
  std::string big = R"({"sql":"SELECT 1","params":[")" + std::string(70000, 'x') + "\"]}";
  ExpectError(PostRaw(big), 413, "PAYLOAD_TOO_LARGE", "MAX_BODY_BYTES");
}

TEST_F(BadInput, ChunkedBodyOverTheLimitIs413) {
  std::string chunk(40000, 'x');
  char size_hex[16];
  std::snprintf(size_hex, sizeof size_hex, "%zx", chunk.size());
  std::string req = "POST /api/v1/query HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + svc().admin_token() +
                    "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) req += std::string(size_hex) + "\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  std::string out = RawExchange(svc().port(), req, 3s);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out.substr(0, 200);
  EXPECT_NE(out.find("PAYLOAD_TOO_LARGE"), std::string::npos);
}

TEST_F(BadInput, GarbageRequestLineIs400) {
  std::string out = RawExchange(svc().port(), "THIS IS NOT HTTP\r\n\r\n", 2s);
  EXPECT_NE(out.find(" 400 "), std::string::npos) << out;
  EXPECT_NE(out.find("INVALID_REQUEST"), std::string::npos) << out;
}

TEST_F(BadInput, OversizedHeadersAre413) {
  std::string req = "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  std::string out = RawExchange(svc().port(), req, 2s);
  EXPECT_NE(out.find(" 413 "), std::string::npos) << out.substr(0, 200);
}

TEST_F(BadInput, CacheOnAStatementThatWritesIsRefused) {
  // PostgreSQL decides, in a read-only transaction (query_cache_test.cpp has the full set).
  ExpectError(
      svc().Query({{"sql", "CREATE TABLE bad_input_never_created (x int)"}, {"cache", json::object{{"ttl", 60}}}}), 400,
      "INVALID_REQUEST", "cache applies to reads only");
  ExpectError(svc().Query({{"sql", "SELECT 1"}, {"cache", json::object{{"ttl", 0}}}}), 400, "INVALID_REQUEST", "ttl");
}

TEST_F(BadInput, KeepAliveConnectionServesPipelinedRequests) {
  std::string one = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string out = RawExchange(svc().port(), one + one + one, 2s);
  std::size_t count = 0;
  for (std::size_t pos = out.find("HTTP/1.1 200"); pos != std::string::npos; pos = out.find("HTTP/1.1 200", pos + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 3u) << out;
}

}  // namespace
}  // namespace coredb::testing
