// Guessing tokens costs the guesser: after `limit` failed authentications from one source in a
// window, that source is answered 429 RATE_LIMITED with Retry-After until the window ends,
// without a token lookup. Only the source is throttled, never a token: a valid token keeps
// working from every other source (no lockout an attacker could cause).
//
// The source is the peer's address, an IPv6 peer's /64 (one host usually holds a whole /64), or,
// when the peer is one of TRUSTED_PROXIES, the rightmost X-Forwarded-For entry that is not itself
// a trusted proxy (what the nearest trusted proxy saw; the entries left of it are the client's
// own claims). The table holds at most `max_sources`; past that, expired entries are dropped, and
// a new source finds no room only while that many sources are guessing at once (it is then not
// tracked, and counted).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace coredb::http {

// TRUSTED_PROXIES: addresses or networks ("10.0.0.0/8", "::1", "fd00::/8").
class TrustedProxies {
 public:
  // nullopt (with `error` set) when an entry is neither an address nor a network.
  static std::optional<TrustedProxies> Parse(const std::vector<std::string>& entries, std::string* error = nullptr);
  bool Contains(const boost::asio::ip::address& address) const;
  bool empty() const { return networks_.empty(); }

 private:
  std::vector<std::variant<boost::asio::ip::network_v4, boost::asio::ip::network_v6>> networks_;
};

// Who is authenticating: `peer` itself, or the X-Forwarded-For client when `peer` is trusted.
boost::asio::ip::address ClientAddress(const boost::asio::ip::address& peer, std::string_view x_forwarded_for,
                                       const TrustedProxies& trusted);
// The throttle's key for `address`: the address (IPv4, or IPv4-mapped IPv6), or the /64 of IPv6.
std::string SourceKey(const boost::asio::ip::address& address);

struct AuthThrottleOptions {
  std::size_t limit = 20;  // failures per window; 0: no throttling
  std::chrono::milliseconds window{10000};
  std::size_t max_sources = 65536;
};

struct AuthThrottleStats {
  std::uint64_t failures = 0;   // failed authentications recorded
  std::uint64_t throttled = 0;  // requests refused without a lookup
  std::uint64_t untracked = 0;  // failures of a source the full table had no room for
};

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AuthThrottle(AuthThrottleOptions options) : options_(options) {}

  // Whole seconds until `source` may try again (at least 1), or nullopt when it may try now.
  // Counts a refusal.
  std::optional<std::int64_t> Refuse(const std::string& source, Clock::time_point now);
  // Records a failed authentication from `source`.
  void Failed(const std::string& source, Clock::time_point now);

  const AuthThrottleStats& stats() const { return stats_; }
  std::size_t tracked() const { return sources_.size(); }

 private:
  struct Window {
    Clock::time_point start;
    std::size_t failures = 0;
  };
  void DropExpired(Clock::time_point now);

  AuthThrottleOptions options_;
  std::unordered_map<std::string, Window> sources_;
  Clock::time_point last_sweep_{};
  AuthThrottleStats stats_;
};

}  // namespace coredb::http
