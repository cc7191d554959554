// The clients of a running service: the in-memory token table (ClientDirectory) kept in step
// with PostgreSQL (ClientStore), and the quotas of each client.
//
// Freshness: the table is loaded at start, reloaded at once after every change made through
// this instance (a revoke also drops the client from the table before the reload, so it is
// effective immediately here) and reloaded every `reload_interval` (5 s by default). A client
// created or revoked through ANOTHER instance (or the CLI) is seen here within one
// reload_interval plus one reload (bounded by its 2 s statement timeout) while PostgreSQL is
// reachable; while it is not, the last table loaded stays in force (a warning is logged).
#pragma once

#include "coredb/clients/client_directory.hpp"
#include "coredb/clients/client_store.hpp"
#include "coredb/clients/quota.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace coredb::clients {

class ClientRegistry {
 public:
  ClientRegistry(boost::asio::any_io_executor executor, ClientStore& store, QuotaEnforcer& quotas,
                 std::string_view admin_token, std::chrono::milliseconds reload_interval);

  // Reloads the table every reload_interval until Stop() (the first load is the caller's: Reload()).
  void Start();
  void Stop();

  // 401 UNAUTHENTICATED, 403 FORBIDDEN for a client whose pgRole has gained a privilege that
  // lets one statement switch roles and back (found by the last reload; README.md "Client
  // roles"), or the caller's principal (no I/O).
  Result<Principal> Authenticate(std::string_view authorization) const;
  // 429 RATE_LIMITED when the caller is over one of its quotas (at most one Redis round trip;
  // none for a client without quotas, such as the bootstrap admin).
  boost::asio::awaitable<Result<void>> Admit(const Principal& principal);

  boost::asio::awaitable<Result<CreatedClient>> Create(const ClientSpec& spec);
  boost::asio::awaitable<Result<std::vector<ClientRecord>>> List();
  boost::asio::awaitable<Result<ClientRecord>> Revoke(const std::string& id);

  // Reads the active clients and replaces the table (unless a local change happened meanwhile:
  // that change's own reload is the fresher one). False when PostgreSQL could not be read.
  boost::asio::awaitable<bool> Reload();

  std::size_t size() const { return directory_.size(); }

 private:
  void Apply(const std::vector<ClientRecord>& active);
  boost::asio::awaitable<void> ReloadLoop();

  boost::asio::any_io_executor executor_;
  ClientStore& store_;
  QuotaEnforcer& quotas_;
  ClientDirectory directory_;
  std::unordered_map<std::string, Quota> quota_of_;
  // pgRole → why its clients are refused (ClientStore::RoleHazards), as of the last reload.
  std::unordered_map<std::string, std::string> role_hazards_;
  std::chrono::milliseconds reload_interval_;
  boost::asio::steady_timer timer_;
  std::uint64_t generation_ = 0;  // bumped by every local change
  bool stopped_ = false;
  bool last_load_failed_ = false;
};

}  // namespace coredb::clients
