// UNIX-domain stream sockets: listen, accept, connect, socketpair and
// shutdown. Every descriptor made here is close-on-exec; those of listen,
// accept and connect are also non-blocking (the event loop, or a poll, drives
// them), while a socketpair's ends are blocking, so that one can be handed to
// a child as an ordinary descriptor.
#pragma once

#include "status.h"

namespace posix {

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

}  // namespace posix
