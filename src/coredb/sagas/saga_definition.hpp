// A saga as the client defines it (API.md "Sagas"): 1..100 named steps, each an action and a
// compensation (a query request: SQL on postgresql/vector or a Redis command; `null` when the
// step needs no undoing), and the placeholders that feed one step's results into later ones.
// Pure: parsing, validation and placeholder resolution, no I/O.
//
// Placeholders: a param (or Redis argument) that is exactly the string "${steps.NAME.PATH}" is
// replaced by the value at PATH in the result of step NAME — an earlier step for an action, an
// earlier step or its own step for a compensation. PATH is dot-separated object keys and array
// indexes into the step's result ({rows, rowCount, command} for SQL, {result} for Redis), e.g.
// "${steps.insert_chunk.rows.0.id}". The value keeps its JSON type for SQL; Redis gets its text.
// "$${" at the start of a string stands for a literal "${".
#pragma once

#include "coredb/core/error.hpp"
#include "coredb/core/ports.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <vector>

namespace coredb::sagas {

inline constexpr std::size_t kMaxSteps = 100;

// One action or compensation, validated, kept as JSON (it is stored in the durable log and run
// from there, after a restart too).
struct StepRequest {
  Database database = Database::kPostgresql;
  boost::json::object json;  // {database?, sql, params?, rowMode?, timeout?} or {database:"redis", command}
};

struct StepDefinition {
  std::string name;
  StepRequest action;
  std::optional<StepRequest> compensation;  // nullopt: `compensation: null`
};

struct SagaDefinition {
  std::vector<StepDefinition> steps;
};

// Validates {steps: [{name, action, compensation}]}: 1..100 steps, unique names
// ([A-Za-z0-9_-]{1,64}), `compensation` present (null allowed, explicitly), requests as
// POST /api/v1/query takes them minus connectionId/transactionId/cache/invalidate, placeholders
// naming earlier steps only. Errors are kInvalidRequest naming the step.
Result<SagaDefinition> ParseSagaDefinition(const boost::json::object& body);

// The definition back as JSON (for the log).
boost::json::array DefinitionJson(const SagaDefinition& definition);
Result<SagaDefinition> DefinitionFromJson(const boost::json::array& steps);

// `request` with every placeholder replaced from `results` (results[i]: step i's result, null
// when it has none). Errors (kQueryError): a path that is not in the result.
Result<boost::json::object> ResolvePlaceholders(const boost::json::object& request,
                                                const std::vector<std::string>& step_names,
                                                const std::vector<boost::json::value>& results);

}  // namespace coredb::sagas
