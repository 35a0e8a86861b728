// Operations on a sem_t*, shared by named semaphores (sem_open) and unnamed
// process-shared ones placed inside a shared-memory segment (sem_init).
#pragma once

#include <semaphore.h>

#include <atomic>
#include <cstdint>

#include "status.h"

namespace posix {

enum class WaitResult { kAcquired = 0, kTimedOut = 1, kCancelled = 2 };

Status SemPost(sem_t* sem);

// EAGAIN is an expected outcome, not an error: *acquired = false.
Status SemTryWait(sem_t* sem, bool* acquired);

// Waits until the semaphore is acquired, the monotonic deadline (clock.h)
// passes, or *cancel becomes true. With a cancel flag the wait runs in slices
// of at most kCancelSliceNs so cancellation is noticed promptly. EINTR never
// escapes: the wait resumes with the time that is left.
//   Linux/glibc: sem_clockwait(CLOCK_MONOTONIC).
//   Other libcs: sem_timedwait on CLOCK_REALTIME, one short slice at a time,
//     so a wall-clock jump distorts at most one slice.
//   macOS: no sem_timedwait: sem_trywait polled with backoff (50 us to 5 ms).
Status SemWaitUntil(sem_t* sem, int64_t deadline_ns, const std::atomic<bool>* cancel, WaitResult* out);

// ENOSYS on macOS, which has no sem_getvalue.
Status SemGetValue(sem_t* sem, int* out);

constexpr int64_t kCancelSliceNs = 50 * 1000 * 1000;  // 50 ms

}  // namespace posix
