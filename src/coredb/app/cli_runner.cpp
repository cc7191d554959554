#include "coredb/app/cli_runner.hpp"

#include <boost/asio/co_spawn.hpp>

#include <cstdio>
#include <exception>
#include <string>

namespace coredb::app {

int RunToExitCode(boost::asio::io_context& ioc, boost::asio::awaitable<int> work, std::string_view command) {
  const std::string name(command);
  int code = kExitFailure;
  boost::asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e, int result) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "coredb %s: internal error: %s\n", name.c_str(), ex.what());
      } catch (...) {
        std::fprintf(stderr, "coredb %s: internal error\n", name.c_str());
      }
      code = kExitFailure;
      return;
    }
    code = result;
  });
  ioc.run();
  std::fflush(stdout);
  return code;
}

}  // namespace coredb::app
