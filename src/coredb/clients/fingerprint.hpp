// Statement fingerprints for the audit line (issue 6 item 6): what a statement does, without
// the values it carries. The SQL is normalised — comments dropped, string, dollar-quoted, bit
// and numeric literals and $n parameters replaced by `?`, whitespace collapsed, case folded
// outside quoted identifiers — then hashed: the fingerprint is "sql:" + the first 16 hex digits
// of its SHA-256. Equal statements with other values share a fingerprint; no literal, parameter
// or password can be read back from it.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace coredb::clients {

// The normalised text (exposed for tests; never logged).
std::string NormalizeSql(std::string_view sql);
// "sql:" + 16 hex digits.
std::string SqlFingerprint(std::string_view sql);
// One fingerprint for a batch: the normalised statements joined, hashed.
std::string BatchFingerprint(std::span<const std::string_view> statements);
// A saga: "saga:" + 16 hex digits over its steps' statements in order (each action, then its
// compensation), as the caller builds them: SQL text, or only the command name of a Redis step,
// "null" for no compensation.
std::string SagaFingerprint(std::span<const std::string_view> steps);
// Redis: "redis:" + the command name upper-cased (only the name: arguments hold keys and values).
std::string RedisFingerprint(std::string_view command);

}  // namespace coredb::clients
