#include "coredb/migrations/migrator.hpp"

#include <boost/json/array.hpp>

#include <algorithm>
#include <map>

namespace coredb::migrations {

namespace {

std::string Label(int version, const std::string& name) { return std::to_string(version) + " (" + name + ")"; }

std::string Short(const std::string& checksum) { return checksum.substr(0, 12); }

const Migration* Find(const std::vector<Migration>& known, int version) {
  for (const auto& m : known) {
    if (m.version == version) return &m;
  }
  return nullptr;
}

// The problem with one applied migration, if any.
std::optional<std::string> AppliedProblem(const std::vector<Migration>& known, const AppliedMigration& a) {
  const Migration* m = Find(known, a.version);
  if (m == nullptr) {
    return "migration " + Label(a.version, a.name) +
           " is applied in the database but unknown to this binary (the database is newer than this build)";
  }
  if (m->checksum != a.checksum) {
    return "migration " + Label(a.version, m->name) + " was changed after it was applied: recorded checksum " +
           Short(a.checksum) + "…, file " + m->up_file + " now has " + Short(m->checksum) +
           "… (restore the file; put changes in a new migration)";
  }
  return std::nullopt;
}

std::vector<std::string> HistoryProblems(const std::vector<Migration>& known,
                                         const std::vector<AppliedMigration>& applied) {
  std::vector<std::string> problems;
  int highest = 0;
  for (const auto& a : applied) {
    if (auto p = AppliedProblem(known, a)) problems.push_back(std::move(*p));
    highest = std::max(highest, a.version);
  }
  for (const auto& m : known) {
    const bool is_applied =
        std::any_of(applied.begin(), applied.end(), [&](const AppliedMigration& a) { return a.version == m.version; });
    if (!is_applied && m.version < highest) {
      problems.push_back("migration " + Label(m.version, m.name) + " is pending but the later migration " +
                         std::to_string(highest) +
                         " is already applied (renumber it above the applied ones, or roll back first)");
    }
  }
  return problems;
}

Error Refused(const std::vector<std::string>& problems) {
  std::string message = problems.front();
  if (problems.size() > 1) message += " (and " + std::to_string(problems.size() - 1) + " more problem(s): see status)";
  return MakeError(ErrorCode::kConflict, std::move(message));
}

}  // namespace

MigrationStatus DescribeStatus(const std::vector<Migration>& known, const std::vector<AppliedMigration>& applied) {
  MigrationStatus status;
  status.history = applied;
  std::sort(status.history.begin(), status.history.end(),
            [](const AppliedMigration& a, const AppliedMigration& b) { return a.version < b.version; });
  if (!status.history.empty()) status.current = status.history.back().version;
  for (const auto& m : known) {
    const bool is_applied =
        std::any_of(applied.begin(), applied.end(), [&](const AppliedMigration& a) { return a.version == m.version; });
    if (!is_applied) status.pending.push_back(m.version);
  }
  status.problems = HistoryProblems(known, status.history);
  return status;
}

Result<std::vector<const Migration*>> PlanMigrate(const std::vector<Migration>& known,
                                                  const std::vector<AppliedMigration>& applied,
                                                  std::optional<int> target) {
  if (target && Find(known, *target) == nullptr) {
    std::string versions;
    for (const auto& m : known) versions += (versions.empty() ? "" : ", ") + std::to_string(m.version);
    return MakeError(ErrorCode::kInvalidRequest,
                     "unknown target version " + std::to_string(*target) + " (known: " + versions + ")");
  }
  auto problems = HistoryProblems(known, applied);
  if (!problems.empty()) return Refused(problems);
  std::vector<const Migration*> plan;
  for (const auto& m : known) {  // ascending
    if (target && m.version > *target) break;
    const bool is_applied =
        std::any_of(applied.begin(), applied.end(), [&](const AppliedMigration& a) { return a.version == m.version; });
    if (!is_applied) plan.push_back(&m);
  }
  return plan;
}

Result<std::vector<const Migration*>> PlanRollback(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied, int steps) {
  if (steps < 1) return MakeError(ErrorCode::kInvalidRequest, "steps must be at least 1");
  if (applied.empty()) return MakeError(ErrorCode::kConflict, "nothing to roll back: no migration is applied");
  if (static_cast<std::size_t>(steps) > applied.size()) {
    return MakeError(ErrorCode::kConflict, "cannot roll back " + std::to_string(steps) + " migrations: only " +
                                               std::to_string(applied.size()) + " applied (nothing was changed)");
  }
  std::vector<AppliedMigration> newest_first = applied;
  std::sort(newest_first.begin(), newest_first.end(),
            [](const AppliedMigration& a, const AppliedMigration& b) { return a.version > b.version; });
  std::vector<const Migration*> plan;
  for (int i = 0; i < steps; ++i) {
    if (auto problem = AppliedProblem(known, newest_first[static_cast<std::size_t>(i)])) {
      return MakeError(ErrorCode::kConflict, "cannot roll back: " + *problem);
    }
    plan.push_back(Find(known, newest_first[static_cast<std::size_t>(i)].version));
  }
  return plan;
}

boost::json::object StatusToJson(const MigrationStatus& status) {
  boost::json::object out;
  if (status.current) {
    out["current"] = *status.current;
  } else {
    out["current"] = nullptr;
  }
  boost::json::array pending;
  for (int v : status.pending) pending.emplace_back(v);
  out["pending"] = std::move(pending);
  boost::json::array history;
  for (const auto& a : status.history) {
    history.emplace_back(boost::json::object{{"version", a.version},
                                             {"name", a.name},
                                             {"appliedAt", a.applied_at},
                                             {"duration", a.duration_ms},
                                             {"checksum", a.checksum}});
  }
  out["history"] = std::move(history);
  boost::json::array problems;
  for (const auto& p : status.problems) problems.emplace_back(p);
  out["problems"] = std::move(problems);
  return out;
}

}  // namespace coredb::migrations
