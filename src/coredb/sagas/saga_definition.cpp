#include "coredb/sagas/saga_definition.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace coredb::sagas {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxNameLength = 64;
constexpr std::int64_t kMaxTimeoutMs = 300000;
constexpr std::string_view kPrefix = "${steps.";

Error Invalid(std::string message) { return Error(ErrorCode::kInvalidRequest, std::move(message)); }

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// "${steps.NAME.PATH}" → {NAME, PATH}; nullopt for any other string.
struct Placeholder {
  std::string_view step;
  std::string_view path;  // may be empty: the whole result
};
std::optional<Placeholder> ParsePlaceholder(std::string_view s) {
  if (s.size() < kPrefix.size() + 2 || s.substr(0, kPrefix.size()) != kPrefix || s.back() != '}') return std::nullopt;
  std::string_view inner = s.substr(kPrefix.size(), s.size() - kPrefix.size() - 1);
  const auto dot = inner.find('.');
  if (dot == std::string_view::npos) return Placeholder{inner, {}};
  return Placeholder{inner.substr(0, dot), inner.substr(dot + 1)};
}

// The strings of a request that may hold placeholders: SQL params, Redis arguments (top level).
const json::array* PlaceholderHolder(const json::object& request) {
  if (auto* p = request.if_contains("params"); p != nullptr && p->is_array()) return &p->as_array();
  if (auto* c = request.if_contains("command"); c != nullptr && c->is_array()) return &c->as_array();
  return nullptr;
}

Result<StepRequest> ParseRequest(const json::value& value, const std::string& where) {
  if (!value.is_object()) return Invalid("'" + where + "' must be a query request object");
  const json::object& o = value.as_object();
  for (const auto& [key, v] : o) {
    static constexpr std::string_view kAllowed[] = {"database", "sql", "params", "rowMode", "timeout", "command"};
    if (std::find(std::begin(kAllowed), std::end(kAllowed), std::string_view(key)) == std::end(kAllowed)) {
      return Invalid("'" + where + "." + std::string(key) + "' is not allowed in a saga step (allowed: database, sql, " +
                     "params, rowMode, timeout, command)");
    }
  }
  StepRequest r;
  r.json = o;
  if (auto* db = o.if_contains("database")) {
    if (!db->is_string()) return Invalid("'" + where + ".database' must be a string");
    const std::string_view name = db->as_string();
    if (name == "postgresql") r.database = Database::kPostgresql;
    else if (name == "vector") r.database = Database::kVector;
    else if (name == "redis") r.database = Database::kRedis;
    else return Invalid("'" + where + ".database': unknown database '" + std::string(name) +
                        "' (expected postgresql, vector or redis)");
  }
  if (auto* t = o.if_contains("timeout")) {
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > kMaxTimeoutMs) {
      return Invalid("'" + where + ".timeout' must be an integer in 1..300000");
    }
  }
  if (r.database == Database::kRedis) {
    if (o.contains("sql") || o.contains("params") || o.contains("rowMode")) {
      return Invalid("'" + where + "': a redis step takes 'command', not sql/params/rowMode");
    }
    auto* c = o.if_contains("command");
    if (c == nullptr || !c->is_array() || c->as_array().empty()) {
      return Invalid("'" + where + ".command' must be a non-empty array of strings");
    }
    for (const auto& arg : c->as_array()) {
      if (!arg.is_string()) return Invalid("'" + where + ".command' must hold strings only");
    }
    return r;
  }
  if (o.contains("command")) return Invalid("'" + where + ".command' only applies to database redis");
  auto* sql = o.if_contains("sql");
  if (sql == nullptr || !sql->is_string()) return Invalid("'" + where + ".sql' is required (a string)");
  const std::string_view text = sql->as_string();
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return Invalid("'" + where + ".sql' is empty");
  if (text.find('\0') != std::string_view::npos) return Invalid("'" + where + ".sql' contains a NUL character");
  if (auto* p = o.if_contains("params"); p != nullptr && !p->is_array()) {
    return Invalid("'" + where + ".params' must be an array");
  }
  if (auto* m = o.if_contains("rowMode")) {
    if (!m->is_string() || (m->as_string() != "object" && m->as_string() != "array")) {
      return Invalid("'" + where + ".rowMode' must be \"object\" or \"array\"");
    }
  }
  return r;
}

// Every placeholder of `request` must name one of `allowed` (the steps it may read).
Result<void> CheckPlaceholders(const StepRequest& request, const std::vector<std::string>& allowed,
                               const std::vector<std::string>& all, const std::string& where) {
  const json::array* holder = PlaceholderHolder(request.json);
  if (holder == nullptr) return Result<void>{};
  for (const auto& v : *holder) {
    if (!v.is_string()) continue;
    auto ph = ParsePlaceholder(v.as_string());
    if (!ph) continue;
    const std::string step(ph->step);
    if (std::find(allowed.begin(), allowed.end(), step) != allowed.end()) continue;
    if (std::find(all.begin(), all.end(), step) != all.end()) {
      return Invalid("'" + where + "' uses the result of step '" + step + "', which has not run by then");
    }
    return Invalid("'" + where + "' uses the result of an unknown step '" + step + "'");
  }
  return Result<void>{};
}

Result<SagaDefinition> ParseSteps(const json::array& steps) {
  if (steps.empty() || steps.size() > kMaxSteps) {
    return Invalid("'steps' must hold 1.." + std::to_string(kMaxSteps) + " steps (it holds " +
                   std::to_string(steps.size()) + ")");
  }
  SagaDefinition def;
  std::vector<std::string> names;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string where = "steps[" + std::to_string(i) + "]";
    if (!steps[i].is_object()) return Invalid("'" + where + "' must be an object");
    const json::object& s = steps[i].as_object();
    for (const auto& [key, v] : s) {
      if (key != "name" && key != "action" && key != "compensation") {
        return Invalid("'" + where + "." + std::string(key) + "' is not a step member (name, action, compensation)");
      }
    }
    StepDefinition step;
    auto* name = s.if_contains("name");
    if (name == nullptr || !name->is_string() || !ValidName(name->as_string())) {
      return Invalid("'" + where + ".name' must be 1..64 letters, digits, '_' or '-'");
    }
    step.name = std::string(name->as_string());
    if (std::find(names.begin(), names.end(), step.name) != names.end()) {
      return Invalid("'" + where + ".name': step '" + step.name + "' appears twice");
    }
    auto* action = s.if_contains("action");
    if (action == nullptr) return Invalid("'" + where + ".action' is required");
    auto parsed_action = ParseRequest(*action, where + ".action");
    if (!parsed_action) return parsed_action.error();
    step.action = std::move(*parsed_action);
    auto* compensation = s.if_contains("compensation");
    if (compensation == nullptr) {
      return Invalid("'" + where + ".compensation' is required: a query request, or null when the step needs no "
                     "undoing");
    }
    if (!compensation->is_null()) {
      auto parsed = ParseRequest(*compensation, where + ".compensation");
      if (!parsed) return parsed.error();
      step.compensation = std::move(*parsed);
    }
    names.push_back(step.name);
    def.steps.push_back(std::move(step));
  }
  for (std::size_t i = 0; i < def.steps.size(); ++i) {
    const std::string where = "steps[" + std::to_string(i) + "]";
    const std::vector<std::string> before(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i));
    const std::vector<std::string> through(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(i + 1));
    auto a = CheckPlaceholders(def.steps[i].action, before, names, where + ".action");
    if (!a) return a.error();
    if (def.steps[i].compensation) {
      auto c = CheckPlaceholders(*def.steps[i].compensation, through, names, where + ".compensation");
      if (!c) return c.error();
    }
  }
  return def;
}

// The value at `path` (dot-separated keys and indexes) in `root`, or nullptr.
const json::value* Walk(const json::value& root, std::string_view path) {
  const json::value* at = &root;
  while (!path.empty()) {
    const auto dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (at->is_object()) {
      at = at->as_object().if_contains(part);
    } else if (at->is_array()) {
      std::size_t index = 0;
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
      if (ec != std::errc() || ptr != part.data() + part.size() || index >= at->as_array().size()) return nullptr;
      at = &at->as_array()[index];
    } else {
      return nullptr;
    }
    if (at == nullptr) return nullptr;
  }
  return at;
}

std::string AsText(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

}  // namespace

Result<SagaDefinition> ParseSagaDefinition(const json::object& body) {
  for (const auto& [key, v] : body) {
    if (key != "steps") return Invalid("unknown member '" + std::string(key) + "' (a saga has 'steps')");
  }
  auto* steps = body.if_contains("steps");
  if (steps == nullptr || !steps->is_array()) return Invalid("'steps' is required (an array)");
  return ParseSteps(steps->as_array());
}

json::array DefinitionJson(const SagaDefinition& definition) {
  json::array out;
  for (const auto& s : definition.steps) {
    out.push_back(json::object{{"name", s.name},
                               {"action", s.action.json},
                               {"compensation", s.compensation ? json::value(s.compensation->json) : json::value()}});
  }
  return out;
}

Result<SagaDefinition> DefinitionFromJson(const json::array& steps) { return ParseSteps(steps); }

Result<json::object> ResolvePlaceholders(const json::object& request, const std::vector<std::string>& step_names,
                                         const std::vector<json::value>& results) {
  json::object out = request;
  const bool redis = out.contains("command");
  json::value* holder_value = redis ? out.if_contains("command") : out.if_contains("params");
  if (holder_value == nullptr || !holder_value->is_array()) return out;
  for (auto& v : holder_value->as_array()) {
    if (!v.is_string()) continue;
    const std::string_view s = v.as_string();
    if (s.size() >= 3 && s.substr(0, 3) == "$${") {
      v = json::string(s.substr(1));  // escaped literal "${"
      continue;
    }
    auto ph = ParsePlaceholder(s);
    if (!ph) continue;
    const auto it = std::find(step_names.begin(), step_names.end(), std::string(ph->step));
    const auto index = static_cast<std::size_t>(it - step_names.begin());
    const json::value* found = it == step_names.end() || index >= results.size() ? nullptr : Walk(results[index], ph->path);
    if (found == nullptr) {
      return Error(ErrorCode::kQueryError, "placeholder " + std::string(s) + ": step '" + std::string(ph->step) +
                                               "' has no value at '" + std::string(ph->path) + "'");
    }
    if (redis) {
      v = json::string(AsText(*found));
    } else {
      v = *found;
    }
  }
  return out;
}

}  // namespace coredb::sagas
