// The HTTP/1.1 listener and its sessions (Boost.Beast on the service's one event loop):
// keep-alive, limits on headers, body and idle time, X-Request-Id on every answer, the
// error model for every failure, cancellation of the handler when the client goes away, and
// the two-step graceful stop (stop accepting and close idle connections, then cancel what is
// still running at the deadline).
#pragma once

#include "coredb/core/memory_trimmer.hpp"
#include "coredb/config/config.hpp"
#include "coredb/http/auth_throttle.hpp"
#include "coredb/http/client_limiter.hpp"
#include "coredb/core/principal.hpp"
#include "coredb/http/router.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>

namespace coredb::http {

// Checks the Authorization header of /api/* requests.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual boost::asio::awaitable<Result<Principal>> Authenticate(std::string_view authorization_header) = 0;
  // After a successful Authenticate of an /api/* request: may still refuse it (quota: 429).
  virtual boost::asio::awaitable<Result<void>> Admit(const Principal& principal) {
    (void)principal;
    co_return Result<void>{};
  }
};

// What the session reports once a response is written (request log, metrics).
struct CompletedRequest {
  std::string_view request_id;
  std::string_view method;
  std::string_view route;  // template, or "unmatched"
  std::string_view client;
  std::string_view statement;  // fingerprint of the SQL / Redis command (audit), or empty
  unsigned status = 0;
  std::optional<std::string_view> error_code;
  std::chrono::nanoseconds duration{};
};
using RequestObserver = std::function<void(const CompletedRequest&)>;

class Server {
 public:
  Server(boost::asio::io_context& ioc, config::HttpConfig cfg, const Router& router, Authenticator& auth,
         RequestObserver observer);
  ~Server();

  // Binds and listens; a failure (port in use, bad address) is a start-up error.
  Result<void> Listen();
  std::uint16_t port() const { return port_; }
  void Start();
  // Stops accepting, closes idle keep-alive connections, lets in-flight requests finish until
  // `deadline`, then cancels them and closes every socket. Completes when no session is left.
  boost::asio::awaitable<void> Shutdown(std::chrono::steady_clock::time_point deadline);
  std::size_t active_sessions() const { return sessions_.size(); }
  const AuthThrottleStats& auth_throttle_stats() const { return throttle_.stats(); }

  struct Session;  // one client connection (server.cpp)

 private:
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> WatchSweep();
  // At MAX_CONNECTIONS: closes the keep-alive connection idle for longest (a client reconnects
  // when its idle connection closes, as after KEEP_ALIVE_TIMEOUT). False: none is idle.
  bool CloseLongestIdle();
  boost::asio::awaitable<void> RunSession(std::list<Session>::iterator session);
  // The request loop on `stream`: the session's TCP stream, or the TLS stream over it (TLS_CERT).
  template <class Stream>
  boost::asio::awaitable<void> Serve(std::list<Session>::iterator session, Stream& stream);
  // One request of that loop, read (its first bytes already in `buffer`), handled and answered;
  // false when the connection is to close.
  template <class Stream>
  boost::asio::awaitable<bool> ServeOne(std::list<Session>::iterator session, Stream& stream,
                                        boost::beast::flat_buffer& buffer);
  boost::asio::awaitable<Response> Dispatch(const Request& request, RequestContext& ctx, bool& matched,
                                            const boost::asio::ip::address& peer);
  // The Authorization header checked by auth_, unless its source guessed too often (AuthThrottle).
  boost::asio::awaitable<Result<Principal>> Authenticate(const Request& request, const boost::asio::ip::address& peer);
  std::string NewRequestId();

  boost::asio::io_context& ioc_;
  config::HttpConfig cfg_;
  const Router& router_;
  Authenticator& auth_;
  RequestObserver observer_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::unique_ptr<boost::asio::ssl::context> tls_;  // set by Listen() when TLS_CERT/TLS_KEY are given
  bool stopping_ = false;
  std::list<Session*> in_flight_;  // plain-HTTP requests being handled, oldest first (WatchSweep)
  std::list<Session> sessions_;
  // Sessions open at the most since the last trim: when 1 024 of them have closed, the memory
  // they freed is handed back to the OS (MemoryTrimmer, off the event loop).
  std::size_t peak_sessions_ = 0;
  MemoryTrimmer trimmer_;
  std::mt19937_64 rng_;
  ClientLimiter limiter_{cfg_.max_concurrent_per_client};  // MAX_CONCURRENT_PER_CLIENT
  // AUTH_FAILURE_LIMIT / AUTH_FAILURE_WINDOW / TRUSTED_PROXIES (validated by config::Load).
  AuthThrottle throttle_{{.limit = cfg_.auth_failure_limit, .window = cfg_.auth_failure_window, .max_sources = 65536}};
  TrustedProxies trusted_ = TrustedProxies::Parse(cfg_.trusted_proxies).value_or(TrustedProxies{});
};

}  // namespace coredb::http
