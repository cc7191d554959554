// Test support: a throw-away PostgreSQL database per test, for tests that migrate (and so must
// not touch the database other tests share). Created through PG_SUPERUSER_URL, owned by the
// application role of DATABASE_URL (not a superuser, as in production: whatever the migrations
// need, that role must be allowed to do), dropped (WITH FORCE) by the destructor.
#pragma once

#include <string>

namespace coredb::testing {

class ScratchDatabase {
 public:
  // `with_extensions`: first create pg_trgm and uuid-ossp as superuser, as scripts/devstack does
  // for the shared database. Throws std::runtime_error when the server refuses.
  explicit ScratchDatabase(bool with_extensions = true);
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  const std::string& name() const { return name_; }
  // libpq key=value strings for the new database: as the application role, and as superuser.
  const std::string& app_conninfo() const { return app_conninfo_; }
  const std::string& superuser_conninfo() const { return superuser_conninfo_; }
  const std::string& owner() const { return owner_; }

 private:
  std::string name_;
  std::string owner_;
  std::string app_conninfo_;
  std::string superuser_conninfo_;
  std::string admin_conninfo_;  // superuser, on the original database: creates and drops
};

// `conninfo` (URL or key=value) with its dbname replaced, as a key=value string.
std::string WithDatabase(const std::string& conninfo, const std::string& dbname);
// The user a conninfo names ("" when none).
std::string ConninfoUser(const std::string& conninfo);

}  // namespace coredb::testing
