#include "coredb/migrations/migration.hpp"

#include "coredb/core/token_auth.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <system_error>

namespace coredb::migrations {

namespace {

// A migration file is SQL written by hand: anything this big is a mistake (or not SQL).
constexpr std::uintmax_t kMaxFileBytes = 16 * 1024 * 1024;

struct ParsedName {
  int version = 0;
  std::string name;
  bool up = false;
};

// "0001_platform_schema.up.sql" → {1, "platform_schema", up}.
std::optional<ParsedName> ParseFileName(std::string_view file) {
  ParsedName parsed;
  constexpr std::string_view kUp = ".up.sql", kDown = ".down.sql";
  std::string_view stem;
  if (file.size() > kUp.size() && file.substr(file.size() - kUp.size()) == kUp) {
    parsed.up = true;
    stem = file.substr(0, file.size() - kUp.size());
  } else if (file.size() > kDown.size() && file.substr(file.size() - kDown.size()) == kDown) {
    stem = file.substr(0, file.size() - kDown.size());
  } else {
    return std::nullopt;
  }
  const std::size_t underscore = stem.find('_');
  if (underscore == 0 || underscore == std::string_view::npos || underscore > 9) return std::nullopt;
  const std::string_view digits = stem.substr(0, underscore);
  const std::string_view name = stem.substr(underscore + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    return std::nullopt;
  }
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed.version);
  if (ec != std::errc() || parsed.version <= 0) return std::nullopt;
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return std::nullopt;
  }
  parsed.name = std::string(name);
  return parsed;
}

Error FileError(const std::string& file, const std::string& problem) {
  return MakeError(ErrorCode::kInvalidRequest, "migration file " + file + ": " + problem);
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  const TokenDigest digest = Sha256(data);
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

Result<std::vector<Migration>> BuildMigrationSet(std::vector<MigrationFile> files) {
  struct Pair {
    const MigrationFile* up = nullptr;
    const MigrationFile* down = nullptr;
    std::string name;
  };
  std::map<int, Pair> by_version;
  for (const auto& file : files) {
    auto parsed = ParseFileName(file.name);
    if (!parsed) {
      return FileError(file.name,
                       "the name must be NNNN_name.up.sql or NNNN_name.down.sql (NNNN a positive number, name in "
                       "[a-z0-9_])");
    }
    Pair& pair = by_version[parsed->version];
    if (!pair.name.empty() && pair.name != parsed->name) {
      return FileError(file.name, "version " + std::to_string(parsed->version) + " is also used by '" + pair.name +
                                      "': each version has one name");
    }
    pair.name = parsed->name;
    const MigrationFile*& slot = parsed->up ? pair.up : pair.down;
    if (slot != nullptr) return FileError(file.name, "duplicate of " + slot->name);
    slot = &file;
  }
  if (by_version.empty()) return MakeError(ErrorCode::kInvalidRequest, "no migration files");

  std::vector<Migration> set;
  for (const auto& [version, pair] : by_version) {
    if (pair.up == nullptr || pair.down == nullptr) {
      const MigrationFile* present = pair.up != nullptr ? pair.up : pair.down;
      return FileError(present->name, std::string("has no ") + (pair.up == nullptr ? "up" : "down") +
                                          " file (every migration needs both; the down file may hold only a comment)");
    }
    Migration m;
    m.version = version;
    m.name = pair.name;
    m.checksum = Sha256Hex(pair.up->content);
    m.up_file = pair.up->name;
    m.down_file = pair.down->name;
    auto up = SplitSqlScript(pair.up->content);
    if (!up) return FileError(pair.up->name, up.error().message);
    if (up->empty()) return FileError(pair.up->name, "holds no SQL statement");
    auto down = SplitSqlScript(pair.down->content);
    if (!down) return FileError(pair.down->name, down.error().message);
    m.up = std::move(*up);
    m.down = std::move(*down);
    set.push_back(std::move(m));
  }
  return set;
}

Result<std::vector<MigrationFile>> ReadMigrationDirectory(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  if (ec) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "COREDB_MIGRATIONS_DIR: cannot read directory " + directory + ": " + ec.message());
  }
  std::vector<MigrationFile> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) break;
    const fs::path& path = it->path();
    if (path.extension() != ".sql" || !it->is_regular_file(ec)) continue;
    const std::uintmax_t size = it->file_size(ec);
    if (ec || size > kMaxFileBytes) {
      return FileError(path.filename().string(), ec ? ec.message() : "larger than 16 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    std::string content(static_cast<std::size_t>(size), '\0');
    if (!in.read(content.data(), static_cast<std::streamsize>(size))) {
      return FileError(path.filename().string(), "cannot be read");
    }
    files.push_back(MigrationFile{path.filename().string(), std::move(content)});
  }
  if (ec) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "COREDB_MIGRATIONS_DIR: cannot read directory " + directory + ": " + ec.message());
  }
  return files;
}

Result<std::vector<Migration>> LoadMigrations(const std::string& directory) {
  if (directory.empty()) return BuildMigrationSet(EmbeddedMigrationFiles());
  auto files = ReadMigrationDirectory(directory);
  if (!files) return files.error();
  return BuildMigrationSet(std::move(*files));
}

}  // namespace coredb::migrations
