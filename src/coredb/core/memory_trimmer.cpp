#include "coredb/core/memory_trimmer.hpp"

#include <malloc.h>

#include <utility>

namespace coredb {

MemoryTrimmer::MemoryTrimmer(std::function<void()> trim)
    : trim_(trim ? std::move(trim) : std::function<void()>([] { ::malloc_trim(0); })), thread_([this] { Loop(); }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void MemoryTrimmer::Request() {
  {
    std::lock_guard lock(mutex_);
    requested_ = true;
  }
  wake_.notify_one();
}

std::size_t MemoryTrimmer::completed() const {
  std::lock_guard lock(mutex_);
  return completed_;
}

void MemoryTrimmer::Loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return requested_ || stopping_; });
    if (stopping_) return;
    requested_ = false;
    lock.unlock();
    trim_();
    lock.lock();
    ++completed_;
  }
}

}  // namespace coredb
