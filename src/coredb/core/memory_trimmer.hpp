// Gives freed heap memory back to the operating system, off the event loop. glibc keeps what a
// burst of connections freed (a few KB each, scattered through the heap) until something calls
// malloc_trim: after 10 000 idle keep-alive connections close, the RSS would otherwise stay where
// it peaked. Request() is cheap and never blocks: the trim runs on the trimmer's own thread (one
// at a time; requests made while one runs fold into one more).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace coredb {

class MemoryTrimmer {
 public:
  // `trim` is what runs (tests count calls); by default malloc_trim(0).
  explicit MemoryTrimmer(std::function<void()> trim = {});
  ~MemoryTrimmer();  // waits for a trim in progress, skips one not yet started
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  void Request();
  std::size_t completed() const;  // trims run so far

 private:
  void Loop();

  std::function<void()> trim_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool requested_ = false;
  bool stopping_ = false;
  std::size_t completed_ = 0;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace coredb
