// TCP sockets over numeric IPv4 and IPv6 addresses: listen, accept, connect
// (non-blocking: complete it with FinishConnect of socket.h), the local and
// the peer's address, and the options that bound how long a dead peer goes
// unnoticed. Names are resolved before these calls (lib/tcp.ts asks
// node:dns), so nothing here waits on the network. Every descriptor made
// here is close-on-exec and non-blocking.
#pragma once

#include <string>

#include "status.h"

namespace posix {

struct TcpAddress {
  int family = 4;    // 4 or 6
  std::string host;  // numeric: "127.0.0.1", "::1"
  int port = 0;      // 0 to 65535 (0 at listen: the kernel picks one)
};

// Applied to every socket before connect(), and to every accepted one.
struct TcpOptions {
  bool no_delay = true;  // TCP_NODELAY: a small frame is not held back (Nagle)
  // SO_KEEPALIVE with TCP_KEEPIDLE (macOS: TCP_KEEPALIVE), TCP_KEEPINTVL and
  // TCP_KEEPCNT, in seconds and probes; idle 0 leaves keep-alive off.
  int keepalive_idle_s = 0;
  int keepalive_interval_s = 0;
  int keepalive_count = 0;
  // Linux TCP_USER_TIMEOUT: sent data unacknowledged this long (and, with
  // keep-alive, probes unanswered this long) closes the connection with
  // ETIMEDOUT. macOS: TCP_RXT_CONNDROPTIME, in whole seconds. 0: the kernel's
  // default (about 15 minutes of retransmissions on Linux).
  unsigned user_timeout_ms = 0;
};

// socket() + SO_REUSEADDR (+ IPV6_V6ONLY for family 6 when `v6_only`) +
// bind() + listen(). EADDRINUSE, EADDRNOTAVAIL (an address this host does
// not have), EACCES (a port below 1024 without the privilege), EINVAL (not a
// numeric address of that family: syscall "inet_pton").
Status TcpListen(const TcpAddress& addr, int backlog, bool v6_only, int* out);

// `*out` is -1 when no connection is pending (or the one pending was
// abandoned by its client). The options are set on the new descriptor.
Status TcpAccept(int listen_fd, const TcpOptions& opts, int* out);

// A non-blocking connect with the options set first (so TCP_USER_TIMEOUT
// bounds the handshake too). `*in_progress` is set when the connection
// completes later: poll for writable, then FinishConnect. On failure nothing
// is left open.
Status TcpConnect(const TcpAddress& addr, const TcpOptions& opts, int* out, bool* in_progress);

// Sets the options on a TCP socket (every failure names "setsockopt").
Status TcpConfigure(int fd, const TcpOptions& opts);

// getsockname() / getpeername() as a numeric address. ENOTCONN from the peer
// of a socket that is not connected.
Status TcpLocalAddress(int fd, TcpAddress* out);
Status TcpPeerAddress(int fd, TcpAddress* out);

}  // namespace posix
