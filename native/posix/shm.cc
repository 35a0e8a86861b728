#include "shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/statvfs.h>
#endif

#include <limits>

namespace posix {

namespace {

// shm_open accepts only O_RDONLY/O_RDWR/O_CREAT/O_EXCL/O_TRUNC (recent macOS
// rejects O_CLOEXEC). Linux sets FD_CLOEXEC itself; elsewhere set it after.
int OpenShm(const char* name, int flags, mode_t mode) {
  int fd = RetryEintr([&] { return shm_open(name, flags, mode); });
#if !defined(__linux__)
  if (fd != -1) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  return fd;
}

bool FitsOffT(uint64_t n) {
  return n <= uint64_t(std::numeric_limits<off_t>::max());
}

#if defined(__linux__)
Status CheckRoom(int fd, uint64_t extra) {
  struct statvfs vfs;
  // f_blocks == 0 is a tmpfs without a size limit, bounded only by memory:
  // leave that case to posix_fallocate.
  if (fstatvfs(fd, &vfs) == 0 && vfs.f_blocks != 0) {
    uint64_t avail = uint64_t(vfs.f_bavail) * uint64_t(vfs.f_frsize);
    if (extra > avail) return Status::Fail("posix_fallocate", ENOSPC);
  }
  return Status::Ok();
}
#endif

}  // namespace

Status ShmCheckRoom(int fd, uint64_t new_size) {
#if defined(__linux__)
  uint64_t old_size = 0;
  Status s = ShmSize(fd, &old_size);
  if (!s.ok()) return s;
  return new_size > old_size ? CheckRoom(fd, new_size - old_size) : Status::Ok();
#else
  (void)fd;
  (void)new_size;
  return Status::Ok();
#endif
}

Status ShmCreateExclusive(const char* name, unsigned mode, int* fd) {
  int f = OpenShm(name, O_RDWR | O_CREAT | O_EXCL, mode_t(mode));
  if (f == -1) return Status::Fail("shm_open");
#if defined(__APPLE__)
    // XNU has no chmod for shared-memory objects (fchmod fails with EINVAL):
    // the mode given to shm_open, less the umask, is what the object gets.
#else
  if (fchmod(f, mode_t(mode)) == -1) {
    Status s = Status::Fail("fchmod");
    shm_unlink(name);
    close(f);
    return s;
  }
#endif
  *fd = f;
  return Status::Ok();
}

Status ShmOpenExisting(const char* name, int* fd, uint64_t* size) {
  int f = OpenShm(name, O_RDWR, 0);
  if (f == -1) return Status::Fail("shm_open");
  Status s = ShmSize(f, size);
  if (!s.ok()) {
    close(f);
    return s;
  }
  *fd = f;
  return Status::Ok();
}

Status ShmUnlink(const char* name) {
  if (shm_unlink(name) == -1) return Status::Fail("shm_unlink");
  return Status::Ok();
}

Status ShmSize(int fd, uint64_t* size) {
  struct stat st;
  if (fstat(fd, &st) == -1) return Status::Fail("fstat");
  *size = st.st_size < 0 ? 0 : uint64_t(st.st_size);
  return Status::Ok();
}

Status ShmSetSize(int fd, uint64_t new_size) {
  if (!FitsOffT(new_size)) return Status::Fail("ftruncate", EFBIG);
  uint64_t old_size = 0;
  Status s = ShmSize(fd, &old_size);
  if (!s.ok()) return s;
  if (new_size <= old_size) {
    if (new_size < old_size && RetryEintr([&] { return ftruncate(fd, off_t(new_size)); }) == -1) {
      return Status::Fail("ftruncate");
    }
    return Status::Ok();
  }
#if defined(__linux__)
  s = CheckRoom(fd, new_size - old_size);
  if (!s.ok()) return s;
  // From 0, not old_size: pages an ftruncate-only creator left unreserved
  // get reserved too (reserving a reserved page costs nothing).
  int rc;
  do {
    rc = posix_fallocate(fd, 0, off_t(new_size));
  } while (rc == EINTR);
  if (rc == 0) return Status::Ok();
  if (rc != EOPNOTSUPP && rc != EINVAL) return Status::Fail("posix_fallocate", rc);
    // No fallocate on this filesystem: size only. A page the system cannot
    // provide then raises SIGBUS in whoever first touches it.
#endif
  if (RetryEintr([&] { return ftruncate(fd, off_t(new_size)); }) == -1) return Status::Fail("ftruncate");
  return Status::Ok();
}

Status MapShared(int fd, size_t size, void** addr) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Status::Fail("mmap");
  *addr = p;
  return Status::Ok();
}

Status Unmap(void* addr, size_t size) {
  if (munmap(addr, size) == -1) return Status::Fail("munmap");
  return Status::Ok();
}

Status SemInitShared(sem_t* sem, unsigned value) {
#if defined(__APPLE__)
  // Deprecated there and always ENOSYS: not even called.
  (void)sem;
  (void)value;
  return Status::Fail("sem_init", ENOSYS);
#else
  if (sem_init(sem, 1, value) == -1) return Status::Fail("sem_init");
  return Status::Ok();
#endif
}

Status SemDestroy(sem_t* sem) {
#if defined(__APPLE__)
  (void)sem;
  return Status::Fail("sem_destroy", ENOSYS);
#else
  if (sem_destroy(sem) == -1) return Status::Fail("sem_destroy");
  return Status::Ok();
#endif
}

}  // namespace posix
