#include "coredb/clients/fingerprint.hpp"

#include "coredb/core/token_auth.hpp"

#include <cctype>
#include <functional>
#include <string>
#include <unordered_map>

namespace coredb::clients {

namespace {

bool IsIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' || static_cast<unsigned char>(c) >= 0x80;
}

std::string Hex16(std::string_view text) {
  const TokenDigest d = Sha256(text);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 8; ++i) {
    out += kHex[d[i] >> 4];
    out += kHex[d[i] & 15];
  }
  return out;
}

}  // namespace

std::string NormalizeSql(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  bool pending_space = false;
  // Tokens are separated by one space where two words meet, by nothing around punctuation.
  auto wordish = [](char c) { return IsIdentChar(c) || c == '?' || c == '"'; };
  auto emit = [&](std::string_view s) {
    if (pending_space && !out.empty() && !s.empty() && wordish(out.back()) && wordish(s.front())) out += ' ';
    pending_space = false;
    out += s;
  };
  // Skips a quoted literal starting at i (the opening quote), honouring '' and, for E'', backslashes.
  auto skip_quoted = [&](std::size_t i, bool backslashes) {
    ++i;
    while (i < sql.size()) {
      if (backslashes && sql[i] == '\\') {
        i += 2;
        continue;
      }
      if (sql[i] == '\'') {
        if (i + 1 < sql.size() && sql[i + 1] == '\'') {
          i += 2;
          continue;
        }
        return i + 1;
      }
      ++i;
    }
    return i;
  };
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      pending_space = true;
      ++i;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
      pending_space = true;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      int depth = 0;
      while (i < sql.size()) {
        if (sql[i] == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (sql[i] == '*' && i + 1 < sql.size() && sql[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      pending_space = true;
    } else if (c == '\'') {
      i = skip_quoted(i, false);
      emit("?");
    } else if ((c == 'e' || c == 'E' || c == 'b' || c == 'B' || c == 'x' || c == 'X') && i + 1 < sql.size() &&
               sql[i + 1] == '\'' && (i == 0 || !IsIdentChar(sql[i - 1]))) {
      i = skip_quoted(i + 1, c == 'e' || c == 'E');
      emit("?");
    } else if ((c == 'u' || c == 'U') && i + 2 < sql.size() && sql[i + 1] == '&' && sql[i + 2] == '\'' &&
               (i == 0 || !IsIdentChar(sql[i - 1]))) {
      i = skip_quoted(i + 2, false);
      emit("?");
    } else if (c == '"') {
      std::size_t j = i + 1;
      while (j < sql.size()) {
        if (sql[j] == '"') {
          if (j + 1 < sql.size() && sql[j + 1] == '"') {
            j += 2;
            continue;
          }
          ++j;
          break;
        }
        ++j;
      }
      emit(sql.substr(i, j - i));  // a quoted identifier keeps its case
      i = j;
    } else if (c == '$') {
      // $n parameter, or a dollar-quoted string $tag$...$tag$
      std::size_t j = i + 1;
      if (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) {
        while (j < sql.size() && std::isdigit(static_cast<unsigned char>(sql[j]))) ++j;
        emit("?");
        i = j;
        continue;
      }
      while (j < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '_')) ++j;
      if (j < sql.size() && sql[j] == '$') {
        const std::string_view tag = sql.substr(i, j - i + 1);
        const std::size_t end = sql.find(tag, j + 1);
        i = end == std::string_view::npos ? sql.size() : end + tag.size();
        emit("?");
      } else {
        emit("$");
        ++i;
      }
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < sql.size() && std::isdigit(static_cast<unsigned char>(sql[i + 1])))) {
      // A number (not part of an identifier such as t1): digits, '.', exponent, hex/underscores.
      std::size_t j = i;
      while (j < sql.size() &&
             (std::isalnum(static_cast<unsigned char>(sql[j])) || sql[j] == '.' || sql[j] == '_' ||
              ((sql[j] == '+' || sql[j] == '-') && j > i && (sql[j - 1] == 'e' || sql[j - 1] == 'E')))) {
        ++j;
      }
      emit("?");
      i = j;
    } else if (IsIdentChar(c)) {
      std::size_t j = i;
      std::string word;
      while (j < sql.size() && IsIdentChar(sql[j])) {
        word += static_cast<char>(std::tolower(static_cast<unsigned char>(sql[j])));
        ++j;
      }
      emit(word);
      i = j;
    } else {
      // Operators and punctuation: kept.
      emit(sql.substr(i, 1));
      ++i;
    }
  }
  while (!out.empty() && (out.back() == ';' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string SqlFingerprint(std::string_view sql) {
  // Services send the same few statements over and over (the text is the cache key of the
  // prepared statements too): remember the last fingerprints instead of normalising and hashing
  // every request's SQL again. Long texts are not kept; the table starts afresh when full.
  constexpr std::size_t kMaxEntries = 1024;
  constexpr std::size_t kMaxKeptSql = 4096;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
  };
  thread_local std::unordered_map<std::string, std::string, Hash, std::equal_to<>> recent;
  if (sql.size() > kMaxKeptSql) return "sql:" + Hex16(NormalizeSql(sql));
  if (auto it = recent.find(sql); it != recent.end()) return it->second;
  if (recent.size() >= kMaxEntries) recent.clear();
  std::string fingerprint = "sql:" + Hex16(NormalizeSql(sql));
  recent.emplace(std::string(sql), fingerprint);
  return fingerprint;
}

namespace {

std::string JoinedFingerprint(std::string_view prefix, std::span<const std::string_view> statements) {
  std::string joined;
  for (std::string_view s : statements) {
    joined += NormalizeSql(s);
    joined += ";\n";
  }
  return std::string(prefix) + Hex16(joined);
}

}  // namespace

std::string BatchFingerprint(std::span<const std::string_view> statements) {
  return JoinedFingerprint("sql:", statements);
}

std::string SagaFingerprint(std::span<const std::string_view> steps) { return JoinedFingerprint("saga:", steps); }

std::string RedisFingerprint(std::string_view command) {
  std::string out = "redis:";
  for (char c : command.substr(0, 32)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '|') break;
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace coredb::clients
