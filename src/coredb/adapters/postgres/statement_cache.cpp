#include "coredb/adapters/postgres/statement_cache.hpp"

#include <array>
#include <cctype>

namespace coredb::pg {

bool StatementCache::Preparable(std::string_view sql) {
  std::size_t i = 0;
  for (;;) {
    while (i < sql.size() && (std::isspace(static_cast<unsigned char>(sql[i])) != 0 || sql[i] == '(')) ++i;
    if (sql.substr(i, 2) == "--") {
      const auto end = sql.find('\n', i);
      if (end == std::string_view::npos) return false;
      i = end + 1;
      continue;
    }
    if (sql.substr(i, 2) == "/*") {
      // Nested comments: PostgreSQL allows them.
      int depth = 0;
      do {
        if (sql.substr(i, 2) == "/*") {
          ++depth;
          i += 2;
        } else if (sql.substr(i, 2) == "*/") {
          --depth;
          i += 2;
        } else {
          ++i;
        }
      } while (depth > 0 && i < sql.size());
      if (depth > 0) return false;
      continue;
    }
    break;
  }
  std::size_t end = i;
  while (end < sql.size() && std::isalpha(static_cast<unsigned char>(sql[end])) != 0) ++end;
  const std::string_view word = sql.substr(i, end - i);
  if (word.empty() || word.size() > 6) return false;
  std::string lower(word);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::array<std::string_view, 8> kWords = {"select", "insert", "update", "delete",
                                                             "with",   "values", "table",  "merge"};
  for (std::string_view w : kWords) {
    if (lower == w) return true;
  }
  return false;
}

const std::string* StatementCache::Find(std::string_view sql) {
  const auto it = by_sql_.find(sql);
  if (it == by_sql_.end()) return nullptr;
  ++hits_;
  entries_.splice(entries_.begin(), entries_, it->second);  // iterators and views stay valid
  return &it->second->name;
}

std::string StatementCache::NewName() { return "coredb_s" + std::to_string(++next_); }

void StatementCache::Add(std::string_view sql, std::string name) {
  if (capacity_ == 0) {
    to_deallocate_.push_back(std::move(name));
    return;
  }
  if (const auto it = by_sql_.find(sql); it != by_sql_.end()) {
    // (Two Parses of one text in one exchange cannot happen, but stay consistent if it does.)
    to_deallocate_.push_back(std::move(name));
    return;
  }
  entries_.push_front(Entry{std::string(sql), std::move(name)});
  by_sql_.emplace(entries_.front().sql, entries_.begin());
  while (entries_.size() > capacity_) EvictIterator(std::prev(entries_.end()));
}

void StatementCache::EvictIterator(std::list<Entry>::iterator it) {
  ++evictions_;
  to_deallocate_.push_back(std::move(it->name));
  by_sql_.erase(it->sql);
  entries_.erase(it);
}

void StatementCache::Evict(std::string_view sql) {
  if (const auto it = by_sql_.find(sql); it != by_sql_.end()) EvictIterator(it->second);
}

void StatementCache::Clear() {
  by_sql_.clear();
  entries_.clear();
  to_deallocate_.clear();
}

}  // namespace coredb::pg
