// The one list of environment variables (config/settings), the masking of secrets and what
// `coredb config print|vars` and `coredb health --live` parse to.
#include "coredb/config/settings.hpp"
#include "coredb/app/command_line.hpp"
#include "coredb/app/config_commands.hpp"
#include "coredb/config/config.hpp"

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace coredb::config {
namespace {

EnvReader ReaderOf(const std::map<std::string, std::string>& vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Settings, TheLoaderReadsExactlyTheListedVariables) {
  // Every variable the loader asks for is listed (Reader::Get throws otherwise) and every listed
  // variable is read by the loader, except the two main.cpp reads itself.
  std::set<std::string> asked;
  const auto r = Load([&asked](const std::string& name) -> std::optional<std::string> {
    asked.insert(name);
    return std::nullopt;
  });
  ASSERT_TRUE(r.ok());
  // DATABASE_URL / REDIS_URL unset: the discrete forms are read too.
  std::set<std::string> listed;
  for (const Setting& s : Settings()) listed.insert(s.name);
  EXPECT_EQ(listed.size(), Settings().size()) << "a variable is listed twice";
  std::set<std::string> expected = listed;
  expected.erase("COREDB_ENV");
  expected.erase("NODE_ENV");
  EXPECT_EQ(asked, expected);
}

TEST(Settings, EachDocumentedDefaultIsTheLoadersDefault) {
  const Config defaults = Load(ReaderOf({})).config;
  for (const Setting& s : Settings()) {
    if (s.default_value.empty()) continue;
    const auto r = Load(ReaderOf({{s.name, s.default_value}}), {s.name});
    ASSERT_TRUE(r.ok()) << s.name << ": " << r.problems[0];
    EXPECT_TRUE(r.config == defaults) << s.name << "=" << s.default_value << " is not the loader's default";
  }
}

TEST(Settings, SecretsAndPasswordsAreMarked) {
  for (const char* name : {"COREDB_ADMIN_TOKEN", "METRICS_TOKEN", "PG_PASSWORD", "REDIS_PASSWORD"}) {
    ASSERT_NE(FindSetting(name), nullptr) << name;
    EXPECT_EQ(FindSetting(name)->secrecy, Secrecy::kSecret) << name;
  }
  for (const char* name : {"DATABASE_URL", "VECTOR_URL", "REDIS_URL"}) {
    EXPECT_EQ(FindSetting(name)->secrecy, Secrecy::kConnection) << name;
  }
  EXPECT_EQ(FindSetting("NOT_A_SETTING"), nullptr);
}

TEST(Settings, MasksPasswordsInUrlsAndKeyValueStrings) {
  EXPECT_EQ(MaskConnectionString("postgresql://coredb:s3cret@postgres:5432/coredb?sslmode=require"),
            "postgresql://coredb:****@postgres:5432/coredb?sslmode=require");
  EXPECT_EQ(MaskConnectionString("postgres://u@h/db?password=s3cret&sslmode=disable"),
            "postgres://u@h/db?password=****&sslmode=disable");
  // Unescaped '/' and '@' in the password stay inside the masked user info.
  EXPECT_EQ(MaskConnectionString("postgresql://u:a/b@c@h/db"), "postgresql://u:****@h/db");
  EXPECT_EQ(MaskConnectionString("redis://:pw@redis:6379/0"), "redis://:****@redis:6379/0");
  EXPECT_EQ(MaskConnectionString("redis://svc:pw@redis:6379"), "redis://svc:****@redis:6379");
  EXPECT_EQ(MaskConnectionString("redis://redis:6379/0"), "redis://redis:6379/0");
  EXPECT_EQ(MaskConnectionString("host='db' user='svc' password='it\\'s secret' sslmode=require"),
            "host='db' user='svc' password=**** sslmode=require");
  EXPECT_EQ(MaskConnectionString("host=db password = bare sslpassword=x"), "host=db password = **** sslpassword=****");
  EXPECT_EQ(MaskedValue(*FindSetting("COREDB_ADMIN_TOKEN"), "0123456789abcdef"), "****");
  EXPECT_EQ(MaskedValue(*FindSetting("PORT"), "8095"), "8095");
}

TEST(Settings, ConfigPrintShowsEffectiveValuesWithSecretsMasked) {
  const std::map<std::string, std::string> vars = {
      {"HOST", "0.0.0.0"},
      {"DATABASE_URL", "postgresql://coredb:pg-pass-123@postgres:5432/coredb"},
      {"PG_SSL", "require"},
      {"PG_PASSWORD", "ignored-pass-456"},
      {"REDIS_URL", "redis://:redis-pass-789@redis:6379/0"},
      {"COREDB_ADMIN_TOKEN", "admin-token-0123456789"},
      {"METRICS_TOKEN", "metrics-token-0123456789"},
  };
  std::vector<std::string> names;
  for (const auto& [name, value] : vars) names.push_back(name);
  const auto loaded = Load(ReaderOf(vars), names);
  ASSERT_TRUE(loaded.ok()) << loaded.problems[0];
  const std::string text = app::RenderConfig(loaded, ReaderOf(vars));
  for (const char* secret : {"pg-pass-123", "ignored-pass-456", "redis-pass-789", "admin-token", "metrics-token"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret << " leaked:\n" << text;
  }
  EXPECT_NE(text.find("HOST=0.0.0.0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("PORT=8095  # default\n"), std::string::npos) << text;
  EXPECT_NE(text.find("DATABASE_URL=postgresql://coredb:****@postgres:5432/coredb\n"), std::string::npos) << text;
  EXPECT_NE(text.find("PG_PASSWORD=****  # ignored: DATABASE_URL is set\n"), std::string::npos) << text;
  EXPECT_NE(text.find("COREDB_ADMIN_TOKEN=****\n"), std::string::npos) << text;
  EXPECT_NE(text.find("TLS_CERT=  # unset\n"), std::string::npos) << text;
  // The derived connection string (PG_SSL appended), masked too.
  EXPECT_NE(text.find("postgresql://coredb:****@postgres:5432/coredb?sslmode=require"), std::string::npos) << text;
  EXPECT_NE(text.find("redis:6379 cache db 0, sessions db 1, user (default), password ****"), std::string::npos)
      << text;
}

TEST(Settings, ConfigVarsListsEveryNameOncePerLine) {
  const std::string text = app::RenderVariableNames();
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, Settings().size());
  EXPECT_NE(text.find("\nSHUTDOWN_DRAIN_DELAY\n"), std::string::npos);
  EXPECT_NE(text.find("\nBREAKER_REDIS_RESET_TIMEOUT_MS\n"), std::string::npos);
}

}  // namespace
}  // namespace coredb::config

namespace coredb::app {
namespace {

TEST(CommandLine, ConfigPrintAndVarsAndThePrintConfigAlias) {
  auto print = ParseCommandLine({"config", "print"});
  ASSERT_TRUE(print.ok()) << print.error;
  EXPECT_EQ(print.line.command, Command::kConfig);
  EXPECT_EQ(print.line.config_action, ConfigAction::kPrint);
  auto alias = ParseCommandLine({"--print-config"});
  ASSERT_TRUE(alias.ok()) << alias.error;
  EXPECT_EQ(alias.line.config_action, ConfigAction::kPrint);
  auto vars = ParseCommandLine({"config", "vars"});
  ASSERT_TRUE(vars.ok()) << vars.error;
  EXPECT_EQ(vars.line.config_action, ConfigAction::kVars);
  EXPECT_FALSE(ParseCommandLine({"config"}).ok());
  EXPECT_FALSE(ParseCommandLine({"config", "dump"}).ok());
  EXPECT_FALSE(ParseCommandLine({"config", "print", "--force"}).ok());
  EXPECT_TRUE(ParseCommandLine({"config", "--help"}).line.help);
}

TEST(CommandLine, HealthLiveIsAFlagOfHealthOnly) {
  auto live = ParseCommandLine({"health", "--live"});
  ASSERT_TRUE(live.ok()) << live.error;
  EXPECT_TRUE(live.line.live);
  EXPECT_FALSE(ParseCommandLine({"health"}).line.live);
  EXPECT_FALSE(ParseCommandLine({"health", "--live=1"}).ok());
  EXPECT_FALSE(ParseCommandLine({"migrate", "--live"}).ok());
}

}  // namespace
}  // namespace coredb::app
