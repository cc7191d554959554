// One PostgreSQL connection driven by the event loop: libpq in non-blocking mode, its socket
// watched by Asio, every wait bounded by a deadline. Statements are sent with the extended
// protocol (parameters apart from the text), in pipeline mode so that a statement_timeout change
// travels in the same round trip as the statement. The connection tracks what a lessee may have
// changed in its session (needs_reset) and whether an abandoned statement is still in flight
// (needs_drain), so that the pool can hand it to the next caller clean.
//
// Not thread-safe: use it on the loop thread only, one operation at a time.
#pragma once

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/statement_cache.hpp"
#include "coredb/core/error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <libpq-fe.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coredb::pg {

struct PgResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

struct ConnectionOptions {
  // A libpq URL or key=value string, exactly as configured. May hold a password: never logged.
  std::string conninfo;
  std::chrono::milliseconds connect_timeout{5000};
  // The session's statement_timeout (set at connect through `options`, so DISCARD ALL keeps it).
  std::chrono::milliseconds default_statement_timeout{30000};
  // Overrides an application_name in conninfo; when empty, conninfo's (or libpq's default) stays.
  std::string application_name = "coredb";
  // Named prepared statements kept per connection (StatementCache, LRU by SQL text); 0: every
  // statement is parsed and planned on each call (the unnamed statement).
  std::size_t prepared_statements = 256;
};

struct Statement {
  std::string_view sql;
  // Text-format parameters, types inferred by the server; nullopt is SQL NULL.
  std::span<const std::optional<std::string>> params;
  // statement_timeout for this statement, enforced by the server (and, with a grace period, by
  // a client-side cancel). Zero or negative means the connection's default.
  std::chrono::milliseconds timeout{30000};
};

// Receives, one at a time, the rows of the statements an exchange reads in single-row mode, so
// that libpq never holds a whole result (see Connection::Execute*).
class RowSink {
 public:
  // `row` is a PGRES_SINGLE_TUPLE result (one row, with its fields) of the exchange's statement
  // `index` (its position in the span the exchange was given); valid during the call only.
  // Returning false stops the reading: the connection requests a cancel of whatever the server is
  // running (once), rows that still arrive are shown to the sink but no longer kept by anyone,
  // and the exchange completes as usual (the statement's final result then says whether the
  // cancel stopped it; the caller decides the answer). The statement's final result carries its
  // fields and tag but no rows.
  virtual bool OnRow(std::size_t index, const PGresult* row) = 0;
  // Rows the sink holds that must reach their reader before more are read (streaming): the
  // connection awaits Flush, with the exchange's deadline, before it reads on (so PostgreSQL
  // waits on its socket meanwhile). A false Flush abandons the exchange like a cancelled caller.
  virtual bool WantsFlush() const { return false; }
  virtual boost::asio::awaitable<bool> Flush(std::chrono::steady_clock::time_point deadline) {
    (void)deadline;
    co_return true;
  }

 protected:
  ~RowSink() = default;
};

class Connection {
 public:
  // Opens a connection within options.connect_timeout. Failures are kDatabaseUnavailable with a
  // message that never contains the password. `cancel_worker` must outlive the connection.
  static boost::asio::awaitable<Result<std::unique_ptr<Connection>>> Open(boost::asio::any_io_executor executor,
                                                                          const ConnectionOptions& options,
                                                                          CancelWorker& cancel_worker);

  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement and returns its final result (PGRES_TUPLES_OK or PGRES_COMMAND_OK).
  // Errors: PostgreSQL's through MapPgError (57014 → kQueryTimeout naming the timeout); a lost
  // connection → kDatabaseUnavailable (and broken()). When the coroutine receives terminal
  // cancellation it sends a cancel request and returns at once; the statement is then drained
  // later (needs_drain(): by the pool, or by the next Execute/Reset/Drain on this connection).
  // One operation at a time: a call while another runs gets kConflict.
  // `statement` (its sql and params) must stay valid until the returned awaitable completes.
  // With `sink`, the statement's rows go to it as they arrive (single-row mode) and the returned
  // result has none (see RowSink).
  boost::asio::awaitable<Result<PgResultPtr>> Execute(const Statement& statement, RowSink* sink = nullptr);

  // Runs `statements` in one round trip (pipeline mode). `atomic`: one Sync after the last, so
  // they run as one implicit transaction (or inside the open transaction block) and a failure
  // skips the rest (their results are PGRES_PIPELINE_ABORTED) and undoes the earlier ones, unless
  // a transaction block is open (then it is left aborted, as PostgreSQL does). Not atomic: each
  // statement has its own Sync and its own implicit transaction. Returns one result per statement,
  // error results included (the caller maps them); a connection-level failure (lost, cancelled,
  // client-side deadline) is the Error. `timeout` is each statement's statement_timeout and, with
  // the same grace as Execute, the deadline of the whole exchange. Same rules as Execute otherwise.
  // `sink`: as for Execute, for every statement.
  boost::asio::awaitable<Result<std::vector<PgResultPtr>>> ExecuteBatch(std::span<const Statement> statements,
                                                                         bool atomic,
                                                                         std::chrono::milliseconds timeout,
                                                                         RowSink* sink = nullptr);

  // The general form of ExecuteBatch: each step says whether a Sync follows it (the last always
  // has one), so one round trip can hold several implicit transactions, e.g. a wrapped user
  // statement and then a DISCARD ALL. `internal` steps are the service's own (BEGIN READ ONLY,
  // a role switch, a check, COMMIT, DISCARD ALL): their command tags do not mark the session as
  // changed by the caller (needs_reset), which still follows from the transaction status and the
  // reported parameters afterwards.
  struct PipelineStep {
    std::string_view sql;
    std::span<const std::optional<std::string>> params;
    bool sync = false;
    bool internal = false;
  };
  // `sink`: as for Execute, for every step that is not `internal`.
  boost::asio::awaitable<Result<std::vector<PgResultPtr>>> ExecutePipeline(std::span<const PipelineStep> steps,
                                                                            std::chrono::milliseconds timeout,
                                                                            RowSink* sink = nullptr);

  // The parameter types PostgreSQL infers for `sql` (Parse and Describe of the unnamed statement,
  // one round trip, nothing executed), within `timeout`. A statement PostgreSQL rejects gives its
  // error. Used to send pgvector values in the text form their type expects.
  boost::asio::awaitable<Result<std::vector<Oid>>> DescribeParams(std::string_view sql,
                                                                  std::chrono::milliseconds timeout);

  // The API error for a statement's error result (PGRES_FATAL_ERROR, PGRES_PIPELINE_ABORTED,
  // PGRES_EMPTY_QUERY): MapPgError, with 57014 worded as a timeout of `timeout`.
  static Error StatementError(const PGresult* result, std::chrono::milliseconds timeout,
                              bool cancelled_for_timeout = false);

  // Consumes what an abandoned statement still sends, and waits for its cancel request to be
  // delivered, within `timeout`. On failure the connection is broken.
  boost::asio::awaitable<Result<void>> Drain(std::chrono::milliseconds timeout);

  // Back to the state right after connect: ROLLBACK if a transaction is open, then DISCARD ALL
  // (each with its own Sync), within `timeout`. On failure the connection is broken.
  boost::asio::awaitable<Result<void>> Reset(std::chrono::milliseconds timeout);

  // Unusable: must be discarded.
  bool broken() const { return broken_; }
  // A statement was abandoned (cancelled caller) and its results, or its cancel request, are
  // still in flight: Drain before reuse.
  bool needs_drain() const { return !broken_ && (pending_syncs_ > 0 || cancel_ticket_ != nullptr); }
  // The lessee changed session state (transaction, SET, temp objects, LISTEN, PREPARE, ...):
  // Reset before the connection serves anyone else.
  bool needs_reset() const { return needs_reset_; }
  // Forces a Reset before reuse, e.g. after a lease, whose statements may have changed session
  // state that no command tag or parameter status reveals (pg_advisory_lock(), set_config()
  // of an unreported setting).
  void MarkNeedsReset() { needs_reset_ = true; }
  // Who may have left state in this session that nothing reveals (a one-shot caller's
  // set_config(), advisory lock, temp table, LISTEN, ...): a client id, or empty when nobody.
  // The pool gives such a connection to that client as it is, and to anyone else only after a
  // Reset (which clears it).
  const std::string& session_owner() const { return session_owner_; }
  void SetSessionOwner(std::string_view owner) { session_owner_.assign(owner); }

  // The session's named prepared statements (hits, misses, evictions for the pool's stats).
  const StatementCache& statement_cache() const { return statements_; }

  PGTransactionStatusType transaction_status() const;
  int backend_pid() const { return backend_pid_; }
  std::chrono::steady_clock::time_point opened_at() const { return opened_at_; }
  // The statement_timeout the server runs with now, when known.
  std::optional<std::chrono::milliseconds> server_statement_timeout() const { return current_timeout_; }

  // Cheap check for an idle connection (no I/O wait): false when libpq reports a bad status or
  // the socket is readable (an idle connection receives nothing unless the server closed it or
  // sent an error, e.g. after a restart or pg_terminate_backend).
  bool LooksHealthyWhileIdle() const;

 private:
  enum class PumpOutcome { kDone, kTimeout, kCancelled, kBroken };
  enum class Ready { kRead, kWrite, kTimeout, kCancelled, kError };
  // kQuery: Parse/Bind/Execute of the unnamed statement; kPrepareNamed + kQueryNamed: Parse of a
  // named statement (once per session, StatementCache), then Bind/Execute of it.
  enum class CommandKind { kQuery, kPrepareUnnamed, kDescribeUnnamed, kPrepareNamed, kQueryNamed };
  struct Command {
    std::string_view sql;
    std::span<const std::optional<std::string>> params;
    bool sync = true;  // a Sync follows (ends the implicit transaction); the last command always has one
    CommandKind kind = CommandKind::kQuery;
    bool internal = false;  // see PipelineStep
    bool stream = false;    // rows go to the exchange's RowSink (single-row mode)
    std::string_view name{};  // kPrepareNamed, kQueryNamed
  };


  Connection(boost::asio::any_io_executor executor, PGconn* conn, CancelWorker& cancel_worker);

  boost::asio::awaitable<Result<void>> Connect(std::chrono::steady_clock::time_point deadline,
                                               std::chrono::milliseconds connect_timeout, std::string_view password);
  // The common path of Execute and ExecuteBatch: checks, settles an abandoned statement, sets
  // statement_timeout when it changes, sends, reads, and returns one result per command of
  // `commands` (error results included).
  // `sink` receives the rows of the commands marked `stream`, with their index in `commands`.
  boost::asio::awaitable<Result<std::vector<PgResultPtr>>> Exchange(std::span<const Command> commands,
                                                                    std::chrono::milliseconds timeout,
                                                                    bool& cancelled_for_timeout,
                                                                    RowSink* sink = nullptr);
  // One attempt of Exchange (after its checks): sets `retry` when a named statement's cached plan
  // changed result type (ALTER TABLE) and nothing of the attempt took effect, so that it may run
  // again with a fresh Parse.
  boost::asio::awaitable<Result<std::vector<PgResultPtr>>> ExchangeOnce(std::span<const Command> commands,
                                                                        std::chrono::milliseconds timeout,
                                                                        std::chrono::steady_clock::time_point start,
                                                                        bool& cancelled_for_timeout, RowSink* sink,
                                                                        bool* retry);
  // Sends the commands (each followed by a Sync when it asks for one), in pipeline mode
  // (nothing is awaited).
  Result<void> SendPipeline(std::span<const Command> commands);
  // Flushes and reads until every Sync sent has been answered, or the deadline passes.
  // just_sent: called right after SendPipeline (waits for the answer before the first read).
  boost::asio::awaitable<PumpOutcome> Pump(std::chrono::steady_clock::time_point deadline, bool just_sent = false);
  PumpOutcome NotReady(Ready ready);  // a wait that ended without readiness, as Pump's outcome
  boost::asio::awaitable<Ready> WaitSocket(bool want_read, bool want_write,
                                          std::chrono::steady_clock::time_point deadline);
  // Drains and settles a pending cancel before a new command; false when the connection broke.
  boost::asio::awaitable<bool> SettleBeforeUse(std::chrono::steady_clock::time_point deadline);
  boost::asio::awaitable<bool> WaitForCancelTicket(std::chrono::steady_clock::time_point deadline);
  void RequestCancel();
  // Single-row mode for the command whose results come next, when it streams: libpq allows it
  // only before that command's first message is parsed, i.e. right after sending and right after
  // the previous command's end (its NULL, or a Sync's result).
  void ArmSingleRow();
  // A PGRES_SINGLE_TUPLE result of the current command: to the sink, or dropped.
  void TakeRow(const PGresult* row);
  void MarkBroken(Error error);
  void FinishExchange();  // after the last Sync: leave pipeline mode, clear per-exchange state
  void NoteStatementEffects(const PGresult* result, bool internal);
  void SnapshotParameters();
  bool ParametersChanged() const;

  boost::asio::any_io_executor executor_;
  PGconn* conn_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer timer_;
  CancelWorker& cancel_worker_;

  int backend_pid_ = 0;
  std::chrono::steady_clock::time_point opened_at_;
  std::chrono::milliseconds default_timeout_{30000};
  std::optional<std::chrono::milliseconds> current_timeout_;  // nullopt: unknown, set it next time
  bool timeout_set_in_transaction_ = false;                   // may be rolled back with it
  bool broken_ = false;
  bool needs_reset_ = false;
  std::string session_owner_;
  bool in_operation_ = false;  // an Execute/Drain/Reset is running
  std::optional<Error> broken_error_;

  // The exchange in flight: Syncs not yet answered, and the result of each command.
  int pending_syncs_ = 0;
  std::size_t command_ = 0;            // the command whose results are being read
  bool command_has_result_ = false;    // ... and it has sent at least one
  std::vector<PgResultPtr> command_results_;
  std::shared_ptr<CancelTicket> cancel_ticket_;  // a cancel request not yet delivered
  // Row by row reading (RowSink): which commands stream, the sink while its exchange runs (null
  // once the caller is gone: rows still arriving are dropped), where the caller's commands start
  // (set_config of the timeout may come first).
  std::vector<bool> stream_;
  bool armed_ = false;  // single-row mode is set for command_
  RowSink* sink_ = nullptr;
  std::vector<std::ptrdiff_t> sink_index_;  // per command sent: the caller's command index, or -1
  std::size_t rows_taken_ = 0;              // rows shown to the sink in this exchange

  StatementCache statements_{0};

  static constexpr std::size_t kTrackedParameterCount = 10;
  std::array<std::string, kTrackedParameterCount> initial_parameters_;
};

}  // namespace coredb::pg
