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

}  // namespace posix
