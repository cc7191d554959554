// LeaseRegistry with a fake clock: ids, owners, sliding deadlines, tombstones and counters.
#include "coredb/sessions/lease_registry.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace coredb::sessions {
namespace {

using namespace std::chrono_literals;

class Counted final : public LeaseResource {
 public:
  explicit Counted(int& destroyed) : destroyed_(destroyed) {}
  ~Counted() override { ++destroyed_; }

 private:
  int& destroyed_;
};

Principal Client(const std::string& id) {
  Principal p;
  p.client_id = id;
  p.client_name = id + "-name";
  p.scopes = static_cast<std::uint8_t>(Scope::kWrite);
  return p;
}

class Registry : public ::testing::Test {
 protected:
  Lease& Add(const Principal& owner, std::chrono::milliseconds ttl = 1000ms, Database db = Database::kPostgresql) {
    return registry_.Add(db, owner, ttl, std::make_unique<Counted>(destroyed_), now_, WallTime{});
  }
  LeaseRegistry registry_{"inst1", std::chrono::minutes(10), 4};
  SteadyTime now_{std::chrono::seconds(1000)};
  int destroyed_ = 0;
};

TEST_F(Registry, IdsNameTheInstanceAndAreUnique) {
  auto a = Add(Client("a")).id;
  auto b = Add(Client("a")).id;
  EXPECT_TRUE(std::regex_match(a, std::regex("cn_inst1_[0-9a-f]{32}"))) << a;
  EXPECT_NE(a, b);
}

TEST_F(Registry, OnlyTheOwnerFindsItsLease) {
  const std::string id = Add(Client("a")).id;
  EXPECT_TRUE(registry_.FindLease(id, Client("a"), now_));
  auto other = registry_.FindLease(id, Client("b"), now_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kNotFound);
}

TEST_F(Registry, ForeignInstanceIdsSayWhoOwnsThem) {
  auto r = registry_.FindLease("cn_inst2_00ff", Client("a"), now_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("inst2"), std::string::npos);
}

TEST_F(Registry, DeadlinesSlideAndExpiredLeasesAreReported) {
  Lease& lease = Add(Client("a"), 1000ms);
  EXPECT_TRUE(registry_.Expired(now_ + 999ms).empty());
  lease.last_used = now_ + 500ms;  // a request at +500 ms
  EXPECT_TRUE(registry_.Expired(now_ + 1400ms).empty());
  EXPECT_EQ(registry_.Expired(now_ + 1500ms).size(), 1u);
  lease.busy = true;
  EXPECT_TRUE(registry_.Expired(now_ + 5000ms).empty()) << "a busy lease is never reclaimed";
}

TEST_F(Registry, ReleasedIs404ExpiredIs410AndOnlyForTheOwner) {
  Lease& released = Add(Client("a"));
  const std::string released_id = released.id;
  registry_.Remove(released, Ending::kReleased, now_).reset();
  EXPECT_EQ(destroyed_, 1) << "the resource went back";
  EXPECT_EQ(registry_.FindLease(released_id, Client("a"), now_).error().code, ErrorCode::kNotFound);

  Lease& expired = Add(Client("a"));
  const std::string expired_id = expired.id;
  registry_.Remove(expired, Ending::kExpired, now_).reset();
  EXPECT_EQ(registry_.FindLease(expired_id, Client("a"), now_).error().code, ErrorCode::kLeaseExpired);
  EXPECT_EQ(registry_.FindLease(expired_id, Client("b"), now_).error().code, ErrorCode::kNotFound);
  // 410 for ten minutes, then 404.
  EXPECT_EQ(registry_.FindLease(expired_id, Client("a"), now_ + 9min).error().code, ErrorCode::kLeaseExpired);
  EXPECT_EQ(registry_.FindLease(expired_id, Client("a"), now_ + 11min).error().code, ErrorCode::kNotFound);

  auto c = registry_.Counters(Database::kPostgresql);
  EXPECT_EQ(c.leased, 0u);
  EXPECT_EQ(c.acquired_total, 2u);
  EXPECT_EQ(c.released_total, 1u);
  EXPECT_EQ(c.expired_total, 1u);
}

TEST_F(Registry, TransactionsEndWithConflictOrExpiry) {
  Lease& lease = Add(Client("a"));
  TransactionState state;
  state.started = now_;
  state.last_used = now_;
  state.idle_timeout = 300ms;
  state.max_deadline = now_ + 1s;
  const std::string tx = registry_.BeginTransaction(lease, state).id;
  EXPECT_TRUE(std::regex_match(tx, std::regex("tx_inst1_[0-9a-f]{32}"))) << tx;
  EXPECT_EQ(*registry_.FindTransaction(tx, Client("a"), now_), &lease);
  EXPECT_EQ(registry_.FindTransaction(tx, Client("b"), now_).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(lease.Deadline(), now_ + 300ms) << "the sooner of lease and transaction deadlines";
  lease.tx->last_used = now_ + 900ms;
  EXPECT_EQ(lease.Deadline(), now_ + 1s) << "capped by the maximum duration";

  registry_.EndTransaction(lease, Ending::kCommitted, now_);
  EXPECT_EQ(registry_.FindTransaction(tx, Client("a"), now_).error().code, ErrorCode::kConflict);
  const std::string tx2 = registry_.BeginTransaction(lease, state).id;
  registry_.Remove(lease, Ending::kExpired, now_).reset();
  EXPECT_EQ(registry_.FindTransaction(tx2, Client("a"), now_).error().code, ErrorCode::kTransactionExpired);
}

TEST_F(Registry, AnAdminFindsAnyLeaseAndItsLesseeThenHears410) {
  Lease& lease = Add(Client("a"));
  const std::string id = lease.id;
  TransactionState state;
  state.started = now_;
  state.last_used = now_;
  state.idle_timeout = 1s;
  state.max_deadline = now_ + 10s;
  const std::string tx = registry_.BeginTransaction(lease, state).id;
  EXPECT_EQ(registry_.FindAnyLease(id), &lease) << "whoever owns it";
  EXPECT_EQ(registry_.FindAnyLease("cn_inst1_nope"), nullptr);

  registry_.Remove(lease, Ending::kEndedByAdmin, now_).reset();
  EXPECT_EQ(destroyed_, 1) << "the resource went back";
  EXPECT_EQ(registry_.FindAnyLease(id), nullptr);
  auto gone = registry_.FindLease(id, Client("a"), now_);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kLeaseExpired);
  EXPECT_NE(gone.error().message.find("ended by an admin"), std::string::npos) << gone.error().message;
  EXPECT_EQ(registry_.FindTransaction(tx, Client("a"), now_).error().code, ErrorCode::kTransactionExpired);
  EXPECT_EQ(registry_.FindLease(id, Client("b"), now_).error().code, ErrorCode::kNotFound) << "others still hear 404";
  auto c = registry_.Counters(Database::kPostgresql);
  EXPECT_EQ(c.released_total, 1u) << "given back, not leaked";
  EXPECT_EQ(c.expired_total, 0u);
}

TEST_F(Registry, TombstonesAreBounded) {
  for (int i = 0; i < 10; ++i) registry_.Remove(Add(Client("a")), Ending::kExpired, now_).reset();
  EXPECT_LE(registry_.tombstone_count(), 4u);
}

TEST(IsolationLevels, OnlyTheThreeApiSpellings) {
  EXPECT_EQ(ParseIsolationLevel("serializable"), IsolationLevel::kSerializable);
  EXPECT_EQ(ParseIsolationLevel("read committed"), IsolationLevel::kReadCommitted);
  EXPECT_EQ(ParseIsolationLevel("repeatable read"), IsolationLevel::kRepeatableRead);
  EXPECT_FALSE(ParseIsolationLevel("SERIALIZABLE"));
  EXPECT_FALSE(ParseIsolationLevel("read uncommitted"));
  EXPECT_FALSE(ParseIsolationLevel("serializable; DROP TABLE x"));
}

}  // namespace
}  // namespace coredb::sessions
