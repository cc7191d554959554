#include "support/service_process.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <libpq-fe.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <random>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace coredb::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace std::chrono_literals;

std::string RequireEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    ADD_FAILURE() << name << " is not set: run the tests through scripts/test (it starts the dev stack)";
    throw std::runtime_error(std::string(name) + " not set");
  }
  return v;
}

std::string HttpResult::Header(const std::string& name) const {
  std::string lower;
  for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = headers.find(lower);
  return it == headers.end() ? std::string() : it->second;
}

std::string HttpResult::ErrorCode() const {
  if (!json.is_object()) return {};
  const auto* e = json.as_object().if_contains("error");
  if (e == nullptr || !e->is_object()) return {};
  const auto* c = e->as_object().if_contains("code");
  return c != nullptr && c->is_string() ? std::string(c->as_string()) : std::string();
}

ServiceProcess::ServiceProcess(std::map<std::string, std::string> env) {
  std::random_device rd;
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) token_ += kHex[rd() % 16];

  std::map<std::string, std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) vars[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  RequireEnv("DATABASE_URL");
  RequireEnv("REDIS_URL");
  RequireEnv("VECTOR_URL");
  vars["PORT"] = "0";
  vars["HOST"] = "127.0.0.1";
  vars["COREDB_ADMIN_TOKEN"] = token_;
  if (!vars.count("LOG_LEVEL")) vars["LOG_LEVEL"] = "info";
  for (auto& [k, v] : env) vars[k] = v;
  std::vector<std::string> storage;
  for (auto& [k, v] : vars) storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : storage) envp.push_back(s.data());
  envp.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    const char* argv[] = {COREDB_BINARY, "serve", nullptr};
    execve(COREDB_BINARY, const_cast<char**>(argv), envp.data());
    _exit(127);
  }
  close(fds[1]);
  stdout_fd_ = fds[0];
  reader_ = std::thread([this] {
    char buf[4096];
    for (;;) {
      ssize_t n = read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard lock(mutex_);
      output_.append(buf, static_cast<std::size_t>(n));
    }
  });
  // The service logs {"msg":"listening",...,"port":N} once it accepts connections.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mutex_);
      auto pos = output_.find("\"msg\":\"listening\"");
      if (pos != std::string::npos) {
        auto p = output_.find("\"port\":", pos);
        if (p != std::string::npos) {
          port_ = static_cast<std::uint16_t>(std::atoi(output_.c_str() + p + 7));
          break;
        }
      }
    }
    if (!running()) break;
    std::this_thread::sleep_for(20ms);
  }
  if (port_ == 0) {
    std::string out = Output();
    Terminate(5s);
    // The destructor will not run: join the reader here, or its std::thread ends the test run.
    if (reader_.joinable()) reader_.join();
    throw std::runtime_error("coredb did not start listening; output:\n" + out);
  }
}

ServiceProcess::~ServiceProcess() {
  if (pid_ > 0) Terminate(20s);
  if (reader_.joinable()) reader_.join();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

bool ServiceProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int ServiceProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(10ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

std::string ServiceProcess::Output() {
  std::lock_guard lock(mutex_);
  return output_;
}

bool ServiceProcess::WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Output().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

HttpResult ServiceProcess::Request(const std::string& method, const std::string& target, const std::string& body,
                                   std::map<std::string, std::string> headers, std::optional<std::string> token) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::http::request<beast::http::string_body> req{beast::http::string_to_verb(method), target, 11};
  req.set(beast::http::field::host, "127.0.0.1");
  std::string bearer = token.value_or(token_);
  if (!bearer.empty()) req.set(beast::http::field::authorization, "Bearer " + bearer);
  if (!body.empty()) req.set(beast::http::field::content_type, "application/json");
  for (auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  beast::http::write(stream, req);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  stream.expires_after(120s);
  beast::http::read(stream, buffer, parser);
  auto& res = parser.get();
  HttpResult out;
  out.status = res.result_int();
  for (auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(f.value());
  }
  out.body = res.body();
  boost::system::error_code ec;
  out.json = boost::json::parse(out.body, ec);
  if (ec) out.json = nullptr;
  return out;
}

HttpResult ServiceProcess::Post(const std::string& target, const boost::json::value& body) {
  return Request("POST", target, boost::json::serialize(body));
}

HttpResult ServiceProcess::Get(const std::string& target) { return Request("GET", target); }

HttpResult ServiceProcess::Query(const boost::json::value& body) { return Post("/api/v1/query", body); }

std::string RawExchange(std::uint16_t port, const std::string& bytes, std::chrono::milliseconds timeout,
                        bool close_write) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    throw std::runtime_error("connect failed");
  }
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early (e.g. 413) — that is what some tests check
    sent += static_cast<std::size_t>(n);
  }
  if (close_write) shutdown(fd, SHUT_WR);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[8192];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                    deadline - std::chrono::steady_clock::now())
                                    .count());
    if (poll(&p, 1, std::max(left, 1)) <= 0) break;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

Psql::Psql(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(static_cast<PGconn*>(conn_)) != CONNECTION_OK) {
    std::string err = PQerrorMessage(static_cast<PGconn*>(conn_));
    PQfinish(static_cast<PGconn*>(conn_));
    conn_ = nullptr;
    throw std::runtime_error("psql connect failed: " + err);
  }
}

Psql::~Psql() {
  if (conn_ != nullptr) PQfinish(static_cast<PGconn*>(conn_));
}

std::vector<std::vector<std::string>> Psql::Exec(const std::string& sql) {
  PGresult* res = PQexec(static_cast<PGconn*>(conn_), sql.c_str());
  auto status = PQresultStatus(res);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string err = PQresultErrorMessage(res);
    PQclear(res);
    throw std::runtime_error("query failed: " + err);
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(res); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res); ++c) {
      row.push_back(PQgetisnull(res, r, c) ? "<null>" : PQgetvalue(res, r, c));
    }
    rows.push_back(std::move(row));
  }
  PQclear(res);
  return rows;
}

std::string Psql::Scalar(const std::string& sql) {
  auto rows = Exec(sql);
  if (rows.empty() || rows[0].empty()) throw std::runtime_error("no value from: " + sql);
  return rows[0][0];
}

void Devstack(const std::string& action) {
  std::string script = RequireEnv("COREDB_DEVSTACK");
  std::string dir = RequireEnv("COREDB_DEVSTACK_DIR");
  std::string cmd = "'" + script + "' " + action + " '" + dir + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("devstack " + action + " failed");
}

}  // namespace coredb::testing
