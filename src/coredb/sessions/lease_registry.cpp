#include "coredb/sessions/lease_registry.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace coredb::sessions {

namespace {

constexpr std::size_t kRandomBytes = 16;  // 128 bits: ids are unguessable

const char* KindName(bool is_transaction) { return is_transaction ? "transactionId" : "connectionId"; }

// `cn_<instance>_<hex>` → instance, or empty when the id does not have that shape.
std::string_view InstanceOf(std::string_view id) {
  if (id.size() < 4 || id[2] != '_') return {};
  const auto rest = id.substr(3);
  const auto sep = rest.find('_');
  if (sep == std::string_view::npos || sep == 0) return {};
  return rest.substr(0, sep);
}

// Ids are echoed in messages: keep the echo short and printable.
std::string Quote(std::string_view id) {
  std::string out = "'";
  for (char c : id.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (id.size() > 80) out += "...";
  return out + "'";
}

}  // namespace

std::optional<IsolationLevel> ParseIsolationLevel(std::string_view text) {
  if (text == "read committed") return IsolationLevel::kReadCommitted;
  if (text == "repeatable read") return IsolationLevel::kRepeatableRead;
  if (text == "serializable") return IsolationLevel::kSerializable;
  return std::nullopt;
}

const char* IsolationLevelSql(IsolationLevel level) {
  switch (level) {
    case IsolationLevel::kReadCommitted: return "READ COMMITTED";
    case IsolationLevel::kRepeatableRead: return "REPEATABLE READ";
    case IsolationLevel::kSerializable: return "SERIALIZABLE";
    case IsolationLevel::kDefault: break;
  }
  return "";
}

LeaseRegistry::LeaseRegistry(std::string instance_id, milliseconds tombstone_ttl, std::size_t max_tombstones)
    : instance_id_(std::move(instance_id)), tombstone_ttl_(tombstone_ttl), max_tombstones_(max_tombstones) {}

std::string LeaseRegistry::NewId(std::string_view kind) {
  unsigned char bytes[kRandomBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(kind.size() + instance_id_.size() + 2 + 2 * kRandomBytes);
  id.append(kind).append("_").append(instance_id_).append("_");
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

Lease& LeaseRegistry::Add(Database database, const Principal& owner, milliseconds ttl,
                          std::unique_ptr<LeaseResource> resource, SteadyTime now, WallTime wall_now, bool implicit) {
  auto lease = std::make_unique<Lease>();
  lease->id = NewId("cn");
  lease->database = database;
  lease->client_id = owner.client_id;
  lease->client_name = owner.client_name;
  lease->acquired_wall = wall_now;
  lease->ttl = ttl;
  lease->last_used = now;
  lease->implicit = implicit;
  lease->resource = std::move(resource);
  auto& counters = counters_[Index(database)];
  ++counters.leased;
  ++counters.acquired_total;
  Lease& ref = *lease;
  leases_.emplace(lease->id, std::move(lease));
  return ref;
}

Error LeaseRegistry::Missing(std::string_view id, std::string_view what, const Principal& caller,
                             bool is_transaction) {
  const std::string kind = KindName(is_transaction);
  const auto instance = InstanceOf(id);
  if (!instance.empty() && instance != instance_id_) {
    return Error(ErrorCode::kNotFound, "unknown " + kind + " " + Quote(id) + ": it belongs to instance '" +
                                           std::string(instance.substr(0, 32)) + "', this is '" + instance_id_ + "'");
  }
  auto it = tombstones_.find(std::string(id));
  if (it == tombstones_.end() || it->second.client_id != caller.client_id || it->second.how == Ending::kReleased) {
    return Error(ErrorCode::kNotFound, "unknown " + kind + " " + Quote(id));
  }
  const Tombstone& t = it->second;
  const std::string suffix = t.reason.empty() ? "" : " (" + t.reason + ")";
  switch (t.how) {
    case Ending::kExpired:
    case Ending::kLost:
      return Error(is_transaction ? ErrorCode::kTransactionExpired : ErrorCode::kLeaseExpired,
                   std::string(what) + " " + Quote(id) + " expired and was reclaimed" +
                       (is_transaction || t.how == Ending::kLost ? "; its work was rolled back" : "") + suffix);
    case Ending::kCommitted:
      return Error(ErrorCode::kConflict, "transaction " + Quote(id) + " was already committed" + suffix);
    case Ending::kRolledBack:
      return Error(ErrorCode::kConflict, "transaction " + Quote(id) + " was already rolled back" + suffix);
    case Ending::kEndedByStatement:
      return Error(ErrorCode::kConflict, "transaction " + Quote(id) + " already ended" + suffix);
    case Ending::kEndedByAdmin:
      return Error(is_transaction ? ErrorCode::kTransactionExpired : ErrorCode::kLeaseExpired,
                   std::string(what) + " " + Quote(id) + " was ended by an admin; its work was rolled back" + suffix);
    case Ending::kReleased: break;
  }
  return Error(ErrorCode::kNotFound, "unknown " + kind + " " + Quote(id));
}

Result<Lease*> LeaseRegistry::FindLease(std::string_view id, const Principal& caller, SteadyTime now) {
  PruneTombstones(now);
  auto it = leases_.find(std::string(id));
  if (it == leases_.end()) return Missing(id, "connection", caller, false);
  Lease* lease = it->second.get();
  if (lease->client_id != caller.client_id) return Missing(id, "connection", caller, false);
  return lease;
}

Result<Lease*> LeaseRegistry::FindTransaction(std::string_view id, const Principal& caller, SteadyTime now) {
  PruneTombstones(now);
  auto it = transactions_.find(std::string(id));
  if (it == transactions_.end()) return Missing(id, "transaction", caller, true);
  Lease* lease = it->second;
  if (lease->client_id != caller.client_id) return Missing(id, "transaction", caller, true);
  return lease;
}

Lease* LeaseRegistry::FindAnyLease(std::string_view id) {
  auto it = leases_.find(std::string(id));
  return it == leases_.end() ? nullptr : it->second.get();
}

TransactionState& LeaseRegistry::BeginTransaction(Lease& lease, TransactionState state) {
  state.id = NewId("tx");
  lease.tx = std::move(state);
  transactions_[lease.tx->id] = &lease;
  return *lease.tx;
}

void LeaseRegistry::EndTransaction(Lease& lease, Ending how, SteadyTime now, std::string reason) {
  if (!lease.tx) return;
  transactions_.erase(lease.tx->id);
  Bury(lease.tx->id, lease.client_id, how, std::move(reason), now);
  lease.tx.reset();
}

std::unique_ptr<LeaseResource> LeaseRegistry::Remove(Lease& lease, Ending how, SteadyTime now, std::string reason) {
  if (lease.tx) EndTransaction(lease, how == Ending::kReleased ? Ending::kRolledBack : how, now, reason);
  auto& counters = counters_[Index(lease.database)];
  --counters.leased;
  if (how == Ending::kReleased || how == Ending::kEndedByAdmin) {
    ++counters.released_total;  // given back (by its lessee or an admin), not leaked
  } else {
    ++counters.expired_total;  // expired or lost: the lessee did not give it back
  }
  Bury(lease.id, lease.client_id, how, std::move(reason), now);
  auto resource = std::move(lease.resource);
  leases_.erase(lease.id);  // destroys `lease`
  return resource;
}

std::vector<Lease*> LeaseRegistry::Expired(SteadyTime now) {
  std::vector<Lease*> out;
  for (auto& [id, lease] : leases_) {
    if (!lease->busy && lease->Deadline() <= now) out.push_back(lease.get());
  }
  return out;
}

std::vector<const Lease*> LeaseRegistry::All() const {
  std::vector<const Lease*> out;
  out.reserve(leases_.size());
  for (const auto& [id, lease] : leases_) out.push_back(lease.get());
  std::sort(out.begin(), out.end(), [](const Lease* a, const Lease* b) { return a->acquired_wall < b->acquired_wall; });
  return out;
}

LeaseCounters LeaseRegistry::Counters(Database database) const { return counters_[Index(database)]; }

void LeaseRegistry::Bury(const std::string& id, const std::string& client_id, Ending how, std::string reason,
                         SteadyTime now) {
  if (max_tombstones_ == 0) return;
  while (tombstones_.size() >= max_tombstones_ && !tombstone_order_.empty()) {
    tombstones_.erase(tombstone_order_.front().second);
    tombstone_order_.pop_front();
  }
  tombstones_[id] = Tombstone{client_id, how, std::move(reason), now};
  tombstone_order_.emplace_back(now, id);
}

void LeaseRegistry::PruneTombstones(SteadyTime now) {
  while (!tombstone_order_.empty() && tombstone_order_.front().first + tombstone_ttl_ <= now) {
    auto it = tombstones_.find(tombstone_order_.front().second);
    // A re-buried id (a transaction's later ending) keeps its newer entry.
    if (it != tombstones_.end() && it->second.when + tombstone_ttl_ <= now) tombstones_.erase(it);
    tombstone_order_.pop_front();
  }
}

}  // namespace coredb::sessions
