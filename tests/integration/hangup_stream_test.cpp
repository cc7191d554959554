// Issue 21 black-box: requests that end when their caller does (hang-up → the statement is
// cancelled on the server, 499 in the log), deadlines from the caller (X-Request-Timeout) and
// NDJSON streaming (Accept: application/x-ndjson), against the real binary and PostgreSQL with
// the dev stack's non-superuser role; pg_stat_activity (as the superuser) says what still runs.
#include "support/clients.hpp"
#include "support/metrics_scrape.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A client socket we control byte by byte (hang up at will, never read).
class RawClient {
 public:
  explicit RawClient(std::uint16_t port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
  }
  ~RawClient() { Close(); }
  void Send(const std::string& bytes) {
    for (std::size_t sent = 0; sent < bytes.size();) {
      const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      sent += static_cast<std::size_t>(n);
    }
  }
  // Reads what arrives within `timeout` (until EOF or the timeout).
  std::string ReadFor(std::chrono::milliseconds timeout) {
    std::string out;
    closed_ = false;
    const auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
      char buf[65536];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // The last ReadFor ended because the service closed the connection.
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

std::string HttpPost(const std::string& token, const std::string& target, const std::string& body,
                     const std::string& extra_headers = {}) {
  return "POST " + target + " HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/json\r\n" + extra_headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// A marker no other statement of the suite carries, to find ours in pg_stat_activity.
std::string Marker() {
  static std::mt19937_64 rng{std::random_device{}()};
  return "hangup_" + std::to_string(rng() % 1000000000000ULL);
}

class Hangup : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    service_ = new ServiceProcess(ServiceProcess::Env{{"PG_POOL_SIZE", "4"}, {"LOG_LEVEL", "info"}});
    super_ = new Psql(RequireEnv("PG_SUPERUSER_URL"));
  }
  static void TearDownTestSuite() {
    delete super_;
    delete service_;
    super_ = nullptr;
    service_ = nullptr;
  }
  void TearDown() override {
    // Nothing of ours left running, and the pool serves everyone again.
    for (int i = 0; i < 8; ++i) {
      auto r = service_->Query({{"sql", "SELECT 1 AS ok"}});
      EXPECT_EQ(r.status, 200u) << "pool unhealthy after the test: " << r.body;
    }
  }
  static ServiceProcess& svc() { return *service_; }

  static int Running(const std::string& marker) {
    return std::stoi(super_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%" +
                                    marker + "%' AND pid <> pg_backend_pid()"));
  }
  static bool WaitRunning(const std::string& marker, std::chrono::milliseconds timeout = 5s) {
    for (const auto until = Clock::now() + timeout; Clock::now() < until; std::this_thread::sleep_for(5ms)) {
      if (Running(marker) > 0) return true;
    }
    return false;
  }
  // How long until no statement with `marker` runs any more (timeout: -1).
  static std::chrono::milliseconds GoneAfter(const std::string& marker, std::chrono::milliseconds timeout = 10s) {
    const auto start = Clock::now();
    for (; Clock::now() - start < timeout; std::this_thread::sleep_for(5ms)) {
      if (Running(marker) == 0) return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    }
    return -1ms;
  }
  static double CancelsDelivered() {
    return Scrape(svc()).Value("coredb_pg_cancel_requests_total", {{"outcome", "delivered"}}).value_or(0);
  }
  static bool WaitCancelsDelivered(double at_least, std::chrono::milliseconds timeout) {
    for (const auto until = Clock::now() + timeout; Clock::now() < until; std::this_thread::sleep_for(10ms)) {
      if (CancelsDelivered() >= at_least) return true;
    }
    return CancelsDelivered() >= at_least;
  }
  // Sends `request`, waits until `marker` runs, hangs up; returns how long the statement outlived the socket.
  static std::chrono::milliseconds HangUpWhileRunning(const std::string& request, const std::string& marker) {
    RawClient client(svc().port());
    client.Send(request);
    EXPECT_TRUE(WaitRunning(marker)) << "the statement never started";
    client.Close();
    return GoneAfter(marker);
  }

  static ServiceProcess* service_;
  static Psql* super_;
};
ServiceProcess* Hangup::service_ = nullptr;
Psql* Hangup::super_ = nullptr;

std::string SleepSql(const std::string& marker, int seconds = 30) {
  return "SELECT pg_sleep(" + std::to_string(seconds) + ") AS " + marker;
}

TEST_F(Hangup, QueryIsCancelledOnTheServerWithin200ms) {
  const double delivered_before = CancelsDelivered();
  std::vector<long long> times;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const std::string marker = Marker();
    const auto gone = HangUpWhileRunning(
        HttpPost(svc().admin_token(), "/api/v1/query", json::serialize(json::object{{"sql", SleepSql(marker)}})),
        marker);
    ASSERT_GE(gone.count(), 0) << "the statement still runs 10 s after the client hung up";
    times.push_back(gone.count());
  }
  std::sort(times.begin(), times.end());
  std::cout << "hang-up → statement gone: " << times[0] << " / " << times[1] << " / " << times[2] << " ms\n";
  EXPECT_LE(times[1], 200) << "median time from hang-up to the statement's end";
  // The counter moves when the cancel thread hears back, which can be after the statement is gone.
  EXPECT_TRUE(WaitCancelsDelivered(delivered_before + 3, 2s))
      << "delivered cancels: " << CancelsDelivered() << ", before: " << delivered_before;
  EXPECT_TRUE(svc().WaitForOutput("\"status\":499", 2s)) << "the abandoned request is logged as 499";
  EXPECT_EQ(svc().Output().find("\"status\":400,\"durationMs\":1"), std::string::npos);
}

TEST_F(Hangup, AlsoForANonAdminClientWithItsOwnRole) {
  // The platform's services call with client tokens (scoped: READ ONLY, role checks). Clients
  // live in the schema: a service of its own on a migrated scratch database.
  ScratchDatabase db;
  ServiceProcess scoped(ServiceProcess::Env{{"DATABASE_URL", db.app_conninfo()}});
  EnsureMigrated(scoped);
  auto created = scoped.Post("/api/v1/clients", json::object{{"name", "hangup-" + Marker()}, {"scopes", json::array{"read"}}});
  ASSERT_EQ(created.status, 201u) << created.body;
  const std::string token(created.json.at("token").as_string());
  const std::string marker = Marker();
  RawClient client(scoped.port());
  client.Send(HttpPost(token, "/api/v1/query", json::serialize(json::object{{"sql", SleepSql(marker)}})));
  ASSERT_TRUE(WaitRunning(marker)) << "the statement never started";
  client.Close();
  const auto gone = GoneAfter(marker);
  EXPECT_GE(gone.count(), 0);
  EXPECT_LE(gone.count(), 1000);
}

TEST_F(Hangup, PipelinedRequestsThenHangUp) {
  // The second request's bytes arrive while the first runs: the watch keeps them and still sees the close.
  const std::string marker = Marker();
  const std::string one =
      HttpPost(svc().admin_token(), "/api/v1/query", json::serialize(json::object{{"sql", SleepSql(marker)}}));
  const auto gone = HangUpWhileRunning(one + one, marker);
  EXPECT_GE(gone.count(), 0) << "a hang-up after pipelined bytes was not seen";
  EXPECT_LE(gone.count(), 1000);
}

TEST_F(Hangup, PipelinedRequestsAreStillAnswered) {
  // The watch reads the next request into the session's buffer: it is answered after the first.
  const std::string slow = HttpPost(svc().admin_token(), "/api/v1/query", R"({"sql":"SELECT pg_sleep(0.2), 1 AS a"})");
  const std::string quick = HttpPost(svc().admin_token(), "/api/v1/query", R"({"sql":"SELECT 2 AS b"})");
  RawClient client(svc().port());
  client.Send(slow);
  std::this_thread::sleep_for(80ms);  // the first is being handled and watched
  client.Send(quick);
  const std::string answers = client.ReadFor(3s);
  EXPECT_NE(answers.find("\"a\":1"), std::string::npos) << answers;
  EXPECT_NE(answers.find("\"b\":2"), std::string::npos) << answers;
}

// The session parses what is already in its buffer and reads only what is missing: a request
// that arrives in pieces, one that waits for 100-continue, and several in one packet all get
// their answers, in order, on one connection.
TEST_F(Hangup, RequestsArrivingInPiecesAreAnswered) {
  const std::string request = HttpPost(svc().admin_token(), "/api/v1/query", R"({"sql":"SELECT 7 AS pieces"})");
  RawClient client(svc().port());
  for (std::size_t i = 0; i < request.size(); i += 7) {
    client.Send(request.substr(i, 7));
    std::this_thread::sleep_for(1ms);
  }
  const std::string one = client.ReadFor(600ms);
  EXPECT_EQ(one.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << one;
  EXPECT_NE(one.find("\"pieces\":7"), std::string::npos) << one;
  // The head in one write, the body in another, then three requests in one.
  const auto cut = request.find("\r\n\r\n") + 4;
  client.Send(request.substr(0, cut));
  std::this_thread::sleep_for(50ms);
  client.Send(request.substr(cut));
  const std::string quick = HttpPost(svc().admin_token(), "/api/v1/query", R"({"sql":"SELECT 8 AS n"})");
  client.Send(quick + quick + quick);
  const std::string more = client.ReadFor(800ms);
  std::size_t answers = 0;
  for (auto pos = more.find("HTTP/1.1 200 OK"); pos != std::string::npos; pos = more.find("HTTP/1.1 200 OK", pos + 1)) {
    ++answers;
  }
  EXPECT_EQ(answers, 4u) << more;
  EXPECT_LT(more.find("\"pieces\":7"), more.find("\"n\":8")) << more;
}

TEST_F(Hangup, ExpectContinueGetsA100ThenTheAnswer) {
  const std::string request = HttpPost(svc().admin_token(), "/api/v1/query", R"({"sql":"SELECT 9 AS continued"})",
                                       "Expect: 100-continue\r\n");
  const auto cut = request.find("\r\n\r\n") + 4;
  RawClient client(svc().port());
  client.Send(request.substr(0, cut));
  const std::string interim = client.ReadFor(300ms);
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
  client.Send(request.substr(cut));
  const std::string answer = client.ReadFor(500ms);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("\"continued\":9"), std::string::npos) << answer;
  // Head and body together: no 100 is owed, just the answer.
  RawClient together(svc().port());
  together.Send(request);
  const std::string direct = together.ReadFor(500ms);
  EXPECT_EQ(direct.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << direct;
}

// MAX_CONNECTIONS: a new connection past it closes the one idle for longest; when every
// connection is busy, the newcomer is closed unanswered and the busy ones are untouched.
TEST(Connections, PastMaxConnectionsTheLongestIdleMakesRoom) {
  ServiceProcess svc(ServiceProcess::Env{{"MAX_CONNECTIONS", "3"}});
  const std::string live = "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n";
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<RawClient>(svc.port()));
    idle.back()->Send(live);
    ASSERT_NE(idle.back()->ReadFor(300ms).find(" 200 "), std::string::npos);
    std::this_thread::sleep_for(20ms);  // idle since: 0 oldest
  }
  RawClient newcomer(svc.port());
  newcomer.Send(live);
  EXPECT_NE(newcomer.ReadFor(300ms).find(" 200 "), std::string::npos) << "the new connection is served";
  idle[0]->ReadFor(300ms);
  EXPECT_TRUE(idle[0]->closed()) << "the longest-idle connection made room";
  for (int i = 1; i < 3; ++i) {
    idle[i]->Send(live);
    EXPECT_NE(idle[i]->ReadFor(300ms).find(" 200 "), std::string::npos) << "connection " << i << " still serves";
  }
  // Three busy connections (the newcomer and idle[1..2] each run a statement): no room.
  const std::string slow = HttpPost(svc.admin_token(), "/api/v1/query", R"j({"sql":"SELECT pg_sleep(0.6)"})j");
  newcomer.Send(slow);
  idle[1]->Send(slow);
  idle[2]->Send(slow);
  std::this_thread::sleep_for(150ms);
  RawClient refused(svc.port());
  refused.Send(live);
  EXPECT_EQ(refused.ReadFor(300ms), "");
  EXPECT_TRUE(refused.closed()) << "refused while every connection is busy";
  for (RawClient* busy : {&newcomer, idle[1].get(), idle[2].get()}) {
    EXPECT_NE(busy->ReadFor(1s).find(" 200 "), std::string::npos) << "a busy connection is never cut";
  }
}

TEST_F(Hangup, BatchIsCancelled) {
  const std::string marker = Marker();
  const json::object batch{{"queries", json::array{json::object{{"sql", "SELECT 1"}},
                                                   json::object{{"sql", SleepSql(marker)}}}}};
  const auto gone = HangUpWhileRunning(HttpPost(svc().admin_token(), "/api/v1/query/batch", json::serialize(batch)), marker);
  EXPECT_GE(gone.count(), 0);
  EXPECT_LE(gone.count(), 1000);
}

TEST_F(Hangup, TransactionStatementIsCancelledAndTheTransactionStaysUsable) {
  auto begun = svc().Post("/api/v1/transaction/begin", json::object{{"database", "postgresql"}});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const std::string tx(begun.json.at("transactionId").as_string());
  const std::string marker = Marker();
  const auto gone = HangUpWhileRunning(
      HttpPost(svc().admin_token(), "/api/v1/query",
               json::serialize(json::object{{"sql", SleepSql(marker)}, {"transactionId", tx}})),
      marker);
  EXPECT_GE(gone.count(), 0);
  EXPECT_LE(gone.count(), 1000);
  // The cancelled statement aborted the transaction (as in PostgreSQL); it can be rolled back.
  auto next = svc().Query({{"sql", "SELECT 1"}, {"transactionId", tx}});
  EXPECT_EQ(next.status, 400u) << next.body;
  auto rolled_back = svc().Post("/api/v1/transaction/rollback", json::object{{"transactionId", tx}});
  EXPECT_EQ(rolled_back.status, 200u) << rolled_back.body;
}

TEST_F(Hangup, CacheAsideLoadStillAnswersTheOtherWaiter) {
  const std::string marker = Marker();
  const json::object body{{"sql", "SELECT pg_sleep(1), 42 AS " + marker}, {"cache", json::object{{"ttl", 60}}}};
  RawClient first(svc().port());
  first.Send(HttpPost(svc().admin_token(), "/api/v1/query", json::serialize(body)));
  ASSERT_TRUE(WaitRunning(marker));
  HttpResult second;
  std::thread waiter([&] { second = svc().Query(body); });
  std::this_thread::sleep_for(100ms);  // the second joins the first's load
  first.Close();
  waiter.join();
  EXPECT_EQ(second.status, 200u) << "the waiter of a load whose starter hung up: " << second.body;
  if (second.status == 200u) {
    EXPECT_EQ(second.json.at("rows").at(0).at(marker), json::value(42));
  }
}

// ---------------------------------------------------------------------------------------------
// X-Request-Timeout

TEST_F(Hangup, RequestTimeoutHeaderCutsTheStatement) {
  const std::string marker = Marker();
  const auto start = Clock::now();
  auto r = svc().Request("POST", "/api/v1/query", json::serialize(json::object{{"sql", SleepSql(marker, 5)}}),
                         {{"X-Request-Timeout", "300"}});
  const auto took = Clock::now() - start;
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "QUERY_TIMEOUT");
  EXPECT_LT(took, 1500ms);
  EXPECT_GE(GoneAfter(marker, 2s).count(), 0) << "the statement still runs after its deadline";
  // Envoy's header is read as well; the smaller of header and body wins.
  auto envoy = svc().Request("POST", "/api/v1/query",
                             json::serialize(json::object{{"sql", "SELECT pg_sleep(5)"}, {"timeout", 60000}}),
                             {{"x-envoy-expected-rq-timeout-ms", "250"}});
  EXPECT_EQ(envoy.status, 504u) << envoy.body;
  auto body_wins = svc().Request("POST", "/api/v1/query",
                                 json::serialize(json::object{{"sql", "SELECT pg_sleep(5)"}, {"timeout", 200}}),
                                 {{"X-Request-Timeout", "60000"}});
  EXPECT_EQ(body_wins.status, 504u) << body_wins.body;
  EXPECT_NE(body_wins.body.find("200 ms"), std::string::npos) << body_wins.body;
  // Enough time: an ordinary answer.
  auto fine = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1 AS one"})", {{"X-Request-Timeout", "5000"}});
  EXPECT_EQ(fine.status, 200u) << fine.body;
}

TEST_F(Hangup, RequestTimeoutCutsASagaStepAndTheSagaCompensates) {
  // A saga goes on when its caller leaves, but its deadline bounds it: the step running at the
  // deadline is cut (statement_timeout = what remains), no later step starts, and what ran before
  // is compensated. The saga log lives in the schema: a service of its own on a migrated scratch
  // database.
  ScratchDatabase db;
  ServiceProcess sagas(ServiceProcess::Env{{"DATABASE_URL", db.app_conninfo()}});
  EnsureMigrated(sagas);
  const std::string marker = Marker();
  json::object first{{"name", "first_" + marker},
                     {"action", json::object{{"sql", "SELECT 1 AS done"}}},
                     {"compensation", json::object{{"sql", "SELECT 2 AS undone"}}}};
  json::object slow{{"name", "slow"}, {"action", json::object{{"sql", SleepSql(marker, 5)}}}, {"compensation", nullptr}};
  json::object never{{"name", "never"}, {"action", json::object{{"sql", "SELECT 3"}}}, {"compensation", nullptr}};
  const auto start = Clock::now();
  auto r = sagas.Request("POST", "/api/v1/sagas", json::serialize(json::object{{"steps", json::array{first, slow, never}}}),
                         {{"X-Request-Timeout", "400"}});
  EXPECT_LT(Clock::now() - start, 1500ms) << r.body;
  // Answered at the deadline: 504, or the compensated saga when its compensation beat the backstop.
  EXPECT_TRUE(r.status == 504u || r.ErrorCode() == "SAGA_COMPENSATED") << r.status << " " << r.body;
  EXPECT_GE(GoneAfter(marker, 1s).count(), 0) << "the saga's step still runs after the request's deadline";
  // The saga ends compensated: the slow step failed with QUERY_TIMEOUT, the last never ran.
  json::object saga;
  for (const auto until = Clock::now() + 5s; Clock::now() < until; std::this_thread::sleep_for(20ms)) {
    auto list = sagas.Request("GET", "/api/v1/sagas?limit=20");
    ASSERT_EQ(list.status, 200u) << list.body;
    for (const auto& s : list.json.at("sagas").as_array()) {
      if (s.at("steps").as_array().at(0).at("name") == json::value("first_" + marker)) saga = s.as_object();
    }
    if (!saga.empty() && saga.at("status") == json::value("compensated")) break;
  }
  ASSERT_FALSE(saga.empty()) << "the saga is not listed";
  EXPECT_EQ(saga.at("status"), json::value("compensated")) << json::serialize(saga);
  const json::array& steps = saga.at("steps").as_array();
  EXPECT_EQ(steps.at(0).at("status"), json::value("compensated")) << json::serialize(saga);
  EXPECT_EQ(steps.at(1).at("status"), json::value("failed")) << json::serialize(saga);
  EXPECT_EQ(steps.at(1).at("error").at("code"), json::value("QUERY_TIMEOUT")) << json::serialize(saga);
  EXPECT_EQ(steps.at(2).at("status"), json::value("pending")) << json::serialize(saga);
}

TEST_F(Hangup, BadRequestTimeoutHeaderIs400NamingIt) {
  for (const char* bad : {"abc", "0", "-5", "300001", "10ms", ""}) {
    auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {{"X-Request-Timeout", bad}});
    EXPECT_EQ(r.status, 400u) << bad << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "INVALID_REQUEST") << bad;
    EXPECT_NE(r.body.find("X-Request-Timeout"), std::string::npos) << r.body;
  }
}

TEST_F(Hangup, RequestTimeoutBoundsThePoolWait) {
  // All 4 pooled connections leased: a query with a deadline gets 503 POOL_TIMEOUT in time.
  std::vector<std::string> leases;
  for (int i = 0; i < 4; ++i) {
    auto lease = svc().Post("/api/v1/connections/acquire", json::object{{"database", "postgresql"}});
    ASSERT_EQ(lease.status, 200u) << lease.body;
    leases.emplace_back(lease.json.at("connectionId").as_string());
  }
  const auto start = Clock::now();
  auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})", {{"X-Request-Timeout", "300"}});
  EXPECT_EQ(r.status, 503u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "POOL_TIMEOUT") << r.body;
  EXPECT_LT(Clock::now() - start, 1500ms);
  for (const auto& id : leases) svc().Post("/api/v1/connections/release", json::object{{"connectionId", id}});
}

// ---------------------------------------------------------------------------------------------
// NDJSON streaming

std::vector<json::value> Lines(const std::string& body) {
  std::vector<json::value> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

const std::map<std::string, std::string> kNdjson{{"Accept", "application/x-ndjson"}};

TEST_F(Hangup, StreamsFieldsRowsAndALastLine) {
  auto r = svc().Request("POST", "/api/v1/query",
                         R"({"sql":"SELECT g AS id, g::int8 * 1000000000000 AS big, 'row ' || g AS label FROM generate_series(1, 100000) g"})",
                         kNdjson);
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
  EXPECT_EQ(r.Header("content-type"), "application/x-ndjson");
  EXPECT_EQ(r.Header("transfer-encoding"), "chunked");
  auto lines = Lines(r.body);
  ASSERT_EQ(lines.size(), 100002u);
  EXPECT_EQ(lines.front().at("fields").at(1).at("dataType"), json::value("int8"));
  EXPECT_EQ(lines[1], json::parse(R"({"id":1,"big":"1000000000000","label":"row 1"})"));
  EXPECT_EQ(lines[100000].at("id"), json::value(100000));
  EXPECT_EQ(lines.back().at("rowCount"), json::value(100000));
  EXPECT_EQ(lines.back().at("command"), json::value("SELECT"));
  EXPECT_TRUE(lines.back().at("duration").is_number());
}

TEST_F(Hangup, StreamsSmallResultsArraysAndCommands) {
  auto small = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1 AS a, NULL::text AS b","rowMode":"array"})",
                             kNdjson);
  ASSERT_EQ(small.status, 200u) << small.body;
  auto lines = Lines(small.body);
  ASSERT_EQ(lines.size(), 3u) << small.body;
  EXPECT_EQ(lines[1], json::parse("[1,null]"));
  auto empty = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1 AS a WHERE false"})", kNdjson);
  lines = Lines(empty.body);
  ASSERT_EQ(lines.size(), 2u) << empty.body;
  EXPECT_EQ(lines[0].at("fields").at(0).at("name"), json::value("a"));
  EXPECT_EQ(lines[1].at("rowCount"), json::value(0));
  auto command = svc().Request("POST", "/api/v1/query", R"x({"sql":"CREATE TEMP TABLE IF NOT EXISTS s_tmp (a int)"})x", kNdjson);
  lines = Lines(command.body);
  ASSERT_EQ(lines.size(), 2u) << command.body;
  EXPECT_EQ(lines[1].at("command"), json::value("CREATE"));
}

TEST_F(Hangup, ErrorBeforeTheFirstByteIsAnOrdinaryAnswer) {
  auto r = svc().Request("POST", "/api/v1/query", R"({"sql":"SELEC 1"})", kNdjson);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "QUERY_ERROR");
  auto redis = svc().Request("POST", "/api/v1/query", R"({"database":"redis","command":["PING"]})", kNdjson);
  EXPECT_EQ(redis.status, 400u) << redis.body;
  auto cached = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1","cache":{"ttl":5}})", kNdjson);
  EXPECT_EQ(cached.status, 400u) << cached.body;
}

TEST_F(Hangup, ErrorAfterTheFirstByteIsTheLastLine) {
  // Division by zero at row 50 000, long after the first chunk went out.
  auto r = svc().Request("POST", "/api/v1/query",
                         R"({"sql":"SELECT g, 1 / (50000 - g) AS x, repeat('y', 50) AS pad FROM generate_series(1, 100000) g"})",
                         kNdjson);
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
  auto lines = Lines(r.body);
  ASSERT_GT(lines.size(), 2u);
  const json::value& last = lines.back();
  ASSERT_TRUE(last.as_object().contains("error")) << json::serialize(last);
  EXPECT_EQ(last.at("error").at("sqlstate"), json::value("22012"));
  EXPECT_FALSE(last.as_object().contains("rowCount"));
}

TEST_F(Hangup, StreamInATransaction) {
  auto begun = svc().Post("/api/v1/transaction/begin", json::object{{"database", "postgresql"}});
  ASSERT_EQ(begun.status, 200u) << begun.body;
  const std::string tx(begun.json.at("transactionId").as_string());
  auto r = svc().Request("POST", "/api/v1/query",
                         json::serialize(json::object{{"sql", "SELECT g FROM generate_series(1, 20000) g"}, {"transactionId", tx}}),
                         kNdjson);
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
  auto lines = Lines(r.body);
  EXPECT_EQ(lines.back().at("rowCount"), json::value(20000));
  EXPECT_EQ(svc().Post("/api/v1/transaction/commit", json::object{{"transactionId", tx}}).status, 200u);
}

// (A set-returning function in the select list runs row by row; in FROM it would be materialized
// before the first row.)
TEST_F(Hangup, HangUpMidStreamCancelsTheStatement) {
  const std::string marker = Marker();
  RawClient client(svc().port(), 4096);
  client.Send(HttpPost(svc().admin_token(), "/api/v1/query",
                       json::serialize(json::object{{"sql", "SELECT generate_series(1, 50000000) AS " + marker + ", repeat('z', 100)"}}),
                       "Accept: application/x-ndjson\r\n"));
  ASSERT_FALSE(client.ReadFor(500ms).empty()) << "no first chunk";
  EXPECT_GT(Running(marker), 0);
  client.Close();
  const auto gone = GoneAfter(marker);
  EXPECT_GE(gone.count(), 0) << "the streamed statement still runs after the hang-up";
  EXPECT_LE(gone.count(), 1000);
}

std::uint64_t RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

TEST_F(Hangup, SlowReaderCostsNoMemoryAndIsCutByTheTimeout) {
  const std::string marker = Marker();
  const std::uint64_t rss_before = RssKb(svc().pid());
  RawClient client(svc().port(), 4096);
  client.Send(HttpPost(svc().admin_token(), "/api/v1/query",
                       json::serialize(json::object{{"sql", "SELECT generate_series(1, 50000000) AS " + marker + ", repeat('z', 100)"},
                                                    {"timeout", 1500}}),
                       "Accept: application/x-ndjson\r\n"));
  ASSERT_TRUE(WaitRunning(marker));
  // The reader never reads: the service buffers at most a chunk, PostgreSQL waits on its socket.
  std::this_thread::sleep_for(1000ms);
  const std::uint64_t rss_during = RssKb(svc().pid());
  EXPECT_LT(rss_during, rss_before + 20 * 1024) << "RSS grew from " << rss_before << " to " << rss_during << " kB";
  // The statement's timeout (plus the client-side grace) ends it and closes the stream.
  const auto gone = GoneAfter(marker, 8s);
  EXPECT_GE(gone.count(), 0) << "a stalled stream outlived its statement timeout";
}

TEST(HangupLimits, StreamOverMaxStreamBytesEndsWith413Line) {
  ServiceProcess svc(ServiceProcess::Env{{"MAX_STREAM_BYTES", "200000"}});
  auto r = svc.Request("POST", "/api/v1/query",
                       R"({"sql":"SELECT g, repeat('q', 100) FROM generate_series(1, 100000) g"})", kNdjson);
  ASSERT_EQ(r.status, 200u) << r.body.substr(0, 300);
  auto lines = Lines(r.body);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().at("error").at("code"), json::value("PAYLOAD_TOO_LARGE")) << json::serialize(lines.back());
  EXPECT_LT(r.body.size(), 300000u);
  // A buffered (JSON) answer keeps MAX_RESULT_BYTES, not MAX_STREAM_BYTES.
  EXPECT_EQ(svc.Query({{"sql", "SELECT g FROM generate_series(1, 30000) g"}}).status, 200u);
}

}  // namespace
}  // namespace coredb::testing
