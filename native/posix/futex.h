// Wait and wake on a 32-bit word that may live in memory shared between
// processes (never the process-private variants).
//   Linux: futex(2) FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC
//     deadline (EINTR resumes with the same deadline), FUTEX_WAKE.
//   macOS 14.4+: os_sync_wait_on_address / os_sync_wake_by_address_any with
//     the SHARED flags. Older macOS: the word is polled with backoff (50 us
//     to 5 ms) and a wake cannot tell how many waiters it reached.
#pragma once

#include <atomic>
#include <cstdint>

#include "status.h"

namespace posix {

// Mirrors the strings of Atomics.wait.
enum class FutexResult { kOk = 0, kNotEqual = 1, kTimedOut = 2, kCancelled = 3 };

// Waits while *word == expected, until a wake, the monotonic deadline
// (clock.h), or *cancel becoming true (checked every kFutexSliceNs when
// given). kNotEqual only when the word differs at the call; a word found
// changed after a slice or a signal means a wake was missed in between, so it
// counts as kOk, as does a spurious wake-up (Atomics.wait behaves alike).
Status FutexWait(const uint32_t* word, uint32_t expected, int64_t deadline_ns, const std::atomic<bool>* cancel,
                 FutexResult* out);

// Wakes up to `count` waiters (INT32_MAX: all); *woken is how many were.
Status FutexWake(const uint32_t* word, int32_t count, int32_t* woken);

constexpr int64_t kFutexSliceNs = 50 * 1000 * 1000;  // 50 ms

}  // namespace posix
