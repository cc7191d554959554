#include "coredb/adapters/redis/redis_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <string_view>
#include <utility>

namespace coredb::redis {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// A big reply arrives in 16 KiB reads (hiredis's buffer); drain this many per wake-up, then
// let other work run.
constexpr int kReadsPerWakeup = 64;
constexpr std::string_view kStoppedReason = "redis client stopped";

Reply ConvertReply(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_STRING: return Reply::String(std::string(r.str, r.len));
    case REDIS_REPLY_STATUS: return Reply::Status(std::string(r.str, r.len));
    case REDIS_REPLY_ERROR: return Reply::ErrorReply(std::string(r.str, r.len));
    case REDIS_REPLY_INTEGER: return Reply::Integer(r.integer);
    case REDIS_REPLY_ARRAY: {
      std::vector<Reply> elements;
      elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) elements.push_back(ConvertReply(*r.element[i]));
      return Reply::Array(std::move(elements));
    }
    case REDIS_REPLY_NIL:
    default: return Reply::Nil();
  }
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Writes one command into hiredis's output buffer (argv form: binary-safe).
bool WriteCommand(redisAsyncContext* context, redisCallbackFn* fn, void* privdata,
                  const std::vector<std::string>& args) {
  if (args.empty() || args.size() > static_cast<std::size_t>(INT_MAX)) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return redisAsyncCommandArgv(context, fn, privdata, static_cast<int>(args.size()), argv.data(),
                               lengths.data()) == REDIS_OK;
}

std::string Endpoint(const RedisOptions& o) { return o.host + ":" + std::to_string(o.port); }

// hiredis writes with write(2): writing to a peer that is gone raises SIGPIPE, which kills the
// process unless it is ignored. Block it on this thread for the duration of a write and swallow
// one we caused (as libpq does), without touching the process-wide disposition.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec no_wait{};
        sigtimedwait(&pipe_, nullptr, &no_wait);
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

 private:
  sigset_t pipe_{};
  sigset_t previous_{};
  bool was_pending_ = false;
};

std::size_t PayloadBytes(const std::vector<std::vector<std::string>>& commands) {
  std::size_t bytes = 0;
  for (const auto& args : commands) {
    for (const auto& arg : args) bytes += arg.size() + 16;  // + RESP framing, roughly
  }
  return bytes;
}

}  // namespace

// ---- per-command state ------------------------------------------------------------------------

// Lives in the awaiting coroutine's frame. The reply callback fills `result` and cancels the
// timer; the timer expiring (or the coroutine being cancelled) means the caller stops waiting.
struct RedisClient::PendingCommand {
  explicit PendingCommand(const asio::any_io_executor& executor) : timer(executor) {}
  PendingCommand(const PendingCommand&) = delete;
  PendingCommand& operator=(const PendingCommand&) = delete;
  ~PendingCommand();

  asio::steady_timer timer;
  std::optional<Result<Reply>> result;
  CommandSlot* slot = nullptr;  // while the reply is outstanding
};

// Owned by hiredis's callback list (the privdata of the last callback of a command), deleted
// when that callback runs — hiredis runs every callback exactly once, with NULL when the
// context goes away, so nothing leaks and nothing dangles.
struct RedisClient::CommandSlot {
  PendingCommand* waiter = nullptr;  // null once the caller stopped waiting
  std::string first_error;           // transactions: the first command Redis refused to queue
};

RedisClient::PendingCommand::~PendingCommand() {
  if (slot != nullptr) slot->waiter = nullptr;  // the late reply will be dropped
}

struct RedisClient::ReadyWaiter {
  ReadyWaiter(RedisClient* c, const asio::any_io_executor& executor, milliseconds timeout)
      : client(c), timer(executor, timeout) {
    client->ready_waiters_.push_back(this);
  }
  ReadyWaiter(const ReadyWaiter&) = delete;
  ReadyWaiter& operator=(const ReadyWaiter&) = delete;
  ~ReadyWaiter() {
    if (client != nullptr) std::erase(client->ready_waiters_, this);
  }

  RedisClient* client;  // null once the client is destroyed
  asio::steady_timer timer;
};

// ---- one hiredis context and the Asio descriptor watching its socket --------------------------

// Shared by the client (while current) and the descriptor's pending waits, which may complete
// after hiredis freed the context: they find `context == nullptr` and do nothing.
struct RedisClient::Connection : std::enable_shared_from_this<Connection> {
  Connection(RedisClient* o, redisAsyncContext* c, std::uint64_t a)
      : owner(o), context(c), socket(o->executor_), attempt(a) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() {
    // hiredis owns the fd and closes it in redisFree: never let Asio close it.
    if (socket.is_open()) socket.release();
  }

  std::string Reason() const {
    if (!close_reason.empty()) return close_reason;
    if (context != nullptr && context->c.err != 0) return context->c.errstr;
    return "connection closed";
  }

  void ArmRead() {
    if (context == nullptr || !want_read || read_armed) return;
    read_armed = true;
    socket.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](boost::system::error_code) {
                        self->read_armed = false;
                        for (int i = 0; i < kReadsPerWakeup; ++i) {
                          if (self->context == nullptr || !self->want_read) return;
                          redisAsyncHandleRead(self->context);  // may free the context
                          if (self->context == nullptr) return;
                          asio::posix::descriptor_base::bytes_readable readable(true);
                          boost::system::error_code ec;
                          self->socket.io_control(readable, ec);
                          if (ec || readable.get() == 0) break;
                        }
                        self->ArmRead();
                      });
  }

  void ArmWrite() {
    if (context == nullptr || !want_write || write_armed) return;
    write_armed = true;
    socket.async_wait(asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this()](boost::system::error_code) {
                        self->write_armed = false;
                        if (self->context == nullptr || !self->want_write) return;
                        {
                          const SigpipeBlock no_sigpipe;
                          redisAsyncHandleWrite(self->context);  // may free the context
                        }
                        self->ArmWrite();
                      });
  }

  // hiredis → event loop hooks. They must be idempotent and must not free the context.
  static void AddRead(void* p) {
    auto* self = static_cast<Connection*>(p);
    self->want_read = true;
    self->ArmRead();
  }
  static void DelRead(void* p) { static_cast<Connection*>(p)->want_read = false; }
  static void AddWrite(void* p) {
    auto* self = static_cast<Connection*>(p);
    self->want_write = true;
    self->ArmWrite();
  }
  static void DelWrite(void* p) { static_cast<Connection*>(p)->want_write = false; }

  // Called from inside hiredis's free, after every pending callback ran with a NULL reply and
  // before the fd is closed.
  static void Cleanup(void* p) {
    auto* raw = static_cast<Connection*>(p);
    const std::shared_ptr<Connection> self = raw->shared_from_this();  // owner drops its ref
    const std::string reason = self->Reason();
    self->want_read = false;
    self->want_write = false;
    // Deregister from epoll before hiredis closes the fd; pending waits end with
    // operation_aborted.
    if (self->socket.is_open()) self->socket.release();
    self->context = nullptr;
    RedisClient* client = std::exchange(self->owner, nullptr);
    if (client != nullptr) client->OnConnectionClosed(*self, reason);
  }

  static void OnConnect(const redisAsyncContext* context, int status) {
    // Never free the context here: hiredis keeps using it after this returns.
    const auto* self = static_cast<const Connection*>(context->data);
    if (status == REDIS_OK && self != nullptr && self->owner != nullptr) {
      spdlog::debug("redis {}: tcp connected to {}", self->owner->options_.name,
                    Endpoint(self->owner->options_));
    }
  }

  // AUTH, SELECT, PING sent right behind the connect; privdata names the step (a literal).
  static void OnHandshakeReply(redisAsyncContext* context, void* r, void* privdata) {
    auto* self = static_cast<Connection*>(context->data);
    const auto* reply = static_cast<const redisReply*>(r);
    if (reply == nullptr || self->owner == nullptr || !self->close_reason.empty()) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      self->close_reason = std::string(static_cast<const char*>(privdata)) +
                           " failed: " + std::string(reply->str, reply->len);
      redisAsyncFree(context);  // inside a reply callback hiredis defers this until we return
      return;
    }
    if (--self->handshake_left == 0) self->owner->OnHandshakeDone(*self);
  }

  // Replies to MULTI and to each queued command of a transaction ("+OK", "+QUEUED" or an
  // error); EXEC's reply goes to OnCommandReply with the same slot.
  static void OnTransactionStep(redisAsyncContext* context, void* r, void* privdata) {
    auto* self = static_cast<Connection*>(context->data);
    auto* slot = static_cast<CommandSlot*>(privdata);
    const auto* reply = static_cast<const redisReply*>(r);
    if (self->owner != nullptr) --self->owner->stats_.in_flight;
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && slot->first_error.empty()) {
      slot->first_error.assign(reply->str, reply->len);
    }
  }

  static void OnCommandReply(redisAsyncContext* context, void* r, void* privdata) {
    auto* self = static_cast<Connection*>(context->data);
    const std::unique_ptr<CommandSlot> slot(static_cast<CommandSlot*>(privdata));
    const auto* reply = static_cast<const redisReply*>(r);
    RedisClient* client = self->owner;  // set: callbacks run before Cleanup
    if (client != nullptr) --client->stats_.in_flight;
    PendingCommand* waiter = slot->waiter;
    if (waiter == nullptr) return;  // timed out or cancelled: drop the late reply
    Result<Reply> result = Reply::Nil();
    if (reply == nullptr) {
      const bool stopped = client == nullptr || client->state_ == State::kStopped;
      result = MakeError(ErrorCode::kDatabaseUnavailable,
                         stopped ? std::string(kStoppedReason)
                                 : "redis connection lost: " + self->Reason());
    } else if (reply->type == REDIS_REPLY_ERROR) {
      std::string message(reply->str, reply->len);
      if (!slot->first_error.empty() && message.starts_with("EXECABORT")) {
        message = std::move(slot->first_error);
      }
      result = MakeError(ErrorCode::kQueryError, std::move(message));
    } else {
      result = ConvertReply(*reply);
    }
    if (!result && client != nullptr) ++client->stats_.errors_total;
    waiter->result = std::move(result);
    waiter->slot = nullptr;
    waiter->timer.cancel();
  }

  RedisClient* owner;  // null once the context is gone
  redisAsyncContext* context;
  asio::posix::stream_descriptor socket;
  std::uint64_t attempt;
  bool want_read = false;
  bool want_write = false;
  bool read_armed = false;
  bool write_armed = false;
  bool ready = false;  // handshake done
  int handshake_left = 0;
  std::string close_reason;  // set when we close it; otherwise hiredis's error says why
};

// ---- client -----------------------------------------------------------------------------------

RedisClient::RedisClient(asio::any_io_executor executor, RedisOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      connect_timer_(executor_),
      reconnect_timer_(executor_),
      resolver_(executor_),
      rng_(std::random_device{}()) {
  // A zero backoff would spin on a refused connection.
  options_.reconnect_min = std::max(options_.reconnect_min, milliseconds(1));
  options_.reconnect_max = std::max(options_.reconnect_max, options_.reconnect_min);
  options_.connect_timeout = std::max(options_.connect_timeout, milliseconds(1));
  options_.command_timeout = std::max(options_.command_timeout, milliseconds(1));
}

RedisClient::~RedisClient() {
  state_ = State::kStopped;
  ++attempt_;
  CloseConnection("redis client destroyed");
  for (ReadyWaiter* waiter : ready_waiters_) {
    waiter->client = nullptr;
    waiter->timer.cancel();
  }
  ready_waiters_.clear();
}

void RedisClient::Start() {
  if (state_ != State::kIdle && state_ != State::kStopped) return;
  failures_in_a_row_ = 0;
  ever_connected_ = false;  // a fresh start is not a reconnect
  spdlog::info("redis {}: connecting to {} db {}", options_.name, Endpoint(options_), options_.db);
  StartAttempt();
}

void RedisClient::Stop() {
  if (state_ == State::kStopped || state_ == State::kIdle) {
    state_ = State::kStopped;
    return;
  }
  state_ = State::kStopped;
  ++attempt_;  // invalidates every timer and resolver handler in flight
  connect_timer_.cancel();
  reconnect_timer_.cancel();
  resolver_.cancel();
  CloseConnection(std::string(kStoppedReason));
  stats_.connected = false;
  last_error_ = kStoppedReason;
  NotifyReadyWaiters();
  spdlog::info("redis {}: stopped", options_.name);
}

std::optional<std::string> RedisClient::RejectReason(const std::vector<std::string>& args, bool dedicated) {
  if (args.empty() || args.front().empty()) return "empty redis command";
  // Commands that change the connection's protocol state: on a connection shared by every
  // caller they would leak into other callers' commands, and the SUBSCRIBE family and MONITOR
  // make hiredis call one callback many times.
  static constexpr std::array<std::string_view, 20> kConnectionState = {
      "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE",
      "SUNSUBSCRIBE", "MONITOR",  "SELECT",     "AUTH",        "HELLO",
      "RESET",     "QUIT",       "MULTI",      "EXEC",        "DISCARD",
      "WATCH",     "UNWATCH",    "SYNC",       "PSYNC",       "REPLCONF"};
  // A leased connection is the lessee's own: transactions and optimistic locking are its point.
  static constexpr std::array<std::string_view, 5> kDedicatedOnly = {"MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"};
  const std::string name = Upper(args.front());
  const char* where = dedicated ? "a leased connection" : "the shared connection (lease one for MULTI/WATCH)";
  if (dedicated && std::find(kDedicatedOnly.begin(), kDedicatedOnly.end(), name) != kDedicatedOnly.end()) {
    return std::nullopt;
  }
  if (std::find(kConnectionState.begin(), kConnectionState.end(), name) != kConnectionState.end()) {
    return "redis command " + name + " is not allowed on " + where;
  }
  if (name == "CLIENT" && args.size() > 1 && Upper(args[1]) == "REPLY") {
    return "redis command CLIENT REPLY is not allowed on " + std::string(where);
  }
  return std::nullopt;
}

asio::awaitable<Result<Reply>> RedisClient::Command(std::vector<std::string> args,
                                                    std::optional<milliseconds> timeout) {
  std::vector<std::vector<std::string>> commands;
  commands.push_back(std::move(args));
  co_return co_await Execute(commands, /*transaction=*/false, timeout);
}

asio::awaitable<Result<Reply>> RedisClient::Transaction(
    std::vector<std::vector<std::string>> commands, std::optional<milliseconds> timeout) {
  co_return co_await Execute(commands, /*transaction=*/true, timeout);
}

asio::awaitable<Result<Reply>> RedisClient::Execute(
    const std::vector<std::vector<std::string>>& commands, bool transaction,
    std::optional<milliseconds> timeout) {
  ++stats_.commands_total;
  if (commands.empty()) co_return Fail(ErrorCode::kInvalidRequest, "empty redis transaction");
  for (const auto& args : commands) {
    if (auto reason = RejectReason(args, options_.dedicated)) co_return Fail(ErrorCode::kInvalidRequest, *reason);
  }
  if (state_ != State::kConnected || !connection_ || connection_->context == nullptr) {
    co_return Fail(ErrorCode::kDatabaseUnavailable, "redis is not connected");
  }
  const std::size_t replies = transaction ? commands.size() + 2 : 1;
  if (stats_.in_flight + replies > options_.max_pending) {
    co_return Fail(ErrorCode::kDatabaseUnavailable, "too many pending redis commands");
  }
  const std::size_t buffered = sdslen(connection_->context->c.obuf);
  if (buffered > 0 && buffered + PayloadBytes(commands) > options_.max_buffered_bytes) {
    co_return Fail(ErrorCode::kDatabaseUnavailable, "redis write buffer is full");
  }
  const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  if (cancellation.cancelled() != asio::cancellation_type::none) {
    co_return Fail(ErrorCode::kDatabaseUnavailable, "redis command cancelled");
  }

  PendingCommand pending(executor_);
  auto slot = std::make_unique<CommandSlot>();
  slot->waiter = &pending;
  redisAsyncContext* context = connection_->context;
  if (!transaction) {
    if (!WriteCommand(context, &Connection::OnCommandReply, slot.get(), commands.front())) {
      co_return Fail(ErrorCode::kDatabaseUnavailable, "redis is not connected");
    }
  } else {
    // Written back to back without suspending: no other command can land in between.
    const std::vector<std::string> kMulti = {"MULTI"};
    const std::vector<std::string> kExec = {"EXEC"};
    if (!WriteCommand(context, &Connection::OnTransactionStep, slot.get(), kMulti)) {
      co_return Fail(ErrorCode::kDatabaseUnavailable, "redis is not connected");
    }
    bool written = true;
    for (const auto& args : commands) {
      written = written && WriteCommand(context, &Connection::OnTransactionStep, slot.get(), args);
    }
    written = written && WriteCommand(context, &Connection::OnCommandReply, slot.get(), kExec);
    if (!written) {
      // Callbacks holding the slot are registered: closing runs them now, while it is alive.
      slot->waiter = nullptr;
      CloseConnection("cannot write a redis transaction");
      co_return Fail(ErrorCode::kDatabaseUnavailable, "redis is not connected");
    }
  }
  pending.slot = slot.release();  // hiredis's callback owns it now
  stats_.in_flight += replies;

  const milliseconds limit = std::max(timeout.value_or(options_.command_timeout), milliseconds(1));
  pending.timer.expires_after(limit);
  const auto [ec] = co_await pending.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  // With a result the client may already be gone (destroyed after completing us): do not touch
  // `this` on that path.
  if (pending.result) co_return std::move(*pending.result);
  pending.slot->waiter = nullptr;  // drop the late reply
  pending.slot = nullptr;
  ++stats_.errors_total;
  if (!ec) {
    ++stats_.timeouts_total;
    co_return MakeError(ErrorCode::kDatabaseUnavailable,
                        "redis command timed out after " + std::to_string(limit.count()) + " ms");
  }
  co_return MakeError(ErrorCode::kDatabaseUnavailable, "redis command cancelled");
}

asio::awaitable<bool> RedisClient::WaitConnected(milliseconds timeout) {
  if (connected()) co_return true;
  if (state_ == State::kIdle || state_ == State::kStopped) co_return false;
  ReadyWaiter waiter(this, executor_, timeout);
  co_await waiter.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (waiter.client == nullptr) co_return false;  // the client is gone
  co_return connected();
}

Result<Reply> RedisClient::Fail(ErrorCode code, std::string message) {
  ++stats_.errors_total;
  return MakeError(code, std::move(message));
}

// ---- connection lifecycle ---------------------------------------------------------------------

void RedisClient::StartAttempt() {
  const std::uint64_t attempt = ++attempt_;
  state_ = State::kConnecting;
  const std::weak_ptr<char> alive = alive_;
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([this, alive, attempt](boost::system::error_code ec) {
    if (alive.expired() || ec) return;
    OnConnectTimeout(attempt);
  });

  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (!ec) {
    OpenContext(address.to_string());
    return;
  }
  // A name: resolve it without blocking the loop, every attempt (addresses move on failover).
  resolver_.async_resolve(
      options_.host, std::to_string(options_.port),
      [this, alive, attempt](boost::system::error_code rec,
                             const asio::ip::tcp::resolver::results_type& results) {
        if (alive.expired() || attempt != attempt_ || state_ != State::kConnecting) return;
        if (rec || results.empty()) {
          OnAttemptFailed("cannot resolve " + options_.host + ": " +
                          (rec ? rec.message() : std::string("no address")));
          return;
        }
        // IPv4 first ("localhost" → 127.0.0.1 before ::1); consecutive failures rotate.
        std::vector<asio::ip::address> addresses;
        for (const auto& entry : results) {
          if (entry.endpoint().address().is_v4()) addresses.push_back(entry.endpoint().address());
        }
        for (const auto& entry : results) {
          if (!entry.endpoint().address().is_v4()) addresses.push_back(entry.endpoint().address());
        }
        OpenContext(addresses[failures_in_a_row_ % addresses.size()].to_string());
      });
}

void RedisClient::OpenContext(const std::string& address) {
  // Non-blocking connect to a numeric address: no DNS, no waiting here.
  redisAsyncContext* context = redisAsyncConnect(address.c_str(), options_.port);
  if (context == nullptr) {
    OnAttemptFailed("cannot allocate a redis context");
    return;
  }
  if (context->err != 0) {
    const std::string reason = context->errstr != nullptr ? context->errstr : "connect failed";
    redisAsyncFree(context);
    OnAttemptFailed(reason);
    return;
  }
  auto connection = std::make_shared<Connection>(this, context, attempt_);
  boost::system::error_code ec;
  connection->socket.assign(context->c.fd, ec);
  if (ec) {
    connection->context = nullptr;
    redisAsyncFree(context);
    OnAttemptFailed("cannot watch the redis socket: " + ec.message());
    return;
  }
  context->data = connection.get();
  context->ev.data = connection.get();
  context->ev.addRead = &Connection::AddRead;
  context->ev.delRead = &Connection::DelRead;
  context->ev.addWrite = &Connection::AddWrite;
  context->ev.delWrite = &Connection::DelWrite;
  context->ev.cleanup = &Connection::Cleanup;
  connection_ = connection;
  redisAsyncSetConnectCallback(context, &Connection::OnConnect);

  // The handshake is pipelined behind the TCP connect; the PING proves the connection can run
  // commands (a server that wants a password we did not give answers NOAUTH).
  std::vector<std::pair<const char*, std::vector<std::string>>> steps;
  if (!options_.username.empty()) {
    steps.push_back({"AUTH", {"AUTH", options_.username, options_.password}});
  } else if (!options_.password.empty()) {
    steps.push_back({"AUTH", {"AUTH", options_.password}});
  }
  if (options_.db != 0) steps.push_back({"SELECT", {"SELECT", std::to_string(options_.db)}});
  steps.push_back({"PING", {"PING"}});
  connection->handshake_left = static_cast<int>(steps.size());
  for (auto& [step, args] : steps) {
    // privdata is the step's name: a string literal, nothing to free.
    if (!WriteCommand(context, &Connection::OnHandshakeReply, const_cast<char*>(step), args)) {
      CloseConnection("cannot write the redis handshake");
      return;
    }
  }
}

void RedisClient::OnConnectTimeout(std::uint64_t attempt) {
  if (attempt != attempt_ || state_ != State::kConnecting) return;
  const std::string reason =
      "connect timed out after " + std::to_string(options_.connect_timeout.count()) + " ms";
  if (connection_ && connection_->context != nullptr) {
    CloseConnection(reason);  // → Cleanup → OnConnectionClosed → OnAttemptFailed
  } else {
    resolver_.cancel();
    OnAttemptFailed(reason);
  }
}

void RedisClient::OnHandshakeDone(Connection& connection) {
  if (connection.attempt != attempt_ || state_ != State::kConnecting) return;
  connection.ready = true;
  connect_timer_.cancel();
  state_ = State::kConnected;
  stats_.connected = true;
  last_error_.clear();
  if (ever_connected_) {
    ++stats_.reconnects_total;
    const auto down = std::chrono::duration_cast<milliseconds>(
        std::chrono::steady_clock::now() - down_since_);
    spdlog::info("redis {}: reconnected to {} db {} after {} ms ({} failed attempts)",
                 options_.name, Endpoint(options_), options_.db, down.count(), failures_in_a_row_);
  } else {
    spdlog::info("redis {}: connected to {} db {}", options_.name, Endpoint(options_), options_.db);
  }
  ever_connected_ = true;
  failures_in_a_row_ = 0;
  NotifyReadyWaiters();
}

void RedisClient::OnConnectionClosed(Connection& connection, const std::string& reason) {
  if (connection_.get() == &connection) connection_.reset();
  if (!connection.ready) {
    if (state_ == State::kConnecting && connection.attempt == attempt_) OnAttemptFailed(reason);
    return;
  }
  stats_.connected = false;
  if (state_ == State::kStopped) return;
  last_error_ = reason;
  down_since_ = std::chrono::steady_clock::now();
  if (options_.dedicated) {
    lost_ = true;
    state_ = State::kStopped;
    spdlog::warn("redis {}: leased connection to {} lost ({})", options_.name, Endpoint(options_), reason);
    return;
  }
  failures_in_a_row_ = 0;
  spdlog::warn("redis {}: connection to {} lost ({}); reconnecting", options_.name,
               Endpoint(options_), reason);
  ScheduleReconnect();
}

void RedisClient::OnAttemptFailed(const std::string& reason) {
  if (state_ == State::kStopped) return;
  connect_timer_.cancel();
  ++stats_.connect_failures_total;
  ++failures_in_a_row_;
  // Warn when the reason is new (first failure, or it changed); repeats go to debug.
  if (reason != last_error_) {
    spdlog::warn("redis {}: cannot connect to {} db {}: {}; retrying with backoff", options_.name,
                 Endpoint(options_), options_.db, reason);
  } else {
    spdlog::debug("redis {}: connect attempt {} to {} failed: {}", options_.name,
                  failures_in_a_row_, Endpoint(options_), reason);
  }
  last_error_ = reason;
  ScheduleReconnect();
}

void RedisClient::ScheduleReconnect() {
  state_ = State::kBackoff;
  const std::uint64_t attempt = attempt_;
  const std::weak_ptr<char> alive = alive_;
  reconnect_timer_.expires_after(NextBackoff());
  reconnect_timer_.async_wait([this, alive, attempt](boost::system::error_code ec) {
    if (alive.expired() || ec) return;
    if (attempt != attempt_ || state_ != State::kBackoff) return;
    StartAttempt();
  });
}

std::chrono::milliseconds RedisClient::NextBackoff() {
  // min · 2^(failures-1), capped at max, then ±25 % jitter so a fleet does not reconnect in step.
  const unsigned exponent = std::min(failures_in_a_row_ == 0 ? 0U : failures_in_a_row_ - 1, 20U);
  const double base = std::min(static_cast<double>(options_.reconnect_min.count()) *
                                   static_cast<double>(1ULL << exponent),
                               static_cast<double>(options_.reconnect_max.count()));
  std::uniform_real_distribution<double> jitter(0.75, 1.25);
  const double delay = std::clamp(base * jitter(rng_),
                                  static_cast<double>(options_.reconnect_min.count()),
                                  static_cast<double>(options_.reconnect_max.count()));
  return milliseconds(static_cast<milliseconds::rep>(delay));
}

void RedisClient::CloseConnection(const std::string& reason) {
  const std::shared_ptr<Connection> connection = connection_;
  if (!connection || connection->context == nullptr) return;
  if (connection->close_reason.empty()) connection->close_reason = reason;
  // Runs every pending callback with NULL, then Cleanup; deferred by hiredis when called from
  // inside one of its reply callbacks.
  redisAsyncFree(connection->context);
}

void RedisClient::NotifyReadyWaiters() {
  for (ReadyWaiter* waiter : ready_waiters_) waiter->timer.cancel();
}

}  // namespace coredb::redis
