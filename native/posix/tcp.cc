#include "tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "socket.h"

namespace posix {

namespace {

struct SockAddr {
  sockaddr_storage storage;
  socklen_t len = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

// A numeric address only: inet_pton never asks a resolver.
Status MakeAddress(const TcpAddress& addr, SockAddr* out) {
  std::memset(&out->storage, 0, sizeof out->storage);
  if (addr.port < 0 || addr.port > 65535) return Status::Fail("inet_pton", EINVAL);
  if (addr.family == 4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out->storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(uint16_t(addr.port));
    if (inet_pton(AF_INET, addr.host.c_str(), &in->sin_addr) != 1) return Status::Fail("inet_pton", EINVAL);
    out->len = sizeof *in;
  } else if (addr.family == 6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(uint16_t(addr.port));
    if (inet_pton(AF_INET6, addr.host.c_str(), &in6->sin6_addr) != 1) return Status::Fail("inet_pton", EINVAL);
    out->len = sizeof *in6;
  } else {
    return Status::Fail("inet_pton", EAFNOSUPPORT);
  }
  return Status::Ok();
}

Status ReadAddress(SockAddr& sa, const char* syscall, TcpAddress* out) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (sa.storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&sa.storage);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) == nullptr) return Status::Fail("inet_ntop");
    out->family = 4;
    out->port = ntohs(in->sin_port);
  } else if (sa.storage.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&sa.storage);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) == nullptr) return Status::Fail("inet_ntop");
    out->family = 6;
    out->port = ntohs(in6->sin6_port);
  } else {
    return Status::Fail(syscall, EAFNOSUPPORT);
  }
  out->host = text;
  return Status::Ok();
}

Status SetInt(int fd, int level, int name, int value) {
  if (setsockopt(fd, level, name, &value, sizeof value) == -1) return Status::Fail("setsockopt");
  return Status::Ok();
}

}  // namespace

Status TcpConfigure(int fd, const TcpOptions& opts) {
  Status s = SetInt(fd, IPPROTO_TCP, TCP_NODELAY, opts.no_delay ? 1 : 0);
  if (!s.ok()) return s;
  bool keepalive = opts.keepalive_idle_s > 0;
  s = SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, keepalive ? 1 : 0);
  if (!s.ok() || !keepalive) return s;
#if defined(__APPLE__)
  s = SetInt(fd, IPPROTO_TCP, TCP_KEEPALIVE, opts.keepalive_idle_s);
#else
  s = SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, opts.keepalive_idle_s);
#endif
  if (s.ok()) s = SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, opts.keepalive_interval_s);
  if (s.ok()) s = SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, opts.keepalive_count);
  if (!s.ok() || opts.user_timeout_ms == 0) return s;
#if defined(TCP_USER_TIMEOUT)
  s = SetInt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, int(opts.user_timeout_ms));
#elif defined(__APPLE__) && defined(TCP_RXT_CONNDROPTIME)
  s = SetInt(fd, IPPROTO_TCP, TCP_RXT_CONNDROPTIME, int((opts.user_timeout_ms + 999) / 1000));
#endif
  return s;
}

Status TcpListen(const TcpAddress& addr, int backlog, bool v6_only, int* out) {
  SockAddr sa;
  Status s = MakeAddress(addr, &sa);
  if (!s.ok()) return s;
  int fd = -1;
  s = OpenStreamSocket(addr.family == 6 ? AF_INET6 : AF_INET, &fd);
  if (!s.ok()) return s;
  // A restarted server binds again while its old connections sit in TIME_WAIT.
  s = SetInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
  if (s.ok() && addr.family == 6) s = SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6_only ? 1 : 0);
  if (s.ok() && bind(fd, sa.get(), sa.len) == -1) s = Status::Fail("bind");
  if (s.ok() && listen(fd, backlog) == -1) s = Status::Fail("listen");
  if (!s.ok()) {
    close(fd);
    return s;
  }
  *out = fd;
  return Status::Ok();
}

Status TcpAccept(int listen_fd, const TcpOptions& opts, int* out) {
  int fd = -1;
  Status s = AcceptConnection(listen_fd, &fd);
  *out = -1;
  if (!s.ok() || fd == -1) return s;
  s = TcpConfigure(fd, opts);
  if (!s.ok()) {
    close(fd);
    // A client that reset its connection meanwhile: nothing is pending.
    return s.err == ECONNRESET || s.err == EINVAL ? Status::Ok() : s;
  }
  *out = fd;
  return Status::Ok();
}

Status TcpConnect(const TcpAddress& addr, const TcpOptions& opts, int* out, bool* in_progress) {
  *in_progress = false;
  SockAddr sa;
  Status s = MakeAddress(addr, &sa);
  if (!s.ok()) return s;
  int fd = -1;
  s = OpenStreamSocket(addr.family == 6 ? AF_INET6 : AF_INET, &fd);
  if (!s.ok()) return s;
  s = TcpConfigure(fd, opts);
  if (!s.ok()) {
    close(fd);
    return s;
  }
  if (connect(fd, sa.get(), sa.len) == -1) {
    // EINTR on a non-blocking connect: the handshake goes on asynchronously.
    if (errno == EINPROGRESS || errno == EINTR) {
      *in_progress = true;
    } else {
      s = Status::Fail("connect");
      close(fd);
      return s;
    }
  }
  *out = fd;
  return Status::Ok();
}

Status TcpLocalAddress(int fd, TcpAddress* out) {
  SockAddr sa;
  sa.len = sizeof sa.storage;
  if (getsockname(fd, sa.get(), &sa.len) == -1) return Status::Fail("getsockname");
  return ReadAddress(sa, "getsockname", out);
}

Status TcpPeerAddress(int fd, TcpAddress* out) {
  SockAddr sa;
  sa.len = sizeof sa.storage;
  if (getpeername(fd, sa.get(), &sa.len) == -1) return Status::Fail("getpeername");
  return ReadAddress(sa, "getpeername", out);
}

}  // namespace posix
