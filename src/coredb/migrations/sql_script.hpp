// Splits a SQL script (a migration file) into its statements, the way psql does: on `;` outside
// string literals ('...', E'...' with backslash escapes), quoted identifiers ("..."),
// dollar-quoted strings ($$...$$, $tag$...$tag$), line comments (--) and block comments
// (/* ... */, nested). Each statement is then sent on its own with the extended protocol (which
// takes one statement at a time), so a failure names the statement and its line.
//
// Not supported: SQL-standard function bodies (BEGIN ATOMIC ... END, whose inner `;` psql
// recognises); write function bodies dollar-quoted.
#pragma once

#include "coredb/core/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace coredb::migrations {

struct SqlStatement {
  std::string sql;  // from its first token (leading comments dropped) to before its `;`
  int line = 0;     // 1-based line of the first token in the script
};

// The statements of `script`, in order; segments holding only whitespace and comments are
// dropped. kInvalidRequest for an unterminated literal, identifier or comment (names its line).
Result<std::vector<SqlStatement>> SplitSqlScript(std::string_view script);

}  // namespace coredb::migrations
