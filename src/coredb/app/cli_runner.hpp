// What the one-shot CLI commands (schema_commands, client_commands) share: their exit codes and
// running their coroutine to its end on a private io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <string_view>

namespace coredb::app {

inline constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

// Runs `work` on `ioc` until it ends: its exit code, or kExitFailure with one line on stderr
// ("coredb <command>: internal error: …") when it throws. Flushes stdout.
int RunToExitCode(boost::asio::io_context& ioc, boost::asio::awaitable<int> work, std::string_view command);

}  // namespace coredb::app
