#include "coredb/observability/logging.hpp"

#include "coredb/core/json_writer.hpp"

#include <spdlog/async.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace coredb::observability {
namespace {

// `%*` in the pattern: the message as a quoted JSON string. For the structured logger the payload
// is "<message>\x1f<raw fields>", written by LogEvent only; the fields follow the message as
// further members. The plain logger never splits, so text from users cannot inject members.
template <bool kStructured>
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string_view fields;
    if constexpr (kStructured) {
      if (auto sep = payload.find('\x1f'); sep != std::string_view::npos) {
        fields = payload.substr(sep + 1);
        payload = payload.substr(0, sep);
      }
    }
    std::string out = "\"";
    AppendEscaped(out, payload);
    out += '"';
    out.append(fields);
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

constexpr char kPattern[] =
    "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%fZ\",\"level\":\"%l\",\"service\":\"core-database-service\",\"msg\":%*}";

std::shared_ptr<spdlog::logger>& StructuredLogger() {
  static std::shared_ptr<spdlog::logger> logger;  // set once in InitLogging, before any thread starts
  return logger;
}

template <bool kStructured>
std::shared_ptr<spdlog::logger> MakeLogger(const char* name, spdlog::sink_ptr sink, const std::string& level) {
  auto logger = std::make_shared<spdlog::async_logger>(name, std::move(sink), spdlog::thread_pool(),
                                                       spdlog::async_overflow_policy::overrun_oldest);
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessage<kStructured>>('*').set_pattern(kPattern);
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::warn);
  return logger;
}

}  // namespace

void InitLogging(const std::string& level) {
  // Bounded queue; when full the oldest line is dropped rather than blocking the event loop.
  spdlog::init_thread_pool(16384, 1);
  // A formatter belongs to a sink, so each logger has its own stdout sink; the pool's single
  // worker thread serialises their writes.
  spdlog::set_default_logger(
      MakeLogger<false>("coredb", std::make_shared<spdlog::sinks::stdout_sink_mt>(), level));
  StructuredLogger() = MakeLogger<true>("coredb.events", std::make_shared<spdlog::sinks::stdout_sink_mt>(), level);
  spdlog::flush_every(std::chrono::seconds(1));
}

void ShutdownLogging() {
  if (auto logger = spdlog::default_logger()) logger->flush();
  spdlog::shutdown();
}

bool LogEnabled(spdlog::level::level_enum level) {
  spdlog::logger* logger = StructuredLogger() ? StructuredLogger().get() : spdlog::default_logger_raw();
  return logger->should_log(level);
}

void LogEvent(spdlog::level::level_enum level, std::string_view message, const boost::json::object& fields) {
  spdlog::logger* logger = StructuredLogger() ? StructuredLogger().get() : spdlog::default_logger_raw();
  if (!logger->should_log(level)) return;
  std::string payload(message);
  if (StructuredLogger()) {
    // Keep the separator out of the message itself: it only ever delimits our own fields.
    for (char& c : payload) {
      if (c == '\x1f') c = ' ';
    }
    payload += '\x1f';
    for (const auto& kv : fields) {
      payload += ",\"";
      AppendEscaped(payload, kv.key());
      payload += "\":";
      AppendJson(payload, kv.value());
    }
  }
  logger->log(level, "{}", payload);
}

}  // namespace coredb::observability
