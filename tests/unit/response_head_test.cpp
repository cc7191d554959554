// The hand-written response head (http/response.cpp): what Beast's serializer used to write.
#include "coredb/http/response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace coredb::http {
namespace {

std::string Head(ResponseHead head) {
  std::string out;
  AppendResponseHead(out, head);
  return out;
}

TEST(ResponseHead, Http11KeepAliveHasLengthAndNoConnectionHeader) {
  EXPECT_EQ(Head({.status = 200, .version = 11, .keep_alive = true, .content_type = "application/json",
                  .request_id = "abc", .content_length = 42, .headers = {}, .extra = {}}),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc\r\nContent-Length: 42\r\n\r\n");
}

TEST(ResponseHead, Http11CloseSaysSo) {
  EXPECT_EQ(Head({.status = 404, .version = 11, .keep_alive = false, .content_type = "application/json",
                  .request_id = "r", .content_length = 0, .headers = {}, .extra = {}}),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Request-Id: r\r\nConnection: close\r\n"
            "Content-Length: 0\r\n\r\n");
}

TEST(ResponseHead, Http10KeepAliveOnlyWhenAsked) {
  const std::string kept = Head({.status = 200, .version = 10, .keep_alive = true, .content_type = "text/plain",
                                 .request_id = "r", .content_length = 3, .headers = {}, .extra = {}});
  EXPECT_EQ(kept.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << kept;
  EXPECT_NE(kept.find("Connection: keep-alive\r\n"), std::string::npos) << kept;
  const std::string closed = Head({.status = 200, .version = 10, .keep_alive = false, .content_type = "text/plain",
                                   .request_id = "r", .content_length = 3, .headers = {}, .extra = {}});
  EXPECT_EQ(closed.find("Connection:"), std::string::npos) << closed;
}

TEST(ResponseHead, ExtraHeadersInOrderAndNoValueCanStartAHeader) {
  const std::vector<std::pair<std::string, std::string>> headers{{"Retry-After", "5"},
                                                                 {"X-Evil", "a\r\nSet-Cookie: x=1"}};
  const std::string head = Head({.status = 503, .version = 11, .keep_alive = true, .content_type = "application/json",
                                 .request_id = "id\r\nX: y", .content_length = 7, .headers = headers, .extra = {}});
  EXPECT_NE(head.find("\r\nRetry-After: 5\r\nX-Evil: aSet-Cookie: x=1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Request-Id: idX: y\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\nSet-Cookie"), std::string::npos) << head;
  EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4) << "only the end of the head has an empty line";
}

TEST(ResponseHead, WithoutALengthHttp11IsChunked) {
  EXPECT_EQ(Head({.status = 200, .version = 11, .keep_alive = true, .content_type = "application/x-ndjson",
                  .request_id = "r", .content_length = std::nullopt, .headers = {}, .extra = "Cache-Control: no-store\r\n"}),
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nX-Request-Id: r\r\nCache-Control: no-store\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
  const std::string raw = Head({.status = 200, .version = 10, .keep_alive = false, .content_type = "application/x-ndjson",
                                .request_id = "r", .content_length = std::nullopt, .headers = {}, .extra = {}});
  EXPECT_EQ(raw.find("Transfer-Encoding"), std::string::npos) << raw;
}

TEST(ResponseHead, LargeLengthsAndUnknownStatusCodes) {
  const std::string head = Head({.status = 499, .version = 11, .keep_alive = true, .content_type = "application/json",
                                 .request_id = "r", .content_length = 123456789012ull, .headers = {}, .extra = {}});
  EXPECT_EQ(head.rfind("HTTP/1.1 499 ", 0), 0u) << head;
  EXPECT_NE(head.find("Content-Length: 123456789012\r\n"), std::string::npos) << head;
}

}  // namespace
}  // namespace coredb::http
