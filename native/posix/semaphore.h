// Operations on a sem_t*, shared by named semaphores (sem_open) and unnamed
// process-shared ones placed inside a shared-memory segment (sem_init).
#pragma once

#include <semaphore.h>

#include <atomic>
#include <climits>
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

// ---- Named semaphores (sem_open) ----------------------------------------
// `name` is "/something"; the TypeScript layer has validated it.

#if defined(SEM_VALUE_MAX)
constexpr unsigned kSemValueMax = SEM_VALUE_MAX;
#elif defined(__APPLE__)
constexpr unsigned kSemValueMax = 32767;
#else
constexpr unsigned kSemValueMax = INT_MAX;
#endif

// sem_open(O_CREAT | O_EXCL): EEXIST when the name exists, so an object made
// by someone else is never opened by mistake. The mode is then made exact
// whatever the umask (Linux: chmod of the backing file in /dev/shm); on macOS
// the object has no path and keeps `mode & ~umask`.
Status SemCreateNamed(const char* name, unsigned mode, unsigned value, sem_t** out);

// sem_open without O_CREAT: ENOENT when the name does not exist.
Status SemOpenNamed(const char* name, sem_t** out);

// sem_close. The caller guarantees no thread still uses `sem`.
Status SemCloseNamed(sem_t* sem);

// sem_unlink: ENOENT when absent. Handles stay usable; the object goes away
// with its last handle.
Status SemUnlinkNamed(const char* name);

}  // namespace posix
