// Versioned SQL migrations: what one is and where the set comes from.
//
// A migration is a pair of files in migrations/: `NNNN_name.up.sql` (applied by `migrate`) and
// `NNNN_name.down.sql` (run by `rollback`), NNNN its version (a positive integer; leading zeros
// only sort the listing), `name` in [a-z0-9_]. The build embeds the files into the binary
// (cmake/embed_migrations.cmake generates EmbeddedMigrationFiles()), so the binary does not
// depend on its working directory; COREDB_MIGRATIONS_DIR may name a directory to read instead.
// The checksum is the SHA-256 of the up file: what was applied. Editing an applied up file is
// refused; the down file may be corrected.
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/migrations/sql_script.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace coredb::migrations {

struct MigrationFile {
  std::string name;  // file name, no directory: "0001_platform_schema.up.sql"
  std::string content;
};

struct Migration {
  int version = 0;
  std::string name;      // "platform_schema"
  std::string checksum;  // lower-case hex SHA-256 of the up file
  std::vector<SqlStatement> up;
  std::vector<SqlStatement> down;  // may be empty (a migration with nothing to undo)
  std::string up_file, down_file;  // for messages
};

// Pairs the up and down files, checks names, versions and SQL syntax enough to split it into
// statements; the result is sorted by version. Every problem names its file (kInvalidRequest).
// An empty set is an error.
Result<std::vector<Migration>> BuildMigrationSet(std::vector<MigrationFile> files);

// The files of migrations/ at build time (generated source).
std::vector<MigrationFile> EmbeddedMigrationFiles();

// The *.sql files of `directory` (other files are ignored). Reads at start-up only.
Result<std::vector<MigrationFile>> ReadMigrationDirectory(const std::string& directory);

// The set to use: the embedded one, or the one in `directory` when it is not empty.
Result<std::vector<Migration>> LoadMigrations(const std::string& directory);

std::string Sha256Hex(std::string_view data);

}  // namespace coredb::migrations
