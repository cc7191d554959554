// The KeyValueBackend port over the shared, multiplexed Redis connection: one command, its
// reply mapped to JSON. Commands that would change the shared connection's state (SELECT,
// SUBSCRIBE, MULTI…) are refused here; they need a dedicated (leased) connection.
#pragma once

#include "coredb/adapters/redis/redis_client.hpp"
#include "coredb/core/ports.hpp"

namespace coredb::redis {

class RedisBackend final : public KeyValueBackend {
 public:
  explicit RedisBackend(RedisClient& client) : client_(client) {}

  boost::asio::awaitable<Result<boost::json::value>> Command(std::vector<std::string> args,
                                                             std::chrono::milliseconds timeout) override {
    if (auto reason = RedisClient::RejectReason(args)) co_return MakeError(ErrorCode::kInvalidRequest, *reason);
    auto reply = co_await client_.Command(std::move(args), timeout);
    if (!reply) co_return reply.error();
    co_return ReplyToJson(*reply);
  }

  boost::asio::awaitable<bool> Ping(std::chrono::milliseconds timeout) {
    // (A named vector: GCC 12 miscompiles string-literal initializer lists inside co_await.)
    std::vector<std::string> ping;
    ping.emplace_back("PING");
    auto reply = co_await client_.Command(std::move(ping), timeout);
    co_return reply.has_value();
  }

 private:
  RedisClient& client_;
};

}  // namespace coredb::redis
