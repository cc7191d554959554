// The coredb command line, the migration request bodies and the admin access rule.
#include "coredb/app/command_line.hpp"
#include "coredb/http/handlers/migrations_handler.hpp"
#include "coredb/http/router.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace {

// The value, or a test failure (an exception) naming the error.
template <class T>
T Must(coredb::Result<T> r) {
  if (!r) throw std::runtime_error("unexpected error: " + r.error().message);
  return std::move(*r);
}

}  // namespace

namespace coredb::app {
namespace {

using namespace std::chrono_literals;

ParsedCommandLine Parse(std::vector<std::string> args) { return ParseCommandLine(args); }

TEST(CommandLine, NoArgumentsServes) {
  auto p = Parse({});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.line.command, Command::kServe);
}

TEST(CommandLine, ParsesEachCommandsOptionsInBothForms) {
  auto migrate = Parse({"migrate", "--target", "3", "--lock-timeout=500", "--statement-timeout", "60000"});
  ASSERT_TRUE(migrate.ok()) << migrate.error;
  EXPECT_EQ(migrate.line.command, Command::kMigrate);
  EXPECT_EQ(migrate.line.target, 3);
  EXPECT_EQ(migrate.line.lock_timeout, 500ms);
  EXPECT_EQ(migrate.line.statement_timeout, 60000ms);

  auto rollback = Parse({"rollback", "--steps=2"});
  ASSERT_TRUE(rollback.ok());
  EXPECT_EQ(rollback.line.steps, 2);
  EXPECT_EQ(Parse({"rollback"}).line.steps, 1);
  EXPECT_TRUE(Parse({"reset", "--force"}).line.force);
  EXPECT_TRUE(Parse({"status", "--json"}).line.json);
  EXPECT_EQ(Parse({"seed"}).line.command, Command::kSeed);
  EXPECT_EQ(Parse({"health"}).line.command, Command::kHealth);
  EXPECT_TRUE(Parse({"migrate", "--help"}).line.help);
  EXPECT_EQ(Parse({"--help"}).line.command, Command::kHelp);
  EXPECT_EQ(Parse({"--version"}).line.command, Command::kVersion);
}

TEST(CommandLine, RejectsUnknownCommandsOptionsAndBadValues) {
  struct Case {
    std::vector<std::string> args;
    const char* needle;
  };
  const std::vector<Case> cases = {
      {{"migrat"}, "unknown command 'migrat'"},
      {{"migrate", "--steps", "1"}, "unknown option '--steps' for migrate"},
      {{"migrate", "--target"}, "--target needs a value"},
      {{"migrate", "--target", "x"}, "--target must be a migration version"},
      {{"migrate", "--target", "0"}, "--target must be"},
      {{"migrate", "--target", "2147483648"}, "--target must be"},
      {{"rollback", "--steps", "0"}, "--steps must be an integer in 1..1000"},
      {{"rollback", "--steps", "1001"}, "--steps must be"},
      {{"rollback", "--steps", "1x"}, "--steps must be"},
      {{"rollback", "--lock-timeout", "0"}, "--lock-timeout must be milliseconds"},
      {{"reset", "--force=yes"}, "--force takes no value"},
      {{"status", "--force"}, "unknown option '--force' for status"},
      {{"seed", "now"}, "unexpected argument 'now' for seed"},
      {{"serve", "--json"}, "unknown option"},
  };
  for (const auto& c : cases) {
    auto p = Parse(c.args);
    EXPECT_FALSE(p.ok()) << c.args[0];
    EXPECT_NE(p.error.find(c.needle), std::string::npos) << p.error;
  }
}

TEST(CommandLine, EveryCommandHasHelpNamingItsOptions) {
  EXPECT_NE(UsageText().find("  migrate "), std::string::npos);
  EXPECT_NE(HelpText(Command::kMigrate).find("usage: coredb migrate [--target V]"), std::string::npos);
  EXPECT_NE(HelpText(Command::kRollback).find("--steps N"), std::string::npos);
  EXPECT_NE(HelpText(Command::kReset).find("--force"), std::string::npos);
  EXPECT_NE(HelpText(Command::kStatus).find("--json"), std::string::npos);
  EXPECT_NE(HelpText(Command::kSeed).find("usage: coredb seed"), std::string::npos);
}

TEST(CommandLine, RoutesTakesOnlyJson) {
  auto plain = ParseCommandLine({"routes"});
  ASSERT_TRUE(plain.ok()) << plain.error;
  EXPECT_EQ(plain.line.command, Command::kRoutes);
  EXPECT_FALSE(plain.line.json);
  auto json = ParseCommandLine({"routes", "--json"});
  ASSERT_TRUE(json.ok()) << json.error;
  EXPECT_TRUE(json.line.json);
  EXPECT_FALSE(ParseCommandLine({"routes", "--force"}).ok());
  EXPECT_FALSE(ParseCommandLine({"routes", "extra"}).ok());
  EXPECT_NE(HelpText(Command::kRoutes).find("--json"), std::string::npos);
}

TEST(CommandLine, DevelopmentIsCoredbEnvFirstThenNodeEnv) {
  EXPECT_TRUE(IsDevelopmentEnvironment("development", std::nullopt));
  EXPECT_TRUE(IsDevelopmentEnvironment(std::nullopt, "development"));
  EXPECT_FALSE(IsDevelopmentEnvironment("production", "development"));
  EXPECT_FALSE(IsDevelopmentEnvironment(std::nullopt, "production"));
  EXPECT_FALSE(IsDevelopmentEnvironment(std::nullopt, std::nullopt));
}

}  // namespace
}  // namespace coredb::app

namespace coredb::http {
namespace {

TEST(MigrationRequests, AcceptTheirOneOptionalMemberAndNothingElse) {
  EXPECT_FALSE(Must(ParseMigrateRequest({})).target.has_value());
  EXPECT_EQ(Must(ParseMigrateRequest(boost::json::parse(R"({"target":2})").as_object())).target, 2);
  EXPECT_EQ(Must(ParseRollbackRequest({})).steps, 1);
  EXPECT_EQ(Must(ParseRollbackRequest(boost::json::parse(R"({"steps":3})").as_object())).steps, 3);
  for (const char* bad : {R"({"target":"2"})", R"({"target":0})", R"({"target":-1})", R"({"target":2.5})",
                          R"({"target":1e12})", R"({"steps":1})"}) {
    auto r = ParseMigrateRequest(boost::json::parse(bad).as_object());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  }
  for (const char* bad : {R"({"steps":0})", R"({"steps":1001})", R"({"steps":true})", R"({"target":1})"}) {
    auto r = ParseRollbackRequest(boost::json::parse(bad).as_object());
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidRequest);
  }
}

TEST(Access, AdminRoutesNeedTheAdminScope) {
  auto make = [](const char* id, std::uint8_t scopes) {
    Principal p;
    p.client_id = id;
    p.client_name = id;
    p.scopes = scopes;
    return p;
  };
  const Principal reader = make("c1", static_cast<std::uint8_t>(Scope::kRead));
  const Principal writer =
      make("c2", static_cast<std::uint8_t>(static_cast<std::uint8_t>(Scope::kRead) | static_cast<std::uint8_t>(Scope::kWrite)));
  const Principal admin = make("c3", static_cast<std::uint8_t>(Scope::kAdmin));
  EXPECT_EQ(AccessDenied(Access::kAdmin, reader)->code, ErrorCode::kForbidden);
  EXPECT_TRUE(AccessDenied(Access::kAdmin, writer).has_value());
  EXPECT_FALSE(AccessDenied(Access::kAdmin, admin).has_value());
  EXPECT_FALSE(AccessDenied(Access::kAuthenticated, reader).has_value());
}

}  // namespace
}  // namespace coredb::http
