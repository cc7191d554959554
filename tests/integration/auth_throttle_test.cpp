// Token guessing against the binary (issue 22): after AUTH_FAILURE_LIMIT refused tokens from one
// source in AUTH_FAILURE_WINDOW, that source gets 429 + Retry-After without a lookup, while other
// sources (and the valid token from them) keep working; X-Forwarded-For counts only from
// TRUSTED_PROXIES. Sources are told apart by binding the client socket to 127.0.0.x.
#include "support/metrics_scrape.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

namespace coredb::testing {
namespace {

using namespace std::chrono_literals;

struct Answer {
  unsigned status = 0;
  std::string retry_after;
  std::string body;
};

// GET /api/v1/connections/stats from `source` (a 127.0.0.x address) with `token`.
Answer From(const char* source, std::uint16_t port, const std::string& token, const std::string& forwarded = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) throw std::runtime_error("bind");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("connect");
  std::string request = "GET /api/v1/connections/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " +
                        token + "\r\n";
  if (!forwarded.empty()) request += "X-Forwarded-For: " + forwarded + "\r\n";
  request += "\r\n";
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string raw;
  char buf[4096];
  for (const auto until = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < until;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  Answer a;
  if (raw.size() > 12) a.status = static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
  if (auto at = raw.find("\r\nRetry-After: "); at != std::string::npos) {
    a.retry_after = raw.substr(at + 15, raw.find("\r\n", at + 15) - at - 15);
  }
  if (auto at = raw.find("\r\n\r\n"); at != std::string::npos) a.body = raw.substr(at + 4);
  return a;
}

const std::string kWrong = "wrong-token-0123456789abcdef0123456789";

TEST(AuthThrottle, AGuessingSourceGets429WhileOthersAndTheValidTokenKeepWorking) {
  ServiceProcess svc({{"AUTH_FAILURE_LIMIT", "5"}, {"AUTH_FAILURE_WINDOW", "3000"}});
  for (int i = 0; i < 5; ++i) {
    auto a = From("127.0.0.1", svc.port(), kWrong + std::to_string(i));
    EXPECT_EQ(a.status, 401u) << i << ": " << a.body;
  }
  auto throttled = From("127.0.0.1", svc.port(), kWrong);
  EXPECT_EQ(throttled.status, 429u) << throttled.body;
  EXPECT_NE(throttled.body.find("RATE_LIMITED"), std::string::npos) << throttled.body;
  ASSERT_FALSE(throttled.retry_after.empty());
  EXPECT_GE(std::stoi(throttled.retry_after), 1);
  EXPECT_LE(std::stoi(throttled.retry_after), 3);
  // The source is throttled, whatever it presents (no lookup is made) ...
  EXPECT_EQ(From("127.0.0.1", svc.port(), svc.admin_token()).status, 429u);
  // ... a claimed X-Forwarded-For from an untrusted peer changes nothing ...
  EXPECT_EQ(From("127.0.0.1", svc.port(), svc.admin_token(), "198.51.100.7").status, 429u);
  // ... and the valid token works from every other source.
  auto other = From("127.0.0.2", svc.port(), svc.admin_token());
  EXPECT_EQ(other.status, 200u) << other.body;
  EXPECT_EQ(From("127.0.0.3", svc.port(), kWrong).status, 401u) << "another guesser starts with its own count";

  auto metrics = Scrape(svc);
  EXPECT_GE(metrics.Value("coredb_auth_failures_total", {}).value_or(0), 6);
  EXPECT_GE(metrics.Value("coredb_auth_throttled_total", {}).value_or(0), 3);

  // Once the window is over, the source is heard again.
  std::this_thread::sleep_for(3100ms);
  auto later = From("127.0.0.1", svc.port(), svc.admin_token());
  EXPECT_EQ(later.status, 200u) << later.body;
}

TEST(AuthThrottle, BehindATrustedProxyTheForwardedClientIsTheSource) {
  ServiceProcess svc({{"AUTH_FAILURE_LIMIT", "3"}, {"AUTH_FAILURE_WINDOW", "60000"}, {"TRUSTED_PROXIES", "127.0.0.1"}});
  // The client's own claim (left) does not count; what the proxy appended (right) does.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(From("127.0.0.1", svc.port(), kWrong, "10.9.9.9, 203.0.113.5").status, 401u) << i;
  }
  EXPECT_EQ(From("127.0.0.1", svc.port(), svc.admin_token(), "203.0.113.5").status, 429u);
  EXPECT_EQ(From("127.0.0.1", svc.port(), svc.admin_token(), "10.9.9.9, 203.0.113.6").status, 200u)
      << "another client behind the same proxy";
  EXPECT_EQ(From("127.0.0.1", svc.port(), svc.admin_token()).status, 200u) << "the proxy's own address is not throttled";
}

}  // namespace
}  // namespace coredb::testing
