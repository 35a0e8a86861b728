#include "semaphore.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <string>

#include "clock.h"

namespace posix {

Status SemPost(sem_t* sem) {
  if (sem_post(sem) == -1) return Status::Fail("sem_post");
  return Status::Ok();
}

Status SemTryWait(sem_t* sem, bool* acquired) {
  int r = RetryEintr([&] { return sem_trywait(sem); });
  if (r == 0) {
    *acquired = true;
    return Status::Ok();
  }
  *acquired = false;
  if (errno == EAGAIN) return Status::Ok();
  return Status::Fail("sem_trywait");
}

Status SemGetValue(sem_t* sem, int* out) {
#if defined(__APPLE__)
  (void)sem;
  (void)out;
  return Status::Fail("sem_getvalue", ENOSYS);
#else
  if (sem_getvalue(sem, out) == -1) return Status::Fail("sem_getvalue");
  if (*out < 0) *out = 0;  // some systems report minus the number of waiters
  return Status::Ok();
#endif
}

namespace {

bool Cancelled(const std::atomic<bool>* cancel) {
  return cancel != nullptr && cancel->load(std::memory_order_relaxed);
}

// The end of the next slice: the deadline itself, or earlier when a cancel
// flag must be checked.
int64_t SliceEnd(int64_t deadline_ns, const std::atomic<bool>* cancel) {
  if (cancel == nullptr) return deadline_ns;
  int64_t now = MonotonicNs();
  return std::min(deadline_ns, now + kCancelSliceNs);
}

#if defined(__APPLE__)
// Names of the call that failed, for errors: the untimed and timed waits.
constexpr const char* kUntimedWaitName = "sem_trywait";
constexpr const char* kTimedWaitName = "sem_trywait";

// One timed wait of the slice on a system without sem_timedwait.
int WaitSlice(sem_t* sem, int64_t slice_end_ns) {
  int64_t backoff_ns = 50 * 1000;
  for (;;) {
    if (sem_trywait(sem) == 0) return 0;
    if (errno != EAGAIN && errno != EINTR) return -1;
    int64_t left = slice_end_ns - MonotonicNs();
    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    timespec ts = ToTimespec(std::min(left, backoff_ns));
    nanosleep(&ts, nullptr);
    backoff_ns = std::min<int64_t>(backoff_ns * 2, 5 * 1000 * 1000);
  }
}
#elif defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
constexpr const char* kUntimedWaitName = "sem_wait";
constexpr const char* kTimedWaitName = "sem_clockwait";

int WaitSlice(sem_t* sem, int64_t slice_end_ns) {
  if (slice_end_ns == kNoDeadline) return sem_wait(sem);
  timespec abs = ToTimespec(slice_end_ns);
  return sem_clockwait(sem, CLOCK_MONOTONIC, &abs);
}
#else
constexpr const char* kUntimedWaitName = "sem_wait";
constexpr const char* kTimedWaitName = "sem_timedwait";

int WaitSlice(sem_t* sem, int64_t slice_end_ns) {
  if (slice_end_ns == kNoDeadline) return sem_wait(sem);
  // Only CLOCK_REALTIME is available: convert the time left, capped to one
  // slice so that a clock change distorts at most that slice.
  int64_t left = std::min(slice_end_ns - MonotonicNs(), kCancelSliceNs);
  if (left < 0) left = 0;
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t abs_ns = int64_t(now.tv_sec) * 1000000000 + now.tv_nsec + left;
  timespec abs = ToTimespec(abs_ns);
  return sem_timedwait(sem, &abs);
}
#endif

}  // namespace

Status SemWaitUntil(sem_t* sem, int64_t deadline_ns, const std::atomic<bool>* cancel, WaitResult* out) {
  for (;;) {
    if (Cancelled(cancel)) {
      *out = WaitResult::kCancelled;
      return Status::Ok();
    }
    int64_t slice_end = SliceEnd(deadline_ns, cancel);
    if (WaitSlice(sem, slice_end) == 0) {
      if (Cancelled(cancel)) {
        // Acquired after the caller gave up: give the count back so no post
        // is lost.
        sem_post(sem);
        *out = WaitResult::kCancelled;
        return Status::Ok();
      }
      *out = WaitResult::kAcquired;
      return Status::Ok();
    }
    if (errno == EINTR) continue;
    if (errno != ETIMEDOUT) {
      return Status::Fail(deadline_ns == kNoDeadline && cancel == nullptr ? kUntimedWaitName : kTimedWaitName);
    }
    if (deadline_ns != kNoDeadline && MonotonicNs() >= deadline_ns) {
      *out = WaitResult::kTimedOut;
      return Status::Ok();
    }
  }
}

// ---- Named semaphores ----------------------------------------------------

namespace {

sem_t* OpenRetryEintr(const char* name, int oflag, mode_t mode, unsigned value) {
  sem_t* sem;
  do {
    sem = oflag & O_CREAT ? sem_open(name, oflag, mode, value) : sem_open(name, oflag);
  } while (sem == SEM_FAILED && errno == EINTR);
  return sem;
}

#if defined(__linux__)
// The file behind a named semaphore: glibc keeps "/x" at /dev/shm/sem.x,
// musl at /dev/shm/x.
std::string BackingPath(const char* name) {
  while (*name == '/') name++;
#if defined(__GLIBC__)
  return std::string("/dev/shm/sem.") + name;
#else
  return std::string("/dev/shm/") + name;
#endif
}
#endif

}  // namespace

Status SemCreateNamed(const char* name, unsigned mode, unsigned value, sem_t** out) {
  sem_t* sem = OpenRetryEintr(name, O_CREAT | O_EXCL, mode_t(mode), value);
  if (sem == SEM_FAILED) return Status::Fail("sem_open");
#if defined(__linux__)
  // sem_open has no descriptor to fchmod, so the file is changed by path. The
  // umask only removes bits, so the object never had more permission than
  // asked. /dev/shm is sticky: only our own user (or root) could have swapped
  // the file in between, and they could chmod it anyway.
  std::string path = BackingPath(name);
  if (RetryEintr([&] { return chmod(path.c_str(), mode_t(mode)); }) == -1) {
    Status st = Status::Fail("chmod");
    sem_close(sem);
    // We made the name, so a failed creation takes it back; after ENOENT the
    // name is no longer ours to remove.
    if (st.err != ENOENT) sem_unlink(name);
    return st;
  }
#endif
  *out = sem;
  return Status::Ok();
}

Status SemOpenNamed(const char* name, sem_t** out) {
  sem_t* sem = OpenRetryEintr(name, 0, 0, 0);
  if (sem == SEM_FAILED) return Status::Fail("sem_open");
  *out = sem;
  return Status::Ok();
}

Status SemCloseNamed(sem_t* sem) {
  if (sem_close(sem) == -1) return Status::Fail("sem_close");
  return Status::Ok();
}

Status SemUnlinkNamed(const char* name) {
  if (sem_unlink(name) == -1) return Status::Fail("sem_unlink");
  return Status::Ok();
}

}  // namespace posix
