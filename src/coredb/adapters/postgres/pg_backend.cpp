#include "coredb/adapters/postgres/pg_backend.hpp"

#include "coredb/adapters/postgres/params.hpp"
#include "coredb/adapters/postgres/result_json.hpp"
#include "coredb/adapters/postgres/sqlstate.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>

namespace coredb::pg {

using Clock = std::chrono::steady_clock;

namespace {

double MillisSince(Clock::time_point start) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count()) /
         1000.0;
}

pg::RowMode ToPgRowMode(coredb::RowMode mode) {
  return mode == coredb::RowMode::kArray ? pg::RowMode::kArray : pg::RowMode::kObject;
}

// The scope check (SqlScope::confined): a SELECT that fails, so that the pipeline stops and the
// transaction never commits, when the statement before it left the caller's scope: the
// transaction is no longer read-only, or current_user is no longer the client's role. The failing
// branch reads current_user, so the planner cannot fold it; operators are schema-qualified, so a
// search_path the caller set cannot redirect them. It is also the first statement after BEGIN:
// it takes the transaction's first snapshot, after which PostgreSQL refuses
// `SET TRANSACTION READ WRITE` and set_config('transaction_read_only', 'off', ...).
constexpr const char* kCheckReadOnlySql =
    "SELECT CASE WHEN pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.<>) 'on' "
    "THEN ('coredb-scope-25006 ' OPERATOR(pg_catalog.||) current_user::text)::int4 ELSE 0 END";
constexpr const char* kCheckRoleSql =
    "SELECT CASE WHEN current_user OPERATOR(pg_catalog.<>) $1::pg_catalog.name "
    "THEN ('coredb-scope-42501 ' OPERATOR(pg_catalog.||) current_user::text)::int4 ELSE 0 END";
constexpr const char* kCheckBothSql =
    "SELECT CASE WHEN pg_catalog.current_setting('transaction_read_only') OPERATOR(pg_catalog.<>) 'on' "
    "THEN ('coredb-scope-25006 ' OPERATOR(pg_catalog.||) current_user::text)::int4 "
    "WHEN current_user OPERATOR(pg_catalog.<>) $1::pg_catalog.name "
    "THEN ('coredb-scope-42501 ' OPERATOR(pg_catalog.||) current_user::text)::int4 ELSE 0 END";
// SET LOCAL ROLE with the role as a parameter (no quoting of an identifier into SQL).
constexpr const char* kSetRoleSql = "SELECT pg_catalog.set_config('role', $1, true)";

const char* CheckSql(const SqlScope& scope) {
  if (scope.read_only && !scope.role.empty()) return kCheckBothSql;
  return scope.read_only ? kCheckReadOnlySql : kCheckRoleSql;
}

// The API error for a failed scope check: 403 with the sqlstate PostgreSQL gives such refusals.
Error ScopeViolation(const PGresult* check, const SqlScope& scope, std::chrono::milliseconds timeout) {
  const char* primary = PQresultErrorField(check, PG_DIAG_MESSAGE_PRIMARY);
  const std::string_view text = primary != nullptr ? primary : "";
  const auto at = text.find("coredb-scope-");
  if (at == std::string_view::npos) return Connection::StatementError(check, timeout);
  const std::string sqlstate(text.substr(at + 13, 5));
  std::string now(text.substr(std::min(text.size(), at + 19)));
  if (!now.empty() && now.back() == '"') now.pop_back();
  PgErrorFields fields;
  fields.sqlstate = sqlstate;
  Error error;
  error.code = ErrorCode::kForbidden;
  if (sqlstate == "25006") {
    error.message =
        "the statement turned off the read-only mode of this client's transaction: refused, nothing it "
        "did is kept";
  } else {
    error.message = "the statement switched away from this client's PostgreSQL role '" + std::string(scope.role) +
                    "' (to '" + now + "'): refused, nothing it did is kept";
  }
  error.pg = std::move(fields);
  return error;
}

Result<SqlOutcome> Single(Result<std::vector<Result<SqlOutcome>>> results) {
  if (!results) {
    Error error = results.error();
    error.failed_index.reset();
    return error;
  }
  if (results->size() != 1) return MakeError(ErrorCode::kInternal, "unexpected pipeline result");
  auto& item = results->front();
  if (!item) {
    Error error = item.error();
    error.failed_index.reset();
    return error;
  }
  return std::move(*item);
}

}  // namespace

Result<PgBackend::MaybePermit> PgBackend::Admit() {
  if (breaker_ == nullptr) return MaybePermit{};
  auto permit = breaker_->Acquire();
  if (!permit) return permit.error();
  return MaybePermit{std::move(*permit)};
}

void PgBackend::Report(MaybePermit& permit, Clock::time_point started, const Error* error) {
  if (permit && error != nullptr &&
      (error->code == ErrorCode::kPoolTimeout || error->code == ErrorCode::kCircuitOpen)) {
    permit.reset();  // the backend was never asked: the call counts for nothing
  }
  if (permit) {
    if (error != nullptr && IsBackendFailure(*error))
      permit->Failure();
    else
      permit->Success();  // late: counted as a timeout by the breaker (its call_timeout)
  }
  if (observer_) {
    observer_(std::chrono::duration<double>(Clock::now() - started).count(), error);
  }
}

namespace {

// The error a batch reports: the whole batch's, else its first backend failure, else its first.
std::optional<Error> BatchError(const Result<std::vector<Result<SqlOutcome>>>& results) {
  std::optional<Error> first;
  if (!results) {
    first.emplace(results.error());
    return first;
  }
  for (const auto& r : *results) {
    if (r) continue;
    if (IsBackendFailure(r.error())) {
      first.emplace(r.error());
      return first;
    }
    if (!first) first.emplace(r.error());
  }
  return first;
}

template <class T>
std::optional<Error> ErrorOf(const Result<T>& result) {
  std::optional<Error> error;
  if (!result) error.emplace(result.error());
  return error;
}

}  // namespace

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::Run(const SqlStatement& statement) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  // `timeout` bounds the wait for a connection and, separately, the statement on the server
  // (node-postgres' connectionTimeoutMillis and statement_timeout). Passing the same value every
  // time lets the connection keep its statement_timeout instead of re-setting it per request.
  if (statement.scope.caller_sql || statement.scope.confined()) {
    // Caller SQL: scoped, its session state kept from others (RunScoped acquires its own connection).
    auto results = co_await RunScoped(nullptr, std::span(&statement, 1), /*atomic=*/true, statement.timeout);
    auto outcome = Single(std::move(results));
    const auto error = ErrorOf(outcome);
    Report(*permit, started, error ? &*error : nullptr);
    co_return outcome;
  }
  auto connection = co_await pool_.Acquire(statement.timeout);
  if (!connection) {
    // A full pool or an open breaker refused us: the backend was not asked (nothing to report
    // but a refused connect, which is the backend's failure).
    const auto error = ErrorOf(connection);
    Report(*permit, started, &*error);
    co_return connection.error();
  }
  auto outcome = co_await RunUnguarded(**connection, statement);
  const auto error = ErrorOf(outcome);
  Report(*permit, started, error ? &*error : nullptr);
  co_return outcome;
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunOn(Connection& connection, const SqlStatement& statement) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  auto outcome = co_await RunUnguarded(connection, statement);
  const auto error = ErrorOf(outcome);
  Report(*permit, started, error ? &*error : nullptr);
  co_return outcome;
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunUnguarded(Connection& connection,
                                                                   const SqlStatement& statement) {
  auto results = co_await RunBatchUnguarded(&connection, std::span(&statement, 1), /*atomic=*/true, statement.timeout,
                                            /*in_batch=*/false);
  co_return Single(std::move(results));
}

boost::asio::awaitable<Result<SqlOutcome>> PgBackend::RunReadOnly(const SqlStatement& statement) {
  // RunScoped with read_only: BEGIN READ ONLY, check, the statement, check, COMMIT in one round
  // trip (the connection then marked as the caller's, see RunScoped).
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  SqlStatement read_only = statement;
  const bool client_is_read_only = statement.scope.read_only;
  read_only.scope.read_only = true;
  auto results = co_await RunScoped(nullptr, std::span(&read_only, 1), /*atomic=*/true, statement.timeout);
  auto outcome = Single(std::move(results));
  const auto failure = ErrorOf(outcome);
  Report(*permit, started, failure ? &*failure : nullptr);
  if (!outcome && !client_is_read_only && outcome.error().pg && outcome.error().pg->sqlstate == "25006") {
    Error error = outcome.error();
    error.code = ErrorCode::kInvalidRequest;
    error.message = "cache applies to reads only: PostgreSQL refused the statement in a read-only transaction (" +
                    error.message + ")";
    co_return error;
  }
  co_return outcome;
}

// Before anything is sent: every statement's parameters encoded (a bad one fails with its
// index, named in the message when `in_batch`), a connection — `connection`, or one of the pool
// (for `session_owner`, see Pool::Acquire) held by `pooled` — and, on the vector database, vector
// parameters mapped to its type.
boost::asio::awaitable<Result<std::vector<std::vector<std::optional<std::string>>>>> PgBackend::PrepareBatch(
    Connection*& connection, PooledConnection& pooled, std::span<const SqlStatement> statements, bool in_batch,
    std::chrono::milliseconds timeout, std::string_view session_owner) {
  std::vector<std::vector<std::optional<std::string>>> params(statements.size());
  for (std::size_t i = 0; i < statements.size(); ++i) {
    if (statements[i].params == nullptr) continue;
    auto encoded = EncodeParams(*statements[i].params);
    if (!encoded) {
      Error error = encoded.error();
      if (in_batch) error.message = "queries[" + std::to_string(i) + "]: " + error.message;
      error.failed_index = i;
      co_return error;
    }
    params[i] = std::move(*encoded);
  }
  if (connection == nullptr) {
    auto acquired = co_await pool_.Acquire(timeout, session_owner);
    if (!acquired) co_return acquired.error();
    pooled = std::move(*acquired);
    connection = pooled.get();
  }
  if (vector_params_) {
    for (std::size_t i = 0; i < statements.size(); ++i) {
      if (statements[i].params == nullptr) continue;
      co_await MapVectorParams(*connection, statements[i].sql, *statements[i].params, params[i], timeout);
    }
  }
  co_return params;
}

// Reads the rows of caller statements as they arrive (single-row mode) into a RowSet per
// statement and refuses the row that takes the response past MAX_RESULT_BYTES (a request's
// statements share the budget; the estimate is ResultToJson's): the connection then cancels the
// statement and drops what still arrives, so that a huge result never sits whole in this process.
class PgBackend::ResultReader final : public RowSink {
 public:
  ResultReader(std::span<const SqlStatement> statements, std::size_t max_bytes, const TypeRegistry& types)
      : statements_(statements), max_bytes_(max_bytes), types_(types), entries_(statements.size()) {}

  // The exchange's step `k` is statement `statement_of_step[k]` (default: step i is statement i).
  void MapSteps(std::vector<std::size_t> statement_of_step) { statement_of_step_ = std::move(statement_of_step); }

  bool OnRow(std::size_t step, const PGresult* row) override {
    const std::size_t i = step < statement_of_step_.size() ? statement_of_step_[step] : step;
    if (i >= entries_.size()) return true;
    Entry& entry = entries_[i];
    if (RowStream* stream = statements_[i].stream) {
      // Streamed: each row goes out as JSON text now; nothing is kept, MAX_RESULT_BYTES does not apply.
      if (!entry.writer) {
        entry.writer = std::make_unique<RowWriter>(row, ToPgRowMode(statements_[i].row_mode), types_);
        stream->OnFields(boost::json::serialize(FieldsJson(row, types_)));
      }
      line_.clear();
      entry.writer->Append(line_, row);
      stream_ = stream;
      return stream->OnRow(line_);
    }
    if (exceeded_) {
      entry.dropped = true;
      return false;
    }
    if (!entry.shape) {
      entry.shape = EstimateShape(row, ToPgRowMode(statements_[i].row_mode), types_);
      used_ += entry.shape->fixed;
    }
    used_ += entry.shape->per_row + RowValueBytes(row, 0);
    if (used_ > max_bytes_) {
      exceeded_ = i;
      entry.dropped = true;
      return false;
    }
    entry.rows.Append(row);
    return true;
  }

  bool WantsFlush() const override { return stream_ != nullptr && stream_->WantsFlush(); }
  boost::asio::awaitable<bool> Flush(Clock::time_point deadline) override {
    const bool flushed = co_await stream_->Flush(deadline);
    co_return flushed;
  }

  const RowSet& rows(std::size_t i) const { return entries_[i].rows; }
  // The statement whose row went over the budget, if one did.
  std::optional<std::size_t> exceeded() const { return exceeded_; }
  // Rows of statement `i` were dropped (it went over, or came after the one that did).
  bool dropped(std::size_t i) const { return entries_[i].dropped; }

 private:
  struct Entry {
    RowSet rows;
    std::optional<SizeEstimate> shape;
    bool dropped = false;
    std::unique_ptr<RowWriter> writer;  // streamed statements
  };
  RowStream* stream_ = nullptr;  // the stream of the last row's statement
  std::string line_;
  std::span<const SqlStatement> statements_;
  std::size_t max_bytes_;
  const TypeRegistry& types_;
  std::vector<Entry> entries_;
  std::vector<std::size_t> statement_of_step_;
  std::size_t used_ = 0;
  std::optional<std::size_t> exceeded_;
};

namespace {

bool WasCancelled(const PGresult* result) {
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return PQresultStatus(result) == PGRES_FATAL_ERROR && sqlstate != nullptr && std::string_view(sqlstate) == "57014";
}

}  // namespace

Result<std::vector<Result<SqlOutcome>>> PgBackend::Outcomes(std::span<const SqlStatement> statements,
                                                            std::span<const PGresult* const> results,
                                                            std::span<const PGresult* const> checks,
                                                            const ResultReader& reader, bool whole,
                                                            std::chrono::milliseconds timeout, double duration_ms) {
  const bool in_batch = statements.size() > 1;
  const auto limit = [this] { return "MAX_RESULT_BYTES (" + std::to_string(max_result_bytes_) + " bytes)"; };
  auto too_large = [&](std::size_t i, std::string message) {
    Error error(ErrorCode::kPayloadTooLarge, std::move(message));
    error.failed_index = i;
    return error;
  };
  const auto exceeded = reader.exceeded();
  std::vector<Result<SqlOutcome>> out;
  out.reserve(statements.size());
  std::size_t used = 0;
  for (std::size_t i = 0; i < statements.size(); ++i) {
    const PGresult* r = results[i];
    const auto status = PQresultStatus(r);
    const bool succeeded = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
    if (exceeded && i == *exceeded) {
      std::string message = in_batch ? "the batch's results exceed " + limit() + " at queries[" + std::to_string(i) + "]"
                                     : "result exceeds " + limit();
      message += succeeded ? "; reading stopped, but the statement had completed before the cancel reached "
                             "PostgreSQL: a write it made is not undone by this error"
                           : "; reading stopped and the statement was cancelled";
      if (whole) return too_large(i, std::move(message));
      out.emplace_back(too_large(i, std::move(message)));
      continue;
    }
    if (exceeded && i > *exceeded && (reader.dropped(i) || WasCancelled(r))) {
      std::string message = "queries[" + std::to_string(i) + "]: " +
                            (reader.dropped(i) ? "rows not read" : "cancelled") +
                            ": the batch's results already exceed " + limit() + " at queries[" +
                            std::to_string(*exceeded) + "]";
      out.emplace_back(too_large(i, std::move(message)));
      continue;
    }
    if (!succeeded) {
      out.emplace_back(Connection::StatementError(r, timeout));
      continue;
    }
    if (!checks.empty() && checks[i] != nullptr && PQresultStatus(checks[i]) == PGRES_FATAL_ERROR) {
      out.emplace_back(ScopeViolation(checks[i], statements.front().scope, timeout));
      continue;
    }
    const std::size_t budget = used < max_result_bytes_ ? max_result_bytes_ - used : 0;
    std::size_t estimated = 0;
    // The answer as JSON text (SqlStatement::text_result) or as an object; the same bound.
    Result<SqlOutcome> outcome = Error(ErrorCode::kInternal, "no outcome");
    if (statements[i].text_result) {
      auto text = ResultToJsonText(r, reader.rows(i), ToPgRowMode(statements[i].row_mode), types_, budget, &estimated);
      outcome = text ? Result<SqlOutcome>(SqlOutcome{{}, duration_ms, std::move(*text)}) : text.error();
    } else {
      auto body = ResultToJson(r, reader.rows(i), ToPgRowMode(statements[i].row_mode), types_, budget, {}, &estimated);
      // The round trip is shared: each entry reports the batch's server time.
      outcome = body ? Result<SqlOutcome>(SqlOutcome{std::move(*body), duration_ms, {}}) : body.error();
    }
    if (!outcome) {
      Error error = outcome.error();
      if (error.code == ErrorCode::kPayloadTooLarge && in_batch) {
        error.message = "the batch's results exceed " + limit() + " at queries[" + std::to_string(i) + "]";
      }
      error.failed_index = i;
      if (whole || error.code != ErrorCode::kPayloadTooLarge) return error;
      out.emplace_back(std::move(error));
      continue;
    }
    used += estimated;
    out.emplace_back(std::move(outcome));
  }
  return out;
}

boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> PgBackend::RunBatchOn(
    Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout) {
  auto permit = Admit();
  if (!permit) co_return permit.error();
  const auto started = Clock::now();
  auto results = co_await RunBatchUnguarded(connection, statements, atomic, timeout);
  const auto error = BatchError(results);
  Report(*permit, started, error ? &*error : nullptr);
  co_return results;
}

boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> PgBackend::RunBatchUnguarded(
    Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout,
    bool in_batch) {
  if (!statements.empty() &&
      (statements.front().scope.confined() || (connection == nullptr && statements.front().scope.caller_sql))) {
    auto scoped = co_await RunScoped(connection, statements, atomic, timeout);
    co_return scoped;
  }
  PooledConnection pooled;
  auto prepared = co_await PrepareBatch(connection, pooled, statements, in_batch, timeout);
  if (!prepared) co_return prepared.error();
  const auto& params = *prepared;
  std::vector<Statement> pg_statements;
  pg_statements.reserve(statements.size());
  for (std::size_t i = 0; i < statements.size(); ++i) {
    pg_statements.push_back(Statement{statements[i].sql, params[i], timeout});
  }
  ResultReader reader(statements, max_result_bytes_, types_);
  auto started = Clock::now();
  auto results = co_await connection->ExecuteBatch(pg_statements, atomic, timeout, &reader);
  if (!results) co_return results.error();
  const double duration_ms = MillisSince(started);
  if (results->size() != statements.size()) co_return MakeError(ErrorCode::kInternal, "unexpected batch result");

  std::vector<const PGresult*> user, ok;
  for (const auto& r : *results) {
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) ok.push_back(r.get());
    user.push_back(r.get());
  }
  co_await LearnTypes(*connection, ok, timeout);
  co_return Outcomes(statements, user, {}, reader, atomic, timeout, duration_ms);
}

// Caller SQL in one round trip. The pipeline, by scope (`|` is a Sync):
//   confined, no transaction open:  BEGIN [READ ONLY]; [SET LOCAL ROLE]; CHECK; s1; CHECK; ... | COMMIT |
//     (not atomic: one such group per statement). COMMIT comes after the Sync so that it always
//     ends the block: after a failure PostgreSQL answers it with ROLLBACK.
//   confined, in a transaction:     s1; CHECK [|] s2; CHECK ... |
//   not confined:                   s1 [|] s2 ... |
// On a shared (pooled) connection the caller's session state never reaches anyone else: the
// connection is marked as the client's (Connection::session_owner) and reset when another client
// or the service needs it (Pool::Acquire; connections that need no reset are preferred), or, for
// SQL of no client (saga steps), `DISCARD ALL |` ends the round trip. A failed CHECK makes the
// statement before it a 403 and, as any error in the group, turns the COMMIT into a rollback.
boost::asio::awaitable<Result<std::vector<Result<SqlOutcome>>>> PgBackend::RunScoped(
    Connection* connection, std::span<const SqlStatement> statements, bool atomic, std::chrono::milliseconds timeout) {
  const SqlScope scope = statements.front().scope;
  PooledConnection pooled;
  const bool shared = connection == nullptr;
  // A client's session state stays on the connection until someone else needs it (Pool::Acquire
  // then resets it); SQL of nobody in particular (saga steps) is discarded in the round trip.
  const bool owned = shared && scope.caller_sql && !scope.client.empty();
  auto prepared = co_await PrepareBatch(connection, pooled, statements, statements.size() > 1, timeout,
                                        owned ? scope.client : std::string_view());
  if (!prepared) co_return prepared.error();
  const auto& params = *prepared;

  enum class Kind { kUser, kCheck, kWrapper, kDiscard };
  struct StepInfo {
    Kind kind;
    std::size_t index;  // the statement it belongs to
  };
  const bool confined = scope.confined();
  const bool open_here = confined && connection->transaction_status() == PQTRANS_IDLE;
  const std::optional<std::string> role_param[1] = {std::string(scope.role)};
  const std::span<const std::optional<std::string>> role_params =
      scope.role.empty() ? std::span<const std::optional<std::string>>() : std::span(role_param);
  const char* check_sql = confined ? CheckSql(scope) : "";
  std::vector<Connection::PipelineStep> steps;
  std::vector<StepInfo> info;
  steps.reserve(statements.size() * 2 + 5);
  auto add = [&steps, &info](std::string_view sql, std::span<const std::optional<std::string>> p, Kind kind,
                             std::size_t index) {
    steps.push_back(Connection::PipelineStep{sql, p, false, kind != Kind::kUser});
    info.push_back(StepInfo{kind, index});
  };
  auto open = [&](std::size_t index) {
    add(scope.read_only ? "BEGIN READ ONLY" : "BEGIN", {}, Kind::kWrapper, index);
    if (!scope.role.empty()) add(kSetRoleSql, role_params, Kind::kWrapper, index);
    add(check_sql, role_params, Kind::kCheck, index);
  };
  if (open_here && !atomic) {
    for (std::size_t i = 0; i < statements.size(); ++i) {
      open(i);
      add(statements[i].sql, params[i], Kind::kUser, i);
      add(check_sql, role_params, Kind::kCheck, i);
      steps.back().sync = true;
      add("COMMIT", {}, Kind::kWrapper, i);
      steps.back().sync = true;
    }
  } else {
    if (open_here) open(0);
    for (std::size_t i = 0; i < statements.size(); ++i) {
      add(statements[i].sql, params[i], Kind::kUser, i);
      if (confined) add(check_sql, role_params, Kind::kCheck, i);
      if (!atomic) steps.back().sync = true;
    }
    steps.back().sync = true;
    if (open_here) {
      add("COMMIT", {}, Kind::kWrapper, statements.size() - 1);
      steps.back().sync = true;
    }
  }
  if (shared && scope.caller_sql && !owned) {
    add("DISCARD ALL", {}, Kind::kDiscard, 0);
    steps.back().sync = true;
  }
  // From the moment its SQL is sent (however this call ends).
  if (owned) connection->SetSessionOwner(scope.client);

  ResultReader reader(statements, max_result_bytes_, types_);
  std::vector<std::size_t> statement_of_step;
  statement_of_step.reserve(info.size());
  for (const StepInfo& step : info) statement_of_step.push_back(step.index);
  reader.MapSteps(std::move(statement_of_step));
  auto started = Clock::now();
  auto results = co_await connection->ExecutePipeline(steps, timeout, &reader);
  if (!results) co_return results.error();
  const double duration_ms = MillisSince(started);
  if (results->size() != steps.size()) co_return MakeError(ErrorCode::kInternal, "unexpected pipeline result");
  if (open_here && !shared && !connection->broken() && connection->transaction_status() != PQTRANS_IDLE) {
    // The final COMMIT ends the block this call opened; should the caller's statements have left
    // another one open (`COMMIT; BEGIN` in a batch), end it here: the lessee never opened it.
    // (A pooled connection is reset by the pool.)
    const pg::Statement rollback{"ROLLBACK", {}, timeout};
    auto rolled_back = co_await connection->Execute(rollback);
    if (!rolled_back) connection->MarkNeedsReset();
  }

  std::vector<const PGresult*> user(statements.size(), nullptr), check(statements.size(), nullptr);
  std::vector<const PGresult*> ok;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const PGresult* r = (*results)[k].get();
    const auto status = PQresultStatus(r);
    const bool succeeded = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
    switch (info[k].kind) {
      case Kind::kUser:
        user[info[k].index] = r;
        if (succeeded) ok.push_back(r);
        break;
      case Kind::kCheck:
        // The one after BEGIN only guards (and takes the snapshot); the one after the statement counts.
        if (k > 0 && info[k - 1].kind == Kind::kUser) check[info[k].index] = r;
        break;
      case Kind::kWrapper:
        // (Past MAX_RESULT_BYTES, the cancel may have hit the wrapper instead: the 413 stands.)
        if (status == PGRES_FATAL_ERROR && !reader.exceeded()) {
          Error error = Connection::StatementError(r, timeout);
          error.message = (scope.role.empty() ? std::string("running the statement read-only failed: ")
                                              : "running as this client's PostgreSQL role '" + std::string(scope.role) +
                                                    "' failed: ") +
                          error.message;
          co_return error;
        }
        break;
      case Kind::kDiscard:
        if (!succeeded) connection->MarkNeedsReset();
        break;
    }
  }
  co_await LearnTypes(*connection, ok, timeout);
  co_return Outcomes(statements, user, check, reader, atomic, timeout, duration_ms);
}

boost::asio::awaitable<Result<void>> PgBackend::BeginOn(Connection& connection, std::string_view begin_sql,
                                                        const SqlScope& scope, std::chrono::milliseconds timeout) {
  const std::optional<std::string> role_param[1] = {std::string(scope.role)};
  const std::span<const std::optional<std::string>> role_params =
      scope.role.empty() ? std::span<const std::optional<std::string>>() : std::span(role_param);
  std::vector<Connection::PipelineStep> steps;
  steps.push_back(Connection::PipelineStep{begin_sql, {}, false, false});
  if (!scope.role.empty()) steps.push_back(Connection::PipelineStep{kSetRoleSql, role_params, false, true});
  if (scope.confined()) steps.push_back(Connection::PipelineStep{CheckSql(scope), role_params, false, true});
  steps.back().sync = true;
  auto results = co_await connection.ExecutePipeline(steps, timeout);
  if (!results) co_return results.error();
  std::optional<Error> failed;
  for (const auto& r : *results) {
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      failed.emplace(Connection::StatementError(r.get(), timeout));
      break;
    }
  }
  if (!failed) co_return Result<void>{};
  if (!scope.role.empty()) {
    failed->message =
        "running as this client's PostgreSQL role '" + std::string(scope.role) + "' failed: " + failed->message;
  }
  if (!connection.broken() && connection.transaction_status() != PQTRANS_IDLE) {
    const pg::Statement rollback{"ROLLBACK", {}, timeout};
    auto rolled_back = co_await connection.Execute(rollback);
    if (!rolled_back) connection.MarkNeedsReset();
  }
  co_return *failed;
}

boost::asio::awaitable<void> PgBackend::LearnTypes(Connection& connection, const std::vector<const PGresult*>& results,
                                                   std::chrono::milliseconds timeout) {
  std::vector<Oid> missing;
  for (const PGresult* r : results) {
    for (Oid oid : types_.Missing(r)) {
      if (std::find(missing.begin(), missing.end(), oid) == missing.end()) missing.push_back(oid);
    }
  }
  if (missing.empty()) co_return;
  // Learn the names of types this database defined itself, once; the lookup is a query of its
  // own on the same connection. Inside an aborted transaction it fails: the names stay unknown.
  std::vector<std::optional<std::string>> lookup_params{TypeRegistry::LookupParam(missing)};
  auto lookup = co_await connection.Execute(Statement{TypeRegistry::LookupSql(), lookup_params, timeout});
  if (lookup) types_.AddFromLookup(lookup->get());
}

boost::asio::awaitable<void> PgBackend::MapVectorParams(Connection& connection, std::string_view sql,
                                                        const boost::json::array& params,
                                                        std::vector<std::optional<std::string>>& encoded,
                                                        std::chrono::milliseconds timeout) {
  auto is_number_vector = [](const boost::json::value& v) {
    return v.is_array() && !v.get_array().empty() &&
           std::all_of(v.get_array().begin(), v.get_array().end(),
                       [](const boost::json::value& e) { return e.is_number(); });
  };
  if (std::none_of(params.begin(), params.end(), is_number_vector)) co_return;
  auto types = co_await connection.DescribeParams(sql, timeout);
  if (!types) co_return;
  std::vector<Oid> unknown;
  for (Oid type : *types) {
    if (types_.Find(type) == nullptr) unknown.push_back(type);
  }
  if (!unknown.empty()) {
    std::vector<std::optional<std::string>> lookup_params{TypeRegistry::LookupParam(unknown)};
    auto lookup = co_await connection.Execute(Statement{TypeRegistry::LookupSql(), lookup_params, timeout});
    if (lookup) types_.AddFromLookup(lookup->get());
  }
  for (std::size_t i = 0; i < params.size() && i < types->size() && i < encoded.size(); ++i) {
    if (!is_number_vector(params[i]) || !encoded[i] || encoded[i]->size() < 2) continue;
    const TypeInfo* info = types_.Find((*types)[i]);
    if (info == nullptr || (info->name != "vector" && info->name != "halfvec")) continue;
    // A 1-D number array's literal is "{1,2.5,3}": pgvector's text form is the same in brackets.
    std::string& text = *encoded[i];
    text.front() = '[';
    text.back() = ']';
  }
}

coredb::PoolStats PgBackend::Stats() const {
  auto s = pool_.Stats();
  coredb::PoolStats out;
  out.max = s.max;
  out.size = s.size;
  out.active = s.active;
  out.idle = s.idle;
  out.waiting = s.waiting;
  out.acquired_total = s.acquired_total;
  out.released_total = s.released_total;
  out.timeouts_total = s.timeouts_total;
  return out;
}

boost::asio::awaitable<bool> PgBackend::Ping(std::chrono::milliseconds timeout) {
  auto connection = co_await pool_.Acquire(timeout);
  if (!connection) co_return false;
  auto result = co_await (*connection)->Execute(Statement{"SELECT 1", {}, timeout});
  co_return result.has_value();
}

}  // namespace coredb::pg

namespace coredb::pg {

std::optional<std::string> ConninfoProblem(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options != nullptr) {
    PQconninfoFree(options);
    return std::nullopt;
  }
  std::string message = err != nullptr ? err : "out of memory";
  if (err != nullptr) PQfreemem(err);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return message;
}

}  // namespace coredb::pg
