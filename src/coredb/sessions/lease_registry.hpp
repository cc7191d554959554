// The bookkeeping of leases and interactive transactions, without any I/O: ids, owners, sliding
// deadlines, busy flags, tombstones of what ended (so an expired id answers 410 rather than 404
// for a while), and the per-database counters. SessionManager drives it; unit tests drive it with
// a fake clock.
//
// A lease id names the instance that owns it (`cn_<instance>_<128 random bits in hex>`;
// transactions `tx_...`), so a router can send follow-ups to the owner and another instance
// answers 404 instead of a wrong result (DESIGN.md "Beyond one machine").
//
// Not thread-safe: the event loop's thread only.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"
#include "coredb/core/principal.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::sessions {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using std::chrono::milliseconds;

// What a lease holds (a pooled PostgreSQL connection, a dedicated Redis connection). Destroying
// it gives the connection back to its pool, which resets the session before anyone else gets it.
class LeaseResource {
 public:
  virtual ~LeaseResource() = default;
};

enum class IsolationLevel { kDefault, kReadCommitted, kRepeatableRead, kSerializable };

struct TransactionState {
  std::string id;
  WallTime started_wall;
  SteadyTime started;
  milliseconds idle_timeout{30000};
  SteadyTime max_deadline;
  SteadyTime last_used;
  bool read_only = false;
  IsolationLevel isolation = IsolationLevel::kDefault;

  SteadyTime Deadline() const { return std::min(last_used + idle_timeout, max_deadline); }
};

// Cache invalidations (the `invalidate` of a query, API.md "Queries") sent inside an open
// transaction block: kept on the lease until the block ends. SessionManager applies them after a
// COMMIT succeeded (or when its outcome is unknown) and drops them on rollback or expiry.
struct PendingInvalidation {
  std::vector<std::string> tags;
  std::vector<std::string> patterns;  // glob patterns

  bool empty() const { return tags.empty() && patterns.empty(); }
  void Merge(PendingInvalidation other) {
    tags.insert(tags.end(), std::make_move_iterator(other.tags.begin()), std::make_move_iterator(other.tags.end()));
    patterns.insert(patterns.end(), std::make_move_iterator(other.patterns.begin()),
                    std::make_move_iterator(other.patterns.end()));
  }
};

struct Lease {
  std::string id;
  Database database = Database::kPostgresql;
  std::string client_id;
  std::string client_name;
  WallTime acquired_wall;
  milliseconds ttl{30000};
  SteadyTime last_used;
  bool busy = false;      // a request is running on it: never reclaimed or released meanwhile
  bool implicit = false;  // opened by transaction/begin for that transaction alone
  std::optional<TransactionState> tx;
  std::unique_ptr<LeaseResource> resource;
  PendingInvalidation pending_invalidation;  // queued in its open transaction block (API or SQL BEGIN)

  SteadyTime LeaseDeadline() const { return last_used + ttl; }
  // The sooner of the lease's and its transaction's deadline.
  SteadyTime Deadline() const {
    return tx ? std::min(LeaseDeadline(), tx->Deadline()) : LeaseDeadline();
  }
};

// How a lease or transaction ended, for the answer its id gets afterwards.
enum class Ending {
  kReleased,          // lease: 404 from then on (API.md)
  kExpired,           // 410 LEASE_EXPIRED / TRANSACTION_EXPIRED
  kLost,              // the connection broke: 410, with that reason
  kCommitted,         // transaction: 409 CONFLICT ("already committed")
  kRolledBack,        // transaction: 409 CONFLICT
  kEndedByStatement,  // transaction: a COMMIT/ROLLBACK statement ended it: 409 CONFLICT
  kEndedByAdmin,      // an admin ended the lease (DELETE /api/v1/connections/{id}): 410, saying so
};

struct LeaseCounters {
  std::size_t leased = 0;
  std::uint64_t acquired_total = 0, released_total = 0, expired_total = 0;
};

class LeaseRegistry {
 public:
  // `instance_id`: [A-Za-z0-9]{1,32}. Tombstones are kept `tombstone_ttl` (API.md: at least 10
  // minutes) and at most `max_tombstones` (oldest dropped first) so they cannot grow unbounded.
  explicit LeaseRegistry(std::string instance_id, milliseconds tombstone_ttl = std::chrono::minutes(10),
                         std::size_t max_tombstones = 100000);

  const std::string& instance_id() const { return instance_id_; }

  Lease& Add(Database database, const Principal& owner, milliseconds ttl, std::unique_ptr<LeaseResource> resource,
             SteadyTime now, WallTime wall_now, bool implicit = false);

  // The caller's lease. 404 for unknown ids, ids of another client or another instance (saying
  // which instance owns it), released leases; 410 for expired or lost ones.
  Result<Lease*> FindLease(std::string_view id, const Principal& caller, SteadyTime now);
  // The lease running the caller's transaction `id`: 404 / 410 as above; 409 CONFLICT for a
  // transaction that was committed or rolled back.
  Result<Lease*> FindTransaction(std::string_view id, const Principal& caller, SteadyTime now);
  // Any client's lease, for an admin ending it; null when there is none.
  Lease* FindAnyLease(std::string_view id);

  // Opens the transaction record on `lease` (which has none) and returns its id.
  TransactionState& BeginTransaction(Lease& lease, TransactionState state);
  // Closes the transaction record; later uses of its id get the answer of `how`.
  void EndTransaction(Lease& lease, Ending how, SteadyTime now, std::string reason = {});
  // Takes the lease out (it must not be busy) and returns its resource, for the caller to
  // destroy (which gives the connection back). An open transaction ends with `how` too.
  std::unique_ptr<LeaseResource> Remove(Lease& lease, Ending how, SteadyTime now, std::string reason = {});

  // Leases whose deadline (lease's or transaction's) has passed and that are not busy.
  std::vector<Lease*> Expired(SteadyTime now);
  std::vector<const Lease*> All() const;
  std::size_t size() const { return leases_.size(); }
  bool empty() const { return leases_.empty(); }
  LeaseCounters Counters(Database database) const;

  // Drops tombstones older than the ttl (called by the sweeper).
  void PruneTombstones(SteadyTime now);
  std::size_t tombstone_count() const { return tombstones_.size(); }

 private:
  struct Tombstone {
    std::string client_id;
    Ending how;
    std::string reason;
    SteadyTime when;
  };
  std::string NewId(std::string_view kind);
  // The Error for a missing id: foreign instance, tombstone, or plain unknown.
  Error Missing(std::string_view id, std::string_view what, const Principal& caller, bool is_transaction);
  void Bury(const std::string& id, const std::string& client_id, Ending how, std::string reason, SteadyTime now);
  static std::size_t Index(Database database) { return static_cast<std::size_t>(database); }

  std::string instance_id_;
  milliseconds tombstone_ttl_;
  std::size_t max_tombstones_;
  std::unordered_map<std::string, std::unique_ptr<Lease>> leases_;
  std::unordered_map<std::string, Lease*> transactions_;
  std::unordered_map<std::string, Tombstone> tombstones_;
  std::deque<std::pair<SteadyTime, std::string>> tombstone_order_;
  std::array<LeaseCounters, 3> counters_{};
};

// "read committed" | "repeatable read" | "serializable" (the API's spelling), or nullopt.
std::optional<IsolationLevel> ParseIsolationLevel(std::string_view text);
const char* IsolationLevelSql(IsolationLevel level);  // "" for kDefault

}  // namespace coredb::sessions
