// http_load — the project's HTTP load generator (bench/README.md). N keep-alive connections to
// one 127.0.0.1 URL, each sending its next request as soon as the previous answer is read
// (closed loop), for a warm-up and then a measured window. Every latency of the window is kept
// (a few hundred thousand samples at most: cheaper and exacter than a histogram), and one
// machine-readable line is printed at the end:
//   RESULT requests=.. ok=.. errors=.. non2xx=.. io_errors=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
// With --idle-connections N it first opens N more keep-alive connections, each sending one
// `GET /health/live` and then staying idle (holding the socket) until the run ends.
// The body is a template: `{{rand:A:B}}` becomes a uniform random integer in [A, B] per request.
// Every wait has a deadline (connect, each request), and the run ends by itself.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxResponseBody = 64 * 1024 * 1024;
constexpr std::size_t kMaxErrorBodyShown = 2000;
constexpr auto kReconnectPause = std::chrono::milliseconds(100);

constexpr const char* kUsage =
    "usage: http_load --url http://127.0.0.1:PORT/PATH [options]\n"
    "\n"
    "  --url URL               target; the host must be 127.0.0.1 (plain http)\n"
    "  --method GET|POST       default POST when --body is given, else GET\n"
    "  --body TEMPLATE         request body; {{rand:A:B}} becomes a uniform random integer in [A,B]\n"
    "                          per request (Content-Type: application/json)\n"
    "  --token TOKEN           sent as 'Authorization: Bearer TOKEN'; default: $HTTP_LOAD_TOKEN\n"
    "                          (the environment keeps the token out of `ps`)\n"
    "  --connections N         keep-alive connections, each with one request in flight (default 64)\n"
    "  --threads N             event-loop threads; connections are spread over them (default 1)\n"
    "  --duration S            measured seconds (default 10)\n"
    "  --warmup S              seconds run before measuring, not counted (default 2)\n"
    "  --timeout S             deadline of each request, write to last byte read (default 30)\n"
    "  --connect-timeout S     deadline of each connect (default 5)\n"
    "  --label NAME            echoed in the RESULT line\n"
    "  --rate R                open loop: R requests/s in all, spread evenly over the connections\n"
    "                          (each sends on its own schedule; latency counts from the scheduled\n"
    "                          time, so a stall is not hidden by the requests it delayed). Default:\n"
    "                          closed loop (each connection sends as soon as it has its answer)\n"
    "  --idle-connections N    before the load, open N more keep-alive connections; each sends one\n"
    "                          complete 'GET /health/live' (a real HTTP keep-alive connection),\n"
    "                          reads the answer, then stays idle until the run ends. The load's\n"
    "                          warm-up starts once they are all open (stderr says when). Raises\n"
    "                          the soft RLIMIT_NOFILE as needed (default 0)\n"
    "\n"
    "Prints one line 'RESULT requests=.. ok=.. errors=.. rps=.. p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..\n"
    "body_bytes=.. idle_open=..' on stdout (rps, percentiles and body bytes over the 2xx answers\n"
    "completed inside the measured window; idle_open: idle connections still open at its end) and\n"
    "the first error body on stderr. Exit status: 0 no errors, 1 some errors (an idle connection\n"
    "that failed or was closed counts) or no answer at all, 2 bad arguments.\n";

// ---------------------------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------------------------

struct Target {
  std::string host;  // always 127.0.0.1
  std::uint16_t port = 80;
  std::string target = "/";  // path and query
};

struct Options {
  Target url;
  http::verb method = http::verb::get;
  std::optional<std::string> body_template;
  std::string token;
  std::size_t connections = 64;
  std::size_t threads = 1;
  double duration_s = 10;
  double warmup_s = 2;
  double timeout_s = 30;
  double connect_timeout_s = 5;
  std::string label;
  double rate = 0;  // requests per second in all; 0: closed loop
  std::size_t idle_connections = 0;
};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "http_load: %s (see --help)\n", message.c_str());
  std::exit(2);
}

std::optional<Target> ParseUrl(std::string_view url, std::string& problem) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    problem = "only http:// URLs are supported";
    return std::nullopt;
  }
  url.remove_prefix(kScheme.size());
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  Target t;
  t.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  std::size_t colon = authority.rfind(':');
  t.host = std::string(authority.substr(0, colon));
  if (colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      problem = "bad port in URL";
      return std::nullopt;
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  if (t.host != "127.0.0.1") {
    problem = "the URL's host must be 127.0.0.1 (this tool only ever loads the local machine)";
    return std::nullopt;
  }
  return t;
}

double ParsePositive(const std::string& flag, const std::string& text, bool allow_zero) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !std::isfinite(v) || v < 0 || (!allow_zero && v == 0)) {
    UsageError(flag + " needs a " + (allow_zero ? "non-negative" : "positive") + " number (got \"" + text + "\")");
  }
  return v;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  bool have_url = false;
  std::optional<http::verb> method;
  if (const char* env = std::getenv("HTTP_LOAD_TOKEN")) o.token = env;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) UsageError(flag + " needs a value (or is unknown)");
    std::string value = argv[++i];
    if (flag == "--url") {
      std::string problem;
      auto t = ParseUrl(value, problem);
      if (!t) UsageError(problem + " (got \"" + value + "\")");
      o.url = *t;
      have_url = true;
    } else if (flag == "--method") {
      if (value == "GET") method = http::verb::get;
      else if (value == "POST") method = http::verb::post;
      else UsageError("--method must be GET or POST");
    } else if (flag == "--body") {
      o.body_template = value;
    } else if (flag == "--token") {
      o.token = value;
    } else if (flag == "--connections") {
      o.connections = static_cast<std::size_t>(ParsePositive(flag, value, false));
    } else if (flag == "--threads") {
      o.threads = static_cast<std::size_t>(ParsePositive(flag, value, false));
    } else if (flag == "--duration") {
      o.duration_s = ParsePositive(flag, value, false);
    } else if (flag == "--warmup") {
      o.warmup_s = ParsePositive(flag, value, true);
    } else if (flag == "--timeout") {
      o.timeout_s = ParsePositive(flag, value, false);
    } else if (flag == "--connect-timeout") {
      o.connect_timeout_s = ParsePositive(flag, value, false);
    } else if (flag == "--label") {
      o.label = value;
    } else if (flag == "--rate") {
      o.rate = ParsePositive(flag, value, false);
    } else if (flag == "--idle-connections") {
      o.idle_connections = static_cast<std::size_t>(ParsePositive(flag, value, true));
    } else {
      UsageError("unknown option " + flag);
    }
  }
  if (!have_url) UsageError("--url is required");
  if (o.connections == 0 || o.connections > 10000) UsageError("--connections must be 1..10000");
  if (o.threads == 0 || o.threads > 64) UsageError("--threads must be 1..64");
  if (o.idle_connections > 60000) UsageError("--idle-connections must be 0..60000");
  o.threads = std::min(o.threads, o.connections);
  o.method = method.value_or(o.body_template ? http::verb::post : http::verb::get);
  if (o.method == http::verb::get && o.body_template) UsageError("--body needs --method POST");
  return o;
}

// ---------------------------------------------------------------------------------------------
// body template
// ---------------------------------------------------------------------------------------------

struct RandomInt {
  std::int64_t low;
  std::int64_t high;
};
using Segment = std::variant<std::string, RandomInt>;

std::int64_t ParseInt(std::string_view text, bool& ok) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  ok = ok && ec == std::errc() && end == text.data() + text.size();
  return v;
}

std::vector<Segment> ParseTemplate(std::string_view text) {
  std::vector<Segment> segments;
  std::string literal;
  while (!text.empty()) {
    std::size_t open = text.find("{{");
    literal.append(text.substr(0, open));
    if (open == std::string_view::npos) break;
    std::size_t close = text.find("}}", open);
    if (close == std::string_view::npos) UsageError("unterminated {{ in --body");
    std::string_view inner = text.substr(open + 2, close - open - 2);
    constexpr std::string_view kRand = "rand:";
    std::size_t colon = inner.find(':', kRand.size());
    if (!inner.starts_with(kRand) || colon == std::string_view::npos) {
      UsageError("unknown placeholder {{" + std::string(inner) + "}} in --body (known: {{rand:A:B}})");
    }
    bool ok = true;
    RandomInt r{ParseInt(inner.substr(kRand.size(), colon - kRand.size()), ok), ParseInt(inner.substr(colon + 1), ok)};
    if (!ok || r.low > r.high) UsageError("bad {{" + std::string(inner) + "}}: expected {{rand:A:B}} with integers A <= B");
    if (!literal.empty()) segments.emplace_back(std::move(literal));
    literal.clear();
    segments.emplace_back(r);
    text.remove_prefix(close + 2);
  }
  if (!literal.empty()) segments.emplace_back(std::move(literal));
  return segments;
}

class BodyRenderer {
 public:
  BodyRenderer(const std::vector<Segment>& segments, std::uint64_t seed) : segments_(segments), rng_(seed) {}

  void Render(std::string& out) {
    out.clear();
    for (const auto& segment : segments_) {
      if (const auto* literal = std::get_if<std::string>(&segment)) {
        out.append(*literal);
      } else {
        const auto& r = std::get<RandomInt>(segment);
        std::uniform_int_distribution<std::int64_t> dist(r.low, r.high);
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, dist(rng_));
        out.append(buf, end);
      }
    }
  }

 private:
  const std::vector<Segment>& segments_;
  std::mt19937_64 rng_;
};

// ---------------------------------------------------------------------------------------------
// the load
// ---------------------------------------------------------------------------------------------

// What one thread measured; merged after the threads have joined.
struct Stats {
  std::vector<std::uint32_t> latencies_us;  // 2xx answers completed inside the window
  std::uint64_t ok = 0;
  std::uint64_t non2xx = 0;
  std::uint64_t io_errors = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t warmup_errors = 0;  // not in `errors`: the window's figures do not include them
  std::uint64_t body_bytes = 0;     // bytes of the bodies of the 2xx answers counted in `ok`
  std::optional<std::string> first_error;
};

struct Window {
  Clock::time_point measure_from;
  Clock::time_point end;
};

// One event loop, its share of the connections and its own statistics: threads share nothing
// but the read-only options.
class Worker {
 public:
  Worker(const Options& options, const std::vector<Segment>& segments, std::size_t connections, Window window,
         std::uint64_t seed)
      : options_(options),
        window_(window),
        renderer_(segments, seed),
        connections_(connections),
        stop_timer_(ioc_) {
    stats_.latencies_us.reserve(1 << 20);
  }

  void Run() {
    // The window's end closes every socket: answers still in flight are not counted, and no
    // connection waits for its request deadline after the run.
    stop_timer_.expires_at(window_.end);
    stop_timer_.async_wait([this](boost::system::error_code) {
      stopping_ = true;
      for (auto& s : streams_) s.close();
    });
    for (std::size_t i = 0; i < connections_; ++i) {
      auto& stream = streams_.emplace_back(ioc_);
      asio::co_spawn(ioc_, Connection(stream, i), [this](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          CountError(Kind::kIo, Clock::now(), "connection failed: " + std::string(ex.what()));
        }
      });
    }
    ioc_.run();
  }

  Stats& stats() { return stats_; }

 private:
  static std::chrono::nanoseconds Seconds(double s) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
  }

  enum class Kind { kIo, kStatus };

  // Errors count where they happen (warm-up or window); the first one's text is kept either way.
  void CountError(Kind kind, Clock::time_point when, std::string message) {
    if (when < window_.measure_from) {
      ++stats_.warmup_errors;
    } else if (kind == Kind::kIo) {
      ++stats_.io_errors;
    } else {
      ++stats_.non2xx;
    }
    if (!stats_.first_error) {
      stats_.first_error = (when < window_.measure_from ? "(during warm-up) " : "") + std::move(message);
    }
  }

  asio::awaitable<bool> Connect(beast::tcp_stream& stream, const tcp::endpoint& endpoint) {
    while (!stopping_) {
      stream.expires_after(Seconds(options_.connect_timeout_s));
      auto [ec] = co_await stream.async_connect(endpoint, kUseTuple);
      if (!ec) {
        stream.socket().set_option(tcp::no_delay(true));
        co_return true;
      }
      if (stopping_) break;
      CountError(Kind::kIo, Clock::now(), "connect to 127.0.0.1:" + std::to_string(endpoint.port()) + ": " + ec.message());
      stream.close();
      asio::steady_timer pause(ioc_, kReconnectPause);
      co_await pause.async_wait(kUseTuple);
    }
    co_return false;
  }

  asio::awaitable<void> Connection(beast::tcp_stream& stream, std::size_t index) {
    // Open loop: this connection's share of --rate, its first send staggered by its index.
    const auto interval = options_.rate > 0
                              ? Seconds(static_cast<double>(options_.connections) / options_.rate)
                              : std::chrono::nanoseconds(0);
    auto scheduled = Clock::now() + interval * static_cast<std::int64_t>(index) /
                                        static_cast<std::int64_t>(std::max<std::size_t>(connections_, 1));
    asio::steady_timer pace(ioc_);
    const tcp::endpoint endpoint(asio::ip::make_address_v4(options_.url.host), options_.url.port);
    http::request<http::string_body> request{options_.method, options_.url.target, 11};
    request.set(http::field::host, options_.url.host + ":" + std::to_string(options_.url.port));
    request.set(http::field::user_agent, "coredb-http-load");
    if (!options_.token.empty()) request.set(http::field::authorization, "Bearer " + options_.token);
    if (options_.body_template) request.set(http::field::content_type, "application/json");
    request.keep_alive(true);
    beast::flat_buffer buffer;
    bool connected = false;

    while (!stopping_) {
      if (!connected) {
        if (!(co_await Connect(stream, endpoint))) break;
        connected = true;
        buffer.clear();
      }
      if (options_.body_template) {
        renderer_.Render(request.body());
        request.prepare_payload();
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBody);

      if (interval.count() > 0) {
        if (Clock::now() < scheduled) {
          pace.expires_at(scheduled);
          auto [pace_ec] = co_await pace.async_wait(kUseTuple);
          (void)pace_ec;
          if (stopping_) break;
        }
      }
      // Closed loop: from now. Open loop: from when the request was due.
      const auto started = interval.count() > 0 ? scheduled : Clock::now();
      scheduled += interval;
      stream.expires_at(Clock::now() + Seconds(options_.timeout_s));  // one deadline for write and read
      auto [write_ec, written] = co_await http::async_write(stream, request, kUseTuple);
      boost::system::error_code ec = write_ec;
      if (!ec) {
        auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, kUseTuple);
        ec = read_ec;
      }
      const auto finished = Clock::now();
      if (stopping_ || finished > window_.end) break;  // the window closed meanwhile: not counted

      if (ec) {
        CountError(Kind::kIo, finished,
                   std::string("transport error: ") + ec.message() +
                       (ec == beast::error::timeout ? " (request deadline)" : ""));
        stream.close();
        connected = false;
        ++stats_.reconnects;
        continue;
      }
      auto& response = parser.get();
      const unsigned status = response.result_int();
      if (status < 200 || status >= 300) {
        CountError(Kind::kStatus, finished,
                   "HTTP " + std::to_string(status) + ": " + response.body().substr(0, kMaxErrorBodyShown));
      } else if (finished >= window_.measure_from) {
        ++stats_.ok;
        stats_.body_bytes += response.body().size();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(finished - started).count();
        stats_.latencies_us.push_back(static_cast<std::uint32_t>(std::min<std::int64_t>(us, UINT32_MAX)));
      }
      if (!response.keep_alive()) {
        stream.close();
        connected = false;
        ++stats_.reconnects;
      }
    }
  }

  const Options& options_;
  const Window window_;
  asio::io_context ioc_{1};
  BodyRenderer renderer_;
  std::size_t connections_;
  std::list<beast::tcp_stream> streams_;  // stable addresses: the coroutines hold references
  asio::steady_timer stop_timer_;
  bool stopping_ = false;
  Stats stats_;
};

// --idle-connections: connections that each send one GET /health/live, read the answer, and
// then hold the socket, idle, until Stop(). Their own event loop on their own thread, so the
// load's loops never see them; a pending one-byte read on each notices a server that closes it.
class IdleHolder {
 public:
  explicit IdleHolder(const Options& options) : options_(options), work_(asio::make_work_guard(ioc_)) {}
  IdleHolder(const IdleHolder&) = delete;
  IdleHolder& operator=(const IdleHolder&) = delete;
  ~IdleHolder() { Stop(); }

  // Opens them all, kOpeners at a time; returns once every one is open or has failed.
  void Open() {
    openers_ = std::min(kOpeners, options_.idle_connections);
    auto ready = ready_.get_future();
    thread_ = std::thread([this] { ioc_.run(); });
    for (std::size_t i = 0; i < openers_; ++i) asio::co_spawn(ioc_, Opener(i), asio::detached);
    ready.wait();
  }

  // Closes them (counting first how many were still open) and ends the thread.
  void Stop() {
    if (!thread_.joinable()) return;
    asio::post(ioc_, [this] {
      stopping_ = true;
      open_at_stop_ = opened_ - closed_by_server_;
      for (auto& s : streams_) s.close();
    });
    work_.reset();
    thread_.join();
  }

  // Valid after Open() (opened, failed) and after Stop() (all).
  std::size_t opened() const { return opened_; }
  std::size_t failed() const { return failed_; }
  std::size_t closed_by_server() const { return closed_by_server_; }
  std::size_t open_at_stop() const { return open_at_stop_; }
  const std::optional<std::string>& first_error() const { return first_error_; }

 private:
  static constexpr std::size_t kOpeners = 64;

  static std::chrono::nanoseconds Seconds(double s) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
  }

  void Fail(std::string message) {
    ++failed_;
    if (!first_error_) first_error_ = "idle connection: " + std::move(message);
  }

  asio::awaitable<void> Opener(std::size_t first) {
    const tcp::endpoint endpoint(asio::ip::make_address_v4(options_.url.host), options_.url.port);
    http::request<http::empty_body> request{http::verb::get, "/health/live", 11};
    request.set(http::field::host, options_.url.host + ":" + std::to_string(options_.url.port));
    request.set(http::field::user_agent, "coredb-http-load-idle");
    request.keep_alive(true);
    for (std::size_t i = first; i < options_.idle_connections; i += openers_) {
      auto& stream = streams_.emplace_back(ioc_);
      stream.expires_after(Seconds(options_.connect_timeout_s));
      auto [ec] = co_await stream.async_connect(endpoint, kUseTuple);
      if (ec) {
        Fail("connect: " + ec.message());
        stream.close();
        continue;
      }
      stream.socket().set_option(tcp::no_delay(true));
      stream.expires_after(Seconds(options_.timeout_s));
      auto [write_ec, written] = co_await http::async_write(stream, request, kUseTuple);
      beast::flat_buffer buffer;
      http::response<http::string_body> response;
      ec = write_ec;
      if (!ec) {
        auto [read_ec, read] = co_await http::async_read(stream, buffer, response, kUseTuple);
        ec = read_ec;
      }
      if (ec || response.result_int() / 100 != 2 || !response.keep_alive()) {
        Fail(ec ? "GET /health/live: " + ec.message()
                : "GET /health/live answered HTTP " + std::to_string(response.result_int()) +
                      (response.keep_alive() ? "" : " without keep-alive"));
        stream.close();
        continue;
      }
      stream.expires_never();
      ++opened_;
      asio::co_spawn(ioc_, Hold(stream), asio::detached);
    }
    if (++openers_done_ == openers_) ready_.set_value();
  }

  asio::awaitable<void> Hold(beast::tcp_stream& stream) {
    char byte = 0;
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(&byte, 1), kUseTuple);
    if (stopping_) co_return;
    ++closed_by_server_;
    if (!first_error_) {
      first_error_ = std::string("idle connection: ") +
                     (ec ? "closed by the server (" + ec.message() + ")" : "the server sent unrequested data");
    }
  }

  const Options& options_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::promise<void> ready_;
  std::list<beast::tcp_stream> streams_;  // stable addresses: the coroutines hold references
  std::size_t openers_ = 0;
  std::size_t openers_done_ = 0;
  std::size_t opened_ = 0;
  std::size_t failed_ = 0;
  std::size_t closed_by_server_ = 0;
  std::size_t open_at_stop_ = 0;
  bool stopping_ = false;
  std::optional<std::string> first_error_;
};

// The load and the idle connections need a descriptor each: raise the soft limit to what they need.
void RaiseFdLimit(std::size_t needed) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= needed) return;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < needed) {
    std::fprintf(stderr, "http_load: %zu connections need %zu file descriptors, the hard limit is %ju (ulimit -Hn)\n",
                 needed - 32, needed, static_cast<std::uintmax_t>(rl.rlim_max));
    std::exit(2);
  }
  rl.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    std::fprintf(stderr, "http_load: cannot raise RLIMIT_NOFILE to %zu\n", needed);
    std::exit(2);
  }
}

double PercentileMs(const std::vector<std::uint32_t>& sorted_us, double p) {
  if (sorted_us.empty()) return 0;
  // nearest rank: the smallest sample with at least p% of the samples at or below it
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted_us.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted_us.size());
  return sorted_us[rank - 1] / 1000.0;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  const std::vector<Segment> segments =
      options.body_template ? ParseTemplate(*options.body_template) : std::vector<Segment>{};

  std::fprintf(stderr, "http_load: %s http://%s:%u%s, %zu connections on %zu thread(s), %g s warm-up + %g s measured%s%s\n",
               std::string(http::to_string(options.method)).c_str(), options.url.host.c_str(), options.url.port,
               options.url.target.c_str(), options.connections, options.threads, options.warmup_s, options.duration_s,
               options.label.empty() ? "" : ", label ", options.label.c_str());

  RaiseFdLimit(options.connections + options.idle_connections + 32);
  std::optional<IdleHolder> idle;
  if (options.idle_connections > 0) {
    const auto opening = Clock::now();
    idle.emplace(options);
    idle->Open();
    std::fprintf(stderr, "http_load: %zu idle connections open, %zu failed, in %.1f s\n", idle->opened(), idle->failed(),
                 std::chrono::duration<double>(Clock::now() - opening).count());
  }
  // bench/run waits for this line before it samples the window's CPU (after the idle ones opened).
  std::fprintf(stderr, "http_load: load starts\n");
  std::fflush(stderr);

  const double cpu_before = CpuSeconds();
  const auto start = Clock::now();
  const auto after = [start](double s) {
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  const Window window{after(options.warmup_s), after(options.warmup_s + options.duration_s)};

  std::random_device seed_source;
  std::vector<std::unique_ptr<Worker>> workers;
  for (std::size_t t = 0; t < options.threads; ++t) {
    std::size_t share = options.connections / options.threads + (t < options.connections % options.threads ? 1 : 0);
    std::uint64_t seed = (static_cast<std::uint64_t>(seed_source()) << 32) ^ seed_source() ^ t;
    workers.push_back(std::make_unique<Worker>(options, segments, share, window, seed));
  }
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < workers.size(); ++t) threads.emplace_back([&w = *workers[t]] { w.Run(); });
  workers[0]->Run();
  for (auto& t : threads) t.join();
  if (idle) idle->Stop();
  const double cpu_s = CpuSeconds() - cpu_before;
  const double wall_s = std::chrono::duration<double>(Clock::now() - start).count();

  Stats total;
  for (auto& w : workers) {
    Stats& s = w->stats();
    total.latencies_us.insert(total.latencies_us.end(), s.latencies_us.begin(), s.latencies_us.end());
    total.ok += s.ok;
    total.non2xx += s.non2xx;
    total.io_errors += s.io_errors;
    total.reconnects += s.reconnects;
    total.warmup_errors += s.warmup_errors;
    total.body_bytes += s.body_bytes;
    if (!total.first_error && s.first_error) total.first_error = std::move(s.first_error);
  }
  std::sort(total.latencies_us.begin(), total.latencies_us.end());
  double mean_ms = 0;
  for (auto us : total.latencies_us) mean_ms += us;
  if (!total.latencies_us.empty()) mean_ms /= 1000.0 * static_cast<double>(total.latencies_us.size());
  const std::uint64_t errors = total.non2xx + total.io_errors;

  if (total.first_error) std::fprintf(stderr, "http_load: first error: %s\n", total.first_error->c_str());
  const std::size_t idle_failed = idle ? idle->failed() : 0;
  const std::size_t idle_closed = idle ? idle->closed_by_server() : 0;
  if (idle && idle->first_error()) {
    std::fprintf(stderr, "http_load: first idle-connection error: %s\n", idle->first_error()->c_str());
  }
  std::printf("RESULT%s%s requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64 " non2xx=%" PRIu64
              " io_errors=%" PRIu64 " warmup_errors=%" PRIu64 " reconnects=%" PRIu64
              " connections=%zu threads=%zu duration_s=%g rps=%.1f mean_ms=%.3f p50_ms=%.3f"
              " p90_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f cpu_s=%.2f cpu_pct=%.0f body_bytes=%" PRIu64
              " body_bytes_per_s=%.0f idle_requested=%zu idle_open=%zu idle_failed=%zu idle_closed=%zu\n",
              options.label.empty() ? "" : " label=", options.label.c_str(), total.ok + total.non2xx, total.ok,
              errors, total.non2xx, total.io_errors, total.warmup_errors, total.reconnects, options.connections,
              options.threads, options.duration_s, static_cast<double>(total.ok) / options.duration_s, mean_ms,
              PercentileMs(total.latencies_us, 50), PercentileMs(total.latencies_us, 90),
              PercentileMs(total.latencies_us, 95), PercentileMs(total.latencies_us, 99), total.latencies_us.empty() ? 0.0 : total.latencies_us.back() / 1000.0,
              cpu_s, wall_s > 0 ? 100.0 * cpu_s / wall_s : 0.0, total.body_bytes,
              static_cast<double>(total.body_bytes) / options.duration_s, options.idle_connections,
              idle ? idle->open_at_stop() : 0, idle_failed, idle_closed);
  std::fflush(stdout);
  return errors == 0 && total.ok > 0 && idle_failed == 0 && idle_closed == 0 ? 0 : 1;
}
