#include "futex.h"

#include <time.h>

#include <algorithm>
#include <climits>

#include "clock.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__APPLE__)
#if defined(__has_include)
#if __has_include(<os/os_sync_wait_on_address.h>)
#include <os/clock.h>
#include <os/os_sync_wait_on_address.h>
#define POSIX_IPC_HAVE_OS_SYNC 1
#endif
#endif
#endif

namespace posix {

namespace {

bool Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

int64_t SliceEnd(int64_t deadline_ns, const std::atomic<bool>* cancel) {
  if (cancel == nullptr) return deadline_ns;
  return std::min(deadline_ns, MonotonicNs() + kFutexSliceNs);
}

#if !defined(__linux__)
uint32_t Load(const uint32_t* word) {
  // The word is shared with other processes that use atomics on it.
  return __atomic_load_n(word, __ATOMIC_SEQ_CST);
}
#endif

enum class SliceOutcome { kReturned, kNotEqual, kTimedOut, kInterrupted, kFailed };

#if defined(__linux__)

SliceOutcome WaitSlice(const uint32_t* word, uint32_t expected, int64_t slice_end_ns) {
  timespec abs;
  timespec* timeout = nullptr;
  if (slice_end_ns != kNoDeadline) {
    abs = ToTimespec(slice_end_ns);
    timeout = &abs;
  }
  // Not FUTEX_PRIVATE_FLAG: the kernel keys the wait on the shared page, so
  // a wake from another process's mapping reaches it. FUTEX_WAIT_BITSET takes
  // an absolute CLOCK_MONOTONIC time (no FUTEX_CLOCK_REALTIME).
  long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, timeout, nullptr, FUTEX_BITSET_MATCH_ANY);
  if (r == 0) return SliceOutcome::kReturned;
  switch (errno) {
    case EAGAIN:
      return SliceOutcome::kNotEqual;
    case ETIMEDOUT:
      return SliceOutcome::kTimedOut;
    case EINTR:
      return SliceOutcome::kInterrupted;
    default:
      return SliceOutcome::kFailed;
  }
}

const char* const kWaitCall = "futex";

#elif defined(POSIX_IPC_HAVE_OS_SYNC)

// Polls the word: the fallback for macOS before 14.4.
SliceOutcome PollSlice(const uint32_t* word, uint32_t expected, int64_t slice_end_ns) {
  int64_t backoff_ns = 50 * 1000;
  for (;;) {
    if (Load(word) != expected) return SliceOutcome::kReturned;
    int64_t left = slice_end_ns - MonotonicNs();
    if (left <= 0) return SliceOutcome::kTimedOut;
    timespec ts = ToTimespec(std::min(left, backoff_ns));
    nanosleep(&ts, nullptr);
    backoff_ns = std::min<int64_t>(backoff_ns * 2, 5 * 1000 * 1000);
  }
}

SliceOutcome WaitSlice(const uint32_t* word, uint32_t expected, int64_t slice_end_ns) {
  // os_sync_wait_on_address returns at once when the word differs without
  // saying so: check first, so kNotEqual can be reported.
  if (Load(word) != expected) return SliceOutcome::kNotEqual;
  if (__builtin_available(macOS 14.4, *)) {
    void* addr = const_cast<uint32_t*>(word);
    int r;
    if (slice_end_ns == kNoDeadline) {
      r = os_sync_wait_on_address(addr, expected, 4, OS_SYNC_WAIT_ON_ADDRESS_SHARED);
    } else {
      int64_t left = std::max<int64_t>(slice_end_ns - MonotonicNs(), 1);
      r = os_sync_wait_on_address_with_timeout(addr, expected, 4, OS_SYNC_WAIT_ON_ADDRESS_SHARED,
                                               OS_CLOCK_MACH_ABSOLUTE_TIME, uint64_t(left));
    }
    if (r >= 0) return SliceOutcome::kReturned;
    switch (errno) {
      case ETIMEDOUT:
        return SliceOutcome::kTimedOut;
      case EINTR:
        return SliceOutcome::kInterrupted;
      default:
        return SliceOutcome::kFailed;
    }
  }
  return PollSlice(word, expected, slice_end_ns == kNoDeadline ? MonotonicNs() + kFutexSliceNs : slice_end_ns);
}

const char* const kWaitCall = "os_sync_wait_on_address";

#else

SliceOutcome WaitSlice(const uint32_t* word, uint32_t expected, int64_t slice_end_ns) {
  if (Load(word) != expected) return SliceOutcome::kNotEqual;
  int64_t end = slice_end_ns == kNoDeadline ? MonotonicNs() + kFutexSliceNs : slice_end_ns;
  int64_t backoff_ns = 50 * 1000;
  for (;;) {
    if (Load(word) != expected) return SliceOutcome::kReturned;
    int64_t left = end - MonotonicNs();
    if (left <= 0) return SliceOutcome::kTimedOut;
    timespec ts = ToTimespec(std::min(left, backoff_ns));
    nanosleep(&ts, nullptr);
    backoff_ns = std::min<int64_t>(backoff_ns * 2, 5 * 1000 * 1000);
  }
}

const char* const kWaitCall = "nanosleep";

#endif

}  // namespace

Status FutexWait(const uint32_t* word, uint32_t expected, int64_t deadline_ns, const std::atomic<bool>* cancel,
                 FutexResult* out) {
  bool first = true;
  for (;;) {
    if (Cancelled(cancel)) {
      *out = FutexResult::kCancelled;
      return Status::Ok();
    }
    int64_t slice_end = SliceEnd(deadline_ns, cancel);
    SliceOutcome o = WaitSlice(word, expected, slice_end);
    switch (o) {
      case SliceOutcome::kReturned:
        *out = FutexResult::kOk;
        return Status::Ok();
      case SliceOutcome::kNotEqual:
        *out = first ? FutexResult::kNotEqual : FutexResult::kOk;
        return Status::Ok();
      case SliceOutcome::kFailed:
        return Status::Fail(kWaitCall);
      case SliceOutcome::kInterrupted:
        break;
      case SliceOutcome::kTimedOut:
        if (deadline_ns != kNoDeadline && MonotonicNs() >= deadline_ns) {
          *out = FutexResult::kTimedOut;
          return Status::Ok();
        }
        break;
    }
    first = false;
  }
}

Status FutexWake(const uint32_t* word, int32_t count, int32_t* woken) {
  *woken = 0;
  if (count <= 0) return Status::Ok();
#if defined(__linux__)
  long r = syscall(SYS_futex, word, FUTEX_WAKE, count, nullptr, nullptr, 0);
  if (r == -1) return Status::Fail("futex");
  *woken = int32_t(r);
  return Status::Ok();
#elif defined(POSIX_IPC_HAVE_OS_SYNC)
  if (__builtin_available(macOS 14.4, *)) {
    void* addr = const_cast<uint32_t*>(word);
    // wake_by_address_all does not count: wake one at a time until no
    // waiter is left, so the result is exact.
    while (*woken < count) {
      if (os_sync_wake_by_address_any(addr, 4, OS_SYNC_WAKE_BY_ADDRESS_SHARED) == -1) {
        if (errno == ENOENT) break;  // nobody waiting
        return Status::Fail("os_sync_wake_by_address_any");
      }
      ++*woken;
    }
    return Status::Ok();
  }
  (void)word;
  return Status::Ok();  // pollers notice the new value by themselves
#else
  (void)word;
  return Status::Ok();
#endif
}

}  // namespace posix
