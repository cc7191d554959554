// Test support: runs the built `coredb` binary as a child process on port 0 against the dev
// stack (DATABASE_URL, REDIS_URL, VECTOR_URL from the environment), and talks HTTP to it.
// Black-box tests use only this: what a client of the service would see.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace coredb::testing {

// The value of an environment variable the test suite cannot run without (fails the test
// with a clear message instead of skipping).
std::string RequireEnv(const char* name);

struct HttpResult {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  boost::json::value json;  // parsed body when it is JSON, null otherwise

  std::string Header(const std::string& name) const;
  // error.code or "" when the body is not an error.
  std::string ErrorCode() const;
};

class ServiceProcess {
 public:
  // `env` adds to / overrides the dev stack's variables (e.g. {"PG_POOL_SIZE","2"}).
  using Env = std::map<std::string, std::string>;
  explicit ServiceProcess(Env env = Env());
  ~ServiceProcess();
  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& admin_token() const { return token_; }
  pid_t pid() const { return pid_; }

  // Sends SIGTERM and waits for exit; returns the exit status (or -1 on timeout).
  int Terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool running();
  // Everything the process printed so far.
  std::string Output();
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);

  // One request on a fresh connection. `token` empty → no Authorization header.
  HttpResult Request(const std::string& method, const std::string& target, const std::string& body = {},
                     std::map<std::string, std::string> headers = {}, std::optional<std::string> token = std::nullopt);
  HttpResult Post(const std::string& target, const boost::json::value& body);
  HttpResult Get(const std::string& target);
  // POST /api/v1/query with the admin token.
  HttpResult Query(const boost::json::value& body);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::uint16_t port_ = 0;
  std::string token_;
  std::thread reader_;
  std::mutex mutex_;
  std::string output_;
};

// Raw HTTP over a socket, for malformed requests and pipelining: sends `bytes`, reads until
// the peer closes or `timeout`, returns everything read.
std::string RawExchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout,
                        bool close_write = false);

// Superuser/app connection for assertions on the database itself (blocking libpq; tests only).
class Psql {
 public:
  explicit Psql(const std::string& conninfo);
  ~Psql();
  // Returns rows as text (NULL → "<null>"); throws std::runtime_error on failure.
  std::vector<std::vector<std::string>> Exec(const std::string& sql);
  std::string Scalar(const std::string& sql);

 private:
  void* conn_ = nullptr;
};

// Runs `scripts/devstack <action>` on the test's dev stack (pg-kill, pg-start, redis-kill, redis-start).
void Devstack(const std::string& action);

}  // namespace coredb::testing
