#include "coredb/app/client_commands.hpp"

#include "coredb/adapters/postgres/cancel_worker.hpp"
#include "coredb/adapters/postgres/pg_backend.hpp"
#include "coredb/adapters/postgres/pg_pool.hpp"
#include "coredb/app/cli_runner.hpp"
#include "coredb/clients/client_store.hpp"
#include "coredb/core/json_writer.hpp"
#include "coredb/http/handlers/clients_handler.hpp"

#include <boost/asio/io_context.hpp>

#include <cstdio>

namespace coredb::app {

namespace asio = boost::asio;
using asio::awaitable;

namespace {

constexpr int kOk = kExitOk, kFailure = kExitFailure, kUsage = kExitUsage;

int Fail(const Error& error) {
  std::string message = error.code == ErrorCode::kInternal ? "internal error" : error.message;
  if (error.pg && !error.pg->sqlstate.empty()) message += " (SQLSTATE " + error.pg->sqlstate + ")";
  if (error.pg && error.pg->sqlstate == "42P01") message += "\n  hint: run `coredb migrate` first (migration 3)";
  std::fprintf(stderr, "coredb clients: %s\n", message.c_str());
  return error.code == ErrorCode::kInvalidRequest || error.code == ErrorCode::kConflict ? kUsage : kFailure;
}

Result<clients::ClientSpec> SpecFrom(const CommandLine& line) {
  clients::ClientSpec spec;
  spec.name = line.client_name;
  if (auto ok = clients::CheckName(spec.name); !ok) return ok.error();
  auto scopes = clients::ParseScopes(line.client_scopes);
  if (!scopes) return scopes.error();
  spec.scopes = *scopes;
  spec.quota_per_minute = line.quota_per_minute;
  spec.quota_per_day = line.quota_per_day;
  if (!line.pg_role.empty()) {
    if (auto ok = clients::CheckPgRole(line.pg_role); !ok) return ok.error();
    spec.pg_role = line.pg_role;
  }
  spec.cache_prefixes = line.cache_prefixes;
  if (auto ok = clients::CheckCachePrefixes(spec.cache_prefixes); !ok) return ok.error();
  return spec;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

awaitable<int> Run(clients::ClientStore& store, pg::Pool& pool, const CommandLine& line) {
  int code = kOk;
  switch (line.clients_action) {
    case ClientsAction::kAdd: {
      auto spec = SpecFrom(line);
      if (!spec) {
        code = Fail(spec.error());
        break;
      }
      auto created = co_await store.Create(*spec);
      if (!created) {
        code = Fail(created.error());
        break;
      }
      std::printf(
          "id:     %s\nname:   %s\nscopes: %s\ntoken:  %s\n(the token is shown only now: only its SHA-256 "
          "is stored)\n",
          created->client.id.c_str(), created->client.name.c_str(),
          Join(clients::ScopeNames(created->client.scopes)).c_str(), created->token.c_str());
      break;
    }
    case ClientsAction::kList: {
      auto list = co_await store.List();
      if (!list) {
        code = Fail(list.error());
        break;
      }
      if (line.json) {
        boost::json::array out;
        for (const auto& c : *list) out.emplace_back(http::ClientJson(c));
        std::printf("%s\n", ToJson(boost::json::object{{"clients", std::move(out)}}).c_str());
        break;
      }
      for (const auto& c : *list) {
        std::printf("%s  %-24s %-16s %-14s %s%s\n", c.id.c_str(), c.name.c_str(),
                    Join(clients::ScopeNames(c.scopes)).c_str(), c.token_prefix.c_str(), c.created_at.c_str(),
                    c.revoked_at ? ("  revoked " + *c.revoked_at).c_str() : "");
      }
      if (list->empty()) std::printf("no clients\n");
      break;
    }
    case ClientsAction::kRevoke: {
      auto revoked = co_await store.Revoke(line.client_id);
      if (!revoked) {
        code = Fail(revoked.error());
        break;
      }
      std::printf("revoked %s (%s) at %s\n", revoked->id.c_str(), revoked->name.c_str(),
                  revoked->revoked_at.value_or("").c_str());
      break;
    }
    case ClientsAction::kNone:
      code = kUsage;
      break;
  }
  pool.Close();
  co_return code;
}

}  // namespace

int RunClientCommand(const config::Config& config, const CommandLine& line) {
  if (auto problem = pg::ConninfoProblem(config.postgres.conninfo)) {
    std::fprintf(stderr, "config: DATABASE_URL / PG_* settings are invalid: %s\n", problem->c_str());
    return kUsage;
  }
  asio::io_context ioc{1};
  pg::CancelWorker cancel_worker;
  pg::PoolOptions options;
  options.name = "clients-cli";
  options.connection.conninfo = config.postgres.conninfo;
  options.connection.connect_timeout = config.postgres.connect_timeout;
  options.connection.application_name = "coredb-clients";
  options.max_size = 1;
  pg::Pool pool(ioc.get_executor(), options, cancel_worker);
  pg::PgBackend sql(pool, config.max_result_bytes);
  clients::ClientStore store(sql, config.default_query_timeout);

  return RunToExitCode(ioc, Run(store, pool, line), "clients");
}

}  // namespace coredb::app
