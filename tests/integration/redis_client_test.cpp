// RedisClient against a real redis-server: the one from REDIS_URL (required — these tests fail,
// never skip, without it), and for kill/restart a private redis-server on a free port.
#include "coredb/adapters/redis/redis_client.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace coredb::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace std::string_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// ---- helpers ----------------------------------------------------------------------------------

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// redis://[[user]:password@]host[:port][/db] — enough for the test environment's REDIS_URL.
std::optional<RedisOptions> ParseRedisUrl(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  url.remove_prefix(kScheme.size());
  RedisOptions options;
  if (const auto at = url.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = url.substr(0, at);
    url.remove_prefix(at + 1);
    const auto colon = userinfo.find(':');
    options.username = PercentDecode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) options.password = PercentDecode(userinfo.substr(colon + 1));
  }
  std::string_view hostport = url.substr(0, url.find('/'));
  if (const auto slash = url.find('/'); slash != std::string_view::npos && slash + 1 < url.size()) {
    options.db = std::stoi(std::string(url.substr(slash + 1)));
  }
  if (const auto colon = hostport.rfind(':'); colon != std::string_view::npos) {
    options.port = static_cast<std::uint16_t>(std::stoi(std::string(hostport.substr(colon + 1))));
    hostport = hostport.substr(0, colon);
  }
  if (!hostport.empty()) options.host = std::string(hostport);
  return options;
}

// Runs the io_context until `done()` or the limit; returns done().
bool RunUntil(asio::io_context& io, const std::function<bool()>& done, milliseconds limit = 30s) {
  const auto deadline = Clock::now() + limit;
  if (io.stopped()) io.restart();
  while (!done() && Clock::now() < deadline) {
    io.run_one_until(deadline);
    if (io.stopped()) io.restart();
  }
  return done();
}

// Lets `duration` pass while the io_context processes whatever becomes ready.
void RunFor(asio::io_context& io, milliseconds duration) {
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_until(deadline);
    if (io.stopped() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);  // out of work
  }
}

// Runs one coroutine to completion on the io_context (the client's background work keeps
// running alongside it).
template <class T>
T RunTask(asio::io_context& io, asio::awaitable<T> task, milliseconds limit = 30s) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result.emplace(std::move(value));
    done = true;
  });
  if (!RunUntil(io, [&] { return done; }, limit)) throw std::runtime_error("coroutine did not finish in time");
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

std::uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

bool PortAcceptsConnections(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// A private redis-server (foreground child process) that a test may SIGKILL and restart on the
// same port.
class RedisServerProcess {
 public:
  explicit RedisServerProcess(std::string password) : password_(std::move(password)), port_(FreePort()) {
    std::string pattern = (std::filesystem::temp_directory_path() / "coredb-redis-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
  }
  RedisServerProcess(const RedisServerProcess&) = delete;
  RedisServerProcess& operator=(const RedisServerProcess&) = delete;
  ~RedisServerProcess() {
    Kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void Start() {
    const std::string port = std::to_string(port_);
    const std::string log = (std::filesystem::path(dir_) / "redis.log").string();
    std::vector<std::string> args = {"redis-server", "--port", port, "--bind", "127.0.0.1", "--requirepass",
                                     password_, "--save", "", "--appendonly", "no", "--dir", dir_,
                                     "--logfile", log, "--daemonize", "no"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      pid_ = -1;
      throw std::runtime_error("cannot spawn redis-server");
    }
    const auto deadline = Clock::now() + 10s;
    while (!PortAcceptsConnections(port_)) {
      if (Clock::now() > deadline) throw std::runtime_error("redis-server did not start on port " + port);
      std::this_thread::sleep_for(10ms);
    }
  }

  void Pause() { ::kill(pid_, SIGSTOP); }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  RedisOptions Options() const {
    RedisOptions options;
    options.host = "127.0.0.1";
    options.port = port_;
    options.password = password_;
    options.name = "test-private";
    return options;
  }

 private:
  std::string password_;
  std::uint16_t port_;
  std::string dir_;
  pid_t pid_ = -1;
};

long long ElapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

// ---- fixture ----------------------------------------------------------------------------------

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("REDIS_URL");
    ASSERT_NE(url, nullptr) << "REDIS_URL is not set (e.g. redis://:secret@127.0.0.1:56379/0): "
                               "integration tests need a real Redis and never skip";
    const auto options = ParseRedisUrl(url);
    ASSERT_TRUE(options.has_value()) << "REDIS_URL is not a redis:// URL";
    base_ = *options;
    base_.name = "test";
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    prefix_ = "coredb:test:"s + info->name() + ":" + std::to_string(::getpid()) + ":";
  }

  std::unique_ptr<RedisClient> Connect(RedisOptions options) {
    auto client = std::make_unique<RedisClient>(io_.get_executor(), std::move(options));
    client->Start();
    EXPECT_TRUE(RunTask(io_, client->WaitConnected(5s))) << client->last_error();
    return client;
  }
  std::unique_ptr<RedisClient> Connect() { return Connect(base_); }

  Result<Reply> Cmd(RedisClient& client, std::vector<std::string> args,
                    std::optional<milliseconds> timeout = std::nullopt) {
    return RunTask(io_, client.Command(std::move(args), timeout));
  }

  // Starts a command without waiting for it; the result lands in the returned slot.
  std::shared_ptr<std::optional<Result<Reply>>> Launch(RedisClient& client, std::vector<std::string> args,
                                                       std::optional<milliseconds> timeout = std::nullopt) {
    auto slot = std::make_shared<std::optional<Result<Reply>>>();
    asio::co_spawn(io_, client.Command(std::move(args), timeout),
                   [slot](std::exception_ptr e, Result<Reply> r) {
                     if (e) std::rethrow_exception(e);
                     slot->emplace(std::move(r));
                   });
    return slot;
  }

  using Slots = std::vector<std::shared_ptr<std::optional<Result<Reply>>>>;
  // True once every launched command has its result.
  static bool AllAnswered(const Slots& slots) {
    return std::all_of(slots.begin(), slots.end(), [](const auto& r) { return r->has_value(); });
  }

  std::string Key(const std::string& name) const { return prefix_ + name; }

  asio::io_context io_;  // declared first: destroyed after the clients of a test
  RedisOptions base_;
  std::string prefix_;
};

void ExpectString(const Result<Reply>& result, const std::string& expected) {
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->type, Reply::Type::kString);
  EXPECT_EQ(result->str, expected);
}

void ExpectInteger(const Result<Reply>& result, long long expected) {
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->type, Reply::Type::kInteger);
  EXPECT_EQ(result->integer, expected);
}

void ExpectError(const Result<Reply>& result, ErrorCode code, const std::string& message_part) {
  ASSERT_FALSE(result.has_value()) << "unexpected reply of type " << ReplyTypeName(result->type);
  EXPECT_EQ(result.error().code, code) << result.error().message;
  EXPECT_NE(result.error().message.find(message_part), std::string::npos) << result.error().message;
}

// ---- tests against REDIS_URL ------------------------------------------------------------------

TEST_F(RedisClientTest, AuthenticatesAndSelectsTheConfiguredDatabase) {
  RedisOptions db1 = base_;
  db1.db = 1;
  RedisOptions db0 = base_;
  db0.db = 0;
  auto client1 = Connect(db1);
  auto client0 = Connect(db0);
  ASSERT_TRUE(client1->connected());
  ASSERT_TRUE(client0->connected());
  EXPECT_TRUE(client1->last_error().empty());

  const std::string key = Key("db-scoped");
  ASSERT_TRUE(Cmd(*client1, {"SET", key, "in-db-1"}).has_value());
  ExpectString(Cmd(*client1, {"GET", key}), "in-db-1");
  const auto from_db0 = Cmd(*client0, {"GET", key});
  ASSERT_TRUE(from_db0.has_value());
  EXPECT_TRUE(from_db0->is_nil()) << "a key set through db 1 must not be visible in db 0";
  ExpectInteger(Cmd(*client1, {"DEL", key}), 1);
}

TEST_F(RedisClientTest, WrongPasswordNeverConnectsAndCommandsFailFast) {
  RedisOptions options = base_;
  options.password = "definitely-not-the-password";
  options.connect_timeout = 500ms;
  options.reconnect_min = 50ms;
  options.reconnect_max = 100ms;
  RedisClient client(io_.get_executor(), options);
  client.Start();
  EXPECT_FALSE(RunTask(io_, client.WaitConnected(600ms)));
  EXPECT_FALSE(client.connected());
  EXPECT_FALSE(client.stats().connected);
  EXPECT_NE(client.last_error().find("AUTH failed"), std::string::npos) << client.last_error();
  EXPECT_EQ(client.last_error().find(options.password), std::string::npos) << "the password leaked";
  EXPECT_GE(client.stats().connect_failures_total, 2U) << "a refused AUTH is retried with backoff";
  EXPECT_EQ(client.stats().reconnects_total, 0U);

  const auto start = Clock::now();
  const auto result = Cmd(client, {"PING"});
  EXPECT_LT(ElapsedMs(start), 50);
  ExpectError(result, ErrorCode::kDatabaseUnavailable, "redis is not connected");
}

TEST_F(RedisClientTest, RoundTripsStringsIntegersAndExpiry) {
  auto client = Connect();
  const std::string key = Key("value");
  const std::string counter = Key("counter");

  const auto set = Cmd(*client, {"SET", key, "hello"});
  ASSERT_TRUE(set.has_value()) << set.error().message;
  EXPECT_EQ(set->type, Reply::Type::kStatus);
  EXPECT_EQ(set->str, "OK");
  ExpectString(Cmd(*client, {"GET", key}), "hello");

  const std::string binary = "a\0b\xff\r\n\x01 end"s;
  ASSERT_TRUE(Cmd(*client, {"SET", key, binary}).has_value());
  ExpectString(Cmd(*client, {"GET", key}), binary);
  ExpectInteger(Cmd(*client, {"STRLEN", key}), static_cast<long long>(binary.size()));

  const std::string utf8 = "h\xC3\xA9llo \xE2\x9C\x93 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80";
  const std::string binary_key = Key("k\0ey \xE2\x9C\x93"s);
  ASSERT_TRUE(Cmd(*client, {"SET", binary_key, utf8}).has_value());
  ExpectString(Cmd(*client, {"GET", binary_key}), utf8);

  ExpectInteger(Cmd(*client, {"INCR", counter}), 1);
  ExpectInteger(Cmd(*client, {"INCRBY", counter, "41"}), 42);
  ExpectInteger(Cmd(*client, {"TTL", counter}), -1);
  ExpectInteger(Cmd(*client, {"EXPIRE", counter, "100"}), 1);
  const auto ttl = Cmd(*client, {"TTL", counter});
  ASSERT_TRUE(ttl.has_value());
  EXPECT_GT(ttl->integer, 0);
  EXPECT_LE(ttl->integer, 100);
  ExpectInteger(Cmd(*client, {"TTL", Key("missing")}), -2);

  ExpectInteger(Cmd(*client, {"DEL", key, counter, binary_key}), 3);
  const auto gone = Cmd(*client, {"GET", key});
  ASSERT_TRUE(gone.has_value());
  EXPECT_TRUE(gone->is_nil());
  EXPECT_TRUE(ReplyToJson(*gone).is_null());

  ASSERT_TRUE(Cmd(*client, {"RPUSH", key, "x", "y"}).has_value());
  const auto list = Cmd(*client, {"LRANGE", key, "0", "-1"});
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(*list, Reply::Array({Reply::String("x"), Reply::String("y")}));
  ExpectInteger(Cmd(*client, {"DEL", key}), 1);
}

TEST_F(RedisClientTest, ErrorReplyIsQueryErrorWithRedisMessage) {
  auto client = Connect();
  const std::string key = Key("text");
  ASSERT_TRUE(Cmd(*client, {"SET", key, "abc"}).has_value());
  const auto errors_before = client->stats().errors_total;

  ExpectError(Cmd(*client, {"INCR", key}), ErrorCode::kQueryError, "ERR value is not an integer");
  ExpectError(Cmd(*client, {"LPUSH", key, "x"}), ErrorCode::kQueryError, "WRONGTYPE");
  ExpectError(Cmd(*client, {"NOSUCHCOMMAND", "x"}), ErrorCode::kQueryError, "unknown command");
  EXPECT_EQ(client->stats().errors_total, errors_before + 3);

  // An error reply is an answer, not a broken connection.
  EXPECT_TRUE(client->connected());
  const auto pong = Cmd(*client, {"PING"});
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->str, "PONG");
  ExpectInteger(Cmd(*client, {"DEL", key}), 1);
}

TEST_F(RedisClientTest, AnswersAThousandConcurrentCommandsOnOneConnection) {
  auto client = Connect();
  constexpr int kCommands = 1000;
  int answered = 0;
  int correct = 0;
  std::vector<std::string> keys;
  for (int i = 0; i < kCommands; ++i) keys.push_back(Key("k" + std::to_string(i)));

  const auto start = Clock::now();
  for (int i = 0; i < kCommands; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> asio::awaitable<void> {
          const std::string value = "value-" + std::to_string(i);
          // Named argv vectors: GCC 12 rejects initializer lists inside co_await expressions.
          std::vector<std::string> set_args = {"SET", keys[i], value};
          std::vector<std::string> get_args = {"GET", keys[i]};
          const auto set = co_await client->Command(std::move(set_args));
          const auto get = co_await client->Command(std::move(get_args));
          if (set && get && get->str == value) ++correct;
          ++answered;
        },
        asio::detached);
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return answered == kCommands; }, 30s));
  EXPECT_EQ(correct, kCommands);
  EXPECT_EQ(client->stats().in_flight, 0U);
  EXPECT_EQ(client->stats().timeouts_total, 0U);
  std::printf("[          ] 2000 pipelined commands from 1000 coroutines in %lld ms\n", ElapsedMs(start));

  std::vector<std::string> del = {"DEL"};
  del.insert(del.end(), keys.begin(), keys.end());
  ExpectInteger(Cmd(*client, del), kCommands);
}

TEST_F(RedisClientTest, CommandTimesOutAndTheConnectionKeepsWorking) {
  auto client = Connect();
  const auto start = Clock::now();
  // BLPOP holds the reply for 1 s on the server; the client gives up after 200 ms.
  const auto result = Cmd(*client, {"BLPOP", Key("empty-list"), "1"}, 200ms);
  const auto elapsed = ElapsedMs(start);
  ExpectError(result, ErrorCode::kDatabaseUnavailable, "redis command timed out after 200 ms");
  EXPECT_GE(elapsed, 190);
  EXPECT_LT(elapsed, 600);
  EXPECT_EQ(client->stats().timeouts_total, 1U);
  EXPECT_TRUE(client->connected());

  // The late nil reply to BLPOP is dropped; the next command gets its own answer.
  const auto pong = Cmd(*client, {"PING"}, 5s);
  ASSERT_TRUE(pong.has_value()) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
  ExpectString(Cmd(*client, {"ECHO", "after-timeout"}), "after-timeout");
  EXPECT_EQ(client->stats().in_flight, 0U);
}

TEST_F(RedisClientTest, CancelledCommandReturnsPromptlyAndTheLateReplyIsDropped) {
  auto client = Connect();
  asio::cancellation_signal signal;
  std::optional<Result<Reply>> result;
  Clock::time_point completed_at;
  asio::co_spawn(io_, client->Command({"BLPOP", Key("never"), "1"}, 5s),
                 asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e, Result<Reply> r) {
                   if (e) std::rethrow_exception(e);
                   result.emplace(std::move(r));
                   completed_at = Clock::now();
                 }));
  RunFor(io_, 100ms);
  ASSERT_FALSE(result.has_value());
  const auto cancelled_at = Clock::now();
  signal.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(RunUntil(io_, [&] { return result.has_value(); }, 2s));
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(completed_at - cancelled_at).count(), 50);
  ExpectError(*result, ErrorCode::kDatabaseUnavailable, "cancelled");

  const auto echo = Cmd(*client, {"ECHO", "still-in-order"}, 5s);
  ExpectString(echo, "still-in-order");
  EXPECT_EQ(client->stats().in_flight, 0U);
}

TEST_F(RedisClientTest, RejectsCommandsThatWouldChangeTheSharedConnection) {
  auto client = Connect();
  ExpectError(Cmd(*client, {"SUBSCRIBE", "channel"}), ErrorCode::kInvalidRequest, "SUBSCRIBE");
  ExpectError(Cmd(*client, {"select", "2"}), ErrorCode::kInvalidRequest, "SELECT");
  ExpectError(Cmd(*client, {"Monitor"}), ErrorCode::kInvalidRequest, "MONITOR");
  ExpectError(Cmd(*client, {"MULTI"}), ErrorCode::kInvalidRequest, "MULTI");
  ExpectError(Cmd(*client, {"client", "reply", "off"}), ErrorCode::kInvalidRequest, "CLIENT REPLY");
  ExpectError(Cmd(*client, {}), ErrorCode::kInvalidRequest, "empty");
  EXPECT_FALSE(RedisClient::RejectReason({"CLIENT", "SETNAME", "x"}).has_value());
  EXPECT_FALSE(RedisClient::RejectReason({"GET", "k"}).has_value());
  ExpectString(Cmd(*client, {"ECHO", "fine"}), "fine");
}

TEST_F(RedisClientTest, TransactionRunsItsCommandsTogether) {
  auto client = Connect();
  const std::string key = Key("tx");
  const auto ok = RunTask(io_, client->Transaction({{"SET", key, "1"}, {"INCR", key}, {"GET", key}}));
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(*ok, Reply::Array({Reply::Status("OK"), Reply::Integer(2), Reply::String("2")}));

  // A command failing at run time stays an element of EXEC's reply.
  ASSERT_TRUE(Cmd(*client, {"SET", key, "text"}).has_value());
  const auto partial = RunTask(io_, client->Transaction({{"INCR", key}, {"GET", key}}));
  ASSERT_TRUE(partial.has_value()) << partial.error().message;
  ASSERT_EQ(partial->elements.size(), 2U);
  EXPECT_EQ(partial->elements[0].type, Reply::Type::kError);
  EXPECT_EQ(partial->elements[1], Reply::String("text"));

  // A command Redis refuses to queue aborts everything, with that command's error.
  const auto aborted = RunTask(io_, client->Transaction({{"SET", key, "changed"}, {"SET", key}}));
  ExpectError(aborted, ErrorCode::kQueryError, "wrong number of arguments");
  ExpectString(Cmd(*client, {"GET", key}), "text");
  EXPECT_EQ(client->stats().in_flight, 0U);
  ExpectInteger(Cmd(*client, {"DEL", key}), 1);
}

TEST_F(RedisClientTest, BoundsCommandsInFlight) {
  RedisOptions options = base_;
  options.max_pending = 10;
  auto client = Connect(options);
  Slots results;
  for (int i = 0; i < 20; ++i) results.push_back(Launch(*client, {"PING"}));
  ASSERT_TRUE(RunUntil(io_, [&] { return AllAnswered(results); }));
  int answered = 0;
  int refused = 0;
  for (const auto& r : results) {
    if ((*r)->has_value()) {
      ++answered;
    } else if ((*r)->error().message == "too many pending redis commands") {
      EXPECT_EQ((*r)->error().code, ErrorCode::kDatabaseUnavailable);
      ++refused;
    }
  }
  EXPECT_EQ(answered, 10);
  EXPECT_EQ(refused, 10);
  ExpectString(Cmd(*client, {"ECHO", "room again"}), "room again");
}

TEST_F(RedisClientTest, HugeValueRoundTrips) {
  auto client = Connect();
  const std::string key = Key("huge");
  std::string value(8 * 1024 * 1024, '\0');
  std::mt19937 rng(7);
  for (char& c : value) c = static_cast<char>(rng() & 0xFF);
  ASSERT_TRUE(Cmd(*client, {"SET", key, value}, 20s).has_value());
  const auto got = Cmd(*client, {"GET", key}, 20s);
  ASSERT_TRUE(got.has_value()) << got.error().message;
  EXPECT_EQ(got->str.size(), value.size());
  EXPECT_TRUE(got->str == value);
  ExpectInteger(Cmd(*client, {"DEL", key}), 1);
}

TEST_F(RedisClientTest, ConnectTimesOutWhenTheServerNeverAnswers) {
  // A listening socket that never accepts: TCP connects (the kernel's backlog), PING never
  // gets an answer.
  asio::ip::tcp::acceptor silent(io_, {asio::ip::make_address("127.0.0.1"), 0});
  RedisOptions options;
  options.port = silent.local_endpoint().port();
  options.connect_timeout = 200ms;
  options.reconnect_min = 20ms;
  options.reconnect_max = 50ms;
  options.name = "silent";
  RedisClient client(io_.get_executor(), options);
  client.Start();
  EXPECT_FALSE(RunTask(io_, client.WaitConnected(700ms)));
  EXPECT_NE(client.last_error().find("connect timed out after 200 ms"), std::string::npos) << client.last_error();
  EXPECT_GE(client.stats().connect_failures_total, 2U);
  const auto start = Clock::now();
  ExpectError(Cmd(client, {"PING"}), ErrorCode::kDatabaseUnavailable, "not connected");
  EXPECT_LT(ElapsedMs(start), 50);
}

TEST_F(RedisClientTest, StopFailsCommandsInFlightAndStopsReconnecting) {
  auto client = Connect();
  Slots in_flight;
  for (int i = 0; i < 3; ++i) in_flight.push_back(Launch(*client, {"BLPOP", Key("stop"), "1"}, 5s));
  in_flight.push_back(Launch(*client, {"PING"}, 5s));  // queued behind the BLPOPs
  RunFor(io_, 50ms);
  EXPECT_EQ(client->stats().in_flight, 4U);

  const auto stop_at = Clock::now();
  client->Stop();
  ASSERT_TRUE(RunUntil(io_, [&] { return AllAnswered(in_flight); }, 2s));
  EXPECT_LT(ElapsedMs(stop_at), 50);
  for (const auto& r : in_flight) ExpectError(**r, ErrorCode::kDatabaseUnavailable, "redis client stopped");
  EXPECT_FALSE(client->connected());
  EXPECT_EQ(client->stats().in_flight, 0U);
  ExpectError(Cmd(*client, {"PING"}), ErrorCode::kDatabaseUnavailable, "not connected");

  const auto failures = client->stats().connect_failures_total;
  RunFor(io_, 300ms);
  EXPECT_FALSE(client->connected()) << "a stopped client must not reconnect";
  EXPECT_EQ(client->stats().connect_failures_total, failures);
  EXPECT_FALSE(RunTask(io_, client->WaitConnected(100ms)));

  client->Start();  // a stopped client can be started again
  EXPECT_TRUE(RunTask(io_, client->WaitConnected(5s)));
  ExpectString(Cmd(*client, {"ECHO", "back"}), "back");
}

TEST_F(RedisClientTest, DestroyingTheClientCompletesCommandsInFlight) {
  auto client = Connect();
  auto blocked = Launch(*client, {"BLPOP", Key("destroy"), "1"}, 5s);
  bool waiter_done = false;
  bool waiter_connected = true;
  RedisOptions unreachable;
  unreachable.port = FreePort();
  auto never = std::make_unique<RedisClient>(io_.get_executor(), unreachable);
  never->Start();
  asio::co_spawn(io_, never->WaitConnected(10s), [&](std::exception_ptr, bool connected) {
    waiter_done = true;
    waiter_connected = connected;
  });
  RunFor(io_, 50ms);
  client.reset();
  never.reset();
  ASSERT_TRUE(RunUntil(io_, [&] { return blocked->has_value() && waiter_done; }, 2s));
  ExpectError(**blocked, ErrorCode::kDatabaseUnavailable, "stopped");
  EXPECT_FALSE(waiter_connected);
  RunFor(io_, 200ms);  // stale timer and descriptor handlers run against nothing
}

// ---- a private redis-server that the test kills and restarts ----------------------------------

TEST_F(RedisClientTest, SurvivesServerKillAndReconnectsAfterRestart) {
  RedisServerProcess server("private-secret");
  server.Start();
  RedisOptions options = server.Options();
  options.reconnect_min = 50ms;
  options.reconnect_max = 500ms;
  auto client = Connect(options);
  ASSERT_TRUE(client->connected());
  ASSERT_TRUE(Cmd(*client, {"SET", "k", "v"}).has_value());

  auto blocked = Launch(*client, {"BLPOP", "list", "30"}, 60s);
  auto queued = Launch(*client, {"PING"}, 60s);
  RunFor(io_, 50ms);
  ASSERT_FALSE(blocked->has_value());

  const auto killed_at = Clock::now();
  server.Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return blocked->has_value() && queued->has_value(); }, 5s));
  EXPECT_LT(ElapsedMs(killed_at), 1000) << "commands in flight must fail fast when the server dies";
  ExpectError(**blocked, ErrorCode::kDatabaseUnavailable, "redis connection lost");
  ExpectError(**queued, ErrorCode::kDatabaseUnavailable, "redis connection lost");
  EXPECT_FALSE(client->connected());

  auto start = Clock::now();
  ExpectError(Cmd(*client, {"PING"}), ErrorCode::kDatabaseUnavailable, "not connected");
  EXPECT_LT(ElapsedMs(start), 50);
  RunFor(io_, 300ms);  // a few refused attempts
  EXPECT_FALSE(client->connected());
  EXPECT_GE(client->stats().connect_failures_total, 1U);

  server.Start();  // same port
  const auto restarted_at = Clock::now();
  ASSERT_TRUE(RunTask(io_, client->WaitConnected(5s))) << client->last_error();
  EXPECT_LT(ElapsedMs(restarted_at), 2000) << "backoff is capped at 500 ms here";
  EXPECT_EQ(client->stats().reconnects_total, 1U);
  const auto pong = Cmd(*client, {"PING"});
  ASSERT_TRUE(pong.has_value()) << pong.error().message;
  EXPECT_EQ(pong->str, "PONG");
  // The restarted server is empty (no persistence): a new connection, not a replayed one.
  const auto k = Cmd(*client, {"GET", "k"});
  ASSERT_TRUE(k.has_value());
  EXPECT_TRUE(k->is_nil());
}

TEST_F(RedisClientTest, KillDuringAHeavyPipelineAnswersEveryCommand) {
  RedisServerProcess server("private-secret");
  server.Start();
  RedisOptions options = server.Options();
  options.reconnect_min = 20ms;
  options.reconnect_max = 100ms;
  auto client = Connect(options);
  Slots results;
  const std::string value(4 * 1024, 'x');
  for (int i = 0; i < 2000; ++i) {
    results.push_back(Launch(*client, {"SET", "key" + std::to_string(i % 50), value}, 10s));
  }
  ASSERT_TRUE(RunUntil(io_, [&] { return results[100]->has_value(); }, 5s));  // some answered
  server.Kill();
  ASSERT_TRUE(RunUntil(io_, [&] { return AllAnswered(results); }, 5s)) << "every command in flight must complete when the server dies";
  int answered = 0;
  for (const auto& r : results) {
    if ((*r)->has_value()) {
      ++answered;
    } else {
      EXPECT_EQ((*r)->error().code, ErrorCode::kDatabaseUnavailable) << (*r)->error().message;
    }
  }
  EXPECT_GT(answered, 100);  // replies already in the socket buffer still arrive
  ASSERT_TRUE(RunUntil(io_, [&] { return !client->connected(); }, 5s));
  EXPECT_EQ(client->stats().in_flight, 0U);
  server.Start();
  ASSERT_TRUE(RunTask(io_, client->WaitConnected(5s))) << client->last_error();
  ExpectString(Cmd(*client, {"ECHO", "again"}), "again");
}

TEST_F(RedisClientTest, ConnectionResetByTheServerFailsCommandsCleanly) {
  // Killed with unread input, the server resets the connection (RST, not FIN): reads and writes
  // then fail with ECONNRESET instead of seeing an orderly end of stream.
  RedisServerProcess server("private-secret");
  server.Start();
  RedisOptions options = server.Options();
  options.reconnect_min = 20ms;
  options.reconnect_max = 100ms;
  auto client = Connect(options);
  server.Pause();  // stops reading: the next command stays unread in its socket buffer
  auto unread = Launch(*client, {"PING"}, 5s);
  RunFor(io_, 50ms);
  server.Kill();  // closing a socket with unread data sends RST, not FIN
  std::this_thread::sleep_for(50ms);
  auto after_reset = Launch(*client, {"SET", "k", std::string(64 * 1024, 'x')}, 5s);
  ASSERT_TRUE(RunUntil(io_, [&] { return unread->has_value() && after_reset->has_value(); }, 5s));
  ExpectError(**unread, ErrorCode::kDatabaseUnavailable, "redis connection lost");
  ExpectError(**after_reset, ErrorCode::kDatabaseUnavailable, "redis connection lost");
  EXPECT_FALSE(client->connected());
}

TEST_F(RedisClientTest, BoundsBytesWaitingToBeWritten) {
  RedisOptions options = base_;
  options.max_buffered_bytes = 1024 * 1024;
  auto client = Connect(options);
  const std::string value(64 * 1024, 'v');
  Slots results;
  for (int i = 0; i < 40; ++i) results.push_back(Launch(*client, {"SET", Key("buffered"), value}, 5s));
  ASSERT_TRUE(RunUntil(io_, [&] { return AllAnswered(results); }));
  int written = 0;
  int refused = 0;
  for (const auto& r : results) {
    if ((*r)->has_value()) {
      ++written;
    } else {
      ExpectError(**r, ErrorCode::kDatabaseUnavailable, "redis write buffer is full");
      ++refused;
    }
  }
  EXPECT_GE(written, 10);
  EXPECT_GE(refused, 1);
  // Once flushed there is room again, and a single command larger than the bound still goes.
  const std::string large(2 * 1024 * 1024, 'L');
  ASSERT_TRUE(Cmd(*client, {"SET", Key("buffered"), large}).has_value());
  ExpectInteger(Cmd(*client, {"STRLEN", Key("buffered")}), static_cast<long long>(large.size()));
  ExpectInteger(Cmd(*client, {"DEL", Key("buffered")}), 1);
}

TEST_F(RedisClientTest, StartsBeforeTheServerAndConnectsWhenItComesUp) {
  RedisServerProcess server("private-secret");
  RedisOptions options = server.Options();
  options.reconnect_min = 20ms;
  options.reconnect_max = 200ms;
  RedisClient client(io_.get_executor(), options);
  client.Start();
  RunFor(io_, 200ms);
  EXPECT_FALSE(client.connected());
  EXPECT_NE(client.last_error().find("refused"), std::string::npos) << client.last_error();
  server.Start();
  ASSERT_TRUE(RunTask(io_, client.WaitConnected(3s))) << client.last_error();
  EXPECT_EQ(client.stats().reconnects_total, 0U) << "the first connection is not a reconnect";
  ExpectString(Cmd(client, {"ECHO", "up"}), "up");
}

TEST_F(RedisClientTest, ResolvesHostNamesPreferringIpv4) {
  RedisServerProcess server("private-secret");  // listens on 127.0.0.1 only
  server.Start();
  RedisOptions options = server.Options();
  options.host = "localhost";  // resolves to ::1 and 127.0.0.1
  auto client = Connect(options);
  ExpectString(Cmd(*client, {"ECHO", "by name"}), "by name");
}

TEST(RedisUrlForTests, ParsesTheFormsTheTestEnvironmentUses) {
  const auto a = ParseRedisUrl("redis://:secret@127.0.0.1:56379/1");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 56379);
  EXPECT_EQ(a->password, "secret");
  EXPECT_TRUE(a->username.empty());
  EXPECT_EQ(a->db, 1);
  const auto b = ParseRedisUrl("redis://user:p%40ss@redis");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->host, "redis");
  EXPECT_EQ(b->port, 6379);
  EXPECT_EQ(b->username, "user");
  EXPECT_EQ(b->password, "p@ss");
  EXPECT_EQ(b->db, 0);
}

}  // namespace
}  // namespace coredb::redis
