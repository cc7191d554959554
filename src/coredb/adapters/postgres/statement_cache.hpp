// The named prepared statements of one PostgreSQL session, by SQL text, least recently used
// evicted first (what userver and PgBouncer's max_prepared_statements keep per server
// connection). A statement is parsed and planned once per connection instead of once per call;
// the server's plan cache then re-plans it by itself when search_path or a referenced table
// changes. Pure bookkeeping, no I/O: Connection sends the Parse (and, for evicted names, a
// DEALLOCATE) and reports what the server accepted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace coredb::pg {

class StatementCache {
 public:
  explicit StatementCache(std::size_t capacity) : capacity_(capacity) {}

  // Worth a named statement: a plain DML or query (SELECT, INSERT, UPDATE, DELETE, WITH, VALUES,
  // TABLE, MERGE, after leading blanks, comments and parentheses). Utility statements (BEGIN,
  // SET, DDL, DISCARD, DEALLOCATE ...) are cheap to parse and run unnamed.
  static bool Preparable(std::string_view sql);

  std::size_t capacity() const { return capacity_; }
  std::size_t size() const { return entries_.size(); }
  bool enabled() const { return capacity_ > 0; }

  // The server-side name of `sql` when the session holds it (and it becomes the most recent).
  const std::string* Find(std::string_view sql);
  // A fresh name for `sql`, never used before on this connection (nothing is recorded yet).
  std::string NewName();
  // The server accepted the Parse of `sql` as `name`: remember it; the least recently used
  // entries beyond the capacity move to PendingDeallocations().
  void Add(std::string_view sql, std::string name);
  // `sql`'s statement must not be used again (its cached plan changed type): forget it and
  // deallocate it later.
  void Evict(std::string_view sql);
  // The session lost every prepared statement (DISCARD ALL, DEALLOCATE ALL, or one we cannot
  // attribute): forget all, nothing to deallocate.
  void Clear();

  // Names evicted but possibly still on the server: Connection sends DEALLOCATE for them when
  // the session is outside a transaction block, then calls ClearPendingDeallocations().
  const std::vector<std::string>& PendingDeallocations() const { return to_deallocate_; }
  void ClearPendingDeallocations() { to_deallocate_.clear(); }

  // Counters (exported through the pool's stats).
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::uint64_t evictions() const { return evictions_; }
  void CountMiss() { ++misses_; }

 private:
  struct Entry {
    std::string sql;
    std::string name;
  };
  void EvictIterator(std::list<Entry>::iterator it);

  std::size_t capacity_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> by_sql_;  // views into entries_
  std::vector<std::string> to_deallocate_;
  std::uint64_t next_ = 0;
  std::uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace coredb::pg
