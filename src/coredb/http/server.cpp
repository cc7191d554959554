#include "coredb/http/server.hpp"

#include "coredb/http/response.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

namespace coredb::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr auto kWriteTimeout = 30s;
constexpr auto kTlsHandshakeTimeout = 10s;
// How long a plain-HTTP request runs before its peer is watched (a hang-up is seen within twice this).
constexpr auto kWatchDelay = 20ms;

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;  // visible ASCII only: it is echoed into a header and logs
  }
  return true;
}

// The TLS peer watch's read.
template <class Stream>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSomeForWatch(
    Stream& stream, beast::flat_buffer::mutable_buffers_type buffer) {
  auto result = co_await stream.async_read_some(buffer, kUseTuple);
  co_return result;
}

}  // namespace

// Plain HTTP's peer watch: a one-byte MSG_PEEK receive outstanding while a handler runs. EOF or
// a reset cancels the handler through `cancel`; bytes of a pipelined next request stay in the
// kernel for the next read. Shared with the receive's completion, which may run after the session.
// Started only for a request still running after kWatchDelay (WatchSweep): most answers are
// written before, and so never pay the receive's system call.
struct PeerWatch {
  asio::cancellation_signal cancel;
  std::array<char, 1> peek{};
  std::chrono::steady_clock::time_point since;  // the handler's start
  bool active = false;   // a handler is running
  bool watched = false;  // the receive was started for this request
  bool pending = false;  // the receive is outstanding
};

namespace {

void WatchPeer(tcp::socket& socket, const std::shared_ptr<PeerWatch>& watch) {
  watch->pending = true;
  socket.async_receive(asio::buffer(watch->peek), tcp::socket::message_peek,
                       [watch](boost::system::error_code ec, std::size_t) {
                         watch->pending = false;
                         // Cancelled because the handler finished first, or bytes of a pipelined
                         // request (the client is still there): nothing to do.
                         if (!watch->active || !ec || ec == asio::error::operation_aborted) return;
                         watch->cancel.emit(asio::cancellation_type::terminal);  // EOF or reset
                       });
}

}  // namespace

struct Server::Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  std::shared_ptr<PeerWatch> watch = std::make_shared<PeerWatch>();
  std::list<Session*>::iterator in_flight;  // in Server::in_flight_ while watch->active
  bool handling = false;     // a request is being handled: let it finish on shutdown
  bool force_closed = false;  // shutdown deadline passed: the handler is being cancelled
};

Server::Server(asio::io_context& ioc, config::HttpConfig cfg, const Router& router, Authenticator& auth,
               RequestObserver observer)
    : ioc_(ioc),
      cfg_(std::move(cfg)),
      router_(router),
      auth_(auth),
      observer_(std::move(observer)),
      acceptor_(ioc),
      rng_(std::random_device{}()) {}

Server::~Server() = default;

Result<void> Server::Listen() {
  boost::system::error_code ec;
  if (!cfg_.tls_cert_file.empty()) {
    // TLS 1.2+ only; the files are read once, here: a bad one stops the start-up.
    auto tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                         asio::ssl::context::single_dh_use,
                     ec);
    if (!ec) tls->use_certificate_chain_file(cfg_.tls_cert_file, ec);
    if (ec) return MakeError(ErrorCode::kInternal, "TLS_CERT: cannot use " + cfg_.tls_cert_file + ": " + ec.message());
    tls->use_private_key_file(cfg_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return MakeError(ErrorCode::kInternal, "TLS_KEY: cannot use " + cfg_.tls_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(tls->native_handle()) != 1) {
      return MakeError(ErrorCode::kInternal, "TLS_KEY does not match the certificate of TLS_CERT");
    }
    tls_ = std::move(tls);
  }
  auto address = asio::ip::make_address(cfg_.host, ec);
  if (ec) return MakeError(ErrorCode::kInvalidRequest, "HOST is not an IP address: " + cfg_.host);
  tcp::endpoint endpoint(address, cfg_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return MakeError(ErrorCode::kInternal, "cannot listen on " + cfg_.host + ":" + std::to_string(cfg_.port) +
                                               ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  return {};
}

void Server::Start() {
  asio::co_spawn(ioc_, WatchSweep(), asio::detached);
  asio::co_spawn(ioc_, AcceptLoop(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::critical("accept loop ended by an exception: {}", ex.what());
      }
    }
  });
}

asio::awaitable<void> Server::AcceptLoop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (stopping_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or similar: back off instead of spinning.
      spdlog::warn("accept failed: {}", ec.message());
      asio::steady_timer backoff(ioc_, 50ms);
      co_await backoff.async_wait(kUseTuple);
      continue;
    }
    if (sessions_.size() >= max_sessions_) {
      spdlog::warn("connection refused: {} sessions open (limit)", sessions_.size());
      continue;  // the socket closes as it goes out of scope
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    sessions_.emplace_back(std::move(socket));
    auto it = std::prev(sessions_.end());
    asio::co_spawn(ioc_, RunSession(it), [this, it](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("session ended by an exception: {}", ex.what());
        }
      }
      sessions_.erase(it);
    });
  }
}

asio::awaitable<void> Server::WatchSweep() {
  asio::steady_timer tick(ioc_);
  for (;;) {
    tick.expires_after(kWatchDelay);
    auto [ec] = co_await tick.async_wait(kUseTuple);
    if (ec || (stopping_ && sessions_.empty())) co_return;
    const auto cutoff = std::chrono::steady_clock::now() - kWatchDelay;
    for (Session* s : in_flight_) {
      PeerWatch& watch = *s->watch;
      if (watch.since > cutoff) break;  // oldest first: the rest are younger
      if (watch.watched) continue;
      watch.watched = true;
      WatchPeer(s->stream.socket(), s->watch);
    }
  }
}

std::string Server::NewRequestId() {
  static const char* kHex = "0123456789abcdef";
  std::string id(32, '0');
  std::uint64_t a = rng_();
  std::uint64_t b = rng_();
  for (int i = 0; i < 16; ++i) {
    id[i] = kHex[(a >> (i * 4)) & 0xF];
    id[16 + i] = kHex[(b >> (i * 4)) & 0xF];
  }
  return id;
}

asio::awaitable<Response> Server::Dispatch(const Request& request, RequestContext& ctx, bool& matched) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (auto q = target.find('?'); q != std::string_view::npos) ctx.query = target.substr(q + 1);

  // /api/* authenticates before routing, so unknown routes do not reveal themselves to strangers.
  bool needs_auth = path.rfind("/api/", 0) == 0 || path == "/api";
  if (needs_auth) {
    auto principal = co_await auth_.Authenticate(request[beast::http::field::authorization]);
    if (!principal) co_return ErrorResponse(principal.error());
    ctx.principal = std::move(*principal);
    auto admitted = co_await auth_.Admit(ctx.principal);
    if (!admitted) co_return ErrorResponse(admitted.error());
  }

  auto match = router_.Find(request.method(), path);
  if (match.route == nullptr) {
    if (match.path_known) {
      Response r = ErrorResponse(MakeError(ErrorCode::kMethodNotAllowed,
                                           "method " + std::string(request.method_string()) +
                                               " is not allowed here; allowed: " + match.allow));
      r.headers.emplace_back("Allow", match.allow);
      co_return r;
    }
    co_return ErrorResponse(MakeError(ErrorCode::kNotFound, "no route for " + std::string(path)));
  }
  matched = true;
  ctx.route = match.route->path_template;
  if (match.bad_encoding) {
    co_return ErrorResponse(MakeError(ErrorCode::kInvalidRequest, "malformed percent-escape in the path"));
  }
  ctx.path_params = std::move(match.params);
  if (match.route->access != Access::kPublic && !needs_auth) {
    auto principal = co_await auth_.Authenticate(request[beast::http::field::authorization]);
    if (!principal) co_return ErrorResponse(principal.error());
    ctx.principal = std::move(*principal);
  }
  if (auto denied = AccessDenied(match.route->access, ctx.principal)) co_return ErrorResponse(*denied);
  // MAX_CONCURRENT_PER_CLIENT: the slot is held until the handler's answer is ready.
  ClientLimiter::Slot slot;
  if (!ctx.principal.client_id.empty() && !limiter_.TryAcquire(ctx.principal.client_id, slot)) {
    Error busy(ErrorCode::kRateLimited, "client '" + ctx.principal.client_name + "' already has " +
                                            std::to_string(limiter_.max_per_client()) +
                                            " requests running (MAX_CONCURRENT_PER_CLIENT)");
    busy.retry_after_seconds = 1;
    co_return ErrorResponse(busy);
  }
  try {
    co_return co_await match.route->handler(ctx);
  } catch (const boost::system::system_error& e) {
    // Cancellation (client gone, shutdown) surfaces here as operation_aborted: not a bug.
    if (e.code() == asio::error::operation_aborted) throw;
    spdlog::error("handler for {} failed: {}", ctx.route, e.what());
  } catch (const std::exception& e) {
    spdlog::error("handler for {} failed: {}", ctx.route, e.what());
  }
  co_return ErrorResponse(MakeError(ErrorCode::kInternal, "internal error"));
}

asio::awaitable<void> Server::RunSession(std::list<Session>::iterator session) {
  if (!tls_) {
    co_await Serve(session, session->stream);
  } else {
    // HTTPS: a client that does not complete a TLS handshake in time (plain HTTP included) is
    // disconnected without an answer.
    asio::ssl::stream<beast::tcp_stream&> tls(session->stream, *tls_);
    session->stream.expires_after(kTlsHandshakeTimeout);
    auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::server, kUseTuple);
    if (!ec) {
      co_await Serve(session, tls);
    } else {
      spdlog::debug("TLS handshake failed: {}", ec.message());
    }
  }
  boost::system::error_code ignored;
  session->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  session->stream.socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> Server::Serve(std::list<Session>::iterator session, Stream& stream) {
  beast::tcp_stream& lowest = session->stream;  // timeouts, shutdown: on the TCP layer
  beast::flat_buffer buffer;

  auto write = [&](Response response, unsigned version, bool keep_alive,
                   const std::string& request_id) -> asio::awaitable<bool> {
    beast::http::response<beast::http::string_body> res{static_cast<beast::http::status>(response.status), version};
    res.set(beast::http::field::content_type, response.content_type);
    res.set("X-Request-Id", request_id);
    for (auto& [name, value] : response.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(response.body);
    res.prepare_payload();
    lowest.expires_after(kWriteTimeout);
    auto [ec, n] = co_await beast::http::async_write(stream, res, kUseTuple);
    co_return !ec;
  };

  for (;;) {
    if (stopping_) break;
    session->handling = false;
    beast::http::request_parser<beast::http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(cfg_.max_body_bytes);
    lowest.expires_after(cfg_.keep_alive_timeout);
    auto [ec, n] = co_await beast::http::async_read_header(stream, buffer, parser, kUseTuple);
    if (!ec && parser.get()[beast::http::field::expect] == "100-continue" && !stopping_) {
      beast::http::response<beast::http::empty_body> cont{beast::http::status::continue_, 11};
      auto [wec, wn] = co_await beast::http::async_write(stream, cont, kUseTuple);
      ec = wec;
    }
    if (!ec) {
      // (co_await as a statement of its own: GCC 12 miscompiles it inside larger expressions.)
      auto [body_ec, body_n] = co_await beast::http::async_read(stream, buffer, parser, kUseTuple);
      ec = body_ec;
      n = body_n;
    }
    auto started = std::chrono::steady_clock::now();
    if (ec) {
      // Only a request Beast could not parse deserves an answer; a closed, reset, idle or
      // cancelled connection just ends.
      bool parse_error = ec.category() == beast::http::make_error_code(beast::http::error::bad_target).category() &&
                         ec != beast::http::error::end_of_stream && ec != beast::http::error::partial_message;
      if (!parse_error || stopping_) break;
      // A malformed or oversized request: answer it, then close (the rest of the stream is unusable).
      Error error = (ec == beast::http::error::body_limit || ec == beast::http::error::header_limit)
                        ? MakeError(ErrorCode::kPayloadTooLarge,
                                    ec == beast::http::error::body_limit
                                        ? "request body exceeds MAX_BODY_BYTES (" +
                                              std::to_string(cfg_.max_body_bytes) + " bytes)"
                                        : "request headers exceed " + std::to_string(kHeaderLimit) + " bytes")
                        : MakeError(ErrorCode::kInvalidRequest, "malformed HTTP request: " + ec.message());
      std::string id = NewRequestId();
      co_await write(ErrorResponse(error), 11, false, id);
      if (observer_) {
        observer_({id, "-", "unmatched", "", "", HttpStatusFor(error.code), ErrorCodeName(error.code),
                   std::chrono::steady_clock::now() - started});
      }
      // Lingering close: stop sending, drain what the client is still sending for a moment so
      // the kernel does not reset the connection before the client reads our answer.
      boost::system::error_code ignored;
      lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
      lowest.expires_after(1s);
      std::array<char, 16384> sink{};
      for (std::size_t drained = 0; drained < 4 * 1024 * 1024;) {
        auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
        if (rec) break;
        drained += rn;
      }
      break;
    }

    session->handling = true;
    lowest.expires_never();
    const Request& request = parser.get();
    std::string request_id(request["X-Request-Id"]);
    if (!ValidRequestId(request_id)) request_id = NewRequestId();
    RequestContext ctx{request, request_id, {}, {}, {}, {}, {}};
    bool matched = false;

    // While the handler runs, watch the socket: if the client goes away, the handler is
    // cancelled (its statement is cancelled on the server and its connection drained) instead
    // of finishing work nobody will read. Bytes of a pipelined next request are kept.
    bool handler_done = false;
    Response handled;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      // One coroutine for the handler, cancelled through the watch's signal.
      const std::shared_ptr<PeerWatch>& watch = session->watch;
      watch->active = true;
      watch->watched = false;
      watch->since = started;
      session->in_flight = in_flight_.insert(in_flight_.end(), &*session);
      auto [handler_error, response] = co_await asio::co_spawn(
          ioc_, Dispatch(request, ctx, matched), asio::bind_cancellation_slot(watch->cancel.slot(), kUseTuple));
      in_flight_.erase(session->in_flight);
      watch->active = false;
      boost::system::error_code ignored;
      if (watch->pending) lowest.socket().cancel(ignored);
      handler_done = !handler_error;
      handled = std::move(response);
    } else {
      // TLS: the watch reads through the TLS stream (a close_notify is data on the raw socket).
      auto handle = [&]() -> asio::awaitable<Response> {
        Response response = co_await Dispatch(request, ctx, matched);
        handler_done = true;
        // The TLS read of watch_peer may not take per-operation cancellation: end it here.
        boost::system::error_code ignored;
        lowest.socket().cancel(ignored);
        co_return response;
      };
      auto watch_peer = [&]() -> asio::awaitable<void> {
        auto [rec, rn] = co_await ReadSomeForWatch(stream, buffer.prepare(4096));
        if (rec) co_return;  // EOF, reset, or cancelled (by the handler finishing or a forced stop)
        buffer.commit(rn);
        // The read may have completed just as the handler finished: then do not start a new wait.
        if (handler_done) co_return;
        // A pipelining client: it is still there; wait until the handler is done (that cancels us).
        asio::steady_timer forever(ioc_, asio::steady_timer::time_point::max());
        co_await forever.async_wait(kUseTuple);
      };
      // The first to finish cancels the other. Which finished first does not decide the outcome
      // (both can complete in the same turn of the loop): a handler that produced its answer wins.
      auto [order, handle_error, response, watch_error] =
          co_await asio::experimental::make_parallel_group(asio::co_spawn(ioc_, handle(), asio::deferred),
                                                           asio::co_spawn(ioc_, watch_peer(), asio::deferred))
              .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      (void)order;
      (void)handle_error;
      (void)watch_error;
      handled = std::move(response);
    }
    if (!handler_done || session->force_closed) {
      if (observer_) {
        observer_({request_id, request.method_string(), matched ? ctx.route : "unmatched",
                   ctx.principal.client_name, ctx.audit_statement, 499, "CLIENT_CLOSED", std::chrono::steady_clock::now() - started});
      }
      break;
    }
    Response response = std::move(handled);
    bool keep_alive = request.keep_alive() && !stopping_;
    unsigned status = response.status;
    std::optional<std::string_view> error_code;
    if (response.error_code != nullptr) error_code = response.error_code;
    bool ok = co_await write(std::move(response), request.version(), keep_alive, request_id);
    if (observer_) {
      observer_({request_id, request.method_string(), matched ? ctx.route : "unmatched", ctx.principal.client_name,
                 ctx.audit_statement, status, error_code, std::chrono::steady_clock::now() - started});
    }
    if (!ok || !keep_alive) break;
  }
}

asio::awaitable<void> Server::Shutdown(std::chrono::steady_clock::time_point deadline) {
  stopping_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  // Step 1: idle keep-alive connections close now; in-flight requests get until the deadline.
  for (auto& s : sessions_) {
    if (!s.handling) s.stream.socket().cancel(ignored);
  }
  asio::steady_timer tick(ioc_);
  while (!sessions_.empty() && std::chrono::steady_clock::now() < deadline) {
    for (auto& s : sessions_) {
      if (!s.handling) s.stream.socket().cancel(ignored);
    }
    tick.expires_after(10ms);
    co_await tick.async_wait(kUseTuple);
  }
  // Step 2: cancel what is still running (its statements are cancelled on the server).
  if (!sessions_.empty()) {
    spdlog::warn("shutdown deadline reached with {} request(s) in flight: cancelling them", sessions_.size());
    for (auto& s : sessions_) {
      s.force_closed = true;
      if (s.watch->active) s.watch->cancel.emit(asio::cancellation_type::terminal);
      s.stream.socket().cancel(ignored);
    }
    auto hard_deadline = std::chrono::steady_clock::now() + 2s;
    while (!sessions_.empty() && std::chrono::steady_clock::now() < hard_deadline) {
      tick.expires_after(10ms);
      co_await tick.async_wait(kUseTuple);
    }
  }
}

}  // namespace coredb::http
