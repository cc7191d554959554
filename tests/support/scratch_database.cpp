#include "support/scratch_database.hpp"

#include "support/service_process.hpp"

#include <libpq-fe.h>

#include <random>
#include <stdexcept>

namespace coredb::testing {

namespace {

std::string Quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

template <class F>
void ForEachOption(const std::string& conninfo, F&& f) {
  char* err = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &err);
  if (options == nullptr) {
    std::string message = err != nullptr ? err : "out of memory";
    if (err != nullptr) PQfreemem(err);
    throw std::runtime_error("bad conninfo: " + message);
  }
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) f(std::string(o->keyword), std::string(o->val));
  }
  PQconninfoFree(options);
}

}  // namespace

std::string WithDatabase(const std::string& conninfo, const std::string& dbname) {
  std::string out = "dbname=" + Quote(dbname);
  ForEachOption(conninfo, [&](const std::string& key, const std::string& value) {
    if (key != "dbname") out += " " + key + "=" + Quote(value);
  });
  return out;
}

std::string ConninfoUser(const std::string& conninfo) {
  std::string user;
  ForEachOption(conninfo, [&](const std::string& key, const std::string& value) {
    if (key == "user") user = value;
  });
  return user;
}

ScratchDatabase::ScratchDatabase(bool with_extensions) {
  const std::string app = RequireEnv("DATABASE_URL");
  admin_conninfo_ = RequireEnv("PG_SUPERUSER_URL");
  owner_ = ConninfoUser(app);
  if (owner_.empty()) throw std::runtime_error("DATABASE_URL names no user");
  std::random_device rd;
  name_ = "coredb_test_" + std::to_string(rd() % 1000000000u);
  app_conninfo_ = WithDatabase(app, name_);
  superuser_conninfo_ = WithDatabase(admin_conninfo_, name_);
  Psql admin(admin_conninfo_);
  admin.Exec("CREATE DATABASE \"" + name_ + "\" OWNER \"" + owner_ + "\"");
  Psql super(superuser_conninfo_);
  if (with_extensions) {
    super.Exec("CREATE EXTENSION IF NOT EXISTS pg_trgm");
    super.Exec("CREATE EXTENSION IF NOT EXISTS \"uuid-ossp\"");
  }
  // Hardened for client roles as scripts/devstack hardens the shared database (README.md
  // "Client roles"): no DO blocks and no temporary functions for roles other than the owner.
  super.Exec("REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC");
  super.Exec("GRANT USAGE ON LANGUAGE plpgsql TO \"" + owner_ + "\"");
  super.Exec("REVOKE TEMPORARY ON DATABASE \"" + name_ + "\" FROM PUBLIC");
}

ScratchDatabase::~ScratchDatabase() {
  try {
    Psql admin(admin_conninfo_);
    admin.Exec("DROP DATABASE IF EXISTS \"" + name_ + "\" WITH (FORCE)");
  } catch (const std::exception&) {
    // The server may be down (a failure-drill test): the dev stack is thrown away anyway.
  }
}

}  // namespace coredb::testing
