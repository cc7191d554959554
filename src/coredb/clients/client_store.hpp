// Clients in PostgreSQL (table coredb_clients, migration 0003), through the SqlBackend port.
// Used by the admin endpoints, the CLI and the periodic reload of the in-memory token table;
// never on a request's authentication path.
#pragma once

#include "coredb/clients/client_rules.hpp"
#include "coredb/core/ports.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace coredb::clients {

struct CreatedClient {
  ClientRecord client;
  std::string token;  // shown once, never stored
};

class ClientStore {
 public:
  ClientStore(SqlBackend& sql, std::chrono::milliseconds timeout) : sql_(sql), timeout_(timeout) {}

  // Checks the pgRole against pg_roles (exists, not a superuser, and the service's own role is
  // a member of it, so SET ROLE can work), then inserts the client with a fresh token.
  // 409 CONFLICT when an active client has this name.
  boost::asio::awaitable<Result<CreatedClient>> Create(const ClientSpec& spec);
  // Every client, revoked ones included, oldest first.
  boost::asio::awaitable<Result<std::vector<ClientRecord>>> List();
  // Clients that are not revoked (with their token hashes): the authentication table.
  boost::asio::awaitable<Result<std::vector<ClientRecord>>> LoadActive();
  // Of `roles`, those that could switch to the service's user and back inside one statement (DO
  // blocks, temporary functions, CREATE on a schema), each with why and what to revoke. The same
  // check refuses such a pgRole at Create; this one finds privileges granted later.
  boost::asio::awaitable<Result<std::unordered_map<std::string, std::string>>> RoleHazards(
      const std::vector<std::string>& roles);
  // Sets revoked_at (kept when already set). 404 for an id that is not a client.
  boost::asio::awaitable<Result<ClientRecord>> Revoke(const std::string& id);

 private:
  boost::asio::awaitable<Result<std::vector<ClientRecord>>> Select(std::string_view where,
                                                                   const boost::json::array* params);
  SqlBackend& sql_;
  std::chrono::milliseconds timeout_;
};

// A canonical UUID (8-4-4-4-12 hex digits).
bool IsUuid(std::string_view text);

}  // namespace coredb::clients
