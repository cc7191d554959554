// Test support: runs the built `coredb` binary once (a CLI subcommand) with an environment of
// the test's choosing, and collects its exit code, stdout and stderr.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace coredb::testing {

struct CommandResult {
  int code = -1;  // exit status; 128 + signal when killed; -1 on timeout
  std::string out;
  std::string err;
  std::string All() const { return out + err; }
};

struct CommandEnv {
  // Added to (or replacing) the test process's environment; nullopt removes the variable.
  std::map<std::string, std::optional<std::string>> set;
  bool inherit = true;  // false: only `set`
};

CommandResult RunCoredbCommand(const std::vector<std::string>& args, const CommandEnv& env = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace coredb::testing
