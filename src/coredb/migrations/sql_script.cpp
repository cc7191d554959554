#include "coredb/migrations/sql_script.hpp"

#include <algorithm>
#include <cctype>

namespace coredb::migrations {

namespace {

bool IsIdentifierChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || c == '$' || u >= 0x80;
}

// Characters of a dollar-quote tag (an identifier without `$`).
bool IsTagChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || c == '_' || u >= 0x80;
}

Error Unterminated(const char* what, int line) {
  return MakeError(ErrorCode::kInvalidRequest,
                   std::string("unterminated ") + what + " starting at line " + std::to_string(line));
}

}  // namespace

Result<std::vector<SqlStatement>> SplitSqlScript(std::string_view s) {
  std::vector<SqlStatement> out;
  constexpr std::size_t kNone = std::string_view::npos;
  std::size_t start = kNone;  // first token of the statement being read
  int start_line = 0;
  int line = 1;
  std::size_t i = 0;
  const std::size_t n = s.size();

  // Moves to `j`, counting the newlines passed.
  auto advance_to = [&](std::size_t j) {
    line += static_cast<int>(
        std::count(s.begin() + static_cast<std::ptrdiff_t>(i), s.begin() + static_cast<std::ptrdiff_t>(j), '\n'));
    i = j;
  };
  auto finish_statement = [&](std::size_t end) {
    if (start == kNone) return;
    std::string_view text = s.substr(start, end - start);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.remove_suffix(1);
    out.push_back(SqlStatement{std::string(text), start_line});
    start = kNone;
  };

  while (i < n) {
    const char c = s[i];
    const char next = i + 1 < n ? s[i + 1] : '\0';
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c)) != 0) {
      ++i;
      continue;
    }
    if (c == '-' && next == '-') {
      const std::size_t eol = s.find('\n', i);
      i = eol == kNone ? n : eol;
      continue;
    }
    if (c == '/' && next == '*') {
      const int opened_at = line;
      std::size_t j = i + 2;
      int depth = 1;
      while (j < n && depth > 0) {
        if (s[j] == '/' && j + 1 < n && s[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (s[j] == '*' && j + 1 < n && s[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      if (depth > 0) return Unterminated("block comment", opened_at);
      advance_to(j);
      continue;
    }
    if (c == ';') {
      finish_statement(i);
      ++i;
      continue;
    }
    if (start == kNone) {
      start = i;
      start_line = line;
    }
    if (c == '\'') {
      // E'...' strings take backslash escapes; standard strings only double the quote.
      const bool escapes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') && (i < 2 || !IsIdentifierChar(s[i - 2]));
      const int opened_at = line;
      std::size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        if (escapes && s[j] == '\\') {
          j += 2;
        } else if (s[j] == '\'') {
          if (j + 1 < n && s[j + 1] == '\'') {
            j += 2;
          } else {
            closed = true;
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      if (!closed) return Unterminated("string literal", opened_at);
      advance_to(j);
      continue;
    }
    if (c == '"') {
      const int opened_at = line;
      std::size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        if (s[j] == '"') {
          if (j + 1 < n && s[j + 1] == '"') {
            j += 2;
          } else {
            closed = true;
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      if (!closed) return Unterminated("quoted identifier", opened_at);
      advance_to(j);
      continue;
    }
    if (c == '$' && (i == 0 || !IsIdentifierChar(s[i - 1]))) {
      std::size_t j = i + 1;
      while (j < n && IsTagChar(s[j])) ++j;
      const bool tag_ok =
          j < n && s[j] == '$' && (j == i + 1 || std::isdigit(static_cast<unsigned char>(s[i + 1])) == 0);
      if (tag_ok) {
        const std::string_view tag = s.substr(i, j - i + 1);  // "$$" or "$body$"
        const std::size_t close = s.find(tag, j + 1);
        if (close == kNone) return Unterminated("dollar-quoted string", line);
        advance_to(close + tag.size());
        continue;
      }
      ++i;  // a parameter ($1) or a lone dollar
      continue;
    }
    ++i;
  }
  finish_statement(n);
  return out;
}

}  // namespace coredb::migrations
