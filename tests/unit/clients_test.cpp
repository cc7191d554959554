// Clients (issue 6): the pure rules, tokens, the in-memory token table (no early exit in the
// scan), the quota limiters on a fake clock and a fake Redis, statement fingerprints, Redis
// command scopes and the `clients` command line.
#include "coredb/app/command_line.hpp"
#include "coredb/cache/cache_key.hpp"
#include "coredb/clients/client_directory.hpp"
#include "coredb/clients/client_rules.hpp"
#include "coredb/clients/client_store.hpp"
#include "coredb/clients/fingerprint.hpp"
#include "coredb/clients/quota.hpp"
#include "coredb/clients/redis_scope.hpp"
#include "coredb/http/handlers/query_handler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <deque>
#include <set>

namespace coredb::clients {
namespace {

using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

ClientRecord Record(std::string id, std::string name, std::string token, std::uint8_t scopes) {
  ClientRecord c;
  c.id = std::move(id);
  c.name = std::move(name);
  c.scopes = scopes;
  c.token_hash = HexSha256(token);
  c.token_prefix = token.substr(0, kTokenPrefixLength);
  return c;
}

constexpr auto kRead = static_cast<std::uint8_t>(Scope::kRead);
constexpr auto kWrite = static_cast<std::uint8_t>(Scope::kWrite);
constexpr const char* kAdminToken = "bootstrap-admin-token-0123456789";

// ---- rules -------------------------------------------------------------------------------

TEST(ClientRules, NamesScopesRolesAndPrefixes) {
  EXPECT_TRUE(CheckName("billing-service.v2_a"));
  for (const char* bad : {"", "-lead", ".x", "has space", "semi;colon", "ünïcode"}) {
    EXPECT_FALSE(CheckName(bad)) << bad;
  }
  EXPECT_FALSE(CheckName(std::string(65, 'a')));

  auto both = ParseScopes({"read", "write"});
  ASSERT_TRUE(both);
  EXPECT_EQ(*both, kRead | kWrite);
  auto bad = ParseScopes({"read", "superuser"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  EXPECT_NE(bad.error().message.find("\"superuser\""), std::string::npos) << bad.error().message;
  EXPECT_FALSE(ParseScopes({}));
  EXPECT_FALSE(ParseScopes({"read", "read"}));
  EXPECT_EQ(ScopeNames(kRead | kWrite), (std::vector<std::string>{"read", "write"}));

  EXPECT_TRUE(CheckPgRole("app_reader"));
  for (const char* bad_role : {"", "App", "1x", "x;drop", "a b", "\"q\"", "pg_read_all_data"}) {
    EXPECT_FALSE(CheckPgRole(bad_role)) << bad_role;
  }
  EXPECT_TRUE(CheckCachePrefixes({"app1:", "shared:"}));
  EXPECT_FALSE(CheckCachePrefixes({"app*"}));
  EXPECT_FALSE(CheckCachePrefixes({""}));
  EXPECT_FALSE(CheckCachePrefixes({"__coredb:quota"}));
  EXPECT_FALSE(CheckCachePrefixes({"a", "a"}));
  EXPECT_TRUE(IsUuid("0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5f"));
  EXPECT_FALSE(IsUuid("0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5"));
  EXPECT_FALSE(IsUuid("'; DROP TABLE x; --------------------"));
}

TEST(ClientRules, TokensAreLongRandomAndCarryTheirPrefix) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    NewToken t = GenerateToken();
    EXPECT_TRUE(LooksLikeClientToken(t.token)) << t.token;
    EXPECT_EQ(t.token.size(), kTokenPrefixLength + 43);  // 43 base64url chars = 256 bits after the prefix
    EXPECT_EQ(t.token.substr(0, kTokenPrefixLength), t.prefix);
    EXPECT_EQ(t.hash, HexSha256(t.token));
    EXPECT_EQ(t.hash.size(), 64u);
    EXPECT_TRUE(seen.insert(t.token).second);
  }
}

// ---- the token table ---------------------------------------------------------------------

TEST(ClientDirectory, AuthenticatesClientsAndTheBootstrapAdmin) {
  ClientDirectory dir(kAdminToken);
  const std::string token = GenerateToken().token;
  ClientRecord rec = Record("id-1", "reader", token, kRead);
  rec.pg_role = "app_reader";
  rec.cache_prefixes = {"app1:"};
  rec.quota_per_minute = 10;
  dir.Replace({rec});
  auto who = dir.Authenticate("Bearer " + token);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->principal.client_id, "id-1");
  EXPECT_EQ(who->principal.client_name, "reader");
  EXPECT_TRUE(who->principal.Allows(Scope::kRead));
  EXPECT_FALSE(who->principal.Allows(Scope::kWrite));
  EXPECT_EQ(who->principal.pg_role, "app_reader");
  EXPECT_EQ(who->principal.cache_prefixes, std::vector<std::string>{"app1:"});
  EXPECT_EQ(who->quota_per_minute, 10);
  auto admin = dir.Authenticate(std::string("Bearer ") + kAdminToken);
  ASSERT_TRUE(admin);
  EXPECT_EQ(admin->principal.client_id, "admin");
  EXPECT_TRUE(admin->principal.Allows(Scope::kAdmin));
  EXPECT_FALSE(admin->quota_per_minute);
}

TEST(ClientDirectory, UnknownRevokedAndMalformedAllGet401WithoutSayingWhich) {
  ClientDirectory dir(kAdminToken);
  const std::string kept = GenerateToken().token;
  const std::string revoked = GenerateToken().token;
  ClientRecord gone = Record("id-2", "gone", revoked, kWrite);
  gone.revoked_at = "2026-01-01T00:00:00.000Z";
  dir.Replace({Record("id-1", "kept", kept, kRead), gone});
  auto r1 = dir.Authenticate("Bearer " + revoked);
  auto r2 = dir.Authenticate("Bearer " + GenerateToken().token);
  auto r3 = dir.Authenticate("Bearer " + kept.substr(0, kept.size() - 1) + "x");
  for (auto* r : {&r1, &r2, &r3}) {
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(r->error().message, "unknown or revoked token");
  }
  for (const char* header : {"", "Bearer", "Basic abc", "Bearer    "}) {
    auto r = dir.Authenticate(header);
    ASSERT_FALSE(r) << header;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
  }
  // A revoke on this instance takes effect at once.
  ASSERT_TRUE(dir.Authenticate("Bearer " + kept));
  EXPECT_TRUE(dir.Remove("id-1"));
  EXPECT_FALSE(dir.Authenticate("Bearer " + kept));
  EXPECT_FALSE(dir.Remove("admin"));  // the bootstrap admin is not a client
  EXPECT_TRUE(dir.Authenticate(std::string("Bearer ") + kAdminToken));
}

// The compare does not short-circuit: whichever entry matches (first, last, none, a revoked
// one), every entry of the table is compared, so the time depends on the table's size only.
// (Each comparison is CRYPTO_memcmp over the full 32-byte digests.)
TEST(ClientDirectory, EveryAuthenticationComparesWithEveryEntry) {
  ClientDirectory dir(kAdminToken);
  std::vector<std::string> tokens;
  std::vector<ClientRecord> records;
  for (int i = 0; i < 50; ++i) {
    tokens.push_back(GenerateToken().token);
    records.push_back(Record("id-" + std::to_string(i), "c" + std::to_string(i), tokens.back(), kRead));
  }
  const std::string revoked = GenerateToken().token;
  ClientRecord gone = Record("id-r", "r", revoked, kRead);
  gone.revoked_at = "2026-01-01T00:00:00.000Z";
  records.push_back(gone);
  dir.Replace(records);
  ASSERT_EQ(dir.size(), 51u);  // 50 clients + the bootstrap admin
  const std::vector<std::string> presented = {
      std::string(kAdminToken),    tokens.front(), tokens.back(), revoked, GenerateToken().token,
      tokens.front().substr(0, 20)};
  for (const auto& t : presented) {
    (void)dir.Authenticate("Bearer " + t);
    EXPECT_EQ(dir.last_comparisons(), 51u) << t;
  }
}

// ---- quotas ------------------------------------------------------------------------------

struct FakeClock {
  SysClock::time_point now = SysClock::time_point(std::chrono::seconds(1'800'000'000));  // 2027-01-15T08:00:00Z
  LocalQuotaLimiter::Now fn() {
    return [this] { return now; };
  }
};

TEST(QuotaWindows, RetryAfterIsTheRestOfTheWindow) {
  auto w = WindowsAt(SysClock::time_point(std::chrono::seconds(1'800'000'000 + 15)));
  EXPECT_EQ(w.minute_left, 45);
  EXPECT_EQ(w.minute, (1'800'000'000 + 15) / 60);
  auto end = WindowsAt(SysClock::time_point(std::chrono::seconds(1'800'000'000 + 59)));
  EXPECT_EQ(end.minute_left, 1);
  EXPECT_EQ(WindowsAt(SysClock::time_point(std::chrono::seconds(86400 * 3 + 86399))).day_left, 1);
}

TEST(LocalQuotaLimiter, PerMinuteLimitWithRetryAfterThenANewWindow) {
  FakeClock clock;
  LocalQuotaLimiter limiter(clock.fn());
  const Quota q{3, std::nullopt};
  clock.now += 20s;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Check("a", q).allowed) << i;
  auto refused = limiter.Check("a", q);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 40);
  EXPECT_STREQ(refused.window, "minute");
  EXPECT_TRUE(limiter.Check("b", q).allowed);  // per client
  clock.now += 39s;
  EXPECT_FALSE(limiter.Check("a", q).allowed);
  clock.now += 1s;  // the next minute
  EXPECT_TRUE(limiter.Check("a", q).allowed);
  EXPECT_TRUE(limiter.Check("x", Quota{}).allowed);
}

TEST(LocalQuotaLimiter, PerDayLimitOutlivesMinutes) {
  FakeClock clock;
  LocalQuotaLimiter limiter(clock.fn());
  const Quota q{100, 5};
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(limiter.Check("a", q).allowed);
    clock.now += 2min;
  }
  auto refused = limiter.Check("a", q);
  EXPECT_FALSE(refused.allowed);
  EXPECT_STREQ(refused.window, "day");
  EXPECT_EQ(refused.retry_after_seconds, WindowsAt(clock.now).day_left);
  clock.now += std::chrono::seconds(refused.retry_after_seconds);
  EXPECT_TRUE(limiter.Check("a", q).allowed);
  auto error = RateLimitedError(refused);
  EXPECT_EQ(error.code, ErrorCode::kRateLimited);
  EXPECT_EQ(error.retry_after_seconds, refused.retry_after_seconds);
}

// A fake Redis: records commands, answers from a queue (an Error = Redis down).
class FakeRedis final : public KeyValueBackend {
 public:
  std::vector<std::vector<std::string>> commands;
  std::deque<Result<boost::json::value>> replies;
  boost::asio::awaitable<Result<boost::json::value>> Command(std::vector<std::string> args,
                                                             std::chrono::milliseconds) override {
    commands.push_back(std::move(args));
    if (replies.empty()) co_return MakeError(ErrorCode::kDatabaseUnavailable, "redis is not connected");
    auto r = std::move(replies.front());
    replies.pop_front();
    co_return r;
  }
};

Result<void> RunAdmit(QuotaEnforcer& q, const std::string& id, const Quota& quota) {
  boost::asio::io_context ioc;
  Result<void> out = MakeError(ErrorCode::kInternal, "not run");
  boost::asio::co_spawn(ioc, q.Admit(id, quota), [&](std::exception_ptr e, Result<void> r) {
    if (!e) out = std::move(r);
  });
  ioc.run();
  return out;
}

CircuitBreakerOptions Breaker() {
  CircuitBreakerOptions o;
  o.volume_threshold = 3;
  o.error_threshold_percent = 50;
  o.reset_timeout = 1000ms;
  return o;
}

TEST(QuotaEnforcer, NoQuotaNoRedisCall) {
  FakeRedis redis;
  QuotaEnforcer q(redis, Breaker(), 100ms);
  EXPECT_TRUE(RunAdmit(q, "a", Quota{}));
  EXPECT_TRUE(redis.commands.empty());
}

TEST(QuotaEnforcer, OneScriptCallPerRequestAndItsVerdict) {
  FakeRedis redis;
  FakeClock clock;
  clock.now += 30s;
  QuotaEnforcer q(redis, Breaker(), 100ms, clock.fn());
  redis.replies.emplace_back(boost::json::value(0));
  redis.replies.emplace_back(boost::json::value(2));  // the day counter is exhausted
  EXPECT_TRUE(RunAdmit(q, "c1", Quota{10, 100}));
  auto refused = RunAdmit(q, "c1", Quota{10, 100});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(refused.error().retry_after_seconds, WindowsAt(clock.now).day_left);
  ASSERT_EQ(redis.commands.size(), 2u);
  const auto& cmd = redis.commands.front();
  ASSERT_EQ(cmd.size(), 2u + 1u + 2u * 3u);  // EVAL script numkeys, 2 keys, 2 limits, 2 expiries
  EXPECT_EQ(cmd[0], "EVAL");
  EXPECT_EQ(cmd[2], "2");
  EXPECT_EQ(cmd[3], "__coredb:quota:c1:m:" + std::to_string(WindowsAt(clock.now).minute));
  EXPECT_EQ(cmd[4], "__coredb:quota:c1:d:" + std::to_string(WindowsAt(clock.now).day));
  EXPECT_EQ(cmd[5], "10");
  EXPECT_EQ(cmd[6], "100");
}

TEST(QuotaEnforcer, RedisDownFallsBackToTheLocalLimiterWithTheSameLimits) {
  FakeRedis redis;  // no replies: every command fails
  FakeClock clock;
  CircuitBreaker::Clock::time_point breaker_now{};
  QuotaEnforcer q(redis, Breaker(), 100ms, clock.fn(), [&] { return breaker_now; });
  const Quota quota{3, std::nullopt};
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(RunAdmit(q, "c1", quota)) << i;  // not fail-closed
  auto refused = RunAdmit(q, "c1", quota);                                 // not fail-open
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kRateLimited);
  EXPECT_EQ(q.stats().local_checks, 4u);
  // The breaker opened after 3 failures: the 4th request did not even try Redis.
  EXPECT_EQ(redis.commands.size(), 3u);
  EXPECT_EQ(q.breaker().state(), BreakerState::kOpen);
  // Redis back: after the reset timeout the probe goes to Redis again.
  breaker_now += 1001ms;
  redis.replies.emplace_back(boost::json::value(0));
  EXPECT_TRUE(RunAdmit(q, "c1", quota));
  EXPECT_EQ(redis.commands.size(), 4u);
  EXPECT_EQ(q.breaker().state(), BreakerState::kClosed);
}

// ---- fingerprints ------------------------------------------------------------------------

TEST(Fingerprint, ValuesAndCommentsGoAwayTheShapeStays) {
  const std::string a = SqlFingerprint("SELECT * FROM users WHERE email = 'alice@example.com' AND id = 42");
  const std::string b = SqlFingerprint("select *  from users\n where email = 'bob''s@x.org' and id = 7 -- hi");
  const std::string c = SqlFingerprint("SELECT * FROM users WHERE email = $1 AND id = $2");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_NE(a, SqlFingerprint("SELECT * FROM accounts WHERE email = $1 AND id = $2"));
  EXPECT_EQ(a.size(), 4u + 16u);
  EXPECT_EQ(a.rfind("sql:", 0), 0u);
  const std::string secret = "ALTER ROLE app PASSWORD 'hunter2-secret' /* hunter2 */";
  const std::string normalized = NormalizeSql(secret);
  EXPECT_EQ(normalized.find("hunter2"), std::string::npos) << normalized;
  EXPECT_EQ(NormalizeSql("SELECT $tag$ secret $tag$, E'it\\'s', 1.5e10, x'ff', t1.c2"), "select ?,?,?,?,t1.c2");
  EXPECT_EQ(NormalizeSql("SELECT \"MixedCase\" FROM t;"), "select \"MixedCase\" from t");
  EXPECT_EQ(RedisFingerprint("get"), "redis:GET");
  const std::vector<std::string_view> batch = {"INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"};
  EXPECT_EQ(BatchFingerprint(batch).size(), 20u);
}

TEST(Fingerprint, SagasBySteps) {
  const std::vector<std::string_view> a = {"INSERT INTO t VALUES (1)", "null", "redis:SET"};
  const std::vector<std::string_view> same_shape = {"insert into t values (42)", "null", "redis:SET"};
  const std::vector<std::string_view> other = {"INSERT INTO t VALUES (1)", "DELETE FROM t", "redis:SET"};
  EXPECT_EQ(SagaFingerprint(a).rfind("saga:", 0), 0u);
  EXPECT_EQ(SagaFingerprint(a).size(), 21u);
  EXPECT_EQ(SagaFingerprint(a), SagaFingerprint(same_shape)) << "values do not change it";
  EXPECT_NE(SagaFingerprint(a), SagaFingerprint(other));
}

// ---- redis scopes, cache tags, cache keys of roles -------------------------------------------

TEST(RedisScope, ReadsWritesAndAdminCommands) {
  EXPECT_EQ(RedisCommandScope({"get", "k"}), Scope::kRead);
  EXPECT_EQ(RedisCommandScope({"HGETALL", "k"}), Scope::kRead);
  EXPECT_EQ(RedisCommandScope({"SET", "k", "v"}), Scope::kWrite);
  EXPECT_EQ(RedisCommandScope({"EVAL", "return 1", "0"}), Scope::kWrite);
  EXPECT_EQ(RedisCommandScope({"SomethingNew"}), Scope::kWrite);
  EXPECT_EQ(RedisCommandScope({"flushall"}), Scope::kAdmin);
  EXPECT_EQ(RedisCommandScope({"KEYS", "*"}), Scope::kAdmin);  // API.md: can damage the whole store
  EXPECT_EQ(RedisCommandScope({"CONFIG", "SET", "x", "y"}), Scope::kAdmin);
  Principal reader{.client_id = "r", .client_name = "r", .scopes = kRead, .cache_prefixes = {}, .pg_role = {}};
  EXPECT_TRUE(CheckRedisCommandScope(reader, {"GET", "k"}));
  auto denied = CheckRedisCommandScope(reader, {"del", "k"});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kForbidden);
  EXPECT_NE(denied.error().message.find("DEL"), std::string::npos);
}

TEST(CachePrefixes, TagsAreBoundToo) {
  Principal p{.client_id = "c", .client_name = "c", .scopes = kWrite, .cache_prefixes = {"app1:"}, .pg_role = {}};
  EXPECT_TRUE(cache::CheckTagAccess(p, "app1:users"));
  EXPECT_FALSE(cache::CheckTagAccess(p, "users"));
  Principal open{.client_id = "o", .client_name = "o", .scopes = kWrite, .cache_prefixes = {}, .pg_role = {}};
  EXPECT_TRUE(cache::CheckTagAccess(open, "users"));
}

TEST(DefaultCacheKey, DiffersBetweenPgRoles) {
  http::QueryRequest q;
  q.sql = "SELECT 1";
  const std::string none = http::DefaultCacheKey(q);
  EXPECT_EQ(none, http::DefaultCacheKey(q, ""));
  EXPECT_NE(none, http::DefaultCacheKey(q, "role_a"));
  EXPECT_NE(http::DefaultCacheKey(q, "role_a"), http::DefaultCacheKey(q, "role_b"));
}

}  // namespace
}  // namespace coredb::clients

namespace coredb::app {
namespace {

TEST(CommandLine, ClientsActions) {
  auto add = ParseCommandLine({"clients", "add", "--name", "billing", "--scopes", "read, write", "--quota-per-minute",
                               "60", "--pg-role=app_rw", "--cache-prefix", "billing:", "--cache-prefix", "shared:"});
  ASSERT_TRUE(add.ok()) << add.error;
  EXPECT_EQ(add.line.command, Command::kClients);
  EXPECT_EQ(add.line.clients_action, ClientsAction::kAdd);
  EXPECT_EQ(add.line.client_name, "billing");
  EXPECT_EQ(add.line.client_scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(add.line.quota_per_minute, 60);
  EXPECT_FALSE(add.line.quota_per_day);
  EXPECT_EQ(add.line.pg_role, "app_rw");
  EXPECT_EQ(add.line.cache_prefixes, (std::vector<std::string>{"billing:", "shared:"}));

  auto list = ParseCommandLine({"clients", "list", "--json"});
  ASSERT_TRUE(list.ok()) << list.error;
  EXPECT_EQ(list.line.clients_action, ClientsAction::kList);
  EXPECT_TRUE(list.line.json);

  auto revoke = ParseCommandLine({"clients", "revoke", "0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5f"});
  ASSERT_TRUE(revoke.ok()) << revoke.error;
  EXPECT_EQ(revoke.line.client_id, "0b9f8a4e-6a0c-4f55-9b37-4d1b2c3d4e5f");

  EXPECT_FALSE(ParseCommandLine({"clients"}).ok());
  EXPECT_FALSE(ParseCommandLine({"clients", "drop"}).ok());
  EXPECT_FALSE(ParseCommandLine({"clients", "revoke"}).ok());
  EXPECT_FALSE(ParseCommandLine({"clients", "add", "--name", "x"}).ok());  // no scopes
  EXPECT_FALSE(ParseCommandLine({"clients", "add", "--name", "x", "--scopes", "read", "--quota-per-day", "0"}).ok());
  EXPECT_FALSE(ParseCommandLine({"clients", "list", "--name", "x"}).ok());
  EXPECT_FALSE(ParseCommandLine({"migrate", "--name", "x"}).ok());
  EXPECT_TRUE(ParseCommandLine({"clients", "--help"}).line.help);
}

}  // namespace
}  // namespace coredb::app
