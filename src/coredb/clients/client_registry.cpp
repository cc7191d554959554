#include "coredb/clients/client_registry.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace coredb::clients {

namespace asio = boost::asio;
using asio::awaitable;

ClientRegistry::ClientRegistry(asio::any_io_executor executor, ClientStore& store, QuotaEnforcer& quotas,
                               std::string_view admin_token, std::chrono::milliseconds reload_interval)
    : executor_(executor),
      store_(store),
      quotas_(quotas),
      directory_(admin_token),
      reload_interval_(reload_interval),
      timer_(executor) {}

void ClientRegistry::Start() {
  asio::co_spawn(executor_, ReloadLoop(), [](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("clients: reload loop ended by an exception: {}", ex.what());
      }
    }
  });
}

void ClientRegistry::Stop() {
  stopped_ = true;
  timer_.cancel();
}

awaitable<void> ClientRegistry::ReloadLoop() {
  while (!stopped_) {
    timer_.expires_after(reload_interval_);
    auto [ec] = co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    (void)ec;
    if (stopped_) break;
    co_await Reload();
  }
}

void ClientRegistry::Apply(const std::vector<ClientRecord>& active) {
  directory_.Replace(active);
  quota_of_.clear();
  for (const ClientRecord& c : active) {
    Quota q{c.quota_per_minute, c.quota_per_day};
    if (q.any()) quota_of_[c.id] = q;
  }
}

awaitable<bool> ClientRegistry::Reload() {
  const std::uint64_t generation = generation_;
  auto active = co_await store_.LoadActive();
  if (!active) {
    if (!last_load_failed_) {
      spdlog::warn("clients: cannot load the client table ({}); keeping the {} token(s) loaded before",
                   active.error().message, directory_.size());
    }
    last_load_failed_ = true;
    co_return false;
  }
  if (last_load_failed_) spdlog::info("clients: client table loaded again ({} active)", active->size());
  last_load_failed_ = false;
  std::vector<std::string> roles;
  for (const ClientRecord& c : *active) {
    if (!c.pg_role.empty() && std::find(roles.begin(), roles.end(), c.pg_role) == roles.end()) {
      roles.push_back(c.pg_role);
    }
  }
  auto hazards = co_await store_.RoleHazards(roles);
  if (generation != generation_) co_return true;  // a local change came meanwhile: its reload wins
  if (!hazards) {
    // Unknown: keep what the last check found (a role refused stays refused).
    spdlog::warn("clients: cannot check the client roles ({})", hazards.error().message);
  } else {
    for (const auto& [role, why] : *hazards) {
      if (!role_hazards_.contains(role)) spdlog::error("clients: refusing the clients of pgRole {}: {}", role, why);
    }
    role_hazards_ = std::move(*hazards);
  }
  Apply(*active);
  co_return true;
}

Result<Principal> ClientRegistry::Authenticate(std::string_view authorization) const {
  auto identity = directory_.Authenticate(authorization);
  if (!identity) return identity.error();
  if (!identity->principal.pg_role.empty()) {
    if (auto it = role_hazards_.find(identity->principal.pg_role); it != role_hazards_.end()) {
      return MakeError(ErrorCode::kForbidden, "this client is refused until its role is fixed: " + it->second);
    }
  }
  return std::move(identity->principal);
}

awaitable<Result<void>> ClientRegistry::Admit(const Principal& principal) {
  auto it = quota_of_.find(principal.client_id);
  if (it == quota_of_.end()) co_return Result<void>{};
  const Quota quota = it->second;  // the table may change while we wait
  auto admitted = co_await quotas_.Admit(principal.client_id, quota);
  co_return admitted;
}

awaitable<Result<CreatedClient>> ClientRegistry::Create(const ClientSpec& spec) {
  auto created = co_await store_.Create(spec);
  if (!created) co_return created.error();
  ++generation_;
  const bool reloaded = co_await Reload();
  if (!reloaded) {
    spdlog::warn("clients: client {} created, but the token table could not be reloaded yet", created->client.id);
  }
  co_return created;
}

awaitable<Result<std::vector<ClientRecord>>> ClientRegistry::List() {
  auto list = co_await store_.List();
  co_return list;
}

awaitable<Result<ClientRecord>> ClientRegistry::Revoke(const std::string& id) {
  auto revoked = co_await store_.Revoke(id);
  if (!revoked) co_return revoked.error();
  // Effective on this instance now, whatever the reload does.
  directory_.Remove(id);
  quota_of_.erase(id);
  ++generation_;
  co_await Reload();
  co_return revoked;
}

}  // namespace coredb::clients
