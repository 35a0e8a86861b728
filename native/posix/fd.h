// Pipes, FIFOs and plain file-descriptor I/O.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "status.h"

namespace posix {

// pipe2() where the OS has it; pipe() + fcntl() on macOS (documented race:
// another thread's fork+exec may inherit the ends before FD_CLOEXEC is set).
Status MakePipe(bool cloexec, bool nonblock_read, bool nonblock_write, int out[2]);

// Linux only (F_GETPIPE_SZ / F_SETPIPE_SZ); ENOTSUP elsewhere.
Status GetPipeCapacity(int fd, int* out);
Status SetPipeCapacity(int fd, int size, int* out);

// mkfifo, then an O_NOFOLLOW open + fchmod so the mode is exact whatever the
// umask and no symlink planted at `path` is followed.
Status MakeFifo(const char* path, unsigned mode);

// Opens a FIFO without ever blocking: O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC.
// write_end: ENXIO while no reader has the FIFO open. A symlink gives ELOOP.
// `not_fifo` is set when the path names something else (nothing stays open).
Status OpenFifo(const char* path, bool write_end, int* out, bool* not_fifo);

// read()/write() with EINTR retried. `*would_block` is set instead of failing
// with EAGAIN on a non-blocking descriptor.
Status Read(int fd, void* buf, size_t len, ssize_t* out, bool* would_block);
Status Write(int fd, const void* buf, size_t len, ssize_t* out, bool* would_block);
// writev(): a frame header and a large payload in one syscall, without a copy.
Status Writev(int fd, const struct iovec* iov, int count, ssize_t* out, bool* would_block);

// close() is not retried on EINTR: on Linux the descriptor is gone anyway and
// retrying could close a descriptor another thread just received.
Status Close(int fd);

// poll() for one descriptor until `events` (POLLIN/POLLOUT) or an error/hang-up
// is reported, or until the monotonic `deadline_ns` (clock.h). EINTR restarts
// the wait with the time that is left. `*revents` is 0 on timeout.
Status Poll(int fd, short events, int64_t deadline_ns, short* revents);

Status SetNonBlocking(int fd, bool on);
Status SetCloexec(int fd, bool on);
Status GetFlags(int fd, bool* nonblock, bool* cloexec);

// The fix-up after creating a descriptor where the OS could not set its flags
// atomically (macOS has no pipe2, SOCK_CLOEXEC or accept4): turns on
// FD_CLOEXEC when `cloexec`, O_NONBLOCK when `nonblock`; false leaves a flag
// as it is, so (false, false) makes no syscall. On failure the descriptor
// stays open: the caller closes it (and its pair).
Status PrepareFd(int fd, bool cloexec, bool nonblock);

// flock() without ever blocking (LOCK_NB): an exclusive lock, or LOCK_UN when
// !exclusive. `*would_block` is set when another open file description holds
// the lock. The kernel drops the lock when its last descriptor closes, so a
// killed holder never leaves it behind (Linux and macOS alike).
Status TryFlock(int fd, bool exclusive, bool* would_block);

}  // namespace posix
