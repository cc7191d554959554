#include "coredb/app/config_commands.hpp"

#include "coredb/config/settings.hpp"

#include <cstdio>
#include <cstdlib>

namespace coredb::app {

std::string RenderConfig(const config::LoadResult& loaded, const config::EnvReader& env) {
  auto set = [&env](const std::string& name) -> std::optional<std::string> {
    auto value = env(name);
    if (value && value->empty()) return std::nullopt;  // VAR= counts as unset, as for the loader
    return value;
  };
  std::string out = "# coredb configuration from the environment (passwords and tokens masked)\n";
  for (const config::Setting& s : config::Settings()) {
    const auto value = set(s.name);
    std::string line = s.name + "=" + config::MaskedValue(s, value.value_or(s.default_value));
    std::string note;
    if (!value) note = s.default_value.empty() ? "unset" : "default";
    if (!s.ignored_when.empty() && set(s.ignored_when)) {
      note += std::string(note.empty() ? "" : ", ") + "ignored: " + s.ignored_when + " is set";
    }
    if (!note.empty()) line += "  # " + note;
    out += line + "\n";
  }
  const config::Config& c = loaded.config;
  out += "# effective connections\n";
  out += "#   postgresql: " + config::MaskConnectionString(c.postgres.conninfo) + "\n";
  out += "#   vector:     " + config::MaskConnectionString(c.vector.conninfo) + "\n";
  out += "#   redis:      " + c.redis.host + ":" + std::to_string(c.redis.port) + " cache db " +
         std::to_string(c.redis.db) + ", sessions db " + std::to_string(c.redis.session_db) + ", user " +
         (c.redis.username.empty() ? "(default)" : c.redis.username) + ", password " +
         (c.redis.password.empty() ? "(none)" : "****") + "\n";
  out += "#   listen:     " + std::string(c.http.tls_cert_file.empty() ? "http" : "https") + "://" + c.http.host + ":" +
         std::to_string(c.http.port) + "\n";
  if (!loaded.ok()) out += "# INVALID: " + std::to_string(loaded.problems.size()) + " problem(s), see stderr\n";
  return out;
}

std::string RenderVariableNames() {
  std::string out;
  for (const config::Setting& s : config::Settings()) out += s.name + "\n";
  return out;
}

int RunConfigCommand(const CommandLine& line) {
  if (line.config_action == ConfigAction::kVars) {
    std::fputs(RenderVariableNames().c_str(), stdout);
    return 0;
  }
  const auto loaded = config::LoadFromProcessEnvironment();
  const std::string text = RenderConfig(loaded, [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
  std::fputs(text.c_str(), stdout);
  for (const auto& problem : loaded.problems) std::fprintf(stderr, "config: %s\n", problem.c_str());
  return loaded.ok() ? 0 : 2;
}

}  // namespace coredb::app
