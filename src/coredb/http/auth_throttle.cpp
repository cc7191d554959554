#include "coredb/http/auth_throttle.hpp"

#include <algorithm>
#include <array>

namespace coredb::http {

namespace asio_ip = boost::asio::ip;

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<asio_ip::address> ParseAddress(std::string_view text) {
  boost::system::error_code ec;
  auto address = asio_ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return address;
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address.
asio_ip::address Unmapped(const asio_ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio_ip::make_address_v4(asio_ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace

std::optional<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& entries, std::string* error) {
  TrustedProxies out;
  for (const std::string& raw : entries) {
    const std::string_view entry = Trim(raw);
    if (entry.empty()) continue;
    boost::system::error_code ec;
    const std::string text(entry);
    if (entry.find('/') == std::string_view::npos) {
      auto address = ParseAddress(entry);
      if (address) {
        address = Unmapped(*address);
        if (address->is_v4()) {
          out.networks_.emplace_back(asio_ip::network_v4(address->to_v4(), 32));
        } else {
          out.networks_.emplace_back(asio_ip::network_v6(address->to_v6(), 128));
        }
        continue;
      }
    } else if (auto v4 = asio_ip::make_network_v4(text, ec); !ec) {
      out.networks_.emplace_back(v4.canonical());
      continue;
    } else if (auto v6 = asio_ip::make_network_v6(text, ec); !ec) {
      out.networks_.emplace_back(v6.canonical());
      continue;
    }
    if (error != nullptr) *error = "'" + text + "' is neither an IP address nor a network (a.b.c.d/n, x::/n)";
    return std::nullopt;
  }
  return out;
}

bool TrustedProxies::Contains(const asio_ip::address& raw) const {
  const asio_ip::address address = Unmapped(raw);
  for (const auto& network : networks_) {
    if (const auto* v4 = std::get_if<asio_ip::network_v4>(&network)) {
      if (!address.is_v4()) continue;
      const unsigned bits = v4->prefix_length();
      const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
      if ((address.to_v4().to_uint() & mask) == (v4->address().to_uint() & mask)) return true;
    } else {
      if (!address.is_v6()) continue;
      const auto& v6 = std::get<asio_ip::network_v6>(network);
      const auto a = address.to_v6().to_bytes();
      const auto n = v6.address().to_bytes();
      unsigned bits = v6.prefix_length();
      bool same = true;
      for (std::size_t i = 0; i < a.size() && bits > 0 && same; ++i, bits = bits >= 8 ? bits - 8 : 0) {
        const auto mask = static_cast<unsigned char>(bits >= 8 ? 0xFF : 0xFF << (8 - bits));
        same = (a[i] & mask) == (n[i] & mask);
      }
      if (same) return true;
    }
  }
  return false;
}

asio_ip::address ClientAddress(const asio_ip::address& peer, std::string_view x_forwarded_for,
                               const TrustedProxies& trusted) {
  if (trusted.empty() || x_forwarded_for.empty() || !trusted.Contains(peer)) return peer;
  asio_ip::address client = peer;
  // Right to left: each hop was added by the proxy after it; stop at the first one we do not
  // trust (everything to its left is what that untrusted party claimed).
  std::string_view rest = x_forwarded_for;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    const std::string_view entry = Trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    auto address = ParseAddress(entry);
    if (!address) return client;  // not an address: the nearest hop we could read
    client = *address;
    if (!trusted.Contains(client)) return client;
  }
  return client;
}

std::string SourceKey(const asio_ip::address& raw) {
  const asio_ip::address address = Unmapped(raw);
  if (address.is_v4()) return address.to_string();
  auto bytes = address.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio_ip::address_v6(bytes).to_string() + "/64";
}

std::optional<std::int64_t> AuthThrottle::Refuse(const std::string& source, Clock::time_point now) {
  if (options_.limit == 0) return std::nullopt;
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.failures < options_.limit) return std::nullopt;
  const Clock::time_point end = it->second.start + options_.window;
  if (now >= end) return std::nullopt;
  ++stats_.throttled;
  const auto left = std::chrono::ceil<std::chrono::seconds>(end - now).count();
  return std::max<std::int64_t>(1, left);
}

void AuthThrottle::Failed(const std::string& source, Clock::time_point now) {
  ++stats_.failures;
  if (options_.limit == 0) return;
  auto it = sources_.find(source);
  if (it == sources_.end()) {
    if (sources_.size() >= options_.max_sources) DropExpired(now);
    if (sources_.size() >= options_.max_sources) {
      ++stats_.untracked;
      return;
    }
    it = sources_.emplace(source, Window{now, 0}).first;
  } else if (now >= it->second.start + options_.window) {
    it->second = Window{now, 0};  // a new window
  }
  ++it->second.failures;
}

void AuthThrottle::DropExpired(Clock::time_point now) {
  // At most once per half window: a table full of live sources is not swept on every failure.
  if (last_sweep_ != Clock::time_point{} && now - last_sweep_ < options_.window / 2) return;
  last_sweep_ = now;
  std::erase_if(sources_, [&](const auto& entry) { return now >= entry.second.start + options_.window; });
}

}  // namespace coredb::http
