#include "coredb/http/router.hpp"

#include <algorithm>

namespace coredb::http {
namespace {

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool IsParam(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

std::optional<Error> AccessDenied(Access access, const Principal& principal) {
  if (access == Access::kAdmin && !principal.Has(Scope::kAdmin)) {
    return MakeError(ErrorCode::kForbidden, "this operation needs the admin scope");
  }
  return std::nullopt;
}

const char* AccessName(Access access) {
  switch (access) {
    case Access::kPublic:
      return "public";
    case Access::kAuthenticated:
      return "authenticated";
    case Access::kAdmin:
      return "admin";
  }
  return "authenticated";
}

Result<void> RequireScope(const Principal& principal, Scope scope, const char* what) {
  if (principal.Allows(scope)) return {};
  const char* name = scope == Scope::kRead ? "read" : scope == Scope::kWrite ? "write" : "admin";
  return MakeError(ErrorCode::kForbidden, std::string(what) + " needs the '" + name + "' scope");
}

std::string_view RequestContext::PathParam(std::string_view name) const {
  for (const auto& [key, value] : path_params) {
    if (key == name) return value;
  }
  return {};
}

std::chrono::milliseconds RequestContext::Budget(std::chrono::milliseconds requested) const {
  if (!deadline) return requested;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
  return std::max(std::chrono::milliseconds(1), std::min(requested, left));
}

void Router::Add(beast_http::verb method, std::string path_template, Access access, Handler handler) {
  Compiled c;
  for (auto s : SplitPath(path_template)) c.segments.emplace_back(s);
  c.route = Route{method, std::move(path_template), access, std::move(handler)};
  routes_.push_back(std::move(c));
  // Literal segments beat parameters at the same position ("/vectors/collections" before
  // "/vectors/{collection}"), so keep the table ordered by specificity.
  std::stable_sort(routes_.begin(), routes_.end(), [](const Compiled& a, const Compiled& b) {
    std::size_t n = std::min(a.segments.size(), b.segments.size());
    for (std::size_t i = 0; i < n; ++i) {
      bool pa = IsParam(a.segments[i]);
      bool pb = IsParam(b.segments[i]);
      if (pa != pb) return !pa;
    }
    return false;
  });
  literal_.clear();
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const auto& segments = routes_[i].segments;
    if (std::none_of(segments.begin(), segments.end(), [](const std::string& s) { return IsParam(s); })) {
      literal_[routes_[i].route.path_template].push_back(i);
    }
  }
}

std::vector<RouteEntry> Router::Routes() const {
  std::vector<RouteEntry> out;
  out.reserve(routes_.size());
  for (const auto& c : routes_) {
    out.push_back({std::string(beast_http::to_string(c.route.method)), c.route.path_template, c.route.access});
  }
  return out;
}

Router::Match Router::Find(beast_http::verb method, std::string_view path) const {
  Match match;
  if (auto it = literal_.find(path); it != literal_.end()) {
    // (A parameterless template that is the path itself is the most specific fit there is.)
    for (std::size_t index : it->second) {
      if (routes_[index].route.method != method) continue;
      match.route = &routes_[index].route;
      match.path_known = true;
      return match;
    }
  }
  auto segments = SplitPath(path);
  const Compiled* first_shape = nullptr;  // the most specific template whose shape fits the path
  for (const auto& c : routes_) {
    if (c.segments.size() != segments.size()) continue;
    bool fits = true;
    for (std::size_t i = 0; i < segments.size() && fits; ++i) {
      fits = IsParam(c.segments[i]) || c.segments[i] == segments[i];
    }
    if (!fits) continue;
    if (first_shape == nullptr) first_shape = &c;
    // Only routes with the same template as the most specific fit count for this path.
    if (c.route.path_template != first_shape->route.path_template) continue;
    match.path_known = true;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += std::string(beast_http::to_string(c.route.method));
    if (c.route.method == method && match.route == nullptr) {
      match.route = &c.route;
      for (std::size_t i = 0; i < segments.size(); ++i) {
        if (!IsParam(c.segments[i])) continue;
        auto decoded = PercentDecode(segments[i]);
        if (!decoded) {
          match.bad_encoding = true;
          continue;
        }
        std::string name = c.segments[i].substr(1, c.segments[i].size() - 2);
        match.params.emplace_back(std::move(name), std::move(*decoded));
      }
    }
  }
  return match;
}

}  // namespace coredb::http
