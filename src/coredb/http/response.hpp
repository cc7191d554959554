// What a handler answers: a status, a JSON body and extra headers. The session adds the
// standard headers (X-Request-Id, Content-Type, Connection).
#pragma once

#include "coredb/core/error.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coredb::http {

struct Response {
  unsigned status = 200;
  std::string body;  // serialized JSON (or text for /metrics)
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  const char* error_code = nullptr;  // set by ErrorResponse: the code for logs and metrics
};

// An answer written while the handler still runs (NDJSON streaming): the status line and headers,
// then chunks (HTTP/1.1 chunked transfer encoding; to an HTTP/1.0 client, the bytes as they are
// and the connection closed after). The server gives one to every handler
// (RequestContext::stream); a handler that Begins it still returns a Response, whose body is not
// sent (its status and error_code go to the request log).
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Sends the status line and headers, once. False: the client is gone.
  virtual boost::asio::awaitable<bool> Begin(unsigned status, std::string_view content_type) = 0;
  // Sends `data` as one chunk; a reader that has not taken it by `deadline` is cut off (the
  // connection closes). False: the client is gone or too slow; later calls fail at once.
  virtual boost::asio::awaitable<bool> Write(std::string_view data,
                                             std::chrono::steady_clock::time_point deadline) = 0;
  // The end of the body (the last, empty chunk). False as for Write.
  virtual boost::asio::awaitable<bool> End() = 0;

  bool begun() const { return begun_; }
  bool failed() const { return failed_; }
  bool ended() const { return ended_; }

 protected:
  bool begun_ = false;
  bool failed_ = false;
  bool ended_ = false;
};

// The status line and headers of an answer, up to and including the blank line, in one string:
// the session writes it and the body with one gather write (no per-header allocations).
// `content_length` nullopt: `Transfer-Encoding: chunked` (HTTP/1.1 streams). Connection: an
// HTTP/1.1 answer says `close` when the connection will close, an HTTP/1.0 one `keep-alive` when
// it stays open. CR and LF in header values are dropped: no value can start a header of its own.
struct ResponseHead {
  unsigned status = 200;
  unsigned version = 11;  // 10 or 11, as the request's
  bool keep_alive = true;
  std::string_view content_type;
  std::string_view request_id;
  std::optional<std::size_t> content_length;
  std::span<const std::pair<std::string, std::string>> headers;
  std::string_view extra;  // further complete header lines ("Name: value\r\n"), written as they are
};
void AppendResponseHead(std::string& out, const ResponseHead& head);

Response JsonResponse(unsigned status, const boost::json::value& body);
// The error model of API.md: {"error": {"code", "message", ...}} with the mapped status.
Response ErrorResponse(const Error& error);
boost::json::object ErrorJson(const Error& error);
// The last line of a stream that failed after its first byte: `{"error":{...}}` and a newline.
std::string ErrorLine(const Error& error);

}  // namespace coredb::http
