#include "coredb/http/auth_throttle.hpp"

#include <gtest/gtest.h>

#include <string>

namespace coredb::http {
namespace {

using namespace std::chrono_literals;
namespace asio_ip = boost::asio::ip;
using Clock = AuthThrottle::Clock;

asio_ip::address A(const char* text) { return asio_ip::make_address(text); }

TEST(AuthThrottle, TheNthFailureThrottlesTheSourceUntilItsWindowEnds) {
  AuthThrottle t({.limit = 3, .window = 10s, .max_sources = 100});
  const Clock::time_point t0{1000s};
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(t.Refuse("1.2.3.4", t0 + std::chrono::seconds(i))) << i;
    t.Failed("1.2.3.4", t0 + std::chrono::seconds(i));
  }
  auto wait = t.Refuse("1.2.3.4", t0 + 2500ms);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 8);  // the window started at t0: 7.5 s left, rounded up
  EXPECT_FALSE(t.Refuse("5.6.7.8", t0 + 3s)) << "another source is not affected";
  EXPECT_EQ(t.Refuse("1.2.3.4", t0 + 9999ms).value_or(0), 1);
  EXPECT_FALSE(t.Refuse("1.2.3.4", t0 + 10s)) << "a new window starts clean";
  t.Failed("1.2.3.4", t0 + 10s);
  EXPECT_FALSE(t.Refuse("1.2.3.4", t0 + 10s));
  EXPECT_EQ(t.stats().failures, 4u);
  EXPECT_EQ(t.stats().throttled, 2u);
}

TEST(AuthThrottle, ZeroLimitTurnsItOff) {
  AuthThrottle t({.limit = 0, .window = 10s, .max_sources = 100});
  for (int i = 0; i < 100; ++i) t.Failed("1.2.3.4", Clock::time_point{1s});
  EXPECT_FALSE(t.Refuse("1.2.3.4", Clock::time_point{1s}));
  EXPECT_EQ(t.tracked(), 0u);
}

TEST(AuthThrottle, AFullTableDropsExpiredSourcesAndCountsTheOnesItCannotTrack) {
  AuthThrottle t({.limit = 1, .window = 10s, .max_sources = 2});
  const Clock::time_point t0{1000s};
  t.Failed("a", t0);
  t.Failed("b", t0);
  t.Failed("c", t0 + 1s);  // full, nothing expired: not tracked
  EXPECT_EQ(t.tracked(), 2u);
  EXPECT_EQ(t.stats().untracked, 1u);
  EXPECT_FALSE(t.Refuse("c", t0 + 1s));
  EXPECT_TRUE(t.Refuse("a", t0 + 1s));
  t.Failed("c", t0 + 11s);  // a and b expired: dropped, c tracked
  EXPECT_EQ(t.tracked(), 1u);
  EXPECT_TRUE(t.Refuse("c", t0 + 12s));
}

TEST(SourceKey, Ipv4IsItselfIpv6ItsSlash64AndMappedIpv4TheIpv4) {
  EXPECT_EQ(SourceKey(A("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(SourceKey(A("::ffff:10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(SourceKey(A("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), "2001:db8:1:2::/64");
  EXPECT_EQ(SourceKey(A("2001:db8:1:2::1")), SourceKey(A("2001:db8:1:2:ffff::9")));
  EXPECT_NE(SourceKey(A("2001:db8:1:2::1")), SourceKey(A("2001:db8:1:3::1")));
}

TEST(TrustedProxies, AddressesAndNetworksOfBothFamilies) {
  std::string error;
  auto trusted = TrustedProxies::Parse({"10.0.0.0/8", " 192.168.1.7 ", "fd00::/8", "::1", ""}, &error);
  ASSERT_TRUE(trusted) << error;
  EXPECT_TRUE(trusted->Contains(A("10.255.0.1")));
  EXPECT_TRUE(trusted->Contains(A("::ffff:10.0.0.1")));
  EXPECT_FALSE(trusted->Contains(A("11.0.0.1")));
  EXPECT_TRUE(trusted->Contains(A("192.168.1.7")));
  EXPECT_FALSE(trusted->Contains(A("192.168.1.8")));
  EXPECT_TRUE(trusted->Contains(A("fd12::5")));
  EXPECT_FALSE(trusted->Contains(A("fe80::1")));
  EXPECT_TRUE(trusted->Contains(A("::1")));
  EXPECT_TRUE(TrustedProxies::Parse({"0.0.0.0/0"})->Contains(A("8.8.8.8")));
  for (const char* bad : {"10.0.0.0/33", "example.com", "10.0.0.1/8x", "1.2.3"}) {
    EXPECT_FALSE(TrustedProxies::Parse({bad}, &error)) << bad;
    EXPECT_NE(error.find(bad), std::string::npos) << error;
  }
}

TEST(ClientAddress, XForwardedForIsReadOnlyFromATrustedPeerRightToLeft) {
  auto trusted = *TrustedProxies::Parse({"10.0.0.0/8"});
  // An untrusted peer's header is ignored: it could claim anything.
  EXPECT_EQ(ClientAddress(A("203.0.113.9"), "1.1.1.1", trusted), A("203.0.113.9"));
  // A trusted proxy: the rightmost entry it appended is the client.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "198.51.100.4", trusted), A("198.51.100.4"));
  // The client's own claim left of it does not count; trusted hops are skipped.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "1.1.1.1, 198.51.100.4, 10.0.0.3", trusted), A("198.51.100.4"));
  // Only trusted hops: the leftmost of them.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "10.0.0.5,10.0.0.3", trusted), A("10.0.0.5"));
  // Garbage: the nearest hop that could be read.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "nonsense", trusted), A("10.0.0.2"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "nonsense, 10.0.0.7", trusted), A("10.0.0.7"));
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "", trusted), A("10.0.0.2"));
  // No trusted proxies: always the peer.
  EXPECT_EQ(ClientAddress(A("10.0.0.2"), "198.51.100.4", TrustedProxies{}), A("10.0.0.2"));
}

}  // namespace
}  // namespace coredb::http
