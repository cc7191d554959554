#include "coredb/http/server.hpp"

#include "coredb/http/response.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <spdlog/spdlog.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <charconv>

namespace coredb::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
// What an idle session reads its next request into (the buffer grows past it as needed).
constexpr std::size_t kFirstRead = 1024;
constexpr auto kWriteTimeout = 30s;
constexpr auto kTlsHandshakeTimeout = 10s;
// How long a plain-HTTP request runs before its peer is watched (a hang-up is seen within twice this).
constexpr auto kWatchDelay = 20ms;
// What the peer watch reads at a time, and at most in all, of a client's next request(s).
constexpr std::size_t kWatchReadSize = 4096;
constexpr std::size_t kWatchBufferLimit = 64 * 1024;
// X-Request-Timeout: bounds and the scheduling grace the server's own cancel leaves the handler's
// timeouts (which are cut to the deadline, so that they, not this backstop, usually answer).
constexpr std::int64_t kMaxRequestTimeoutMs = 300000;
constexpr auto kDeadlineGrace = 5ms;
// Closed sessions, counted from the most open at once, after which freed memory is given back.
constexpr std::size_t kTrimAfterClosed = 1024;

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;  // visible ASCII only: it is echoed into a header and logs
  }
  return true;
}

// The peer watch's read: the plain socket itself (no beast timeout), or the TLS stream.
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSomeForWatch(
    beast::tcp_stream& stream, beast::flat_buffer::mutable_buffers_type buffer) {
  auto result = co_await stream.socket().async_read_some(buffer, kUseTuple);
  co_return result;
}
template <class Stream>
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> ReadSomeForWatch(
    Stream& stream, beast::flat_buffer::mutable_buffers_type buffer) {
  auto result = co_await stream.async_read_some(buffer, kUseTuple);
  co_return result;
}

}  // namespace

// Why the handler of the request in progress was cancelled.
enum class CancelReason { kNone, kPeerGone, kDeadline, kShutdown };

struct Server::Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)), watch_done(stream.get_executor()) {
    boost::system::error_code ec;
    const auto endpoint = stream.socket().remote_endpoint(ec);
    if (!ec) peer = endpoint.address();
  }
  beast::tcp_stream stream;
  asio::ip::address peer;  // the client's address (unspecified if the socket could not say)
  // The running handler's cancellation (its statement is cancelled on the server): the peer went
  // away, the request's deadline passed, or the shutdown deadline did.
  asio::cancellation_signal cancel;
  CancelReason cancel_reason = CancelReason::kNone;
  std::chrono::steady_clock::time_point since;  // the handler's start
  std::list<Session*>::iterator in_flight;     // in Server::in_flight_ while `active`
  bool active = false;    // a handler is running
  bool watched = false;   // the peer watch was started for this request
  bool watching = false;  // the peer watch's read is outstanding
  // Starts the peer watch on this session's stream (set once by Serve, which owns the stream).
  std::function<void()> start_watch;
  asio::steady_timer watch_done;  // Serve waits on it for the watch to end; the watch cancels it
  bool handling = false;      // a request is being handled: let it finish on shutdown
  bool force_closed = false;  // shutdown deadline passed: the handler is being cancelled
  bool evicted = false;       // closed to make room at MAX_CONNECTIONS (CloseLongestIdle)
  std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();  // last answer

  void Cancel(CancelReason reason) {
    if (!active || cancel_reason != CancelReason::kNone) return;
    cancel_reason = reason;
    cancel.emit(asio::cancellation_type::terminal);
  }
};

namespace {

// The peer watch, started for a request still running after kWatchDelay (Server::WatchSweep):
// reads what the client sends meanwhile into the session's buffer (a pipelined next request,
// kept for the next parse) and cancels the handler on EOF, a reset or a keep-alive timeout.
// Beyond kWatchBufferLimit of such bytes it stops reading (a client that sends that much while
// waiting is still there). The plain socket is read past beast's timeouts, the TLS stream through
// its TLS layer (a close_notify is data on the raw socket).
template <class Stream>
asio::awaitable<void> WatchPeer(Server::Session& s, Stream& stream, beast::flat_buffer& buffer) {
  // (s.watching was set by start_watch, before this coroutine was even scheduled.)
  while (s.active && buffer.size() < kWatchBufferLimit) {
    auto [ec, n] = co_await ReadSomeForWatch(stream, buffer.prepare(kWatchReadSize));
    if (ec) {
      if (ec != asio::error::operation_aborted) s.Cancel(CancelReason::kPeerGone);
      break;
    }
    buffer.commit(n);
  }
  s.watching = false;
  s.watch_done.cancel();
}

// RequestContext::stream for a request on `stream`.
template <class Stream>
class ChunkedWriter final : public ResponseStream {
 public:
  ChunkedWriter(Stream& stream, beast::tcp_stream& lowest, const Request& request, std::string_view request_id)
      : stream_(stream), lowest_(lowest), request_(request), request_id_(request_id) {}

  unsigned status() const { return status_; }

  asio::awaitable<bool> Begin(unsigned status, std::string_view content_type) override {
    if (begun_) co_return !failed_;
    begun_ = true;
    status_ = status;
    chunked_ = request_.version() >= 11;
    // HTTP/1.1: chunked; HTTP/1.0: the bytes as they are, and the connection closes after them.
    std::string head;
    head.reserve(192);
    AppendResponseHead(head, {.status = status,
                              .version = chunked_ ? 11u : 10u,
                              .keep_alive = chunked_,
                              .content_type = content_type,
                              .request_id = request_id_,
                              .content_length = std::nullopt,
                              .headers = {},
                              .extra = "Cache-Control: no-store\r\n"});
    const std::array<asio::const_buffer, 1> buffers{asio::buffer(head)};
    co_return co_await Send(buffers, std::chrono::steady_clock::now() + kWriteTimeout);
  }

  asio::awaitable<bool> Write(std::string_view data, std::chrono::steady_clock::time_point deadline) override {
    if (!begun_ || failed_ || ended_) co_return false;
    if (data.empty()) co_return true;  // (an empty chunk would end the body)
    if (!chunked_) {
      const std::array<asio::const_buffer, 1> buffers{asio::buffer(data)};
      co_return co_await Send(buffers, deadline);
    }
    std::array<char, 24> size{};
    auto [end, ec] = std::to_chars(size.data(), size.data() + size.size() - 2, data.size(), 16);
    (void)ec;
    *end++ = '\r';
    *end++ = '\n';
    const std::array<asio::const_buffer, 3> buffers{asio::buffer(size.data(), static_cast<std::size_t>(end - size.data())),
                                                    asio::buffer(data), asio::buffer("\r\n", 2)};
    co_return co_await Send(buffers, deadline);
  }

  asio::awaitable<bool> End() override {
    if (!begun_ || failed_ || ended_) co_return false;
    ended_ = true;
    if (!chunked_) co_return true;
    const std::array<asio::const_buffer, 1> buffers{asio::buffer("0\r\n\r\n", 5)};
    co_return co_await Send(buffers, std::chrono::steady_clock::now() + kWriteTimeout);
  }

 private:
  template <class Buffers>
  asio::awaitable<bool> Send(const Buffers& buffers, std::chrono::steady_clock::time_point deadline) {
    // A reader that does not take the bytes in time is cut off (beast closes the socket).
    lowest_.expires_at(std::min(deadline, std::chrono::steady_clock::now() + kWriteTimeout));
    auto [ec, n] = co_await asio::async_write(stream_, buffers, kUseTuple);
    (void)n;
    lowest_.expires_never();
    if (ec) failed_ = true;
    co_return !failed_;
  }

  Stream& stream_;
  beast::tcp_stream& lowest_;
  const Request& request_;
  std::string_view request_id_;
  unsigned status_ = 200;
  bool chunked_ = true;
};

// X-Request-Timeout, or else Envoy's x-envoy-expected-rq-timeout-ms: milliseconds, 1..300000.
// nullopt without either; a bad value is a 400 naming the header.
Result<std::optional<std::chrono::milliseconds>> RequestTimeout(const Request& request) {
  for (const char* name : {"X-Request-Timeout", "x-envoy-expected-rq-timeout-ms"}) {
    auto it = request.find(name);
    if (it == request.end()) continue;
    const std::string_view text = it->value();
    std::int64_t ms = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || ms < 1 || ms > kMaxRequestTimeoutMs) {
      return MakeError(ErrorCode::kInvalidRequest, std::string(name) + " must be a whole number of milliseconds, 1.." +
                                                       std::to_string(kMaxRequestTimeoutMs));
    }
    return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(ms));
  }
  return std::optional<std::chrono::milliseconds>();
}

}  // namespace

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
    if (sessions_.size() >= cfg_.max_connections && !CloseLongestIdle()) {
      spdlog::warn("connection refused: {} connections open, every one busy (MAX_CONNECTIONS)", sessions_.size());
      continue;  // the socket closes as it goes out of scope
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // A peer that vanishes without a FIN or RST (host down, cable cut) is seen by the peer watch
    // of a long request through keep-alive probes: after 10 s idle, every 5 s, 3 unanswered.
    socket.set_option(asio::socket_base::keep_alive(true), ignored);
    const int keep_idle = 10, keep_interval = 5, keep_count = 3;
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &keep_idle, sizeof keep_idle);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &keep_interval, sizeof keep_interval);
    ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &keep_count, sizeof keep_count);
    sessions_.emplace_back(std::move(socket));
    peak_sessions_ = std::max(peak_sessions_, sessions_.size());
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
      if (sessions_.size() + kTrimAfterClosed <= peak_sessions_) {
        peak_sessions_ = sessions_.size();
        trimmer_.Request();
      }
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
      if (s->since > cutoff) break;  // oldest first: the rest are younger
      if (s->watched || !s->start_watch) continue;
      s->watched = true;
      s->watching = true;
      s->start_watch();
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

asio::awaitable<Result<Principal>> Server::Authenticate(const Request& request, const asio::ip::address& peer) {
  const std::string_view header = request[beast::http::field::authorization];
  // Nothing to look up for the usual request: the table is empty until a token is refused.
  std::string source;
  const auto now = std::chrono::steady_clock::now();
  if (throttle_.tracked() > 0) {
    source = SourceKey(ClientAddress(peer, request["X-Forwarded-For"], trusted_));
    if (auto wait = throttle_.Refuse(source, now)) {
      Error refused(ErrorCode::kRateLimited,
                    "too many failed authentications from this address (AUTH_FAILURE_LIMIT); try again later");
      refused.retry_after_seconds = static_cast<int>(*wait);
      co_return refused;
    }
  }
  auto principal = co_await auth_.Authenticate(header);
  // A presented token that was refused counts; a missing header guesses nothing.
  if (!principal && principal.error().code == ErrorCode::kUnauthenticated && !header.empty()) {
    if (source.empty()) source = SourceKey(ClientAddress(peer, request["X-Forwarded-For"], trusted_));
    throttle_.Failed(source, now);
  }
  co_return principal;
}

asio::awaitable<Response> Server::Dispatch(const Request& request, RequestContext& ctx, bool& matched,
                                           const asio::ip::address& peer) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  if (auto q = target.find('?'); q != std::string_view::npos) ctx.query = target.substr(q + 1);

  // /api/* authenticates before routing, so unknown routes do not reveal themselves to strangers.
  bool needs_auth = path.rfind("/api/", 0) == 0 || path == "/api";
  if (needs_auth) {
    auto principal = co_await Authenticate(request, peer);
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
    auto principal = co_await Authenticate(request, peer);
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
  session->start_watch = [this, s = &*session, &stream, &buffer] {
    asio::co_spawn(ioc_, WatchPeer(*s, stream, buffer), asio::detached);
  };
  struct ForgetWatch {  // the lambda refers to this frame
    Session& s;
    ~ForgetWatch() { s.start_watch = nullptr; }
  } const forget_watch{*session};

  // Between requests a session holds only this frame and its buffer: the parser, the request and
  // everything a request needs live in ServeOne's frame, allocated while a request is handled
  // (10 000 idle keep-alive connections: bench/README.md, P6).
  for (;;) {
    if (stopping_ || session->evicted) break;
    session->handling = false;
    session->idle_since = std::chrono::steady_clock::now();
    if (buffer.size() == 0) {
      // Wait for the next request's first bytes (speculative read: no epoll_ctl when they are there).
      lowest.expires_after(cfg_.keep_alive_timeout);
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(std::max<std::size_t>(kFirstRead, buffer.capacity())),
                                                     kUseTuple);
      if (ec) break;  // closed, reset, idle past the keep-alive timeout, or shut down
      buffer.commit(n);
    }
    const bool keep_going = co_await ServeOne(session, stream, buffer);
    if (!keep_going) break;
  }
}

// One request from `buffer` (and the stream), answered; false when the connection is to close.
template <class Stream>
asio::awaitable<bool> Server::ServeOne(std::list<Session>::iterator session, Stream& stream, beast::flat_buffer& buffer) {
  beast::tcp_stream& lowest = session->stream;
  auto write = [&](Response response, unsigned version, bool keep_alive,
                   const std::string& request_id) -> asio::awaitable<bool> {
    // The head by hand and one gather write: Beast's serializer cost more than the rest of a
    // cached answer (bench/README.md, "Hot path").
    std::string head;
    head.reserve(160 + response.content_type.size());
    AppendResponseHead(head, {.status = response.status,
                              .version = version >= 11 ? 11u : 10u,
                              .keep_alive = keep_alive,
                              .content_type = response.content_type,
                              .request_id = request_id,
                              .content_length = response.body.size(),
                              .headers = response.headers,
                              .extra = {}});
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(response.body)};
    lowest.expires_after(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(stream, buffers, kUseTuple);
    co_return !ec;
  };

  {
    beast::http::request_parser<beast::http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(cfg_.max_body_bytes);
    parser.eager(true);
    // Most requests are whole in the buffer already: parse them in place, and read (Beast's
    // composed reads) only for what is still missing.
    boost::system::error_code ec;
    buffer.consume(parser.put(buffer.data(), ec));
    if (ec == beast::http::error::need_more) ec = {};
    lowest.expires_after(cfg_.keep_alive_timeout);
    if (!ec && !parser.is_header_done()) {
      auto [header_ec, header_n] = co_await beast::http::async_read_header(stream, buffer, parser, kUseTuple);
      ec = header_ec;
    }
    if (!ec && !parser.is_done() && parser.get()[beast::http::field::expect] == "100-continue" && !stopping_) {
      beast::http::response<beast::http::empty_body> cont{beast::http::status::continue_, 11};
      auto [wec, wn] = co_await beast::http::async_write(stream, cont, kUseTuple);
      ec = wec;
    }
    if (!ec && !parser.is_done()) {
      // (co_await as a statement of its own: GCC 12 miscompiles it inside larger expressions.)
      auto [body_ec, body_n] = co_await beast::http::async_read(stream, buffer, parser, kUseTuple);
      ec = body_ec;
    }
    auto started = std::chrono::steady_clock::now();
    if (ec) {
      // Only a request Beast could not parse deserves an answer; a closed, reset, idle or
      // cancelled connection just ends.
      bool parse_error = ec.category() == beast::http::make_error_code(beast::http::error::bad_target).category() &&
                         ec != beast::http::error::end_of_stream && ec != beast::http::error::partial_message;
      if (!parse_error || stopping_) co_return false;
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
      // (On the heap: an array would make every request's coroutine frame 16 KiB larger.)
      std::vector<char> sink(16384);
      for (std::size_t drained = 0; drained < 4 * 1024 * 1024;) {
        auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), kUseTuple);
        if (rec) break;
        drained += rn;
      }
      co_return false;
    }

    session->handling = true;
    lowest.expires_never();
    const Request& request = parser.get();
    std::string request_id(request["X-Request-Id"]);
    if (!ValidRequestId(request_id)) request_id = NewRequestId();
    ChunkedWriter<Stream> writer(stream, lowest, request, request_id);
    RequestContext ctx{request, request_id, {}, {}, {}, {}, {}};
    ctx.stream = &writer;
    bool matched = false;
    auto report = [&](unsigned status, std::optional<std::string_view> code) {
      if (!observer_) return;
      observer_({request_id, request.method_string(), matched ? ctx.route : "unmatched", ctx.principal.client_name,
                 ctx.audit_statement, status, code, std::chrono::steady_clock::now() - started});
    };

    auto budget = RequestTimeout(request);
    if (!budget) {
      const bool keep_alive = request.keep_alive() && !stopping_;
      Response refused = ErrorResponse(budget.error());
      const bool ok = co_await write(std::move(refused), request.version(), keep_alive, request_id);
      report(400, ErrorCodeName(budget.error().code));
      if (!ok || !keep_alive) co_return false;
      co_return true;
    }
    if (*budget) ctx.deadline = started + **budget;

    // The handler runs as a coroutine of its own, cancelled through the session's signal when
    // the client goes away (the peer watch, for requests still running after kWatchDelay), when
    // the request's deadline passes, or at the shutdown deadline. A cancelled statement is
    // cancelled on the server and its connection drained before reuse.
    session->cancel_reason = CancelReason::kNone;
    session->active = true;
    session->watched = false;
    session->since = started;
    session->in_flight = in_flight_.insert(in_flight_.end(), &*session);
    std::optional<asio::steady_timer> deadline_timer;
    if (ctx.deadline) {
      deadline_timer.emplace(ioc_, *ctx.deadline + kDeadlineGrace);
      deadline_timer->async_wait([s = &*session](boost::system::error_code tec) {
        if (!tec) s->Cancel(CancelReason::kDeadline);  // (aborted: the session may be gone)
      });
    }
    auto [handler_error, handled] = co_await asio::co_spawn(
        ioc_, Dispatch(request, ctx, matched, session->peer), asio::bind_cancellation_slot(session->cancel.slot(), kUseTuple));
    in_flight_.erase(session->in_flight);
    session->active = false;
    if (deadline_timer) deadline_timer->cancel();
    if (session->watching) {
      // The watch's read must end before the buffer is parsed again (what it read is kept).
      boost::system::error_code ignored;
      lowest.socket().cancel(ignored);
      while (session->watching) {
        session->watch_done.expires_at(asio::steady_timer::time_point::max());
        co_await session->watch_done.async_wait(kUseTuple);
      }
    }
    const CancelReason reason = session->force_closed ? CancelReason::kShutdown : session->cancel_reason;
    if (reason == CancelReason::kPeerGone || reason == CancelReason::kShutdown ||
        (writer.failed() && reason != CancelReason::kDeadline)) {
      // Nobody reads an answer: the request is logged and counted as 499 (nginx's "client closed").
      report(499, "CLIENT_CLOSED");
      co_return false;
    }
    if (reason == CancelReason::kDeadline || handler_error) {
      const Error late =
          reason == CancelReason::kDeadline
              ? Error(ErrorCode::kQueryTimeout,
                      "the request did not finish within its X-Request-Timeout (" +
                          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(**budget).count()) +
                          " ms); what it was running was cancelled")
              : Error(ErrorCode::kInternal, "internal error");
      if (writer.begun()) {
        // Too late for a status: the stream ends with the error as its last line (the client
        // sees no final rowCount line), then the connection closes.
        co_await writer.Write(ErrorLine(late), std::chrono::steady_clock::now() + kWriteTimeout);
        co_await writer.End();
        report(writer.status(), ErrorCodeName(late.code));
        co_return false;
      }
      handled = ErrorResponse(late);
    }
    if (writer.begun()) {
      // A streamed answer: already written (its last line says how it ended).
      const bool keep_alive = request.keep_alive() && !stopping_ && writer.ended() && request.version() >= 11;
      std::optional<std::string_view> code;
      if (handled.error_code != nullptr) code = handled.error_code;
      report(writer.status(), code);
      if (!keep_alive) co_return false;
      co_return true;
    }
    Response response = std::move(handled);
    bool keep_alive = request.keep_alive() && !stopping_;
    unsigned status = response.status;
    std::optional<std::string_view> error_code;
    if (response.error_code != nullptr) error_code = response.error_code;
    bool ok = co_await write(std::move(response), request.version(), keep_alive, request_id);
    report(status, error_code);
    co_return ok && keep_alive;
  }
}

bool Server::CloseLongestIdle() {
  Session* longest = nullptr;
  for (Session& s : sessions_) {
    if (s.handling || s.evicted) continue;
    if (longest == nullptr || s.idle_since < longest->idle_since) longest = &s;
  }
  if (longest == nullptr) return false;
  longest->evicted = true;
  boost::system::error_code ignored;
  longest->stream.socket().cancel(ignored);  // its read ends: the session closes
  spdlog::debug("MAX_CONNECTIONS ({}) reached: closed the longest-idle keep-alive connection", cfg_.max_connections);
  return true;
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
      s.Cancel(CancelReason::kShutdown);
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
