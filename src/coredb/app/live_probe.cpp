#include "coredb/app/live_probe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <cstdio>
#include <optional>
#include <string>

namespace coredb::app {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

// Docker's and Kubernetes' probe timeouts are seconds: answer well within them.
constexpr std::chrono::seconds kTimeout{2};
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

// Returns the failure, or an empty string when the service answered 200.
template <class Stream>
asio::awaitable<std::string> Exchange(Stream& stream, const std::string& host) {
  bhttp::request<bhttp::empty_body> request{bhttp::verb::get, "/health/live", 11};
  request.set(bhttp::field::host, host);
  request.set(bhttp::field::user_agent, "coredb-health");
  request.keep_alive(false);
  auto [write_ec, written] = co_await bhttp::async_write(stream, request, kUse);
  if (write_ec) co_return "write: " + write_ec.message();
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024);
  auto [read_ec, read] = co_await bhttp::async_read(stream, buffer, parser, kUse);
  if (read_ec) co_return "read: " + read_ec.message();
  const unsigned status = parser.get().result_int();
  if (status != 200) co_return "status " + std::to_string(status);
  co_return std::string();
}

asio::awaitable<std::string> Probe(std::string host, std::uint16_t port, bool tls) {
  auto executor = co_await asio::this_coro::executor;
  tcp::resolver resolver(executor);
  auto [resolve_ec, endpoints] = co_await resolver.async_resolve(host, std::to_string(port), kUse);
  if (resolve_ec) co_return "resolve " + host + ": " + resolve_ec.message();
  beast::tcp_stream stream(executor);
  stream.expires_after(kTimeout);  // bounds connect, handshake, write and read together
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kUse);
  if (connect_ec) co_return "connect " + host + ":" + std::to_string(port) + ": " + connect_ec.message();
  if (!tls) co_return co_await Exchange(stream, host);
  // Liveness of the process on this host: whoever signed its certificate is not the question.
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<beast::tcp_stream> tls_stream(std::move(stream), context);
  auto [handshake_ec] = co_await tls_stream.async_handshake(asio::ssl::stream_base::client, kUse);
  if (handshake_ec) co_return "TLS handshake: " + handshake_ec.message();
  co_return co_await Exchange(tls_stream, host);
}

}  // namespace

int CheckLiveness(const config::HttpConfig& http) {
  if (http.port == 0) {
    std::fputs("live: unknown (PORT=0 listens on any free port: nothing to probe)\n", stderr);
    return 2;
  }
  // A wildcard listen address is reached on loopback.
  std::string host = http.host;
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::" || host == "[::]") host = "::1";
  asio::io_context ioc{1};
  std::optional<std::string> failure;
  asio::co_spawn(ioc, Probe(host, http.port, !http.tls_cert_file.empty()),
                 [&failure](std::exception_ptr e, std::string result) {
                   failure = e ? std::string("unexpected error") : std::move(result);
                 });
  ioc.run_for(kTimeout + std::chrono::seconds(1));  // the resolver is not under the stream's timer
  if (!failure) failure = "timed out";
  if (!failure->empty()) {
    std::fprintf(stdout, "live: DOWN (%s)\n", failure->c_str());
    return 1;
  }
  std::fputs("live: ok\n", stdout);
  return 0;
}

}  // namespace coredb::app
