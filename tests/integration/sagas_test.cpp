// Black-box tests of sagas (API.md "Sagas", issue 9) against the built binary: a migrated
// database of their own (the saga log is migration 0002), the dev stack's Redis and pgvector.
#include "support/prometheus_text.hpp"
#include "support/scratch_database.hpp"
#include "support/service_process.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <random>
#include <thread>

namespace coredb::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string RandomSuffix() {
  std::random_device rd;
  return std::to_string(rd() % 1000000000);
}

class Sagas : public ::testing::Test {
 protected:
  void SetUp() override {
    StartService();
    auto migrated = svc().Post("/api/v1/migrations/run", json::object{});
    ASSERT_EQ(migrated.status, 200u) << migrated.body;
    Exec("CREATE TABLE saga_items (id serial PRIMARY KEY, note text)");
    Exec("CREATE TABLE saga_comp_log (n serial, step text)");
    key_ = "saga-test:" + RandomSuffix();
  }
  void TearDown() override {
    if (svc_) Redis({"DEL", key_});
  }
  void StartService() {
    ServiceProcess::Env env{{"DATABASE_URL", db_.app_conninfo()}, {"SAGA_COMPENSATION_ATTEMPTS", "3"}};
    svc_ = std::make_unique<ServiceProcess>(env);
  }
  ServiceProcess& svc() { return *svc_; }
  void Exec(const std::string& sql) { Psql(db_.app_conninfo()).Exec(sql); }
  std::string Scalar(const std::string& sql) { return Psql(db_.app_conninfo()).Scalar(sql); }
  HttpResult Redis(json::array command) { return svc().Query({{"database", "redis"}, {"command", command}}); }

  static json::object Sql(const std::string& sql, json::array params = {}) {
    return json::object{{"sql", sql}, {"params", params}};
  }
  json::object InsertItem(const std::string& note) {
    return Sql("INSERT INTO saga_items (note) VALUES ($1) RETURNING id", {note});
  }
  static json::object UndoItem(const std::string& step) {
    return Sql("WITH d AS (DELETE FROM saga_items WHERE id = $1) INSERT INTO saga_comp_log (step) VALUES ($2)",
               {"${steps." + step + ".rows.0.id}", step});
  }
  json::object RedisSet(const std::string& value_placeholder) {
    return json::object{{"database", "redis"}, {"command", {"SET", key_, value_placeholder}}};
  }
  json::object RedisDel() { return json::object{{"database", "redis"}, {"command", {"DEL", key_}}}; }
  static json::object Step(const std::string& name, json::object action, json::value compensation) {
    return json::object{{"name", name}, {"action", action}, {"compensation", compensation}};
  }
  HttpResult RunSaga(json::array steps, std::map<std::string, std::string> headers = {}) {
    headers["Content-Type"] = "application/json";
    return svc().Request("POST", "/api/v1/sagas", json::serialize(json::object{{"steps", steps}}), headers);
  }

  ScratchDatabase db_;
  std::unique_ptr<ServiceProcess> svc_;
  std::string key_;
};

TEST_F(Sagas, ACompletedSagaSpansPostgresqlVectorAndRedisWithResultsBetweenSteps) {
  svc().Query({{"database", "vector"}, {"sql", "CREATE TABLE IF NOT EXISTS saga_embeddings (id int PRIMARY KEY, v vector(3))"}});
  svc().Query({{"database", "vector"}, {"sql", "DELETE FROM saga_embeddings"}});
  auto r = RunSaga({Step("chunk", InsertItem("a chunk"), UndoItem("chunk")),
                    Step("embedding",
                         json::object{{"database", "vector"},
                                      {"sql", "INSERT INTO saga_embeddings VALUES ($1, '[1,2,3]') RETURNING id"},
                                      {"params", {"${steps.chunk.rows.0.id}"}}},
                         json::object{{"database", "vector"},
                                      {"sql", "DELETE FROM saga_embeddings WHERE id = $1"},
                                      {"params", {"${steps.chunk.rows.0.id}"}}}),
                    Step("cache", RedisSet("${steps.embedding.rows.0.id}"), RedisDel())});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json.at("status"), "completed");
  const auto& steps = r.json.at("steps").as_array();
  ASSERT_EQ(steps.size(), 3u);
  for (const auto& s : steps) {
    EXPECT_EQ(s.at("status"), "completed") << s;
    EXPECT_TRUE(s.at("startedAt").is_string());
    EXPECT_TRUE(s.at("finishedAt").is_string());
  }
  const auto id = steps[0].at("result").at("rows").at(0).at("id").as_int64();
  EXPECT_EQ(steps[1].at("result").at("rows").at(0).at("id").as_int64(), id) << "the placeholder carried the id";
  EXPECT_EQ(Redis({"GET", key_}).json.at("result"), json::value(std::to_string(id)));
  const std::string saga_id(r.json.at("sagaId").as_string());
  auto got = svc().Get("/api/v1/sagas/" + saga_id);
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.json.at("status"), "completed");
  EXPECT_EQ(Scalar("SELECT status FROM coredb_sagas WHERE id = '" + saga_id + "'"), "completed");
}

TEST_F(Sagas, AFailingStepCompensatesTheEarlierOnesInReverseOrderAndLeavesNoTrace) {
  auto r = RunSaga({Step("a", InsertItem("a"), UndoItem("a")), Step("b", InsertItem("b"), UndoItem("b")),
                    Step("c", RedisSet("${steps.b.rows.0.id}"), RedisDel()),
                    Step("d", Sql("SELECT 1 / 0"), nullptr)});
  EXPECT_EQ(r.status, 409u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "SAGA_COMPENSATED");
  const auto& saga = r.json.at("error").at("saga");
  EXPECT_EQ(saga.at("status"), "compensated");
  const auto& steps = saga.at("steps").as_array();
  EXPECT_EQ(steps[0].at("status"), "compensated");
  EXPECT_EQ(steps[1].at("status"), "compensated");
  EXPECT_EQ(steps[2].at("status"), "compensated");
  EXPECT_EQ(steps[3].at("status"), "failed");
  EXPECT_EQ(steps[3].at("error").at("sqlstate"), "22012");
  // No trace in any store; compensations ran last step first.
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "0");
  EXPECT_TRUE(Redis({"GET", key_}).json.at("result").is_null());
  EXPECT_EQ(Scalar("SELECT string_agg(step, ',' ORDER BY n) FROM saga_comp_log"), "b,a");
}

TEST_F(Sagas, ACompensationThatKeepsFailingEndsFailedAndIsListedForOperators) {
  auto r = RunSaga({Step("a", InsertItem("stuck"), Sql("SELECT 1 / 0")), Step("b", Sql("SELECT nope"), nullptr)});
  EXPECT_EQ(r.status, 500u) << r.body;
  EXPECT_EQ(r.ErrorCode(), "SAGA_FAILED");
  const auto& step = r.json.at("error").at("saga").at("steps").at(0);
  EXPECT_EQ(step.at("status"), "compensation_failed");
  EXPECT_EQ(step.at("compensation").at("attempts"), 3) << "SAGA_COMPENSATION_ATTEMPTS";
  const std::string id(r.json.at("error").at("saga").at("sagaId").as_string());
  auto failed = svc().Get("/api/v1/sagas?status=failed");
  ASSERT_EQ(failed.status, 200u) << failed.body;
  bool listed = false;
  for (const auto& s : failed.json.at("sagas").as_array()) listed = listed || s.at("sagaId") == json::value(id);
  EXPECT_TRUE(listed) << failed.body;
  EXPECT_NE(svc().Output().find("saga compensation failed"), std::string::npos);
  // …and in /metrics, for the operator's alert.
  auto scrape = svc().Get("/metrics");
  ASSERT_EQ(scrape.status, 200u) << scrape.body;
  const PromParse metrics = ParsePrometheusText(scrape.body);
  EXPECT_TRUE(metrics.problems.empty()) << metrics.problems.front();
  EXPECT_GE(metrics.Value("coredb_sagas_total", {{"status", "failed"}}).value_or(0), 1.0) << scrape.body;
  auto none = svc().Get("/api/v1/sagas?status=compensated");
  EXPECT_EQ(none.json.at("sagas").as_array().size(), 0u);
}

TEST_F(Sagas, AnIdempotentRetryRunsOnce) {
  json::array steps{Step("a", InsertItem("once"), UndoItem("a"))};
  auto first = RunSaga(steps, {{"Idempotency-Key", "retry-1"}});
  ASSERT_EQ(first.status, 200u) << first.body;
  auto second = RunSaga(steps, {{"Idempotency-Key", "retry-1"}});
  ASSERT_EQ(second.status, 200u) << second.body;
  EXPECT_EQ(second.json.at("sagaId"), first.json.at("sagaId"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "1");
  auto other_body = RunSaga({Step("a", InsertItem("different"), UndoItem("a"))}, {{"Idempotency-Key", "retry-1"}});
  EXPECT_EQ(other_body.status, 409u) << other_body.body;
  // A compensated outcome is replayed with its status too.
  json::array failing{Step("a", InsertItem("x"), UndoItem("a")), Step("b", Sql("SELECT 1/0"), nullptr)};
  auto f1 = RunSaga(failing, {{"Idempotency-Key", "retry-2"}});
  auto f2 = RunSaga(failing, {{"Idempotency-Key", "retry-2"}});
  EXPECT_EQ(f1.status, 409u);
  EXPECT_EQ(f2.status, 409u);
  EXPECT_EQ(f2.json.at("error").at("saga").at("sagaId"), f1.json.at("error").at("saga").at("sagaId"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_comp_log"), "1") << "the compensation ran once";
}

TEST_F(Sagas, ManualCompensationUndoesACompletedSaga) {
  auto r = RunSaga({Step("a", InsertItem("a"), UndoItem("a")), Step("b", RedisSet("v"), RedisDel())});
  ASSERT_EQ(r.status, 200u) << r.body;
  const std::string id(r.json.at("sagaId").as_string());
  auto undone = svc().Post("/api/v1/sagas/" + id + "/compensate", json::object{});
  ASSERT_EQ(undone.status, 200u) << undone.body;
  EXPECT_EQ(undone.json.at("status"), "compensated");
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "0");
  EXPECT_TRUE(Redis({"GET", key_}).json.at("result").is_null());
  auto again = svc().Post("/api/v1/sagas/" + id + "/compensate", json::object{});
  EXPECT_EQ(again.status, 409u) << again.body;
  EXPECT_EQ(svc().Post("/api/v1/sagas/saga_unknown/compensate", json::object{}).status, 404u);
  EXPECT_EQ(svc().Get("/api/v1/sagas/saga_unknown").status, 404u);
}

TEST_F(Sagas, AServiceKilledMidSagaCompensatesItAfterRestart) {
  json::array steps{Step("a", InsertItem("a"), UndoItem("a")), Step("b", InsertItem("b"), UndoItem("b")),
                    Step("c", json::object{{"sql", "SELECT pg_sleep(20)"}, {"timeout", 60000}}, nullptr),
                    Step("d", InsertItem("d"), UndoItem("d"))};
  auto pending = std::async(std::launch::async, [&] { return RunSaga(steps); });
  // Wait until steps a and b are done and c is running, as the durable log says.
  std::string id;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    id = Scalar("SELECT coalesce(max(id), '') FROM coredb_sagas WHERE steps->2->>'status' = 'running'");
    if (!id.empty()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(id.empty()) << "step c never started";
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "2");
  ::kill(svc().pid(), SIGKILL);
  try {
    (void)pending.get();
  } catch (const std::exception&) {
    // the connection broke with the process: expected
  }
  svc_.reset();
  StartService();
  std::string status;
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    status = Scalar("SELECT status FROM coredb_sagas WHERE id = '" + id + "'");
    if (status == "compensated" || status == "failed") break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, "compensated") << svc().Output();
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "0");
  EXPECT_EQ(Scalar("SELECT string_agg(step, ',' ORDER BY n) FROM saga_comp_log"), "b,a");
  EXPECT_EQ(Scalar("SELECT steps->3->>'status' FROM coredb_sagas WHERE id = '" + id + "'"), "pending");
}

TEST_F(Sagas, AnIdempotencyKeyOnAQueryWriteRunsItOnce) {
  auto write = [&](const std::string& key, const std::string& note) {
    return svc().Request("POST", "/api/v1/query",
                         json::serialize(json::object{{"sql", "INSERT INTO saga_items (note) VALUES ($1) RETURNING id"},
                                                      {"params", {note}}}),
                         {{"Content-Type", "application/json"}, {"Idempotency-Key", key}});
  };
  auto first = write("q-1", "once");
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(first.Header("Idempotent-Replayed"), "");
  auto retry = write("q-1", "once");
  ASSERT_EQ(retry.status, 200u) << retry.body;
  EXPECT_EQ(retry.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(retry.json.at("rows"), first.json.at("rows"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "1");
  EXPECT_EQ(write("q-1", "another body").status, 409u);
  // A failed write leaves no reply: the retry runs (and may succeed).
  auto failed = svc().Request("POST", "/api/v1/query", R"json({"sql":"INSERT INTO saga_items (id) VALUES ('x')"})json",
                              {{"Content-Type", "application/json"}, {"Idempotency-Key", "q-2"}});
  EXPECT_EQ(failed.status, 400u) << failed.body;
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_idempotency WHERE key = 'q-2'"), "0");
  // Concurrent retries: one write.
  std::vector<std::future<HttpResult>> same;
  for (int i = 0; i < 8; ++i) same.push_back(std::async(std::launch::async, [&] { return write("q-3", "race"); }));
  for (auto& f : same) EXPECT_EQ(f.get().status, 200u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items WHERE note = 'race'"), "1");
  // Only plain SQL statements take a key.
  auto on_redis = svc().Request("POST", "/api/v1/query", R"({"database":"redis","command":["GET","x"]})",
                                {{"Content-Type", "application/json"}, {"Idempotency-Key", "q-4"}});
  EXPECT_EQ(on_redis.status, 400u);
  auto bad_key = svc().Request("POST", "/api/v1/query", R"({"sql":"SELECT 1"})",
                               {{"Content-Type", "application/json"}, {"Idempotency-Key", std::string(256, 'k')}});
  EXPECT_EQ(bad_key.status, 400u);
}

TEST_F(Sagas, AnIdempotentWriteInvalidatesOnEveryCallAndRefusesCache) {
  const std::string key = "idem:inv:" + std::to_string(::getpid()) + ":" + std::to_string(std::rand());
  auto put_entry = [&] {
    auto put = svc().Request("PUT", "/api/v1/cache/" + key, R"({"value":{"stale":true},"ttl":300})",
                             {{"Content-Type", "application/json"}});
    ASSERT_TRUE(put.status == 200u || put.status == 201u) << put.body;
    ASSERT_EQ(svc().Get("/api/v1/cache/" + key).status, 200u);
  };
  const std::string body =
      json::serialize(json::object{{"sql", "INSERT INTO saga_items (note) VALUES ('inv') RETURNING id"},
                                   {"invalidate", {{"keys", json::array{json::value(key)}}}}});
  auto write = [&] {
    return svc().Request("POST", "/api/v1/query", body,
                         {{"Content-Type", "application/json"}, {"Idempotency-Key", "q-inv-" + key}});
  };
  put_entry();
  auto first = write();
  ASSERT_EQ(first.status, 200u) << first.body;
  EXPECT_EQ(svc().Get("/api/v1/cache/" + key).status, 404u) << "the write dropped the entry it made stale";
  // The entry comes back (as if the first call's invalidation had been lost): the replay drops it too.
  put_entry();
  auto replay = write();
  ASSERT_EQ(replay.status, 200u) << replay.body;
  EXPECT_EQ(replay.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(svc().Get("/api/v1/cache/" + key).status, 404u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items WHERE note = 'inv'"), "1");
  // `cache` is for reads: with a key it is a 400 and nothing runs.
  auto cached = svc().Request("POST", "/api/v1/query",
                              R"({"sql":"SELECT count(*) FROM saga_items","cache":{"ttl":60}})",
                              {{"Content-Type", "application/json"}, {"Idempotency-Key", "q-cache-" + key}});
  EXPECT_EQ(cached.status, 400u) << cached.body;
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_idempotency WHERE key = 'q-cache-" + key + "'"), "0");
}

TEST_F(Sagas, BadInputIs400BeforeAnythingRuns) {
  auto post = [&](const std::string& body, std::map<std::string, std::string> headers = {}) {
    headers["Content-Type"] = "application/json";
    return svc().Request("POST", "/api/v1/sagas", body, headers);
  };
  json::array too_many;
  for (int i = 0; i < 101; ++i) too_many.push_back(Step("s" + std::to_string(i), InsertItem("x"), nullptr));
  const json::object ok_step = Step("a", InsertItem("x"), UndoItem("a"));
  const std::vector<std::string> bad = {
      R"({"steps":[]})",
      json::serialize(json::object{{"steps", too_many}}),
      R"({"steps":[{"name":"a","action":{"sql":"SELECT 1"}}]})",  // compensation missing
      R"({"steps":[{"name":"a","action":{"database":"mysql","sql":"SELECT 1"},"compensation":null}]})",
      R"({"steps":[{"name":"a","action":{"sql":"SELECT $1","params":["${steps.b.rows.0.id}"]},"compensation":null},)"
      R"({"name":"b","action":{"sql":"SELECT 1"},"compensation":null}]})",  // placeholder names a later step
      R"({"steps":[{"name":"a","action":{"sql":"SELECT $1","params":["${steps.zz.rows}"]},"compensation":null}]})",
      R"({"steps":[{"name":"a","action":{"sql":"SELECT 1"},"compensation":null},{"name":"a","action":{"sql":"SELECT 1"},"compensation":null}]})",
      R"({"steps":[{"name":"a b","action":{"sql":"SELECT 1"},"compensation":null}]})",
      R"({"steps":[{"name":"a","action":{"sql":"SELECT 1","connectionId":"cn_x"},"compensation":null}]})",
      R"({"steps":[{"name":"a","action":{"database":"redis","command":["SET",1]},"compensation":null}]})",
      R"({"steps":[{"name":"a","action":{"sql":""},"compensation":null}]})",
      R"({"stepz":[]})",
      R"({"steps":{}})",
  };
  for (const auto& body : bad) {
    auto r = post(body);
    EXPECT_EQ(r.status, 400u) << body.substr(0, 200) << " → " << r.body;
  }
  EXPECT_EQ(post(json::serialize(json::object{{"steps", {ok_step}}}), {{"Idempotency-Key", std::string(300, 'k')}}).status,
            400u);
  EXPECT_EQ(svc().Get("/api/v1/sagas?status=sleeping").status, 400u);
  EXPECT_EQ(svc().Get("/api/v1/sagas?limit=0").status, 400u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM saga_items"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM coredb_sagas"), "0");
}

}  // namespace
}  // namespace coredb::testing
