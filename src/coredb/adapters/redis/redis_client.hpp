// One multiplexed, self-reconnecting connection to Redis, driven by the service's event loop.
//
// hiredis's async context does the RESP work; this class maps its event hooks onto an Asio
// descriptor (hiredis owns the socket), bounds every wait and turns replies into
// coredb::Result values. Commands are pipelined on the one connection, in order. Everything
// runs on the executor's single thread: no locks, nothing blocks.
//
// Lifetime: destroy the client on its executor's thread and before its io_context. Commands and
// waits still suspended then complete with an error without touching the client again.
#pragma once

#include "coredb/adapters/redis/redis_reply.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace coredb::redis {

struct RedisOptions {
  std::string host = "127.0.0.1";  // an address or a name (resolved asynchronously each attempt)
  std::uint16_t port = 6379;
  std::string username;  // ACL user, optional
  std::string password;  // optional; never logged
  int db = 0;
  std::chrono::milliseconds connect_timeout{2000};  // TCP connect + AUTH/SELECT/PING handshake
  std::chrono::milliseconds command_timeout{1000};  // default for Command()
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{5000};
  std::size_t max_pending = 10000;  // bound on commands in flight (sent, reply not yet read)
  // Bound on bytes queued in hiredis's output buffer and not yet written to the socket (beyond
  // 1 MiB hiredis 0.14 grows that buffer 1 MiB at a time, so a huge backlog costs O(n²) copies).
  // A command that does not fit is refused, unless the buffer is empty.
  std::size_t max_buffered_bytes = 32 * 1024 * 1024;
  std::string name = "cache";  // for logs
  // A connection leased to one caller (RedisPool): MULTI/EXEC/DISCARD/WATCH/UNWATCH are allowed,
  // and once connected it never reconnects by itself (a new connection would silently lose the
  // lessee's MULTI or WATCH state): after a loss every command fails until it is discarded.
  bool dedicated = false;
};

// Plain counters (single-threaded). commands_total counts every Command()/Transaction() call;
// errors_total those that did not return a reply (any error, timeouts included);
// timeouts_total those that ran out of time.
struct RedisStats {
  bool connected = false;
  std::uint64_t reconnects_total = 0;        // successful connections after the first one
  std::uint64_t connect_failures_total = 0;  // attempts that did not end up connected
  std::uint64_t commands_total = 0;
  std::uint64_t errors_total = 0;
  std::uint64_t timeouts_total = 0;
  std::size_t in_flight = 0;  // sent and awaiting a reply, abandoned ones included
};

class RedisClient {
 public:
  RedisClient(boost::asio::any_io_executor executor, RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects in the background (AUTH, SELECT and a PING before it counts as connected), and
  // keeps reconnecting with exponential backoff and jitter until Stop(). Idempotent.
  void Start();
  // Closes the connection, fails the commands in flight with kDatabaseUnavailable and stops
  // reconnecting. Start() may be called again afterwards.
  void Stop();

  // Runs one command (argv form, binary-safe). Errors:
  //  kDatabaseUnavailable — not connected (never queued), too many pending commands or buffered
  //    bytes, no reply within `timeout` (default command_timeout; the late reply is dropped),
  //    connection lost with the command in flight, client stopped, or the awaiting coroutine
  //    was cancelled (asio terminal cancellation);
  //  kQueryError — Redis answered with an error reply (its message, e.g. "WRONGTYPE ...");
  //  kInvalidRequest — empty command, or a command that would change the shared connection's
  //    protocol state (SUBSCRIBE family, MONITOR, SELECT, AUTH, HELLO, MULTI/EXEC/WATCH, ...).
  // Blocking commands (BLPOP, XREAD BLOCK, WAIT...) hold up every command queued behind them
  // on the connection until Redis answers; callers should not send them with long timeouts.
  boost::asio::awaitable<Result<Reply>> Command(
      std::vector<std::string> args, std::optional<std::chrono::milliseconds> timeout = {});

  // MULTI, the commands, EXEC written back to back, so no other caller's command can land in
  // between. Returns EXEC's reply: an array with one reply per command (an error reply of a
  // failing command stays an element). If Redis refused to queue a command, the whole
  // transaction fails with kQueryError carrying that command's error.
  boost::asio::awaitable<Result<Reply>> Transaction(
      std::vector<std::vector<std::string>> commands,
      std::optional<std::chrono::milliseconds> timeout = {});

  // Waits until connected or `timeout` passes; returns connected().
  boost::asio::awaitable<bool> WaitConnected(std::chrono::milliseconds timeout);

  bool connected() const { return stats_.connected; }
  const RedisStats& stats() const { return stats_; }
  // Why the client is not connected (empty when connected or never started). No secrets.
  const std::string& last_error() const { return last_error_; }
  const RedisOptions& options() const { return options_; }

  // The reason `args` may not run on a shared connection (or, with `dedicated`, on a leased
  // one), or nullopt when it may.
  static std::optional<std::string> RejectReason(const std::vector<std::string>& args, bool dedicated = false);

  // A dedicated connection that was connected and lost it (it will not reconnect).
  bool lost() const { return lost_; }

 private:
  struct Connection;
  struct CommandSlot;
  struct PendingCommand;
  struct ReadyWaiter;
  enum class State { kIdle, kConnecting, kConnected, kBackoff, kStopped };

  void StartAttempt();
  void OpenContext(const std::string& address);
  void OnConnectTimeout(std::uint64_t attempt);
  void OnHandshakeDone(Connection& connection);
  void OnConnectionClosed(Connection& connection, const std::string& reason);
  void OnAttemptFailed(const std::string& reason);
  void ScheduleReconnect();
  void CloseConnection(const std::string& reason);
  void NotifyReadyWaiters();
  std::chrono::milliseconds NextBackoff();
  Result<Reply> Fail(ErrorCode code, std::string message);
  boost::asio::awaitable<Result<Reply>> Execute(const std::vector<std::vector<std::string>>& commands,
                                                bool transaction,
                                                std::optional<std::chrono::milliseconds> timeout);

  boost::asio::any_io_executor executor_;
  RedisOptions options_;
  State state_ = State::kIdle;
  std::shared_ptr<Connection> connection_;  // shared with the descriptor's pending waits
  boost::asio::steady_timer connect_timer_;
  boost::asio::steady_timer reconnect_timer_;
  boost::asio::ip::tcp::resolver resolver_;
  std::uint64_t attempt_ = 0;            // id of the current connection attempt
  unsigned failures_in_a_row_ = 0;       // drives the backoff; 0 once connected
  bool ever_connected_ = false;
  std::chrono::steady_clock::time_point down_since_{};
  std::vector<ReadyWaiter*> ready_waiters_;
  RedisStats stats_;
  std::string last_error_;
  bool lost_ = false;
  std::minstd_rand rng_;
  // Handlers of the client's own timers and resolver hold a weak reference: they may run
  // after the client is gone.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace coredb::redis
