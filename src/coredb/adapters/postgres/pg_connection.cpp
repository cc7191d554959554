#include "coredb/adapters/postgres/pg_connection.hpp"

#include "coredb/adapters/postgres/sqlstate.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <poll.h>

#include <algorithm>
#include <string>
#include <utility>

namespace coredb::pg {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

namespace {

// The error for a connection lost in the middle of an exchange: the report the server sent
// before closing when there is one for the command being read (FATAL 57P01 shutdown, 25P03 idle
// timeout, ...: its SQLSTATE says why, and whether the breaker should count it), else libpq's
// message. Either way the session is gone: kDatabaseUnavailable.
Error LostConnectionError(const PGresult* last, PGconn* conn) {
  if (last != nullptr && PQresultStatus(last) == PGRES_FATAL_ERROR && PQresultErrorField(last, PG_DIAG_SQLSTATE)) {
    Error error = MapPgError(last);
    error.code = ErrorCode::kDatabaseUnavailable;
    error.pg->session_ended = true;  // whatever its severity said, the session is gone
    return error;
  }
  return MapConnectionError("lost the connection to PostgreSQL", PQerrorMessage(conn));
}

// The report that explains a connection lost while reading command `current`: that command's
// error, or a FATAL report of an earlier one (libpq closes a command's results at the report and
// moves on before it sees the socket close). nullptr when there is none.
const PGresult* ReportBeforeLoss(const std::vector<PgResultPtr>& results, std::size_t current) {
  if (current < results.size() && results[current] && PQresultStatus(results[current].get()) == PGRES_FATAL_ERROR) {
    return results[current].get();
  }
  for (std::size_t k = std::min(current, results.size()); k-- > 0;) {
    const PGresult* r = results[k].get();
    if (r != nullptr && PQresultStatus(r) == PGRES_FATAL_ERROR && EndsSession(r)) return r;
  }
  return nullptr;
}

// Client-side backup for the server's statement_timeout: cancel after timeout + kCancelGrace,
// then give up on the connection if nothing came kAnswerGrace after the cancel.
constexpr std::chrono::milliseconds kCancelGrace{1000};
constexpr std::chrono::milliseconds kAnswerGrace{2000};
// While draining an abandoned statement, repeat the cancel request this often.
constexpr std::chrono::milliseconds kCancelRetry{1000};
constexpr int kMaxParams = 65535;

constexpr const char* kSetTimeoutSql = "SELECT pg_catalog.set_config('statement_timeout', $1, false)";

// ParameterStatus values reported by the server whose change means the session was altered.
constexpr std::array<const char*, 10> kTrackedParameters = {
    "TimeZone",          "DateStyle",           "IntervalStyle",
    "client_encoding",   "session_authorization", "is_superuser",
    "standard_conforming_strings", "default_transaction_read_only", "integer_datetimes",
    "application_name"};

void IgnoreNotice(void*, const char*) {}

// GCC 12 miscompiles co_await inside conditions and short-circuit operands: every co_await in
// this file is a statement of its own, and cancellation is read from a cancellation_state handle.
bool IsCancelled(const asio::cancellation_state& cs) { return cs.cancelled() != asio::cancellation_type::none; }

// One operation at a time per connection: a second one (a lessee sending two requests at once)
// is refused rather than interleaved.
struct OperationGuard {
  explicit OperationGuard(bool& flag) : flag_(flag) { flag_ = true; }
  ~OperationGuard() { flag_ = false; }
  OperationGuard(const OperationGuard&) = delete;
  OperationGuard& operator=(const OperationGuard&) = delete;
  bool& flag_;
};

Error BusyError() { return Error(ErrorCode::kConflict, "the connection is already running a statement"); }

std::string_view CommandVerb(const PGresult* result) {
  std::string_view tag = PQcmdStatus(const_cast<PGresult*>(result));
  return tag.substr(0, tag.find(' '));
}

// Statements whose tag shows they cannot have changed session state by themselves (a SELECT may
// still call a function that does: see Connection::MarkNeedsReset).
bool IsStatelessVerb(std::string_view verb) {
  return verb == "SELECT" || verb == "INSERT" || verb == "UPDATE" || verb == "DELETE" || verb == "MERGE" ||
         verb == "SHOW" || verb == "EXPLAIN";
}

std::vector<std::string> SplitCommas(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = s.find(',', start);
    out.emplace_back(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string JoinCommas(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += ',';
    out += parts[i];
  }
  return out;
}

// The conninfo as keyword/value pairs, with the service's session settings merged in.
struct ConnectParameters {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string password;  // to cut out of error messages

  std::string* Find(std::string_view key) {
    for (auto& [k, v] : pairs) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  void Set(std::string key, std::string value) {
    if (auto* v = Find(key)) {
      *v = std::move(value);
    } else {
      pairs.emplace_back(std::move(key), std::move(value));
    }
  }
};

Result<ConnectParameters> BuildParameters(const ConnectionOptions& options) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options.conninfo.c_str(), &err);
  if (parsed == nullptr) {
    std::string detail = err ? err : "out of memory";
    if (err) PQfreemem(err);
    return MapConnectionError("invalid PostgreSQL connection string", detail);
  }
  ConnectParameters params;
  for (PQconninfoOption* o = parsed; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    params.pairs.emplace_back(o->keyword, o->val);
    if (std::string_view(o->keyword) == "password") params.password = o->val;
  }
  PQconninfoFree(parsed);

  if (!options.application_name.empty()) params.Set("application_name", options.application_name);
  // A server that vanishes (host down, network cut) is noticed by the kernel within ~25 s instead
  // of the TCP default of hours, on this connection and on its cancel requests (PQcancel copies
  // these settings into the PGcancel). The connection string's own values win.
  for (const auto& [key, value] : {std::pair{"keepalives", "1"}, std::pair{"keepalives_idle", "10"},
                                   std::pair{"keepalives_interval", "5"}, std::pair{"keepalives_count", "3"},
                                   std::pair{"tcp_user_timeout", "10000"}}) {
    if (params.Find(key) == nullptr) params.Set(key, value);
  }
  params.Set("client_encoding", "UTF8");
  // Startup-packet settings become the session's RESET values: DISCARD ALL keeps them.
  std::string session = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1 "
                        "-c bytea_output=hex -c statement_timeout=" +
                        std::to_string(options.default_statement_timeout.count()) +
                        // The server checks every 2 s that we are still there while a statement runs.
                        " -c client_connection_check_interval=2000";
  if (auto* user_options = params.Find("options"); user_options && !user_options->empty()) {
    params.Set("options", *user_options + " " + session);
  } else {
    params.Set("options", std::move(session));
  }
  return params;
}

bool IsNumericOrSocketHost(const std::string& host) {
  if (host.empty() || host.front() == '/' || host.front() == '@') return true;
  boost::system::error_code ec;
  (void)asio::ip::make_address(host, ec);
  return !ec;
}

// libpq resolves host names with a blocking getaddrinfo() inside PQconnectStartParams. Resolve
// them here instead (Asio's resolver runs it off the loop) and pass the addresses as `hostaddr`,
// keeping `host` for TLS verification and .pgpass. A name with several addresses becomes several
// host entries, tried in order as libpq would.
awaitable<Result<void>> ResolveHosts(ConnectParameters& params, Clock::time_point deadline) {
  const std::string* host = params.Find("host");
  if (host == nullptr || params.Find("hostaddr") != nullptr) co_return Result<void>{};
  const std::vector<std::string> hosts = SplitCommas(*host);
  if (std::all_of(hosts.begin(), hosts.end(), IsNumericOrSocketHost)) co_return Result<void>{};

  std::vector<std::string> ports;
  if (const std::string* port = params.Find("port")) ports = SplitCommas(*port);
  const bool port_per_host = ports.size() > 1 && ports.size() == hosts.size();

  auto executor = co_await asio::this_coro::executor;
  std::vector<std::string> out_hosts, out_addrs, out_ports;
  std::string last_error;
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const std::string port = port_per_host ? ports[i] : std::string();
    if (IsNumericOrSocketHost(hosts[i])) {
      out_hosts.push_back(hosts[i]);
      out_addrs.emplace_back();
      out_ports.push_back(port);
      continue;
    }
    // getaddrinfo() cannot be interrupted: the lookup owns its state, and we stop waiting for it
    // at the deadline (it finishes on Asio's resolver thread and is then dropped).
    struct Lookup {
      explicit Lookup(const asio::any_io_executor& ex) : resolver(ex), wake(ex) {}
      asio::ip::tcp::resolver resolver;
      asio::steady_timer wake;
      bool done = false;
      boost::system::error_code ec;
      asio::ip::tcp::resolver::results_type endpoints;
    };
    auto lookup = std::make_shared<Lookup>(executor);
    lookup->wake.expires_at(deadline);
    lookup->resolver.async_resolve(hosts[i], "", [lookup](boost::system::error_code ec,
                                                          asio::ip::tcp::resolver::results_type endpoints) {
      lookup->done = true;
      lookup->ec = ec;
      lookup->endpoints = std::move(endpoints);
      lookup->wake.cancel();
    });
    auto [wake_ec] = co_await lookup->wake.async_wait(asio::as_tuple(use_awaitable));
    (void)wake_ec;
    if (!lookup->done) {
      lookup->resolver.cancel();
      co_return Error(ErrorCode::kDatabaseUnavailable, "could not resolve the PostgreSQL host name in time");
    }
    const auto ec = lookup->ec;
    const auto endpoints = lookup->endpoints;
    if (ec) {
      last_error = ec.message();
      continue;  // libpq would also move on to the next host
    }
    std::vector<std::string> seen;
    for (const auto& entry : endpoints) {
      std::string addr = entry.endpoint().address().to_string();
      if (std::find(seen.begin(), seen.end(), addr) != seen.end()) continue;
      seen.push_back(addr);
      out_hosts.push_back(hosts[i]);
      out_addrs.push_back(std::move(addr));
      out_ports.push_back(port);
    }
  }
  if (out_hosts.empty()) {
    co_return Error(ErrorCode::kDatabaseUnavailable,
                    "could not resolve the PostgreSQL host name" + (last_error.empty() ? "" : ": " + last_error));
  }
  params.Set("host", JoinCommas(out_hosts));
  params.Set("hostaddr", JoinCommas(out_addrs));
  if (port_per_host) params.Set("port", JoinCommas(out_ports));
  co_return Result<void>{};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// open / close

Connection::Connection(asio::any_io_executor executor, PGconn* conn, CancelWorker& cancel_worker)
    : executor_(executor), conn_(conn), socket_(executor), timer_(executor), cancel_worker_(cancel_worker) {}

Connection::~Connection() {
  // libpq owns the socket: take it back from Asio (deregisters it, closes nothing) first.
  if (socket_.is_open()) socket_.release();
  PQfinish(conn_);  // non-blocking socket: the Terminate message is best effort
}

awaitable<Result<std::unique_ptr<Connection>>> Connection::Open(asio::any_io_executor executor,
                                                                const ConnectionOptions& options,
                                                                CancelWorker& cancel_worker) {
  const auto deadline = Clock::now() + options.connect_timeout;
  auto params = BuildParameters(options);
  if (!params) co_return params.error();
  auto resolved = co_await ResolveHosts(*params, deadline);
  if (!resolved) co_return resolved.error();

  std::vector<const char*> keywords, values;
  for (const auto& [k, v] : params->pairs) {
    keywords.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* raw = PQconnectStartParams(keywords.data(), values.data(), 0);
  if (raw == nullptr) co_return Error(ErrorCode::kDatabaseUnavailable, "could not connect to PostgreSQL: out of memory");
  std::unique_ptr<Connection> connection(new Connection(executor, raw, cancel_worker));
  connection->default_timeout_ = options.default_statement_timeout;
  connection->statements_ = StatementCache(options.prepared_statements);
  if (PQstatus(raw) == CONNECTION_BAD) {
    co_return MapConnectionError("could not connect to PostgreSQL", PQerrorMessage(raw), params->password);
  }
  auto connected = co_await connection->Connect(deadline, options.connect_timeout, params->password);
  if (!connected) co_return connected.error();
  co_return connection;
}

awaitable<Result<void>> Connection::Connect(Clock::time_point deadline, std::chrono::milliseconds connect_timeout,
                                            std::string_view password) {
  // As if PQconnectPoll had returned PGRES_POLLING_WRITING (libpq's documented start).
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  for (;;) {
    if (status == PGRES_POLLING_OK) break;
    if (status == PGRES_POLLING_FAILED) {
      co_return MapConnectionError("could not connect to PostgreSQL", PQerrorMessage(conn_), password);
    }
    // libpq may switch sockets while connecting (next address, SSL/GSS retry): register the
    // current one each round; re-registering also re-arms the edge-triggered readiness.
    const int fd = PQsocket(conn_);
    if (fd < 0) co_return MapConnectionError("could not connect to PostgreSQL", PQerrorMessage(conn_), password);
    if (socket_.is_open()) socket_.release();
    boost::system::error_code ec;
    socket_.assign(fd, ec);
    if (ec) co_return Error(ErrorCode::kDatabaseUnavailable, "could not watch the PostgreSQL socket: " + ec.message());

    const Ready ready = co_await WaitSocket(status != PGRES_POLLING_WRITING, status == PGRES_POLLING_WRITING, deadline);
    if (ready == Ready::kTimeout) {
      co_return Error(ErrorCode::kDatabaseUnavailable,
                      "could not connect to PostgreSQL within " + std::to_string(connect_timeout.count()) +
                          " ms");
    }
    if (ready == Ready::kCancelled) co_return Error(ErrorCode::kDatabaseUnavailable, "connecting was cancelled");
    if (ready == Ready::kError) co_return Error(ErrorCode::kDatabaseUnavailable, "could not connect to PostgreSQL");
    status = PQconnectPoll(conn_);
  }

  if (PQsetnonblocking(conn_, 1) != 0) {
    co_return MapConnectionError("could not set the PostgreSQL connection non-blocking", PQerrorMessage(conn_),
                                 password);
  }
  PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);  // libpq's default prints to stderr
  if (socket_.native_handle() != PQsocket(conn_)) {
    if (socket_.is_open()) socket_.release();
    boost::system::error_code ec;
    socket_.assign(PQsocket(conn_), ec);
    if (ec) co_return Error(ErrorCode::kDatabaseUnavailable, "could not watch the PostgreSQL socket: " + ec.message());
  }
  backend_pid_ = PQbackendPID(conn_);
  opened_at_ = Clock::now();
  current_timeout_ = default_timeout_;
  SnapshotParameters();
  co_return Result<void>{};
}

// ---------------------------------------------------------------------------------------------
// waiting

awaitable<Connection::Ready> Connection::WaitSocket(bool want_read, bool want_write, Clock::time_point deadline) {
  using asio::experimental::make_parallel_group;
  using asio::experimental::wait_for_one;
  using Wait = asio::posix::descriptor_base::wait_type;
  // A coroutine that has been cancelled throws on its next co_await: look first.
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (IsCancelled(cs)) co_return Ready::kCancelled;
  if (Clock::now() >= deadline) co_return Ready::kTimeout;
  timer_.expires_at(deadline);
  if (want_read && want_write) {
    auto [order, read_ec, write_ec, t_ec] =
        co_await make_parallel_group(socket_.async_wait(Wait::wait_read, asio::deferred),
                                     socket_.async_wait(Wait::wait_write, asio::deferred),
                                     timer_.async_wait(asio::deferred))
            .async_wait(wait_for_one(), use_awaitable);
    if (IsCancelled(cs)) co_return Ready::kCancelled;
    switch (order[0]) {
      case 0: co_return read_ec ? Ready::kError : Ready::kRead;
      case 1: co_return write_ec ? Ready::kError : Ready::kWrite;
      default: co_return t_ec ? Ready::kCancelled : Ready::kTimeout;
    }
  }
  const Wait wait = want_write ? Wait::wait_write : Wait::wait_read;
  auto [order, s_ec, t_ec] =
      co_await make_parallel_group(socket_.async_wait(wait, asio::deferred), timer_.async_wait(asio::deferred))
          .async_wait(wait_for_one(), use_awaitable);
  if (IsCancelled(cs)) co_return Ready::kCancelled;
  if (order[0] == 1) co_return t_ec ? Ready::kCancelled : Ready::kTimeout;
  if (s_ec) co_return Ready::kError;
  co_return want_write ? Ready::kWrite : Ready::kRead;
}

awaitable<bool> Connection::WaitForCancelTicket(Clock::time_point deadline) {
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  while (cancel_ticket_ && !cancel_ticket_->done()) {
    if (Clock::now() >= deadline || IsCancelled(cs)) co_return false;
    // Keep the ticket alive across the wait even if the connection drops it meanwhile.
    const std::shared_ptr<CancelTicket> ticket = cancel_ticket_;
    ticket->signal().expires_at(deadline);
    auto [ec] = co_await ticket->signal().async_wait(asio::as_tuple(use_awaitable));
    (void)ec;  // woken by completion (operation_aborted) or by the deadline: the loop decides
  }
  cancel_ticket_.reset();
  co_return true;
}

void Connection::RequestCancel() {
  if (cancel_ticket_ || broken_) return;
  cancel_ticket_ = cancel_worker_.Submit(executor_, PgCancelPtr(PQgetCancel(conn_)), backend_pid_);
}

void Connection::MarkBroken(Error error) {
  if (!broken_) {
    broken_ = true;
    broken_error_ = std::move(error);
  }
}

// ---------------------------------------------------------------------------------------------
// the exchange: commands + Syncs in pipeline mode, then results until every Sync is answered

Result<void> Connection::SendPipeline(std::span<const Command> commands) {
  if (PQenterPipelineMode(conn_) != 1) {
    Error error = MapConnectionError("PostgreSQL connection is not ready", PQerrorMessage(conn_));
    MarkBroken(error);
    return error;
  }
  command_ = 0;
  command_has_result_ = false;
  command_results_.clear();
  command_results_.resize(commands.size());
  stream_.assign(commands.size(), false);
  armed_ = false;
  std::string sql;
  std::string name;
  std::vector<const char*> values;
  for (const Command& command : commands) {
    values.clear();
    for (const auto& p : command.params) values.push_back(p ? p->c_str() : nullptr);
    const bool last = &command == &commands.back();
    int sent = 0;
    switch (command.kind) {
      case CommandKind::kQuery:
        sql.assign(command.sql);
        sent = PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
        break;
      case CommandKind::kPrepareUnnamed:
        sql.assign(command.sql);
        sent = PQsendPrepare(conn_, "", sql.c_str(), 0, nullptr);
        break;
      case CommandKind::kDescribeUnnamed:
        sent = PQsendDescribePrepared(conn_, "");
        break;
      case CommandKind::kPrepareNamed:
        sql.assign(command.sql);
        name.assign(command.name);
        sent = PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr);
        break;
      case CommandKind::kQueryNamed:
        name.assign(command.name);
        sent = PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                                   values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
        break;
    }
    const bool queued = sent == 1 && ((!command.sync && !last) || PQpipelineSync(conn_) == 1);
    if (!queued) {
      // Part of the pipeline may be queued already: the connection's state is unknown.
      Error error = MapConnectionError("could not send the statement to PostgreSQL", PQerrorMessage(conn_));
      MarkBroken(error);
      return error;
    }
    if (command.sync || last) ++pending_syncs_;
    stream_[static_cast<std::size_t>(&command - commands.data())] = command.stream;
  }
  ArmSingleRow();
  return Result<void>{};
}

void Connection::ArmSingleRow() {
  if (armed_ || command_has_result_ || command_ >= stream_.size() || !stream_[command_]) return;
  // Refused (0) while a Sync is at the head of libpq's queue: tried again after its result.
  armed_ = PQsetSingleRowMode(conn_) == 1;
}

void Connection::TakeRow(const PGresult* row) {
  if (sink_ == nullptr || command_ >= sink_index_.size() || sink_index_[command_] < 0) return;
  ++rows_taken_;
  // After a refusal the sink still sees each row (to know which statements lost theirs). Stop the
  // statement on the server (RequestCancel sends one request per exchange: the ticket it keeps is
  // only dropped once the exchange is over); what it still sends is read and dropped.
  if (!sink_->OnRow(static_cast<std::size_t>(sink_index_[command_]), row)) RequestCancel();
}

awaitable<Connection::PumpOutcome> Connection::Pump(Clock::time_point deadline, bool just_sent) {
  while (pending_syncs_ > 0) {
    const int flush = PQflush(conn_);
    if (just_sent && flush == 0) {
      // The whole pipeline has just gone out: a recv now would usually fail with EAGAIN (a
      // wasted system call per exchange). Wait for the socket first: Asio starts this wait with
      // an epoll_ctl(MOD) that re-arms the descriptor, so an answer already there is reported.
      just_sent = false;
      const Ready ready = co_await WaitSocket(true, false, deadline);
      if (ready != Ready::kRead) co_return NotReady(ready);
      continue;
    }
    just_sent = false;
    if (flush < 0 || PQconsumeInput(conn_) != 1) {
      // The server may have sent why (a FATAL report) before closing: read in an earlier round.
      MarkBroken(LostConnectionError(ReportBeforeLoss(command_results_, command_), conn_));
      co_return PumpOutcome::kBroken;
    }
    bool previous_was_null = false;
    bool stalled = false;
    while (pending_syncs_ > 0 && PQisBusy(conn_) == 0) {
      PgResultPtr result(PQgetResult(conn_));
      if (!result) {
        // One NULL ends each command's results; two in a row without libpq being busy means
        // it expects nothing more, although Syncs are unanswered.
        if (previous_was_null) {
          stalled = true;
          break;
        }
        previous_was_null = true;
        if (command_has_result_) {
          ++command_;
          command_has_result_ = false;
          armed_ = false;
          ArmSingleRow();
        }
        continue;
      }
      previous_was_null = false;
      const ExecStatusType status = PQresultStatus(result.get());
      if (status == PGRES_PIPELINE_SYNC) {
        --pending_syncs_;
        ArmSingleRow();
        continue;
      }
      command_has_result_ = true;
      if (status == PGRES_SINGLE_TUPLE) {
        TakeRow(result.get());
        if (sink_ != nullptr && sink_->WantsFlush()) {
          result.reset();
          RowSink* const sink = sink_;
          const bool flushed = co_await sink->Flush(deadline);
          if (!flushed) {
            // The reader is gone or too slow: abandoned, as when the caller is cancelled.
            sink_ = nullptr;
            co_return PumpOutcome::kCancelled;
          }
        }
        continue;
      }
      if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT || status == PGRES_COPY_BOTH) {
        MarkBroken(Error(ErrorCode::kQueryError, "COPY ... FROM STDIN / TO STDOUT is not supported"));
        co_return PumpOutcome::kBroken;
      }
      if (command_ < command_results_.size()) {
        auto& slot = command_results_[command_];
        // Keep a command's first error; otherwise its last result.
        if (!slot || PQresultStatus(slot.get()) != PGRES_FATAL_ERROR) slot = std::move(result);
      }
    }
    if (pending_syncs_ == 0) break;
    if (PQstatus(conn_) == CONNECTION_BAD || stalled) {
      // The server went away mid-exchange (often after sending a FATAL error, e.g. 57P01).
      MarkBroken(LostConnectionError(ReportBeforeLoss(command_results_, command_), conn_));
      co_return PumpOutcome::kBroken;
    }
    const Ready ready = co_await WaitSocket(true, flush == 1, deadline);
    if (ready != Ready::kRead && ready != Ready::kWrite) co_return NotReady(ready);
  }
  co_return PumpOutcome::kDone;
}

Connection::PumpOutcome Connection::NotReady(Ready ready) {
  switch (ready) {
    case Ready::kTimeout: return PumpOutcome::kTimeout;
    case Ready::kCancelled: return PumpOutcome::kCancelled;
    default:
      MarkBroken(Error(ErrorCode::kDatabaseUnavailable, "lost the connection to PostgreSQL (socket error)"));
      return PumpOutcome::kBroken;
  }
}

void Connection::FinishExchange() {
  if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF && PQexitPipelineMode(conn_) != 1) {
    MarkBroken(MapConnectionError("PostgreSQL connection left in an unexpected state", PQerrorMessage(conn_)));
  }
  while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);  // LISTEN payloads are not delivered anywhere
  command_results_.clear();
  command_ = 0;
  command_has_result_ = false;
  stream_.clear();
  armed_ = false;
}

awaitable<bool> Connection::SettleBeforeUse(Clock::time_point deadline) {
  if (pending_syncs_ > 0) {
    PumpOutcome outcome = PumpOutcome::kTimeout;
    for (;;) {
      // A cancel request that reached the backend between two commands (e.g. during set_config)
      // is ignored by it: when the statement keeps running, send another.
      const auto round = std::min(deadline, Clock::now() + kCancelRetry);
      outcome = co_await Pump(round);
      if (outcome != PumpOutcome::kTimeout || Clock::now() >= deadline) break;
      if (cancel_ticket_ && cancel_ticket_->done()) cancel_ticket_.reset();
      RequestCancel();
    }
    if (outcome == PumpOutcome::kCancelled) co_return false;
    if (outcome == PumpOutcome::kTimeout) {
      MarkBroken(Error(ErrorCode::kDatabaseUnavailable, "an abandoned statement did not finish in time"));
    }
    if (outcome != PumpOutcome::kDone) co_return false;
    FinishExchange();
    // Whatever the abandoned statement did (it may have completed) is unknown.
    needs_reset_ = true;
    current_timeout_.reset();
  }
  if (cancel_ticket_) {
    // A cancel request still travelling could hit the next statement: let it land first.
    const bool landed = co_await WaitForCancelTicket(deadline);
    if (!landed) {
      const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
      if (!IsCancelled(cs)) {
        MarkBroken(Error(ErrorCode::kDatabaseUnavailable, "a cancel request to PostgreSQL did not complete in time"));
      }
      co_return false;
    }
  }
  co_return !broken_;
}

// ---------------------------------------------------------------------------------------------
// public operations

awaitable<Result<std::vector<PgResultPtr>>> Connection::Exchange(std::span<const Command> user_commands,
                                                                std::chrono::milliseconds timeout,
                                                                bool& cancelled_for_timeout, RowSink* sink) {
  timeout = timeout.count() > 0 ? timeout : default_timeout_;
  const auto start = Clock::now();
  if (broken_) co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "connection is broken"));
  if (in_operation_) co_return BusyError();
  const OperationGuard guard(in_operation_);
  // The sink lives in the caller's frame: it is forgotten whenever this returns (or is destroyed
  // with a cancelled caller), and rows of an abandoned exchange are dropped while it drains.
  struct SinkGuard {
    RowSink*& sink;
    ~SinkGuard() { sink = nullptr; }
  } const sink_guard{sink_};
  for (const Command& command : user_commands) {
    if (command.params.size() > static_cast<std::size_t>(kMaxParams)) {
      co_return Error(ErrorCode::kInvalidRequest, "too many parameters (at most 65535)");
    }
    if (command.sql.find('\0') != std::string_view::npos) {
      co_return Error(ErrorCode::kInvalidRequest, "the statement contains a NUL character");
    }
    for (std::size_t i = 0; i < command.params.size(); ++i) {
      const auto& p = command.params[i];
      if (p && p->find('\0') != std::string::npos) {
        co_return Error(ErrorCode::kInvalidRequest,
                        "parameter " + std::to_string(i + 1) + " contains a NUL character");
      }
    }
  }
  if (needs_drain()) {
    const bool settled = co_await SettleBeforeUse(start + timeout + kCancelGrace);
    if (!settled) {
      co_return broken_error_.value_or(Error(ErrorCode::kQueryError, "statement abandoned: the caller went away"));
    }
  }
  const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
  if (IsCancelled(cs)) co_return Error(ErrorCode::kQueryError, "statement abandoned: the caller went away");

  for (bool first = true;; first = false) {
    bool retry = false;
    auto results = co_await ExchangeOnce(user_commands, timeout, start, cancelled_for_timeout, sink,
                                         first ? &retry : nullptr);
    if (!retry) co_return results;
  }
}

namespace {

// Why a named statement failed, when the reason is the statement itself rather than the call.
enum class NamedFailure { kNone, kPlanChanged, kMissing };

NamedFailure NamedStatementFailure(const PGresult* result) {
  if (result == nullptr || PQresultStatus(result) != PGRES_FATAL_ERROR) return NamedFailure::kNone;
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  if (sqlstate == nullptr) return NamedFailure::kNone;
  const std::string_view state(sqlstate);
  if (state == "26000") return NamedFailure::kMissing;  // invalid_sql_statement_name: deallocated behind our back
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (state == "0A000" && primary != nullptr &&
      std::string_view(primary).find("cached plan must not change result type") != std::string_view::npos) {
    return NamedFailure::kPlanChanged;
  }
  return NamedFailure::kNone;
}

}  // namespace

awaitable<Result<std::vector<PgResultPtr>>> Connection::ExchangeOnce(std::span<const Command> user_commands,
                                                                    std::chrono::milliseconds timeout,
                                                                    Clock::time_point start,
                                                                    bool& cancelled_for_timeout, RowSink* sink,
                                                                    bool* retry) {
  const bool set_timeout = current_timeout_ != timeout;
  const PGTransactionStatusType status_before = PQtransactionStatus(conn_);
  const std::optional<std::string> timeout_param[1] = {std::to_string(timeout.count())};

  // What goes on the wire: DEALLOCATE of evicted statements (outside a transaction block, each
  // with its own Sync), the statement_timeout change, then the caller's commands; each preparable
  // one runs as a named statement, after its Parse when this session does not hold it yet.
  constexpr std::ptrdiff_t kOurs = -1;
  constexpr std::ptrdiff_t kTimeoutCommand = -2;
  std::vector<Command> commands;
  std::vector<std::ptrdiff_t> user_of;  // per command sent: index into user_commands, or kOurs/kTimeoutCommand
  commands.reserve(user_commands.size() * 2 + 2);
  user_of.reserve(user_commands.size() * 2 + 2);
  std::vector<std::string> deallocations;
  if (status_before == PQTRANS_IDLE && !statements_.PendingDeallocations().empty()) {
    for (const std::string& name : statements_.PendingDeallocations()) deallocations.push_back("DEALLOCATE " + name);
    statements_.ClearPendingDeallocations();  // tried once: a name that stays is harmless (never reused)
    for (const std::string& d : deallocations) {
      commands.push_back(Command{d, {}, true});
      user_of.push_back(kOurs);
    }
  }
  struct NewStatement {
    std::size_t command;  // the Parse's index in `commands`
    std::string_view sql;
    std::string name;
  };
  std::vector<NewStatement> parsed;
  parsed.reserve(user_commands.size() + 1);
  std::vector<bool> named(user_commands.size(), false);
  auto add = [&](Command command, std::ptrdiff_t user) {
    if (statements_.enabled() && command.kind == CommandKind::kQuery && StatementCache::Preparable(command.sql)) {
      const std::string* name = statements_.Find(command.sql);
      if (name == nullptr) {
        for (const NewStatement& p : parsed) {
          if (p.sql == command.sql) name = &p.name;
        }
      }
      if (name == nullptr) {
        statements_.CountMiss();
        parsed.push_back(NewStatement{commands.size(), command.sql, statements_.NewName()});
        name = &parsed.back().name;
        Command parse{command.sql, {}, false, CommandKind::kPrepareNamed};
        parse.name = *name;
        commands.push_back(parse);
        user_of.push_back(kOurs);
      }
      command.kind = CommandKind::kQueryNamed;
      command.name = *name;
      if (user >= 0) named[static_cast<std::size_t>(user)] = true;
    }
    commands.push_back(command);
    user_of.push_back(user);
  };
  if (set_timeout) add(Command{kSetTimeoutSql, timeout_param, true}, kTimeoutCommand);
  for (std::size_t i = 0; i < user_commands.size(); ++i) add(user_commands[i], static_cast<std::ptrdiff_t>(i));

  current_timeout_.reset();  // unknown until set_config's answer is read
  sink_ = sink;
  sink_index_.assign(user_of.begin(), user_of.end());
  for (std::size_t k = 0; k < commands.size(); ++k) {
    if (!commands[k].stream) sink_index_[k] = -1;
  }
  rows_taken_ = 0;
  if (auto sent = SendPipeline(commands); !sent) co_return sent.error();

  PumpOutcome outcome = co_await Pump(start + timeout + kCancelGrace, /*just_sent=*/true);
  if (outcome == PumpOutcome::kTimeout) {
    // The server did not enforce statement_timeout (or its answer is stuck): cancel from here.
    RequestCancel();
    cancelled_for_timeout = true;
    outcome = co_await Pump(Clock::now() + kAnswerGrace);
    if (outcome == PumpOutcome::kTimeout) {
      Error error(ErrorCode::kQueryTimeout, "statement exceeded its timeout of " + std::to_string(timeout.count()) +
                                                " ms; PostgreSQL did not answer the cancel request");
      MarkBroken(error);
      spdlog::warn("postgres backend {} did not answer a cancel request; connection discarded", backend_pid_);
      co_return error;
    }
  }
  if (outcome == PumpOutcome::kCancelled) {
    // The caller is gone. Stop the statement on the server and return now: awaiting anything
    // more here would throw. The pool (or the next use) drains the connection, and resets it
    // (which also forgets the named statements whose Parse is still unanswered).
    RequestCancel();
    co_return Error(ErrorCode::kQueryError, "statement abandoned: the caller went away");
  }
  if (outcome == PumpOutcome::kBroken) {
    co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "connection is broken"));
  }

  std::vector<PgResultPtr> sent_results = std::move(command_results_);
  FinishExchange();
  sink_index_.clear();
  if (cancel_ticket_ && cancel_ticket_->done()) cancel_ticket_.reset();

  // Named statements the server accepted are kept; a refused Parse is its statement's error (the
  // statement itself was then skipped by the pipeline).
  for (NewStatement& p : parsed) {
    const PGresult* r = sent_results[p.command].get();
    if (r == nullptr) continue;
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      statements_.Add(p.sql, std::move(p.name));
    } else if (PQresultStatus(r) == PGRES_FATAL_ERROR) {
      sent_results[p.command + 1] = std::move(sent_results[p.command]);
    }
  }

  std::vector<PgResultPtr> results(user_commands.size());
  for (std::size_t k = 0; k < commands.size(); ++k) {
    if (user_of[k] == kTimeoutCommand) {
      const PGresult* set_result = sent_results[k].get();
      if (set_result != nullptr && PQresultStatus(set_result) == PGRES_TUPLES_OK) {
        current_timeout_ = timeout;
        // Inside a transaction block the setting is undone if the transaction rolls back.
        if (status_before != PQTRANS_IDLE) timeout_set_in_transaction_ = true;
      }
    } else if (user_of[k] >= 0) {
      results[static_cast<std::size_t>(user_of[k])] = std::move(sent_results[k]);
    }
  }
  if (!set_timeout) current_timeout_ = timeout;

  std::optional<std::size_t> plan_changed;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (!results[i]) {
      MarkBroken(Error(ErrorCode::kInternal, "PostgreSQL sent no result for a statement"));
      co_return *broken_error_;
    }
    NoteStatementEffects(results[i].get(), user_commands[i].internal);
    if (!named[i]) continue;
    switch (NamedStatementFailure(results[i].get())) {
      case NamedFailure::kNone: break;
      case NamedFailure::kMissing:
        // Someone deallocated our statements (DEALLOCATE inside a function): start afresh.
        statements_.Clear();
        break;
      case NamedFailure::kPlanChanged:
        statements_.Evict(user_commands[i].sql);
        if (!plan_changed) plan_changed = i;
        break;
    }
  }
  if (broken_) co_return *broken_error_;
  if (retry != nullptr && plan_changed && status_before == PQTRANS_IDLE && rows_taken_ == 0) {
    // Retry only when nothing of this attempt took effect: every caller statement (the service's
    // own wrappers aside) was in the failed one's implicit transaction, which the failure undid.
    std::vector<std::size_t> segment_of(user_commands.size());
    for (std::size_t i = 0, segment = 0; i < user_commands.size(); ++i) {
      segment_of[i] = segment;
      if (user_commands[i].sync) ++segment;
    }
    bool undone = true;
    for (std::size_t i = 0; i < user_commands.size(); ++i) {
      if (!user_commands[i].internal && segment_of[i] != segment_of[*plan_changed]) undone = false;
    }
    if (undone) {
      *retry = true;
      co_return std::vector<PgResultPtr>{};
    }
  }
  co_return results;
}

awaitable<Result<PgResultPtr>> Connection::Execute(const Statement& statement, RowSink* sink) {
  Command command{statement.sql, statement.params, true};
  command.stream = sink != nullptr;
  bool cancelled_for_timeout = false;
  auto results = co_await Exchange(std::span(&command, 1), statement.timeout, cancelled_for_timeout, sink);
  if (!results) co_return results.error();
  PgResultPtr result = std::move(results->front());
  switch (PQresultStatus(result.get())) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK: co_return result;
    case PGRES_EMPTY_QUERY: co_return Error(ErrorCode::kQueryError, "the statement is empty");
    default: break;
  }
  const auto timeout = statement.timeout.count() > 0 ? statement.timeout : default_timeout_;
  co_return StatementError(result.get(), timeout, cancelled_for_timeout);
}

awaitable<Result<std::vector<PgResultPtr>>> Connection::ExecuteBatch(std::span<const Statement> statements,
                                                                    bool atomic, std::chrono::milliseconds timeout,
                                                                    RowSink* sink) {
  if (statements.empty()) co_return std::vector<PgResultPtr>{};
  std::vector<Command> commands;
  commands.reserve(statements.size());
  for (const Statement& s : statements) {
    Command command{s.sql, s.params, !atomic};
    command.stream = sink != nullptr;
    commands.push_back(command);
  }
  bool cancelled_for_timeout = false;
  auto results = co_await Exchange(commands, timeout, cancelled_for_timeout, sink);
  co_return results;
}

awaitable<Result<std::vector<PgResultPtr>>> Connection::ExecutePipeline(std::span<const PipelineStep> steps,
                                                                       std::chrono::milliseconds timeout,
                                                                       RowSink* sink) {
  if (steps.empty()) co_return std::vector<PgResultPtr>{};
  std::vector<Command> commands;
  commands.reserve(steps.size());
  for (const PipelineStep& s : steps) {
    Command command{s.sql, s.params, s.sync};
    command.internal = s.internal;
    command.stream = sink != nullptr && !s.internal;
    commands.push_back(command);
  }
  bool cancelled_for_timeout = false;
  auto results = co_await Exchange(commands, timeout, cancelled_for_timeout, sink);
  co_return results;
}

awaitable<Result<std::vector<Oid>>> Connection::DescribeParams(std::string_view sql,
                                                               std::chrono::milliseconds timeout) {
  const std::array<Command, 2> commands{Command{sql, {}, false, CommandKind::kPrepareUnnamed},
                                        Command{sql, {}, true, CommandKind::kDescribeUnnamed}};
  bool cancelled_for_timeout = false;
  auto results = co_await Exchange(commands, timeout, cancelled_for_timeout);
  if (!results) co_return results.error();
  for (const auto& r : *results) {
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) co_return StatementError(r.get(), timeout, cancelled_for_timeout);
  }
  const PGresult* described = results->back().get();
  std::vector<Oid> types(static_cast<std::size_t>(PQnparams(described)));
  for (std::size_t i = 0; i < types.size(); ++i) types[i] = PQparamtype(described, static_cast<int>(i));
  co_return types;
}

Error Connection::StatementError(const PGresult* result, std::chrono::milliseconds timeout,
                                 bool cancelled_for_timeout) {
  if (PQresultStatus(result) == PGRES_PIPELINE_ABORTED) {
    return Error(ErrorCode::kQueryError, "not run: an earlier statement of the batch failed");
  }
  if (PQresultStatus(result) == PGRES_EMPTY_QUERY) return Error(ErrorCode::kQueryError, "the statement is empty");
  Error error = MapPgError(result);
  if (error.pg && error.pg->sqlstate == "57014") {
    const char* primary_field = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    const std::string_view primary = primary_field ? primary_field : "";
    if (cancelled_for_timeout || primary.find("statement timeout") != std::string_view::npos) {
      error.message = "statement exceeded its timeout of " + std::to_string(timeout.count()) + " ms and was cancelled";
    }
  }
  return error;
}

awaitable<Result<void>> Connection::Drain(std::chrono::milliseconds timeout) {
  if (broken_) co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "connection is broken"));
  if (in_operation_) co_return BusyError();
  const OperationGuard guard(in_operation_);
  const bool settled = co_await SettleBeforeUse(Clock::now() + timeout);
  if (!settled) {
    co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "draining was cancelled"));
  }
  co_return Result<void>{};
}

awaitable<Result<void>> Connection::Reset(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (broken_) co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "connection is broken"));
  if (in_operation_) co_return BusyError();
  const OperationGuard guard(in_operation_);
  if (needs_drain()) {
    const bool settled = co_await SettleBeforeUse(deadline);
    if (!settled) co_return broken_error_.value_or(Error(ErrorCode::kDatabaseUnavailable, "reset was cancelled"));
  }
  Command commands[2];
  std::size_t count = 0;
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE) commands[count++] = Command{"ROLLBACK", {}};
  // Also closes cursors, drops temp tables and prepared statements, UNLISTEN *, releases
  // advisory locks, and RESETs every setting to its startup value (our `options`).
  commands[count++] = Command{"DISCARD ALL", {}};
  current_timeout_.reset();
  if (auto sent = SendPipeline(std::span(commands, count)); !sent) co_return sent.error();
  const PumpOutcome outcome = co_await Pump(deadline);
  if (outcome == PumpOutcome::kCancelled) co_return Error(ErrorCode::kDatabaseUnavailable, "reset was cancelled");
  if (outcome == PumpOutcome::kTimeout) {
    MarkBroken(Error(ErrorCode::kDatabaseUnavailable, "resetting the PostgreSQL session timed out"));
  }
  if (outcome != PumpOutcome::kDone) co_return *broken_error_;
  std::vector<PgResultPtr> results = std::move(command_results_);
  FinishExchange();
  for (const auto& r : results) {
    if (!r || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      Error error = r ? MapPgError(r.get()) : Error(ErrorCode::kInternal, "no result for the reset");
      error.message = "resetting the PostgreSQL session failed: " + error.message;
      MarkBroken(error);
      co_return error;
    }
  }
  if (PQtransactionStatus(conn_) != PQTRANS_IDLE || ParametersChanged()) {
    MarkBroken(Error(ErrorCode::kInternal, "the PostgreSQL session did not return to its initial state"));
    co_return *broken_error_;
  }
  if (broken_) co_return *broken_error_;
  needs_reset_ = false;
  session_owner_.clear();
  statements_.Clear();  // DISCARD ALL deallocated them
  timeout_set_in_transaction_ = false;
  current_timeout_ = default_timeout_;  // DISCARD ALL restored the startup value
  co_return Result<void>{};
}

// ---------------------------------------------------------------------------------------------
// session state

void Connection::NoteStatementEffects(const PGresult* result, bool internal) {
  const std::string_view verb = CommandVerb(result);
  // These drop the session's prepared statements (DEALLOCATE of one name: we may not know which).
  if (verb == "DEALLOCATE" || std::string_view(PQcmdStatus(const_cast<PGresult*>(result))) == "DISCARD ALL") {
    statements_.Clear();
  }
  if (!internal && !verb.empty() && !IsStatelessVerb(verb)) needs_reset_ = true;
  // These may have changed or undone statement_timeout behind our back.
  if (internal && verb == "DISCARD") {
    current_timeout_ = default_timeout_;  // DISCARD ALL restored the startup value
  } else if (verb == "SET" || verb == "RESET" || verb == "DISCARD" || verb == "ROLLBACK") {
    current_timeout_.reset();
  }
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  if (status != PQTRANS_IDLE) {
    needs_reset_ = true;
  } else if (timeout_set_in_transaction_) {
    current_timeout_.reset();  // committed or rolled back: unknown
    timeout_set_in_transaction_ = false;
  }
  if (ParametersChanged()) needs_reset_ = true;
}

void Connection::SnapshotParameters() {
  for (std::size_t i = 0; i < kTrackedParameters.size(); ++i) {
    const char* v = PQparameterStatus(conn_, kTrackedParameters[i]);
    initial_parameters_[i] = v ? v : "";
  }
}

bool Connection::ParametersChanged() const {
  for (std::size_t i = 0; i < kTrackedParameters.size(); ++i) {
    const char* v = PQparameterStatus(conn_, kTrackedParameters[i]);
    if (initial_parameters_[i] != (v ? v : "")) return true;
  }
  return false;
}

PGTransactionStatusType Connection::transaction_status() const { return PQtransactionStatus(conn_); }

bool Connection::LooksHealthyWhileIdle() const {
  if (broken_ || needs_drain() || PQstatus(conn_) != CONNECTION_OK) return false;
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  // Zero timeout: never waits. Anything readable on an idle connection is an error or EOF.
  return ::poll(&pfd, 1, 0) == 0;
}

}  // namespace coredb::pg
