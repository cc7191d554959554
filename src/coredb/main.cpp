// coredb — the core-database-service binary. Subcommands mirror the operations the platform
// needs; `serve` is the default.
#include "coredb/app/application.hpp"
#include "coredb/config/config.hpp"
#include "coredb/observability/logging.hpp"

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr const char* kUsage =
    "usage: coredb [command]\n"
    "\n"
    "commands:\n"
    "  serve     run the HTTP service (default)\n"
    "  health    check PostgreSQL, Redis and the vector store once; exit 1 when PostgreSQL or Redis is down\n"
    "  --version print the version\n"
    "  --help    this text\n"
    "\n"
    "configuration comes from the environment: DATABASE_URL (or PG_HOST, PG_PORT, PG_DATABASE, PG_USER,\n"
    "PG_PASSWORD, PG_SSL), PG_POOL_SIZE, REDIS_URL (or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_DB,\n"
    "REDIS_SESSION_DB), REDIS_POOL_SIZE, VECTOR_URL, HOST, PORT, LOG_LEVEL, COREDB_ADMIN_TOKEN,\n"
    "COREDB_INSTANCE_ID, MAX_BODY_BYTES,\n"
    "MAX_RESULT_BYTES, DEFAULT_QUERY_TIMEOUT, SHUTDOWN_TIMEOUT (see README.md).\n";

}  // namespace

int main(int argc, char** argv) {
  // A peer that closed its socket must be an error code on write, never a process-killing signal.
  std::signal(SIGPIPE, SIG_IGN);
  std::string command = argc > 1 ? argv[1] : "serve";
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "--version") {
    std::printf("coredb %s\n", COREDB_VERSION);
    return 0;
  }
  if (argc > 2 && (std::strcmp(argv[2], "--help") == 0 || std::strcmp(argv[2], "-h") == 0)) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command != "serve" && command != "health") {
    std::fprintf(stderr, "coredb: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  }

  auto loaded = coredb::config::LoadFromProcessEnvironment();
  if (!loaded.ok()) {
    for (const auto& problem : loaded.problems) std::fprintf(stderr, "config: %s\n", problem.c_str());
    return 2;
  }
  coredb::observability::InitLogging(command == "health" ? "warn" : loaded.config.log_level);
  int code = command == "health" ? coredb::app::CheckHealth(loaded.config) : coredb::app::Serve(loaded.config);
  coredb::observability::ShutdownLogging();
  return code;
}
