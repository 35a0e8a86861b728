// UNIX-domain stream sockets: listen, accept, connect, socketpair, shutdown
// and the peer's credentials. Every descriptor made here is close-on-exec;
// those of listen, accept and connect are also non-blocking (the event loop,
// or a poll, drives them), while a socketpair's ends are blocking, so that
// one can be handed to a child as an ordinary descriptor.
#pragma once

#include <sys/types.h>

#include "status.h"

namespace posix {

// A stream socket of `domain` (AF_UNIX, AF_INET, AF_INET6): non-blocking,
// close-on-exec, and on macOS SO_NOSIGPIPE. Shared with tcp.cc.
Status OpenStreamSocket(int domain, int* out);

// accept() of the next pending connection, non-blocking and close-on-exec;
// `*out` is -1 when none is pending or the one pending was abandoned
// (ECONNABORTED). Shared with tcp.cc.
Status AcceptConnection(int listen_fd, int* out);

// bind() + chmod(mode) + listen(): the mode is set before listen(), so no
// other user can connect in between (connect() to a bound socket that does
// not listen yet is refused).
Status UnixListen(const char* path, int backlog, unsigned mode, int* out);

// `*out` is -1 when no connection is pending.
Status UnixAccept(int listen_fd, int* out);

// `*in_progress` is set when the connection completes later (poll for
// writable, then FinishConnect). EAGAIN (Linux: the backlog is full) is a
// failure with nothing left open: try again later.
Status UnixConnect(const char* path, int* out, bool* in_progress);
Status FinishConnect(int fd);

Status UnixSocketPair(int out[2]);

// shutdown(SHUT_WR): the peer reads end-of-file while this end can still read.
// shutdown(SHUT_RD): on a UNIX socket the peer's writes then fail with EPIPE.
Status Shutdown(int fd, bool read_side, bool write_side);

struct PeerCredentials {
  pid_t pid = -1;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Who is at the other end of a connected UNIX socket. Linux (SO_PEERCRED):
// the process that called connect() or socketpair(), as it was then, also
// after it exited; pid 0 when it lives in a pid namespace we cannot see.
// macOS: getpeereid() for uid and gid (recorded at connect() too), and
// LOCAL_PEERPID for the process that last used the peer's socket: pid -1
// once the peer has closed, or where LOCAL_PEERPID does not exist. Every
// failure names "getsockopt": EBADF, ENOTSOCK, ENOTCONN (a listening socket,
// one never connected).
Status GetPeerCredentials(int fd, PeerCredentials* out);

// Descriptor passing (SCM_RIGHTS) over a connected UNIX stream socket.
//
// The most descriptors one message carries: Linux's SCM_MAX_FD. The kernel
// attaches them to the first byte of the sendmsg() that carried them.
constexpr int kMaxPassedFds = 253;

// sendmsg() of `len` (>= 1) bytes with `count` (1 to kMaxPassedFds)
// descriptors in one SCM_RIGHTS message; MSG_NOSIGNAL where it exists. The
// kernel duplicates the descriptors: the caller still owns `fds`. EINTR is
// retried; `*would_block` instead of EAGAIN. Every failure names "sendmsg".
Status SendWithFds(int fd, const void* buf, size_t len, const int* fds, int count, ssize_t* out, bool* would_block);

// recvmsg() into `buf` with control space for `max_fds` (0 to kMaxPassedFds)
// descriptors. Every descriptor received is close-on-exec: MSG_CMSG_CLOEXEC
// on Linux; on macOS (no such flag) FD_CLOEXEC is set right after, with the
// race fd.h documents for pipes. `fds` must hold kMaxPassedFds; `*count` says
// how many arrived. A truncated control message (MSG_CTRUNC: more
// descriptors than `max_fds`, or the kernel could not install them all, as
// when out of descriptors) closes those that did arrive and fails with
// EMSGSIZE: the bytes read are lost with them. `*would_block` instead of
// EAGAIN. Every failure names "recvmsg".
Status RecvWithFds(int fd, void* buf, size_t len, int max_fds, ssize_t* out, int* fds, int* count, bool* would_block);

// fcntl(F_DUPFD_CLOEXEC): a close-on-exec duplicate (syscall "fcntl").
Status DupCloexec(int fd, int* out);

}  // namespace posix
