// Issue 6 item 2: scopes enforced by PostgreSQL (pg::PgBackend::RunScoped / BeginOn) and the
// shared-pool gap. In-process against the dev stack's PostgreSQL, through the same PgBackend and
// SessionManager calls the HTTP handlers make, with a pool of ONE connection so that "the next
// caller" really gets the same backend. Roles are created per test run by the superuser
// (PG_SUPERUSER_URL); "nothing written" is checked by the superuser too.
#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/adapters/postgres/pg_pool.hpp"
#include "coredb/adapters/redis/redis_pool.hpp"
#include "coredb/sessions/session_manager.hpp"
#include "integration/pg_test_support.hpp"
#include "support/service_process.hpp"

#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

namespace coredb::pg::testing {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using std::chrono::milliseconds;
using coredb::testing::Psql;
using coredb::testing::RequireEnv;

std::string Text(const boost::json::value& v) {
  return v.is_string() ? std::string(v.as_string()) : boost::json::serialize(v);
}

// The first column of the first row of a result ("" when there is none).
std::string First(const SqlOutcome& outcome) {
  const auto& rows = outcome.body.at("rows").as_array();
  if (rows.empty()) return "";
  const auto& row = rows[0].as_object();
  return row.empty() ? "" : Text(row.begin()->value());
}

class SqlScopeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(DatabaseUrl().empty());
    suffix_ = UniqueName("s").substr(2);
    table_ = "scope_t_" + suffix_;
    reader_ = "coredb_reader_" + suffix_;
    writer_ = "coredb_writer_" + suffix_;
    Psql super(RequireEnv("PG_SUPERUSER_URL"));
    Psql app(DatabaseUrl());
    // The table, its sequence and a writing function belong to the service's login (coredb).
    app.Exec("CREATE TABLE " + table_ + " (id serial PRIMARY KEY, v text)");
    app.Exec("CREATE FUNCTION " + table_ + "_w() RETURNS int LANGUAGE sql VOLATILE AS $$ INSERT INTO " + table_ +
             " (v) VALUES ('fn') RETURNING 1 $$");
    // reader_: SELECT only. writer_: INSERT too ("more privileged"). Both NOLOGIN, granted to
    // the login so that SET ROLE works (PostgREST's authenticator pattern).
    super.Exec("CREATE ROLE " + reader_ + " NOLOGIN");
    super.Exec("CREATE ROLE " + writer_ + " NOLOGIN");
    super.Exec("GRANT " + reader_ + ", " + writer_ + " TO coredb");
    app.Exec("GRANT SELECT ON " + table_ + " TO " + reader_ + ", " + writer_);
    app.Exec("GRANT INSERT ON " + table_ + " TO " + writer_);
    app.Exec("GRANT USAGE ON SEQUENCE " + table_ + "_id_seq TO " + writer_);

    PoolOptions o;
    o.name = "postgresql";
    o.connection = Options(UniqueName("coredb_scope"));
    o.max_size = 1;  // every call below uses the same backend
    pool_ = std::make_unique<Pool>(io_.get_executor(), o, worker_);
    backend_ = std::make_unique<PgBackend>(*pool_, 1 << 20);
  }

  void TearDown() override {
    backend_.reset();
    pool_.reset();
    try {
      Psql super(RequireEnv("PG_SUPERUSER_URL"));
      super.Exec("DROP TABLE IF EXISTS " + table_ + " CASCADE");
      super.Exec("DROP FUNCTION IF EXISTS " + table_ + "_w()");
      super.Exec("DROP OWNED BY " + reader_ + ", " + writer_);
      super.Exec("DROP ROLE IF EXISTS " + reader_);
      super.Exec("DROP ROLE IF EXISTS " + writer_);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "cleanup: " << e.what();
    }
  }

  int Rows() {
    Psql super(RequireEnv("PG_SUPERUSER_URL"));
    return std::stoi(super.Scalar("SELECT count(*) FROM " + table_));
  }

  // Each kind of client has its own id: state one leaves in a shared session must not reach another.
  SqlScope ReadClient() const { return SqlScope{.caller_sql = true, .client = "reader", .read_only = true, .role = {}}; }
  SqlScope AdminClient(std::string_view id = "admin") const {
    return SqlScope{.caller_sql = true, .client = id, .read_only = false, .role = {}};
  }
  SqlScope RoleClient(const std::string& role, bool read_only = false) const {
    return SqlScope{.caller_sql = true, .client = role, .read_only = read_only, .role = role};
  }

  // One statement on the shared pool (POST /api/v1/query).
  Result<SqlOutcome> One(const std::string& sql, const SqlScope& scope) {
    return RunCoro(io_, [&]() -> awaitable<Result<SqlOutcome>> {
      const SqlStatement statement{sql, nullptr, RowMode::kObject, milliseconds(5000), scope};
      auto r = co_await backend_->Run(statement);
      co_return r;
    }());
  }

  // A batch on the shared pool (POST /api/v1/query/batch).
  Result<std::vector<Result<SqlOutcome>>> Batch(const std::vector<std::string>& sqls, const SqlScope& scope,
                                                bool atomic = true) {
    return RunCoro(io_, [&]() -> awaitable<Result<std::vector<Result<SqlOutcome>>>> {
      std::vector<SqlStatement> statements;
      for (const auto& sql : sqls) statements.push_back(SqlStatement{sql, nullptr, RowMode::kObject, milliseconds(5000), scope});
      auto r = co_await backend_->RunBatch(statements, atomic, milliseconds(5000));
      co_return r;
    }());
  }

  // The text of the first column of a one-shot statement run as the bootstrap admin would.
  std::string AdminScalar(const std::string& sql) {
    auto r = One(sql, AdminClient());
    if (!r) {
      ADD_FAILURE() << sql << ": " << r.error().message;
      return "<error>";
    }
    return First(*r);
  }

  static void ExpectRefused(const Result<SqlOutcome>& r, const char* sqlstate, const std::string& what) {
    ASSERT_FALSE(r) << what << " was not refused";
    EXPECT_EQ(r.error().code, ErrorCode::kForbidden) << what << ": " << r.error().message;
    ASSERT_TRUE(r.error().pg.has_value()) << what << ": " << r.error().message;
    if (sqlstate != nullptr) {
      EXPECT_EQ(r.error().pg->sqlstate, sqlstate) << what << ": " << r.error().message;
    }
  }

  // The first failing entry of a batch (or the batch's error).
  static Error FirstError(const Result<std::vector<Result<SqlOutcome>>>& r) {
    if (!r) return r.error();
    for (const auto& item : *r) {
      if (!item) return item.error();
    }
    return Error(ErrorCode::kInternal, "nothing failed");
  }

  asio::io_context io_;
  CancelWorker worker_;
  std::unique_ptr<Pool> pool_;
  std::unique_ptr<PgBackend> backend_;
  std::string suffix_, table_, reader_, writer_;
};

TEST_F(SqlScopeTest, ReadClientWritesAreRefusedByPostgresqlAndNothingIsWritten) {
  const SqlScope read = ReadClient();
  ExpectRefused(One("INSERT INTO " + table_ + " (v) VALUES ('x')", read), "25006", "INSERT");
  ExpectRefused(One("CREATE TABLE " + table_ + "_new (x int)", read), "25006", "CREATE TABLE");
  ExpectRefused(One("DO $$ BEGIN INSERT INTO " + table_ + " (v) VALUES ('do'); END $$", read), "25006", "DO");
  ExpectRefused(One("SELECT " + table_ + "_w()", read), "25006", "a writing volatile function");
  ExpectRefused(One("SELECT nextval('" + table_ + "_id_seq')", read), "25006", "nextval()");
  // The login is not superuser: COPY TO PROGRAM is a privilege refusal (403), never a 500.
  ExpectRefused(One("COPY (SELECT 1) TO PROGRAM 'touch /tmp/coredb_scope_pwned'", read), nullptr, "COPY TO PROGRAM");
  EXPECT_EQ(Rows(), 0);
  Psql super(RequireEnv("PG_SUPERUSER_URL"));
  EXPECT_EQ(super.Scalar("SELECT count(*) FROM pg_class WHERE relname = '" + table_ + "_new'"), "0");
  // Reads work, and the admin's writes on the same connection are not read-only afterwards.
  auto read_ok = One("SELECT count(*) AS n FROM " + table_, read);
  ASSERT_TRUE(read_ok) << read_ok.error().message;
  auto write = One("INSERT INTO " + table_ + " (v) VALUES ('admin')", AdminClient());
  ASSERT_TRUE(write) << write.error().message;
  EXPECT_EQ(Rows(), 1);
}

TEST_F(SqlScopeTest, ReadOnlyCannotBeTurnedOffByTheFirstStatementOfTheTransaction) {
  const SqlScope read = ReadClient();
  const std::string insert = "INSERT INTO " + table_ + " (v) VALUES ('x')";
  for (const std::string& first :
       {std::string("SET TRANSACTION READ WRITE"), std::string("SELECT set_config('transaction_read_only', 'off', true)"),
        std::string("SELECT set_config('transaction_read_only', 'off', false)"),
        std::string("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"),
        std::string("SET default_transaction_read_only = off")}) {
    auto atomic = Batch({first, insert}, read, true);
    EXPECT_FALSE(atomic && (*atomic)[1]) << first << " then INSERT (atomic) was not refused";
    auto separate = Batch({first, insert}, read, false);
    ASSERT_TRUE(separate) << separate.error().message;
    ExpectRefused((*separate)[1], "25006", first + " then INSERT (not atomic)");
    // The next statement, and the next read client on the same connection.
    ExpectRefused(One(insert, read), "25006", "INSERT after " + first);
  }
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SqlScopeTest, RoleClientRunsAsItsRoleAndTheRoleDoesNotSurviveIntoTheNextCaller) {
  const SqlScope role = RoleClient(reader_);
  const std::string pid = AdminScalar("SELECT pg_backend_pid()");
  auto who = One("SELECT current_user AS u", role);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(First(*who), reader_);
  // Same backend (pool of 1), next client: the service's login again.
  EXPECT_EQ(AdminScalar("SELECT pg_backend_pid()"), pid);
  EXPECT_EQ(AdminScalar("SELECT current_user"), "coredb");
  // The role's own privileges: it may read, not write.
  ExpectRefused(One("INSERT INTO " + table_ + " (v) VALUES ('x')", role), "42501", "INSERT without the grant");
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SqlScopeTest, RoleEscapesAreRefusedAndLeaveNothingWritten) {
  const SqlScope role = RoleClient(reader_);
  const std::string insert = "INSERT INTO " + table_ + " (v) VALUES ('escaped')";
  const std::vector<std::string> escapes = {
      "RESET ROLE",
      "SET ROLE " + writer_,
      "SET ROLE coredb",
      "SET ROLE NONE",
      "SET SESSION AUTHORIZATION postgres",
      "SET SESSION AUTHORIZATION DEFAULT",
      "SELECT set_config('role', 'none', false)",
      "SELECT set_config('role', 'none', true)",
      "SELECT set_config('role', '" + writer_ + "', true)",
      "SELECT set_config('role', '" + writer_ + "', false)",
  };
  for (const std::string& escape : escapes) {
    auto alone = One(escape, role);
    ASSERT_FALSE(alone) << escape << " was not refused";
    EXPECT_EQ(alone.error().code, ErrorCode::kForbidden) << escape << ": " << alone.error().message;
    auto batch = Batch({escape, insert}, role, true);
    EXPECT_EQ(FirstError(batch).code, ErrorCode::kForbidden) << escape << ": " << FirstError(batch).message;
    auto separate = Batch({escape, insert}, role, false);
    ASSERT_TRUE(separate) << separate.error().message;
    EXPECT_FALSE((*separate)[0]) << escape;
    ExpectRefused((*separate)[1], "42501", "INSERT after " + escape);
    EXPECT_EQ(AdminScalar("SELECT current_user"), "coredb") << "after " << escape;
  }
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SqlScopeTest, SessionStateOfOneCallerIsNotVisibleToTheNextOnTheSharedPool) {
  // `a` leaves state; the bootstrap admin (another client) probes on the same backend.
  const SqlScope a = AdminClient("client_a");
  const std::string pid = AdminScalar("SELECT pg_backend_pid()");
  struct Case {
    std::string leave, probe, clean;
  };
  const std::vector<Case> cases = {
      {"SELECT set_config('x.y', '1', false)", "SELECT coalesce(current_setting('x.y', true), '')", ""},
      {"SELECT set_config('search_path', 'pg_temp', false)", "SELECT current_setting('search_path')",
       "\"$user\", public"},
      {"SELECT pg_advisory_lock(4242)",
       "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()", "0"},
      {"LISTEN coredb_scope_channel", "SELECT count(*) FROM pg_listening_channels()", "0"},
      {"PREPARE coredb_scope_p AS SELECT 1", "SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^coredb_s[0-9]+$'", "0"},
      {"CREATE TEMP TABLE coredb_scope_tmp (x int)",
       "SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()", "0"},
      {"SELECT nextval('" + table_ + "_id_seq')", "SELECT coalesce((SELECT lastval()::text), '')", "<error>"},
  };
  for (const Case& c : cases) {
    auto left = One(c.leave, a);
    ASSERT_TRUE(left) << c.leave << ": " << left.error().message;
    if (c.clean == "<error>") {
      // lastval() is not defined in a fresh session: an error, not the previous caller's value.
      auto probe = One(c.probe, AdminClient());
      EXPECT_FALSE(probe) << "lastval() after another caller's nextval(): " << (probe ? First(*probe) : "");
    } else {
      EXPECT_EQ(AdminScalar(c.probe), c.clean) << "after " << c.leave;
    }
    EXPECT_EQ(AdminScalar("SELECT pg_backend_pid()"), pid) << "the pool of 1 changed backend";
  }
  // Batches too.
  auto batch = Batch({"SELECT set_config('x.z', '1', false)", "SELECT pg_advisory_lock(4243)"}, a, false);
  ASSERT_TRUE(batch) << batch.error().message;
  EXPECT_EQ(AdminScalar("SELECT coalesce(current_setting('x.z', true), '')"), "");
  EXPECT_EQ(AdminScalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"),
            "0");
}

TEST_F(SqlScopeTest, AClientsSessionStateIsResetOnlyWhenSomeoneElseNeedsTheConnection) {
  const SqlScope a = AdminClient("client_a");
  const std::string pid = AdminScalar("SELECT pg_backend_pid()");
  const std::string probe = "SELECT coalesce(current_setting('x.mine', true), '')";
  auto scalar = [&](const std::string& sql, const SqlScope& scope) {
    auto r = One(sql, scope);
    return r ? First(*r) : "<error: " + r.error().message + ">";
  };
  ASSERT_EQ(scalar("SELECT set_config('x.mine', 'a', false)", a), "a");
  // The same client keeps its session as it left it (no reset, no DISCARD ALL in its round trip),
  // as a node-postgres pool would: one-shot statements must not count on it, but pay nothing.
  EXPECT_EQ(scalar(probe, a), "a");
  const auto resets_before = pool_->Stats().session_resets_total;
  // Another client: reset first.
  EXPECT_EQ(scalar(probe, AdminClient("client_b")), "");
  EXPECT_EQ(pool_->Stats().session_resets_total, resets_before + 1);
  EXPECT_EQ(scalar("SELECT set_config('x.mine', 'b', false)", AdminClient("client_b")), "b");
  // A read client, and a role client.
  EXPECT_EQ(scalar(probe, ReadClient()), "");
  ASSERT_EQ(scalar("SELECT set_config('x.mine', 'r', false)", RoleClient(reader_)), "r");
  EXPECT_EQ(scalar(probe, RoleClient(writer_)), "");
  // The service's own statements (no caller SQL) and leases get a clean session too.
  ASSERT_EQ(scalar("SELECT set_config('x.mine', 'a2', false)", a), "a2");
  EXPECT_EQ(scalar(probe, SqlScope{}), "");
  ASSERT_EQ(scalar("SELECT set_config('x.mine', 'a3', false)", a), "a3");
  auto plain = RunCoro(io_, [&]() -> awaitable<std::string> {
    auto lease = co_await pool_->Acquire(milliseconds(5000));
    if (!lease) co_return "<no connection>";
    auto r = co_await (*lease)->Execute(Statement{probe, {}, milliseconds(5000)});
    co_return r ? std::string(PQgetvalue(r->get(), 0, 0)) : "<error>";
  }());
  EXPECT_EQ(plain, "");
  EXPECT_EQ(AdminScalar("SELECT pg_backend_pid()"), pid) << "the pool of 1 changed backend";
}

// Leases and transactions: the SessionManager paths the HTTP handlers use.
class SqlScopeSessionTest : public SqlScopeTest {
 protected:
  void SetUp() override {
    SqlScopeTest::SetUp();
    redis_ = std::make_unique<redis::RedisPool>(io_.get_executor(), redis::RedisPoolOptions{});
    sessions_ = std::make_unique<sessions::SessionManager>(io_.get_executor(), sessions::SessionOptions{}, *backend_,
                                                           *backend_, *redis_);
  }
  void TearDown() override {
    sessions_->CloseAll();
    RunCoro(io_, Sleep(milliseconds(200)));  // the pool resets what came back
    sessions_.reset();
    redis_.reset();
    SqlScopeTest::TearDown();
  }

  Principal Client(const std::string& name, Scope scope, const std::string& role = {}) {
    return Principal{.client_id = name, .client_name = name, .scopes = static_cast<std::uint8_t>(scope),
                     .cache_prefixes = {}, .pg_role = role};
  }

  std::string Lease(const Principal& p) {
    auto lease = RunCoro(io_, sessions_->Acquire(p, Database::kPostgresql, milliseconds(5000), milliseconds(60000)));
    EXPECT_TRUE(lease) << lease.error().message;
    return lease ? lease->connection_id : "";
  }

  Result<SqlOutcome> OnLease(const Principal& p, const std::string& id, const std::string& sql, bool tx = false) {
    return RunCoro(io_, [&]() -> awaitable<Result<SqlOutcome>> {
      sessions::Target target;
      if (tx) {
        target.transaction_id = id;
      } else {
        target.connection_id = id;
      }
      sessions::LeaseInfo touched;
      const SqlStatement statement{sql, nullptr, RowMode::kObject, milliseconds(5000)};
      auto r = co_await sessions_->Query(p, target, statement, touched);
      co_return r;
    }());
  }

  std::string Begin(const Principal& p) {
    auto tx = RunCoro(io_, sessions_->Begin(p, sessions::BeginOptions{}));
    EXPECT_TRUE(tx) << tx.error().message;
    return tx ? tx->transaction_id : "";
  }

  std::unique_ptr<redis::RedisPool> redis_;
  std::unique_ptr<sessions::SessionManager> sessions_;
};

TEST_F(SqlScopeSessionTest, ReadClientOnALeaseAndInATransaction) {
  const Principal reader = Client("reader", Scope::kRead);
  const std::string insert = "INSERT INTO " + table_ + " (v) VALUES ('x')";
  const std::string lease = Lease(reader);
  ExpectRefused(OnLease(reader, lease, insert), "25006", "INSERT on a lease");
  // The trap: SET TRANSACTION READ WRITE first, then a write.
  auto trap = OnLease(reader, lease, "SET TRANSACTION READ WRITE");
  ExpectRefused(OnLease(reader, lease, insert), "25006", "INSERT after SET TRANSACTION READ WRITE on a lease");
  auto session = OnLease(reader, lease, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE");
  ExpectRefused(OnLease(reader, lease, insert), "25006", "INSERT after SET SESSION CHARACTERISTICS on a lease");
  ASSERT_TRUE(sessions_->Release(reader, lease));

  // A transaction: read-only, and its first statement cannot make it read-write.
  const std::string tx = Begin(reader);
  auto first = OnLease(reader, tx, "SET TRANSACTION READ WRITE", true);
  EXPECT_FALSE(first) << "SET TRANSACTION READ WRITE as the first statement of a read client's transaction";
  auto rolled_back = RunCoro(io_, sessions_->Rollback(reader, tx));
  const std::string tx2 = Begin(reader);
  auto via_function = OnLease(reader, tx2, "SELECT set_config('transaction_read_only', 'off', true)", true);
  EXPECT_FALSE(via_function) << "set_config('transaction_read_only') in a read client's transaction";
  auto rolled_back2 = RunCoro(io_, sessions_->Rollback(reader, tx2));
  const std::string tx3 = Begin(reader);
  ExpectRefused(OnLease(reader, tx3, insert, true), "25006", "INSERT in a read client's transaction");
  auto rolled_back3 = RunCoro(io_, sessions_->Rollback(reader, tx3));
  EXPECT_EQ(Rows(), 0);
}

TEST_F(SqlScopeSessionTest, RoleClientOnALeaseAndInATransaction) {
  const Principal role = Client("role", Scope::kWrite, reader_);
  const Principal admin = Client("admin", Scope::kAdmin);
  const std::string insert = "INSERT INTO " + table_ + " (v) VALUES ('x')";
  const std::string lease = Lease(role);
  auto who = OnLease(role, lease, "SELECT current_user");
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(First(*who), reader_);
  for (const std::string& escape : {std::string("RESET ROLE"), "SET ROLE " + writer_,
                                    std::string("SELECT set_config('role', 'none', false)")}) {
    ExpectRefused(OnLease(role, lease, escape), "42501", escape + " on a lease");
    ExpectRefused(OnLease(role, lease, insert), "42501", "INSERT after " + escape + " on a lease");
    auto again = OnLease(role, lease, "SELECT current_user");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(First(*again), reader_);
  }
  ASSERT_TRUE(sessions_->Release(role, lease));

  const std::string tx = Begin(role);
  auto in_tx = OnLease(role, tx, "SELECT current_user", true);
  ASSERT_TRUE(in_tx) << in_tx.error().message;
  EXPECT_EQ(First(*in_tx), reader_);
  ExpectRefused(OnLease(role, tx, "RESET ROLE", true), "42501", "RESET ROLE in a transaction");
  auto aborted = RunCoro(io_, sessions_->Commit(role, tx));
  EXPECT_FALSE(aborted);
  EXPECT_EQ(Rows(), 0);

  // The next client of the (single) connection is not the role.
  const std::string admin_lease = Lease(admin);
  auto next = OnLease(admin, admin_lease, "SELECT current_user");
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_EQ(First(*next), "coredb");
  ASSERT_TRUE(sessions_->Release(admin, admin_lease));
}

}  // namespace
}  // namespace coredb::pg::testing
