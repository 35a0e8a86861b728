// Monotonic deadlines: timeouts never jump when the wall clock is changed.
#pragma once

#include <cstdint>
#include <ctime>

namespace posix {

inline int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A deadline in CLOCK_MONOTONIC nanoseconds; kNoDeadline waits forever.
constexpr int64_t kNoDeadline = INT64_MAX;

inline int64_t DeadlineAfterMs(double timeout_ms) {
  if (!(timeout_ms >= 0) || timeout_ms > 1e12) return kNoDeadline;  // NaN/inf/huge
  return MonotonicNs() + int64_t(timeout_ms * 1e6);
}

inline timespec ToTimespec(int64_t ns) {
  timespec ts;
  ts.tv_sec = time_t(ns / 1000000000);
  ts.tv_nsec = long(ns % 1000000000);
  return ts;
}

}  // namespace posix
