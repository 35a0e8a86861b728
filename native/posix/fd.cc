#include "fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "clock.h"

namespace posix {

Status Poll(int fd, short events, int64_t deadline_ns, short* revents) {
  pollfd p{fd, events, 0};
  for (;;) {
    int timeout_ms = -1;
    if (deadline_ns != kNoDeadline) {
      int64_t left = deadline_ns - MonotonicNs();
      if (left < 0) left = 0;
      timeout_ms = int(std::min<int64_t>((left + 999999) / 1000000, INT32_MAX));
    }
    int r = poll(&p, 1, timeout_ms);
    if (r == -1) {
      if (errno == EINTR) continue;  // recompute the time left and wait again
      return Status::Fail("poll");
    }
    if (r == 0 && deadline_ns != kNoDeadline && MonotonicNs() < deadline_ns) continue;
    *revents = r == 0 ? 0 : p.revents;
    return Status::Ok();
  }
}

Status SetNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags == -1) return Status::Fail("fcntl");
  int want = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (want != flags && fcntl(fd, F_SETFL, want) == -1) return Status::Fail("fcntl");
  return Status::Ok();
}

Status SetCloexec(int fd, bool on) {
  int flags = fcntl(fd, F_GETFD);
  if (flags == -1) return Status::Fail("fcntl");
  int want = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (want != flags && fcntl(fd, F_SETFD, want) == -1) return Status::Fail("fcntl");
  return Status::Ok();
}

Status PrepareFd(int fd, bool cloexec, bool nonblock) {
  Status s;
  if (cloexec) s = SetCloexec(fd, true);
  if (s.ok() && nonblock) s = SetNonBlocking(fd, true);
  return s;
}

Status GetFlags(int fd, bool* nonblock, bool* cloexec) {
  int fl = fcntl(fd, F_GETFL);
  if (fl == -1) return Status::Fail("fcntl");
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl == -1) return Status::Fail("fcntl");
  *nonblock = (fl & O_NONBLOCK) != 0;
  *cloexec = (fdfl & FD_CLOEXEC) != 0;
  return Status::Ok();
}

Status MakePipe(bool cloexec, bool nonblock_read, bool nonblock_write, int out[2]) {
#if defined(__linux__)
  if (pipe2(out, cloexec ? O_CLOEXEC : 0) == -1) return Status::Fail("pipe2");
  const bool late_cloexec = false;  // set atomically
#else
  if (pipe(out) == -1) return Status::Fail("pipe");
  const bool late_cloexec = cloexec;
#endif
  Status s = PrepareFd(out[0], late_cloexec, nonblock_read);
  if (s.ok()) s = PrepareFd(out[1], late_cloexec, nonblock_write);
  if (!s.ok()) {
    close(out[0]);
    close(out[1]);
  }
  return s;
}

Status GetPipeCapacity(int fd, int* out) {
#if defined(F_GETPIPE_SZ)
  int r = fcntl(fd, F_GETPIPE_SZ);
  if (r == -1) return Status::Fail("fcntl");
  *out = r;
  return Status::Ok();
#else
  (void)fd;
  (void)out;
  return Status::Fail("fcntl", ENOTSUP);
#endif
}

Status SetPipeCapacity(int fd, int size, int* out) {
#if defined(F_SETPIPE_SZ)
  int r = fcntl(fd, F_SETPIPE_SZ, size);
  if (r == -1) return Status::Fail("fcntl");
  *out = r;  // the kernel rounds up to a power-of-two number of pages
  return Status::Ok();
#else
  (void)fd;
  (void)size;
  (void)out;
  return Status::Fail("fcntl", ENOTSUP);
#endif
}

Status MakeFifo(const char* path, unsigned mode) {
  if (mkfifo(path, mode_t(mode)) == -1) return Status::Fail("mkfifo");
  // mkfifo applied the umask (which only removes bits); set the exact mode on
  // the object we just made, through a descriptor so a swapped path is not
  // followed.
  int fd = RetryEintr([&] { return open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC); });
  if (fd == -1) {
    Status s = Status::Fail("open");
    unlink(path);
    return s;
  }
  Status s;
  if (fchmod(fd, mode_t(mode)) == -1) s = Status::Fail("fchmod");
  close(fd);
  if (!s.ok()) unlink(path);
  return s;
}

Status OpenFifo(const char* path, bool write_end, int* out, bool* not_fifo) {
  *not_fifo = false;
  int flags = (write_end ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;
  int fd = RetryEintr([&] { return open(path, flags); });
  if (fd == -1) return Status::Fail("open");
  struct stat st;
  if (fstat(fd, &st) == -1) {
    Status s = Status::Fail("fstat");
    close(fd);
    return s;
  }
  if (!S_ISFIFO(st.st_mode)) {
    close(fd);
    *not_fifo = true;
    return Status::Ok();
  }
  *out = fd;
  return Status::Ok();
}

Status Read(int fd, void* buf, size_t len, ssize_t* out, bool* would_block) {
  *would_block = false;
  ssize_t r = RetryEintr([&] { return read(fd, buf, len); });
  if (r == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      *out = 0;
      return Status::Ok();
    }
    return Status::Fail("read");
  }
  *out = r;
  return Status::Ok();
}

Status Write(int fd, const void* buf, size_t len, ssize_t* out, bool* would_block) {
  *would_block = false;
  ssize_t r = RetryEintr([&] { return write(fd, buf, len); });
  if (r == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      *out = 0;
      return Status::Ok();
    }
    return Status::Fail("write");
  }
  *out = r;
  return Status::Ok();
}

Status Writev(int fd, const struct iovec* iov, int count, ssize_t* out, bool* would_block) {
  *would_block = false;
  ssize_t r = RetryEintr([&] { return writev(fd, iov, count); });
  if (r == -1) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *would_block = true;
      *out = 0;
      return Status::Ok();
    }
    return Status::Fail("writev");
  }
  *out = r;
  return Status::Ok();
}

Status Close(int fd) {
  if (close(fd) == -1 && errno != EINTR) return Status::Fail("close");
  return Status::Ok();
}

Status TryFlock(int fd, bool exclusive, bool* would_block) {
  *would_block = false;
  int op = exclusive ? (LOCK_EX | LOCK_NB) : LOCK_UN;
  if (RetryEintr([&] { return flock(fd, op); }) == 0) return Status::Ok();
  if (errno == EWOULDBLOCK) {
    *would_block = true;
    return Status::Ok();
  }
  return Status::Fail("flock");
}

}  // namespace posix
